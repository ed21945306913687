// One worker's presence in the cluster, shared by the namespaces of one Server: its identity, the
// transport (NATS by default), the live peers (heartbeats), their room interest, the pending
// requests and the per-origin duplicate filter. Knows the adapters only through the small
// NodeAdapter port, and the transport only through ClusterTransport.
//
// Routing: a broadcast to one room goes out on the room's subject (the relay fans it out to the
// workers subscribed there); one to several rooms, or to a socket id, goes once to each worker that
// may hold a recipient: the owner named in a socket id, plus the peers that announced interest in one
// of the rooms (interest.ts). So a worker holds no subscription per socket, and a union of k rooms
// crosses the relay once per interested worker, not k times. A worker that must know when its peers
// route by its new interest (a recovery handover) asks them (interestAcknowledged: interestCheck,
// answered by interestAck once the version is applied).
import { randomBytes } from "node:crypto";
import type { NatsOptions } from "./nats-options.ts";
import type { Frame } from "../engine/binary.ts";
import type { Room } from "../rooms/types.ts";
import { LocalInterest, PeerInterest } from "./interest.ts";
import type { LinkCredentials } from "./link.ts";
import { NatsTransport } from "./nats-transport.ts";
import {
  decodeMessage,
  DuplicateFilter,
  encodeMessage,
  isSocketIdOf,
  newWorkerId,
  ownerOf,
  PROTOCOL_VERSION as V,
  type BroadcastMessage,
  type ClusterMessage,
  type HttpAbortMessage,
  type HttpRequestMessage,
  type HttpResponseMessage,
  type PresenceMessage,
  type RequestMessage,
  type ResponseMessage,
  type SessionMoveMessage,
  type WireOptions,
} from "./protocol.ts";
import type { ClusterGap, ClusterTransport, PublishTarget } from "./transport.ts";

/** Credentials (`token`, or `user` and `pass`) and `tls` go to the NATS client as they are: see
 *  README "Securing a cluster". */
export interface ClusterOptions extends LinkCredentials {
  /** NATS server URL(s) of the relay or a nats-server cluster, e.g. "nats://127.0.0.1:4222". */
  servers: string | string[];
  /** First token(s) of every subject; workers and emitters must agree. Default "roomgate". */
  prefix?: string;
  /** Presence heartbeat period in ms (default 5000). */
  heartbeatInterval?: number;
  /** A worker not heard from for this long is dropped from serverCount() (default 2 × interval + 1000). */
  heartbeatTimeout?: number;
  /** Cluster-wide fetchSockets / serverSideEmit acks give up after this many ms (default 5000). */
  requestTimeout?: number;
  /** A broadcast to more rooms than this goes out once on the namespace subject instead of once per
   *  room subject (default 16). */
  maxRoomSubjects?: number;
  /** Connection name shown by relay / nats-server monitoring (default "roomgate-<pid>"). */
  name?: string;
  /** Extra NATS client options. */
  nats?: NatsOptions;
  /** Where outage / recovery messages go (default: the server's `logger`). */
  log?: (level: "info" | "warn" | "error", message: string) => void;
  /** Connection-state recovery: on close, how long (ms) a worker keeps answering for the sessions of
   *  its clients (parked as they were cut off) while they reconnect to other workers (default 3000;
   *  keep it under pm2's kill_timeout, 5000 in ecosystem.config.js). */
  handoverTimeout?: number;
}

/** A namespace's adapter as the node sees it: where its broadcasts and requests are delivered. */
export interface NodeAdapter {
  readonly nspName: string;
  onRemoteBroadcast(msg: BroadcastMessage): void;
  onRequest(msg: RequestMessage, replyTo: string | undefined): void;
  /** Sessions parked here for connection-state recovery (the node stays while they are handed over). */
  parkedSessions(): number;
  /** The cluster lost messages during [gap.from, gap.to]. */
  onGap?(gap: ClusterGap): void;
}

interface Peer {
  lastSeen: number;
  /** This worker's `unlistened` when the peer was last heard from. */
  unlistenedAtSeen: number;
  nsps: Set<string>;
  /** Counted (and logged) as timed out since last heard from. */
  timedOut?: boolean;
}

interface Pending {
  onResponse(msg: ResponseMessage): void;
}

/** A peer's interestCheck not answered yet: this worker has not applied the peer's interest up to
 *  `ver` (the change is still on its way, or a snapshot was asked for). */
interface InterestWaiter {
  ver: number;
  replyTo: string;
  requestId: string;
  until: number;
}

/** A peer's interest is asked for again (a hello to its subject) at most this often. */
const SYNC_RETRY_MS = 1000;

/** A peer silent for this many heartbeatTimeouts is forgotten (its interest too); before that, a
 *  timed-out peer no longer counts as live but unions still go to it by its last interest: a peer
 *  that missed heartbeats because its event loop (or this one's) stalled keeps receiving what its
 *  rooms are sent, while a dead one only costs publishes nobody receives. */
const FORGET_AFTER_TIMEOUTS = 5;

export class ClusterNode {
  /** Also the first characters of this worker's socket ids (protocol.ts's ownerOf). */
  readonly id = newWorkerId();
  /** The worker's link to the others: its transport. */
  readonly link: ClusterTransport;
  readonly requestTimeout: number;
  private readonly handoverTimeout: number;
  private readonly adapters = new Map<string, NodeAdapter>();
  private readonly peers = new Map<string, Peer>();
  private readonly pending = new Map<string, Pending>();
  private readonly filter = new DuplicateFilter();
  private readonly local = new LocalInterest(this.id);
  private readonly remote = new PeerInterest();
  private readonly syncAsked = new Map<string, number>();
  private readonly interestWaiters = new Map<string, InterestWaiter[]>();
  private interestScheduled = false;
  /** Joins waiting for the next interest flush to be acknowledged, per namespace (interestSettled). */
  private readonly nextSettle = new Map<string, { promise: Promise<void>; resolve: () => void }>();
  /** The acknowledgement in flight for the last flush that had joins waiting, per namespace. */
  private readonly settling = new Map<string, Promise<void>>();
  private readonly maxRoomSubjects: number;
  private readonly heartbeatTimeout: number;
  private readonly heartbeatInterval: number;
  private readonly timer: NodeJS.Timeout;
  private lastTick = Date.now();
  /** How long (ms, in total) this worker's heartbeat ticks came late: time its event loop was busy
   *  or stalled, when peers' heartbeats waited unread. A peer's silence leaves that time out. */
  private unlistened = 0;
  private seq = 0;
  private closing: Promise<void> | null = null;
  /** Serves the polling requests other workers forward here (session-forwarding.ts). */
  onHttpRequest: ((msg: HttpRequestMessage | HttpAbortMessage, replyTo: string | undefined) => void) | null = null;
  /** Answers the moves of this worker's polling sessions other workers ask for (session-forwarding.ts). */
  onSessionMove: ((msg: SessionMoveMessage, replyTo: string | undefined) => void) | null = null;
  /** Forwarded requests of this worker awaiting their answer, by requestId. */
  private readonly forwarded = new Map<string, (msg: HttpResponseMessage | null) => void>();
  /** Counters, for tests and monitoring. */
  readonly stats = {
    broadcastsIn: 0,
    duplicatesDropped: 0,
    broadcastsOut: 0,
    requestsIn: 0,
    interestSyncs: 0,
    /** Peers not heard from within heartbeatTimeout while this worker was listening (a stall there,
     *  or a dead worker): until heard again they are not live (serverCount, requests), but unions
     *  still go to them; forgotten after FORGET_AFTER_TIMEOUTS × heartbeatTimeout. */
    peersTimedOut: 0,
    /** Ticks that came more than heartbeatTimeout late (this worker's event loop stalled). Peers'
     *  heartbeats from meanwhile were still unread: a peer's silence leaves out every tick's lateness. */
    stalls: 0,
    /** Outages reported as "cluster-gap", the messages they lost (ClusterGap's unconfirmed and
     *  dropped, summed) and their length. */
    gaps: 0,
    gapUnconfirmed: 0,
    gapDropped: 0,
    gapMs: 0,
  };

  constructor(opts: ClusterOptions, transport: ClusterTransport = new NatsTransport(opts)) {
    const interval = opts.heartbeatInterval ?? 5000;
    this.heartbeatInterval = interval;
    this.heartbeatTimeout = opts.heartbeatTimeout ?? 2 * interval + 1000;
    this.requestTimeout = opts.requestTimeout ?? 5000;
    this.handoverTimeout = opts.handoverTimeout ?? 3000;
    this.maxRoomSubjects = opts.maxRoomSubjects ?? 16;
    this.link = transport;
    transport.open(this.id, {
      onMessage: (payload, replyTo) => this.onMessage(payload, replyTo),
      onConnected: () => {
        // The whole interest first, then the hello: a peer that learns of this worker knows its rooms.
        this.flushInterest();
        this.sendInterestSnapshot();
        this.presence("hello");
      },
      onDisconnected: () => {
        this.peers.clear();
        this.remote.clear();
      },
      // Broadcasts to and from other workers in [gap.from, gap.to] were lost: every namespace's
      // adapter tells its application (to resync what its clients show).
      onGap: (gap) => {
        this.stats.gaps++;
        this.stats.gapUnconfirmed += gap.unconfirmed;
        this.stats.gapDropped += gap.dropped;
        this.stats.gapMs += Math.max(0, gap.to - gap.from);
        for (const adapter of this.adapters.values()) adapter.onGap?.(gap);
      },
    });
    this.timer = setInterval(() => this.tick(), interval);
    this.timer.unref();
  }

  get ready(): Promise<void> {
    return this.link.ready;
  }

  /** @internal */
  register(adapter: NodeAdapter): void {
    this.adapters.set(adapter.nspName, adapter);
    this.link.serve(adapter.nspName);
    // Peers learn at once that this worker now serves the namespace (it answers its requests).
    if (this.link.connected) this.presence("heartbeat");
  }

  /** Live peers serving `nsp`, as known now. */
  peersServing(nsp: string): string[] {
    return this.livePeers(nsp);
  }

  /** @internal Live peers (serving `nsp` when given), as known now. */
  livePeers(nsp?: string): string[] {
    const now = Date.now();
    const out: string[] = [];
    for (const [id, p] of this.peers) if (this.silence(p, now) <= this.heartbeatTimeout && (nsp === undefined || p.nsps.has(nsp))) out.push(id);
    return out;
  }

  /** How long a peer has been silent while this worker was listening. */
  private silence(p: Peer, now: number): number {
    return now - p.lastSeen - (this.unlistened - p.unlistenedAtSeen);
  }

  /** @internal This worker now has local members in `room`: receive its broadcasts. Its own
   *  sockets' id rooms need nothing: their broadcasts come to this worker's subject. */
  joinRoom(nsp: string, room: Room): void {
    if (isSocketIdOf(room, this.id)) return;
    this.link.joinRoom(nsp, room);
    this.local.add(nsp, room);
    this.scheduleInterest();
  }

  /** @internal */
  leaveRoom(nsp: string, room: Room): void {
    if (isSocketIdOf(room, this.id)) return;
    this.link.leaveRoom(nsp, room);
    this.local.delete(nsp, room);
    this.scheduleInterest();
  }

  /**
   * @internal
   * Sends this worker's pending interest changes now and resolves once every live peer serving
   * `nsp` has applied them (an interestCheck request, answered by interestAck): from then on, every
   * broadcast those peers publish is routed by this worker's new interest. Resolves at
   * requestTimeout at the latest, to the number of peers that did not answer (0: all did).
   */
  interestAcknowledged(nsp: string): Promise<number> {
    this.flushInterest();
    // Timed-out peers too: one that stalled may publish as soon as it wakes, and must route by
    // this interest by then (a dead one costs this wait up to requestTimeout, until forgotten).
    const peers: string[] = [];
    for (const [id, p] of this.peers) if (p.nsps.has(nsp)) peers.push(id);
    if (peers.length === 0) return Promise.resolve(0);
    const msg: RequestMessage = { v: V, type: "interestCheck", origin: this.id, requestId: randomBytes(8).toString("hex"), nsp, ver: this.local.ver };
    return new Promise((resolve) => this.request(msg, peers, this.requestTimeout, (r) => r.type === "interestAck", resolve));
  }

  /**
   * @internal
   * What `socket.join` returns in a cluster: resolves once every live peer routes by this worker's
   * interest as it is now (so a broadcast any worker publishes afterwards reaches the new member),
   * or at requestTimeout; undefined when nothing is pending. The joins of one tick share one flush
   * and one interestCheck (a connection ramp of 10k joins costs one round trip, not 10k).
   */
  interestSettled(nsp: string): Promise<void> | undefined {
    if (!this.local.changedIn(nsp)) return this.settling.get(nsp);
    let next = this.nextSettle.get(nsp);
    if (!next) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.nextSettle.set(nsp, (next = { promise, resolve }));
      this.scheduleInterest();
    }
    return next.promise;
  }

  /** @internal The sequence number of this worker's next broadcast (taken before publishing when
   *  the broadcast is recorded with it: connection-state recovery). */
  nextSeq(): number {
    return ++this.seq;
  }

  /** @internal Publishes a broadcast as its encoded frames (receivers deliver the bytes as they are). */
  publishBroadcast(nsp: string, frames: Frame[], wire: WireOptions, seq = this.nextSeq()): void {
    const msg: BroadcastMessage = { v: V, type: "broadcast", origin: this.id, seq, nsp, rooms: wire.rooms, except: wire.except, frames };
    if (wire.flags) msg.flags = wire.flags;
    const payload = this.encode(msg);
    if (!payload) return;
    this.stats.broadcastsOut++;
    const rooms = wire.rooms;
    if (rooms.length === 0 || rooms.length > this.maxRoomSubjects) this.link.doPublish(msg, payload, { all: true });
    else if (rooms.length === 1 && ownerOf(rooms[0]!) === null)
      this.link.doPublish(msg, payload); // the room's subject
    else this.publishToWorkers(msg, payload, this.workersFor(nsp, rooms), true);
  }

  /** @internal Publishes a request with no answers expected here (or answers awaited through `listen`). */
  publishRequest(msg: RequestMessage, target?: PublishTarget): void {
    const payload = this.encode(msg);
    if (payload) this.link.doPublish(msg, payload, target);
  }

  /** @internal An operation on the sockets selected by `msg.rooms`: when they are all socket ids,
   *  only to the workers that may hold them (per-socket operations go to the owner); otherwise to
   *  every worker serving the namespace. */
  publishSelection(msg: RequestMessage & { rooms: Room[] }): void {
    const rooms = msg.rooms;
    if (rooms.length === 0 || rooms.length > this.maxRoomSubjects || !rooms.every((r) => ownerOf(r) !== null)) return this.publishRequest(msg);
    const payload = this.encode(msg);
    if (payload) this.publishToWorkers(msg, payload, this.workersFor(msg.nsp, rooms), false);
  }

  /** Workers other than this one that may hold members of `rooms`: the owners named by socket ids,
   *  and the live peers that announced one of the rooms. */
  private workersFor(nsp: string, rooms: readonly Room[]): Set<string> {
    const out = new Set<string>();
    for (const r of rooms) {
      const owner = ownerOf(r);
      if (owner !== null && owner !== this.id) out.add(owner);
    }
    this.remote.interested(nsp, rooms, this.peers.keys(), out);
    return out;
  }

  /** Once to each worker; once on the namespace subject instead when every peer serving the
   *  namespace is a target (`orAll`), where one publish costs less than several. */
  private publishToWorkers(msg: ClusterMessage, payload: Uint8Array, workers: Set<string>, orAll: boolean): void {
    if (workers.size === 0) return;
    if (orAll && workers.size > 1 && "nsp" in msg) {
      const serving = this.peersServing(msg.nsp);
      if (serving.length <= workers.size && serving.every((p) => workers.has(p))) {
        this.link.doPublish(msg, payload, { all: true });
        return;
      }
    }
    for (const node of workers) this.link.doPublish(msg, payload, { node });
  }

  /**
   * @internal
   * Publishes a request answered by `expected` peers: `onResponse` gets each answer from them,
   * `done(missing)` runs once, when all have answered (missing = 0) or at `timeoutMs`.
   */
  request(
    msg: (RequestMessage & { requestId: string }) | SessionMoveMessage,
    expected: string[],
    timeoutMs: number,
    // biome-ignore lint/suspicious/noConfusingVoidType: a handler may return nothing (keep waiting) or true (done)
    onResponse: (msg: ResponseMessage) => boolean | void,
    done: (missing: number) => void,
    /** Only to this worker's subject (otherwise to the namespace's requests subject). */
    to?: string,
  ): void {
    const waiting = new Set(expected);
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      this.pending.delete(msg.requestId);
      done(waiting.size);
    };
    // Timers run before the poll phase: after a stall, answers that came meanwhile are still unread
    // when the timeout fires. Judged after this turn's input (setImmediate), they count.
    const timer = setTimeout(() => setImmediate(finish), timeoutMs);
    this.pending.set(msg.requestId, {
      onResponse: (r) => {
        if (finished) return;
        // A response may be one of several from its worker (acks); the worker counts as answered
        // when onResponse says so (true) or, by default, at its first response.
        const complete = onResponse(r);
        if (complete !== false) waiting.delete(r.from);
        if (waiting.size === 0) finish();
      },
    });
    const payload = this.encode(msg);
    if (!payload || !this.link.doPublish(msg, payload, to === undefined ? { expectReplies: true } : { expectReplies: true, node: to })) return finish();
    if (waiting.size === 0) finish();
  }

  /** @internal Asks worker `to` one step of a session move; resolves to its answer, or null when
   *  none came within requestTimeout. */
  askMove(to: string, sid: string, step: SessionMoveMessage["step"]): Promise<Extract<ResponseMessage, { type: "sessionMoved" }> | null> {
    const msg: SessionMoveMessage = { v: V, type: "sessionMove", origin: this.id, requestId: randomBytes(8).toString("hex"), sid, step };
    return new Promise((resolve) => {
      let answer: Extract<ResponseMessage, { type: "sessionMoved" }> | null = null;
      this.request(
        msg,
        [to],
        this.requestTimeout,
        (r) => {
          if (r.type === "sessionMoved" && r.from === to) answer = r;
        },
        () => resolve(answer),
        to,
      );
    });
  }

  /** @internal Tells worker `to` that the move of session `sid` is off (no answer expected). */
  cancelMove(to: string, sid: string): void {
    const msg: SessionMoveMessage = { v: V, type: "sessionMove", origin: this.id, requestId: "", sid, step: "cancel" };
    this.publishEncoded(msg, { node: to });
  }

  /** @internal Keeps a handler for responses to `requestId` for `ttlMs` (broadcast acks arrive late). */
  listen(requestId: string, ttlMs: number, onResponse: (msg: ResponseMessage) => void): void {
    const timer = setTimeout(() => this.pending.delete(requestId), ttlMs);
    timer.unref();
    this.pending.set(requestId, { onResponse });
  }

  /** @internal */
  respond(replyTo: string | undefined, msg: ResponseMessage): void {
    if (!replyTo) return;
    const payload = this.encode(msg);
    if (payload) this.link.doPublishResponse(replyTo, payload);
  }

  /** @internal Whether worker `id` is a live peer (heard from within heartbeatTimeout). */
  isLivePeer(id: string): boolean {
    const p = this.peers.get(id);
    return p !== undefined && this.silence(p, Date.now()) <= this.heartbeatTimeout;
  }

  /** @internal Sends a forwarded HTTP request to worker `to`; resolves to its answer, or to null
   *  when none came within `timeoutMs` or it could not go out. */
  forwardHttp(to: string, msg: HttpRequestMessage, timeoutMs: number, aborted: AbortSignal): Promise<HttpResponseMessage | null> {
    return new Promise((resolve) => {
      const payload = this.encode(msg);
      if (!payload) return resolve(null);
      const settle = (r: HttpResponseMessage | null) => {
        clearTimeout(timer);
        this.forwarded.delete(msg.requestId);
        resolve(r);
      };
      const timer = setTimeout(() => settle(null), timeoutMs);
      timer.unref(); // the client's own connection keeps the process alive, not this wait
      this.forwarded.set(msg.requestId, settle);
      if (!this.link.doPublish(msg, payload, { node: to, expectReplies: true })) return settle(null);
      aborted.addEventListener(
        "abort",
        () => {
          if (!this.forwarded.has(msg.requestId)) return;
          settle(null);
          const abort: HttpAbortMessage = { v: V, type: "httpAbort", origin: this.id, requestId: msg.requestId };
          this.link.doPublish(abort, encodeMessage(abort), { node: to });
        },
        { once: true },
      );
    });
  }

  /** @internal Answers a forwarded HTTP request. */
  respondHttp(replyTo: string | undefined, msg: HttpResponseMessage): void {
    if (!replyTo) return;
    const payload = this.encode(msg);
    if (payload) this.link.doPublishResponse(replyTo, payload);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.handOver();
      clearInterval(this.timer);
      for (const settle of [...this.forwarded.values()]) settle(null); // their clients get "Session ID unknown" and reconnect
      if (this.link.connected) {
        this.presence("bye");
        await this.link.flush(1000);
      }
      await this.link.close();
    })();
    return this.closing;
  }

  /** Stays in the cluster while parked sessions remain here (clients of a closing worker reconnect
   *  elsewhere and their new worker asks for them), up to handoverTimeout. */
  private async handOver(): Promise<void> {
    const parked = () => [...this.adapters.values()].reduce((n, a) => n + a.parkedSessions(), 0);
    if (!this.link.connected || parked() === 0) return;
    const deadline = Date.now() + this.handoverTimeout;
    this.link.log("info", `cluster: handing over ${parked()} parked session(s) before leaving`);
    while (parked() > 0 && Date.now() < deadline && this.link.connected) await new Promise((r) => setTimeout(r, 20));
  }

  private encode(msg: ClusterMessage): Uint8Array | null {
    try {
      return encodeMessage(msg);
    } catch (err) {
      this.link.log("error", `cluster: cannot serialize a ${msg.type} message: ${(err as Error).message}`);
      return null;
    }
  }

  private presence(type: PresenceMessage["type"], to?: string): void {
    this.flushInterest(); // the version announced is the one sent
    const msg: PresenceMessage = { v: V, type, from: this.id, nsps: [...this.adapters.keys()], iv: this.local.ver };
    this.link.doPublish(msg, encodeMessage(msg), to === undefined ? undefined : { node: to });
  }

  private scheduleInterest(): void {
    if (this.interestScheduled) return;
    this.interestScheduled = true;
    // Batched: a connection ramp that creates many rooms in one tick sends one message.
    setImmediate(() => this.flushInterest());
  }

  private flushInterest(): void {
    this.interestScheduled = false;
    if (!this.local.changed) return;
    for (const msg of this.local.drain()) this.publishEncoded(msg);
    for (const [nsp, waiting] of this.nextSettle) {
      this.settling.set(nsp, waiting.promise);
      this.interestAcknowledged(nsp).then(() => {
        if (this.settling.get(nsp) === waiting.promise) this.settling.delete(nsp);
        waiting.resolve();
      });
    }
    this.nextSettle.clear();
  }

  /** This worker's whole interest, to one peer or (to === undefined) to all. */
  private sendInterestSnapshot(to?: string): void {
    for (const msg of this.local.snapshot()) this.publishEncoded(msg, to === undefined ? undefined : { node: to });
  }

  private publishEncoded(msg: ClusterMessage, target?: PublishTarget): void {
    const payload = this.encode(msg);
    if (payload) this.link.doPublish(msg, payload, target);
  }

  /** Asks a peer for its whole interest (a hello to its subject), at most once per SYNC_RETRY_MS. */
  private askInterest(peer: string): void {
    const now = Date.now();
    if (now - (this.syncAsked.get(peer) ?? 0) < SYNC_RETRY_MS) return;
    this.syncAsked.set(peer, now);
    this.stats.interestSyncs++;
    this.presence("hello", peer);
  }

  private forgetPeer(id: string): void {
    this.peers.delete(id);
    this.remote.drop(id);
    this.syncAsked.delete(id);
    this.interestWaiters.delete(id);
  }

  /** Answers a peer's interestCheck now if its interest up to `ver` is applied here, else once it is
   *  (see answerInterestWaiters), or never if that takes longer than requestTimeout. */
  private checkInterest(msg: Extract<RequestMessage, { type: "interestCheck" }>, replyTo: string | undefined): void {
    if (!replyTo || typeof msg.ver !== "number") return;
    if ((this.remote.version(msg.origin) ?? -1) >= msg.ver) return this.ackInterest(replyTo, msg.requestId);
    let list = this.interestWaiters.get(msg.origin);
    if (!list) this.interestWaiters.set(msg.origin, (list = []));
    list.push({ ver: msg.ver, replyTo, requestId: msg.requestId, until: Date.now() + this.requestTimeout });
  }

  /** A peer's interest moved on: answers the checks it now satisfies, drops the expired ones. */
  private answerInterestWaiters(peer: string, now = Date.now()): void {
    const list = this.interestWaiters.get(peer);
    if (!list) return;
    const ver = this.remote.version(peer) ?? -1;
    const left = list.filter((w) => {
      if (w.ver <= ver) this.ackInterest(w.replyTo, w.requestId);
      return w.ver > ver && w.until > now;
    });
    if (left.length > 0) this.interestWaiters.set(peer, left);
    else this.interestWaiters.delete(peer);
  }

  private ackInterest(replyTo: string, requestId: string): void {
    this.respond(replyTo, { v: V, type: "interestAck", from: this.id, requestId });
  }

  private tick(): void {
    this.presence("heartbeat");
    const now = Date.now();
    // Timers run before the poll phase: after a stall, this tick comes before the heartbeats that
    // arrived meanwhile are read. Judging peers by them would time out every live one: the time
    // this worker was late (not listening) does not count as their silence.
    const late = now - this.lastTick - this.heartbeatInterval;
    this.lastTick = now;
    if (late > 0) this.unlistened += late;
    if (late > this.heartbeatTimeout) {
      this.stats.stalls++;
      this.link.log("warn", `cluster: this worker's event loop stalled for ~${late} ms (heartbeatTimeout ${this.heartbeatTimeout})`);
    }
    for (const [id, p] of this.peers) {
      const silent = this.silence(p, now);
      if (silent > FORGET_AFTER_TIMEOUTS * this.heartbeatTimeout) {
        this.link.log("warn", `cluster: worker ${id} not heard from for ${silent} ms: forgotten (its interest too)`);
        this.forgetPeer(id);
      } else if (silent > this.heartbeatTimeout && !p.timedOut) {
        p.timedOut = true;
        this.stats.peersTimedOut++;
        this.link.log(
          "warn",
          `cluster: worker ${id} not heard from for ${silent} ms (heartbeatTimeout ${this.heartbeatTimeout}): not live until heard again (unions still go to it)`,
        );
      }
    }
    for (const peer of this.interestWaiters.keys()) this.answerInterestWaiters(peer, now);
    this.filter.evict(now);
  }

  private onMessage(data: Uint8Array, replyTo: string | undefined): void {
    let msg: ClusterMessage;
    try {
      msg = decodeMessage(data);
    } catch {
      return; // not ours or corrupt: a bad publisher must not take a worker down
    }
    switch (msg.type) {
      case "broadcast": {
        if (msg.origin === this.id) return;
        const adapter = this.adapters.get(msg.nsp);
        if (!adapter) return;
        if (!this.filter.accept(msg.origin, msg.seq)) {
          this.stats.duplicatesDropped++;
          return;
        }
        this.stats.broadcastsIn++;
        adapter.onRemoteBroadcast(msg);
        return;
      }
      case "heartbeat":
      case "hello": {
        if (msg.from === this.id) return;
        const known = this.peers.has(msg.from);
        this.peers.set(msg.from, { lastSeen: Date.now(), unlistenedAtSeen: this.unlistened, nsps: new Set(msg.nsps) });
        // A newcomer (or a worker back from an outage) learns about this one at once: its rooms,
        // then a heartbeat carrying their version.
        if (msg.type === "hello") this.sendInterestSnapshot(msg.from);
        if (msg.type === "hello" || !known) this.presence("heartbeat", msg.from);
        if (msg.iv !== undefined && this.remote.version(msg.from) !== msg.iv) this.askInterest(msg.from);
        return;
      }
      case "interest":
        if (msg.from === this.id) return;
        if (!this.remote.apply(msg)) this.askInterest(msg.from);
        else if (this.interestWaiters.has(msg.from)) this.answerInterestWaiters(msg.from);
        return;
      case "interestCheck":
        if (msg.origin !== this.id) this.checkInterest(msg, replyTo);
        return;
      case "bye":
        this.forgetPeer(msg.from);
        this.filter.forget(msg.from);
        return;
      case "sockets":
      case "session":
      case "interestAck":
      case "serverSideEmitAck":
      case "clientCount":
      case "ack":
      case "sessionMoved":
        this.pending.get(msg.requestId)?.onResponse(msg);
        return;
      case "sessionMove":
        if (msg.origin !== this.id) this.onSessionMove?.(msg, replyTo);
        return;
      case "httpRequest":
      case "httpAbort":
        if (msg.origin !== this.id) this.onHttpRequest?.(msg, replyTo);
        return;
      case "httpResponse":
        this.forwarded.get(msg.requestId)?.(msg);
        return;
      default: {
        if (msg.origin === this.id) return;
        this.stats.requestsIn++;
        this.adapters.get(msg.nsp)?.onRequest(msg, replyTo);
      }
    }
  }
}
