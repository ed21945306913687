// The vocabulary of the rooms layer: room and socket names, what a member must offer, and the
// room-name check. Knows no Socket.IO class: the API's Socket is one kind of Member.
import type { Outbox, TopicSubscriber } from "../engine/transports/transport.ts";

/** Socket.IO's rooms are strings or numbers, and 42 and "42" are different rooms. */
export type Room = string | number;
export type SocketId = string;

/** What membership needs of a socket: its id, its dense slot, and its connection's topic
 *  subscriptions (and whether uWS delivers them: false for a polling connection, which the rooms
 *  layer then reaches through its buffer; undefined means true). */
export interface Member {
  readonly id: SocketId;
  /** @internal (Socket's own `slot` is internal: a published Membership<Socket> must still type-check) */
  slot: number;
  /** @internal */
  readonly transport: { readonly subscribesNatively?: boolean; subscribe(topic: string): void; unsubscribe(topic: string): void };
}

/** What delivery needs of a member: its transport's outbox (the per-tick queue, publishes) and
 *  subscriptions. */
export interface Recipient extends Member {
  readonly transport: Outbox & TopicSubscriber;
}

/** Separates the namespace from the room in a uWS topic name (`<nsp>\x1f<room>`). */
export const TOPIC_SEPARATOR = "\x1f";
/** Default longest room name (the server's maxRoomNameLength option). */
export const MAX_ROOM_LENGTH = 1024;

/** Marks a numeric room's topic (`<nsp>\x1f\x1f#42`): no string room's topic has a second
 *  separator, so 42 and "42" never share a topic. */
export const NUMBER_ROOM_MARK = "\x1f#";

export function assertRoomName(room: unknown, maxLength = MAX_ROOM_LENGTH): asserts room is Room {
  if (typeof room === "number") {
    if (!Number.isFinite(room)) throw new TypeError(`invalid room name ${room}: a numeric room must be a finite number`);
    return;
  }
  if (typeof room !== "string" || room.length === 0 || room.length > maxLength || room.includes(TOPIC_SEPARATOR)) {
    const shown = typeof room === "string" && room.length > 80 ? JSON.stringify(room.slice(0, 80)) + `… (${room.length} characters)` : JSON.stringify(room);
    throw new TypeError(`invalid room name ${shown}: expected a finite number or a non-empty string of at most ${maxLength} characters without \\x1f`);
  }
}
