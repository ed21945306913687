// The load-client processes of the end-to-end benchmark (each runs bench/e2e/client.ts): started
// with their share of the connections, connected (the latency probe's connections spread through
// the bulk clients' order), told which scenario begins, waited for burst by burst, and asked for
// their counts. Knows nothing of servers or of what a figure means.
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { sumErrors, type Errors } from "./delivery-errors.ts";
import type { Opts } from "./options.ts";
import { cpusFor, envFlags, Peer, type Msg } from "../lib/peer.ts";
import type { ClientMode, Selector } from "../lib/plan.ts";

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** What the clients counted over a scenario, added up. */
export interface ClientCounts {
  errors: Errors;
  valid: number;
  expected: number;
  clientCpuUs: number;
  lat: number[];
  examples: string[];
  /** Messages that arrived compressed (permessage-deflate), their bytes on the wire and inflated. */
  inflated: number;
  wireBytes: number;
  plainBytes: number;
}

export class LoadClients {
  clients: Peer[] = [];
  probe: Peer | null = null;
  /** Connections the probe holds. */
  probeCount = 0;
  private seq = 1;
  private doneBox = new Map<number, { msgs: Msg[]; resolve: (() => void) | null }>();

  constructor(readonly o: Opts) {}

  /** Bulk client processes (round-robin share of the connections, nice +10) plus one probe
   * process holding a few connections at normal priority, spread evenly through the connection
   * order (connectAll): latency is sampled on the probes only, so it measures the server and the
   * network path, not the queue of a client process that is busy parsing thousands of other
   * sockets' frames. */
  async start(): Promise<void> {
    const { o } = this;
    // Enough probes that the ~third of them inside a target room sample its delivery order well
    // (and, at the smallest N, that some are inside it at all).
    const nProbe = o.n >= 4 ? Math.max(Math.min(4, Math.floor(o.n / 4)), Math.min(256, Math.floor(o.n / 8))) : 0;
    this.probeCount = nProbe;
    const probeCids = new Set<number>();
    for (let i = 0; i < nProbe; i++) probeCids.add(Math.floor(((i + 0.5) * o.n) / nProbe));
    const shares: number[][] = Array.from({ length: o.clients }, () => []);
    let k = 0;
    for (let cid = 0; cid < o.n; cid++) if (!probeCids.has(cid)) shares[k++ % o.clients]!.push(cid);
    if (nProbe > 0) shares.push([...probeCids]);
    shares.forEach((_cids, i) => {
      const isProbe = nProbe > 0 && i === shares.length - 1;
      const p = new Peer(
        isProbe ? "probe client" : `client ${i}`,
        [path.join(HERE, "client.ts")],
        cpusFor("client", o.pin),
        envFlags("BENCH_CLIENT_NODE_FLAGS"),
      );
      p.on("done", (m) => this.onDone(m));
      this.clients.push(p);
      if (isProbe) this.probe = p;
      else if (nProbe > 0 && p.child.pid) {
        try {
          os.setPriority(p.child.pid, 10);
        } catch {
          /* not permitted: latency then includes more client queueing */
        }
      }
    });
    await Promise.all(this.clients.map((p) => p.waitFor("up", 30000)));
    await Promise.all(this.clients.map((p, i) => p.request({ cmd: "init", cids: shares[i]!, n: o.n, seed: o.seed, addrs: o.addrs })));
  }

  onDone(m: Msg): void {
    const b = m.b as number;
    let box = this.doneBox.get(b);
    if (!box) this.doneBox.set(b, (box = { msgs: [], resolve: null }));
    box.msgs.push(m);
    if (box.msgs.length === this.clients.length) box.resolve?.();
  }

  waitAllDone(b: number, timeoutMs: number): Promise<Msg[]> {
    let box = this.doneBox.get(b);
    if (!box) this.doneBox.set(b, (box = { msgs: [], resolve: null }));
    const bx = box;
    if (bx.msgs.length === this.clients.length) return Promise.resolve(bx.msgs);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`burst ${b}: clients did not finish within ${timeoutMs} ms`)), timeoutMs);
      bx.resolve = () => {
        clearTimeout(timer);
        resolve(bx.msgs);
      };
    });
  }

  /**
   * Connects every client. The probe's connections are spread evenly through the bulk clients'
   * connection order, not made all at once: servers deliver a broadcast in an order that follows
   * connection order (Socket.IO walks its room Sets in join order, uWS its topic's subscribers),
   * so probes that all connect first (or last) would sample only the head (or tail) of every
   * delivery and the latency percentiles would favour one kind of server.
   */
  async connectAll(port: number, mode: ClientMode): Promise<Msg[]> {
    const { o } = this;
    if (mode === "polling") return this.connectPolling(port);
    const connect = (p: Peer, extra: object = {}) =>
      p.request({ cmd: "connect", port, mode, concurrency: o.concurrency, deflate: o.deflate, ...extra }, 180000);
    const probe = this.probe;
    if (!probe) return Promise.all(this.clients.map((p) => connect(p)));
    const bulk = this.clients.filter((p) => p !== probe);
    const nProbe = this.probeCount;
    const bulkTotal = o.n - nProbe;
    const ready = new Map<Peer, number>();
    let allowed = 0;
    const onProgress = (p: Peer) => (m: Msg) => {
      ready.set(p, m.ready as number);
      let sum = 0;
      for (const r of ready.values()) sum += r;
      // The k-th probe connection starts once (k + 0.5) / nProbe of the bulk connections are up.
      const want = Math.min(nProbe, Math.floor((sum / bulkTotal) * nProbe + 0.5));
      if (want > allowed) {
        allowed = want;
        probe.notify({ cmd: "allow", count: allowed });
      }
    };
    bulk.forEach((p) => p.on("progress", onProgress(p)));
    try {
      const every = Math.max(1, Math.floor(bulkTotal / nProbe / bulk.length / 4));
      const probeDone = connect(probe, { allowed: 0 });
      // Once the bulk clients are done (failures included), whatever the probe has left may start.
      const bulkDone = Promise.all(bulk.map((p) => connect(p, { progressEvery: every }))).finally(() => probe.notify({ cmd: "allow", count: nProbe }));
      const [fromBulk, fromProbe] = await Promise.all([bulkDone, probeDone]);
      return [...fromBulk, fromProbe];
    } finally {
      bulk.forEach((p) => p.off("progress"));
    }
  }

  /**
   * The polling scenario's clients: those with client ids 0..pollingN-1, long-polling only, in every
   * client process at once (no probe pacing: with every polling connection sampled for latency,
   * there is no head or tail of the delivery order to favour).
   */
  private connectPolling(port: number): Promise<Msg[]> {
    const { o } = this;
    return Promise.all(this.clients.map((p) => p.request({ cmd: "connect", port, mode: "polling", concurrency: o.concurrency, limit: o.pollingN }, 180000)));
  }

  /** Begin a verified scenario on the clients. Latency is sampled on the probe's connections, or
   *  with `latency: "all"` on every connection. */
  async begin(sel: Selector, total: number, m: number, latency: boolean | "all"): Promise<number> {
    const base = this.seq;
    this.seq += total;
    this.doneBox.clear();
    await Promise.all(
      this.clients.map((p) =>
        p.request({ cmd: "begin", sel, base, total, m, latency: latency === "all" || (latency && p === this.probe), stallMs: this.o.stallMs }),
      ),
    );
    return base;
  }

  /** Every client's counts since `begin`, added up. */
  async collect(timeoutMs = 30000): Promise<ClientCounts> {
    const stats = await Promise.all(this.clients.map((p) => p.request({ cmd: "stats" }, timeoutMs)));
    const errors = sumErrors(stats);
    let valid = 0;
    let expected = 0;
    let clientCpuUs = 0;
    let inflated = 0;
    let wireBytes = 0;
    let plainBytes = 0;
    const lat: number[] = [];
    const examples: string[] = [];
    for (const s of stats) {
      valid += s.valid as number;
      expected += s.expected as number;
      clientCpuUs += s.cpuUs as number;
      inflated += s.inflated as number;
      wireBytes += s.wireBytes as number;
      plainBytes += s.plainBytes as number;
      for (const x of s.lat as Float64Array) lat.push(x);
      examples.push(...(s.examples as string[]));
    }
    return { errors, valid, expected, clientCpuUs, lat, examples, inflated, wireBytes, plainBytes };
  }

  /** Every client drops its connections. */
  async disconnect(timeoutMs = 15000): Promise<void> {
    await Promise.all(this.clients.map((p) => p.request({ cmd: "disconnect" }, timeoutMs)));
  }

  /** Tells every client that burst `b` has been emitted. */
  sent(b: number): void {
    for (const p of this.clients) p.notify({ cmd: "sent", b });
  }

  /** Lets the clients exit, waiting up to 3 s for them. */
  async exit(): Promise<void> {
    for (const p of this.clients) p.notify({ cmd: "exit" });
    await Promise.all(this.clients.map((p) => p.waitExit(3000)));
  }

  /** A client that died, if any: the run cannot continue without it. */
  dead(): Peer | undefined {
    return this.clients.find((p) => p.exited);
  }
}
