// Joining before serving: a worker should take clients only once its relay link is up and it has
// heard the workers already there. A client reaching a new worker during a deploy may poll a
// session owned by another worker (forwarded only to a peer it knows live) or reconnect with a
// session parked on another worker (asked only of the peers it knows); a worker that has not heard
// them yet answers "Session ID unknown" or gives a new session (seen: a polling client lost its
// session to a worker that listened 40 ms before it knew its peers). Peers answer a hello at once
// (presence.ts): after our hello is through the relay (a flush), this waits until no new peer has
// been heard for QUIET_MS. Not a strict barrier (membership is not known in advance): a peer whose
// event loop is stalled longer than that is learned later, by its answer or its next heartbeat.
// Knows the node's link and peers; nothing of servers or listeners.
import type { ClusterNode } from "./node.ts";

/** No new peer heard for this long (ms) after our hello: the others have answered. A peer answers
 *  within one turn of its event loop (~1 ms idle on loopback). */
const QUIET_MS = 150;
const POLL_MS = 10;

/** Resolves once `node` has joined (see the header), or after `maxMs` (a worker without its relay
 *  still serves its own clients); says how many live peers it knows and how long it took. */
export async function joinCluster(node: ClusterNode, maxMs: number): Promise<{ joined: boolean; peers: number; ms: number }> {
  const start = Date.now();
  const left = () => maxMs - (Date.now() - start);
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  await Promise.race([node.ready, sleep(maxMs)]);
  if (!node.link.connected) return { joined: false, peers: 0, ms: Date.now() - start };
  await node.link.flush(Math.max(1, left()));
  let known = node.peers.live().length;
  let quietSince = Date.now();
  while (left() > 0 && Date.now() - quietSince < QUIET_MS) {
    await sleep(POLL_MS);
    const now = node.peers.live().length;
    if (now !== known) {
      known = now;
      quietSince = Date.now();
    }
  }
  return { joined: true, peers: known, ms: Date.now() - start };
}
