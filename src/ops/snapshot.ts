// An aggregate view of one gateway for operators: sessions by transport, namespaces, rooms (counts,
// a bounded size histogram, the largest ones), the delivery, engine and API counters, and the
// cluster link. Read on demand (a scrape, a dashboard poll): walks rooms and sessions, never
// per-socket lists, so it stays cheap at 20,000+ connections. Knows no HTTP and no Prometheus.
import type { Server } from "../api/server.ts";
import { ClusterAdapter } from "../cluster/cluster-adapter.ts";
import type { ClusterNode } from "../cluster/node.ts";
import { ENGINE_LIMITS } from "../engine/stats.ts";

export interface RoomSize {
  nsp: string;
  room: string;
  size: number;
}

export interface ClusterView {
  /** This worker's id in the cluster. */
  id: string;
  linkUp: boolean;
  /** Other workers heard from recently. */
  peers: string[];
  broadcastsIn: number;
  broadcastsOut: number;
  duplicatesDropped: number;
  /** Payloads from the cluster that did not decode (dropped, counted and logged). */
  undecodable: number;
  /** Publishes dropped while the relay was unreachable. */
  unreachableDropped: number;
  msgsIn: number;
  msgsOut: number;
  bytesIn: number;
  bytesOut: number;
  /** Outages reported as "cluster-gap": how many, the messages they lost, their total length. */
  gaps: number;
  gapUnconfirmed: number;
  gapDropped: number;
  gapMs: number;
}

/** The cluster node a server's namespaces share, or null when it is standalone. */
export function clusterNodeOf(io: Server): ClusterNode | null {
  const adapter = io.of("/").adapter;
  return adapter instanceof ClusterAdapter ? adapter.node : null;
}

export function clusterView(io: Server): ClusterView | null {
  const node = clusterNodeOf(io);
  if (!node) return null;
  const t = node.link.stats();
  return {
    id: node.id,
    linkUp: node.link.connected,
    peers: node.peers.live(),
    broadcastsIn: node.stats.broadcastsIn,
    broadcastsOut: node.stats.broadcastsOut,
    duplicatesDropped: node.stats.duplicatesDropped,
    undecodable: node.stats.undecodable,
    unreachableDropped: t?.dropped ?? 0,
    msgsIn: t?.inMsgs ?? 0,
    msgsOut: t?.outMsgs ?? 0,
    bytesIn: t?.inBytes ?? 0,
    bytesOut: t?.outBytes ?? 0,
    gaps: node.stats.gaps,
    gapUnconfirmed: node.stats.gapUnconfirmed,
    gapDropped: node.stats.gapDropped,
    gapMs: node.stats.gapMs,
  };
}

/** Every limit with its count, zeros included (a series that exists before its first hit is one
 *  an alert can watch): the endpoint's and the API's. */
export function limitsHit(io: Server): [string, number][] {
  const engine = io.engineEndpoint.stats.limitsHit;
  return [...ENGINE_LIMITS.map((l) => [l, engine.get(l) ?? 0] as [string, number]), ...Object.entries(io.stats.limitsHit)];
}

/** Calls `fn` for every application room (own rooms of a single socket are not rooms here). */
export function forEachRoom(io: Server, fn: (nsp: string, room: string, size: number) => void): void {
  for (const [name, nsp] of io._nsps) for (const [room, size] of nsp.adapter.rooms.applicationRooms()) fn(name, String(room), size);
}

/** The `limit` largest rooms whose name contains `search` (all when empty), largest first. */
export function topRooms(io: Server, limit: number, search = ""): { total: number; matched: number; top: RoomSize[] } {
  const top: RoomSize[] = [];
  let total = 0;
  let matched = 0;
  forEachRoom(io, (nsp, room, size) => {
    total++;
    if (search && !room.includes(search)) return;
    matched++;
    if (top.length === limit && top[top.length - 1].size >= size) return;
    // Insertion into a short sorted list: limit is small (tens), rooms may be many.
    let i = top.length;
    while (i > 0 && top[i - 1].size < size) i--;
    top.splice(i, 0, { nsp, room, size });
    if (top.length > limit) top.pop();
  });
  return { total, matched, top };
}
