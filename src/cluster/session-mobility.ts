// The cluster's half of session mobility, installed once per server when its cluster node is made
// (createClusterAdapter): polling requests and moves at the upgrade for the engine
// (session-forwarding.ts), and the handover of parked sessions for connection-state recovery
// (session-handover.ts). Knows the server only through routeSessions.
import type { Server } from "../api/server.ts";
import type { ClusterNode } from "./node.ts";
import { SessionForwarding } from "./session-forwarding.ts";
import { SessionHandover } from "./session-handover.ts";

export function installSessionMobility(server: Server, node: ClusterNode): void {
  // The engine's sessions are looked up at each request: attachApp replaces the endpoint.
  server.routeSessions(new SessionForwarding(node, () => server.engineEndpoint), new SessionHandover(node));
}
