// Room membership of one namespace, the single owner of three views kept in step: the public
// Socket.IO maps (rooms, sids), dense slot sets for the delivery planner, and uWS topic
// subscriptions. Knows nothing of the wire.
import { EventEmitter } from "node:events";
import { SlotSet, wordsFor } from "./bitset.ts";
import { DerivedTopics, type DerivedTopic, type DerivedTopicOptions } from "./derived-topics.ts";

export type Room = string;
export type SocketId = string;

/** What membership needs of a socket: an id and a way to (un)subscribe its connection to topics. */
export interface Member {
  readonly id: SocketId;
  slot: number;
  readonly transport: { subscribe(topic: string): void; unsubscribe(topic: string): void };
}

/** A room's members: the public Set of socket ids (what `adapter.rooms` maps to), and, kept in
 *  step by Membership, their slots and the room's uWS topic. One object, so a join or leave
 *  touches one map entry. */
export class RoomIndex extends Set<SocketId> {
  /** The room's uWS topic; empty until the room turns native. */
  topic = "";
  readonly slots = new SlotSet();
  /** Whether every member is subscribed to `topic`. A room turns native at its second member:
   *  a one-member room (every socket's own id room) is delivered directly and costs no topic. */
  native = false;
}

const TOPIC_SEPARATOR = "\x1f";
const MAX_ROOM_LENGTH = 1024;

export function assertRoomName(room: unknown): asserts room is Room {
  if (typeof room !== "string" || room.length === 0 || room.length > MAX_ROOM_LENGTH || room.includes(TOPIC_SEPARATOR)) {
    throw new TypeError(`invalid room name ${JSON.stringify(room)}: expected a non-empty string of at most ${MAX_ROOM_LENGTH} characters without \\x1f`);
  }
}

export class Membership extends EventEmitter {
  /** Socket.IO's `adapter.rooms`: room → socket ids (Sets that also carry the delivery index). */
  readonly rooms = new Map<Room, RoomIndex>();
  readonly sids = new Map<SocketId, Set<Room>>();
  /** Topic every member of the namespace is subscribed to. */
  readonly namespaceTopic: string;
  /** Slots of all sockets in the namespace. */
  readonly all = new SlotSet();
  /** Slots whose connection holds queued, unflushed frames (set by the delivery layer). */
  pending: Uint32Array = new Uint32Array(8);
  /** Whether any bit of `pending` is set. */
  pendingAny = false;

  private readonly members: (Member | undefined)[] = [];
  private readonly bySid = new Map<SocketId, Member>();
  private readonly freeSlots: number[] = [];

  private readonly derived: DerivedTopics;

  constructor(
    readonly nspName: string,
    derivedTopics: DerivedTopicOptions = { max: 0 },
  ) {
    super();
    this.namespaceTopic = nspName + TOPIC_SEPARATOR;
    this.derived = new DerivedTopics(
      {
        namespaceTopic: this.namespaceTopic,
        all: this.all,
        roomSlots: (room) => this.rooms.get(room)?.slots,
        memberAt: (slot) => this.members[slot],
      },
      derivedTopics,
    );
  }

  /** Number of slots ever handed out (the bitset width the planner works over). */
  get slotCount(): number {
    return this.members.length;
  }

  memberAt(slot: number): Member | undefined {
    return this.members[slot];
  }

  member(id: SocketId): Member | undefined {
    return this.bySid.get(id);
  }

  roomIndex(room: Room): RoomIndex | undefined {
    return this.rooms.get(room);
  }

  topicOf(room: Room): string {
    return this.namespaceTopic + room;
  }

  /** A maintained native topic for a composite target, once it has been asked for often enough. */
  derivedTopic(rooms: Iterable<Room>, except: Iterable<Room>): DerivedTopic | undefined {
    return this.derived.lookup(rooms, except);
  }

  get derivedTopicsEnabled(): boolean {
    return this.derived.enabled;
  }

  get derivedTopicCount(): number {
    return this.derived.size;
  }

  /** Gives the member a slot and subscribes it to the namespace topic; then joins its id room. */
  addMember(member: Member): void {
    const slot = this.freeSlots.length > 0 ? this.freeSlots.pop()! : this.members.length;
    member.slot = slot;
    this.members[slot] = member;
    this.bySid.set(member.id, member);
    if (wordsFor(this.members.length) > this.pending.length) {
      const grown = new Uint32Array(this.pending.length * 2);
      grown.set(this.pending);
      this.pending = grown;
    }
    this.all.add(slot);
    member.transport.subscribe(this.namespaceTopic);
    this.addAll(member.id, [member.id]);
    this.derived.refresh(member, null);
  }

  /** Leaves every room and frees the slot. */
  removeMember(member: Member): void {
    if (this.bySid.get(member.id) !== member) return;
    this.all.delete(member.slot); // first, so no derived topic re-subscribes it on the way out
    this.delAll(member.id);
    this.derived.refresh(member, null);
    member.transport.unsubscribe(this.namespaceTopic);
    this.bySid.delete(member.id);
    this.members[member.slot] = undefined;
    this.freeSlots.push(member.slot);
  }

  addAll(id: SocketId, rooms: Iterable<Room>): void {
    const member = this.bySid.get(id);
    if (!member) return;
    let joined = this.sids.get(id);
    if (!joined) this.sids.set(id, (joined = new Set()));
    for (const room of rooms) {
      joined.add(room);
      let idx = this.rooms.get(room);
      if (!idx) {
        idx = new RoomIndex();
        this.rooms.set(room, idx);
        this.emit("create-room", room);
      }
      if (idx.has(id)) continue;
      idx.add(id);
      idx.slots.add(member.slot);
      if (idx.native) member.transport.subscribe(idx.topic);
      else if (idx.slots.size >= 2) this.goNative(room, idx);
      this.derived.refresh(member, room);
      this.emit("join-room", room, id);
    }
  }

  del(id: SocketId, room: Room): void {
    const idx = this.rooms.get(room);
    const member = this.bySid.get(id);
    this.sids.get(id)?.delete(room);
    if (!idx || !member || !idx.delete(id)) return;
    idx.slots.delete(member.slot);
    if (idx.native) member.transport.unsubscribe(idx.topic);
    this.derived.refresh(member, room);
    this.emit("leave-room", room, id);
    if (idx.size === 0) {
      this.rooms.delete(room);
      this.emit("delete-room", room);
    }
  }

  delAll(id: SocketId): void {
    const joined = this.sids.get(id);
    if (!joined) return;
    for (const room of [...joined]) this.del(id, room);
    this.sids.delete(id);
  }

  socketRooms(id: SocketId): Set<Room> | undefined {
    return this.sids.get(id);
  }

  private goNative(room: Room, idx: RoomIndex): void {
    idx.native = true;
    idx.topic = this.topicOf(room);
    idx.slots.forEach((slot) => this.members[slot]!.transport.subscribe(idx.topic));
  }
}
