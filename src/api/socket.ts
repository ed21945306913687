// A client's connection to one namespace: Socket.IO's server-side Socket (events both ways, acks,
// per-packet middlewares, catch-all listeners both ways, rooms), typed by Socket.IO's event maps.
// To its session (engine/) it is a SessionSocket (packets in, close); to membership (rooms/) a
// Member with a slot and a transport. Knows no cluster.
import { randomId } from "../engine/ids.ts";
import { BroadcastOperator } from "./broadcast.ts";
import { assertEmittable, assertTimeout, RESERVED_EVENTS, type Event, type SocketReservedEventsMap } from "./socket-types.ts";
import { encodePacket, PacketType, type Packet } from "../engine/codec.ts";
import type { Frame } from "../engine/binary.ts";
import { isRecoverable } from "./recovery/options.ts";
import type { RestoredSession } from "./recovery/session-recovery.ts";
import { ProtocolError } from "../engine/protocol-error.ts";
import { assertRoomName, type Room } from "../rooms/types.ts";
import type { Namespace } from "./namespace.ts";
import type { Connection } from "../engine/connection.ts";
import type { Transport } from "../engine/transports/transport.ts";
import type { DisconnectReason } from "../engine/connection.ts";
import type { MovedSocket } from "../engine/session-router.ts";
import type { Adapter } from "./adapter.ts";
import type { Handshake } from "../engine/handshake.ts";
import { engineSocketOf, type EngineSocket } from "./engine-socket.ts";
import { StrictEventEmitter } from "./strict-event-emitter.ts";
import type {
  AllButLast,
  DecorateAcknowledgements,
  DecorateAcknowledgementsWithMultipleResponses,
  DefaultEventsMap,
  EventNames,
  EventNamesWithAck,
  EventParams,
  EventsMap,
  FirstNonErrorArg,
  Last,
} from "./typed-events.ts";

type AnyListener = (...args: any[]) => void;
type Ack = (...args: unknown[]) => void;
type PacketMiddleware = (event: Event, next: (err?: Error) => void) => void;

/** Listener table of a socket's EventEmitter: without a prototype chain, like Node's own, but
 *  made by a constructor so V8 keeps it in fast mode (Node's `{ __proto__: null }` starts as a
 *  dictionary: 184 B for a socket's first listener, against 32 B). */
function ListenerTable(): void {}
ListenerTable.prototype = Object.create(null);

/** Rarely used per-socket state, in one object made on first use: most sockets of a fan-out
 *  gateway never need it, and memory per connection is a target. */
interface Extras {
  anyListeners?: AnyListener[];
  anyOutgoing?: AnyListener[];
  middlewares?: PacketMiddleware[];
}

/** A socket's connection-state-recovery session (only with the option on). */
interface RecoverySession {
  /** Private session id, sent to the client only (in its CONNECT reply). */
  readonly pid: string;
  readonly recovered: boolean;
  /** Log position from which the client may have missed events (its connect or restore). */
  since: number;
}

export class Socket<
  ListenEvents extends EventsMap = DefaultEventsMap,
  EmitEvents extends EventsMap = ListenEvents,
  ServerSideEvents extends EventsMap = DefaultEventsMap,
  SocketData = any,
> extends StrictEventEmitter<ListenEvents, EmitEvents, SocketReservedEventsMap> {
  /** Random, unguessable, unique (made by the adapter); also the name of the socket's own room. Kept by a recovered socket. */
  readonly id: string;
  connected = false;
  /** null unless connection-state recovery is on: one field, memory per connection is a target. */
  private resume: RecoverySession | null = null;
  /** @internal Dense slot in the namespace's membership (assigned on connect, recycled after). */
  slot = -1;
  private acks: Map<number, Ack> | null = null;
  private extras: Extras | null = null;
  /** Modifiers for the next emit only (timeout, volatile); null when none. */
  private flags: { volatile?: boolean; timeout?: number; compress?: boolean } | null = null;
  private dataObject: SocketData | null = null;

  constructor(
    readonly nsp: Namespace<ListenEvents, EmitEvents, ServerSideEvents, SocketData>,
    /** @internal The engine's session this socket rides on (Socket.IO's `socket.conn` is a view of it). */
    readonly session: Connection,
    readonly handshake: Handshake,
    restored?: RestoredSession | null,
  ) {
    super();
    (this as unknown as { _events: object })._events = new (ListenerTable as unknown as new () => object)();
    this.id = restored ? restored.id : nsp.adapter.newSocketId();
    if (restored) {
      this.resume = { pid: restored.pid, recovered: true, since: 0 };
      this.dataObject = restored.data as SocketData;
    } else if (nsp.adapter.recovery !== null) this.resume = { pid: randomId(), recovered: false, since: 0 };
  }

  /** Whether the connection state was recovered after a temporary disconnection (Socket.IO's
   *  `recovered`): same id, rooms and data, and the events missed meanwhile are on their way. */
  get recovered(): boolean {
    return this.resume?.recovered ?? false;
  }

  /** roomgate's: true from `disconnecting` on when the session is not ending but moving to another
   *  worker (its WebSocket upgrade landed there): it goes on there, with `recovered === true`. An
   *  application that tells others when a user leaves skips these. */
  get moved(): boolean {
    return this.movedAway === true;
  }

  /** Set at the move only: a field every socket carries would cost memory for a rare event. */
  private declare movedAway?: true;

  /** @internal The private session id (connection-state recovery), or undefined when it is off. */
  get pid(): string | undefined {
    return this.resume?.pid;
  }

  /** Anything the application keeps with the socket (made when first read). */
  get data(): SocketData {
    return (this.dataObject ??= {} as SocketData);
  }

  set data(value: SocketData) {
    this.dataObject = value;
  }

  get disconnected(): boolean {
    return !this.connected;
  }

  /** Socket.IO's `socket.conn`: the client's Engine.IO session (`conn.transport.name`, `conn.id`). */
  get conn(): EngineSocket {
    return engineSocketOf(this.session);
  }

  /** @internal */
  get transport(): Transport {
    return this.session.transport;
  }

  /** @internal */
  get adapter(): Adapter {
    return this.nsp.adapter;
  }

  get rooms(): Set<Room> {
    return this.adapter.socketRooms(this.id) ?? new Set();
  }

  /** Joins rooms; a no-op once disconnected. Throws TypeError on an invalid room name (longer than
   *  maxRoomNameLength included) and RangeError past maxRoomsPerSocket; a list is joined whole or
   *  not at all. In a cluster, the promise resolves once every worker routes the new rooms'
   *  broadcasts here (await it before telling anyone to broadcast to the room). */
  join(rooms: Room | Room[]): Promise<void> | void {
    if (!Array.isArray(rooms)) {
      this.assertJoinable(rooms);
      if (!this.connected) return;
      this.assertRoomBudget([rooms]);
      return this.adapter.add(this.id, rooms);
    }
    for (const room of rooms) this.assertJoinable(room);
    if (!this.connected) return;
    this.assertRoomBudget(rooms);
    return this.adapter.addAll(this.id, rooms);
  }

  /** assertRoomName with this server's maxRoomNameLength; a name over it is counted as that limit hit. */
  private assertJoinable(room: Room): void {
    const max = this.nsp.server.opts.maxRoomNameLength;
    try {
      assertRoomName(room, max);
    } catch (err) {
      if (typeof room === "string" && room.length > max) this.nsp.server.stats.limitsHit.maxRoomNameLength++;
      throw err;
    }
  }

  /** 100k rooms on one socket cost 40 MB (issue #13): a socket's rooms are bounded. */
  private assertRoomBudget(rooms: Room[]): void {
    const joined = this.adapter.socketRooms(this.id);
    const max = this.nsp.server.opts.maxRoomsPerSocket;
    const size = joined?.size ?? 0;
    if (size + rooms.length <= max) return;
    const added = new Set(rooms.filter((r) => !joined?.has(r))).size;
    if (size + added <= max) return;
    this.nsp.server.stats.limitsHit.maxRoomsPerSocket++;
    throw new RangeError(`socket ${this.id} would be in ${size + added} rooms; maxRoomsPerSocket is ${max}`);
  }

  leave(room: Room): void {
    assertRoomName(room, this.nsp.server.opts.maxRoomNameLength);
    if (!this.connected) return;
    this.adapter.del(this.id, room);
  }

  override emit<Ev extends EventNames<EmitEvents>>(ev: Ev, ...args: EventParams<EmitEvents, Ev>): boolean {
    assertEmittable(ev);
    const flags = this.flags;
    this.flags = null;
    const data: unknown[] = [ev, ...args];
    const packet: Omit<Packet, "nsp"> = { type: PacketType.EVENT, data };
    if (typeof data[data.length - 1] === "function") {
      const id = this.nsp.nextAckId();
      packet.id = id;
      this.registerAck(id, data.pop() as Ack, flags?.timeout);
    }
    const outgoing = this.extras?.anyOutgoing;
    if (outgoing) this.guard(() => outgoing.slice().forEach((l) => l(...data)));
    if (flags?.volatile && this.transport.congested) {
      this.nsp.server.delivery.stats.volatileDropped++;
      return true;
    }
    this.sendPacket(packet, !flags?.volatile, flags?.compress);
    return true;
  }

  emitWithAck<Ev extends EventNamesWithAck<EmitEvents>>(
    ev: Ev,
    ...args: AllButLast<EventParams<EmitEvents, Ev>>
  ): Promise<FirstNonErrorArg<Last<EventParams<EmitEvents, Ev>>>> {
    const withTimeout = this.flags?.timeout !== undefined;
    return new Promise((resolve, reject) => {
      const ack = (...reply: any[]) => {
        if (!withTimeout) return resolve(reply[0]);
        const [err, value] = reply;
        if (err) reject(err);
        else resolve(value);
      };
      (this.emit as (ev: string, ...a: unknown[]) => boolean)(ev as string, ...args, ack);
    });
  }

  /** Sends a `message` event (Socket.IO's `send`). */
  send(...args: EventParams<EmitEvents, "message">): this {
    (this.emit as (ev: string, ...a: unknown[]) => boolean)("message", ...args);
    return this;
  }

  /** Same as send. */
  write(...args: EventParams<EmitEvents, "message">): this {
    return this.send(...args);
  }

  /** The next emit's acknowledgement fails with an error after `ms`; callback is `(err, ...args)`. */
  timeout(ms: number): Socket<ListenEvents, DecorateAcknowledgements<EmitEvents>, ServerSideEvents, SocketData> {
    assertTimeout(ms);
    (this.flags ??= {}).timeout = ms;
    return this as unknown as Socket<ListenEvents, DecorateAcknowledgements<EmitEvents>, ServerSideEvents, SocketData>;
  }

  get volatile(): this {
    (this.flags ??= {}).volatile = true;
    return this;
  }

  /** compress(false): the next emit goes uncompressed even when permessage-deflate is on. */
  compress(compress: boolean): this {
    (this.flags ??= {}).compress = compress;
    return this;
  }

  to(room: Room | Room[]): BroadcastOperator<DecorateAcknowledgementsWithMultipleResponses<EmitEvents>, SocketData> {
    return this.broadcast.to(room);
  }

  in(room: Room | Room[]): BroadcastOperator<DecorateAcknowledgementsWithMultipleResponses<EmitEvents>, SocketData> {
    return this.to(room);
  }

  except(room: Room | Room[]): BroadcastOperator<DecorateAcknowledgementsWithMultipleResponses<EmitEvents>, SocketData> {
    return this.broadcast.except(room);
  }

  /** Everybody in the namespace but this socket. */
  get broadcast(): BroadcastOperator<DecorateAcknowledgementsWithMultipleResponses<EmitEvents>, SocketData> {
    return new BroadcastOperator(this.adapter, new Set(), new Set([this.id]), {}, this as Socket);
  }

  get local(): BroadcastOperator<DecorateAcknowledgementsWithMultipleResponses<EmitEvents>, SocketData> {
    return this.broadcast.local;
  }

  /** A per-packet middleware: runs for every event from the client, before its listeners (and
   *  after the catch-all ones, as in Socket.IO). `next(err)` drops the event and emits `error`. */
  use(fn: PacketMiddleware): this {
    ((this.extras ??= {}).middlewares ??= []).push(fn);
    return this;
  }

  onAny(listener: AnyListener): this {
    ((this.extras ??= {}).anyListeners ??= []).push(listener);
    return this;
  }

  prependAny(listener: AnyListener): this {
    ((this.extras ??= {}).anyListeners ??= []).unshift(listener);
    return this;
  }

  offAny(listener?: AnyListener): this {
    removeListener(this.extras, "anyListeners", listener);
    return this;
  }

  listenersAny(): AnyListener[] {
    return [...(this.extras?.anyListeners ?? [])];
  }

  /** A catch-all listener of the events this socket sends its client (not of broadcasts). */
  onAnyOutgoing(listener: AnyListener): this {
    ((this.extras ??= {}).anyOutgoing ??= []).push(listener);
    return this;
  }

  prependAnyOutgoing(listener: AnyListener): this {
    ((this.extras ??= {}).anyOutgoing ??= []).unshift(listener);
    return this;
  }

  offAnyOutgoing(listener?: AnyListener): this {
    removeListener(this.extras, "anyOutgoing", listener);
    return this;
  }

  listenersAnyOutgoing(): AnyListener[] {
    return [...(this.extras?.anyOutgoing ?? [])];
  }

  /** Disconnects from this namespace; with `close`, closes the whole underlying connection. Either
   *  way each namespace socket of it sends its client a DISCONNECT first (in onclose), as Socket.IO
   *  does: the client hears "io server disconnect" and does not reconnect, and what was emitted
   *  before still reaches it (the transport closes only after it). */
  disconnect(close = false): this {
    if (!this.connected) return this;
    if (close) this.session.close("server namespace disconnect");
    else this.onclose("server namespace disconnect");
    return this;
  }

  // ---------- internal: called by the namespace, connection and adapter (not public API) ----------

  /** @internal Queues one packet of this namespace for this socket's client. `record`: an event to
   *  keep for connection-state recovery (when on; Socket.IO records every socket.emit that is
   *  neither volatile nor awaiting an ack). `compress: false` skips permessage-deflate. */
  sendPacket(packet: Omit<Packet, "nsp">, record = false, compress?: boolean): void {
    const adapter = this.adapter;
    const parser = adapter.parser;
    const p: Packet = { type: packet.type, nsp: this.nsp.name, id: packet.id, data: packet.data };
    let frames: readonly Frame[] = this.nsp.server.markCompressed(parser === null ? encodePacket(p) : parser.encode(p), compress);
    const recovery = adapter.recovery;
    if (record && recovery !== null) frames = recovery.recordDirect(this.id, frames);
    this.nsp.server.delivery.enqueue(this.adapter, this, frames);
  }

  /** @internal Connected (or restored): events the client may miss from now on are the log's from here. */
  markRecoveryPoint(): void {
    if (this.resume !== null) this.resume.since = this.adapter.recovery!.position;
  }

  /** @internal */
  registerAck(id: number, fn: Ack, timeout?: number): void {
    if (timeout === undefined) {
      (this.acks ??= new Map()).set(id, fn);
      return;
    }
    const timer = setTimeout(() => {
      this.acks?.delete(id);
      this.nsp.server.stats.acksTimedOut++;
      fn(new Error("operation has timed out"));
    }, timeout);
    (this.acks ??= new Map()).set(id, (...args: unknown[]) => {
      clearTimeout(timer);
      fn(null, ...args);
    });
  }

  /** @internal An EVENT or ACK from the client, already decoded and with attachments in place. */
  onpacket(packet: Packet): void {
    const args = packet.data as unknown[];
    if (packet.type === PacketType.ACK || packet.type === PacketType.BINARY_ACK) {
      const ack = this.acks?.get(packet.id!);
      if (!ack) return;
      this.acks!.delete(packet.id!);
      this.guard(() => ack(...args));
      return;
    }
    // Socket.IO's parser refuses these names: they would run the application's own handlers
    // (a false `disconnect`, say). The engine closes the client with a parse error.
    if (RESERVED_EVENTS.has(args[0] as string)) throw new ProtocolError(`reserved event name ${JSON.stringify(args[0])}`);
    if (packet.id !== undefined) args.push(this.ackSender(packet.id));
    const extras = this.extras;
    if (extras === null) return this.guard(() => this.emitUntyped(String(args[0]), ...args.slice(1)));
    if (extras.anyListeners) this.guard(() => extras.anyListeners!.slice().forEach((l) => l(...args)));
    if (!extras.middlewares) return this.guard(() => this.emitUntyped(String(args[0]), ...args.slice(1)));
    this.runMiddlewares(args as Event, (err) => {
      if (err) return this.guard(() => this.emitReserved("error", err));
      if (this.connected) this.guard(() => this.emitUntyped(String(args[0]), ...args.slice(1)));
    });
  }

  /** @internal Leaves every room: `disconnecting` sees them, `disconnect` sees none. */
  onclose(reason: DisconnectReason): void {
    if (!this.connected) return;
    // The server ends it (disconnect(), disconnect(true) for every socket of the session): the
    // client is told, before `disconnecting` handlers run, in Socket.IO's order.
    if (reason === "server namespace disconnect") this.sendPacket({ type: PacketType.DISCONNECT });
    this.guard(() => this.emitReserved("disconnecting", reason));
    // uWS frees a connection's topic subscriber, dropping topic messages it has not yet drained,
    // when its last topic is unsubscribed; a direct send drains them first, so write the queue now.
    this.transport.flush();
    const resume = this.resume;
    if (resume !== null && isRecoverable(reason))
      this.adapter.persistSession({
        id: this.id,
        pid: resume.pid,
        rooms: [...this.rooms],
        data: this.dataObject,
        since: resume.since,
        lastPongAt: this.session.lastPongAt,
      });
    this.adapter.removeMember(this as Socket);
    this.nsp.removeSocket(this);
    this.session.removeSocket(this);
    this.connected = false;
    this.acks = null;
    this.guard(() => this.emitReserved("disconnect", reason));
  }

  /** @internal Whether the session can move to another worker: only a recoverable one can (the
   *  new worker restores it from its parked state). */
  get movable(): boolean {
    return this.connected && this.resume !== null;
  }

  /** @internal The session moves to another worker at its upgrade: everything recorded so far
   *  reached the client or goes along in the polling buffer, so the parked session misses only what
   *  comes from now on; then it disconnects here ("transport close"), parked for the new worker. */
  handOff(): MovedSocket {
    const resume = this.resume!;
    resume.since = this.adapter.recovery!.position;
    const auth = this.handshake.auth;
    this.movedAway = true;
    this.onclose("transport close");
    return { nsp: this.nsp.name, pid: resume.pid, auth };
  }

  /** @internal The connection upgraded from polling: this socket's rooms now reach it by native
   *  publish. `unsent`: what polling had not delivered (now on the WebSocket); every event sent
   *  before reached the client, so a later recovery does not replay it. That matters for a client
   *  closed during its upgrade: socket.io-client takes in the poll response its upgrade waits for
   *  after its socket has disconnected, buffers those events for its next connect, and reconnects
   *  with an offset from before them (measured: 2 of 25 property runs under load got one twice). */
  ontransportchange(unsent: readonly Frame[]): void {
    if (!this.connected) return;
    if (this.resume !== null) this.resume.since = Math.max(this.resume.since, this.adapter.recovery!.pendingFrom(unsent));
    this.adapter.transportChanged(this);
  }

  /** @internal A user's handler that throws is reported, never allowed to take the process down. */
  guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      if (this.listenerCount("error") > 0) this.emitReserved("error", err as Error);
      else this.nsp.server.logger.error({ sid: this.id, nsp: this.nsp.name, err }, "a socket handler threw");
    }
  }

  private runMiddlewares(event: Event, done: (err?: Error) => void): void {
    const fns = this.extras!.middlewares!.slice();
    const run = (i: number): void => {
      if (i === fns.length) return done();
      let called = false;
      const next = (err?: Error) => {
        if (called) return;
        called = true;
        if (err) done(err instanceof Error ? err : new Error(String(err)));
        else run(i + 1);
      };
      try {
        fns[i](event, next);
      } catch (err) {
        next(err instanceof Error ? err : new Error(String(err)));
      }
    };
    run(0);
  }

  private ackSender(id: number): Ack {
    let sent = false;
    return (...args: unknown[]) => {
      if (sent || !this.connected) return;
      sent = true;
      this.sendPacket({ type: PacketType.ACK, id, data: args });
    };
  }
}

function removeListener(extras: Extras | null, list: "anyListeners" | "anyOutgoing", listener?: AnyListener): void {
  if (!extras?.[list]) return;
  if (!listener) extras[list] = undefined;
  else {
    const i = extras[list]!.indexOf(listener);
    if (i >= 0) extras[list]!.splice(i, 1);
  }
}
