// The small vocabulary shared by the API's classes (and the cluster's emitter): event-name rules,
// room lists, timeouts, and the types users name (Handshake, DisconnectReason, ExtendedError,
// Event, RemoteSocket, the reserved-event maps), typed as Socket.IO 4.8 types them.
import { assertRoomName, type Room, type SocketId } from "../rooms/types.ts";
import type { Handshake } from "../engine/handshake.ts";
import type { DisconnectReason } from "../engine/connection.ts";
import type { DecorateAcknowledgements, EventsMap, TypedEventBroadcaster } from "./typed-events.ts";
import type { Namespace } from "./namespace.ts";
import type { Socket } from "./socket.ts";

export type { DisconnectReason, Handshake };

/** Event names Socket.IO reserves: an application may not emit them, a client may not send them. */
export const RESERVED_EVENTS: ReadonlySet<string> = new Set(["connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"]);

/** An error a middleware passes to `next`: `data` reaches the client's connect_error. */
export interface ExtendedError extends Error {
  data?: any;
}

/** What a per-packet middleware (`socket.use`) sees: the event name and its arguments. */
export type Event = [string, ...any[]];

export interface SocketReservedEventsMap {
  disconnect: (reason: DisconnectReason, description?: any) => void;
  disconnecting: (reason: DisconnectReason, description?: any) => void;
  error: (err: Error) => void;
}

export interface NamespaceReservedEventsMap<ListenEvents extends EventsMap, EmitEvents extends EventsMap, ServerSideEvents extends EventsMap, SocketData> {
  connect: (socket: Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData>) => void;
  connection: (socket: Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData>) => void;
}

export interface ServerReservedEventsMap<ListenEvents extends EventsMap, EmitEvents extends EventsMap, ServerSideEvents extends EventsMap, SocketData>
  extends NamespaceReservedEventsMap<ListenEvents, EmitEvents, ServerSideEvents, SocketData> {
  new_namespace: (namespace: Namespace<ListenEvents, EmitEvents, ServerSideEvents, SocketData>) => void;
}

/** A socket as `fetchSockets()` returns it: a local Socket, or one held by another worker of a
 *  cluster. Socket.IO's RemoteSocket, as a type. */
export interface RemoteSocket<EmitEvents extends EventsMap, SocketData> extends TypedEventBroadcaster<EmitEvents> {
  readonly id: SocketId;
  readonly handshake: Handshake;
  readonly rooms: Set<Room>;
  readonly data: SocketData;
  /** The next emit's acknowledgement fails after `ms`: its callback is `(err, response)`. */
  timeout(ms: number): TypedEventBroadcaster<DecorateAcknowledgements<EmitEvents>>;
  join(room: Room | Room[]): void;
  leave(room: Room): void;
  disconnect(close?: boolean): this;
}

export function assertEmittable(ev: unknown): asserts ev is string {
  if (typeof ev !== "string") throw new TypeError(`event name must be a string, got ${typeof ev}`);
  if (RESERVED_EVENTS.has(ev)) throw new Error(`"${ev}" is a reserved event name`);
}

/** One room or several, checked, as a list. */
export function roomList(room: Room | Room[]): Room[] {
  const rooms = Array.isArray(room) ? room : [room];
  for (const r of rooms) assertRoomName(r);
  return rooms;
}

export function assertTimeout(ms: number): void {
  if (!(ms >= 0)) throw new TypeError(`timeout must be a non-negative number of milliseconds, got ${ms}`);
}
