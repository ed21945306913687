// Counters of the delivery layer for monitoring: broadcasts and deliveries by path, bytes written
// and frames dropped for backpressure. Bumped once per broadcast with counts the planner already
// has (a native publish's recipients are its rooms' sizes), never once per recipient; whoever
// exports them (ops/metrics.ts) reads them when scraped. Knows nothing of Prometheus.

/** How a message reached its recipients: a native uWS topic publish (a room or the namespace),
 *  a maintained derived topic, socket by socket (unions/excepts that overlap), or a single
 *  socket's own emit or ack reply ("direct"). */
export type DeliveryPath = "native" | "derived" | "per_socket" | "direct";

export class PathCounters {
  /** Broadcasts that used this path (a broadcast split over two paths counts on both). */
  broadcasts = 0;
  /** Recipients reached by this path (one per socket per broadcast, frames of one packet together). */
  deliveries = 0;
  /** Frame bytes written through this path (frame size × recipients). */
  bytes = 0;
}

export class DeliveryStats {
  readonly native = new PathCounters();
  readonly derived = new PathCounters();
  readonly per_socket = new PathCounters();
  readonly direct = new PathCounters();
  /** Volatile messages skipped because the recipient's connection was congested. */
  volatileDropped = 0;

  count(path: PathCounters, recipients: number, frameBytes: number): void {
    path.broadcasts++;
    path.deliveries += recipients;
    path.bytes += recipients * frameBytes;
  }
}

/** Bytes of a packet's frames (its text frame and binary attachments). */
export function framesBytes(frames: readonly { data: Uint8Array }[]): number {
  let n = 0;
  for (let i = 0; i < frames.length; i++) n += frames[i].data.byteLength;
  return n;
}
