// Engine.IO's server-side heartbeat for every session, spread over time: a timing wheel of
// buckets, each session in one bucket chosen at random. Every tick pings one bucket and checks
// the bucket pinged pingTimeout ago for sessions that never answered. One timer pinging every
// session at once made a burst: at 20k connections the one-room p99 went from 6–24 ms to
// 265–377 ms in that second, and workers started together pinged in the same second (issue #16).
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

export class Heartbeat<P extends HeartbeatPeer> {
  private readonly buckets: Set<P>[];
  private count = 0;
  /** How many buckets behind the one being pinged the pong deadline falls (0: the same one, checked before its ping). */
  private readonly deadlineLag: number;
  private readonly tickMs: number;
  private cursor = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    pingInterval: number,
    pingTimeout: number,
    private readonly ping: (peer: P) => void,
    private readonly timedOut: (peer: P) => void,
  ) {
    const count = Math.min(MAX_BUCKETS, Math.max(1, Math.round(pingInterval / TICK_MS)));
    this.tickMs = pingInterval / count;
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

  /** A new session: its first ping comes at a random point of the next interval. */
  add(peer: P): void {
    if (peer.heartbeatBucket >= 0) return;
    const b = Math.floor(Math.random() * this.buckets.length);
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
