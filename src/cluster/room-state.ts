// Room state across workers, as bookkeeping: how many sockets each room holds and, where presence
// is on, how many sockets each member (an application key such as a user id) holds in each room,
// per worker and summed over the cluster. LocalRoomState is this worker's part (changed by its
// joins and leaves, drained into versioned deltas and snapshots); PeerRoomStates holds each peer's
// part as its messages say; Totals keeps the sums, so a reader's question (a room's size, the
// rooms, a room's members) is a map lookup, and says when a member appears in or leaves the whole
// cluster (its count crosses zero). Pure: knows the message shape (protocol.ts), not how messages
// travel, when peers are live, nor any adapter or socket.
//
// Memory: per worker O(rooms + room × member pairs) of its own, and the same per peer for the
// peers' parts; sockets' own rooms are never counted (the callers leave them out).
import type { Room } from "../rooms/types.ts";
import { PROTOCOL_VERSION as V, type RoomStateMessage } from "./protocol.ts";

/** Entries per snapshot message: 4096 × ~100 bytes keeps one well under a 1 MiB max_payload. */
const SNAPSHOT_CHUNK = 4096;

type Counts<K> = Map<K, number>;

/** One worker's part of one namespace: sockets per room, and sockets per member per room. */
interface NspPart {
  sizes: Counts<Room>;
  members: Map<Room, Counts<string>>;
}

const newPart = (): NspPart => ({ sizes: new Map(), members: new Map() });

function partOf(parts: Map<string, NspPart>, nsp: string): NspPart {
  let p = parts.get(nsp);
  if (!p) parts.set(nsp, (p = newPart()));
  return p;
}

/** Sets `map[key]` to `n` (0: deleted); returns what it was. */
function put<K>(map: Counts<K>, key: K, n: number): number {
  const old = map.get(key) ?? 0;
  if (n === 0) map.delete(key);
  else map.set(key, n);
  return old;
}

function memberCount(part: NspPart, room: Room, key: string): number {
  return part.members.get(room)?.get(key) ?? 0;
}

function putMember(part: NspPart, room: Room, key: string, n: number): number {
  let keys = part.members.get(room);
  if (!keys) {
    if (n === 0) return 0;
    part.members.set(room, (keys = new Map()));
  }
  const old = put(keys, key, n);
  if (keys.size === 0) part.members.delete(room);
  return old;
}

/** A member of a room appeared in (`present`) or left the whole cluster. */
export type MemberChange = (nsp: string, room: Room, key: string, present: boolean) => void;

/** The cluster-wide sums of every part (this worker's and its live peers'). */
export class Totals {
  private readonly parts = new Map<string, NspPart>();

  constructor(private readonly onMember: MemberChange) {}

  size(nsp: string, room: Room): number {
    return this.parts.get(nsp)?.sizes.get(room) ?? 0;
  }

  /** Rooms with at least one socket anywhere. */
  rooms(nsp: string): Iterable<Room> {
    return this.parts.get(nsp)?.sizes.keys() ?? [];
  }

  /** Every room with its size. */
  sizes(nsp: string): ReadonlyMap<Room, number> {
    return this.parts.get(nsp)?.sizes ?? new Map();
  }

  /** The members present in `room`, each with its number of sockets across the cluster. */
  members(nsp: string, room: Room): ReadonlyMap<string, number> {
    return this.parts.get(nsp)?.members.get(room) ?? new Map();
  }

  /** Rooms with at least one member. */
  presenceRooms(nsp: string): Iterable<Room> {
    return this.parts.get(nsp)?.members.keys() ?? [];
  }

  addSize(nsp: string, room: Room, d: number): void {
    if (d === 0) return;
    const part = partOf(this.parts, nsp);
    put(part.sizes, room, Math.max(0, (part.sizes.get(room) ?? 0) + d));
  }

  addMember(nsp: string, room: Room, key: string, d: number): void {
    if (d === 0) return;
    const part = partOf(this.parts, nsp);
    const was = memberCount(part, room, key);
    const now = Math.max(0, was + d);
    putMember(part, room, key, now);
    if (was === 0 && now > 0) this.onMember(nsp, room, key, true);
    else if (was > 0 && now === 0) this.onMember(nsp, room, key, false);
  }
}

/** This worker's part, kept by its joins and leaves, and what changed since the last delta. */
export class LocalRoomState {
  /** Bumped once per delta message. */
  ver = 0;
  private readonly parts = new Map<string, NspPart>();
  private readonly dirtySizes = new Map<string, Set<Room>>();
  private readonly dirtyMembers = new Map<string, Map<Room, Set<string>>>();

  constructor(
    private readonly from: string,
    private readonly totals: Totals,
  ) {}

  get changed(): boolean {
    return this.dirtySizes.size > 0 || this.dirtyMembers.size > 0;
  }

  size(nsp: string, room: Room): number {
    return this.parts.get(nsp)?.sizes.get(room) ?? 0;
  }

  /** A socket here joined (+1) or left (-1) `room`. */
  addSize(nsp: string, room: Room, d: 1 | -1): void {
    const part = partOf(this.parts, nsp);
    const was = part.sizes.get(room) ?? 0;
    if (was + d < 0) return;
    put(part.sizes, room, was + d);
    this.totals.addSize(nsp, room, d);
    let dirty = this.dirtySizes.get(nsp);
    if (!dirty) this.dirtySizes.set(nsp, (dirty = new Set()));
    dirty.add(room);
  }

  /** A socket here of member `key` joined (+1) or left (-1) `room`. */
  addMember(nsp: string, room: Room, key: string, d: 1 | -1): void {
    const part = partOf(this.parts, nsp);
    const was = memberCount(part, room, key);
    if (was + d < 0) return;
    putMember(part, room, key, was + d);
    this.totals.addMember(nsp, room, key, d);
    let rooms = this.dirtyMembers.get(nsp);
    if (!rooms) this.dirtyMembers.set(nsp, (rooms = new Map()));
    let keys = rooms.get(room);
    if (!keys) rooms.set(room, (keys = new Set()));
    keys.add(key);
  }

  /** The changes since the last call, one message per namespace, each with the next version.
   *  A room joined and left again within one interval still goes out (as its count, 0). */
  drain(): RoomStateMessage[] {
    const out: RoomStateMessage[] = [];
    const nsps = new Set([...this.dirtySizes.keys(), ...this.dirtyMembers.keys()]);
    for (const nsp of nsps) {
      const part = partOf(this.parts, nsp);
      const sizes: [Room, number][] = [];
      for (const room of this.dirtySizes.get(nsp) ?? []) sizes.push([room, part.sizes.get(room) ?? 0]);
      const msg: RoomStateMessage = { v: V, type: "roomState", from: this.from, ver: ++this.ver, kind: "delta", nsp, sizes };
      const dirty = this.dirtyMembers.get(nsp);
      if (dirty) {
        const members: [Room, string, number][] = (msg.members = []);
        for (const [room, keys] of dirty) for (const key of keys) members.push([room, key, memberCount(part, room, key)]);
      }
      out.push(msg);
    }
    this.dirtySizes.clear();
    this.dirtyMembers.clear();
    return out;
  }

  /** Everything, at the current version (call after `drain`, so nothing is left unsent): the first
   *  message "reset", the last one `last`. */
  snapshot(): RoomStateMessage[] {
    const out: RoomStateMessage[] = [];
    const msg = (nsp: string): RoomStateMessage => ({ v: V, type: "roomState", from: this.from, ver: this.ver, kind: "more", nsp, sizes: [], members: [] });
    for (const [nsp, part] of this.parts) {
      let m = msg(nsp);
      let n = 0;
      const next = () => {
        if (++n < SNAPSHOT_CHUNK) return;
        out.push(m);
        m = msg(nsp);
        n = 0;
      };
      for (const entry of part.sizes) {
        m.sizes.push(entry);
        next();
      }
      for (const [room, keys] of part.members)
        for (const [key, count] of keys) {
          m.members!.push([room, key, count]);
          next();
        }
      if (n > 0) out.push(m);
    }
    if (out.length === 0) out.push(msg("/"));
    out[0]!.kind = "reset";
    out[out.length - 1]!.last = true;
    return out;
  }

  /** The version alone (peers holding another one ask for a snapshot). */
  beacon(): RoomStateMessage {
    return { v: V, type: "roomState", from: this.from, ver: this.ver, kind: "ver", nsp: "/", sizes: [] };
  }
}

interface PeerPart {
  ver: number;
  parts: Map<string, NspPart>;
  /** A snapshot being received (applied at once when its last message comes). */
  next?: { ver: number; parts: Map<string, NspPart> };
}

/** The peers' parts as their messages say, each counted in the totals while held. */
export class PeerRoomStates {
  private readonly peers = new Map<string, PeerPart>();

  constructor(private readonly totals: Totals) {}

  /** Applies a peer's message; false when a version is missing (the caller asks for a snapshot). */
  apply(msg: RoomStateMessage): boolean {
    const p = this.peers.get(msg.from);
    switch (msg.kind) {
      case "reset":
      case "more": {
        if (msg.kind === "reset") {
          const next = { ver: msg.ver, parts: new Map<string, NspPart>() };
          if (p) p.next = next;
          else this.peers.set(msg.from, { ver: -1, parts: new Map(), next });
        }
        const target = this.peers.get(msg.from)?.next;
        if (!target || target.ver !== msg.ver) return true; // part of a snapshot superseded or never begun
        const part = partOf(target.parts, msg.nsp);
        for (const [room, n] of msg.sizes) if (n > 0) part.sizes.set(room, n);
        for (const [room, key, n] of msg.members ?? []) if (n > 0) putMember(part, room, key, n);
        if (msg.last) this.commit(msg.from);
        return true;
      }
      case "ver":
        // Another version (a snapshot still on its way too: its last part may be lost) is asked for
        // again; the caller's rate limit keeps that to one snapshot a second.
        return p !== undefined && p.ver === msg.ver;
      case "delta": {
        if (!p || p.ver < 0) return false;
        if (msg.ver <= p.ver) return true; // already applied (or superseded by a snapshot)
        if (msg.ver !== p.ver + 1) return false;
        p.ver = msg.ver;
        const part = partOf(p.parts, msg.nsp);
        for (const [room, n] of msg.sizes) this.totals.addSize(msg.nsp, room, n - put(part.sizes, room, n));
        for (const [room, key, n] of msg.members ?? []) this.totals.addMember(msg.nsp, room, key, n - putMember(part, room, key, n));
        return true;
      }
    }
  }

  has(peer: string): boolean {
    return this.peers.has(peer);
  }

  ids(): Iterable<string> {
    return this.peers.keys();
  }

  /** Size of `room` on `peer` (0: none, or nothing known). */
  size(peer: string, nsp: string, room: Room): number {
    return this.peers.get(peer)?.parts.get(nsp)?.sizes.get(room) ?? 0;
  }

  /** A peer is gone (or unheard for too long): its part leaves the totals. */
  drop(peer: string): void {
    const p = this.peers.get(peer);
    if (!p) return;
    this.peers.delete(peer);
    this.swap(p.parts, new Map());
  }

  /** A completed snapshot replaces the peer's part; only the differences reach the totals (a
   *  member in both stays, without a leave and a join). */
  private commit(peer: string): void {
    const p = this.peers.get(peer)!;
    const next = p.next!;
    p.next = undefined;
    p.ver = next.ver;
    const old = p.parts;
    p.parts = next.parts;
    this.swap(old, next.parts);
  }

  private swap(old: Map<string, NspPart>, now: Map<string, NspPart>): void {
    const empty = newPart();
    // Appearances first, then departures: a member present in both never crosses zero.
    for (const [nsp, part] of now) {
      const before = old.get(nsp) ?? empty;
      for (const [room, n] of part.sizes) this.totals.addSize(nsp, room, n - (before.sizes.get(room) ?? 0));
      for (const [room, keys] of part.members) for (const [key, n] of keys) this.totals.addMember(nsp, room, key, n - memberCount(before, room, key));
    }
    for (const [nsp, part] of old) {
      const after = now.get(nsp) ?? empty;
      for (const [room, n] of part.sizes) if (!after.sizes.has(room)) this.totals.addSize(nsp, room, -n);
      for (const [room, keys] of part.members) for (const [key, n] of keys) if (memberCount(after, room, key) === 0) this.totals.addMember(nsp, room, key, -n);
    }
  }
}
