// Connection-state recovery across workers: a client reconnecting to a worker that does not hold
// its parked session gets it from the worker that does (the owner), in two phases, so that nothing
// published to the session's rooms during the handover is lost or delivered twice:
//   1. peek: the new worker asks the cluster who holds the session and learns its rooms;
//   2. it subscribes to those rooms and announces its interest in them (the session's id room
//      included, unless the id is its own), notes its own log position, and waits until every peer
//      it knows serving the namespace (timed-out ones too: a stalled worker publishes as soon as it
//      wakes) has applied that interest (node.interestAcknowledged); only then
//      does it ask the owner to take the session: the owner cuts there and hands over the state
//      with the events it missed, each tagged with its origin and sequence number; the new worker
//      then adds what its own log recorded for those rooms since the noted position, less the tags
//      the owner sent (see SessionRecovery.replay).
// Why lossless: a broadcast reaches workers by the room's subject (one room) or by the interest its
// publisher knows of (unions, excepts, socket ids: node.ts). The relay (or one nats-server) hands
// each worker the messages in the order it processed them. The owner keeps the rooms subscribed and
// announced until the cut. An event routed without the new worker (processed before its SUB, or
// published before its publisher applied its interest, i.e. before that publisher's ack) was
// processed before the take request, so it reached the owner before the cut. Any other event
// reaches the new worker after its noted position (its SUB and interest left in the same turn as
// the note). Events that reached both are dropped by tag. Per origin, the owner's events precede the
// new worker's, so the order holds too. It needs one server's ordering: across a nats-server
// cluster (routes) an event can overtake the take request; README says so.
// Installed once per server (session-mobility.ts) as the RemoteSessions port of connection-state
// recovery (api/recovery/session-recovery.ts); knows the cluster node's requests and that facade,
// nothing of sockets or transports.
import type { RemoteSessions, RestoredSession, SessionRecovery } from "../api/recovery/session-recovery.ts";
import type { ClusterNode } from "./node.ts";
import { PROTOCOL_VERSION as V, type MessageOf, type SerializedSession } from "./protocol.ts";
import { Requests } from "./requests.ts";

/** A cluster broadcast's identity, the same on every worker: its origin and sequence number. */
export function broadcastTag(origin: string, seq: number): string {
  return `${origin}:${seq}`;
}

/** Sends a restoreSession request to `peers`; resolves to the first session answered (and who
 *  answered), or null when none has it within the cluster's requestTimeout. */
function ask(
  node: ClusterNode,
  nsp: string,
  pid: string,
  offset: unknown,
  peek: boolean,
  peers: string[],
): Promise<{ from: string; session: SerializedSession } | null> {
  return new Promise((resolve) => {
    const msg: MessageOf<"restoreSession"> = {
      v: V,
      type: "restoreSession",
      origin: node.id,
      requestId: Requests.newId(),
      nsp,
      pid,
      ...(typeof offset === "string" ? { offset } : {}),
      ...(peek ? { peek: true } : {}),
    };
    node.requests.request(
      msg,
      peers,
      node.requestTimeout,
      (r) => {
        if (r.type === "session" && r.session && peers.includes(r.from)) resolve({ from: r.from, session: r.session });
      },
      () => resolve(null), // nobody had it (a no-op once resolved)
    );
  });
}

export class SessionHandover implements RemoteSessions {
  constructor(readonly node: ClusterNode) {}

  /** The new worker's side: the session `pid` from the worker holding it, or null. */
  async restore(recovery: SessionRecovery, pid: string, offset: unknown): Promise<RestoredSession | null> {
    const node = this.node;
    const nsp = recovery.nsp;
    const peers = node.peersServing(nsp);
    if (peers.length === 0) return null;
    const found = await ask(node, nsp, pid, offset, true, peers);
    if (!found) return null;
    // Phase 2 only once this worker receives the session's rooms itself, whoever publishes to them.
    const held = found.session.rooms;
    recovery.hold(held);
    for (const room of held) node.interest.join(nsp, room);
    const upTo = recovery.position;
    const silent = await node.interest.acknowledged(nsp);
    if (silent > 0)
      node.log("warn", `cluster: ${silent} peer(s) did not acknowledge this worker's interest within requestTimeout; taking the session all the same`);
    const taken = await ask(node, nsp, pid, offset, false, [found.from]);
    if (!taken) {
      recovery.releaseHold(held);
      return null;
    }
    const s = taken.session;
    // Its rooms cannot have changed while parked; should they have, the hold follows them.
    recovery.hold(s.rooms);
    recovery.releaseHold(held);
    const tags = Array.isArray(s.tags) && s.tags.length === s.missed.length ? s.tags : s.missed.map(() => null);
    const skip = new Set<string>();
    for (const t of tags) if (typeof t === "string") skip.add(t);
    return { id: s.id, pid: s.pid, rooms: s.rooms, data: s.data, missed: s.missed, tags, upTo, holding: true, skip };
  }
}

/** The owner's side: tells the session's rooms (peek) or hands it over with what it missed, if it
 *  is parked here; an empty answer otherwise. Whether a session was handed over. */
export function answerSessionRequest(
  node: ClusterNode,
  recovery: SessionRecovery | null,
  msg: MessageOf<"restoreSession">,
  reply: string | undefined,
): boolean {
  let session: SerializedSession | null = null;
  if (msg.peek) {
    const rooms = recovery?.peek(msg.pid) ?? null;
    if (rooms) session = { id: "", pid: msg.pid, rooms, data: null, missed: [] };
  } else {
    const r = recovery?.restoreHere(msg.pid, msg.offset) ?? null;
    if (r) {
      recovery!.release(r);
      session = { id: r.id, pid: r.pid, rooms: r.rooms, data: r.data, missed: r.missed.map((frames) => [...frames]), tags: r.tags };
    }
  }
  node.respond(reply, { v: V, type: "session", from: node.id, requestId: msg.requestId, session });
  return !msg.peek && session !== null;
}
