// The measured scenarios of the end-to-end benchmark, one server at a time: the ramp to N
// connections, lock-step bursts to a target, steady-rate latency, and join/leave churn. Each
// drives the server (over IPC) and the load clients, and turns their counts into one rep's
// figures; the session (session.ts) decides which run and records them.
import type { LoadClients } from "./clients.ts";
import type { Opts } from "./options.ts";
import { readServerCpuUs, type RepResult } from "./metrics.ts";
import type { Peer } from "../lib/peer.ts";
import { nowUs, type ClientMode, type Selector } from "../lib/plan.ts";
import { readProcCpuUs } from "../lib/procfs.ts";
import { percentile } from "./report.ts";
import { sleep } from "../lib/wait.ts";

export class Scenarios {
  constructor(
    readonly o: Opts,
    readonly clients: LoadClients,
  ) {}

  /** Connects everybody and waits until the server has them all joined; `cpu0`: the server's CPU
   *  time just before. */
  async rampToN(srv: Peer, port: number, mode: ClientMode, cpu0: number): Promise<Record<string, number>> {
    const { o } = this;
    const n = mode === "polling" ? o.pollingN : o.n;
    const tStart = nowUs();
    const conn = await this.clients.connectAll(port, mode);
    const failed = conn.reduce((a, c) => a + (c.failed as number), 0);
    const tN = Math.max(...conn.map((c) => c.t as number));
    if (failed > 0) {
      const ex = conn.flatMap((c) => c.examples as string[]).slice(0, 5);
      throw new Error(`${failed} of ${n} connections failed: ${ex.join("; ")}`);
    }
    const joined = await this.untilJoined(srv, n);
    if (joined !== n) throw new Error(`server reports ${joined} joined sockets, expected ${n}`);
    const cpu1 = await readServerCpuUs(srv);
    const rampMs = (tN - tStart) / 1000;
    return {
      timeToN: rampMs,
      connsPerSec: n / (rampMs / 1000),
      cpuPerConn: (cpu1 - cpu0) / n,
      clientCpuUs: conn.reduce((a, c) => a + (c.cpuUs as number), 0),
    };
  }

  /** Polls the server's joined-socket count until it is `n` (for up to ~10 s); returns the last count. */
  async untilJoined(srv: Peer, n: number): Promise<number> {
    let joined = -1;
    for (let i = 0; i < 500; i++) {
      joined = (await srv.request({ cmd: "joined" })).n as number;
      if (joined === n) break;
      await sleep(20);
    }
    return joined;
  }
  /** At least `bursts` lock-step bursts of M messages to `sel`, and more (up to 20×) until
   * `minMs` of wall time has passed, so fast servers are measured over as long a stretch as
   * slow ones; the burst itself is identical for every server. Returns throughput metrics. */
  async burstScenario(srv: Peer, sel: Selector, bursts: number, m: number, tag: string, rep: number, minMs = 0): Promise<RepResult> {
    const { o } = this;
    const maxBursts = minMs > 0 ? bursts * 20 : bursts;
    const base = await this.clients.begin(sel, maxBursts * m, m, false);
    const cpuA = await readServerCpuUs(srv);
    const procA = readProcCpuUs(srv.pid);
    const t0 = performance.now();
    let wallUs = 0;
    let incomplete = false;
    let sent = 0;
    for (let b = 0; b < maxBursts && (b < bursts || performance.now() - t0 < minMs); b++) {
      sent++;
      const done = this.clients.waitAllDone(b, 120000 + o.stallMs * 4);
      const tSend = nowUs();
      await srv.request({ cmd: "burst", sel, seqStart: base + b * m, m, size: o.size, tag }, 120000);
      this.clients.sent(b);
      const msgs = await done;
      if (msgs.some((x) => x.incomplete)) {
        incomplete = true;
        break;
      }
      const tEnd = Math.max(tSend, ...msgs.map((x) => x.t as number));
      wallUs += tEnd - tSend;
    }
    await sleep(o.graceMs); // let late duplicates / strays arrive before counting
    const cpuB = await readServerCpuUs(srv);
    const procB = readProcCpuUs(srv.pid);
    const c = await this.clients.collect();
    const serverCpuUs = cpuB - cpuA;
    return {
      rep,
      incomplete,
      errors: c.errors,
      examples: c.examples,
      metrics: {
        bursts: sent,
        deliveries: c.valid,
        expected: c.expected,
        serverCpuUs,
        procCpuUs: procB - procA,
        wallUs,
        clientCpuUs: c.clientCpuUs,
        cpuPer1k: (serverCpuUs / c.valid) * 1000,
        deliveriesPerSec: c.valid / (wallUs / 1e6),
        clientUtil: (c.clientCpuUs / wallUs) * 100,
        serverUtil: (serverCpuUs / wallUs) * 100,
        // permessage-deflate (--deflate): the share of messages that came compressed, and how much
        compressedPct: c.valid > 0 ? (c.inflated / c.valid) * 100 : 0,
        deflateRatio: c.wireBytes > 0 ? c.plainBytes / c.wireBytes : 0,
      },
    };
  }

  /** Steady rate: `o.rate` bursts/s of `o.latencyM` messages for `o.latencySeconds`; latency sampled
   *  on the probe's connections, or on every connection (`sampleAll`: the polling scenario). */
  async latencyScenario(srv: Peer, rep: number, sampleAll = false): Promise<RepResult> {
    const { o } = this;
    const nb = Math.max(1, Math.round(o.rate * o.latencySeconds));
    const total = nb * o.latencyM;
    const base = await this.clients.begin(o.latencyTarget, total, total, sampleAll ? "all" : true);
    const cpuA = await readServerCpuUs(srv);
    const done = this.clients.waitAllDone(0, o.latencySeconds * 1000 + 120000);
    const t0 = nowUs();
    await srv.request(
      { cmd: "steady", sel: o.latencyTarget, seqStart: base, m: o.latencyM, bursts: nb, intervalMs: 1000 / o.rate, size: o.size, tag: "L" },
      o.latencySeconds * 1000 + 60000,
    );
    this.clients.sent(0);
    const msgs = await done;
    const wallUs = Math.max(...msgs.map((x) => x.t as number)) - t0;
    await sleep(o.graceMs);
    const cpuB = await readServerCpuUs(srv);
    const c = await this.clients.collect();
    const lat = Float64Array.from(c.lat).sort();
    return {
      rep,
      incomplete: msgs.some((x) => x.incomplete),
      errors: c.errors,
      examples: c.examples,
      metrics: {
        deliveries: c.valid,
        expected: c.expected,
        samples: lat.length,
        p50: percentile(lat, 50) / 1000,
        p99: percentile(lat, 99) / 1000,
        p999: percentile(lat, 99.9) / 1000,
        max: lat.length ? lat[lat.length - 1]! / 1000 : NaN,
        serverCpuUs: cpuB - cpuA,
        cpuPer1k: ((cpuB - cpuA) / c.valid) * 1000,
        serverUtil: ((cpuB - cpuA) / wallUs) * 100,
        wallUs,
        clientCpuUs: c.clientCpuUs,
      },
    };
  }

  async churnScenario(srv: Peer, rep: number): Promise<RepResult> {
    const { o } = this;
    // warm-up (JIT) with a different seed, then the measured run
    await srv.request({ cmd: "churn", ops: Math.min(o.churnOps, 20000), seed: o.seed ^ 0x5a5a ^ rep }, 120000);
    const r = await srv.request({ cmd: "churn", ops: o.churnOps, seed: o.seed ^ rep }, 120000);
    // memberships must be exactly as before: verify with a mixed burst
    const v = await this.burstScenario(srv, "mixed", 1, o.m, "C", rep);
    const ops = r.ops as number;
    return {
      rep,
      incomplete: v.incomplete,
      errors: v.errors,
      examples: v.examples,
      metrics: {
        ops,
        serverCpuUs: r.cpuUs as number,
        wallUs: r.wallUs as number,
        cpuPer1kOps: ((r.cpuUs as number) / ops) * 1000,
        opsPerSec: ops / ((r.wallUs as number) / 1e6),
        verifyDeliveries: v.metrics.deliveries!,
      },
    };
  }

  /** The polling scenario on a fresh server: the long-polling clients connect, a verified warm-up
   *  burst, then mixed bursts (server CPU per delivery, deliveries/s) and the steady-rate run
   *  (latency on every polling connection, and CPU per delivery at that rate), as one rep. */
  async pollingScenario(srv: Peer, port: number, rep: number): Promise<RepResult> {
    const { o } = this;
    await this.rampToN(srv, port, "polling", await readServerCpuUs(srv));
    const warm = await this.burstScenario(srv, "mixed", 1, o.m, "PW", rep);
    if (warm.incomplete || Object.values(warm.errors).some((x) => x > 0)) return { ...warm, examples: warm.examples.map((e) => `warm-up: ${e}`) };
    const b = await this.burstScenario(srv, "mixed", o.bursts, o.m, "PB", rep, o.minMs);
    const l = await this.latencyScenario(srv, rep, true);
    const errors = { ...b.errors };
    for (const k of Object.keys(errors) as (keyof typeof errors)[]) errors[k] += l.errors[k];
    return {
      rep,
      incomplete: b.incomplete || l.incomplete,
      errors,
      examples: [...b.examples, ...l.examples],
      metrics: {
        ...b.metrics,
        p50: l.metrics.p50!,
        p99: l.metrics.p99!,
        p999: l.metrics.p999!,
        samples: l.metrics.samples!,
        latDeliveries: l.metrics.deliveries!,
        latExpected: l.metrics.expected!,
        latCpuPer1k: l.metrics.cpuPer1k!,
        latServerUtil: l.metrics.serverUtil!,
      },
    };
  }
}
