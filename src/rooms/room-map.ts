// The room maps of one namespace as Socket.IO exposes them (`adapter.rooms`, `adapter.sids`),
// with the delivery index each stored room carries. Own rooms held by their socket alone are
// answered for, not stored. Kept in step by Membership; nothing else writes them.
import { SlotSet } from "./bitset.ts";
import type { Member, Room, SocketId } from "./types.ts";

/** What the planner reads of a room: its members' slots and, once it is native, its uWS topic. */
export interface RoomSlots {
  readonly slots: SlotSet;
  readonly native: boolean;
  readonly topic: string;
}

/** A stored room's members: the public Set of socket ids (what `adapter.rooms` maps to), and,
 *  kept in step by Membership, their slots and the room's uWS topic. One object, so a join or
 *  leave touches one map entry. */
export class RoomIndex extends Set<SocketId> implements RoomSlots {
  /** The room's uWS topic; empty until the room turns native. */
  topic = "";
  readonly slots = new SlotSet();
  /** Whether every member is subscribed to `topic`. A room turns native at its second member:
   *  a one-member room is delivered directly and costs no topic. */
  native = false;
}

/** A socket's rooms (what `adapter.sids` maps to and `socket.rooms` is), carrying the socket. */
export class SocketRooms<M extends Member = Member> extends Set<Room> {
  constructor(readonly member: M) {
    super();
  }
}

/** What Map's iterators return, named through Map itself so that the published declarations
 *  compile on every supported TypeScript: `MapIterator` from 5.6, `IterableIterator` before. */
type Entries = ReturnType<Map<Room, Set<SocketId>>["entries"]>;
type Keys = ReturnType<Map<Room, Set<SocketId>>["keys"]>;
type Values = ReturnType<Map<Room, Set<SocketId>>["values"]>;

/**
 * Socket.IO's `adapter.rooms`. Every socket's own room is held here only once somebody else
 * joins it: while the socket is alone in it (nearly always), it lives in `sids` alone and this
 * map answers for it. That saves two hash tables and a map entry per connection.
 */
export class RoomMap extends Map<Room, Set<SocketId>> {
  /** Own rooms answered for but not stored. */
  ownRooms = 0;

  constructor(private readonly sids: Map<SocketId, SocketRooms>) {
    super();
  }

  /** The stored room, if any (own rooms held by their socket alone are not stored). */
  stored(room: Room): RoomIndex | undefined {
    return super.get(room) as RoomIndex | undefined;
  }

  /** Stored rooms that are not a socket's own room (the application's rooms), with their sizes. */
  *applicationRooms(): Generator<[Room, number]> {
    for (const [room, ids] of super.entries()) if (typeof room !== "string" || !this.sids.has(room)) yield [room, ids.size];
  }

  /** The socket alone in its own room `room` (not stored), if that is what `room` is. */
  ownRoomMember(room: Room): Member | undefined {
    if (typeof room !== "string") return undefined; // a socket id is a string
    const rooms = this.sids.get(room);
    return rooms?.has(room) && !super.has(room) ? rooms.member : undefined;
  }

  private isOwnRoom(room: Room): boolean {
    return this.ownRoomMember(room) !== undefined;
  }

  override get(room: Room): Set<SocketId> | undefined {
    return super.get(room) ?? (this.isOwnRoom(room) ? new Set([room as SocketId]) : undefined);
  }

  override has(room: Room): boolean {
    return super.has(room) || this.isOwnRoom(room);
  }

  override get size(): number {
    return super.size + this.ownRooms;
  }

  override *entries(): Entries {
    yield* super.entries();
    for (const id of this.sids.keys()) if (this.isOwnRoom(id)) yield [id, new Set([id])];
  }

  override [Symbol.iterator](): Entries {
    return this.entries();
  }

  override *keys(): Keys {
    for (const [room] of this.entries()) yield room;
  }

  override *values(): Values {
    for (const [, ids] of this.entries()) yield ids;
  }

  override forEach(fn: (ids: Set<SocketId>, room: Room, map: Map<Room, Set<SocketId>>) => void, thisArg?: unknown): void {
    for (const [room, ids] of this.entries()) fn.call(thisArg, ids, room, this);
  }
}
