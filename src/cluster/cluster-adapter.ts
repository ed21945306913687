// The cluster adapter: a namespace's local adapter plus the cluster, through the worker's
// ClusterNode (node.ts: the bus, identity, broadcasts; peers.ts, interest-sync.ts, requests.ts) and
// its transport (NATS by default: nats/nats-transport.ts). It turns each adapter operation into a
// cluster message (encodeOptions / decodeOptions convert the selection) and carries out the
// operations of the others: its handlers, registered on the node for its namespace (handleIn).
//
// Routing by interest: a worker receives a room's broadcasts while it has local members in the
// room (membership's create-room / delete-room, through node.interest.join / leave), so a broadcast to
// rooms reaches only workers that hold recipients. Socket ids start with the id of the worker that
// made them (newSocketId), so a private message or an operation on one socket goes to its owner
// without a subscription per socket. A receiving worker applies the full rooms/except selection to
// its own membership, locally, and delivers a message it gets twice once (per-origin sequence
// numbers, see DuplicateFilter).
import { randomId } from "../engine/ids.ts";
import { Adapter, type BroadcastOptions } from "../api/adapter.ts";
import type { Namespace } from "../api/namespace.ts";
import type { Server } from "../api/server.ts";
import type { Socket } from "../api/socket.ts";
import { PacketType, type Packet } from "../engine/codec.ts";
import { DEFAULT_PARSER_ID } from "../engine/parser.ts";
import type { Room, SocketId } from "../rooms/types.ts";
import { ClusterNode, type ClusterOptions } from "./node.ts";
import type { ClusterGap } from "./transport.ts";
import {
  framesOf,
  PROTOCOL_VERSION as V,
  type BroadcastMessage,
  type MessageOf,
  type RequestMessage,
  type SerializedSocket,
  type WireOptions,
} from "./protocol.ts";
import { Requests } from "./requests.ts";
import { toWorker } from "./route.ts";
import { RemoteSocket, type RemoteSocketOp } from "./remote-socket.ts";
import { RoomPresence, type RoomPresenceOptions } from "./room-presence.ts";
import type { RoomStateSync } from "./room-state-sync.ts";
import { answerSessionRequest, broadcastTag } from "./session-handover.ts";
import { installSessionMobility } from "./session-mobility.ts";

/** BroadcastOptions in wire form: rooms and except as arrays, and (`withFlags`) the one flag another
 *  worker applies, volatile. `local` never travels: a local operation is not published. */
export function encodeOptions(opts: BroadcastOptions, withFlags = true): WireOptions {
  const wire: WireOptions = { rooms: [...opts.rooms], except: opts.except ? [...opts.except] : [] };
  if (withFlags && opts.flags?.volatile) wire.flags = { volatile: true };
  return wire;
}

/** A received selection as BroadcastOptions: flagged local, so that carrying it out here never
 *  publishes it again. */
export function decodeOptions(wire: WireOptions): BroadcastOptions {
  return { rooms: new Set(wire.rooms), except: new Set(wire.except), flags: { volatile: !!wire.flags?.volatile, local: true } };
}

function serializeSocket(s: Socket): SerializedSocket {
  return { id: s.id, handshake: s.handshake, rooms: [...s.rooms], data: s.data };
}

function timeoutError(expected: number, missing: number): Error {
  return new Error(`timeout reached: only ${expected - missing} responses received out of ${expected}`);
}

export class ClusterAdapter extends Adapter {
  readonly node: ClusterNode;
  private roomPresence: RoomPresence | null = null;

  constructor(nsp: Namespace, node: ClusterNode) {
    super(nsp);
    this.node = node;
    this.on("create-room", (room: Room) => node.interest.join(this.nspName, room));
    // A room a parked session (connection-state recovery) holds stays routed here until released.
    this.on("delete-room", (room: Room) => this.recovery?.holdsRoom(room) || node.interest.leave(this.nspName, room));
    if (this.recovery) this.recovery.onRoomReleased = (room) => this.rooms.has(room) || node.interest.leave(this.nspName, room);
    // Room sizes (and presence, once turned on) across workers: sockets' own rooms left out.
    const roomState = node.roomState;
    if (roomState) {
      this.on("join-room", (room: Room, id: SocketId) => {
        if (room !== id) roomState.change(this.nspName, room, 1, this.roomPresence?.enter(id, room, this.member(id)) ?? null);
      });
      this.on("leave-room", (room: Room, id: SocketId) => {
        if (room !== id) roomState.change(this.nspName, room, -1, this.roomPresence?.exit(id, room) ?? null);
      });
    }
    node.register(this);
    this.handleOperations();
    node.handleIn(this.nspName, "restoreSession", (msg, replyTo) => {
      const handedOver = answerSessionRequest(node, this.recovery, msg, replyTo);
      if (!msg.peek) node.drain.noteTaken(handedOver);
    });
  }

  /** Resolves once every peer routes the rooms this join created here (interest-sync.ts's settled): a
   *  broadcast any worker publishes after that reaches the new member. */
  override add(id: SocketId, room: Room): Promise<void> | void {
    super.add(id, room);
    return this.node.interest.settled(this.nspName);
  }

  override addAll(id: SocketId, rooms: Iterable<Room>): Promise<void> | void {
    super.addAll(id, rooms);
    return this.node.interest.settled(this.nspName);
  }

  /** This worker's id, then 21 random characters: the owner of a socket is in its id (protocol.ts's
   *  ownerOf), and the id stays as unguessable as a lone worker's. */
  override newSocketId(): string {
    return this.node.id + randomId();
  }

  /** Encoded once: the same frames go to local sockets and, as they are, to the other workers. */
  override broadcast(packet: Omit<Packet, "nsp">, opts: BroadcastOptions): void {
    const frames = this.encode({ ...packet, nsp: this.nspName });
    if (opts.flags?.local) return this.broadcastFrames(frames, opts);
    // The sequence number first: the recovery log keeps the broadcast under it (see broadcastTag).
    const seq = this.node.nextSeq();
    this.broadcastFrames(frames, opts, broadcastTag(this.node.id, seq));
    this.node.publishBroadcast(this.nspName, frames, encodeOptions(opts), seq);
  }

  override broadcastWithAck(packet: Omit<Packet, "nsp">, opts: BroadcastOptions, clientCount: (n: number) => void, ack: (response: unknown) => void): void {
    // Local sockets first (flagged local so that super's broadcast is not published).
    super.broadcastWithAck(packet, { ...opts, flags: { ...opts.flags, local: true } }, clientCount, ack);
    if (opts.flags?.local) return;
    const peers = this.node.peersServing(this.nspName);
    if (peers.length === 0) return;
    const requestId = Requests.newId();
    const answered = new Set<string>();
    const expected = new Set(peers);
    // Answers stay welcome as long as the emitter may wait for them.
    this.node.requests.listen(
      requestId,
      (opts.flags?.timeout ?? 60_000) + 1000,
      (r) => {
        if (!expected.has(r.from)) return;
        if (r.type === "clientCount" && !answered.has(r.from)) {
          answered.add(r.from);
          clientCount(r.count);
        } else if (r.type === "ack" && answered.has(r.from)) {
          ack(r.response);
        }
      },
      // A worker declared dead before it counted its clients counts as one with none (the emitter
      // does not wait for it); acks of clients it counted still wait for the timeout, as in Socket.IO.
      (id) => {
        if (!expected.has(id) || answered.has(id)) return;
        answered.add(id);
        clientCount(0);
      },
    );
    this.node.publish(
      { v: V, type: "broadcastWithAck", origin: this.node.id, requestId, nsp: this.nspName, ...encodeOptions(opts), data: packet.data as unknown[] },
      { expectReplies: true },
    );
  }

  // ---------- room sizes and presence, cluster-wide (room-state-sync.ts) ----------

  private get roomState(): RoomStateSync {
    const state = this.node.roomState;
    if (!state) throw new Error("room sizes and presence are off in this cluster (roomStateInterval: 0)");
    return state;
  }

  /** The number of sockets in `room` across the cluster, from local state (no request): as of the
   *  last change each worker sent, at most about roomStateInterval + one relay hop old (README "Room
   *  sizes and presence"). A socket's own room is not counted (use fetchSockets for that). */
  roomSize(room: Room): number {
    return this.roomState.totals.size(this.nspName, room);
  }

  /** Every room with its size across the cluster, from local state (sockets' own rooms left out): a
   *  live view, not a copy (it changes as the counts do). */
  roomSizes(): ReadonlyMap<Room, number> {
    return this.roomState.totals.sizes(this.nspName);
  }

  /** Socket.IO's Redis adapter's allRooms: every room with a socket anywhere in the cluster, answered
   *  from local state (sockets' own rooms left out, unlike the Redis adapter). */
  allRooms(): Promise<Set<Room>> {
    return Promise.resolve(new Set(this.roomState.totals.rooms(this.nspName)));
  }

  /** The exact sizes of `rooms` through a round trip to every live worker serving the namespace (each
   *  counts its members as they are now, as `adapter.rooms` does: a socket's own room too); rejects
   *  when one does not answer within requestTimeout. */
  fetchRoomSizes(rooms: Room[]): Promise<Map<Room, number>> {
    if (!Array.isArray(rooms)) return Promise.reject(new TypeError("fetchRoomSizes: rooms must be an array of rooms"));
    const sizes = new Map<Room, number>();
    for (const room of rooms) sizes.set(room, this.rooms.get(room)?.size ?? 0);
    const peers = this.node.peersServing(this.nspName);
    if (peers.length === 0) return Promise.resolve(sizes);
    return new Promise((resolve, reject) => {
      this.node.requests.request(
        { v: V, type: "countRooms", origin: this.node.id, requestId: Requests.newId(), nsp: this.nspName, rooms },
        peers,
        this.node.requestTimeout,
        (r) => {
          if (r.type !== "roomSizes" || !Array.isArray(r.sizes)) return false;
          for (const [room, n] of r.sizes) if (sizes.has(room) && typeof n === "number") sizes.set(room, sizes.get(room)! + n);
        },
        (missing) => (missing === 0 ? resolve(sizes) : reject(timeoutError(peers.length, missing))),
      );
    });
  }

  /** When the relay became unreachable (sizes and presence frozen as last heard since then); null
   *  while connected. Also told as the adapter events "room-state-stale" (since) and
   *  "room-state-fresh". */
  get roomStateStaleSince(): number | null {
    return this.roomState.staleSince;
  }

  /**
   * Turns presence on for this namespace (off by default; call it on every worker, before clients
   * connect): per room, the distinct members by `opts.key` across the cluster, with "join" and
   * "leave" once per member and room on every worker. A second call returns the same object.
   */
  presence<S = Socket>(opts: RoomPresenceOptions<S>): RoomPresence {
    if (this.roomPresence) return this.roomPresence;
    const totals = this.roomState.totals;
    const presence = new RoomPresence(opts, { members: (room) => totals.members(this.nspName, room), rooms: () => totals.presenceRooms(this.nspName) });
    this.roomPresence = presence;
    this.roomState.addPresence(this.nspName, presence);
    // Sockets already in rooms count from now.
    for (const [id, rooms] of this.sids)
      for (const room of rooms) {
        const key = presence.enter(id, room, rooms.member);
        if (key !== null) this.roomState.local.addMember(this.nspName, room, key, 1);
      }
    return presence;
  }

  /** @internal */
  onRoomStateStale(since: number | null): void {
    if (since === null) this.emit("room-state-fresh");
    else this.emit("room-state-stale", since);
  }

  /** @internal */
  parkedSessions(since: bigint): number {
    return this.recovery?.parkedSince(since) ?? 0;
  }

  override serverCount(): Promise<number> {
    return Promise.resolve(1 + this.node.peersServing(this.nspName).length);
  }

  override async fetchSockets(opts: BroadcastOptions): Promise<unknown[]> {
    const local = await super.fetchSockets(opts);
    if (opts.flags?.local) return local;
    const peers = this.node.peersServing(this.nspName);
    if (peers.length === 0) return local;
    const timeout = opts.flags?.timeout ?? this.node.requestTimeout;
    return new Promise((resolve, reject) => {
      const remote: RemoteSocket[] = [];
      this.node.requests.request(
        { v: V, type: "fetchSockets", origin: this.node.id, requestId: Requests.newId(), nsp: this.nspName, ...encodeOptions(opts, false) },
        peers,
        timeout,
        (r) => {
          if (r.type === "sockets") for (const s of r.sockets) remote.push(new RemoteSocket(this, r.from, s));
        },
        (missing) => (missing === 0 ? resolve([...local, ...remote]) : reject(timeoutError(peers.length, missing))),
      );
    });
  }

  override addSockets(opts: BroadcastOptions, rooms: Room[]): void {
    super.addSockets(opts, rooms);
    if (!opts.flags?.local)
      this.node.publishSelection({ v: V, type: "addSockets", origin: this.node.id, nsp: this.nspName, ...encodeOptions(opts, false), targets: rooms });
  }

  override delSockets(opts: BroadcastOptions, rooms: Room[]): void {
    super.delSockets(opts, rooms);
    if (!opts.flags?.local)
      this.node.publishSelection({ v: V, type: "delSockets", origin: this.node.id, nsp: this.nspName, ...encodeOptions(opts, false), targets: rooms });
  }

  override disconnectSockets(opts: BroadcastOptions, close: boolean): void {
    super.disconnectSockets(opts, close);
    if (!opts.flags?.local)
      this.node.publishSelection({ v: V, type: "disconnectSockets", origin: this.node.id, nsp: this.nspName, ...encodeOptions(opts, false), close });
  }

  /** Socket.IO semantics: to the other servers only; `ack(err, responses)` with one response per
   *  server, or a timeout error with the responses received so far. */
  override serverSideEmit(args: unknown[], ack?: (err: Error | null, responses: unknown[]) => void): void {
    if (!ack) {
      this.node.publish({ v: V, type: "serverSideEmit", origin: this.node.id, nsp: this.nspName, data: args });
      return;
    }
    const peers = this.node.peersServing(this.nspName);
    if (peers.length === 0) {
      queueMicrotask(() => ack(null, []));
      return;
    }
    const responses: unknown[] = [];
    this.node.requests.request(
      { v: V, type: "serverSideEmit", origin: this.node.id, requestId: Requests.newId(), nsp: this.nspName, data: args },
      peers,
      this.node.requestTimeout,
      (r) => {
        if (r.type === "serverSideEmitAck") responses.push(r.response);
      },
      (missing) => ack(missing === 0 ? null : timeoutError(peers.length, missing), responses),
    );
  }

  /** @internal Operations of a RemoteSocket, sent to the worker that owns the socket. */
  remoteSocketRequest(owner: string, op: RemoteSocketOp): void {
    const base = { v: V, origin: this.node.id, nsp: this.nspName, rooms: [op.id], except: [] as string[] };
    const msg: RequestMessage = op.type === "disconnectSockets" ? { ...base, type: op.type, close: op.close } : { ...base, type: op.type, targets: op.targets };
    this.node.publish(msg, { route: toWorker(owner) });
  }

  /** Peers learn that the sessions about to be parked here are to be asked of this worker. */
  override drain(): Promise<void> {
    return this.node.drain.begin();
  }

  override close(): Promise<void> {
    return this.node.close();
  }

  // ---------- from the other workers (called by the node) ----------

  /** @internal */
  /** Socket.IO's adapters speak through events: "cluster-gap" tells the application that
   *  broadcasts between workers in [gap.from, gap.to] were lost (README "What NATS core does not
   *  promise"). */
  onGap(gap: ClusterGap): void {
    this.emit("cluster-gap", gap);
  }

  onRemoteBroadcast(msg: BroadcastMessage): void {
    const opts = decodeOptions(msg);
    const tag = broadcastTag(msg.origin, msg.seq);
    const frames = framesOf(msg);
    if (frames) this.broadcastFrames(frames, opts, tag);
    else if (Array.isArray(msg.data) && typeof msg.data[0] === "string")
      this.broadcastFrames(this.encode({ type: PacketType.EVENT, nsp: this.nspName, data: msg.data }), opts, tag);
  }

  /** The operations of the other workers on this namespace, carried out here (flagged local by
   *  decodeOptions, so never published again). */
  private handleOperations(): void {
    const node = this.node;
    const on = <T extends Parameters<ClusterNode["handleIn"]>[1]>(type: T, handler: (msg: MessageOf<T>, replyTo: string | undefined) => void) =>
      node.handleIn(this.nspName, type, handler);
    on("fetchSockets", (msg, replyTo) => {
      const sockets: SerializedSocket[] = [];
      this.forEachSocket(decodeOptions(msg), (s) => sockets.push(serializeSocket(s)));
      node.respond(replyTo, { v: V, type: "sockets", from: node.id, requestId: msg.requestId, sockets });
    });
    const membership = (msg: MessageOf<"addSockets" | "delSockets">) =>
      msg.type === "addSockets" ? super.addSockets(decodeOptions(msg), msg.targets) : super.delSockets(decodeOptions(msg), msg.targets);
    on("addSockets", membership);
    on("delSockets", membership);
    on("disconnectSockets", (msg) => super.disconnectSockets(decodeOptions(msg), msg.close));
    // Exact sizes, from this worker's membership as it is now.
    on("countRooms", (msg, replyTo) => {
      if (!Array.isArray(msg.rooms)) return;
      const sizes: [Room, number][] = msg.rooms.map((room) => [room, this.rooms.get(room)?.size ?? 0]);
      node.respond(replyTo, { v: V, type: "roomSizes", from: node.id, requestId: msg.requestId, sizes });
    });
    on("serverSideEmit", (msg, replyTo) => {
      const args = [...msg.data];
      const requestId = msg.requestId;
      if (requestId !== undefined && replyTo) {
        let answered = false;
        args.push((response: unknown) => {
          if (answered) return;
          answered = true;
          node.respond(replyTo, { v: V, type: "serverSideEmitAck", from: node.id, requestId, response });
        });
      }
      try {
        this.nsp.onServerSideEmit(args);
      } catch (err) {
        this.nsp.server.logger.error({ nsp: this.nspName, err }, "a serverSideEmit listener threw");
      }
    });
    on("broadcastWithAck", (msg, replyTo) => {
      const requestId = msg.requestId;
      super.broadcastWithAck(
        { type: PacketType.EVENT, data: msg.data },
        decodeOptions(msg),
        (count) => node.respond(replyTo, { v: V, type: "clientCount", from: node.id, requestId, count }),
        (response) => node.respond(replyTo, { v: V, type: "ack", from: node.id, requestId, response }),
      );
    });
  }
}

/**
 * An adapter constructor bound to cluster options: every Server using it gets one ClusterNode
 * (one relay connection) shared by its namespaces: `new Server({ adapter: createClusterAdapter({ servers }) })`.
 */
export function createClusterAdapter(opts: ClusterOptions): new (nsp: Namespace) => ClusterAdapter {
  const nodes = new WeakMap<Server, ClusterNode>();
  return class extends ClusterAdapter {
    constructor(nsp: Namespace) {
      let node = nodes.get(nsp.server);
      const logger = nsp.server.logger;
      if (!node) {
        // Workers of one cluster must speak one packet format: the node announces its parser's id.
        const parserId = nsp.server.opts.parser?.id ?? DEFAULT_PARSER_ID;
        nodes.set(nsp.server, (node = new ClusterNode({ log: (level, message) => logger[level](message), ...opts }, undefined, parserId)));
        // Polling requests and upgrades for another worker's session go to their owner; a session
        // parked on another worker is asked for there: once per server, for all its namespaces.
        installSessionMobility(nsp.server, node);
      }
      super(nsp, node);
    }
  };
}
