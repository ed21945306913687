// Inbound budgets: how much a client may make this process do per interval before it is
// disconnected. Three measures: frames, bytes, and deliveries (the recipients here of the
// broadcasts its events cause: a broadcast weighs what it costs); per connection, and (bytes and
// deliveries) shared by every connection of one client address. Token buckets, counted on arrival: the time this
// process's event loop was late (loop-lag.ts) is credited back, so frames read in one go after a
// stall are judged at the pace they arrived, and an honest client near its limit is not cut for
// the server's own overload. Knows nothing of what the frames mean: whoever delivers a broadcast
// reports its recipients (chargeDeliveries) to the budget of the frame being handled.
import { loopLateness, watchLoopLag } from "./loop-lag.ts";

/** Budgets shared by every connection of one client address (per interval). Not frames: a NAT's
 *  or a proxy's thousands of clients reconnecting at once send many cheap ones (handshakes, pongs);
 *  what one address can make the server do is bounded by its deliveries and bytes. */
export interface AddressRateLimit {
  bytes: number;
  deliveries: number;
}

export interface InboundRateLimit {
  /** Frames (Socket.IO packets, binary attachments, Engine.IO pings) per interval. */
  events: number;
  /** Bytes per interval, frames' payloads counted. */
  bytes: number;
  /** Deliveries per interval: the recipients on this worker of the broadcasts the client's events
   *  cause while they are handled (a broadcast issued later, after an `await`, is not counted). */
  deliveries: number;
  /** Window length in ms (the buckets refill this fast; a budget is also the largest burst). */
  interval: number;
  /** Shared by all connections of one address (null: none). Over it, the connections that used at
   *  least their share (budget / connections of the address) are cut; the others are not. */
  perAddress: AddressRateLimit | null;
}

/** Reason a client over its budget is disconnected with (server-side `disconnect` reason; the
 *  WebSocket close reason says which budget: `rate limit exceeded: address deliveries`). */
export const RATE_LIMIT_REASON = "rate limit exceeded";

/** Which budget a client went over. */
export type OverBudget = "events" | "bytes" | "deliveries" | "address bytes" | "address deliveries";

/** Three token counts refilled at `limit / interval` per ms, up to `limit`. What the cap cut off
 *  while this process's event loop was late (loop-lag.ts) is banked for one interval: the frames
 *  that piled up unread meanwhile are read in one go, and the bank covers them, so they are judged
 *  at the pace they arrived. */
class Bucket {
  ev: number;
  by: number;
  dl: number;
  private bankEv = 0;
  private bankBy = 0;
  private bankDl = 0;
  private bankUntil = 0;
  private at: number;
  private lag: number;

  constructor(
    private readonly cap: { events: number; bytes: number; deliveries: number },
    private readonly interval: number,
    now: number,
  ) {
    this.ev = cap.events;
    this.by = cap.bytes;
    this.dl = cap.deliveries;
    this.at = now;
    this.lag = loopLateness(now);
  }

  refill(now: number): void {
    const elapsed = now - this.at;
    if (elapsed <= 0) return;
    const lag = loopLateness(now);
    const late = Math.min(elapsed, lag - this.lag) / this.interval;
    const k = elapsed / this.interval;
    this.at = now;
    this.lag = lag;
    const c = this.cap;
    const ev = this.ev + c.events * k;
    const by = this.by + c.bytes * k;
    const dl = this.dl + c.deliveries * k;
    this.ev = Math.min(c.events, ev);
    this.by = Math.min(c.bytes, by);
    this.dl = Math.min(c.deliveries, dl);
    if (late > 0) {
      // Cut off by the cap, up to what the late time refilled: the backlog's allowance, added to
      // what the same late turn banked already (every frame read in it refills a little).
      const keep = now < this.bankUntil ? 1 : 0;
      this.bankEv = keep * this.bankEv + Math.min(ev - this.ev, c.events * late);
      this.bankBy = keep * this.bankBy + Math.min(by - this.by, c.bytes * late);
      this.bankDl = keep * this.bankDl + Math.min(dl - this.dl, c.deliveries * late);
      this.bankUntil = now + this.interval;
    }
  }

  /** Covers what is overspent from the bank while it lasts; whether a count is still below zero. */
  overspent(): boolean {
    if ((this.ev < 0 || this.by < 0 || this.dl < 0) && this.at < this.bankUntil) {
      const ev = Math.min(this.bankEv, Math.max(0, -this.ev));
      const by = Math.min(this.bankBy, Math.max(0, -this.by));
      const dl = Math.min(this.bankDl, Math.max(0, -this.dl));
      this.ev += ev;
      this.bankEv -= ev;
      this.by += by;
      this.bankBy -= by;
      this.dl += dl;
      this.bankDl -= dl;
    }
    return this.ev < 0 || this.by < 0 || this.dl < 0;
  }
}

/** One client address: its shared bucket, its connections, and a window number for their shares. */
interface Address {
  readonly bucket: Bucket;
  connections: number;
  window: number;
  windowEnd: number;
}

/** The budgets of one server: makes each connection's, keeps the addresses'. */
export class InboundLimiter {
  private readonly addresses = new Map<string, Address>();

  constructor(readonly limit: InboundRateLimit) {
    watchLoopLag();
  }

  /** A new connection's budget, from client address `address`. */
  budgetFor(address: string): InboundBudget {
    const now = performance.now();
    let entry: Address | null = null;
    const shared = this.limit.perAddress;
    if (shared !== null) {
      entry = this.addresses.get(address) ?? null;
      if (entry === null) {
        entry = {
          bucket: new Bucket({ events: Infinity, ...shared }, this.limit.interval, now),
          connections: 0,
          window: 0,
          windowEnd: now + this.limit.interval,
        };
        this.addresses.set(address, entry);
      }
      entry.connections++;
    }
    return new InboundBudget(this, entry === null ? null : { entry, key: address }, now);
  }

  /** @internal A connection's budget is done with its address. */
  release(key: string, entry: Address): void {
    if (--entry.connections === 0 && this.addresses.get(key) === entry) this.addresses.delete(key);
  }

  /** Addresses with connections (for tests and monitoring). */
  get addressCount(): number {
    return this.addresses.size;
  }
}

/** The budget of the frame being handled: the deliveries it causes are charged there. */
let charging: InboundBudget | null = null;

/** The recipients of a broadcast just delivered here: charged to the client whose event is being
 *  handled, if any (the delivery of a timer's or another worker's broadcast charges no one). */
export function chargeDeliveries(recipients: number): void {
  if (charging !== null) charging.charge(recipients);
}

/** From now on, deliveries are charged to `budget` (the frame being handled is its client's);
 *  returns the budget charged before, to put back (try/finally) once the frame is handled. */
export function chargeTo(budget: InboundBudget | null): InboundBudget | null {
  const outer = charging;
  charging = budget;
  return outer;
}

export class InboundBudget {
  private readonly own: Bucket;
  /** This connection's use of its address's budget in the address's current window. */
  private window = -1;
  private by = 0;
  private dl = 0;
  private released = false;

  constructor(
    private readonly limiter: InboundLimiter,
    private readonly address: { entry: Address; key: string } | null,
    now: number,
  ) {
    this.own = new Bucket(limiter.limit, limiter.limit.interval, now);
  }

  /** Counts one frame of `bytes` as it arrives; the budget it takes the client over, or null. */
  spend(bytes: number): OverBudget | null {
    const now = performance.now();
    const own = this.own;
    own.refill(now);
    own.ev--;
    own.by -= bytes;
    if (this.address !== null) {
      const shared = this.share(now);
      shared.by -= bytes;
      this.by += bytes;
    }
    return this.verdict();
  }

  /** @internal */
  charge(recipients: number): void {
    this.own.dl -= recipients;
    if (this.address !== null) {
      this.address.entry.bucket.dl -= recipients;
      this.dl += recipients;
    }
  }

  /** The connection is gone: its address no longer counts it. */
  release(): void {
    if (this.released || this.address === null) return;
    this.released = true;
    this.limiter.release(this.address.key, this.address.entry);
  }

  /** The budget the client is over (its frames so far, and the deliveries they caused), or null. */
  verdict(): OverBudget | null {
    const own = this.own;
    if (!own.overspent() && this.address === null) return null;
    if (own.ev < 0) return "events";
    if (own.by < 0) return "bytes";
    if (own.dl < 0) return "deliveries";
    if (this.address === null) return null;
    const { bucket, connections } = this.address.entry;
    if (!bucket.overspent()) return null;
    const cap = this.limiter.limit.perAddress!;
    // The address is over: cut this connection only if it used its share of the budget or more.
    if (bucket.by < 0 && this.by * connections >= cap.bytes) return "address bytes";
    if (bucket.dl < 0 && this.dl * connections >= cap.deliveries) return "address deliveries";
    return null;
  }

  /** The address's bucket, refilled; this connection's counts moved to the address's window. */
  private share(now: number): Bucket {
    const entry = this.address!.entry;
    entry.bucket.refill(now);
    if (now >= entry.windowEnd) {
      entry.window++;
      entry.windowEnd = now + this.limiter.limit.interval;
    }
    if (this.window !== entry.window) {
      this.window = entry.window;
      this.by = this.dl = 0;
    }
    return entry.bucket;
  }
}
