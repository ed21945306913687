// Counters of the Engine.IO endpoint for monitoring: connections opened, handshakes refused and
// sessions ended, by reason. Plain integers bumped once per event (no per-frame work); whoever
// exports them (ops/metrics.ts) reads them when scraped. Knows nothing of Prometheus.

/** Why a request was refused (the label of `roomgate_handshakes_refused_total`): Engine.IO's error,
 *  in snake case ("transport_unknown", "session_id_unknown", "bad_request", "forbidden",
 *  "unsupported_protocol_version", …). */
export type RefusalReason = string;

export class EngineStats {
  /** Sessions opened since start. */
  opened = 0;
  /** Upgrades refused, by reason. */
  readonly refused = new Map<RefusalReason, number>();
  /** Sessions ended, by disconnect reason. */
  readonly disconnects = new Map<string, number>();

  refuse(reason: RefusalReason): void {
    this.refused.set(reason, (this.refused.get(reason) ?? 0) + 1);
  }

  disconnect(reason: string): void {
    this.disconnects.set(reason, (this.disconnects.get(reason) ?? 0) + 1);
  }
}
