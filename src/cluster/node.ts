// One worker's presence in the cluster, shared by the namespaces of one Server: a bus (bus.ts:
// the handler registry, dispatch and publishing) with the features every worker has plugged in:
// presence (presence.ts) and liveness (peers.ts), room interest and its barrier
// (interest-sync.ts), room sizes and presence (room-state-sync.ts), the request primitive
// (requests.ts), broadcasts (sequence numbers out, the per-origin duplicate filter in, routed by
// route.ts), and the drain on close (session-drain.ts). Other features plug in themselves: the
// namespaces' adapters (register, and their operations through handleIn), session forwarding and
// handover. Knows the adapters only through the small NodeAdapter port, and the transport only
// through ClusterTransport.
import type { Frame } from "../engine/binary.ts";
import { DEFAULT_PARSER_ID } from "../engine/parser.ts";
import { Bus } from "./bus.ts";
import { InterestSync } from "./interest-sync.ts";
import type { LinkCredentials } from "./nats/link.ts";
import type { NatsOptions } from "./nats/nats-options.ts";
import { NatsTransport } from "./nats/nats-transport.ts";
import { Peers } from "./peers.ts";
import { Presence } from "./presence.ts";
import { DuplicateFilter, newWorkerId, PROTOCOL_VERSION as V, type BroadcastMessage, type RequestMessage, type WireOptions } from "./protocol.ts";
import { Requests } from "./requests.ts";
import { RoomStateSync } from "./room-state-sync.ts";
import { routeBroadcast, routeSelection, type RouteView } from "./route.ts";
import { SessionDrain } from "./session-drain.ts";
import type { ClusterGap, ClusterTransport } from "./transport.ts";

/** Credentials (`token`, or `user` and `pass`) and `tls` go to the NATS client as they are: see
 *  README "Securing a cluster". */
export interface ClusterOptions extends LinkCredentials {
  /** NATS server URL(s) of the relay or a nats-server cluster, e.g. "nats://127.0.0.1:4222". */
  servers: string | string[];
  /** First token(s) of every subject; workers and emitters must agree. Default "roomgate". */
  prefix?: string;
  /** Presence heartbeat period in ms (default 500: a dead worker is out of serverCount() and of
   *  pending requests 1.0–1.75 s after it died, for 2 heartbeats/s per worker; see README). */
  heartbeatInterval?: number;
  /** A worker not heard from for this long is dropped from serverCount(), and requests stop
   *  waiting for it (default 2 × interval + 500: 1500). Peers are judged twice per interval. */
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
  /** Connection-state recovery: on close, how long (ms) at most a worker keeps answering for the
   *  sessions of its clients (parked as they were cut off) while they reconnect to other workers; it
   *  leaves as soon as every one was asked for (session-drain.ts). Default 3000; keep it under pm2's
   *  kill_timeout, 5000 in ecosystem.config.js. */
  handoverTimeout?: number;
  /** Room sizes and presence (room-state-sync.ts): this worker's changes go out at most this often,
   *  batched (ms, default 100); a reader elsewhere sees a change within about this plus one relay hop.
   *  0: off (no counting, no messages; roomSize and presence throw). */
  roomStateInterval?: number;
}

/** 500 ms: a dead worker is judged out 1.0–1.75 s after its last heartbeat with the default
 *  timeout (1.5 s + up to one judge interval), against 6–11 s at the former 5 s. Cost: 2 presence
 *  messages/s per worker, each delivered to every other worker (bench/detection.ts measures). */
const DEFAULT_HEARTBEAT_INTERVAL = 500;
/** Peers are judged this many times per heartbeat interval: a timeout is seen at most half an
 *  interval late, not a whole one. */
const JUDGES_PER_HEARTBEAT = 2;

/** A namespace's adapter as the node sees it (its operations come through handleIn). */
export interface NodeAdapter {
  readonly nspName: string;
  onRemoteBroadcast(msg: BroadcastMessage): void;
  /** Sessions parked here for connection-state recovery after `since` (a parkMark): a draining node
   *  stays while they are handed over (session-drain.ts). */
  parkedSessions(since: bigint): number;
  /** The cluster lost messages during [gap.from, gap.to]. */
  onGap?(gap: ClusterGap): void;
  /** The relay became unreachable at `since` (room sizes and presence frozen as last heard), or
   *  reachable again (null). */
  onRoomStateStale?(since: number | null): void;
}

/** A node's counters, for tests and monitoring. */
function newStats() {
  return {
    broadcastsIn: 0,
    duplicatesDropped: 0,
    broadcastsOut: 0,
    requestsIn: 0,
    interestSyncs: 0,
    /** Payloads received that do not decode (corrupt, or not a message of this protocol): dropped,
     *  counted here and logged (bus.ts). */
    undecodable: 0,
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
    /** Presence messages from workers speaking another packet format (`parser` option): refused. */
    foreignParsers: 0,
    /** Room state messages sent and received, and whole states asked for (room-state-sync.ts). */
    roomStateOut: 0,
    roomStateIn: 0,
    roomStateSyncs: 0,
  };
}

export type NodeStats = ReturnType<typeof newStats>;

export class ClusterNode extends Bus {
  readonly requestTimeout: number;
  /** @internal The other workers as heard (peers.ts). */
  readonly peers: Peers;
  /** @internal Room interest, this worker's and its peers' (interest-sync.ts). */
  readonly interest: InterestSync;
  /** @internal Requests awaiting answers (requests.ts). */
  readonly requests: Requests;
  /** @internal Room sizes and presence across workers (room-state-sync.ts); null when off. */
  readonly roomState: RoomStateSync | null;
  private readonly presence: Presence;
  /** @internal The leaving worker's handover of its parked sessions (session-drain.ts). */
  readonly drain: SessionDrain;
  private readonly adapters = new Map<string, NodeAdapter>();
  private readonly filter = new DuplicateFilter();
  private readonly routes: RouteView;
  private readonly timer: NodeJS.Timeout;
  private seq = 0;
  private ticks = 0;
  private closing: Promise<void> | null = null;
  /** Set when this worker refused to join the cluster (its parser differs from the cluster's):
   *  it has left, and says why here. */
  refusal: Error | null = null;
  private readonly foreignWarned = new Set<string>();
  /** Counters, for tests and monitoring (see newStats). */
  readonly stats: NodeStats;

  /** `parserId`: the id of the server's packet format (engine/parser.ts); a worker that hears a
   *  peer with another one, there before it, refuses to join (see refuse). */
  constructor(opts: ClusterOptions, transport: ClusterTransport = new NatsTransport(opts), parserId: string = DEFAULT_PARSER_ID) {
    const stats = newStats();
    super(newWorkerId(), transport, stats);
    this.stats = stats;
    const interval = opts.heartbeatInterval ?? DEFAULT_HEARTBEAT_INTERVAL;
    const heartbeatTimeout = opts.heartbeatTimeout ?? 2 * interval + 500;
    const judgeInterval = interval / JUDGES_PER_HEARTBEAT;
    this.requestTimeout = opts.requestTimeout ?? 5000;
    this.requests = new Requests(this);
    this.peers = new Peers({
      judgeInterval,
      heartbeatTimeout,
      log: (level, message) => this.log(level, message),
      stats: this.stats,
      onForget: (id) => {
        this.presence.forget(id);
        this.requests.peerLost(id);
      },
      onTimedOut: (id) => this.requests.peerLost(id),
    });
    this.interest = new InterestSync(this, {
      requestTimeout: this.requestTimeout,
      peers: this.peers,
      requests: this.requests,
      stats: this.stats,
      hello: (peer) => this.presence.send("hello", peer),
    });
    this.presence = new Presence(this, {
      peers: this.peers,
      interest: this.interest,
      nsps: () => [...this.adapters.keys()],
      onBye: (id) => {
        this.filter.forget(id);
        this.requests.peerLost(id);
      },
      parserId,
      up: Date.now(),
      onForeignParser: (peer, theirs, joinedFirst) => this.foreignParser(peer, parserId, theirs, joinedFirst),
    });
    const roomStateInterval = opts.roomStateInterval ?? 100;
    if (!(roomStateInterval >= 0)) throw new TypeError(`roomStateInterval must be a number of ms >= 0 (0: off), not ${opts.roomStateInterval}`);
    this.roomState =
      roomStateInterval === 0
        ? null
        : new RoomStateSync(this, {
            interval: roomStateInterval,
            heartbeatTimeout,
            peers: this.peers,
            stats: this.stats,
            onStale: (since) => {
              for (const adapter of this.adapters.values()) adapter.onRoomStateStale?.(since);
            },
          });
    this.routes = {
      self: this.id,
      maxRoomSubjects: opts.maxRoomSubjects ?? 16,
      interested: (nsp, rooms, into) => this.interest.interested(nsp, rooms, into),
      serving: (nsp) => this.peers.live(nsp),
    };
    this.drain = new SessionDrain(
      {
        parkedSince: (since) => [...this.adapters.values()].reduce((n, a) => n + a.parkedSessions(since), 0),
        announce: async () => {
          this.presence.send("heartbeat");
          await this.link.flush(1000);
        },
        connected: () => this.link.connected,
        log: (level, message) => this.log(level, message),
      },
      opts.handoverTimeout ?? 3000,
    );
    this.handle("broadcast", (msg) => this.onBroadcast(msg));
    transport.open(this.id, {
      onMessage: (payload, replyTo) => this.receive(payload, replyTo),
      onConnected: () => {
        this.presence.connected();
        this.roomState?.connected();
      },
      onDisconnected: () => {
        this.presence.disconnected();
        this.roomState?.disconnected();
      },
      // Broadcasts to and from other workers in [gap.from, gap.to] were lost: every namespace's
      // adapter tells its application (to resync what its clients show).
      onGap: (gap) => this.onGap(gap),
    });
    this.timer = setInterval(() => this.tick(), judgeInterval);
    this.timer.unref();
  }

  get ready(): Promise<void> {
    return this.link.ready;
  }

  /** @internal A namespace served here: its broadcasts and (through handleIn) its operations. */
  register(adapter: NodeAdapter): void {
    this.adapters.set(adapter.nspName, adapter);
    this.link.serve(adapter.nspName);
    // Peers learn at once that this worker now serves the namespace (it answers its requests).
    if (this.link.connected) this.presence.send("heartbeat");
  }

  /** Live peers serving `nsp`, as known now. */
  peersServing(nsp: string): string[] {
    return this.peers.live(nsp);
  }

  /** @internal The sequence number of this worker's next broadcast (taken before publishing when
   *  the broadcast is recorded with it: connection-state recovery). */
  nextSeq(): number {
    return ++this.seq;
  }

  /** @internal Publishes a broadcast as its encoded frames (receivers deliver the bytes as they are). */
  publishBroadcast(nsp: string, frames: Frame[], wire: WireOptions, seq = this.nextSeq()): void {
    if (this.refusal !== null) return;
    const msg: BroadcastMessage = { v: V, type: "broadcast", origin: this.id, seq, nsp, rooms: wire.rooms, except: wire.except, frames };
    if (wire.flags) msg.flags = wire.flags;
    const payload = this.encode(msg);
    if (!payload) return;
    this.stats.broadcastsOut++;
    this.link.doPublish(msg, payload, { route: routeBroadcast(nsp, wire.rooms, this.routes) });
  }

  /** @internal An operation on the sockets selected by `msg.rooms` (route.ts's routeSelection). */
  publishSelection(msg: Extract<RequestMessage, { rooms: unknown }>): void {
    this.publish(msg, { route: routeSelection(msg.nsp, msg.rooms, this.routes) });
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.drain.finish();
      clearInterval(this.timer);
      this.roomState?.close();
      this.requests.endClientWaits();
      if (this.link.connected) {
        this.presence.send("bye");
        await this.link.flush(1000);
      }
      await this.link.close();
    })();
    return this.closing;
  }

  private onGap(gap: ClusterGap): void {
    this.stats.gaps++;
    this.stats.gapUnconfirmed += gap.unconfirmed;
    this.stats.gapDropped += gap.dropped;
    this.stats.gapMs += Math.max(0, gap.to - gap.from);
    for (const adapter of this.adapters.values()) adapter.onGap?.(gap);
  }

  private tick(): void {
    const now = Date.now();
    const beat = this.ticks++ % JUDGES_PER_HEARTBEAT === 0;
    this.presence.tick(now, beat);
    if (beat) this.roomState?.beacon(); // once per heartbeat period
    this.interest.answerAllWaiters(now);
    this.filter.evict(now);
  }

  /** A peer speaks another packet format: frames from it would reach this worker's clients garbled,
   *  and this worker's would reach its clients so. The worker that came later leaves the cluster
   *  with a clear error; the one there first ignores it meanwhile. */
  private foreignParser(peer: string, ours: string, theirs: string, joinedFirst: boolean): void {
    this.stats.foreignParsers++;
    if (joinedFirst) {
      if (this.refusal !== null) return;
      this.refusal = new Error(
        `roomgate cluster: refusing to join: worker ${peer} uses another parser (id ${theirs}, this worker's is ${ours}); ` +
          "every worker of a cluster, and every emitter, must be given the same `parser` option",
      );
      this.log("error", this.refusal.message);
      void this.close();
      return;
    }
    if (this.foreignWarned.has(peer)) return;
    this.foreignWarned.add(peer);
    this.log("warn", `cluster: ignoring worker ${peer}: it uses another parser (id ${theirs}, this cluster's is ${ours}); it refuses to join`);
  }

  private onBroadcast(msg: BroadcastMessage): void {
    if (this.refusal !== null) return;
    const adapter = this.adapters.get(msg.nsp);
    if (!adapter) return;
    if (!this.filter.accept(msg.origin, msg.seq)) {
      this.stats.duplicatesDropped++;
      return;
    }
    this.stats.broadcastsIn++;
    adapter.onRemoteBroadcast(msg);
  }
}
