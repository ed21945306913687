// The end-to-end benchmark's command line (bench/e2e/run.ts): its flags, their defaults (full and
// --quick), the help text, and the parsed options every other part of the run reads.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { DEFAULT_SEED, SCENARIO_NAMES, SELECTORS, type Selector } from "../lib/plan.ts";
import { RUNTIME_NAMES } from "../lib/runtimes.ts";
import { DEFAULT_SERVERS, SERVER_DEFS } from "./servers.ts";

const BENCH_DIR = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

export interface Opts {
  quick: boolean;
  n: number;
  m: number;
  size: number;
  bursts: number;
  reps: number;
  scenarios: string[];
  servers: string[];
  clients: number;
  addrs: number;
  concurrency: number;
  rate: number;
  latencySeconds: number;
  latencyM: number;
  latencyTarget: Selector;
  /** Long-polling clients of the polling scenario (client ids 0..pollingN-1). */
  pollingN: number;
  churnOps: number;
  seed: number;
  stallMs: number;
  graceMs: number;
  minMs: number;
  settleMs: number;
  out: string;
  md: boolean;
  pin: boolean;
  wrongFaults: string;
  json: boolean;
  /** Servers compiled to JS and run by plain node, roomgate from dist/ (as users run it). */
  dist: boolean;
  /** permessage-deflate on in every server that has it, offered by the load clients. */
  deflate: boolean;
  /** --runtimes: each server runs once per runtime, named "<server>@<runtime>" (bench/lib/runtimes.ts). */
  runtimes: string[];
}

const HELP = `usage: npm run bench -- [flags]
  --quick               small, fast run for development (< 1 min); no RESULTS.md unless --md
  --n N                 connections (default 2000; quick 200)
  --m M                 messages per burst (default 200; quick 50)
  --size BYTES          payload string length (default 100)
  --bursts K            at least K bursts per scenario per rep (default 3; quick 2)
  --min-ms MS           ...and more bursts (up to 20K) until MS of wall time (default 1000; quick 0)
  --reps R              repetitions, medians reported (default 3; quick 1)
  --scenarios a,b       subset of: ${SCENARIO_NAMES.join(",")}
  --servers a,b         subset of: ${SERVER_DEFS.map((s) => s.name).join(",")} (default ${DEFAULT_SERVERS.join(",")})
  --runtimes a,b        run every server once per Node runtime, named server@runtime, each compared with
                        raw uWS on its own runtime: ${RUNTIME_NAMES.join(",")} (host = this
                        machine's node; the others come from npm run test:runtimes -- prepare); no RESULTS.md
  --clients P           load-client processes (default 2)
  --addrs A             spread clients over source addresses 127.0.0.1..127.0.0.A (default 8)
  --concurrency C       handshakes in flight per client process (default 128)
  --rate R              latency scenario: bursts per second (default 20)
  --latency-seconds S   latency scenario duration (default 3; quick 1)
  --latency-m M         latency scenario: messages per burst (default 5: at N=2000 and 20/s Socket.IO on ws
                        stays below one saturated core, so latency is not measuring overload)
  --latency-target T    latency scenario target: ${SELECTORS.join("|")} (default one)
  --polling-n P         polling scenario: long-polling clients (default N/10, at least min(N, 10))
  --churn-ops OPS       join/leave operations in the churn scenario (default 100000; quick 2000),
                        after an unmeasured warm-up of min(OPS, 20000)
  --seed S              room-assignment seed (default ${DEFAULT_SEED})
  --stall-ms MS         a burst with no progress for this long is declared incomplete (default 2000; quick 600)
  --settle-ms MS        memory scenario: read memory after MS idle, both before and after the ramp, so V8's memory
                        reducer has run (it releases the young generation grown during a ramp ~10 s after it);
                        default 0: read 300 ms after the ramp
  --out DIR             directory for JSON (and the SVG) (default bench/results)
  --md / --no-md        (do not) rewrite bench/RESULTS.md (default: yes for full runs, no for --quick)
  --no-pin              do not pin server/clients to CPUs with taskset
  --wrong-faults f,..   faults of the 'wrong' server: dup,skip,wrong,reorder (default all)
  --deflate             permessage-deflate: the load clients offer it and inflate what comes compressed; every
                        server turns it on (roomgate perMessageDeflate: true, Socket.IO perMessageDeflate: true
                        (on uWS also compression: SHARED_COMPRESSOR), raw uWS SHARED_COMPRESSOR), each compressing
                        frames of 1024 bytes and more (Socket.IO's threshold): use --size 2048 to compress them
  --json                also print the result JSON on stdout
  --dist                servers compiled by tsc (npm run build + tsconfig.bench.json) and run by plain
                        node, roomgate from dist/ as users run it (also: env BENCH_ROOMGATE_DIST=1);
                        default: the TypeScript servers through tsx
env BENCH_SERVER_NODE_FLAGS / BENCH_CLIENT_NODE_FLAGS: extra node flags for the server / client
processes (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof")`;

export function parseOpts(argv: string[]): Opts {
  const flags = new Map<string, string>();
  const bools = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith("--")) throw new Error(`unexpected argument ${a}`);
    const eq = a.indexOf("=");
    if (eq > 0) flags.set(a.slice(2, eq), a.slice(eq + 1));
    else if (["quick", "md", "no-md", "no-pin", "json", "dist", "deflate", "help"].includes(a.slice(2))) bools.add(a.slice(2));
    else {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      flags.set(a.slice(2), v);
    }
  }
  if (bools.has("help")) {
    console.log(HELP);
    process.exit(0);
  }
  const known = new Set([
    "n",
    "m",
    "size",
    "bursts",
    "reps",
    "scenarios",
    "servers",
    "clients",
    "addrs",
    "concurrency",
    "rate",
    "latency-seconds",
    "latency-m",
    "latency-target",
    "polling-n",
    "churn-ops",
    "seed",
    "stall-ms",
    "grace-ms",
    "min-ms",
    "settle-ms",
    "out",
    "wrong-faults",
    "runtimes",
  ]);
  for (const k of flags.keys()) if (!known.has(k)) throw new Error(`unknown flag --${k} (see --help)`);
  const quick = bools.has("quick");
  const num = (k: string, def: number, min = 0): number => {
    const v = flags.get(k);
    if (v === undefined) return def;
    const x = Number(v);
    if (!Number.isFinite(x) || x < min) throw new Error(`--${k} must be a number >= ${min}`);
    return x;
  };
  const list = (k: string, def: string[], valid: readonly string[]): string[] => {
    const v = flags.get(k);
    if (v === undefined) return def;
    const xs = v
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
    for (const x of xs) if (!valid.includes(x)) throw new Error(`--${k}: unknown ${JSON.stringify(x)}; known: ${valid.join(",")}`);
    return xs;
  };
  const latencyTarget = (flags.get("latency-target") ?? "one") as Selector;
  if (!SELECTORS.includes(latencyTarget)) throw new Error(`--latency-target: one of ${SELECTORS.join(",")}`);
  const o: Opts = {
    quick,
    n: Math.floor(num("n", quick ? 200 : 2000, 2)),
    m: Math.floor(num("m", quick ? 50 : 200, 1)),
    size: Math.floor(num("size", 100, 1)),
    bursts: Math.floor(num("bursts", quick ? 2 : 3, 1)),
    reps: Math.floor(num("reps", quick ? 1 : 3, 1)),
    scenarios: list("scenarios", SCENARIO_NAMES, SCENARIO_NAMES),
    servers: list(
      "servers",
      DEFAULT_SERVERS,
      SERVER_DEFS.map((s) => s.name),
    ),
    clients: Math.floor(num("clients", 2, 1)),
    addrs: Math.min(250, Math.floor(num("addrs", 8, 1))),
    concurrency: Math.floor(num("concurrency", 128, 1)),
    rate: num("rate", 20, 0.1),
    latencySeconds: num("latency-seconds", quick ? 1 : 3, 0.05),
    latencyM: Math.floor(num("latency-m", 5, 1)),
    latencyTarget,
    pollingN: 0, // below
    churnOps: Math.floor(num("churn-ops", quick ? 2000 : 100000, 4)),
    seed: Math.floor(num("seed", DEFAULT_SEED)),
    stallMs: num("stall-ms", quick ? 600 : 2000, 50),
    graceMs: num("grace-ms", quick ? 30 : 60),
    minMs: num("min-ms", quick ? 0 : 1000),
    settleMs: num("settle-ms", 0),
    out: path.resolve(flags.get("out") ?? path.join(BENCH_DIR, "results")),
    md: bools.has("md") ? true : bools.has("no-md") ? false : !quick,
    pin: !bools.has("no-pin"),
    wrongFaults: flags.get("wrong-faults") ?? "dup,skip,wrong,reorder",
    json: bools.has("json"),
    dist: bools.has("dist") || process.env.BENCH_ROOMGATE_DIST === "1",
    deflate: bools.has("deflate"),
    runtimes: list("runtimes", [], [...RUNTIME_NAMES]),
  };
  if (o.runtimes.length) {
    o.servers = o.runtimes.flatMap((r) => o.servers.map((s) => `${s}@${r}`));
    if (!bools.has("md")) o.md = false; // RESULTS.md's tables are for one runtime
  }
  o.clients = Math.min(o.clients, o.n);
  const pollingN = Math.floor(num("polling-n", Math.max(Math.min(o.n, 10), Math.round(o.n / 10)), 1));
  if (pollingN > o.n) throw new Error(`--polling-n must be at most --n (${o.n}): the polling clients are the first of the N`);
  o.pollingN = pollingN;
  return o;
}
