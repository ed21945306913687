// Presence: the other workers as this one hears them (heartbeats, hellos), each with the namespaces
// it serves and when it was last heard from; which of them are live; and this worker's own stalls,
// so that a peer's silence leaves out the time this worker was not listening. Knows no message, no
// transport and no room interest: the node tells it whom it heard, and it tells the node (onForget)
// whom to forget; it publishes nothing.
import type { LogLevel } from "./transport.ts";

interface Peer {
  lastSeen: number;
  /** This worker's `unlistened` when the peer was last heard from. */
  unlistenedAtSeen: number;
  nsps: Set<string>;
  /** Counted (and logged) as timed out since last heard from. */
  timedOut?: boolean;
}

/** A peer silent for this many heartbeatTimeouts is forgotten (its interest too); before that, a
 *  timed-out peer no longer counts as live but unions still go to it by its last interest: a peer
 *  that missed heartbeats because its event loop (or this one's) stalled keeps receiving what its
 *  rooms are sent, while a dead one only costs publishes nobody receives. */
const FORGET_AFTER_TIMEOUTS = 5;

export interface PeersOptions {
  /** How often judge() runs (ms): a tick later than this is time this worker was not listening. */
  judgeInterval: number;
  heartbeatTimeout: number;
  log(level: LogLevel, message: string): void;
  /** The counters of ClusterNode.stats kept here (see there). */
  stats: { peersTimedOut: number; stalls: number };
  /** Called for a peer silent for FORGET_AFTER_TIMEOUTS × heartbeatTimeout (already removed here). */
  onForget(id: string): void;
  /** Called once when a peer is declared not live (timed out): what awaits its answers stops
   *  waiting (requests.ts's peerLost). */
  onTimedOut(id: string): void;
}

export class Peers {
  private readonly peers = new Map<string, Peer>();
  private lastTick = Date.now();
  /** How long (ms, in total) this worker's heartbeat ticks came late: time its event loop was busy
   *  or stalled, when peers' heartbeats waited unread. A peer's silence leaves that time out. */
  private unlistened = 0;

  constructor(private readonly opts: PeersOptions) {}

  /** A heartbeat or hello from `id`, serving `nsps`; whether the peer was known before. */
  heard(id: string, nsps: string[]): boolean {
    const known = this.peers.has(id);
    this.peers.set(id, { lastSeen: Date.now(), unlistenedAtSeen: this.unlistened, nsps: new Set(nsps) });
    return known;
  }

  /** Live peers (serving `nsp` when given), as known now. */
  live(nsp?: string): string[] {
    const now = Date.now();
    const out: string[] = [];
    for (const [id, p] of this.peers) if (this.silence(p, now) <= this.opts.heartbeatTimeout && (nsp === undefined || p.nsps.has(nsp))) out.push(id);
    return out;
  }

  /** Whether worker `id` is a live peer (heard from within heartbeatTimeout). */
  isLive(id: string): boolean {
    const p = this.peers.get(id);
    return p !== undefined && this.silence(p, Date.now()) <= this.opts.heartbeatTimeout;
  }

  /** Every known peer serving `nsp`, timed-out ones too. */
  serving(nsp: string): string[] {
    const out: string[] = [];
    for (const [id, p] of this.peers) if (p.nsps.has(nsp)) out.push(id);
    return out;
  }

  /** Every known peer, timed-out ones too. */
  ids(): Iterable<string> {
    return this.peers.keys();
  }

  forget(id: string): void {
    this.peers.delete(id);
  }

  clear(): void {
    this.peers.clear();
  }

  /** Every judgeInterval: counts this worker's lateness, then times out and forgets peers. */
  judge(now: number): void {
    this.accountLateness(now);
    for (const [id, p] of this.peers) {
      const silent = this.silence(p, now);
      if (silent > FORGET_AFTER_TIMEOUTS * this.opts.heartbeatTimeout) {
        this.opts.log("warn", `cluster: worker ${id} not heard from for ${silent} ms: forgotten (its interest too)`);
        this.peers.delete(id);
        this.opts.onForget(id);
      } else if (silent > this.opts.heartbeatTimeout && !p.timedOut) {
        p.timedOut = true;
        this.opts.stats.peersTimedOut++;
        this.opts.log(
          "warn",
          `cluster: worker ${id} not heard from for ${silent} ms (heartbeatTimeout ${this.opts.heartbeatTimeout}): not live until heard again (unions still go to it; requests stop waiting for it)`,
        );
        this.opts.onTimedOut(id);
      }
    }
  }

  // Timers run before the poll phase: after a stall, this tick comes before the heartbeats that
  // arrived meanwhile are read. Judging peers by them would time out every live one: the time
  // this worker was late (not listening) does not count as their silence.
  private accountLateness(now: number): void {
    const late = now - this.lastTick - this.opts.judgeInterval;
    this.lastTick = now;
    if (late > 0) this.unlistened += late;
    if (late > this.opts.heartbeatTimeout) {
      this.opts.stats.stalls++;
      this.opts.log("warn", `cluster: this worker's event loop stalled for ~${late} ms (heartbeatTimeout ${this.opts.heartbeatTimeout})`);
    }
  }

  /** How long a peer has been silent while this worker was listening. */
  private silence(p: Peer, now: number): number {
    return now - p.lastSeen - (this.unlistened - p.unlistenedAtSeen);
  }
}
