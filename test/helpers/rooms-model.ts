// Helpers for the pure rooms-layer tests (bitset, membership, derived topics, planner): a seeded
// PRNG, members whose transport only records its topic subscriptions (what uWS would hold), and
// Socket.IO's selection spelled out with plain Sets, the model every test checks against.
// Knows no sockets and no wire: these tests run in milliseconds.
import type { Membership, Member, Room } from "../../src/internal.ts";

/** mulberry32: small, deterministic, so a failure names the seed that reproduces it. */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Random {
  next(): number;
  int(n: number): number;
  pick<T>(xs: readonly T[]): T;
  /** Each element with probability p. */
  some<T>(xs: readonly T[], p: number): T[];
}

export function random(seed: number): Random {
  const next = prng(seed);
  const int = (n: number) => Math.floor(next() * n);
  return { next, int, pick: (xs) => xs[int(xs.length)]!, some: (xs, p) => xs.filter(() => next() < p) };
}

/** A member whose transport records subscriptions as a Set, as uWS holds them per socket. */
export class RecordingMember implements Member {
  slot = -1;
  readonly topics = new Set<string>();
  readonly transport = {
    subscribe: (topic: string) => void this.topics.add(topic),
    unsubscribe: (topic: string) => void this.topics.delete(topic),
  };
  constructor(readonly id: string) {}
}

/** The model: each live member's rooms, kept with plain Sets beside the Membership under test. */
export class RoomsModel {
  readonly rooms = new Map<RecordingMember, Set<string>>();

  add(member: RecordingMember): void {
    this.rooms.set(member, new Set([member.id]));
  }

  remove(member: RecordingMember): void {
    this.rooms.delete(member);
  }

  get live(): RecordingMember[] {
    return [...this.rooms.keys()];
  }

  /** Socket.IO's semantics: the union of `rooms` (everybody when empty), minus every member of `except`. */
  select(rooms: Iterable<Room>, except: Iterable<Room>): Set<RecordingMember> {
    const r = [...rooms];
    const x = [...except];
    const out = new Set<RecordingMember>();
    for (const [m, joined] of this.rooms)
      if ((r.length === 0 || r.some((room) => joined.has(room as string))) && !x.some((room) => joined.has(room as string))) out.add(m);
    return out;
  }

  /** Live members subscribed to `topic`. */
  subscribers(topic: string): Set<RecordingMember> {
    return new Set(this.live.filter((m) => m.topics.has(topic)));
  }
}

/** Applies one random join, leave, connect or disconnect to both the Membership and the model. */
export function randomMembershipOp(rand: Random, m: Membership<RecordingMember>, model: RoomsModel, roomPool: readonly string[], newId: () => string): void {
  const live = model.live;
  const r = rand.next();
  if (live.length === 0 || r < 0.08) {
    const member = new RecordingMember(newId());
    m.addMember(member);
    model.add(member);
  } else if (r < 0.13) {
    const member = rand.pick(live);
    m.removeMember(member);
    model.remove(member);
  } else if (r < 0.6) {
    const member = rand.pick(live);
    // Some rooms are other members' ids: joining another socket's own room is allowed.
    const room = rand.next() < 0.15 ? rand.pick(live).id : rand.pick(roomPool);
    m.add(member.id, room);
    model.rooms.get(member)!.add(room);
  } else {
    const member = rand.pick(live);
    const joined = [...model.rooms.get(member)!];
    const room = joined.length > 0 && rand.next() < 0.9 ? rand.pick(joined) : rand.pick(roomPool);
    m.del(member.id, room);
    model.rooms.get(member)!.delete(room);
  }
}
