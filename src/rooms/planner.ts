// The delivery planner: for one broadcast, the cheapest plan that reaches every recipient exactly
// once. Target rooms that share no member with each other's native picks, with the except set or
// with sockets holding queued frames go out by native uWS publish; everybody else left in the
// union, minus the except set, is delivered socket by socket. Polling members of a natively
// published topic are no uWS subscribers: they join the per-socket set. Pure: reads membership,
// sends nothing.
import { clearBit, wordsFor, type SlotSet } from "./bitset.ts";
import type { Membership } from "./membership.ts";
import type { RoomSlots } from "./room-map.ts";
import type { Room } from "./types.ts";

export interface PlanRequest {
  rooms: ReadonlySet<Room>;
  except: ReadonlySet<Room>;
  /** Slot of the emitting socket when it is excluded and its connection can publish (uWS skips it). */
  senderSlot: number;
  /** Id of that socket (its own room is in `except`). */
  senderId?: string;
}

export interface Plan {
  /** Topics to publish natively, each to every subscriber (minus the sender when `viaSender`). */
  topics: string[];
  viaSender: boolean;
  /** Slots to deliver one by one; a scratch buffer valid until the next plan, or null. */
  perSocket: Uint32Array | null;
  /** Write every queued frame before publishing (some recipients of `topics` hold queued frames). */
  flushFirst?: boolean;
  /** Sockets the native `topics` reach (for the delivery counters; known here without a count). */
  nativeRecipients: number;
  /** Whether `topics` is a derived topic. */
  derived?: boolean;
}

export class Planner {
  private union = new Uint32Array(8);
  private excluded = new Uint32Array(8);
  private covered = new Uint32Array(8);
  private readonly candidates: RoomSlots[] = [];
  private readonly rest: SlotSet[] = [];
  /** Slots of the topics picked, kept only while the namespace has polling members. */
  private readonly picked: SlotSet[] = [];

  plan(m: Membership, req: PlanRequest): Plan {
    const plan = this.greedy(m, req);
    if (!plan.perSocket || !m.derivedTopicsEnabled) return plan;
    return this.derived(m, req, plan);
  }

  private derived(m: Membership, req: PlanRequest, plan: Plan): Plan {
    // Per-socket work left: a composite target broadcast to again and again has its own topic.
    const except = req.senderId !== undefined && onlyTheSender(m, req) ? [...req.except].filter((r) => r !== req.senderId) : req.except;
    const derived = m.derivedTopic(req.rooms, except);
    if (!derived) return plan;
    // Sockets of the target holding queued frames must get them first. A derived topic is for a
    // target that repeats, so flushing them once beats delivering socket by socket from here on.
    const recipients = derived.slots.size - (plan.viaSender && derived.slots.has(req.senderSlot) ? 1 : 0);
    const topicPlan: Plan = {
      topics: [derived.topic],
      viaSender: plan.viaSender,
      perSocket: null,
      flushFirst: derived.slots.intersects(m.pending),
      nativeRecipients: recipients,
      derived: true,
    };
    if (m.polling.size === 0) return topicPlan;
    this.picked.length = 0;
    this.picked.push(derived.slots);
    return this.withPolling(m, topicPlan, req.senderSlot);
  }

  /** Native publish for the rooms that allow it, per-socket delivery for the rest. */
  private greedy(m: Membership, req: PlanRequest): Plan {
    const words = wordsFor(m.slotCount);
    if (this.union.length < words) this.growScratch(words);
    const hasSender = req.senderSlot >= 0;

    // Everything that must not receive, except the sender when uWS can skip it natively. The
    // bitset work is O(slots / 32): skipped when nothing is excluded or queued (the common case).
    let excluding = false;
    const excluded = this.excluded;
    for (const room of req.except) {
      if (room === req.senderId && onlyTheSender(m, req)) continue;
      const idx = m.roomIndex(room);
      if (!idx) continue;
      if (!excluding) excluded.fill(0, 0, words);
      idx.slots.orInto(excluded);
      excluding = true;
    }
    if (excluding && hasSender) clearBit(excluded, req.senderSlot);
    // (Plain conditions, not a closure: under tsx every closure made per broadcast also pays a
    // name-keeping helper call, measured at 7% of an emit.)
    const pending = m.pendingAny ? m.pending : null;

    const topics: string[] = [];
    const rest = this.rest;
    rest.length = 0;
    const polling = m.polling.size > 0;
    const picked = this.picked;
    picked.length = 0;
    if (req.rooms.size === 0) {
      if (!blockedBy(m.all, excluding ? excluded : null, pending)) {
        const plan = { topics: [m.namespaceTopic], viaSender: hasSender, perSocket: null, nativeRecipients: m.all.size - (hasSender ? 1 : 0) };
        if (!polling) return plan;
        picked.push(m.all);
        return this.withPolling(m, plan, req.senderSlot);
      }
      rest.push(m.all);
    } else {
      // Largest rooms first: a native publish there saves the most per-socket work.
      const candidates = this.candidates;
      candidates.length = 0;
      for (const room of req.rooms) {
        const idx = m.roomIndex(room);
        if (idx) candidates.push(idx);
      }
      if (candidates.length > 1) candidates.sort((a, b) => b.slots.size - a.slots.size);
      const covered = this.covered;
      if (candidates.length > 1) covered.fill(0, 0, words);
      let nativeRecipients = 0;
      for (const idx of candidates) {
        if (idx.native && !blockedBy(idx.slots, excluding ? excluded : null, pending) && (topics.length === 0 || !idx.slots.intersects(covered))) {
          topics.push(idx.topic);
          idx.slots.orInto(covered);
          if (polling) picked.push(idx.slots);
          nativeRecipients += idx.slots.size - (hasSender && idx.slots.has(req.senderSlot) ? 1 : 0);
        } else {
          rest.push(idx.slots);
        }
      }
      if (rest.length === 0) return this.withPolling(m, { topics, viaSender: hasSender, perSocket: null, nativeRecipients }, req.senderSlot);
      const union = this.union;
      union.fill(0, 0, words);
      for (const s of rest) s.orInto(union);
      if (topics.length > 0) for (let i = 0; i < words; i++) union[i] &= ~covered[i];
      if (excluding) for (let i = 0; i < words; i++) union[i] &= ~excluded[i];
      if (hasSender) clearBit(union, req.senderSlot);
      return this.withPolling(m, { topics, viaSender: hasSender, perSocket: union.subarray(0, words), nativeRecipients }, req.senderSlot);
    }
    const union = this.union;
    union.fill(0, 0, words);
    m.all.orInto(union);
    if (excluding) for (let i = 0; i < words; i++) union[i] &= ~excluded[i];
    if (hasSender) clearBit(union, req.senderSlot);
    return { topics, viaSender: hasSender, perSocket: union.subarray(0, words), nativeRecipients: 0 };
  }

  /** Adds the polling members of the picked topics (minus the sender, which a native publish
   *  skips too) to the per-socket set: each is in one picked topic at most (the picks are
   *  disjoint), and not in the per-socket set already (that excludes what the picks cover). */
  private withPolling(m: Membership, plan: Plan, senderSlot: number): Plan {
    const picked = this.picked;
    if (picked.length === 0 || m.polling.size === 0) return plan;
    let out = plan.perSocket;
    if (out === null) {
      out = this.union.subarray(0, wordsFor(m.slotCount));
      out.fill(0);
    }
    const slots = out;
    // Polling members of the native picks go socket by socket: the native count loses them.
    let moved = 0;
    m.polling.forEach((slot) => {
      if (slot === senderSlot) return;
      for (let i = 0; i < picked.length; i++) {
        if (picked[i].has(slot)) {
          slots[slot >>> 5] |= 1 << (slot & 31);
          moved++;
          return;
        }
      }
    });
    picked.length = 0;
    return { ...plan, perSocket: slots, nativeRecipients: plan.nativeRecipients - moved };
  }

  private growScratch(words: number): void {
    const size = Math.max(words, this.union.length * 2);
    this.union = new Uint32Array(size);
    this.excluded = new Uint32Array(size);
    this.covered = new Uint32Array(size);
  }
}

/** Whether a native publish to `s` would reach an excluded socket or overtake queued frames. */
function blockedBy(s: SlotSet, excluded: Uint32Array | null, pending: Uint32Array | null): boolean {
  return (excluded !== null && s.intersects(excluded)) || (pending !== null && s.intersects(pending));
}

/** Whether the sender's own room holds the sender alone, so excluding it is exactly what
 *  `ws.publish` from the sender does (a socket may leave its own room, and others may join it). */
function onlyTheSender(m: Membership, req: PlanRequest): boolean {
  return req.senderSlot >= 0 && req.senderId !== undefined && m.holdsOnly(req.senderId, req.senderSlot);
}

/** Every slot a (rooms, except) selection reaches, with no native shortcut: for acks and utilities. */
export function selectRecipients(m: Membership, rooms: ReadonlySet<Room>, except: ReadonlySet<Room>): Uint32Array {
  const out = new Uint32Array(wordsFor(m.slotCount));
  if (rooms.size === 0) m.all.orInto(out);
  for (const room of rooms) m.roomIndex(room)?.slots.orInto(out);
  for (const room of except) m.roomIndex(room)?.slots.andNotInto(out);
  return out;
}
