// Presence of one namespace, as the application sees it (Pusher's presence channels, Centrifugo's
// presence): per room, the distinct members by a key the application chooses (a user id, say),
// across the whole cluster, with "join" and "leave" fired once per member and room on every
// worker: a member with two tabs on two workers joins with the first and leaves with the last.
// Owns the options (which key, which rooms) and each local socket's key as counted at its first
// presence room; the counts and the events' timing come from room-state-sync.ts. Off unless the
// application turns it on for the namespace (ClusterAdapter.presence): no cost when off.
import { EventEmitter } from "node:events";
import type { Socket } from "../api/socket.ts";
import type { Room, SocketId } from "../rooms/types.ts";

export interface RoomPresenceOptions<S = Socket> {
  /** The member a socket counts as (e.g. `(socket) => socket.data.userId`): a non-empty string or a
   *  finite number; anything else (undefined: not known yet) leaves the socket out. Read once per
   *  socket, at its first join of a presence room. */
  key(socket: S): unknown;
  /** The rooms with presence (default: every room but the sockets' own). */
  rooms?: RegExp | ((room: Room) => boolean);
}

export interface RoomPresenceEvents {
  /** `member` is now in `room` somewhere in the cluster (its first socket there). */
  join: (room: Room, member: string) => void;
  /** `member` has no socket left in `room` anywhere in the cluster (also when its worker died). */
  leave: (room: Room, member: string) => void;
}

/** A member's key as the wire carries it, or null (not a member). */
export function memberKey(value: unknown): string | null {
  if (typeof value === "string") return value.length > 0 && value.length <= 256 ? value : null;
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  return null;
}

interface Counted {
  key: string;
  rooms: Set<Room>;
}

export interface RoomPresence {
  on<E extends keyof RoomPresenceEvents>(ev: E, listener: RoomPresenceEvents[E]): this;
  once<E extends keyof RoomPresenceEvents>(ev: E, listener: RoomPresenceEvents[E]): this;
  off<E extends keyof RoomPresenceEvents>(ev: E, listener: RoomPresenceEvents[E]): this;
  emit<E extends keyof RoomPresenceEvents>(ev: E, ...args: Parameters<RoomPresenceEvents[E]>): boolean;
}

// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: typed overloads of EventEmitter's methods
export class RoomPresence extends EventEmitter {
  private readonly matches: (room: Room) => boolean;
  private readonly counted = new Map<SocketId, Counted>();

  constructor(
    private readonly opts: RoomPresenceOptions<any>,
    /** The members of a room and their socket counts, cluster-wide (room-state-sync.ts). */
    private readonly view: { members(room: Room): ReadonlyMap<string, number>; rooms(): Iterable<Room> },
  ) {
    super();
    if (typeof opts?.key !== "function") throw new TypeError("presence: `key` must be a function of the socket (e.g. (socket) => socket.data.userId)");
    const rooms = opts.rooms;
    if (rooms !== undefined && !(rooms instanceof RegExp) && typeof rooms !== "function")
      throw new TypeError("presence: `rooms` must be a RegExp or a function");
    this.matches = rooms === undefined ? () => true : rooms instanceof RegExp ? (r) => rooms.test(String(r)) : rooms;
  }

  /** The distinct members in `room`, cluster-wide (as of the last state heard from each worker). */
  members(room: Room): string[] {
    return [...this.view.members(room).keys()];
  }

  /** Whether `member` is in `room` somewhere in the cluster. */
  has(room: Room, member: string): boolean {
    return this.view.members(room).has(member);
  }

  /** Rooms with at least one member. */
  rooms(): Room[] {
    return [...this.view.rooms()];
  }

  /** @internal A local socket joined `room`: the member it counts as there, or null. */
  enter(id: SocketId, room: Room, socket: unknown): string | null {
    if (room === id || !this.matches(room)) return null;
    let c = this.counted.get(id);
    if (!c) {
      const key = memberKey(this.readKey(socket));
      if (key === null) return null;
      this.counted.set(id, (c = { key, rooms: new Set() }));
    }
    if (c.rooms.has(room)) return null;
    c.rooms.add(room);
    return c.key;
  }

  /** @internal A local socket left `room`: the member it counted as there, or null. */
  exit(id: SocketId, room: Room): string | null {
    const c = this.counted.get(id);
    if (!c?.rooms.delete(room)) return null;
    if (c.rooms.size === 0) this.counted.delete(id);
    return c.key;
  }

  private readKey(socket: unknown): unknown {
    try {
      return this.opts.key(socket);
    } catch {
      return undefined; // an application's key function that throws leaves the socket out
    }
  }
}
