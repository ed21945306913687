// The cluster path as the README tells it: ecosystem.config.js's apps started as pm2 starts them
// (each app's script, arguments and environment; the gateway twice, with WORKER_ID 0 and 1, on one
// SO_REUSEPORT port), the example app without APP_TOKEN_SECRET. The demo token one worker logs
// works on every worker: socket.io-clients with it connect, whichever worker the kernel gives them.
// (pm2 itself is not run here: test/bin/reload.test.ts runs it, for `pm2 reload`.)
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as natsConnect } from "nats";
import { io as connectClient, type Socket as ClientSocket } from "socket.io-client";
import { freePort } from "../helpers/process.ts";

interface App {
  name: string;
  script: string;
  /** fork mode: the script is node itself, these its arguments. */
  args?: string[];
  /** cluster mode (the gateway: pm2 reloads it start-then-stop): pm2's node runs the script with these. */
  exec_mode?: string;
  node_args?: string[];
  instances: number;
  instance_var?: string;
  env: Record<string, string>;
}

const children: ChildProcess[] = [];
const tokenDir = mkdtempSync(join(tmpdir(), "roomgate-ecosystem-"));
const tokenFile = join(tokenDir, "relay-token");
/** What the relay and the workers started by the first test printed (the relay keeps running). */
let relayLines: string[] = [];
let workerLines: string[] = [];
let apps: App[] = [];
let port = 0;

before(
  async () => {
    // The apps run dist/ (as pm2 does): built only if a source changed.
    const build = spawnSync("npm", ["run", "-s", "build:fresh"], { encoding: "utf8", timeout: 120_000 });
    assert.equal(build.status, 0, build.stdout + build.stderr);
    port = await freePort();
    const saved = { ...process.env };
    // What an operator's shell holds when running `pm2 start ecosystem.config.js`.
    Object.assign(process.env, {
      GATEWAY_INSTANCES: "2",
      PORT: String(port),
      HOST: "127.0.0.1",
      RELAY_PORT: String(await freePort()),
      ROOMGATE_LOG_LEVEL: "debug",
      RELAY_TOKEN_FILE: tokenFile,
    });
    delete process.env.APP_TOKEN_SECRET;
    try {
      // A URL, not a literal: the file is plain JavaScript without declarations.
      const ecosystemUrl = new URL("../../ecosystem.config.js", import.meta.url).href;
      apps = ((await import(ecosystemUrl)) as { apps: App[] }).apps;
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
  },
  { timeout: 180_000 },
);

after(() => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  rmSync(tokenDir, { recursive: true, force: true });
});

/** Starts one instance as pm2 would; resolves with its output lines once `ready` matches one. */
function startInstance(app: App, instance: number, ready: RegExp): Promise<string[]> {
  const env = { ...process.env, ...app.env, ...(app.instance_var ? { [app.instance_var]: String(instance) } : {}) };
  delete env.APP_TOKEN_SECRET;
  const [command, args] = app.exec_mode === "cluster" ? [process.execPath, [...(app.node_args ?? []), app.script]] : [app.script, app.args ?? []];
  const child = spawn(command, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  const lines: string[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${app.name} ${instance} did not start:\n${lines.join("\n")}`)), 20000);
    const take = (d: Buffer) => {
      lines.push(...d.toString().split("\n").filter(Boolean));
      if (lines.some((l) => ready.test(l))) clearTimeout(timer), resolve(lines);
    };
    child.stdout!.on("data", take);
    child.stderr!.on("data", take);
    child.on("exit", (code) => (clearTimeout(timer), reject(new Error(`${app.name} ${instance} exited ${code}:\n${lines.join("\n")}`))));
  });
}

test("without APP_TOKEN_SECRET, the demo token a worker logs works on every worker", async () => {
  const relay = apps.find((a) => a.name === "relay")!;
  const gateway = apps.find((a) => a.name === "gateway")!;
  assert.equal(gateway.instances, 2);
  relayLines = await startInstance(relay, 0, /relay listening/);
  const logs = await Promise.all([0, 1].map((i) => startInstance(gateway, i, /listening on/)));
  workerLines = logs.flat();
  const messages = logs[0].map((l) => (l.startsWith("{") ? (JSON.parse(l) as { msg: string }).msg : l));
  const token = messages.map((m) => /A token for user "alice", valid 1 h: (\S+)$/.exec(m)?.[1]).find(Boolean);
  assert.ok(token, `worker 0 logs a demo token:\n${logs[0].join("\n")}`);

  const clients: ClientSocket[] = [];
  try {
    // 20 connections on the shared port: the kernel spreads them over both workers (all on one: 2e-6).
    const results = await Promise.all(
      Array.from({ length: 20 }, () => {
        const c = connectClient(`http://127.0.0.1:${port}`, { transports: ["websocket"], forceNew: true, reconnection: false, auth: { token } });
        clients.push(c);
        return new Promise<string>((resolve) => {
          c.once("connect", () => resolve("connected"));
          c.once("connect_error", (err: Error & { data?: { reason?: string } }) => resolve(`${err.message}: ${err.data?.reason}`));
        });
      }),
    );
    assert.deepEqual(
      results.filter((r) => r !== "connected"),
      [],
    );
    // Both workers admitted some (each logs its sessions at debug level).
    for (const log of logs) assert.ok(log.some((l) => l.includes('"msg":"connection opened"')));
  } finally {
    for (const c of clients) c.disconnect();
  }
});

test("the relay and the workers share a generated token: kept for the next load, required by the relay", async () => {
  const relay = apps.find((a) => a.name === "relay")!;
  const gateway = apps.find((a) => a.name === "gateway")!;
  const token = relay.env.RELAY_TOKEN;
  assert.match(token, /^[0-9a-f]{48}$/);
  assert.equal(gateway.env.ROOMGATE_CLUSTER_TOKEN, token);
  assert.equal(readFileSync(tokenFile, "utf8").trim(), token);
  assert.equal(statSync(tokenFile).mode & 0o777, 0o600);
  // Neither the relay nor the workers started from it (by the test above) warn of a missing token.
  assert.ok(relayLines.length > 0 && workerLines.length > 0, "the test above started them");
  assert.deepEqual(
    [...relayLines, ...workerLines].filter((l) => /no authentication|without credentials/.test(l)),
    [],
  );
  // That relay requires the token: a client without it is refused.
  const url = gateway.env.ROOMGATE_CLUSTER!;
  await assert.rejects(natsConnect({ servers: url, reconnect: false, timeout: 3000 }), /Authorization Violation/i);
  const nc = await natsConnect({ servers: url, reconnect: false, timeout: 3000, token });
  await nc.close();
  // Loaded again (a later `pm2 reload`, say), the file gives the same token.
  const saved = { ...process.env };
  process.env.RELAY_TOKEN_FILE = tokenFile;
  try {
    const again = ((await import(`${new URL("../../ecosystem.config.js", import.meta.url).href}?again`)) as { apps: App[] }).apps;
    assert.equal(again.find((a) => a.name === "relay")!.env.RELAY_TOKEN, token);
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
});
