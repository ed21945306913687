// Connection-state recovery across workers: a client reconnecting to a worker that does not hold
// its parked session gets it from the worker that does. The owner kept the session's room interest
// (cluster subscriptions) alive while it was parked and recorded what it missed; on request it
// hands over the session with those events, and forgets it. Knows the cluster node's request /
// response and the recovery log's restore; nothing of sockets or transports.
import type { RestoredSession } from "../api/recovery.ts";
import type { ClusterAdapter } from "./cluster-adapter.ts";
import { PROTOCOL_VERSION as V, type RequestMessage, type SerializedSession } from "./protocol.ts";
import { randomBytes } from "node:crypto";

/** Asks the other workers serving the namespace for session `pid`; resolves to it, or to null when
 *  none holds it (or none answers within the cluster's requestTimeout). */
export function requestSession(adapter: ClusterAdapter, pid: string, offset: unknown): Promise<RestoredSession | null> {
  const node = adapter.node;
  const peers = node.peersServing(adapter.nspName);
  if (peers.length === 0) return Promise.resolve(null);
  return new Promise((resolve) => {
    // From the moment it arrives, later events reach the session through this worker's log (see
    // RecoveryLog.catchUp).
    const restored = (s: SerializedSession): RestoredSession => ({ ...s, upTo: adapter.recovery!.position, holding: false });
    node.request(
      {
        v: V,
        type: "restoreSession",
        origin: node.id,
        requestId: randomBytes(8).toString("hex"),
        nsp: adapter.nspName,
        pid,
        ...(typeof offset === "string" ? { offset } : {}),
      },
      peers,
      node.requestTimeout,
      (r) => {
        if (r.type === "session" && r.session) resolve(restored(r.session));
      },
      () => resolve(null), // nobody had it (a no-op once resolved)
    );
  });
}

/** The owner's side: hands the session over if it is parked here (an empty answer otherwise). */
export function answerSessionRequest(adapter: ClusterAdapter, msg: Extract<RequestMessage, { type: "restoreSession" }>, reply: string | undefined): void {
  const log = adapter.recovery;
  const r = log?.restore(msg.pid, msg.offset) ?? null;
  if (r) log!.release(r);
  const session: SerializedSession | null = r && { id: r.id, pid: r.pid, rooms: r.rooms, data: r.data, missed: r.missed.map((frames) => [...frames]) };
  adapter.node.respond(reply, { v: V, type: "session", from: adapter.node.id, requestId: msg.requestId, session });
}
