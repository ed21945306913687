// The cluster adapter: the namespace's local adapter plus a relay link (NATS protocol) to the other
// gateway workers. One ClusterNode per Server holds the connection, the worker's identity, the
// live peers (heartbeats), pending requests and the duplicate filter; one ClusterAdapter per
// namespace routes that namespace's broadcasts and cluster-wide operations through it.
//
// Routing by interest: a worker subscribes to a room's subject while it has local members in the
// room (membership's create-room / delete-room), so a broadcast to rooms, published once per
// target room subject, reaches only workers that hold recipients. A receiving worker applies the
// full rooms/except selection to its own membership, locally, and delivers a message it gets
// through several room subjects once (per-origin sequence numbers, see DuplicateFilter).
import { randomBytes } from "node:crypto";
import type { ConnectionOptions } from "nats";
import { Adapter, type BroadcastFlags, type BroadcastOptions } from "../api/adapter.ts";
import { encodePacket, PacketType, type Packet } from "../engine/codec.ts";
import type { Room, SocketId } from "../rooms/types.ts";
import type { Namespace } from "../api/namespace.ts";
import type { Server } from "../api/server.ts";
import type { Socket } from "../api/socket.ts";
import type { Handshake } from "../api/socket-types.ts";
import type { Frame } from "../engine/binary.ts";
import { Link } from "./link.ts";
import {
  decodeMessage,
  DuplicateFilter,
  encodeMessage,
  framesOf,
  PROTOCOL_VERSION as V,
  Subjects,
  type BroadcastMessage,
  type ClusterMessage,
  type PresenceMessage,
  type RequestMessage,
  type ResponseMessage,
  type SerializedSocket,
  type WireFlags,

} from "./protocol.ts";

export interface ClusterOptions {
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
  nats?: Partial<ConnectionOptions>;
  /** Where outage / recovery messages go (default: the server's `logger`). */
  log?: (level: "info" | "warn" | "error", message: string) => void;
}

interface Peer {
  lastSeen: number;
  nsps: Set<string>;
}

interface Pending {
  onResponse(msg: ResponseMessage): void;
}

function wireFlags(flags: BroadcastFlags | undefined): WireFlags | undefined {
  return flags?.volatile ? { volatile: true } : undefined;
}

function newRequestId(): string {
  return randomBytes(8).toString("hex");
}

function serializeSocket(s: Socket): SerializedSocket {
  return { id: s.id, handshake: s.handshake, rooms: [...s.rooms], data: s.data };
}

/** One worker's presence in the cluster (shared by the namespaces of one Server). */
export class ClusterNode {
  readonly id = randomBytes(8).toString("hex");
  readonly subjects: Subjects;
  readonly link: Link;
  readonly requestTimeout: number;
  readonly maxRoomSubjects: number;
  private readonly adapters = new Map<string, ClusterAdapter>();
  private readonly peers = new Map<string, Peer>();
  private readonly pending = new Map<string, Pending>();
  private readonly filter = new DuplicateFilter();
  private readonly heartbeatTimeout: number;
  private readonly timer: NodeJS.Timeout;
  private seq = 0;
  private closing: Promise<void> | null = null;
  /** Counters, for tests and monitoring. */
  readonly stats = { broadcastsIn: 0, duplicatesDropped: 0, broadcastsOut: 0 };

  constructor(readonly opts: ClusterOptions) {
    this.subjects = new Subjects(opts.prefix);
    const interval = opts.heartbeatInterval ?? 5000;
    this.heartbeatTimeout = opts.heartbeatTimeout ?? 2 * interval + 1000;
    this.requestTimeout = opts.requestTimeout ?? 5000;
    this.maxRoomSubjects = opts.maxRoomSubjects ?? 16;
    this.link = new Link({ servers: opts.servers, name: opts.name ?? `roomgate-${process.pid}`, nats: opts.nats, log: opts.log }, (data, reply) =>
      this.onMessage(data, reply),
    );
    this.link.subscribe(this.subjects.heartbeat);
    this.link.subscribe(this.subjects.node(this.id));
    this.link.onConnected(() => this.presence("hello"));
    this.link.onDisconnected(() => this.peers.clear());
    this.timer = setInterval(() => this.tick(), interval);
    this.timer.unref();
  }

  get ready(): Promise<void> {
    return this.link.ready;
  }

  register(adapter: ClusterAdapter): void {
    this.adapters.set(adapter.nspName, adapter);
    this.link.subscribe(this.subjects.all(adapter.nspName));
    this.link.subscribe(this.subjects.requests(adapter.nspName));
    // Peers learn at once that this worker now serves the namespace (it answers its requests).
    if (this.link.connected) this.presence("heartbeat");
  }

  /** Live peers serving `nsp`, as known now. */
  peersServing(nsp: string): string[] {
    const now = Date.now();
    const out: string[] = [];
    for (const [id, p] of this.peers) if (now - p.lastSeen <= this.heartbeatTimeout && p.nsps.has(nsp)) out.push(id);
    return out;
  }

  /** Publishes a broadcast as its encoded frames (receivers deliver the bytes as they are). */
  publishBroadcast(nsp: string, frames: Frame[], opts: BroadcastOptions): void {
    const msg: BroadcastMessage = {
      v: V,
      type: "broadcast",
      origin: this.id,
      seq: ++this.seq,
      nsp,
      rooms: [...opts.rooms],
      except: [...(opts.except ?? [])],
      frames,
    };
    const flags = wireFlags(opts.flags);
    if (flags) msg.flags = flags;
    const payload = this.encode(msg);
    if (!payload) return;
    this.stats.broadcastsOut++;
    if (msg.rooms.length === 0 || msg.rooms.length > this.maxRoomSubjects) this.link.publish(this.subjects.all(nsp), payload);
    else for (const room of msg.rooms) this.link.publish(this.subjects.room(nsp, room), payload);
  }

  /** Publishes a request with no answers expected. */
  publishRequest(msg: RequestMessage, subject = this.subjects.requests(msg.nsp), reply?: string): void {
    const payload = this.encode(msg);
    if (payload) this.link.publish(subject, payload, reply);
  }

  /**
   * Publishes a request answered by `expected` peers: `onResponse` gets each answer from them,
   * `done(missing)` runs once, when all have answered (missing = 0) or at `timeoutMs`.
   */
  request(
    msg: RequestMessage & { requestId: string },
    expected: string[],
    timeoutMs: number,
    // biome-ignore lint/suspicious/noConfusingVoidType: a handler may return nothing (keep waiting) or true (done)
    onResponse: (msg: ResponseMessage) => boolean | void,
    done: (missing: number) => void,
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
    const timer = setTimeout(finish, timeoutMs);
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
    if (!payload || !this.link.publish(this.subjects.requests(msg.nsp), payload, this.subjects.node(this.id))) return finish();
    if (waiting.size === 0) finish();
  }

  /** Keeps a handler for responses to `requestId` for `ttlMs` (broadcast acks arrive late). */
  listen(requestId: string, ttlMs: number, onResponse: (msg: ResponseMessage) => void): void {
    const timer = setTimeout(() => this.pending.delete(requestId), ttlMs);
    timer.unref();
    this.pending.set(requestId, { onResponse });
  }

  respond(reply: string | undefined, msg: ResponseMessage): void {
    if (!reply) return;
    const payload = this.encode(msg);
    if (payload) this.link.publish(reply, payload);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.timer);
      if (this.link.connected) {
        this.presence("bye");
        await this.link.flush(1000);
      }
      await this.link.close();
    })();
    return this.closing;
  }

  private encode(msg: ClusterMessage): Uint8Array | null {
    try {
      return encodeMessage(msg);
    } catch (err) {
      this.link.log("error", `cluster: cannot serialize a ${msg.type} message: ${(err as Error).message}`);
      return null;
    }
  }

  private presence(type: PresenceMessage["type"], subject = this.subjects.heartbeat): void {
    const msg: PresenceMessage = { v: V, type, from: this.id, nsps: [...this.adapters.keys()] };
    this.link.publish(subject, encodeMessage(msg));
  }

  private tick(): void {
    this.presence("heartbeat");
    const now = Date.now();
    for (const [id, p] of this.peers) if (now - p.lastSeen > this.heartbeatTimeout) this.peers.delete(id);
    this.filter.evict(now);
  }

  private onMessage(data: Uint8Array, reply: string | undefined): void {
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
        this.peers.set(msg.from, { lastSeen: Date.now(), nsps: new Set(msg.nsps) });
        // A newcomer (or a worker back from an outage) learns about this one at once.
        if (msg.type === "hello" || !known) this.presence("heartbeat", this.subjects.node(msg.from));
        return;
      }
      case "bye":
        this.peers.delete(msg.from);
        this.filter.forget(msg.from);
        return;
      case "sockets":
      case "serverSideEmitAck":
      case "clientCount":
      case "ack":
        this.pending.get(msg.requestId)?.onResponse(msg);
        return;
      default: {
        if (msg.origin === this.id) return;
        this.adapters.get(msg.nsp)?.onRequest(msg, reply);
      }
    }
  }
}

/** A socket on another worker, as `fetchSockets()` returns it: a snapshot plus operations that the
 *  owning worker carries out. */
export class RemoteSocket {
  readonly id: SocketId;
  readonly handshake: Handshake;
  readonly rooms: Set<Room>;
  readonly data: Record<string, unknown>;

  constructor(
    private readonly adapter: ClusterAdapter,
    private readonly owner: string,
    s: SerializedSocket,
  ) {
    this.id = s.id;
    this.handshake = s.handshake as Handshake;
    this.rooms = new Set(s.rooms);
    this.data = (s.data ?? {}) as Record<string, unknown>;
  }

  emit(ev: string, ...args: unknown[]): boolean {
    if (typeof args[args.length - 1] === "function") throw new Error("roomgate: acknowledgements are not supported on a remote socket");
    this.adapter.broadcast({ type: PacketType.EVENT, data: [ev, ...args] }, { rooms: new Set([this.id]) });
    return true;
  }

  join(rooms: Room | Room[]): void {
    this.adapter.remoteSocketRequest(this.owner, { type: "addSockets", targets: Array.isArray(rooms) ? rooms : [rooms], id: this.id });
  }

  leave(room: Room): void {
    this.adapter.remoteSocketRequest(this.owner, { type: "delSockets", targets: [room], id: this.id });
  }

  disconnect(close = false): this {
    this.adapter.remoteSocketRequest(this.owner, { type: "disconnectSockets", close, id: this.id });
    return this;
  }
}

export class ClusterAdapter extends Adapter {
  readonly node: ClusterNode;

  constructor(nsp: Namespace, node: ClusterNode) {
    super(nsp);
    this.node = node;
    const subjects = node.subjects;
    this.on("create-room", (room: Room) => node.link.subscribe(subjects.room(this.nspName, room)));
    this.on("delete-room", (room: Room) => node.link.unsubscribe(subjects.room(this.nspName, room)));
    node.register(this);
  }

  /** Encoded once: the same frames go to local sockets and, as they are, to the other workers. */
  override broadcast(packet: Omit<Packet, "nsp">, opts: BroadcastOptions): void {
    const frames = encodePacket({ ...packet, nsp: this.nspName });
    this.broadcastFrames(frames, opts);
    if (!opts.flags?.local) this.node.publishBroadcast(this.nspName, frames, opts);
  }

  override broadcastWithAck(packet: Omit<Packet, "nsp">, opts: BroadcastOptions, clientCount: (n: number) => void, ack: (response: unknown) => void): void {
    // Local sockets first (flagged local so that super's broadcast is not published).
    super.broadcastWithAck(packet, { ...opts, flags: { ...opts.flags, local: true } }, clientCount, ack);
    if (opts.flags?.local) return;
    const peers = this.node.peersServing(this.nspName);
    if (peers.length === 0) return;
    const requestId = newRequestId();
    const answered = new Set<string>();
    const expected = new Set(peers);
    // Answers stay welcome as long as the emitter may wait for them.
    this.node.listen(requestId, (opts.flags?.timeout ?? 60_000) + 1000, (r) => {
      if (!expected.has(r.from)) return;
      if (r.type === "clientCount" && !answered.has(r.from)) {
        answered.add(r.from);
        clientCount(r.count);
      } else if (r.type === "ack" && answered.has(r.from)) {
        ack(r.response);
      }
    });
    this.node.publishRequest(
      {
        v: V,
        type: "broadcastWithAck",
        origin: this.node.id,
        requestId,
        nsp: this.nspName,
        rooms: [...opts.rooms],
        except: [...(opts.except ?? [])],
        ...(wireFlags(opts.flags) ? { flags: wireFlags(opts.flags) } : {}),
        data: packet.data as unknown[],
      },
      this.node.subjects.requests(this.nspName),
      this.node.subjects.node(this.node.id),
    );
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
      this.node.request(
        {
          v: V,
          type: "fetchSockets",
          origin: this.node.id,
          requestId: newRequestId(),
          nsp: this.nspName,
          rooms: [...opts.rooms],
          except: [...(opts.except ?? [])],
        },
        peers,
        timeout,
        (r) => {
          if (r.type === "sockets") for (const s of r.sockets) remote.push(new RemoteSocket(this, r.from, s));
        },
        (missing) => {
          if (missing === 0) resolve([...local, ...remote]);
          else reject(new Error(`timeout reached: only ${peers.length - missing} responses received out of ${peers.length}`));
        },
      );
    });
  }

  override addSockets(opts: BroadcastOptions, rooms: Room[]): void {
    super.addSockets(opts, rooms);
    if (!opts.flags?.local)
      this.node.publishRequest({
        v: V,
        type: "addSockets",
        origin: this.node.id,
        nsp: this.nspName,
        rooms: [...opts.rooms],
        except: [...(opts.except ?? [])],
        targets: rooms,
      });
  }

  override delSockets(opts: BroadcastOptions, rooms: Room[]): void {
    super.delSockets(opts, rooms);
    if (!opts.flags?.local)
      this.node.publishRequest({
        v: V,
        type: "delSockets",
        origin: this.node.id,
        nsp: this.nspName,
        rooms: [...opts.rooms],
        except: [...(opts.except ?? [])],
        targets: rooms,
      });
  }

  override disconnectSockets(opts: BroadcastOptions, close: boolean): void {
    super.disconnectSockets(opts, close);
    if (!opts.flags?.local)
      this.node.publishRequest({
        v: V,
        type: "disconnectSockets",
        origin: this.node.id,
        nsp: this.nspName,
        rooms: [...opts.rooms],
        except: [...(opts.except ?? [])],
        close,
      });
  }

  /** Socket.IO semantics: to the other servers only; `ack(err, responses)` with one response per
   *  server, or a timeout error with the responses received so far. */
  override serverSideEmit(args: unknown[], ack?: (err: Error | null, responses: unknown[]) => void): void {
    if (!ack) {
      this.node.publishRequest({ v: V, type: "serverSideEmit", origin: this.node.id, nsp: this.nspName, data: args });
      return;
    }
    const peers = this.node.peersServing(this.nspName);
    if (peers.length === 0) {
      queueMicrotask(() => ack(null, []));
      return;
    }
    const responses: unknown[] = [];
    this.node.request(
      { v: V, type: "serverSideEmit", origin: this.node.id, requestId: newRequestId(), nsp: this.nspName, data: args },
      peers,
      this.node.requestTimeout,
      (r) => {
        if (r.type === "serverSideEmitAck") responses.push(r.response);
      },
      (missing) =>
        ack(missing === 0 ? null : new Error(`timeout reached: only ${peers.length - missing} responses received out of ${peers.length}`), responses),
    );
  }

  /** Operations of a RemoteSocket, sent to the worker that owns the socket. */
  remoteSocketRequest(
    owner: string,
    op: { type: "addSockets" | "delSockets"; targets: Room[]; id: SocketId } | { type: "disconnectSockets"; close: boolean; id: SocketId },
  ): void {
    const base = { v: V, origin: this.node.id, nsp: this.nspName, rooms: [op.id], except: [] as string[] };
    const msg: RequestMessage = op.type === "disconnectSockets" ? { ...base, type: op.type, close: op.close } : { ...base, type: op.type, targets: op.targets };
    this.node.publishRequest(msg, this.node.subjects.node(owner));
  }

  override close(): Promise<void> {
    return this.node.close();
  }

  // ---------- from the relay ----------

  onRemoteBroadcast(msg: BroadcastMessage): void {
    const opts: BroadcastOptions = { rooms: new Set(msg.rooms), except: new Set(msg.except), flags: { volatile: !!msg.flags?.volatile, local: true } };
    const frames = framesOf(msg);
    if (frames) this.broadcastFrames(frames, opts);
    else if (Array.isArray(msg.data) && typeof msg.data[0] === "string") super.broadcast({ type: PacketType.EVENT, data: msg.data }, opts);
  }

  onRequest(msg: RequestMessage, reply: string | undefined): void {
    const node = this.node;
    switch (msg.type) {
      case "fetchSockets": {
        const sockets: SerializedSocket[] = [];
        this.forEachSocket({ rooms: new Set(msg.rooms), except: new Set(msg.except) }, (s) => sockets.push(serializeSocket(s)));
        node.respond(reply, { v: V, type: "sockets", from: node.id, requestId: msg.requestId, sockets });
        return;
      }
      case "addSockets":
        super.addSockets({ rooms: new Set(msg.rooms), except: new Set(msg.except) }, msg.targets);
        return;
      case "delSockets":
        super.delSockets({ rooms: new Set(msg.rooms), except: new Set(msg.except) }, msg.targets);
        return;
      case "disconnectSockets":
        super.disconnectSockets({ rooms: new Set(msg.rooms), except: new Set(msg.except) }, msg.close);
        return;
      case "serverSideEmit": {
        const args = [...msg.data];
        const requestId = msg.requestId;
        if (requestId !== undefined && reply) {
          let answered = false;
          args.push((response: unknown) => {
            if (answered) return;
            answered = true;
            node.respond(reply, { v: V, type: "serverSideEmitAck", from: node.id, requestId, response });
          });
        }
        try {
          this.nsp.onServerSideEmit(args);
        } catch (err) {
          this.nsp.server.logger.error({ nsp: this.nspName, err }, "a serverSideEmit listener threw");
        }
        return;
      }
      case "broadcastWithAck": {
        const requestId = msg.requestId;
        super.broadcastWithAck(
          { type: PacketType.EVENT, data: msg.data },
          { rooms: new Set(msg.rooms), except: new Set(msg.except), flags: { volatile: !!msg.flags?.volatile, local: true } },
          (count) => node.respond(reply, { v: V, type: "clientCount", from: node.id, requestId, count }),
          (response) => node.respond(reply, { v: V, type: "ack", from: node.id, requestId, response }),
        );
        return;
      }
    }
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
      if (!node) nodes.set(nsp.server, (node = new ClusterNode({ log: (level, message) => logger[level](message), ...opts })));
      super(nsp, node);
    }
  };
}
