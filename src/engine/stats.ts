// Counters of the Engine.IO endpoint for monitoring: connections opened, requests refused (by
// Engine.IO's error and by the endpoint's finer cause), limits hit and sessions ended, by reason.
// Plain integers bumped once per connection event (no per-frame, no per-recipient work); whoever
// exports them (ops/metrics.ts) reads them when scraped. Knows nothing of Prometheus.

/** Why a request was refused (the `reason` label of `roomgate_handshakes_refused_total`): Engine.IO's
 *  error, in snake case ("transport_unknown", "session_id_unknown", "bad_request", "forbidden",
 *  "unsupported_protocol_version", "service_unavailable", …). */
export type RefusalReason = string;

/** What the endpoint knows beyond Engine.IO's code (the `cause` label): */
export type RefusalCause =
  /** The request broke the Engine.IO protocol (wrong version, transport, sid, method…). */
  | "protocol"
  /** Its Origin is not in allowedOrigins, or CORS refused it. */
  | "origin"
  /** More than one Origin header. */
  | "ambiguous_origin"
  /** The application's allowRequest said no (or threw). */
  | "allow_request"
  /** allowRequest did not call back within allowRequestTimeout. */
  | "allow_request_timeout"
  /** maxConnections / maxConnectionsPerIp. */
  | "max_connections"
  | "max_connections_per_ip";

/** Limits the endpoint enforces (the `limit` label of `roomgate_limits_hit_total`). */
export const ENGINE_LIMITS = ["maxConnections", "maxConnectionsPerIp", "allowRequestTimeout", "inboundRateLimit", "maxBackpressure"] as const;
export type EngineLimit = (typeof ENGINE_LIMITS)[number];

export class EngineStats {
  /** Sessions opened since start (moved in included). */
  opened = 0;
  /** Polling sessions that moved here from another worker at their upgrade, and moved away. */
  movedIn = 0;
  movedOut = 0;
  /** Requests refused, by reason, then by cause. */
  readonly refused = new Map<RefusalReason, Map<RefusalCause, number>>();
  /** Sessions ended, by disconnect reason. */
  readonly disconnects = new Map<string, number>();
  /** Times each limit refused a connection or cut one. */
  readonly limitsHit = new Map<EngineLimit, number>();

  refuse(reason: RefusalReason, cause: RefusalCause): void {
    let causes = this.refused.get(reason);
    if (causes === undefined) this.refused.set(reason, (causes = new Map()));
    causes.set(cause, (causes.get(cause) ?? 0) + 1);
  }

  limitHit(limit: EngineLimit): void {
    this.limitsHit.set(limit, (this.limitsHit.get(limit) ?? 0) + 1);
  }

  disconnect(reason: string): void {
    this.disconnects.set(reason, (this.disconnects.get(reason) ?? 0) + 1);
  }
}
