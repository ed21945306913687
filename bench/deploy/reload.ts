// Zero-downtime reload, measured: the pm2 ecosystem (relay + 2 gateway workers) under a steady
// broadcast and a stream of connection probes while `pm2 reload gateway` replaces both workers.
// Reports refused probes and broadcasts lost by clients while they were connected (a client whose
// worker leaves is told to reconnect; what it misses between its two sessions is reported apart).
//   node --import tsx bench/deploy/reload.ts [--clients 40] [--rate-ms 20] [--recovery]
// --recovery turns connection-state recovery on (ROOMGATE_RECOVERY): a client moved by the reload
// should then come back with its session and every broadcast it missed in between.
// Bounded: one reload, a few seconds before and after it. Its own pm2 daemon (PM2_HOME=/tmp/pm2-ops
// unless set), killed at the end.
import { execFile, execFileSync } from "node:child_process";
import http from "node:http";
import { io as connectClient, type Socket } from "socket.io-client";
import { signToken } from "../../src/examples/tokens.ts";
import { Emitter } from "../../src/index.ts";
import { ecosystem } from "./ecosystem.ts";
import { sleep } from "../lib/wait.ts";

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const CLIENTS = arg("clients", 40);
const RATE_MS = arg("rate-ms", 20);
const PROBE_MS = 20;
const RECOVERY = process.argv.includes("--recovery");
const PM2_HOME = process.env.PM2_HOME ?? "/tmp/pm2-ops";

const { port, relayPort, env, pm2, kill, tokenSecret } = await ecosystem({
  pm2Home: PM2_HOME,
  workers: 2,
  recovery: RECOVERY,
  tokenSecret: "bench-reload-secret",
});
/** The reload must not block this process: its probes, clients and broadcasts have to go on while
 *  pm2 replaces the workers (a synchronous call froze them all for the whole reload). */
const pm2Async = (...args: string[]) =>
  new Promise<string>((resolve, reject) =>
    execFile("npx", ["pm2", ...args], { env, timeout: 120_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
    ),
  );
/** The gateway workers' pids, as pm2 lists them. */
const gatewayPids = async () =>
  (JSON.parse(await pm2Async("jlist")) as { name: string; pid: number }[])
    .filter((p) => p.name === "gateway")
    .map((p) => p.pid)
    .sort();

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
  /** Reconnects that restored the session (socket.recovered). */
  recovered: number;
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
      auth: { token: signToken("feed", tokenSecret) }, // the example app joins every socket to user:<userId>
      reconnectionDelay: 50,
      reconnectionDelayMax: 200,
      randomizationFactor: 0,
    });
    const t: Tracked = { socket, sessions: [], reconnects: 0, recovered: 0 };
    socket.on("connect", () => {
      if (t.sessions.length > 0) t.reconnects++;
      if (socket.recovered) t.recovered++;
      t.sessions.push([]);
    });
    socket.on("tick", (seq: number) => t.sessions[t.sessions.length - 1]?.push(seq));
    clients.push(t);
  }
  for (let i = 0; i < 200 && clients.some((c) => !c.socket.connected); i++) await sleep(50);
  const unconnected = clients.filter((c) => !c.socket.connected).length;
  if (unconnected > 0) throw new Error(`${unconnected} of ${CLIENTS} clients did not connect: nothing would be measured`);
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
  if (clients.some((c) => c.sessions[0]?.length === 0)) throw new Error("a client got no broadcast before the reload: nothing would be measured");
  const pidsBefore = await gatewayPids();
  t0 = Date.now();
  const seqBefore = seq;
  const reloadOutput = await pm2Async("reload", "gateway");
  const reloadMs = Date.now() - t0;
  const broadcastsDuringReload = seq - seqBefore;
  const pidsAfter = await gatewayPids();
  if (pidsAfter.some((p) => pidsBefore.includes(p))) console.error(`not every worker was replaced: ${pidsBefore} -> ${pidsAfter}\n${reloadOutput}`);
  await sleep(3000);
  clearInterval(ticker);
  await sleep(1000);
  probing = false;
  await prober;
  await emitter.close();

  let lostWhileConnected = 0;
  let missedBetweenSessions = 0;
  let stayed = 0;
  /** Broadcasts received twice, or after a later one (exactly once and in order is the promise). */
  let duplicates = 0;
  let outOfOrder = 0;
  for (const c of clients) {
    const seen = c.sessions.flat();
    for (let i = 1; i < seen.length; i++) if (seen[i] <= seen[i - 1]) outOfOrder++;
    for (const s of c.sessions) if (s.length > 0) lostWhileConnected += s[s.length - 1] - s[0] + 1 - new Set(s).size;
    const all = new Set(seen);
    duplicates += seen.length - all.size;
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
    workersReplaced: pidsBefore.filter((p) => !pidsAfter.includes(p)).length,
    probes: [...outcomes.values()].reduce((a, b) => a + b, 0),
    probesFailed: refused,
    probeOutcomes: Object.fromEntries(outcomes),
    clientsReconnected: clients.filter((c) => c.reconnects > 0).length,
    clientsStayed: stayed,
    recovery: RECOVERY,
    reconnects: clients.reduce((n, c) => n + c.reconnects, 0),
    reconnectsRecovered: clients.reduce((n, c) => n + c.recovered, 0),
    lostWhileConnected,
    missedBetweenSessions,
    duplicates,
    outOfOrder,
    failures: failures.slice(0, 20),
  };
  console.log(JSON.stringify(result, null, 1));
} finally {
  kill();
}
process.exit(0);
