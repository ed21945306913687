// A connection's inbound budget: how many frames and bytes a client may send per interval before it
// is disconnected. Fixed windows (one clock read and two additions per frame); knows nothing of
// what the frames mean.

export interface InboundRateLimit {
  /** Frames (Socket.IO packets, binary attachments, Engine.IO pings) per interval. */
  events: number;
  /** Bytes per interval, frames' payloads counted. */
  bytes: number;
  /** Window length in ms. */
  interval: number;
}

/** Reason a client over its budget is disconnected with (WebSocket close reason and server-side
 *  `disconnect` reason). */
export const RATE_LIMIT_REASON = "rate limit exceeded";

export class InboundBudget {
  private windowEnd = 0;
  private events = 0;
  private bytes = 0;

  constructor(private readonly limit: InboundRateLimit) {}

  /** Counts one frame of `bytes`; false when it takes the connection over its budget. */
  spend(bytes: number, now = Date.now()): boolean {
    if (now >= this.windowEnd) {
      this.windowEnd = now + this.limit.interval;
      this.events = 0;
      this.bytes = 0;
    }
    this.events++;
    this.bytes += bytes;
    return this.events <= this.limit.events && this.bytes <= this.limit.bytes;
  }
}
