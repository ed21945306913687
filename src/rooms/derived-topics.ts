// Derived topics: a composite target (a union of rooms, rooms minus rooms) that is broadcast to
// again and again becomes a uWS topic of its own, whose subscriptions follow joins and leaves, so
// each later broadcast to it is a single native publish. Bounded, least recently used evicted.
// Used only by Membership, which calls `refresh` whenever a socket's rooms change.
import { SlotSet } from "./bitset.ts";
import type { Member, Room } from "./types.ts";

export interface DerivedTopicOptions {
  /** Requests of the same target before it gets a topic (default 2: the first one is planned). */
  after?: number;
  /** Most derived topics kept per namespace (default 32). */
  max?: number;
}

export interface DerivedTopic {
  readonly topic: string;
  readonly slots: SlotSet;
  readonly rooms: readonly Room[];
  readonly except: readonly Room[];
  lastUsed: number;
}

/** What derived topics need to know of the namespace's rooms and members. */
export interface MembershipView {
  readonly namespaceTopic: string;
  readonly all: SlotSet;
  roomSlots(room: Room): SlotSet | undefined;
  memberAt(slot: number): Member | undefined;
}

const CANDIDATES_MAX = 1024;

export class DerivedTopics {
  private readonly after: number;
  private readonly max: number;
  private readonly byKey = new Map<string, DerivedTopic>();
  /** Derived topics each room takes part in (as target or as except). */
  private readonly byRoom = new Map<Room, DerivedTopic[]>();
  /** Derived topics over the whole namespace (no target rooms): every new socket matters. */
  private readonly overAll: DerivedTopic[] = [];
  private readonly candidates = new Map<string, number>();
  private clock = 0;

  constructor(
    private readonly view: MembershipView,
    opts: DerivedTopicOptions = {},
  ) {
    this.after = Math.max(1, opts.after ?? 2);
    this.max = Math.max(0, opts.max ?? 32);
  }

  /** The maintained topic for `rooms` minus `except`, created once the target has been asked for often enough. */
  lookup(rooms: Iterable<Room>, except: Iterable<Room>): DerivedTopic | undefined {
    if (this.max === 0) return undefined;
    const r = [...rooms].sort();
    const x = [...except].sort();
    // Room names never contain \x1f, so neither the key nor the topic can collide with a room's.
    // With a numeric room (42 is not "42") the key is JSON, after one \x1f: it has no "\x1f\x1f"
    // like a joined key, nor the "\x1f#" of a numeric room's topic.
    const key = r.some(isNumber) || x.some(isNumber) ? "\x1f" + JSON.stringify([r, x]) : r.join("\x1f") + "\x1f\x1f" + x.join("\x1f");
    let d = this.byKey.get(key);
    if (!d) {
      const seen = (this.candidates.get(key) ?? 0) + 1;
      if (seen < this.after) {
        if (this.candidates.size >= CANDIDATES_MAX) this.candidates.clear();
        this.candidates.set(key, seen);
        return undefined;
      }
      this.candidates.delete(key);
      d = this.create(key, r, x);
    }
    d.lastUsed = ++this.clock;
    return d;
  }

  /** Re-evaluates one socket's subscriptions after its membership of `room` changed, or (null)
   *  after it entered or left the namespace. */
  refresh(member: Member, room: Room | null): void {
    if (this.max === 0) return;
    const list = room === null ? this.overAll : this.byRoom.get(room);
    if (list) for (const d of list) this.update(d, member);
  }

  get size(): number {
    return this.byKey.size;
  }

  get enabled(): boolean {
    return this.max > 0;
  }

  private create(key: string, rooms: Room[], except: Room[]): DerivedTopic {
    if (this.byKey.size >= this.max) this.evictLeastRecentlyUsed();
    const d: DerivedTopic = { topic: this.view.namespaceTopic + key, slots: new SlotSet(), rooms, except, lastUsed: 0 };
    this.byKey.set(key, d);
    if (rooms.length === 0) this.overAll.push(d);
    for (const room of [...rooms, ...except]) {
      const list = this.byRoom.get(room);
      if (list) list.push(d);
      else this.byRoom.set(room, [d]);
    }
    const candidates = rooms.length === 0 ? [this.view.all] : rooms.map((r) => this.view.roomSlots(r)).filter((s) => s !== undefined);
    for (const slots of candidates) {
      slots.forEach((slot) => {
        const m = this.view.memberAt(slot);
        if (m) this.update(d, m);
      });
    }
    return d;
  }

  private update(d: DerivedTopic, m: Member): void {
    const want = this.reaches(d, m.slot);
    if (want === d.slots.has(m.slot)) return;
    if (want) {
      d.slots.add(m.slot);
      m.transport.subscribe(d.topic);
    } else {
      d.slots.delete(m.slot);
      m.transport.unsubscribe(d.topic);
    }
  }

  private reaches(d: DerivedTopic, slot: number): boolean {
    if (!this.view.all.has(slot)) return false;
    if (d.rooms.length > 0 && !d.rooms.some((r) => this.view.roomSlots(r)?.has(slot))) return false;
    return !d.except.some((r) => this.view.roomSlots(r)?.has(slot));
  }

  private evictLeastRecentlyUsed(): void {
    let victim: [string, DerivedTopic] | undefined;
    for (const entry of this.byKey) if (!victim || entry[1].lastUsed < victim[1].lastUsed) victim = entry;
    if (!victim) return;
    const [key, d] = victim;
    this.byKey.delete(key);
    const drop = (list: DerivedTopic[] | undefined) => {
      const i = list ? list.indexOf(d) : -1;
      if (i >= 0) list!.splice(i, 1);
    };
    drop(this.overAll);
    for (const room of [...d.rooms, ...d.except]) {
      const list = this.byRoom.get(room);
      drop(list);
      if (list && list.length === 0) this.byRoom.delete(room);
    }
    d.slots.forEach((slot) => this.view.memberAt(slot)?.transport.unsubscribe(d.topic));
  }
}

function isNumber(room: Room): boolean {
  return typeof room === "number";
}
