// Room membership of one namespace, the single owner of three views kept in step: the public
// Socket.IO maps (rooms, sids), dense slot sets for the delivery planner, and uWS topic
// subscriptions. Knows nothing of the wire.
import { EventEmitter } from "node:events";
import { SlotSet, wordsFor } from "./bitset.ts";
import { DerivedTopics, type DerivedTopic, type DerivedTopicOptions } from "./derived-topics.ts";
import { RoomIndex, RoomMap, SocketRooms, type RoomSlots } from "./room-map.ts";
import { NUMBER_ROOM_MARK, TOPIC_SEPARATOR, type Member, type Room, type SocketId } from "./types.ts";

/** Generic over its member type, so the API layer gets its own Socket back without a cast. */
export class Membership<M extends Member = Member> extends EventEmitter {
  /** Socket.IO's `adapter.sids`: socket id → its rooms (its own room included); also the
   *  registry of members by id. */
  readonly sids = new Map<SocketId, SocketRooms<M>>();
  /** Socket.IO's `adapter.rooms`: room → socket ids (stored Sets also carry the delivery index). */
  readonly rooms = new RoomMap(this.sids);
  /** @internal Topic every member of the namespace is subscribed to. */
  readonly namespaceTopic: string;
  /** @internal Slots of all sockets in the namespace. */
  readonly all = new SlotSet();
  /** @internal Slots whose connection is no uWS topic subscriber (HTTP long-polling): a native
   *  publish misses them, so the planner adds them to the per-socket set. */
  readonly polling = new SlotSet();
  /** @internal Slots whose connection holds queued, unflushed frames (set by the delivery layer). */
  pending: Uint32Array = new Uint32Array(8);
  /** @internal Whether any bit of `pending` is set. */
  pendingAny = false;

  private readonly members: (M | undefined)[] = [];
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
        roomSlots: (room) => this.roomIndex(room)?.slots,
        memberAt: (slot) => this.members[slot],
      },
      derivedTopics,
    );
  }

  /** @internal Number of slots ever handed out (the bitset width the planner works over). */
  get slotCount(): number {
    return this.members.length;
  }

  /** @internal */
  memberAt(slot: number): M | undefined {
    return this.members[slot];
  }

  /** @internal */
  member(id: SocketId): M | undefined {
    return this.sids.get(id)?.member;
  }

  /** @internal A room's slots and topic; an own room held by its socket alone is made up on the spot. */
  roomIndex(room: Room): RoomSlots | undefined {
    const stored = this.rooms.stored(room);
    if (stored) return stored;
    const owner = this.rooms.ownRoomMember(room);
    return owner && { slots: SlotSet.of(owner.slot), native: false, topic: "" };
  }

  /** @internal Whether `room` holds the socket at `slot` and nobody else. */
  holdsOnly(room: Room, slot: number): boolean {
    const stored = this.rooms.stored(room);
    if (stored) return stored.slots.size === 1 && stored.slots.has(slot);
    return this.rooms.ownRoomMember(room)?.slot === slot;
  }

  /** @internal */
  topicOf(room: Room): string {
    return typeof room === "number" ? this.namespaceTopic + NUMBER_ROOM_MARK + room : this.namespaceTopic + room;
  }

  /** @internal A maintained native topic for a composite target, once it has been asked for often enough. */
  derivedTopic(rooms: Iterable<Room>, except: Iterable<Room>): DerivedTopic | undefined {
    return this.derived.lookup(rooms, except);
  }

  /** @internal */
  get derivedTopicsEnabled(): boolean {
    return this.derived.enabled;
  }

  /** @internal */
  get derivedTopicCount(): number {
    return this.derived.size;
  }

  /** @internal Gives the member a slot and subscribes it to the namespace topic; then joins its id room. */
  addMember(member: M): void {
    const slot = this.freeSlots.length > 0 ? this.freeSlots.pop()! : this.members.length;
    member.slot = slot;
    this.members[slot] = member;
    this.sids.set(member.id, new SocketRooms(member));
    if (wordsFor(this.members.length) > this.pending.length) {
      const grown = new Uint32Array(this.pending.length * 2);
      grown.set(this.pending);
      this.pending = grown;
    }
    this.all.add(slot);
    if (member.transport.subscribesNatively === false) this.polling.add(slot);
    member.transport.subscribe(this.namespaceTopic);
    this.add(member.id, member.id);
    this.derived.refresh(member, null);
  }

  /** @internal Leaves every room and frees the slot. */
  removeMember(member: M): void {
    if (this.sids.get(member.id)?.member !== member) return;
    this.all.delete(member.slot); // first, so no derived topic re-subscribes it on the way out
    this.polling.delete(member.slot);
    this.delAll(member.id);
    this.derived.refresh(member, null);
    member.transport.unsubscribe(this.namespaceTopic);
    this.sids.delete(member.id);
    this.members[member.slot] = undefined;
    this.freeSlots.push(member.slot);
  }

  /** @internal The member's connection changed transport (polling upgraded to WebSocket): the transport has
   *  taken over its topic subscriptions, so only the polling set changes. */
  transportChanged(member: M): void {
    if (this.sids.get(member.id)?.member !== member) return;
    if (member.transport.subscribesNatively === false) this.polling.add(member.slot);
    else this.polling.delete(member.slot);
  }

  addAll(id: SocketId, rooms: Iterable<Room>): void {
    for (const room of rooms) this.add(id, room);
  }

  add(id: SocketId, room: Room): void {
    const joined = this.sids.get(id);
    if (!joined || joined.has(room)) return;
    const member = joined.member;
    let idx = this.rooms.stored(room);
    if (!idx && room === id) {
      // Its own room, alone: answered for by `rooms`, not stored.
      joined.add(room);
      this.rooms.ownRooms++;
      this.announce("create-room", room);
      this.derived.refresh(member, room);
      this.announce("join-room", room, id);
      return;
    }
    if (!idx) {
      idx = new RoomIndex();
      const owner = this.rooms.ownRoomMember(room);
      this.rooms.set(room, idx);
      if (owner) {
        // Somebody joins another socket's own room: from now on it is stored like any room.
        this.rooms.ownRooms--;
        idx.add(owner.id);
        idx.slots.add(owner.slot);
      } else {
        this.announce("create-room", room);
      }
    }
    joined.add(room);
    idx.add(id);
    idx.slots.add(member.slot);
    if (idx.native) member.transport.subscribe(idx.topic);
    else if (idx.slots.size >= 2) this.goNative(room, idx);
    this.derived.refresh(member, room);
    this.announce("join-room", room, id);
  }

  del(id: SocketId, room: Room): void {
    const joined = this.sids.get(id);
    if (!joined?.delete(room)) return;
    const member = joined.member;
    const idx = this.rooms.stored(room);
    if (!idx) {
      // Its own room, held alone and not stored.
      this.rooms.ownRooms--;
      this.derived.refresh(member, room);
      this.announce("leave-room", room, id);
      this.announce("delete-room", room);
      return;
    }
    idx.delete(id);
    idx.slots.delete(member.slot);
    if (idx.native) member.transport.unsubscribe(idx.topic);
    this.derived.refresh(member, room);
    this.announce("leave-room", room, id);
    if (idx.size === 0) {
      this.rooms.delete(room);
      this.announce("delete-room", room);
    }
  }

  /** Leaves every room (the socket stays known until removeMember). */
  delAll(id: SocketId): void {
    const joined = this.sids.get(id);
    if (joined) for (const room of [...joined]) this.del(id, room);
  }

  socketRooms(id: SocketId): Set<Room> | undefined {
    return this.sids.get(id);
  }

  /** Socket.IO's adapter events. Only emitted when listened to: an emit costs an arguments
   *  array even with no listener, on every join and leave. */
  private announce(ev: "create-room" | "delete-room" | "join-room" | "leave-room", room: Room, id?: SocketId): void {
    if (this.listenerCount(ev) === 0) return;
    if (id === undefined) this.emit(ev, room);
    else this.emit(ev, room, id);
  }

  private goNative(room: Room, idx: RoomIndex): void {
    idx.native = true;
    idx.topic = this.topicOf(room);
    idx.slots.forEach((slot) => this.members[slot]!.transport.subscribe(idx.topic));
  }
}
