// A client's connection to one namespace: Socket.IO's server-side Socket. To its session (engine/)
// it is a SessionSocket (packets in, close); to membership (rooms/) a Member with a slot and a
// transport. Knows no cluster.
import { EventEmitter } from "node:events";
import { randomId } from "../engine/ids.ts";
import { BroadcastOperator } from "./broadcast.ts";
import { assertEmittable, assertTimeout } from "./socket-types.ts";
import { encodePacket, PacketType, type Packet } from "../engine/codec.ts";
import { assertRoomName, type Room } from "../rooms/types.ts";
import type { Adapter } from "./adapter.ts";
import type { Namespace } from "./namespace.ts";
import type { Connection } from "../engine/connection.ts";
import type { Transport } from "../engine/transport.ts";
import type { DisconnectReason } from "../engine/connection.ts";
import type { Handshake } from "../engine/handshake.ts";

type AnyListener = (ev: string, ...args: unknown[]) => void;
type Ack = (...args: unknown[]) => void;

/** Listener table of a socket's EventEmitter: without a prototype chain, like Node's own, but
 *  made by a constructor so V8 keeps it in fast mode (Node's `{ __proto__: null }` starts as a
 *  dictionary: 184 B for a socket's first listener, against 32 B). */
function ListenerTable(): void {}
ListenerTable.prototype = Object.create(null);

export class Socket extends EventEmitter {
  /** Random, unguessable, unique; also the name of the socket's own room. */
  readonly id = randomId();
  connected = false;
  /** @internal Dense slot in the namespace's membership (assigned on connect, recycled after). */
  slot = -1;
  // Allocated on first use: most sockets of a fan-out gateway never need them, and memory per
  // connection is a target.
  private acks: Map<number, Ack> | null = null;
  private anyListeners: AnyListener[] | null = null;
  /** Modifiers for the next emit only (timeout, volatile); null when none. */
  private flags: { volatile?: boolean; timeout?: number } | null = null;
  private dataObject: Record<string, unknown> | null = null;

  constructor(
    readonly nsp: Namespace,
    /** @internal */
    readonly conn: Connection,
    readonly handshake: Handshake,
  ) {
    super();
    (this as unknown as { _events: object })._events = new (ListenerTable as unknown as new () => object)();
  }

  /** Anything the application keeps with the socket (made when first read). */
  get data(): Record<string, unknown> {
    return (this.dataObject ??= {});
  }

  set data(value: Record<string, unknown>) {
    this.dataObject = value;
  }

  /** @internal */
  get transport(): Transport {
    return this.conn.transport;
  }

  /** @internal */
  get adapter(): Adapter {
    return this.nsp.adapter;
  }

  get rooms(): Set<Room> {
    return this.adapter.socketRooms(this.id) ?? new Set();
  }

  /** Joins rooms; a no-op once disconnected. Throws TypeError on an invalid room name. */
  join(rooms: Room | Room[]): void {
    if (!Array.isArray(rooms)) {
      assertRoomName(rooms);
      if (this.connected) this.adapter.add(this.id, rooms);
      return;
    }
    rooms.forEach(assertRoomName);
    if (this.connected) this.adapter.addAll(this.id, rooms);
  }

  leave(room: Room): void {
    assertRoomName(room);
    if (!this.connected) return;
    this.adapter.del(this.id, room);
  }

  override emit(ev: string, ...args: unknown[]): boolean {
    assertEmittable(ev);
    const flags = this.flags;
    this.flags = null;
    const packet: Omit<Packet, "nsp"> = { type: PacketType.EVENT, data: [ev, ...args] };
    if (typeof args[args.length - 1] === "function") {
      const id = this.nsp.nextAckId();
      packet.data = [ev, ...args.slice(0, -1)];
      packet.id = id;
      this.registerAck(id, args[args.length - 1] as Ack, flags?.timeout);
    }
    if (flags?.volatile && this.transport.congested) return true;
    this.send(packet);
    return true;
  }

  emitWithAck(ev: string, ...args: unknown[]): Promise<unknown> {
    const withTimeout = this.flags?.timeout !== undefined;
    return new Promise((resolve, reject) => {
      this.emit(ev, ...args, (...reply: unknown[]) => {
        if (!withTimeout) return resolve(reply[0]);
        const [err, value] = reply;
        if (err) reject(err);
        else resolve(value);
      });
    });
  }

  /** The next emit's acknowledgement fails with an error after `ms`; callback is `(err, ...args)`. */
  timeout(ms: number): this {
    assertTimeout(ms);
    (this.flags ??= {}).timeout = ms;
    return this;
  }

  get volatile(): this {
    (this.flags ??= {}).volatile = true;
    return this;
  }

  /** Accepted for Socket.IO compatibility; per-message compression is not enabled in roomgate. */
  compress(_compress: boolean): this {
    return this;
  }

  to(room: Room | Room[]): BroadcastOperator {
    return this.broadcast.to(room);
  }

  in(room: Room | Room[]): BroadcastOperator {
    return this.to(room);
  }

  except(room: Room | Room[]): BroadcastOperator {
    return this.broadcast.except(room);
  }

  /** Everybody in the namespace but this socket. */
  get broadcast(): BroadcastOperator {
    return new BroadcastOperator(this.adapter, new Set(), new Set([this.id]), {}, this);
  }

  get local(): BroadcastOperator {
    return this.broadcast.local;
  }

  onAny(listener: AnyListener): this {
    (this.anyListeners ??= []).push(listener);
    return this;
  }

  prependAny(listener: AnyListener): this {
    (this.anyListeners ??= []).unshift(listener);
    return this;
  }

  offAny(listener?: AnyListener): this {
    if (!listener) this.anyListeners = null;
    else {
      const i = this.anyListeners?.indexOf(listener) ?? -1;
      if (i >= 0) this.anyListeners!.splice(i, 1);
    }
    return this;
  }

  listenersAny(): AnyListener[] {
    return [...(this.anyListeners ?? [])];
  }

  /** Disconnects from this namespace; with `close`, closes the whole underlying connection. */
  disconnect(close = false): this {
    if (!this.connected) return this;
    if (close) {
      this.conn.close("server namespace disconnect");
    } else {
      this.send({ type: PacketType.DISCONNECT });
      this.onclose("server namespace disconnect");
    }
    return this;
  }

  // ---------- internal: called by the namespace, connection and adapter (not public API) ----------

  /** @internal */
  send(packet: Omit<Packet, "nsp">): void {
    this.nsp.server.delivery.enqueue(this.adapter, this, encodePacket({ type: packet.type, nsp: this.nsp.name, id: packet.id, data: packet.data }));
  }

  /** @internal */
  registerAck(id: number, fn: Ack, timeout?: number): void {
    if (timeout === undefined) {
      (this.acks ??= new Map()).set(id, fn);
      return;
    }
    const timer = setTimeout(() => {
      this.acks?.delete(id);
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
    if (packet.id !== undefined) args.push(this.ackSender(packet.id));
    this.guard(() => {
      if (this.anyListeners) for (const l of [...this.anyListeners]) l(...(args as [string, ...unknown[]]));
      super.emit(String(args[0]), ...args.slice(1));
    });
  }

  /** @internal Leaves every room: `disconnecting` sees them, `disconnect` sees none. */
  onclose(reason: DisconnectReason): void {
    if (!this.connected) return;
    this.guard(() => super.emit("disconnecting", reason));
    // uWS frees a connection's topic subscriber, dropping topic messages it has not yet drained,
    // when its last topic is unsubscribed; a direct send drains them first, so write the queue now.
    this.transport.flush();
    this.adapter.removeMember(this);
    this.nsp.removeSocket(this);
    this.conn.removeSocket(this);
    this.connected = false;
    this.acks = null;
    this.guard(() => super.emit("disconnect", reason));
  }

  /** @internal A user's handler that throws is reported, never allowed to take the process down. */
  guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      if (this.listenerCount("error") > 0) super.emit("error", err);
      else this.nsp.server.logger.error({ sid: this.id, nsp: this.nsp.name, err }, "a socket handler threw");
    }
  }

  private ackSender(id: number): Ack {
    let sent = false;
    return (...args: unknown[]) => {
      if (sent || !this.connected) return;
      sent = true;
      this.send({ type: PacketType.ACK, id, data: args });
    };
  }
}
