// One worker's presence in the cluster, shared by the namespaces of one Server: its identity, the
// transport (NATS by default), routing and publishing, the per-origin duplicate filter, and the
// dispatch of what arrives to the part that owns it: presence and liveness (peers.ts), room
// interest and its barrier (interest-sync.ts), request/response bookkeeping (requests.ts), the
// namespaces' adapters. Knows the adapters only through the small NodeAdapter port, and the
// transport only through ClusterTransport.
//
// Routing: a broadcast to one room goes out on the room's subject (the relay fans it out to the
// workers subscribed there); one to several rooms, or to a socket id, goes once to each worker that
// may hold a recipient: the owner named in a socket id, plus the peers that announced interest in one
// of the rooms (interest.ts). So a worker holds no subscription per socket, and a union of k rooms
// crosses the relay once per interested worker, not k times. A worker that must know when its peers
// route by its new interest (a recovery handover) asks them (interestAcknowledged: interestCheck,
// answered by interestAck once the version is applied).
import type { NatsOptions } from "./nats/nats-options.ts";
import type { Frame } from "../engine/binary.ts";
import type { Room } from "../rooms/types.ts";
import { InterestSync } from "./interest-sync.ts";
import type { LinkCredentials } from "./nats/link.ts";
import { NatsTransport } from "./nats/nats-transport.ts";
import { Peers } from "./peers.ts";
import {
  decodeMessage,
  DuplicateFilter,
  encodeMessage,
  isResponse,
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
import { Requests } from "./requests.ts";
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

export class ClusterNode {
  /** Also the first characters of this worker's socket ids (protocol.ts's ownerOf). */
  readonly id = newWorkerId();
  /** The worker's link to the others: its transport. */
  readonly link: ClusterTransport;
  readonly requestTimeout: number;
  private readonly handoverTimeout: number;
  private readonly adapters = new Map<string, NodeAdapter>();
  private readonly peers: Peers;
  private readonly interest: InterestSync;
  private readonly requests: Requests;
  private readonly filter = new DuplicateFilter();
  private readonly maxRoomSubjects: number;
  private readonly timer: NodeJS.Timeout;
  private seq = 0;
  private closing: Promise<void> | null = null;
  /** Serves the polling requests other workers forward here (session-forwarding.ts). */
  onHttpRequest: ((msg: HttpRequestMessage | HttpAbortMessage, replyTo: string | undefined) => void) | null = null;
  /** Answers the moves of this worker's polling sessions other workers ask for (session-forwarding.ts). */
  onSessionMove: ((msg: SessionMoveMessage, replyTo: string | undefined) => void) | null = null;
  /** Counters, for tests and monitoring. */
  readonly stats = {
    broadcastsIn: 0,
    duplicatesDropped: 0,
    broadcastsOut: 0,
    requestsIn: 0,
    interestSyncs: 0,
    /** Peers not heard from within heartbeatTimeout while this worker was listening (a stall there,
     *  or a dead worker): until heard again they are not live (serverCount, requests), but unions
     *  still go to them; forgotten after FORGET_AFTER_TIMEOUTS × heartbeatTimeout (peers.ts). */
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
    const heartbeatTimeout = opts.heartbeatTimeout ?? 2 * interval + 1000;
    this.requestTimeout = opts.requestTimeout ?? 5000;
    this.handoverTimeout = opts.handoverTimeout ?? 3000;
    this.maxRoomSubjects = opts.maxRoomSubjects ?? 16;
    this.link = transport;
    const send = (msg: ClusterMessage, target?: PublishTarget) => this.send(msg, target);
    this.requests = new Requests(this.id, this.requestTimeout, send);
    this.peers = new Peers({
      heartbeatInterval: interval,
      heartbeatTimeout,
      log: (level, message) => this.link.log(level, message),
      stats: this.stats,
      onForget: (id) => this.forgetPeer(id),
    });
    this.interest = new InterestSync({
      self: this.id,
      requestTimeout: this.requestTimeout,
      peers: this.peers,
      requests: this.requests,
      stats: this.stats,
      send,
      respond: (replyTo, msg) => this.respond(replyTo, msg),
      hello: (peer) => this.presence("hello", peer),
    });
    transport.open(this.id, {
      onMessage: (payload, replyTo) => this.onMessage(payload, replyTo),
      onConnected: () => {
        // The whole interest first, then the hello: a peer that learns of this worker knows its rooms.
        this.interest.flush();
        this.interest.sendSnapshot();
        this.presence("hello");
      },
      onDisconnected: () => {
        this.peers.clear();
        this.interest.clearPeers();
      },
      // Broadcasts to and from other workers in [gap.from, gap.to] were lost: every namespace's
      // adapter tells its application (to resync what its clients show).
      onGap: (gap) => this.onGap(gap),
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
    return this.peers.live(nsp);
  }

  /** @internal Live peers (serving `nsp` when given), as known now. */
  livePeers(nsp?: string): string[] {
    return this.peers.live(nsp);
  }

  /** @internal Whether worker `id` is a live peer (heard from within heartbeatTimeout). */
  isLivePeer(id: string): boolean {
    return this.peers.isLive(id);
  }

  /** @internal This worker now has local members in `room`: receive its broadcasts. Its own
   *  sockets' id rooms need nothing: their broadcasts come to this worker's subject. */
  joinRoom(nsp: string, room: Room): void {
    if (isSocketIdOf(room, this.id)) return;
    this.link.joinRoom(nsp, room);
    this.interest.add(nsp, room);
  }

  /** @internal */
  leaveRoom(nsp: string, room: Room): void {
    if (isSocketIdOf(room, this.id)) return;
    this.link.leaveRoom(nsp, room);
    this.interest.delete(nsp, room);
  }

  /** @internal Resolves once every peer serving `nsp` routes by this worker's interest as sent now,
   *  to the number that did not answer within requestTimeout (interest-sync.ts). */
  interestAcknowledged(nsp: string): Promise<number> {
    return this.interest.acknowledged(nsp);
  }

  /** @internal What `socket.join` returns in a cluster (interest-sync.ts): undefined when nothing
   *  is pending. */
  interestSettled(nsp: string): Promise<void> | undefined {
    return this.interest.settled(nsp);
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
    this.send(msg, target);
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

  /** @internal Publishes a request answered by `expected` peers (Requests.request). */
  request(...args: Parameters<Requests["request"]>): void {
    this.requests.request(...args);
  }

  /** @internal Asks worker `to` one step of a session move; resolves to its answer, or null when
   *  none came within requestTimeout. */
  askMove(to: string, sid: string, step: SessionMoveMessage["step"]): Promise<Extract<ResponseMessage, { type: "sessionMoved" }> | null> {
    return this.requests.askMove(to, sid, step);
  }

  /** @internal Tells worker `to` that the move of session `sid` is off (no answer expected). */
  cancelMove(to: string, sid: string): void {
    this.requests.cancelMove(to, sid);
  }

  /** @internal Keeps a handler for responses to `requestId` for `ttlMs` (broadcast acks arrive late). */
  listen(requestId: string, ttlMs: number, onResponse: (msg: ResponseMessage) => void): void {
    this.requests.listen(requestId, ttlMs, onResponse);
  }

  /** @internal */
  respond(replyTo: string | undefined, msg: ResponseMessage): void {
    this.publishResponse(replyTo, msg);
  }

  /** @internal Sends a forwarded HTTP request to worker `to`; resolves to its answer, or to null
   *  when none came within `timeoutMs` or it could not go out. */
  forwardHttp(to: string, msg: HttpRequestMessage, timeoutMs: number, aborted: AbortSignal): Promise<HttpResponseMessage | null> {
    return this.requests.forwardHttp(to, msg, timeoutMs, aborted);
  }

  /** @internal Answers a forwarded HTTP request. */
  respondHttp(replyTo: string | undefined, msg: HttpResponseMessage): void {
    this.publishResponse(replyTo, msg);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.handOver();
      clearInterval(this.timer);
      this.requests.dropForwarded(); // their clients get "Session ID unknown" and reconnect
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

  private onGap(gap: ClusterGap): void {
    this.stats.gaps++;
    this.stats.gapUnconfirmed += gap.unconfirmed;
    this.stats.gapDropped += gap.dropped;
    this.stats.gapMs += Math.max(0, gap.to - gap.from);
    for (const adapter of this.adapters.values()) adapter.onGap?.(gap);
  }

  /** Workers other than this one that may hold members of `rooms`: the owners named by socket ids,
   *  and the peers (timed-out ones too) that announced one of the rooms. */
  private workersFor(nsp: string, rooms: readonly Room[]): Set<string> {
    const out = new Set<string>();
    for (const r of rooms) {
      const owner = ownerOf(r);
      if (owner !== null && owner !== this.id) out.add(owner);
    }
    this.interest.interested(nsp, rooms, out);
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

  private encode(msg: ClusterMessage): Uint8Array | null {
    try {
      return encodeMessage(msg);
    } catch (err) {
      this.link.log("error", `cluster: cannot serialize a ${msg.type} message: ${(err as Error).message}`);
      return null;
    }
  }

  /** Encodes and publishes; false when it could not go out (not serializable, or not sent). */
  private send(msg: ClusterMessage, target?: PublishTarget): boolean {
    const payload = this.encode(msg);
    return payload !== null && this.link.doPublish(msg, payload, target);
  }

  private publishResponse(replyTo: string | undefined, msg: ResponseMessage | HttpResponseMessage): void {
    if (!replyTo) return;
    const payload = this.encode(msg);
    if (payload) this.link.doPublishResponse(replyTo, payload);
  }

  private presence(type: PresenceMessage["type"], to?: string): void {
    this.interest.flush(); // the version announced is the one sent
    const msg: PresenceMessage = { v: V, type, from: this.id, nsps: [...this.adapters.keys()], iv: this.interest.ver };
    this.link.doPublish(msg, encodeMessage(msg), to === undefined ? undefined : { node: to });
  }

  private forgetPeer(id: string): void {
    this.peers.forget(id);
    this.interest.forget(id);
  }

  private tick(): void {
    this.presence("heartbeat");
    const now = Date.now();
    this.peers.judge(now);
    this.interest.answerAllWaiters(now);
    this.filter.evict(now);
  }

  private onMessage(data: Uint8Array, replyTo: string | undefined): void {
    let msg: ClusterMessage;
    try {
      msg = decodeMessage(data);
    } catch {
      return; // not ours or corrupt: a bad publisher must not take a worker down
    }
    if (isResponse(msg)) return this.requests.onResponse(msg);
    switch (msg.type) {
      case "broadcast":
        return this.onBroadcast(msg);
      case "heartbeat":
      case "hello":
        return this.onPresence(msg);
      case "interest":
        if (msg.from !== this.id) this.interest.onInterest(msg);
        return;
      case "interestCheck":
        if (msg.origin !== this.id) this.interest.check(msg, replyTo);
        return;
      case "bye":
        this.forgetPeer(msg.from);
        this.filter.forget(msg.from);
        return;
      case "sessionMove":
        if (msg.origin !== this.id) this.onSessionMove?.(msg, replyTo);
        return;
      case "httpRequest":
      case "httpAbort":
        if (msg.origin !== this.id) this.onHttpRequest?.(msg, replyTo);
        return;
      case "httpResponse":
        return this.requests.onHttpResponse(msg);
      default: {
        if (msg.origin === this.id) return;
        this.stats.requestsIn++;
        this.adapters.get(msg.nsp)?.onRequest(msg, replyTo);
      }
    }
  }

  private onBroadcast(msg: BroadcastMessage): void {
    if (msg.origin === this.id) return;
    const adapter = this.adapters.get(msg.nsp);
    if (!adapter) return;
    if (!this.filter.accept(msg.origin, msg.seq)) {
      this.stats.duplicatesDropped++;
      return;
    }
    this.stats.broadcastsIn++;
    adapter.onRemoteBroadcast(msg);
  }

  private onPresence(msg: PresenceMessage): void {
    if (msg.from === this.id) return;
    const known = this.peers.heard(msg.from, msg.nsps);
    // A newcomer (or a worker back from an outage) learns about this one at once: its rooms,
    // then a heartbeat carrying their version.
    if (msg.type === "hello") this.interest.sendSnapshot(msg.from);
    if (msg.type === "hello" || !known) this.presence("heartbeat", msg.from);
    this.interest.onPresence(msg.from, msg.iv);
  }
}
