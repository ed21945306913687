// Room interest across workers: which rooms this worker announces (LocalInterest: the rooms where it
// has local members, batched into versioned InterestMessages) and which rooms each peer announced
// (PeerInterest), so that a broadcast to several rooms goes once to each worker holding any of them
// instead of once per room subject. Pure bookkeeping: knows the message shape (protocol.ts), not
// how messages travel nor any adapter.
//
// Memory: one Set entry per (peer, room with members there); socket-id rooms are never announced
// (their owner is in the id), so for N sockets in R rooms it is O(R × workers), not O(N).
import type { Room } from "../rooms/types.ts";
import { PROTOCOL_VERSION as V, type InterestMessage } from "./protocol.ts";

/** Rooms per snapshot message: keeps a snapshot well under a 1 MiB max_payload for room names up
 *  to ~200 bytes. */
const SNAPSHOT_CHUNK = 4096;

export class LocalInterest {
  /** Bumped once per delta message sent. */
  ver = 0;
  private readonly rooms = new Map<string, Set<Room>>();
  /** Rooms changed since the last delta, per namespace (their current state is in `rooms`). */
  private readonly dirty = new Map<string, Set<Room>>();

  constructor(private readonly from: string) {}

  add(nsp: string, room: Room): void {
    let set = this.rooms.get(nsp);
    if (!set) this.rooms.set(nsp, (set = new Set()));
    set.add(room);
    this.touch(nsp, room);
  }

  delete(nsp: string, room: Room): void {
    this.rooms.get(nsp)?.delete(room);
    this.touch(nsp, room);
  }

  get changed(): boolean {
    return this.dirty.size > 0;
  }

  changedIn(nsp: string): boolean {
    return this.dirty.has(nsp);
  }

  /** The changes since the last call, one message per namespace, each with the next version. */
  drain(): InterestMessage[] {
    const out: InterestMessage[] = [];
    for (const [nsp, rooms] of this.dirty) {
      const now = this.rooms.get(nsp);
      const add: Room[] = [];
      const del: Room[] = [];
      for (const r of rooms) (now?.has(r) ? add : del).push(r);
      out.push({ v: V, type: "interest", from: this.from, ver: ++this.ver, nsp, add, del });
    }
    this.dirty.clear();
    return out;
  }

  /** Every room, at the current version (call after `drain`, so nothing is left unsent). */
  snapshot(): InterestMessage[] {
    const out: InterestMessage[] = [];
    for (const [nsp, set] of this.rooms) {
      const all = [...set];
      for (let i = 0; i === 0 || i < all.length; i += SNAPSHOT_CHUNK)
        out.push({ v: V, type: "interest", from: this.from, ver: this.ver, snap: "more", nsp, add: all.slice(i, i + SNAPSHOT_CHUNK), del: [] });
    }
    if (out.length === 0) out.push({ v: V, type: "interest", from: this.from, ver: this.ver, snap: "more", nsp: "/", add: [], del: [] });
    out[0]!.snap = "reset";
    return out;
  }

  private touch(nsp: string, room: Room): void {
    let set = this.dirty.get(nsp);
    if (!set) this.dirty.set(nsp, (set = new Set()));
    set.add(room);
  }
}

interface PeerRooms {
  ver: number;
  nsps: Map<string, Set<Room>>;
}

export class PeerInterest {
  private readonly peers = new Map<string, PeerRooms>();

  /** Applies a peer's message; false when a version is missing (the caller asks for a snapshot). */
  apply(msg: InterestMessage): boolean {
    let p = this.peers.get(msg.from);
    if (msg.snap === "reset") {
      p = { ver: msg.ver, nsps: new Map() };
      this.peers.set(msg.from, p);
    } else if (!p) {
      return false;
    } else if (msg.snap === "more") {
      if (msg.ver !== p.ver) return true; // part of an older snapshot: a newer state is on its way
    } else if (msg.ver <= p.ver) {
      return true; // already applied (or superseded by a snapshot)
    } else if (msg.ver !== p.ver + 1) {
      return false;
    } else {
      p.ver = msg.ver;
    }
    let set = p.nsps.get(msg.nsp);
    if (!set) p.nsps.set(msg.nsp, (set = new Set()));
    for (const r of msg.add) set.add(r);
    for (const r of msg.del) set.delete(r);
    return true;
  }

  /** The version held for `peer` (undefined: nothing known). */
  version(peer: string): number | undefined {
    return this.peers.get(peer)?.ver;
  }

  drop(peer: string): void {
    this.peers.delete(peer);
  }

  clear(): void {
    this.peers.clear();
  }

  /** Adds to `into` every peer (among `among`) that announced one of `rooms` in `nsp`. */
  interested(nsp: string, rooms: readonly Room[], among: Iterable<string>, into: Set<string>): void {
    for (const id of among) {
      const set = this.peers.get(id)?.nsps.get(nsp);
      if (!set || set.size === 0) continue;
      for (const r of rooms)
        if (set.has(r)) {
          into.add(id);
          break;
        }
    }
  }
}
