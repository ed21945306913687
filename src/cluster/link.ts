// One process's connection to the relay (or a real nats-server) through the official NATS client:
// connects in the background and keeps retrying, keeps the wanted subscriptions across the first
// connect (the client re-subscribes by itself after a reconnect), never throws into its callers,
// drops publishes while the relay is unreachable, and logs an outage once and its end once.
//
// The NATS client is imported on the first connect, not with this module: a Server without a
// cluster never loads it (test/consumer.test.ts checks that against the installed package).
import type { ConnectionOptions, NatsConnection, Subscription } from "nats";
import type { NatsOptions } from "./nats-options.ts";

type Connect = typeof import("nats").connect;
let natsConnect: Promise<Connect> | null = null;

/** The client's `connect`, loaded once per process. */
function loadNats(): Promise<Connect> {
  natsConnect ??= import("nats").then((m) => m.connect);
  return natsConnect;
}

export interface LinkOptions {
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

const RETRY_MS = 250;

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
    await Promise.race([this.nc.flush().catch(() => {}), new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
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
          pingInterval: 10_000,
          maxPingOut: 2,
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
    nc.closed().then(() => {
      if (this.closing || this.nc !== nc) return;
      // The client gave up (it should not with maxReconnectAttempts -1): start over.
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
        this.connected = false;
        if (!this.outage) {
          this.outage = true;
          this.dropped = 0;
          this.log("warn", `cluster: lost the relay (${String(s.data)}); serving local clients only, broadcasts to other workers are dropped until it is back`);
        }
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

  private recovered(): void {
    this.outage = false;
    this.log("info", `cluster: relay reachable again${this.dropped ? ` (${this.dropped} messages to other workers were dropped meanwhile)` : ""}`);
    this.dropped = 0;
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
