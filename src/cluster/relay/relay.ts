// Embedded relay speaking the NATS client protocol, enough for the official
// `nats` client: pub/sub with `*`/`>` wildcards, queue groups, headers,
// request/reply with no-responders, auto-unsubscribe; token or user/password authentication and
// TLS as nats-server does them (see auth.ts). See DESIGN.md §6.
import net from "node:net";
import tls from "node:tls";
import { randomBytes } from "node:crypto";
import { RelayAuth, type RelayAuthOptions } from "./auth.ts";
import { Parser, type ProtocolHandler, hasWildcard, isValidSubscriptionSubject, matchTokens } from "./nats-protocol.ts";

export interface RelayOptions extends RelayAuthOptions {
  /** TLS for every client connection (nats-server's `tls {}`): the server's `cert` and `key`, and
   *  a `ca` to require and verify client certificates. INFO then says `tls_required: true` and the
   *  client upgrades after reading it, as with nats-server. */
  tls?: Pick<tls.SecureContextOptions, "cert" | "key" | "ca">;
  /** Largest PUB/HPUB payload (headers + body) accepted. Default 1 MiB. */
  maxPayload?: number;
  /** Default 1,000,000: a gateway worker holds one subscription per room with local members,
   *  socket-id rooms included, so one connection may hold as many as its worker has sockets. */
  maxSubscriptionsPerConnection?: number;
  /** Outbound bytes a connection may have queued before it is cut as a slow consumer. Default 8 MiB. */
  maxPendingBytes?: number;
  /** Longest control line (everything before a payload). Default 4096. */
  maxControlLine?: number;
  /** Reported in INFO. Default "roomgate-relay". */
  serverName?: string;
}

export interface RelayStats {
  /** Currently open client connections. */
  connections: number;
  /** Currently active subscriptions over all connections. */
  subscriptions: number;
  msgsIn: number;
  msgsOut: number;
  /** Payload bytes (headers + body) received in PUB/HPUB. */
  bytesIn: number;
  /** Payload bytes delivered in MSG/HMSG. */
  bytesOut: number;
  /** Connections cut for exceeding maxPendingBytes, since start. */
  slowConsumers: number;
}

const SERVER_VERSION = "2.10.0";
const SLAB_SIZE = 64 * 1024;
const CRLF = Buffer.from("\r\n");
const NO_RESPONDERS = Buffer.from("NATS/1.0 503\r\n\r\n");

interface Sub {
  conn: Conn;
  subject: string;
  queue: string | undefined;
  sid: string;
  /** Split subject when it has wildcards, else null. */
  pattern: string[] | null;
  delivered: number;
  max: number;
}

/** Literal subjects in a Map; wildcard subscriptions in a set scanned per publish. */
class SubIndex {
  private readonly literal = new Map<string, Set<Sub>>();
  private readonly wild = new Set<Sub>();
  size = 0;

  add(sub: Sub): void {
    if (sub.pattern) this.wild.add(sub);
    else {
      let set = this.literal.get(sub.subject);
      if (!set) this.literal.set(sub.subject, (set = new Set()));
      set.add(sub);
    }
    this.size++;
  }

  remove(sub: Sub): void {
    let removed: boolean;
    if (sub.pattern) removed = this.wild.delete(sub);
    else {
      const set = this.literal.get(sub.subject);
      removed = set?.delete(sub) ?? false;
      if (set && set.size === 0) this.literal.delete(sub.subject);
    }
    if (removed) this.size--;
  }

  /** Appends matches to out (a snapshot, so delivery may unsubscribe safely). */
  match(subject: string, out: Sub[]): void {
    const set = this.literal.get(subject);
    if (set) for (const s of set) out.push(s);
    if (this.wild.size === 0) return;
    const tokens = subject.split(".");
    for (const s of this.wild) if (matchTokens(s.pattern!, tokens)) out.push(s);
  }
}

/**
 * Outbound bytes for one connection, copied into a shared slab and written once
 * per tick: many small MSGs become one socket write instead of one each.
 */
class Outbox {
  private slab = Buffer.allocUnsafe(0);
  private start = 0;
  private end = 0;

  constructor(private readonly socket: net.Socket) {}

  get queued(): number {
    return this.end - this.start;
  }

  /** line is ASCII/latin1; body[from, to) follows it, then CRLF. */
  write(line: string, body?: Buffer, from = 0, to = body ? body.length : 0): void {
    const n = line.length + (body ? to - from + 2 : 0);
    if (n > SLAB_SIZE / 2) {
      // Large: don't copy the body, hand it to the socket after what is queued.
      this.flush();
      this.socket.write(line, "latin1");
      if (body) {
        this.socket.write(body.subarray(from, to));
        this.socket.write(CRLF);
      }
      return;
    }
    if (this.slab.length - this.end < n) {
      this.flush();
      this.slab = Buffer.allocUnsafe(SLAB_SIZE);
      this.start = this.end = 0;
    }
    this.end += this.slab.write(line, this.end, "latin1");
    if (body) {
      this.end += body.copy(this.slab, this.end, from, to);
      this.slab[this.end++] = 13;
      this.slab[this.end++] = 10;
    }
  }

  flush(): void {
    if (this.end === this.start) return;
    // The socket keeps the written view; later writes go past it in the slab.
    if (!this.socket.destroyed) this.socket.write(this.slab.subarray(this.start, this.end));
    this.start = this.end;
  }
}

class Conn implements ProtocolHandler {
  readonly subs = new Map<string, Sub>();
  readonly out: Outbox;
  readonly parser: Parser;
  closed = false;
  verbose = false;
  echo = true;
  headers = false;
  noResponders = false;
  /** Until an authorized CONNECT, a relay with auth accepts nothing else. */
  private authorized: boolean;
  private authTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly relay: Relay,
    readonly socket: net.Socket,
    parserLimits: { maxPayload: number; maxControlLine: number },
  ) {
    this.out = new Outbox(socket);
    this.parser = new Parser(this, parserLimits);
    this.authorized = relay.auth === null;
    if (relay.auth) {
      // nats-server's auth_timeout: a client that never authenticates does not keep its socket.
      this.authTimer = setTimeout(() => this.error("Authentication Timeout"), relay.auth.timeoutMs);
      this.authTimer.unref();
    }
  }

  /** False (and the connection closed) when a relay with auth sees an operation before CONNECT. */
  private allowed(): boolean {
    if (this.authorized) return true;
    this.error("Authorization Violation");
    return false;
  }

  send(line: string, body?: Buffer, from?: number, to?: number): void {
    if (this.closed) return;
    this.out.write(line, body, from, to);
    this.relay.markDirty(this);
    if (this.socket.writableLength + this.out.queued > this.relay.limits.maxPendingBytes) {
      this.relay.cutSlowConsumer(this);
    }
  }

  private ok(): void {
    if (this.verbose) this.send("+OK\r\n");
  }

  connect(json: string): void {
    let o: Record<string, unknown>;
    try {
      const v: unknown = JSON.parse(json);
      if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error("not an object");
      o = v as Record<string, unknown>;
    } catch {
      return this.error("Invalid CONNECT");
    }
    if (!this.authorized) {
      if (!this.relay.auth!.check(o)) return this.error("Authorization Violation");
      this.authorized = true;
      if (this.authTimer) clearTimeout(this.authTimer);
      this.authTimer = null;
    }
    this.verbose = o.verbose === true;
    this.echo = o.echo !== false;
    this.headers = o.headers === true;
    this.noResponders = this.headers && o.no_responders === true;
    this.ok();
  }

  ping(): void {
    if (this.allowed()) this.send("PONG\r\n");
  }

  pong(): void {}

  pub(subject: string, reply: string | undefined, hdrLen: number, payload: Buffer): void {
    if (!this.allowed()) return;
    this.relay.publish(this, subject, reply, hdrLen, payload);
    this.ok();
  }

  sub(subject: string, queue: string | undefined, sid: string): void {
    if (!this.allowed()) return;
    if (!isValidSubscriptionSubject(subject) || (queue !== undefined && !isValidQueue(queue))) {
      return this.send("-ERR 'Invalid Subject'\r\n");
    }
    if (this.subs.has(sid)) return this.ok(); // like nats-server: a repeated sid is a no-op
    if (this.subs.size >= this.relay.limits.maxSubscriptionsPerConnection) {
      return this.send("-ERR 'Maximum Subscriptions Exceeded'\r\n");
    }
    const sub: Sub = {
      conn: this,
      subject,
      queue,
      sid,
      pattern: hasWildcard(subject) ? subject.split(".") : null,
      delivered: 0,
      max: Infinity,
    };
    this.subs.set(sid, sub);
    this.relay.index.add(sub);
    this.ok();
  }

  unsub(sid: string, max: number | undefined): void {
    if (!this.allowed()) return;
    const sub = this.subs.get(sid);
    if (sub) {
      if (max !== undefined && max > 0 && sub.delivered < max) sub.max = max;
      else this.removeSub(sub);
    }
    this.ok();
  }

  removeSub(sub: Sub): void {
    if (this.subs.delete(sub.sid)) this.relay.index.remove(sub);
  }

  /** Fatal protocol error: tell the client, then close only this connection. */
  error(message: string): void {
    if (this.closed) return;
    this.send(`-ERR '${message}'\r\n`);
    this.out.flush();
    this.shutdown();
    this.socket.end();
    // A peer that never reads would keep the half-closed socket forever.
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  /** Stop receiving and delivering; idempotent. */
  shutdown(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.authTimer) clearTimeout(this.authTimer);
    // Handlers may close us mid-chunk (bad CONNECT, slow consumer): parse no further.
    this.parser.stop();
    for (const sub of this.subs.values()) this.relay.index.remove(sub);
    this.subs.clear();
    this.relay.forget(this);
  }
}

function isValidQueue(q: string): boolean {
  return q.length > 0 && !hasWildcard(q);
}

export class Relay {
  // limits, index, publish, markDirty, forget, cutSlowConsumer are internal
  // (used by Conn); the public API is listen/close/stats.
  readonly limits: Required<Pick<RelayOptions, "maxPayload" | "maxSubscriptionsPerConnection" | "maxPendingBytes" | "maxControlLine">>;
  readonly auth: RelayAuth | null;
  private readonly secureContext: tls.SecureContext | null;
  private readonly verifyClients: boolean;
  readonly index = new SubIndex();
  private readonly serverName: string;
  private readonly serverId = randomBytes(11).toString("hex").toUpperCase();
  private readonly server: net.Server;
  private readonly conns = new Set<Conn>();
  private readonly dirty = new Set<Conn>();
  private flushScheduled = false;
  private nextId = 1;
  private port = 0;
  private host = "127.0.0.1";
  private readonly matches: Sub[] = [];
  private counters = { msgsIn: 0, msgsOut: 0, bytesIn: 0, bytesOut: 0, slowConsumers: 0 };

  constructor(opts: RelayOptions = {}) {
    this.limits = {
      maxPayload: opts.maxPayload ?? 1024 * 1024,
      maxSubscriptionsPerConnection: opts.maxSubscriptionsPerConnection ?? 1_000_000,
      maxPendingBytes: opts.maxPendingBytes ?? 8 * 1024 * 1024,
      maxControlLine: opts.maxControlLine ?? 4096,
    };
    this.serverName = opts.serverName ?? "roomgate-relay";
    this.auth = RelayAuth.from(opts);
    this.secureContext = opts.tls ? tls.createSecureContext(opts.tls) : null;
    this.verifyClients = opts.tls?.ca !== undefined;
    this.server = net.createServer((socket) => this.accept(socket));
  }

  listen(port = 4222, host = "127.0.0.1"): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.once("error", onError);
      this.server.listen(port, host, () => {
        this.server.off("error", onError);
        // Later server errors (e.g. EMFILE on accept) must not crash the process.
        this.server.on("error", () => {});
        this.host = host;
        this.port = (this.server.address() as net.AddressInfo).port;
        resolve(this.port);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      for (const c of [...this.conns]) {
        c.shutdown();
        c.socket.destroy();
      }
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
    });
  }

  stats(): RelayStats {
    return { connections: this.conns.size, subscriptions: this.index.size, ...this.counters };
  }

  private accept(raw: net.Socket): void {
    raw.setNoDelay(true);
    raw.setKeepAlive(true, 30_000);
    const id = this.nextId++;
    // INFO goes out in the clear; a TLS client upgrades after reading it (nats-server's order).
    raw.write(`INFO ${JSON.stringify(this.info(id, raw))}\r\n`);
    const socket = this.secureContext
      ? new tls.TLSSocket(raw, { isServer: true, secureContext: this.secureContext, requestCert: this.verifyClients, rejectUnauthorized: this.verifyClients })
      : raw;
    const conn = new Conn(this, socket, this.limits);
    this.conns.add(conn);
    socket.on("data", (chunk: Buffer) => {
      if (conn.closed) return;
      try {
        conn.parser.feed(chunk);
      } catch {
        // A bug here must cost one connection, never the process.
        conn.error("Internal Error");
      }
    });
    socket.on("error", () => {});
    raw.on("error", () => {});
    socket.on("close", () => conn.shutdown());
    if (socket !== raw) raw.on("close", () => conn.shutdown());
  }

  private info(id: number, socket: net.Socket): object {
    return {
      server_id: this.serverId,
      server_name: this.serverName,
      version: SERVER_VERSION,
      proto: 1,
      go: "go1.21.0",
      host: this.host,
      port: this.port,
      headers: true,
      max_payload: this.limits.maxPayload,
      client_id: id,
      client_ip: socket.remoteAddress,
      ...(this.auth ? { auth_required: true } : {}),
      ...(this.secureContext ? { tls_required: true, tls_verify: this.verifyClients } : {}),
    };
  }

  /** Called by a connection when it closes. */
  forget(conn: Conn): void {
    this.conns.delete(conn);
    this.dirty.delete(conn);
  }

  markDirty(conn: Conn): void {
    this.dirty.add(conn);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // One flush per event-loop turn batches everything parsed from all sockets.
    setImmediate(() => {
      this.flushScheduled = false;
      for (const c of this.dirty) c.out.flush();
      this.dirty.clear();
    });
  }

  publish(from: Conn, subject: string, reply: string | undefined, hdrLen: number, payload: Buffer): void {
    this.counters.msgsIn++;
    this.counters.bytesIn += payload.length;
    const subs = this.matches;
    subs.length = 0;
    this.index.match(subject, subs);

    let delivered = 0;
    let groups: Map<string, Sub[]> | undefined;
    for (const s of subs) {
      if (s.conn === from && !from.echo) continue;
      if (s.queue === undefined) {
        if (this.deliver(s, subject, reply, hdrLen, payload)) delivered++;
        continue;
      }
      groups ??= new Map();
      const members = groups.get(s.queue);
      if (members) members.push(s);
      else groups.set(s.queue, [s]);
    }
    if (groups) {
      for (const members of groups.values()) {
        const s = members[Math.floor(Math.random() * members.length)]!;
        if (this.deliver(s, subject, reply, hdrLen, payload)) delivered++;
      }
    }
    subs.length = 0;

    if (delivered === 0 && reply !== undefined && from.noResponders) {
      const sub = findReplySub(from, reply);
      if (sub) this.deliver(sub, reply, undefined, NO_RESPONDERS.length, NO_RESPONDERS);
    }
  }

  private deliver(s: Sub, subject: string, reply: string | undefined, hdrLen: number, payload: Buffer): boolean {
    const c = s.conn;
    if (c.closed || !c.subs.has(s.sid)) return false;
    const r = reply === undefined ? "" : reply + " ";
    let bytes: number;
    if (hdrLen < 0) {
      c.send(`MSG ${subject} ${s.sid} ${r}${payload.length}\r\n`, payload);
      bytes = payload.length;
    } else if (c.headers) {
      c.send(`HMSG ${subject} ${s.sid} ${r}${hdrLen} ${payload.length}\r\n`, payload);
      bytes = payload.length;
    } else {
      // A client that did not announce headers gets the body only.
      c.send(`MSG ${subject} ${s.sid} ${r}${payload.length - hdrLen}\r\n`, payload, hdrLen, payload.length);
      bytes = payload.length - hdrLen;
    }
    this.counters.msgsOut++;
    this.counters.bytesOut += bytes;
    if (++s.delivered >= s.max) c.removeSub(s);
    return true;
  }

  cutSlowConsumer(c: Conn): void {
    if (c.closed) return;
    this.counters.slowConsumers++;
    // Best effort: the peer is not reading, so this line may never arrive.
    c.socket.write("-ERR 'Slow Consumer'\r\n");
    c.shutdown();
    c.socket.destroy();
  }
}

/** The publisher's own subscription that will receive replies on `reply`. */
function findReplySub(conn: Conn, reply: string): Sub | undefined {
  let tokens: string[] | undefined;
  for (const s of conn.subs.values()) {
    if (s.pattern === null) {
      if (s.subject === reply) return s;
    } else if (matchTokens(s.pattern, (tokens ??= reply.split(".")))) return s;
  }
  return undefined;
}
