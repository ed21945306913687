// The pm2 ecosystem (ecosystem.config.js: the relay and gateway workers on one SO_REUSEPORT port)
// as the benchmarks and tests that run it set it up: free loopback ports, the environment, a pm2
// runner on a daemon of its own (PM2_HOME), and optionally a nats-server in place of the relay.
// Knows nothing of what a benchmark measures. Kills only what it started: its own daemon (by
// `pm2 kill` on its PM2_HOME, then by PID if that failed) and its own nats-server (by PID).
import { execFile, execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../lib/ports.ts";
import { until } from "../lib/wait.ts";

/** pm2's CLI run by this node (npx would cost a process and ~0.5 s of CPU per call). */
const PM2_BIN = fileURLToPath(new URL("../../node_modules/pm2/bin/pm2", import.meta.url));
const REPO = fileURLToPath(new URL("../..", import.meta.url));

export interface Ecosystem {
  /** The gateway workers' shared port, and the relay's (or the nats-server's). */
  port: number;
  relayPort: number;
  env: NodeJS.ProcessEnv;
  /** What the example app's tokens are signed with. */
  tokenSecret: string;
  /** Runs `pm2 <args>` on this ecosystem's daemon; returns its output. */
  pm2(...args: string[]): string;
  /** The same without blocking this process (its clients go on while pm2 works). */
  pm2Async(...args: string[]): Promise<string>;
  /** Starts the nats-server (natsServer) and the apps, and waits until every worker is ready. */
  start(): Promise<void>;
  /** The gateway workers' PIDs, as pm2 lists them. */
  gatewayPids(): Promise<number[]>;
  /** The gateway workers' log lines so far (pm2's log files), JSON-parsed where they are JSON. */
  gatewayLog(): Record<string, unknown>[];
  /** Kills the daemon and everything it runs (it may be gone already), and the nats-server. */
  kill(): void;
}

export async function ecosystem(opts: {
  pm2Home: string;
  workers: number;
  /** Connection-state recovery on (ROOMGATE_RECOVERY, ms a session is kept). */
  recovery: boolean;
  /** The example app admits clients with a token signed with this secret (src/examples/tokens.ts). */
  tokenSecret: string;
  /** Application module the workers run (APP; a .js/.mjs file: the workers are plain node). */
  app?: string;
  /** A real nats-server (installed as `nats-server`) instead of the embedded relay. */
  natsServer?: boolean;
  /** ROOMGATE_LOG_LEVEL (default warn). */
  logLevel?: string;
}): Promise<Ecosystem> {
  const port = await freePort();
  const relayPort = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PM2_HOME: opts.pm2Home,
    GATEWAY_INSTANCES: String(opts.workers),
    PORT: String(port),
    HOST: "127.0.0.1",
    RELAY_PORT: String(relayPort),
    ROOMGATE_LOG_LEVEL: opts.logLevel ?? "warn",
    APP_TOKEN_SECRET: opts.tokenSecret,
    ...(opts.recovery ? { ROOMGATE_RECOVERY: "60000" } : {}),
    ...(opts.app ? { APP: opts.app } : {}),
    ...(opts.natsServer ? { ROOMGATE_CLUSTER: `nats://127.0.0.1:${relayPort}` } : {}),
  };
  const pm2 = (...args: string[]) =>
    execFileSync(process.execPath, [PM2_BIN, ...args], { env, cwd: REPO, stdio: ["ignore", "pipe", "pipe"], timeout: 120_000 }).toString();
  const pm2Async = (...args: string[]) =>
    new Promise<string>((resolve, reject) =>
      execFile(process.execPath, [PM2_BIN, ...args], { env, cwd: REPO, timeout: 120_000 }, (err, stdout, stderr) =>
        err ? reject(new Error(`pm2 ${args.join(" ")}: ${err.message}\n${stderr}`)) : resolve(stdout),
      ),
    );
  const gatewayPids = async () =>
    (JSON.parse(await pm2Async("jlist")) as { name: string; pid: number }[])
      .filter((p) => p.name === "gateway")
      .map((p) => p.pid)
      .sort();
  /** Every PID this ecosystem ran, for the kill of last resort. */
  const seen = new Set<number>();
  let nats: ChildProcess | null = null;

  const healthy = () =>
    fetch(`http://127.0.0.1:${port}/readyz`)
      .then((r) => r.ok)
      .catch(() => false);

  return {
    port,
    relayPort,
    env,
    pm2,
    pm2Async,
    tokenSecret: opts.tokenSecret,
    gatewayPids: async () => {
      const pids = await gatewayPids();
      for (const p of pids) seen.add(p);
      return pids;
    },
    async start() {
      if (opts.natsServer) {
        nats = spawn("nats-server", ["-a", "127.0.0.1", "-p", String(relayPort)], { stdio: "ignore" });
        await until(() => accepts(relayPort), "nats-server to listen", 10_000);
      }
      await pm2Async("start", "ecosystem.config.js", ...(opts.natsServer ? ["--only", "gateway"] : []));
      await until(
        async () => (await gatewayPids()).filter((p) => p > 0).length === opts.workers && (await healthy()),
        "the gateway workers to be ready",
        30_000,
      );
      for (const p of await gatewayPids()) seen.add(p);
    },
    gatewayLog() {
      const dir = join(opts.pm2Home, "logs");
      if (!existsSync(dir)) return [];
      const lines: Record<string, unknown>[] = [];
      for (const f of readdirSync(dir).filter((n) => n.startsWith("gateway-out")))
        for (const line of readFileSync(join(dir, f), "utf8").split("\n"))
          if (line.startsWith("{")) {
            try {
              lines.push(JSON.parse(line) as Record<string, unknown>);
            } catch {
              lines.push({ msg: line });
            }
          }
      return lines;
    },
    kill() {
      const pidFile = join(opts.pm2Home, "pm2.pid");
      const daemon = existsSync(pidFile) ? Number(readFileSync(pidFile, "utf8")) : 0;
      try {
        pm2("kill");
      } catch {
        // Last resort, only when pm2 could not stop its own daemon (PIDs of this run only: after a
        // successful `pm2 kill` they may belong to someone else already).
        for (const pid of [...seen, daemon].filter((p) => p > 0)) {
          try {
            process.kill(pid, "SIGKILL");
          } catch {
            // gone already
          }
        }
      }
      if (nats && nats.exitCode === null) nats.kill("SIGKILL");
    },
  };
}

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    s.once("connect", () => (s.destroy(), resolve(true)));
    s.once("error", () => resolve(false));
  });
}
