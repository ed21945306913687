// bench:scale (issue #16): many connections on one box. W gateway workers on one port (forked,
// uWS's SO_REUSEPORT spreads the connections), joined through the embedded relay; N raw WebSocket
// connections from C client processes (each < 20,000 fds) over 127.0.0.x source addresses, each in
// 3 of 100 rooms; then a load phase of broadcasts (one room, a union of 4, the whole namespace),
// every delivery verified exactly once, with latency p50/p99 and the pings received per second.
//
//   npm run bench:scale                       100,000 connections, 6 workers, 6 clients, 30 s of load
//   npm run bench:scale -- --n 30000 --workers 3 --seconds 0            ramp only (CPU and RSS per connection)
//   npm run bench:scale -- --n 30000 --workers 3 --seconds 0 --no-cluster   the same without cluster
//
// Bounded: every phase has a deadline and the whole run a 15-minute watchdog; it stops by itself and
// kills what it started (by PID). Writes bench/results/scale.json; prints the figures.
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { nowUs } from "../lib/plan.ts";
import { freePort } from "../lib/ports.ts";
import { sleep, until } from "../lib/wait.ts";
import { ForeignCpuMonitor } from "../lib/interference.ts";
import { children, Peer, runMain, type Msg } from "../lib/peer.ts";
import { BINS, KINDS, kindOf, quantileMs, targetsOf } from "./plan.ts";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const BENCH_DIR = path.dirname(HERE);
const FD_BUDGET = 19_000; // per client process; the hard limit here is 20,000

function parseOpts(argv: string[]) {
  const o = { n: 100_000, workers: 6, clients: 6, seconds: 30, rate: 5, seed: 0x5ca1e, concurrency: 150, addrs: 50, cluster: true, idleSeconds: 5 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--no-cluster") o.cluster = false;
    else if (a === "--help") {
      console.log("usage: npm run bench:scale -- [--n N] [--workers W] [--clients C] [--seconds S] [--rate R/s] [--concurrency K] [--no-cluster]");
      process.exit(0);
    } else {
      const key = a.replace(/^--/, "").replace(/-(\w)/g, (_, c: string) => c.toUpperCase()) as keyof typeof o;
      const v = Number(argv[++i]);
      if (!(key in o) || typeof o[key] !== "number" || !Number.isFinite(v) || v < 0) throw new Error(`bad flag ${a} (see --help)`);
      (o as Record<string, number | boolean>)[key] = v;
    }
  }
  o.clients = Math.max(o.clients, Math.ceil(o.n / FD_BUDGET));
  return o;
}
type Opts = ReturnType<typeof parseOpts>;

/** CPU time (µs) and RSS (bytes) of a process, from /proc. */
function usage(pid: number): { cpuUs: number; rss: number } {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(f[11]) + Number(f[12]); // utime + stime, in 1/100 s
  const rss = Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))![1]) * 1024;
  return { cpuUs: ticks * 10_000, rss };
}
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

async function main(): Promise<number> {
  const o = parseOpts(process.argv.slice(2));
  console.log(`bench:scale: ${o.n} connections, ${o.workers} worker(s) ${o.cluster ? "+ embedded relay" : "(no cluster)"}, ${o.clients} client processes`);
  const port = await freePort();

  // ---- relay and workers ----
  let relay: Peer | null = null;
  let url = "";
  if (o.cluster) {
    const relayPort = await freePort();
    relay = new Peer("relay", [path.join(BENCH_DIR, "../src/bin/relay.ts")], null, [], { RELAY_PORT: String(relayPort) });
    url = `nats://127.0.0.1:${relayPort}`;
    await until(
      () =>
        new Promise<boolean>((r) =>
          net
            .connect(relayPort, "127.0.0.1")
            .on("connect", function (this: net.Socket) {
              this.destroy();
              r(true);
            })
            .on("error", () => r(false)),
        ),
      "the relay",
      10_000,
      200,
    );
  }
  const workers = Array.from(
    { length: o.workers },
    (_, i) =>
      new Peer(`worker ${i}`, [path.join(HERE, "worker.ts")], null, ["--max-semi-space-size=2", "--expose-gc"], {
        SCALE_PORT: String(port),
        SCALE_WORKER: String(i),
        ...(url ? { SCALE_CLUSTER: url } : {}),
      }),
  );
  await Promise.all(workers.map((w) => w.waitFor("up", 30_000)));
  const stats = (gc = false) => Promise.all(workers.map((w) => w.request({ cmd: "stats", gc }, 30_000)));
  if (o.cluster) await until(async () => (await stats()).every((s) => s.peers === o.workers - 1), "the workers to meet", 20_000, 200);
  await sleep(2000);
  const pids = [...workers.map((w) => w.pid)];
  const heapBase = sum((await stats(true)).map((s) => s.heapUsed as number));
  const base = pids.map(usage);
  const relayBase = relay ? usage(relay.pid) : null;

  // ---- clients: ramp ----
  const per = Math.ceil(o.n / o.clients);
  const clients: Peer[] = [];
  for (let i = 0; i < o.clients; i++) {
    const from = i * per;
    const to = Math.min(o.n, from + per);
    if (from >= to) break;
    const c = new Peer(`client ${i}`, [path.join(HERE, "client.ts")], null, ["--max-semi-space-size=16"]);
    await c.waitFor("up", 30_000);
    await c.request({ cmd: "init", cids: [from, to], seed: o.seed, port, addrs: o.addrs, concurrency: o.concurrency });
    clients.push(c);
  }
  const readyOf = new Map<Peer, number>();
  for (const c of clients) c.on("progress", (m) => readyOf.set(c, m.ready as number));
  const t0 = performance.now();
  const connected = Promise.all(clients.map((c) => c.waitFor("connected", 600_000)));
  for (const c of clients) c.notify({ cmd: "connect" });
  const ticker = setInterval(
    () => console.log(`  ramp: ${sum([...readyOf.values()])} connected after ${((performance.now() - t0) / 1000).toFixed(0)} s`),
    10_000,
  );
  const done = await connected.finally(() => clearInterval(ticker));
  const rampS = (performance.now() - t0) / 1000;
  const afterRamp = pids.map(usage);
  const relayAfterRamp = relay ? usage(relay.pid) : null;
  const ready = sum(done.map((d) => d.ready as number));
  const failed = sum(done.map((d) => d.failed as number));
  for (const d of done) for (const e of (d.examples as string[]) ?? []) console.log(`  ${e}`);
  await until(async () => sum((await stats()).map((s) => s.sockets as number)) === ready, "every worker to hold its sockets", 30_000, 200);
  const perWorker = (await stats()).map((s) => s.sockets as number);
  await sleep(o.idleSeconds * 1000);
  const idle = pids.map(usage);
  const relayIdle = relay ? usage(relay.pid) : null;
  const heapIdle = sum((await stats(true)).map((s) => s.heapUsed as number));
  const ramp = {
    connections: ready,
    failed,
    perWorker,
    seconds: rampS,
    perSecond: ready / rampS,
    cpuUsPerConn: (sum(afterRamp.map((u) => u.cpuUs)) - sum(base.map((u) => u.cpuUs))) / ready,
    relayCpuUsPerConn: relay ? (relayAfterRamp!.cpuUs - relayBase!.cpuUs) / ready : null,
    idleRssKBPerConn: (sum(idle.map((u) => u.rss)) - sum(base.map((u) => u.rss))) / ready / 1024,
    relayRssKBPerConn: relay ? (relayIdle!.rss - relayBase!.rss) / ready / 1024 : null,
    heapKBPerConnAfterGc: (heapIdle - heapBase) / ready / 1024,
    workerRssMB: idle.map((u) => Math.round(u.rss / 2 ** 20)),
  };
  console.log(
    `ramp: ${ready} connected (${failed} failed) in ${rampS.toFixed(1)} s (${ramp.perSecond.toFixed(0)}/s), per worker ${perWorker.join(" / ")}; ` +
      `server CPU ${ramp.cpuUsPerConn.toFixed(0)} µs per accepted connection${relay ? ` (+${ramp.relayCpuUsPerConn!.toFixed(1)} relay)` : ""}; ` +
      `idle RSS ${ramp.idleRssKBPerConn.toFixed(2)} KB per connection${relay ? ` (+${ramp.relayRssKBPerConn!.toFixed(3)} relay)` : ""}, ` +
      `JS heap after GC ${ramp.heapKBPerConnAfterGc.toFixed(3)} KB per connection`,
  );

  // ---- load: broadcasts at a fixed rate, verified ----
  let load: unknown = null;
  let ok = failed === 0 && ready === o.n;
  if (o.seconds > 0) {
    const total = Math.floor(o.seconds * o.rate);
    const startUs = nowUs() + 500_000;
    await Promise.all(clients.map((c) => c.request({ cmd: "begin", t0Us: startUs, maxSeq: total })));
    const cpu0 = pids.map(usage);
    const relayCpu0 = relay ? usage(relay.pid) : null;
    const clientCpu0 = clients.map((c) => usage(c.pid).cpuUs);
    const foreign = new ForeignCpuMonitor(() => new Set([process.pid, ...[...children].map((c) => c.pid ?? -1)]));
    foreign.start();
    const tLoad = performance.now();
    for (let seq = 0; seq < total; seq++) {
      const wait = (startUs + (seq * 1e6) / o.rate - nowUs()) / 1000;
      if (wait > 0) await sleep(wait);
      workers[seq % workers.length]!.notify({ cmd: "emit", seq, rooms: targetsOf(seq) });
    }
    // The last deliveries drain: until the clients' counts hold still (at most 30 s).
    let last = -1;
    for (let i = 0; i < 60; i++) {
      await sleep(500);
      const valid = sum((await Promise.all(clients.map((c) => c.request({ cmd: "count" })))).map((r) => r.valid as number));
      if (valid === last && i >= 4) break;
      last = valid;
    }
    const loadS = (performance.now() - tLoad) / 1000;
    const cpu1 = pids.map(usage);
    const relayCpu1 = relay ? usage(relay.pid) : null;
    const clientCores = (sum(clients.map((c) => usage(c.pid).cpuUs)) - sum(clientCpu0)) / 1e6 / loadS;
    const foreignCores = foreign.seconds() / loadS;
    foreign.stop();
    const reports = await Promise.all(clients.map((c) => c.request({ cmd: "report", sent: total }, 120_000)));
    const tot = (k: string) => sum(reports.map((r) => r[k] as number));
    for (const r of reports) for (const e of (r.examples as string[]) ?? []) console.log(`  ${e}`);
    const merge = (pick: (r: Msg) => [number, number][] | undefined) => {
      const h = new Uint32Array(BINS);
      for (const r of reports) for (const [b, n] of pick(r) ?? []) h[b]! += n;
      return h;
    };
    const seconds = Math.ceil(total / o.rate);
    const perSecond = Array.from({ length: seconds }, (_, s) => {
      const h = merge((r) => (r.latBySecond as [number, number][][])[s]);
      const broadcasts = Array.from({ length: total }, (_, q) => q).filter((q) => Math.floor(q / o.rate) === s);
      return {
        second: s,
        kinds: KINDS.map((k) => `${broadcasts.filter((q) => kindOf(q) === k).length} ${k}`).join(", "),
        deliveries: sum([...h]),
        pings: sum(reports.map((r) => (r.pingsBySecond as number[])[s] ?? 0)),
        p50: quantileMs(h, 0.5),
        p99: quantileMs(h, 0.99),
      };
    });
    const byKind = Object.fromEntries(
      KINDS.map((k) => {
        const h = merge((r) => (r.latByKind as Record<string, [number, number][]>)[k]);
        return [k, { deliveries: sum([...h]), p50: quantileMs(h, 0.5), p99: quantileMs(h, 0.99) }];
      }),
    );
    // Whole seconds that delivered something (the first starts the clock, the last drains).
    const seconds_ = perSecond.slice(1, -1).filter((s) => s.deliveries > 0);
    const p99s = seconds_.map((s) => s.p99).sort((a, b) => a - b);
    const busiest = [...seconds_].sort((a, b) => b.pings - a.pings)[0];
    const others = seconds_
      .filter((s) => s !== busiest)
      .map((s) => s.p99)
      .sort((a, b) => a - b);
    const medianOthers = others[Math.floor(others.length / 2)] ?? Number.NaN;
    const cpuS = (sum(cpu1.map((u) => u.cpuUs)) - sum(cpu0.map((u) => u.cpuUs))) / 1e6;
    load = {
      broadcasts: total,
      rate: o.rate,
      expected: tot("expected"),
      valid: tot("valid"),
      missing: tot("missing"),
      dup: tot("dup"),
      wrong: tot("wrong"),
      stray: tot("stray"),
      proto: tot("proto"),
      closed: tot("closed"),
      deliveriesPerSecond: tot("valid") / o.seconds,
      serverCpuCores: cpuS / loadS,
      relayCpuCores: relay ? (relayCpu1!.cpuUs - relayCpu0!.cpuUs) / 1e6 / loadS : null,
      clientCpuCores: clientCores,
      foreignCpuCores: foreignCores,
      byKind,
      perSecond,
      heartbeat: {
        busiestSecond: busiest?.second,
        pings: busiest?.pings,
        p99: busiest?.p99,
        medianP99OtherSeconds: medianOthers,
        ratio: (busiest?.p99 ?? 0) / medianOthers,
      },
      p99Spread: { min: p99s[0], median: p99s[Math.floor(p99s.length / 2)], max: p99s[p99s.length - 1] },
    };
    const L = load as { [k: string]: any };
    console.log(
      `load: ${total} broadcasts in ${o.seconds} s; deliveries ${L.valid} of ${L.expected} expected: missing ${L.missing}, duplicates ${L.dup}, ` +
        `wrong ${L.wrong}, stray ${L.stray}, closed ${L.closed}; ${L.deliveriesPerSecond.toFixed(0)} deliveries/s; ` +
        `CPU cores over the phase: workers ${L.serverCpuCores.toFixed(2)}${relay ? `, relay ${L.relayCpuCores.toFixed(2)}` : ""}, ` +
        `clients ${L.clientCpuCores.toFixed(2)}, other processes ${L.foreignCpuCores.toFixed(2)}`,
    );
    for (const k of KINDS) console.log(`  ${k}: ${byKind[k].deliveries} deliveries, p50 ${byKind[k].p50.toFixed(2)} ms, p99 ${byKind[k].p99.toFixed(2)} ms`);
    console.log("  second | broadcasts | deliveries | pings received | p50 ms | p99 ms");
    for (const s of perSecond) console.log(`  ${s.second} | ${s.kinds} | ${s.deliveries} | ${s.pings} | ${s.p50.toFixed(2)} | ${s.p99.toFixed(2)}`);
    console.log(
      `heartbeat: the second with the most pings (${busiest?.second}: ${busiest?.pings}) had p99 ${busiest?.p99.toFixed(2)} ms against a median p99 of ` +
        `${medianOthers.toFixed(2)} ms over the other seconds (${L.heartbeat.ratio.toFixed(2)}×); p99 per second ${p99s[0]?.toFixed(2)}–${p99s[p99s.length - 1]?.toFixed(2)} ms`,
    );
    ok &&= L.missing === 0 && L.dup === 0 && L.wrong === 0 && L.stray === 0 && L.closed === 0 && L.valid === L.expected;
  }

  // ---- stop ----
  await Promise.all(clients.map((c) => c.stop({ cmd: "close" })));
  await Promise.all(workers.map((w) => w.stop({ cmd: "close" })));
  if (relay) {
    relay.child.kill("SIGTERM");
    if (!(await relay.waitExit(3000))) relay.kill();
  }
  const out = path.join(BENCH_DIR, "results", o.seconds > 0 && o.n >= 100_000 ? "scale.json" : "scale-small.json");
  fs.writeFileSync(out, `${JSON.stringify({ opts: o, ramp, load, ok }, null, 1)}\n`);
  console.log(`${ok ? "OK" : "FAIL"}: ${path.relative(process.cwd(), out)}`);
  return ok ? 0 : 1;
}

runMain("bench:scale", main, 15);
export type { Opts };
