// One process's connection to the relay (or a real nats-server) through the official NATS client:
// connects in the background and keeps retrying, keeps the wanted subscriptions across the first
// connect (the client re-subscribes by itself after a reconnect), never throws into its callers,
// drops publishes while the relay is unreachable, and logs an outage once and its end once.
// A stalled relay (a frozen process, a black-holed route) is declared lost within 0.75–1.0 s by the
// NATS client's own heartbeat (PING every 250 ms, lost at 3 unanswered); the link accounts for what an
// outage cost (see LinkGap) and tells its listeners when the relay is back.
//
// The NATS client is imported on the first connect, not with this module: a Server without a
// cluster never loads it (test/package/consumer.test.ts checks that against the installed package).
import type { ConnectionOptions, NatsConnection, Subscription } from "nats";
import type { NatsOptions, NatsTlsOptions } from "./nats-options.ts";
import type { ClusterGap } from "../transport.ts";

type Connect = typeof import("nats").connect;
let natsConnect: Promise<Connect> | null = null;

/** The client's `connect`, loaded once per process. */
function loadNats(): Promise<Connect> {
  natsConnect ??= import("nats").then((m) => m.connect);
  return natsConnect;
}

/** How a worker or emitter proves itself to the relay or nats-server: the NATS client's own option
 *  names, passed through unchanged (so the same settings work against either). */
export interface LinkCredentials {
  /** A token (nats-server `authorization { token }`; the relay's `token`). */
  token?: string;
  /** A user and password (nats-server `authorization { user, password }`; the relay's `user`/`pass`). */
  user?: string;
  pass?: string;
  /** TLS to the server: `ca` to verify it, `cert`/`key` for a client certificate (NATS client's `tls`). */
  tls?: NatsTlsOptions;
}

/** The credentials among `opts`, as NATS client options (absent ones left out). */
export function credentialsOf(opts: LinkCredentials): NatsOptions {
  const out: NatsOptions = {};
  if (opts.token !== undefined) out.token = opts.token;
  if (opts.user !== undefined) out.user = opts.user;
  if (opts.pass !== undefined) out.pass = opts.pass;
  if (opts.tls !== undefined) out.tls = opts.tls;
  return out;
}

export interface LinkOptions extends LinkCredentials {
  /** NATS server URL(s), e.g. "nats://127.0.0.1:4222". */
  servers: string | string[];
  /** Connection name shown by the relay / nats-server monitoring. */
  name?: string;
  /** Extra options for the NATS client (override the defaults below). */
  nats?: NatsOptions;
  /** Publishes issued before the first connection are queued, up to this many (default 0: dropped,
   *  as during an outage). The emitter queues, so that emit-right-after-construction works. */
  maxQueuedBeforeConnect?: number;
  log?: (level: "info" | "warn" | "error", message: string) => void;
}

export type MessageHandler = (data: Uint8Array, reply: string | undefined, subject: string) => void;

/** What one outage cost (see ClusterGap in transport.ts). */
export type LinkGap = ClusterGap;

const RETRY_MS = 250;
/** NATS client heartbeat: a PING every PING_INTERVAL_MS; the client declares the connection stale
 *  at the first check that finds MAX_PING_OUT PINGs unanswered, so a frozen relay is noticed
 *  MAX_PING_OUT to MAX_PING_OUT + 1 intervals after it froze: 0.75–1.0 s (500 ms × 3 took 1.6–2.0 s,
 *  10 s × 2 ~30 s and 3,011 broadcasts lost). A relay that answers within 750 ms is never taken for
 *  dead (any PONG clears them all); this worker's own stalls do not count (the check re-arms
 *  after each run, and PONGs read meanwhile clear). Cost: 4 PINGs/s, ~24 bytes/s each way. */
const PING_INTERVAL_MS = 250;
const MAX_PING_OUT = 3;
/** How often the link confirms what it has sent with a round trip (its own PING; see LinkGap). */
const PROBE_MS = 500;

export class Link {
  /** True while connected to a server: publishes go out. */
  connected = false;
  private nc: NatsConnection | null = null;
  private closing: Promise<void> | null = null;
  private readonly subs = new Map<string, Subscription | null>();
  private queued: Array<{ subject: string; data: Uint8Array; reply?: string }> = [];
  private readonly maxQueued: number;
  private readonly servers: string[];
  private outage = false;
  private everConnected = false;
  private dropped = 0;
  /** Publishes dropped since start (relay unreachable), for monitoring. */
  droppedTotal = 0;
  /** Messages handed to the client on this connection, and how many a round trip has confirmed. */
  private sent = 0;
  private confirmed = 0;
  private confirmedAt = Date.now();
  private unconfirmed = 0;
  private gapFrom = 0;
  private probing = false;
  /** Bumped at each loss, so a round trip begun before it confirms nothing after it. */
  private epoch = 0;
  private probeTimer: NodeJS.Timeout | null = null;
  private readonly gapListeners: Array<(gap: LinkGap) => void> = [];
  private readonly connectedListeners: Array<(reconnect: boolean) => void> = [];
  private readonly disconnectedListeners: Array<() => void> = [];
  private firstConnect: { promise: Promise<void>; resolve: () => void };

  constructor(
    private readonly opts: LinkOptions,
    private readonly onMessage: MessageHandler,
  ) {
    this.servers = Array.isArray(opts.servers) ? opts.servers : [opts.servers];
    if (this.servers.length === 0 || this.servers.some((s) => typeof s !== "string" || s.length === 0)) {
      throw new TypeError("cluster: `servers` must be a NATS URL or a non-empty list of them");
    }
    this.maxQueued = opts.maxQueuedBeforeConnect ?? 0;
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    this.firstConnect = { promise, resolve };
    void this.connectLoop();
  }

  /** Resolves once connected for the first time (never rejects; pending forever if never). */
  get ready(): Promise<void> {
    return this.firstConnect.promise;
  }

  /** `fn(reconnect)` runs on every (re)connection. */
  onConnected(fn: (reconnect: boolean) => void): void {
    this.connectedListeners.push(fn);
  }

  /** `fn(gap)` runs when the relay is back after an outage, with what the outage cost. */
  onGap(fn: (gap: LinkGap) => void): void {
    this.gapListeners.push(fn);
  }

  /** `fn()` runs when the connection is lost. */
  onDisconnected(fn: () => void): void {
    this.disconnectedListeners.push(fn);
  }

  subscribe(subject: string): void {
    if (this.subs.has(subject) || this.closing) return;
    this.subs.set(subject, this.nc ? this.natsSubscribe(subject) : null);
  }

  unsubscribe(subject: string): void {
    const sub = this.subs.get(subject);
    if (sub === undefined) return;
    this.subs.delete(subject);
    try {
      sub?.unsubscribe();
    } catch {
      // closed: nothing to undo
    }
  }

  isSubscribed(subject: string): boolean {
    return this.subs.has(subject);
  }

  /** Never throws; returns whether the message was handed to the client. */
  publish(subject: string, data: Uint8Array, reply?: string): boolean {
    if (this.closing) return false;
    if (!this.nc) {
      if (this.everConnected || this.queued.length >= this.maxQueued) return this.drop();
      this.queued.push({ subject, data, reply });
      return true;
    }
    if (!this.connected) return this.drop();
    try {
      this.nc.publish(subject, data, reply ? { reply } : undefined);
      this.sent++;
      return true;
    } catch (err) {
      this.log("error", `cluster: publish to ${subject} failed: ${(err as Error).message}`);
      return false;
    }
  }

  /** The NATS client's transport counters (what this process sent and received), or null. */
  stats(): { inBytes: number; outBytes: number; inMsgs: number; outMsgs: number } | null {
    return this.nc ? this.nc.stats() : null;
  }

  /** Sends what is buffered and waits for the server to have processed it (bounded). */
  async flush(timeoutMs = 2000): Promise<void> {
    if (!this.nc || !this.connected) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.confirm(this.nc).catch(() => {}), new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
  }

  /** A round trip: once the server answers, everything sent before it has been handled. */
  private async confirm(nc: NatsConnection): Promise<void> {
    const sent = this.sent;
    const at = Date.now();
    const epoch = this.epoch;
    await nc.flush();
    if (this.nc !== nc || !this.connected || epoch !== this.epoch || sent < this.confirmed) return;
    this.confirmed = sent;
    this.confirmedAt = at;
  }

  private startProbe(nc: NatsConnection): void {
    if (this.probeTimer) clearInterval(this.probeTimer);
    this.probeTimer = setInterval(() => {
      if (this.probing || !this.connected || this.nc !== nc || this.sent === this.confirmed) return;
      this.probing = true;
      this.confirm(nc)
        .catch(() => {})
        .finally(() => (this.probing = false));
    }, PROBE_MS);
    this.probeTimer.unref();
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.probeTimer) clearInterval(this.probeTimer);
      const nc = this.nc;
      this.connected = false;
      this.queued = [];
      if (nc) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([nc.close().catch(() => {}), new Promise<void>((r) => (timer = setTimeout(r, 2000)))]);
        clearTimeout(timer);
      }
    })();
    return this.closing;
  }

  private drop(): boolean {
    this.dropped++;
    this.droppedTotal++;
    return false;
  }

  log(level: "info" | "warn" | "error", message: string): void {
    if (this.opts.log) this.opts.log(level, message);
    else if (level === "info") console.log(message);
    else if (level === "warn") console.warn(message);
    else console.error(message);
  }

  private natsSubscribe(subject: string): Subscription | null {
    try {
      return this.nc!.subscribe(subject, {
        callback: (err, msg) => {
          if (err) return;
          try {
            this.onMessage(msg.data, msg.reply || undefined, msg.subject);
          } catch (e) {
            this.log("error", `cluster: handling a message on ${msg.subject} failed: ${(e as Error).stack ?? e}`);
          }
        },
      });
    } catch (err) {
      this.log("error", `cluster: subscribe to ${subject} failed: ${(err as Error).message}`);
      return null;
    }
  }

  /** First connection: retried until it succeeds or the link is closed. Later drops are the
   *  client's business (reconnect forever); a client that gives up is replaced by a new one. */
  private async connectLoop(): Promise<void> {
    let connect: Connect;
    try {
      connect = await loadNats();
    } catch (err) {
      // Not a relay outage: retrying cannot help. Say so once, loudly.
      this.log("error", `cluster: cannot load the NATS client ("nats" package): ${(err as Error).message}; this process stays out of the cluster`);
      return;
    }
    let attempt = 0;
    while (!this.closing) {
      try {
        const nc = await connect({
          servers: this.servers,
          name: this.opts.name,
          noEcho: true,
          reconnect: true,
          maxReconnectAttempts: -1,
          reconnectTimeWait: RETRY_MS,
          reconnectJitter: 100,
          timeout: 2000,
          pingInterval: PING_INTERVAL_MS,
          maxPingOut: MAX_PING_OUT,
          ...(credentialsOf(this.opts) as Partial<ConnectionOptions>),
          ...(this.opts.nats as Partial<ConnectionOptions> | undefined),
        });
        if (this.closing) {
          await nc.close().catch(() => {});
          return;
        }
        this.attach(nc);
        return;
      } catch (err) {
        if (attempt++ === 0) this.log("warn", `cluster: relay unreachable at ${this.servers.join(",")} (${(err as Error).message}); retrying`);
        this.outage = true;
        await new Promise((r) => setTimeout(r, RETRY_MS));
      }
    }
  }

  private attach(nc: NatsConnection): void {
    this.nc = nc;
    this.connected = true;
    const reconnect = this.everConnected;
    this.everConnected = true;
    if (this.outage) this.recovered();
    for (const subject of this.subs.keys()) this.subs.set(subject, this.natsSubscribe(subject));
    const queued = this.queued;
    this.queued = [];
    for (const m of queued) this.publish(m.subject, m.data, m.reply);
    void this.watch(nc);
    this.startProbe(nc);
    nc.closed().then(() => {
      if (this.closing || this.nc !== nc) return;
      // The client gave up (it should not with maxReconnectAttempts -1): start over.
      this.lost();
      this.connected = false;
      this.nc = null;
      this.outage = true;
      this.log("warn", "cluster: relay connection closed; reconnecting");
      this.emitDisconnected();
      void this.connectLoop();
    });
    this.firstConnect.resolve();
    this.emitConnected(reconnect);
  }

  private async watch(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (this.closing || this.nc !== nc) return;
      if (s.type === "disconnect") {
        this.lost();
        this.connected = false;
        this.emitDisconnected();
      } else if (s.type === "error") {
        this.log("error", `cluster: the relay reported an error: ${String(s.data)}`);
      } else if (s.type === "reconnect") {
        this.connected = true;
        if (this.outage) this.recovered();
        this.emitConnected(true);
      }
    }
  }

  /** The connection is gone: what was sent since the last confirmation is presumed lost. */
  private lost(): void {
    if (this.outage) return;
    this.outage = true;
    this.epoch++;
    this.unconfirmed = this.sent - this.confirmed;
    this.gapFrom = this.confirmedAt;
    this.sent = this.confirmed = 0;
    this.dropped = 0;
    this.log(
      "warn",
      `cluster: lost the relay; serving local clients only, messages to and from other workers are lost until it is back (${this.unconfirmed} sent since the last confirmed round trip)`,
    );
  }

  private recovered(): void {
    this.outage = false;
    const gap: LinkGap = { from: this.gapFrom || this.confirmedAt, to: Date.now(), unconfirmed: this.unconfirmed, dropped: this.dropped };
    this.log(
      "info",
      `cluster: relay reachable again after ${gap.to - gap.from} ms; ${gap.unconfirmed + gap.dropped} messages to other workers lost (${gap.unconfirmed} unconfirmed when the relay was lost, ${gap.dropped} dropped during the outage)`,
    );
    this.dropped = this.unconfirmed = this.sent = this.confirmed = 0;
    this.confirmedAt = gap.to;
    // Only an outage after a working connection leaves a gap; the first connection fills none.
    if (this.gapFrom === 0) return;
    this.gapFrom = 0;
    for (const fn of this.gapListeners) {
      try {
        fn(gap);
      } catch (err) {
        this.log("error", `cluster: ${(err as Error).stack ?? err}`);
      }
    }
  }

  private emitDisconnected(): void {
    for (const fn of this.disconnectedListeners) {
      try {
        fn();
      } catch (err) {
        this.log("error", `cluster: ${(err as Error).stack ?? err}`);
      }
    }
  }

  private emitConnected(reconnect: boolean): void {
    for (const fn of this.connectedListeners) {
      try {
        fn(reconnect);
      } catch (err) {
        this.log("error", `cluster: ${(err as Error).stack ?? err}`);
      }
    }
  }
}
