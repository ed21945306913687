// Zero-downtime reload, measured: the pm2 ecosystem (relay + 2 gateway workers) under a steady
// broadcast and a stream of connection probes while `pm2 reload gateway` replaces both workers.
// Reports refused probes and broadcasts lost by clients while they were connected (a client whose
// worker leaves is told to reconnect; what it misses between its two sessions is reported apart).
//   node --import tsx bench/reload.ts [--clients 40] [--rate-ms 20]
// Bounded: one reload, a few seconds before and after it. Its own pm2 daemon (PM2_HOME=/tmp/pm2-ops
// unless set), killed at the end.
import { execFile, execFileSync } from "node:child_process";
import http from "node:http";
import { createServer } from "node:net";
import { io as connectClient, type Socket } from "socket.io-client";
import { Emitter } from "../src/index.ts";

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const CLIENTS = arg("clients", 40);
const RATE_MS = arg("rate-ms", 20);
const PROBE_MS = 20;
const PM2_HOME = process.env.PM2_HOME ?? "/tmp/pm2-ops";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

const port = await freePort();
const relayPort = await freePort();
const env = {
  ...process.env,
  PM2_HOME,
  GATEWAY_INSTANCES: "2",
  PORT: String(port),
  HOST: "127.0.0.1",
  RELAY_PORT: String(relayPort),
  ROOMGATE_LOG_LEVEL: "warn",
};
const pm2 = (...args: string[]) => execFileSync("npx", ["pm2", ...args], { env, stdio: ["ignore", "pipe", "pipe"], timeout: 120_000 }).toString();
/** The reload must not block this process: its probes, clients and broadcasts have to go on while
 *  pm2 replaces the workers (a synchronous call froze them all for the whole reload). */
const pm2Async = (...args: string[]) =>
  new Promise<void>((resolve, reject) => execFile("npx", ["pm2", ...args], { env, timeout: 120_000 }, (err) => (err ? reject(err) : resolve())));

/** When the reload started (probes are reported relative to it). */
let t0 = 0;
/** Probes that failed: when they started (ms after the reload began), how, and whether TCP connected. */
const failures: { atMs: number; outcome: string; connected: boolean; tookMs: number }[] = [];

/** One HTTP request on a fresh connection: "ok", or the error code (ECONNREFUSED, ECONNRESET...). */
function probe(): Promise<string> {
  const start = Date.now();
  let connected = false;
  const done = (outcome: string) => {
    if (outcome !== "ok" && t0 > 0) failures.push({ atMs: start - t0, outcome, connected, tookMs: Date.now() - start });
    return outcome;
  };
  return new Promise((resolve) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/healthz", agent: false, timeout: 2000 }, (res) => {
      res.resume();
      res.on("end", () => resolve(done(res.statusCode === 200 ? "ok" : `HTTP ${res.statusCode}`)));
    });
    req.on("socket", (s) => s.on("connect", () => (connected = true)));
    req.on("timeout", () => req.destroy(Object.assign(new Error("timeout"), { code: "TIMEOUT" })));
    req.on("error", (e: NodeJS.ErrnoException) => resolve(done(e.code ?? e.message)));
  });
}

interface Tracked {
  socket: Socket;
  /** Sequence numbers received, one list per connected session. */
  sessions: number[][];
  reconnects: number;
}

try {
  // The ecosystem runs the compiled gateway (dist/): build it from this tree first.
  execFileSync("npm", ["run", "build"], { stdio: "ignore", timeout: 120_000 });
  pm2("start", "ecosystem.config.js");
  for (let i = 0; i < 200 && (await probe()) !== "ok"; i++) await sleep(100);
  const clients: Tracked[] = [];
  for (let i = 0; i < CLIENTS; i++) {
    const socket = connectClient(`http://127.0.0.1:${port}`, {
      transports: ["websocket"],
      forceNew: true,
      auth: { userId: "feed" }, // the example app joins every socket to user:<userId>
      reconnectionDelay: 50,
      reconnectionDelayMax: 200,
      randomizationFactor: 0,
    });
    const t: Tracked = { socket, sessions: [], reconnects: 0 };
    socket.on("connect", () => {
      if (t.sessions.length > 0) t.reconnects++;
      t.sessions.push([]);
    });
    socket.on("tick", (seq: number) => t.sessions[t.sessions.length - 1]?.push(seq));
    clients.push(t);
  }
  for (let i = 0; i < 200 && clients.some((c) => !c.socket.connected); i++) await sleep(50);
  await sleep(500); // every worker has subscribed user:feed at the relay

  const emitter = new Emitter({ servers: `nats://127.0.0.1:${relayPort}` });
  await emitter.ready;
  let seq = 0;
  const ticker = setInterval(() => emitter.to("user:feed").emit("tick", ++seq), RATE_MS);
  const outcomes = new Map<string, number>();
  let probing = true;
  const prober = (async () => {
    while (probing) {
      const r = await probe();
      outcomes.set(r, (outcomes.get(r) ?? 0) + 1);
      await sleep(PROBE_MS);
    }
  })();

  await sleep(2000);
  t0 = Date.now();
  const seqBefore = seq;
  await pm2Async("reload", "gateway");
  const reloadMs = Date.now() - t0;
  const broadcastsDuringReload = seq - seqBefore;
  await sleep(3000);
  clearInterval(ticker);
  await sleep(1000);
  probing = false;
  await prober;
  await emitter.close();

  let lostWhileConnected = 0;
  let missedBetweenSessions = 0;
  let stayed = 0;
  for (const c of clients) {
    const seen = c.sessions.flat();
    for (const s of c.sessions) if (s.length > 0) lostWhileConnected += s[s.length - 1] - s[0] + 1 - new Set(s).size;
    const all = new Set(seen);
    for (let n = Math.min(...seen); n <= seq; n++) if (!all.has(n)) missedBetweenSessions++;
    if (c.reconnects === 0) stayed++;
    c.socket.disconnect();
  }
  missedBetweenSessions -= lostWhileConnected;
  const refused = [...outcomes].filter(([k]) => k !== "ok").reduce((n, [, v]) => n + v, 0);
  const result = {
    workers: 2,
    clients: CLIENTS,
    broadcasts: seq,
    broadcastEveryMs: RATE_MS,
    reloadMs,
    broadcastsDuringReload,
    probes: [...outcomes.values()].reduce((a, b) => a + b, 0),
    probesFailed: refused,
    probeOutcomes: Object.fromEntries(outcomes),
    clientsReconnected: clients.filter((c) => c.reconnects > 0).length,
    clientsStayed: stayed,
    lostWhileConnected,
    missedBetweenSessions,
    failures: failures.slice(0, 20),
  };
  console.log(JSON.stringify(result, null, 1));
} finally {
  try {
    pm2("kill");
  } catch {
    // the daemon may already be gone
  }
}
process.exit(0);
