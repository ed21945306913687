// The small vocabulary shared by the API's classes (and the cluster's emitter): event-name rules,
// room lists, timeouts, and the types users name (Handshake, DisconnectReason).
import { assertRoomName, type Room } from "../rooms/types.ts";

export type { DisconnectReason } from "../engine/connection.ts";
export type { Handshake } from "../engine/handshake.ts";

/** Event names Socket.IO reserves: an application may not emit them, a client may not send them. */
export const RESERVED_EVENTS: ReadonlySet<string> = new Set(["connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"]);

export function assertEmittable(ev: unknown): asserts ev is string {
  if (typeof ev !== "string") throw new TypeError(`event name must be a string, got ${typeof ev}`);
  if (RESERVED_EVENTS.has(ev)) throw new Error(`"${ev}" is a reserved event name`);
}

/** One room or several, checked, as a list. */
export function roomList(room: Room | Room[]): Room[] {
  const rooms = Array.isArray(room) ? room : [room];
  rooms.forEach(assertRoomName);
  return rooms;
}

export function assertTimeout(ms: number): void {
  if (!(ms >= 0)) throw new TypeError(`timeout must be a non-negative number of milliseconds, got ${ms}`);
}
