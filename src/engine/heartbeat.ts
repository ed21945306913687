// Engine.IO's server-side heartbeat for every session, spread over time: a timing wheel of
// buckets, each session in one bucket. Every tick pings one bucket and checks the bucket pinged
// pingTimeout ago for sessions that never answered. One timer pinging every session at once made a
// burst: at 20k connections the one-room p99 went from 6–24 ms to 265–377 ms in that second, and
// workers started together pinged in the same second (issue #16).
// The first ping: Socket.IO's comes pingInterval after the handshake; here it comes in
// (pingInterval - FIRST_PING_JITTER * pingInterval, pingInterval], never later, and at most 10 %
// earlier (the README's "Heartbeat"). A session goes to the bucket the wheel reaches one interval
// after it connected, less a random 0 to 10 % of the wheel: sessions spread by their connection
// times, and a burst of them (a reconnect storm) over a tenth of the interval (25 ticks at the
// defaults), not one tick. (Before, a random bucket of the whole wheel: a first ping could come
// ~100 ms after the handshake, and the official client suite's packet-order tests saw a pong.)
// Knows nothing of sessions but the two methods of HeartbeatPeer.

export interface HeartbeatPeer {
  /** Set when pinged, cleared by the session when the pong arrives. */
  awaitingPong: boolean;
  /** The peer's bucket, kept by the wheel (-1: not in it). On the peer, not in a map: memory per
   *  connection is a target. */
  heartbeatBucket: number;
}

/** A tick every ~100 ms: 250 buckets for the default 25 s interval (200 pings a tick at 50k sessions). */
const TICK_MS = 100;
const MAX_BUCKETS = 1000;
/** Short intervals (tests) still get 10 buckets, ticks of 5 ms or more: the first ping's early
 *  margin stays a tenth of the interval (one bucket of 1 would make it the whole interval). */
const MIN_BUCKETS = 10;
const MIN_TICK_MS = 5;
/** How much earlier than pingInterval a first ping may come, as a share of it. */
export const FIRST_PING_JITTER = 0.1;

export class Heartbeat<P extends HeartbeatPeer> {
  private readonly buckets: Set<P>[];
  private count = 0;
  /** How many buckets behind the one being pinged the pong deadline falls (0: the same one, checked before its ping). */
  private readonly deadlineLag: number;
  private readonly tickMs: number;
  /** The first ping comes up to this many buckets early (FIRST_PING_JITTER of the wheel). */
  private readonly jitterBuckets: number;
  /** The bucket the next tick pings. */
  private cursor = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    pingInterval: number,
    pingTimeout: number,
    private readonly ping: (peer: P) => void,
    private readonly timedOut: (peer: P) => void,
  ) {
    const count = Math.min(MAX_BUCKETS, Math.max(1, Math.round(pingInterval / TICK_MS), Math.min(MIN_BUCKETS, Math.floor(pingInterval / MIN_TICK_MS))));
    this.tickMs = pingInterval / count;
    this.jitterBuckets = Math.max(1, Math.floor(count * FIRST_PING_JITTER));
    this.buckets = Array.from({ length: count }, () => new Set<P>());
    const lag = Math.ceil(pingTimeout / this.tickMs);
    this.deadlineLag = lag >= count ? 0 : lag;
  }

  get size(): number {
    return this.count;
  }

  /** Every peer, in no particular order. */
  *peers(): IterableIterator<P> {
    for (const bucket of this.buckets) yield* bucket;
  }

  /** A new session: its first ping comes one interval from now, less up to FIRST_PING_JITTER of it.
   *  The bucket the last tick pinged is reached again n ticks from now, less the time since that
   *  tick (under one tick): `early` buckets before it, n - early ticks. So the first ping comes in
   *  (pingInterval - (early + 1) ticks, pingInterval - early ticks], early < jitterBuckets. */
  add(peer: P): void {
    if (peer.heartbeatBucket >= 0) return;
    const n = this.buckets.length;
    const early = Math.floor(Math.random() * this.jitterBuckets);
    const b = (((this.cursor - 1 - early) % n) + n) % n;
    this.buckets[b].add(peer);
    peer.heartbeatBucket = b;
    this.count++;
  }

  remove(peer: P): void {
    const b = peer.heartbeatBucket;
    if (b < 0) return;
    this.buckets[b].delete(peer);
    peer.heartbeatBucket = -1;
    this.count--;
  }

  start(): void {
    this.timer ??= setInterval(() => this.tick(), this.tickMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private tick(): void {
    const n = this.buckets.length;
    const cursor = this.cursor;
    this.cursor = (cursor + 1) % n;
    // Collected first: closing a session removes it from its bucket.
    const late = [...this.buckets[(cursor - this.deadlineLag + n) % n]].filter((p) => p.awaitingPong);
    for (const peer of late) this.timedOut(peer);
    for (const peer of this.buckets[cursor]) {
      peer.awaitingPong = true;
      this.ping(peer);
    }
  }
}
