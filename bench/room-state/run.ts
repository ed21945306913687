// bench/room-state/run.ts (issue #24): what cluster-wide room sizes and presence cost and how fresh
// they are. W workers (forked: worker.ts) over the embedded relay (in this
// process, for its byte counters), holding N members in total (stand-ins: no connections; the cost
// is per join and leave) spread over R rooms, P rooms each, with U distinct users; then churn (each
// op a leave and a join) at C ops/s per worker. Three runs with the same seed: room state off
// (roomStateInterval 0), sizes only, sizes and presence; for each, the relay's bytes/s and the
// workers' CPU during the churn (the differences to "off" are the cost), then, with sizes on, the
// staleness a reader on another worker sees (a join on worker 0, polled on worker 1: p50/p99) and
// the answer time of a local roomSize() against `(await io.in(room).fetchSockets()).length`.
//
//   node --import tsx bench/room-state/run.ts                          100,000 members, 6 workers, 10,000 rooms
//   node --import tsx bench/room-state/run.ts --n 6000 --workers 2 --rooms 600 --seconds 3 --probes 20   a smoke run
//
// Bounded: every request has a timeout and the run a 10-minute watchdog; it kills what it started
// (by PID). Prints the figures and writes bench/results/room-state.json.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Relay } from "../../src/index.ts";
import { Peer, runMain } from "../lib/peer.ts";
import { freePort } from "../lib/ports.ts";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const BENCH_DIR = path.dirname(HERE);

function parseOpts(argv: string[]) {
  const o = { n: 100_000, workers: 6, rooms: 10_000, perSocket: 3, users: 50_000, churn: 1000, seconds: 10, probes: 200, interval: 100, seed: 0x24 };
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i]!.replace(/^--/, "").replace(/-(\w)/g, (_, c: string) => c.toUpperCase()) as keyof typeof o;
    const v = Number(argv[++i]);
    if (!(key in o) || !Number.isFinite(v) || v < 0) throw new Error(`bad flag ${argv[i - 1]} (flags: ${Object.keys(o).join(", ")})`);
    o[key] = v;
  }
  return o;
}
type Opts = ReturnType<typeof parseOpts>;

const q = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
};

async function run(o: Opts, mode: "off" | "sizes" | "presence") {
  const port = await freePort();
  const relay = new Relay();
  await relay.listen(port, "127.0.0.1");
  const env = (w: number) => ({
    RS_URL: `nats://127.0.0.1:${port}`,
    RS_WORKER: String(w),
    RS_INTERVAL: mode === "off" ? "0" : String(o.interval),
    RS_PRESENCE: mode === "presence" ? "1" : "0",
  });
  const workers = Array.from({ length: o.workers }, (_, w) => new Peer(`worker ${w}`, [path.join(HERE, "worker.ts")], null, [], env(w)));
  try {
    await Promise.all(workers.map((p) => p.waitFor("up", 30_000)));
    const per = Math.ceil(o.n / o.workers);
    await Promise.all(
      workers.map((p, w) => p.request({ cmd: "populate", sockets: per, rooms: o.rooms, perSocket: o.perSocket, users: o.users, seed: o.seed + w }, 120_000)),
    );
    await new Promise((r) => setTimeout(r, 2000)); // the populate's messages drain before the window
    const before = relay.stats();
    const t0 = Date.now();
    const churned = await Promise.all(workers.map((p) => p.request({ cmd: "churn", rate: o.churn, seconds: o.seconds }, (o.seconds + 30) * 1000)));
    const secs = (Date.now() - t0) / 1000;
    const after = relay.stats();
    const result: Record<string, unknown> = {
      mode,
      relayBytesPerSec: Math.round((after.bytesOut - before.bytesOut) / secs),
      relayMsgsPerSec: Math.round((after.msgsOut - before.msgsOut) / secs),
      workerCpuPct: churned.map((c) => Math.round(Number(c.cpuUs) / 1e4 / secs)),
      opsPerSec: Math.round(churned.reduce((n, c) => n + Number(c.ops), 0) / secs),
    };
    if (mode !== "off" && o.workers >= 2) {
      // Staleness: worker 1 polls a fresh room's size while worker 0 joins it (clocks: one machine).
      const stale: number[] = [];
      let missed = 0;
      const churn = Promise.all(workers.map((p) => p.request({ cmd: "churn", rate: o.churn, seconds: o.probes * 0.05 + 2 }, (o.probes + 60) * 1000)));
      for (let k = 0; k < o.probes; k++) {
        const room = `probe-${mode}-${k}`;
        const watch = workers[1]!.request({ cmd: "watch", room, want: 1, timeoutMs: 5000 }, 10_000);
        const { t0: j } = await workers[0]!.request({ cmd: "join", room });
        const { t1 } = await watch;
        if (t1 === null) missed++;
        else stale.push(Number(t1) - Number(j));
      }
      await churn;
      result.stalenessMs = { p50: q(stale, 0.5), p99: q(stale, 0.99), max: q(stale, 1), missed };
      const query = await workers[1]!.request({ cmd: "query", room: "room-0", n: 100_000 }, 60_000);
      result.query = {
        localRoomSizeNs: query.localNs,
        fetchSocketsP50Ms: query.fetchP50Ms,
        fetchSocketsP99Ms: query.fetchP99Ms,
        size: query.size,
        fetched: query.fetched,
      };
    }
    return result;
  } finally {
    await Promise.all(workers.map((p) => p.stop({ cmd: "close" })));
    await relay.close();
  }
}

runMain(
  "room-state",
  async () => {
    const o = parseOpts(process.argv.slice(2));
    console.log(
      `room-state: ${o.n} members over ${o.workers} workers, ${o.rooms} rooms (${o.perSocket} each), ${o.users} users, churn ${o.churn} ops/s per worker for ${o.seconds} s`,
    );
    const results = [];
    for (const mode of ["off", "sizes", "presence"] as const) {
      const r = await run(o, mode);
      console.log(JSON.stringify(r));
      results.push(r);
    }
    fs.mkdirSync(path.join(BENCH_DIR, "results"), { recursive: true });
    fs.writeFileSync(path.join(BENCH_DIR, "results/room-state.json"), `${JSON.stringify({ opts: o, results }, null, 2)}\n`);
    return 0;
  },
  10,
);
