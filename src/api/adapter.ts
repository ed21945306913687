// The adapter of one namespace: membership plus the operations Socket.IO routes through its
// adapter (broadcast, broadcast with acks, fetch/join/leave/disconnect by selection). The cluster
// adapter extends it and forwards the same operations to other workers.
import { forEachBit } from "../rooms/bitset.ts";
import { randomId } from "../engine/ids.ts";
import type { Frame } from "../engine/binary.ts";
import { encodePacket, type Packet } from "../engine/codec.ts";
import type { PacketParser } from "../engine/parser.ts";
import { takesVolatile } from "../engine/transports/transport.ts";
import { closeInSlices } from "../engine/slices.ts";
import { Membership } from "../rooms/membership.ts";
import { type Planner, selectRecipients } from "../rooms/planner.ts";
import type { Delivery } from "../rooms/delivery.ts";
import type { Room, SocketId } from "../rooms/types.ts";
import type { Namespace } from "./namespace.ts";
import { SessionRecovery, type RestoredSession, type SessionToPersist } from "./recovery/session-recovery.ts";
import type { Socket } from "./socket.ts";

export interface BroadcastFlags {
  volatile?: boolean;
  /** false: send uncompressed even when permessage-deflate is on. */
  compress?: boolean;
  local?: boolean;
  timeout?: number;
}

export interface BroadcastOptions {
  rooms: Set<Room>;
  except?: Set<Room>;
  flags?: BroadcastFlags;
  /** The emitting socket, when the broadcast comes from `socket.to/broadcast` (it is in `except`). */
  sender?: Socket;
}

const NONE: ReadonlySet<Room> = new Set();

/** What an adapter needs of the server besides its namespace: the planner and the delivery
 *  layer that every namespace of one server shares. */
export interface DeliveryHost {
  readonly planner: Planner;
  readonly delivery: Delivery;
  /** Marks frames for permessage-deflate (a no-op when it is off or the emit said compress(false)). */
  markCompressed(frames: readonly Frame[], compress: boolean | undefined): readonly Frame[];
}

export class Adapter extends Membership<Socket> {
  /** @internal */
  protected readonly host: DeliveryHost;
  /** Connection-state recovery (its log and parked sessions); null when the option is off. */
  readonly recovery: SessionRecovery | null = null;
  /** @internal The server's custom parser (Socket.IO's `parser` option), or null for the built-in
   *  codec: the branch is taken once per broadcast, never per recipient. */
  readonly parser: PacketParser | null;

  constructor(readonly nsp: Namespace) {
    super(nsp.name, nsp.server.opts.derivedTopics);
    this.host = nsp.server;
    const opts = nsp.server.opts;
    this.parser = opts.parser;
    if (opts.connectionStateRecovery) {
      const server = nsp.server;
      const recovery = new SessionRecovery(
        nsp.name,
        opts.connectionStateRecovery,
        opts.pingInterval + opts.pingTimeout,
        () => server.remoteSessions,
        Date.now,
        opts.parser?.offsets,
      );
      this.recovery = recovery;
      this.on("join-room", (room: Room, id: SocketId) => recovery.noteMembership(id, room, true));
      this.on("leave-room", (room: Room, id: SocketId) => recovery.noteMembership(id, room, false));
    }
  }

  /** Encodes once, plans once, delivers once per recipient. */
  broadcast(packet: Omit<Packet, "nsp">, opts: BroadcastOptions): void {
    this.broadcastFrames(this.encode({ type: packet.type, nsp: this.nspName, id: packet.id, data: packet.data }), opts);
  }

  /** @internal A packet in this server's format: the built-in codec's, or the custom parser's. */
  encode(packet: Packet): Frame[] {
    const parser = this.parser;
    return parser === null ? encodePacket(packet) : parser.encode(packet);
  }

  /** Plans and delivers frames already encoded for this namespace (the cluster adapter forwards
   *  them between workers as they are). `tag`: the broadcast's identity across workers, kept with
   *  it in the recovery log (see SessionRecovery.replay). */
  protected broadcastFrames(frames: readonly Frame[], opts: BroadcastOptions, tag: string | null = null): void {
    const except = opts.except ?? NONE;
    // With recovery on, an event is recorded and gets its offset here, once for every recipient.
    if (this.recovery !== null) frames = this.recovery.record(frames, opts.rooms, except, !!opts.flags?.volatile, tag);
    // Published from the sender's connection (uWS skips it) only when its own room is excluded
    // and still holds it: a socket may leave its own room, and then it is not excluded.
    const s = opts.sender;
    const sender = s?.connected && !s.transport.closed && except.has(s.id) && this.sids.get(s.id)?.has(s.id) ? s : undefined;
    const plan = this.host.planner.plan(this, {
      rooms: opts.rooms,
      except,
      senderSlot: sender ? sender.slot : -1,
      senderId: sender?.id,
    });
    this.host.markCompressed(frames, opts.flags?.compress);
    this.host.delivery.execute(this, plan, frames, sender?.transport ?? null, !!opts.flags?.volatile);
  }

  /**
   * Broadcast whose recipients answer: `clientCount` is called once with the number of sockets
   * reached here, `ack` once per response.
   */
  broadcastWithAck(packet: Omit<Packet, "nsp">, opts: BroadcastOptions, clientCount: (n: number) => void, ack: (response: unknown) => void): void {
    const id = this.nsp.nextAckId();
    let count = 0;
    this.forEachSocket(opts, (socket) => {
      if (opts.flags?.volatile && !takesVolatile(socket.transport)) return;
      socket.registerAck(id, (...args: unknown[]) => ack(args[0]));
      count++;
    });
    clientCount(count);
    this.broadcast({ ...packet, id }, opts);
  }

  /** Connection-state recovery: keeps a dropped socket's session (Socket.IO's adapter hook). */
  persistSession(session: SessionToPersist): void {
    this.recovery?.persistSession(session);
  }

  /** Connection-state recovery: the session `pid` with what it missed after `offset`, or null
   *  (Socket.IO's adapter hook; in a cluster, other workers are asked too: SessionRecovery). */
  restoreSession(pid: unknown, offset: unknown): RestoredSession | null | Promise<RestoredSession | null> {
    return this.recovery?.restoreSession(pid, offset) ?? null;
  }

  /** Socket.IO's signature: what `socket.join` returns. Nothing to wait for on a single server; a
   *  cluster adapter's promise resolves once every worker routes the new rooms' broadcasts here. */
  override addAll(id: SocketId, rooms: Iterable<Room>): Promise<void> | void {
    super.addAll(id, rooms);
  }

  override add(id: SocketId, room: Room): Promise<void> | void {
    super.add(id, room);
  }

  /** The id of a new socket of this namespace: random and unguessable (a cluster adapter puts its
   *  worker's id in front, to route private messages to the owner). */
  newSocketId(): string {
    return randomId();
  }

  /** Called once the namespace has made the adapter (Socket.IO's adapter hook; nothing to do locally). */
  init(): Promise<void> | void {}

  /** Called by `io.close()` before any client is cut off (a draining worker): a cluster adapter
   *  tells its peers here that the sessions about to be parked are to be asked of this worker. */
  drain(): Promise<void> | void {}

  /** Called by `io.close()`: a cluster adapter leaves the cluster here. */
  close(): Promise<void> | void {}

  serverCount(): Promise<number> {
    return Promise.resolve(1);
  }

  async sockets(rooms: Set<Room>): Promise<Set<SocketId>> {
    const ids = new Set<SocketId>();
    this.forEachSocket({ rooms }, (s) => ids.add(s.id));
    return ids;
  }

  async fetchSockets(opts: BroadcastOptions): Promise<unknown[]> {
    const out: Socket[] = [];
    this.forEachSocket(opts, (s) => out.push(s));
    return out;
  }

  addSockets(opts: BroadcastOptions, rooms: Room[]): void {
    this.forEachSocket(opts, (s) => s.join(rooms));
  }

  delSockets(opts: BroadcastOptions, rooms: Room[]): void {
    this.forEachSocket(opts, (s) => rooms.forEach((r) => s.leave(r)));
  }

  /** The first slice of sockets disconnects now, the rest over the next event-loop turns (thousands
   *  at once held the loop for hundreds of ms); a socket already gone by its turn is skipped. */
  disconnectSockets(opts: BroadcastOptions, close: boolean): void {
    void closeInSlices(this.selectSockets(opts), (s) => s.disconnect(close));
  }

  /** With a single server there is nobody to tell; the cluster adapter overrides this. */
  serverSideEmit(_args: unknown[], ack?: (err: Error | null, responses: unknown[]) => void): void {
    if (ack) queueMicrotask(() => ack(null, []));
  }

  protected forEachSocket(opts: Pick<BroadcastOptions, "rooms" | "except">, fn: (socket: Socket) => void): void {
    // Collected first: `fn` may change membership (join, leave, disconnect).
    for (const s of this.selectSockets(opts)) fn(s);
  }

  protected selectSockets(opts: Pick<BroadcastOptions, "rooms" | "except">): Socket[] {
    const slots = selectRecipients(this, opts.rooms, opts.except ?? NONE);
    const selected: Socket[] = [];
    forEachBit(slots, (slot) => {
      const s = this.memberAt(slot);
      if (s) selected.push(s);
    });
    return selected;
  }
}

export type AdapterConstructor = new (nsp: Namespace) => Adapter;
