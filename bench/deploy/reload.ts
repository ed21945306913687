// Deploys without a gap, measured: the pm2 ecosystem (2 gateway workers by default, on the embedded
// relay and/or a real nats-server) with connection-state recovery, watched by the reload monitor
// (bench/deploy/reload-monitor.ts: default, polling-only and WebSocket clients, an acked event each and
// a room broadcast every 50 ms, a fresh /healthz connection every 20 ms) through N consecutive
// `pm2 reload gateway`. Reports per backend: probes refused or failed, connect errors, acks failed,
// broadcasts lost or duplicated, sessions not recovered, and from the workers' logs how long each
// drain took and how many sessions it handed over.
//   npm run bench:reload -- [--reloads 20] [--backend relay|nats|both] [--workers 2] [--retries 3]
//                           [--every-ms 50] [--clients-per-kind 1]
// --retries 0: clients without socket.io-client's `retries`: an acked event in flight when its
// worker closes the connection then fails (socket.io-client fails outstanding acks at a disconnect).
// Bounded: N reloads, each waited for; its own pm2 daemon (a fresh PM2_HOME per backend under
// /tmp), killed at the end, and its own nats-server, killed by PID.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ecosystem } from "./ecosystem.ts";
import { type ClientKind, ReloadMonitor } from "./reload-monitor.ts";

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const RELOADS = Number(arg("reloads", "20"));
const WORKERS = Number(arg("workers", "2"));
const RETRIES = Number(arg("retries", "3"));
const EVERY_MS = Number(arg("every-ms", "50"));
const PER_KIND = Number(arg("clients-per-kind", "1"));
const BACKEND = arg("backend", "both");
if (!["relay", "nats", "both"].includes(BACKEND)) throw new Error(`--backend relay|nats|both, got ${BACKEND}`);
const APP = fileURLToPath(new URL("./monitor-app.mjs", import.meta.url));
const KINDS: ClientKind[] = (["default", "polling", "websocket"] as const).flatMap((k) => Array<ClientKind>(PER_KIND).fill(k));

const pct = (xs: number[], p: number) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] : null);

async function run(natsServer: boolean) {
  const pm2Home = mkdtempSync(join(tmpdir(), "roomgate-reload-"));
  const eco = await ecosystem({ pm2Home, workers: WORKERS, recovery: true, tokenSecret: "bench-reload", app: APP, natsServer, logLevel: "info" });
  let monitor: ReloadMonitor | null = null;
  try {
    await eco.start();
    monitor = await ReloadMonitor.start({ port: eco.port, kinds: KINDS, everyMs: EVERY_MS, retries: RETRIES });
    const reloadMs: number[] = [];
    let notReplaced = 0;
    for (let i = 0; i < RELOADS; i++) {
      const before = await eco.gatewayPids();
      const t0 = Date.now();
      await eco.pm2Async("reload", "gateway");
      reloadMs.push(Date.now() - t0);
      const after = await eco.gatewayPids();
      notReplaced += after.filter((p) => before.includes(p)).length;
      await monitor.settled(`reload ${i + 1}`);
    }
    const report = await monitor.finish();
    const log = eco.gatewayLog();
    const drains = log.filter((l) => typeof l.msg === "string" && l.msg.startsWith("cluster: drain done"));
    const drainMs = drains.map((l) => Number(/in (\d+) ms/.exec(l.msg as string)?.[1] ?? -1));
    const handed = drains.map((l) => Number(/: (\d+) session\(s\) handed over/.exec(l.msg as string)?.[1] ?? 0));
    const closedMs = log.filter((l) => typeof l.drainMs === "number").map((l) => l.drainMs as number);
    return {
      backend: natsServer ? "nats-server" : "embedded relay",
      workers: WORKERS,
      reloads: RELOADS,
      clientKinds: KINDS,
      retries: RETRIES,
      reloadMs: { p50: pct(reloadMs, 50), max: Math.max(...reloadMs) },
      workersNotReplaced: notReplaced,
      ...report,
      drainsWithSessions: drains.length,
      sessionsHandedOver: handed.reduce((a, b) => a + b, 0),
      handoverMs: { p50: pct(drainMs, 50), max: drainMs.length ? Math.max(...drainMs) : null },
      workerCloseMs: { p50: pct(closedMs, 50), max: closedMs.length ? Math.max(...closedMs) : null },
      unclaimedLines: log.filter((l) => typeof l.msg === "string" && /dropped/.test(l.msg)).map((l) => l.msg),
      failures: monitor.details(),
    };
  } finally {
    monitor?.close();
    eco.kill();
    rmSync(pm2Home, { recursive: true, force: true });
  }
}

// The ecosystem runs the compiled gateway (dist/): built from this tree if a source changed.
execFileSync("npm", ["run", "-s", "build:fresh"], { stdio: "inherit", timeout: 180_000 });
const results = [];
if (BACKEND !== "nats") results.push(await run(false));
if (BACKEND !== "relay") results.push(await run(true));
console.log(JSON.stringify(results, null, 1));
process.exit(0);
