// Where a broadcast or an operation on a selection of sockets goes: the one routing rule of the
// cluster, shared by a worker (node.ts, which knows its peers' interest), its transport
// (nats/nats-transport.ts, which turns a route into subjects) and the emitter (which knows no peer).
// Pure: knows socket ids (protocol.ts's ownerOf), not subjects, transports or adapters.
//
// - No room, or more than maxRoomSubjects: every worker serving the namespace, once (one publish
//   costs less than many).
// - A worker's broadcast to one room that is not a socket id: the room's own subject (the workers
//   subscribed there while they hold members of it).
// - A worker's broadcast to several rooms, or to socket ids: once to each worker that may hold a
//   recipient (the owner named in a socket id, the peers that announced one of the rooms), so a
//   union of k rooms crosses the relay once per interested worker, not k times; once to the whole
//   namespace instead when that is every peer serving it.
// - A worker's operation on socket ids only: to those workers alone; on any other room: the namespace.
// - The emitter's broadcast (it knows no interest): each room's subject, and each socket id's owner
//   (an owner does not subscribe to its own sockets' rooms: it listens on its own subject).
import type { Room } from "../rooms/types.ts";
import { ownerOf } from "./protocol.ts";

export type Route =
  /** Every worker serving the namespace, once. */
  | { readonly to: "namespace" }
  /** Each room's subject, then each named worker's own subject. */
  | { readonly to: "rooms"; readonly rooms: readonly Room[]; readonly owners: readonly string[] }
  /** Each worker's own subject, once (none: nobody to send to). */
  | { readonly to: "workers"; readonly workers: Iterable<string> };

export const NAMESPACE: Route = { to: "namespace" };
const NO_OWNERS: readonly string[] = [];

/** One worker's own subject. */
export function toWorker(id: string): Route {
  return { to: "workers", workers: [id] };
}

/** What a worker knows of the others when it routes. */
export interface RouteView {
  readonly self: string;
  readonly maxRoomSubjects: number;
  /** Adds to `into` every known peer (timed-out ones too) that announced one of `rooms` in `nsp`. */
  interested(nsp: string, rooms: readonly Room[], into: Set<string>): void;
  /** The live peers serving `nsp`. */
  serving(nsp: string): string[];
}

/** A broadcast to `rooms` of `nsp`, by a worker (`view`) or by the emitter (`maxRoomSubjects` alone). */
export function routeBroadcast(nsp: string, rooms: readonly Room[], view: RouteView | { readonly maxRoomSubjects: number }): Route {
  if (rooms.length === 0 || rooms.length > view.maxRoomSubjects) return NAMESPACE;
  if (!("self" in view)) {
    const owners: string[] = [];
    for (const r of rooms) {
      const owner = ownerOf(r);
      if (owner !== null) owners.push(owner);
    }
    return { to: "rooms", rooms, owners };
  }
  if (rooms.length === 1 && ownerOf(rooms[0]!) === null) return { to: "rooms", rooms, owners: NO_OWNERS };
  const workers = workersFor(nsp, rooms, view);
  if (workers.size > 1 && view.serving(nsp).every((p) => workers.has(p))) return NAMESPACE;
  return { to: "workers", workers };
}

/** An operation (join, leave, disconnect) on the sockets `rooms` select, by a worker. */
export function routeSelection(nsp: string, rooms: readonly Room[], view: RouteView): Route {
  if (rooms.length === 0 || rooms.length > view.maxRoomSubjects || !rooms.every((r) => ownerOf(r) !== null)) return NAMESPACE;
  return { to: "workers", workers: workersFor(nsp, rooms, view) };
}

/** Workers other than this one that may hold members of `rooms`: the owners named by socket ids,
 *  and the peers that announced one of the rooms. */
function workersFor(nsp: string, rooms: readonly Room[], view: RouteView): Set<string> {
  const out = new Set<string>();
  for (const r of rooms) {
    const owner = ownerOf(r);
    if (owner !== null && owner !== view.self) out.add(owner);
  }
  view.interested(nsp, rooms, out);
  return out;
}
