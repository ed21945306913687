// Executes delivery plans. Native publishes go straight to uWS (which queues them per subscriber
// and drains them corked, once per loop iteration). Per-socket frames are queued on the socket's
// transport and flushed once per tick, each connection in one corked write.
//
// Order: uWS drains a subscriber's pending topic messages before any direct send to it, so a
// native publish followed by queued frames stays in order. The other way round (queued frames,
// then a publish reaching the same socket) is prevented by the planner: sockets with queued frames
// are marked in `Membership.pending`, and a room holding any of them is not published natively
// (or, for a derived topic, the queues are flushed first). A polling connection is no topic
// subscriber: everything reaches it through its buffer, in execution order, so it never blocks a
// native publish (the planner adds the polling members a topic holds to the per-socket set).
import { forEachBit } from "./bitset.ts";
import type { Frame } from "../engine/binary.ts";
import { chargeDeliveries } from "../engine/rate-limit.ts";
import { DeliveryStats, framesBytes } from "./delivery-stats.ts";
import type { Membership } from "./membership.ts";
import type { Plan } from "./planner.ts";
import type { TemplatedApp } from "../engine/uws.ts";
import type { Outbox } from "../engine/transports/transport.ts";
import type { Recipient } from "./types.ts";

export class Delivery {
  private readonly dirty: Outbox[] = [];
  private readonly touched = new Set<Membership<Recipient>>();
  private scheduled = false;
  private readonly flushNow = () => this.flush();
  /** Counters for monitoring, bumped once per broadcast (read by ops/metrics.ts). */
  readonly stats = new DeliveryStats();

  constructor(private readonly app: TemplatedApp) {}

  /** Queues frames for one socket of namespace `m`. */
  enqueue(m: Membership<Recipient>, recipient: Recipient, frames: readonly Frame[]): void {
    this.touched.add(m);
    if (!recipient.transport.closed) this.stats.count(this.stats.direct, 1, framesBytes(frames));
    this.queueFor(m, recipient, frames);
  }

  private queueFor(m: Membership<Recipient>, recipient: Recipient, frames: readonly Frame[]): void {
    const t = recipient.transport;
    if (t.closed) return;
    if (!t.hasQueued) {
      this.dirty.push(t);
      this.schedule();
    }
    if (t.subscribesNatively) {
      m.pending[recipient.slot >>> 5] |= 1 << (recipient.slot & 31);
      m.pendingAny = true;
    }
    for (let i = 0; i < frames.length; i++) t.enqueue(frames[i]);
  }

  execute(m: Membership<Recipient>, plan: Plan, frames: readonly Frame[], sender: Outbox | null, volatile: boolean): void {
    if (plan.flushFirst) this.flush();
    if (plan.topics.length > 0) this.schedule();
    for (const topic of plan.topics) {
      for (const f of frames) {
        if (plan.viaSender && sender) sender.publish(topic, f.data, f.binary, f.compress === true);
        else this.app.publish(topic, f.data, f.binary, f.compress === true);
      }
    }
    const bytes = framesBytes(frames);
    // A broadcast weighs its recipients in the inbound budget of the client that caused it.
    chargeDeliveries(plan.nativeRecipients);
    if (plan.topics.length > 0) this.stats.count(plan.derived ? this.stats.derived : this.stats.native, plan.nativeRecipients, bytes);
    if (plan.perSocket) {
      this.touched.add(m);
      let delivered = 0;
      let dropped = 0;
      forEachBit(plan.perSocket, (slot) => {
        const r = m.memberAt(slot);
        if (!r) return;
        if (volatile && r.transport.congested) dropped++;
        else {
          this.queueFor(m, r, frames);
          delivered++;
        }
      });
      this.stats.count(this.stats.per_socket, delivered, bytes);
      chargeDeliveries(delivered);
      this.stats.volatileDropped += dropped;
    }
  }

  /**
   * A flush at the end of this tick. setImmediate, not a microtask: it runs outside any uWS
   * callback, where corking a socket other than the one uWS is serving would silently fall back
   * to uncorked writes. After a native publish it also keeps the event loop from blocking in its
   * poll phase, so uWS drains the published messages in the same iteration instead of the next.
   */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.flushNow);
  }

  /** Writes every queued frame: one corked write per connection. */
  flush(): void {
    this.scheduled = false;
    const dirty = this.dirty;
    for (let i = 0; i < dirty.length; i++) dirty[i].flush();
    dirty.length = 0;
    for (const m of this.touched) {
      m.pending.fill(0);
      m.pendingAny = false;
    }
    this.touched.clear();
  }
}
