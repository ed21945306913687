// A monitor of deploys, as a user would watch one: socket.io-clients of each transport (default:
// long-polling then the upgrade; polling only; WebSocket only) on the gateway's port, each sending
// an acked event every tick, one of them in turn publishing a room broadcast ("tick" n, acked), and
// a probe opening a fresh HTTP connection to /healthz every few ms. It counts what a deploy must
// not do: refused or failed connections (probes, connect_error), acks that failed, broadcasts a
// client never received (or received twice), sessions not recovered across a reconnect. The
// server side is bench/deploy/monitor-app.mjs. Used by bench/deploy/reload.ts and
// test/bin/reload.test.ts; knows nothing of pm2.
import http from "node:http";
import { io as connectClient, type Socket } from "socket.io-client";
import { sleep, until } from "../lib/wait.ts";

export type ClientKind = "default" | "polling" | "websocket";

export interface MonitorOptions {
  port: number;
  kinds: ClientKind[];
  /** One tick (an acked event per client, one broadcast) every this many ms (default 50). */
  everyMs?: number;
  /** socket.io-client's `retries` (at-least-once: an event in flight when its worker closes the
   *  connection is sent again after the reconnect; 0: it fails with "socket has been disconnected"). */
  retries?: number;
  /** A probe connection every this many ms (default 20). */
  probeEveryMs?: number;
}

interface Watched {
  kind: ClientKind;
  socket: Socket;
  /** Ticks received (with repeats, in arrival order). */
  ticks: number[];
  connects: number;
  recovered: number;
  connectErrors: string[];
  /** Acked events not yet answered. */
  outstanding: number;
  /** Disconnects while an acked event was outstanding: each such event was sent again (retries),
   *  or failed (retries 0). */
  cutInFlight: number;
}

export interface MonitorReport {
  clients: number;
  ticks: number;
  probes: number;
  /** Probes that did not get a 200 (refused, reset, timed out, 503...), with what happened. */
  probesFailed: number;
  probeFailures: string[];
  connectErrors: number;
  acks: number;
  acksFailed: number;
  /** Acked events a connection close caught in flight (sent again: see MonitorOptions.retries). */
  eventsCutInFlight: number;
  /** Broadcasts published (acked) that some client never received, summed over clients. */
  broadcastsLost: number;
  broadcastsDuplicated: number;
  reconnects: number;
  reconnectsRecovered: number;
  /** Reconnects that came back with a new session (socket.recovered false). */
  sessionsLost: number;
}

export class ReloadMonitor {
  private readonly clients: Watched[] = [];
  private readonly published = new Set<number>();
  private readonly failures: string[] = [];
  private seq = 0;
  private acks = 0;
  private acksFailed = 0;
  private probes = 0;
  private readonly probeFailures: string[] = [];
  private ticking: NodeJS.Timeout | null = null;
  private probing: Promise<void> | null = null;
  private running = false;
  private readonly pending = new Set<Promise<unknown>>();

  private constructor(private readonly opts: MonitorOptions) {}

  /** Connects the clients; resolves once each is connected and received a broadcast. */
  static async start(opts: MonitorOptions): Promise<ReloadMonitor> {
    const m = new ReloadMonitor(opts);
    for (const kind of opts.kinds) m.clients.push(m.connect(kind));
    await until(async () => m.clients.every((c) => c.socket.connected), "the monitor's clients to connect", 10_000);
    m.running = true;
    m.ticking = setInterval(() => m.tick(), opts.everyMs ?? 50);
    m.probing = m.probe();
    await m.settled("the first broadcast");
    return m;
  }

  /** Resolves once every client is connected and has received a broadcast published from now on
   *  (a barrier after a deploy step). */
  async settled(what: string, ms = 20_000): Promise<void> {
    const from = this.seq + 1;
    await until(
      async () => this.clients.every((c) => c.socket.connected && c.ticks.some((t) => t >= from)),
      `${what}: every client connected and receiving`,
      ms,
    );
  }

  /** Stops the traffic; waits for every outstanding ack, then for a last broadcast to reach
   *  everyone (per-client order is not asserted: an earlier broadcast may be sent again later by a
   *  retry, so the last one is not a barrier for the others; the acks are). */
  async finish(): Promise<MonitorReport> {
    this.running = false;
    if (this.ticking) clearInterval(this.ticking);
    await this.probing;
    await Promise.race([Promise.allSettled([...this.pending]), sleep(15_000)]);
    const last = ++this.seq;
    const publisher = this.clients[0].socket;
    await publisher.timeout(10_000).emitWithAck("publish", last);
    this.published.add(last);
    await until(async () => this.clients.every((c) => c.ticks.includes(last)), "the last broadcast", 10_000).catch(() => {});
    return this.report();
  }

  report(): MonitorReport {
    let lost = 0;
    let duplicated = 0;
    for (const c of this.clients) {
      const got = new Set(c.ticks);
      for (const n of this.published) if (!got.has(n)) lost++;
      duplicated += c.ticks.length - got.size;
    }
    const reconnects = this.clients.reduce((n, c) => n + c.connects - 1, 0);
    const recovered = this.clients.reduce((n, c) => n + c.recovered, 0);
    return {
      clients: this.clients.length,
      ticks: this.seq,
      probes: this.probes,
      probesFailed: this.probeFailures.length,
      probeFailures: this.probeFailures.slice(0, 10),
      connectErrors: this.clients.reduce((n, c) => n + c.connectErrors.length, 0),
      acks: this.acks,
      acksFailed: this.acksFailed,
      eventsCutInFlight: this.clients.reduce((n, c) => n + c.cutInFlight, 0),
      broadcastsLost: lost,
      broadcastsDuplicated: duplicated,
      reconnects,
      reconnectsRecovered: recovered,
      sessionsLost: reconnects - recovered,
    };
  }

  /** What went wrong, in words (connect errors, failed acks), for a failure message. */
  details(): string[] {
    return [...this.failures, ...this.clients.flatMap((c) => c.connectErrors.map((e) => `${c.kind}: connect_error ${e}`))].slice(0, 20);
  }

  close(): void {
    this.running = false;
    if (this.ticking) clearInterval(this.ticking);
    for (const c of this.clients) c.socket.disconnect();
  }

  private connect(kind: ClientKind): Watched {
    const retries = this.opts.retries ?? 3;
    const socket = connectClient(`http://127.0.0.1:${this.opts.port}`, {
      forceNew: true,
      ...(kind === "polling" ? { transports: ["polling"] } : kind === "websocket" ? { transports: ["websocket"] } : {}),
      // Back within ~0.1 s: the drain hands a parked session over when its client asks for it.
      reconnectionDelay: 100,
      reconnectionDelayMax: 500,
      ...(retries > 0 ? { retries, ackTimeout: 10_000 } : {}),
    });
    const w: Watched = { kind, socket, ticks: [], connects: 0, recovered: 0, connectErrors: [], outstanding: 0, cutInFlight: 0 };
    socket.on("connect", () => {
      if (process.env.DEBUG_MONITOR) console.log(Date.now(), kind, "connect", socket.id, "recovered", socket.recovered, socket.io.engine.transport.name);
      w.connects++;
      if (socket.recovered) w.recovered++;
    });
    socket.on("disconnect", (reason: string) => {
      if (process.env.DEBUG_MONITOR) console.log(Date.now(), kind, "disconnect", reason);
      w.cutInFlight += w.outstanding;
    });
    socket.on("connect_error", (err: Error) => w.connectErrors.push(err.message));
    if (process.env.DEBUG_MONITOR) socket.io.engine.on("upgrade", () => console.log(Date.now(), kind, "upgraded"));
    socket.on("tick", (n: number) => w.ticks.push(n));
    return w;
  }

  private tick(): void {
    if (!this.running) return;
    const n = ++this.seq;
    this.clients.forEach((c, i) => {
      this.acked(c, "echo", n);
      if (n % this.clients.length === i)
        this.acked(c, "publish", n).then((ok) => {
          if (ok) this.published.add(n);
        });
    });
  }

  /** Emits an acked event; resolves to whether it was answered (with its argument). */
  private acked(c: Watched, event: string, n: number): Promise<boolean> {
    c.outstanding++;
    const retries = this.opts.retries ?? 3;
    const emitter = retries > 0 ? c.socket : c.socket.timeout(10_000);
    const p = emitter.emitWithAck(event, n).then(
      (r: unknown) => {
        c.outstanding--;
        this.acks++;
        if (r === n) return true;
        this.acksFailed++;
        this.failures.push(`${c.kind}: ${event} ${n} answered ${JSON.stringify(r)}`);
        return false;
      },
      (err: Error) => {
        c.outstanding--;
        this.acksFailed++;
        this.failures.push(`${c.kind}: ${event} ${n}: ${err.message}`);
        return false;
      },
    );
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
    return p;
  }

  private async probe(): Promise<void> {
    const every = this.opts.probeEveryMs ?? 20;
    while (this.running) {
      this.probes++;
      const outcome = await healthz(this.opts.port);
      if (outcome !== "ok") this.probeFailures.push(`${new Date().toISOString()} ${outcome}`);
      await sleep(every);
    }
  }
}

/** One GET /healthz on a fresh connection: "ok", or what happened (ECONNREFUSED, ECONNRESET, HTTP 503...). */
function healthz(port: number): Promise<string> {
  return new Promise((resolve) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/healthz", agent: false, timeout: 2000 }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode === 200 ? "ok" : `HTTP ${res.statusCode}`));
    });
    req.on("timeout", () => req.destroy(Object.assign(new Error("timeout"), { code: "TIMEOUT" })));
    req.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}
