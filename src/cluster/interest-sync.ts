// Keeping room interest in sync between this worker and its peers, over interest.ts's bookkeeping:
// this worker's changes go out batched (one message per namespace per tick), its whole interest
// goes to newcomers (snapshots), and a peer's interest is asked for again (a hello to its subject)
// when a version of it is missing here. Also the interest barrier: `acknowledged` (the node's
// interestAcknowledged) asks the peers (interestCheck) to confirm that they route by this worker's
// interest, `check` answers theirs (interestAck) once applied here, and `settled` (the node's
// interestSettled) is what `socket.join` awaits; `join`/`leave` are where a room's interest
// starts and ends (the transport's room subscription with it). Registers its handlers (interest,
// interestCheck) on the bus; knows the messages, not how they are encoded or travel (the bus),
// nor when a peer is live (peers.ts), nor any adapter.
import type { Room } from "../rooms/types.ts";
import type { Bus } from "./bus.ts";
import { LocalInterest, PeerInterest } from "./interest.ts";
import type { Peers } from "./peers.ts";
import { isSocketIdOf, PROTOCOL_VERSION as V, type InterestMessage, type RequestMessage } from "./protocol.ts";
import { Requests } from "./requests.ts";
import { toWorker } from "./route.ts";

/** A peer's interestCheck not answered yet: this worker has not applied the peer's interest up to
 *  `ver` (the change is still on its way, or a snapshot was asked for). */
interface InterestWaiter {
  ver: number;
  replyTo: string;
  requestId: string;
  until: number;
}

type InterestCheck = Extract<RequestMessage, { type: "interestCheck" }>;

/** A peer's interest is asked for again (a hello to its subject) at most this often. */
const SYNC_RETRY_MS = 1000;

export interface InterestSyncDeps {
  readonly requestTimeout: number;
  readonly peers: Peers;
  readonly requests: Requests;
  /** The counter of ClusterNode.stats kept here (see there). */
  readonly stats: { interestSyncs: number };
  /** A hello to `peer` alone: it answers with its whole interest. */
  hello(peer: string): void;
}

export class InterestSync {
  private readonly local: LocalInterest;
  private readonly remote = new PeerInterest();
  private readonly syncAsked = new Map<string, number>();
  private readonly waiters = new Map<string, InterestWaiter[]>();
  private scheduled = false;
  /** Joins waiting for the next interest flush to be acknowledged, per namespace (interestSettled). */
  private readonly nextSettle = new Map<string, { promise: Promise<void>; resolve: () => void }>();
  /** The acknowledgement in flight for the last flush that had joins waiting, per namespace. */
  private readonly settling = new Map<string, Promise<void>>();

  constructor(
    private readonly bus: Bus,
    private readonly deps: InterestSyncDeps,
  ) {
    this.local = new LocalInterest(bus.id);
    bus.handle("interest", (msg) => this.onInterest(msg));
    bus.handle("interestCheck", (msg, replyTo) => this.check(msg, replyTo));
  }

  /** The version of this worker's interest as sent (after flush). */
  get ver(): number {
    return this.local.ver;
  }

  /** This worker now has local members in `room`: receive its broadcasts. Its own sockets' id
   *  rooms need nothing: their broadcasts come to this worker's subject. */
  join(nsp: string, room: Room): void {
    if (isSocketIdOf(room, this.bus.id)) return;
    this.bus.link.joinRoom(nsp, room);
    this.local.add(nsp, room);
    this.schedule();
  }

  leave(nsp: string, room: Room): void {
    if (isSocketIdOf(room, this.bus.id)) return;
    this.bus.link.leaveRoom(nsp, room);
    this.local.delete(nsp, room);
    this.schedule();
  }

  /**
   * Sends this worker's pending interest changes now and resolves once every live peer serving
   * `nsp` has applied them (an interestCheck request, answered by interestAck): from then on, every
   * broadcast those peers publish is routed by this worker's new interest. Resolves at
   * requestTimeout at the latest, to the number of peers that did not answer (0: all did).
   */
  acknowledged(nsp: string): Promise<number> {
    this.flush();
    // Timed-out peers too: one that stalled may publish as soon as it wakes, and must route by
    // this interest by then (a dead one costs this wait up to requestTimeout, until forgotten).
    const peers = this.deps.peers.serving(nsp);
    if (peers.length === 0) return Promise.resolve(0);
    const msg: InterestCheck = { v: V, type: "interestCheck", origin: this.bus.id, requestId: Requests.newId(), nsp, ver: this.local.ver };
    return new Promise((resolve) => this.deps.requests.request(msg, peers, this.deps.requestTimeout, (r) => r.type === "interestAck", resolve));
  }

  /**
   * What `socket.join` returns in a cluster: resolves once every peer (timed-out ones too) routes
   * by this worker's interest as it is now (so a broadcast any worker publishes afterwards reaches
   * the new member), or at requestTimeout; undefined when nothing is pending. The joins of one tick share one flush
   * and one interestCheck (a connection ramp of 10k joins costs one round trip, not 10k).
   */
  settled(nsp: string): Promise<void> | undefined {
    if (!this.local.changedIn(nsp)) return this.settling.get(nsp);
    let next = this.nextSettle.get(nsp);
    if (!next) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.nextSettle.set(nsp, (next = { promise, resolve }));
      this.schedule();
    }
    return next.promise;
  }

  /** Sends the pending changes now; the joins waiting for them await their acknowledgement. */
  flush(): void {
    this.scheduled = false;
    if (!this.local.changed) return;
    for (const msg of this.local.drain()) this.bus.publish(msg);
    for (const [nsp, waiting] of this.nextSettle) {
      this.settling.set(nsp, waiting.promise);
      this.acknowledged(nsp).then(() => {
        if (this.settling.get(nsp) === waiting.promise) this.settling.delete(nsp);
        waiting.resolve();
      });
    }
    this.nextSettle.clear();
  }

  /** This worker's whole interest, to one peer or (to === undefined) to all. */
  sendSnapshot(to?: string): void {
    for (const msg of this.local.snapshot()) this.bus.publish(msg, to === undefined ? undefined : { route: toWorker(to) });
  }

  /** A peer announced its interest version `iv` (heartbeat, hello): another than held here is asked for. */
  onPresence(peer: string, iv: number | undefined): void {
    if (iv !== undefined && this.remote.version(peer) !== iv) this.ask(peer);
  }

  /** A peer's interest message: applied, or (a version missing) its whole interest asked for. */
  private onInterest(msg: InterestMessage): void {
    if (!this.remote.apply(msg)) this.ask(msg.from);
    else if (this.waiters.has(msg.from)) this.answerWaiters(msg.from);
  }

  /** Answers a peer's interestCheck now if its interest up to `ver` is applied here, else once it is
   *  (see answerWaiters), or never if that takes longer than requestTimeout. */
  private check(msg: InterestCheck, replyTo: string | undefined): void {
    if (!replyTo || typeof msg.ver !== "number") return;
    if ((this.remote.version(msg.origin) ?? -1) >= msg.ver) return this.ack(replyTo, msg.requestId);
    let list = this.waiters.get(msg.origin);
    if (!list) this.waiters.set(msg.origin, (list = []));
    list.push({ ver: msg.ver, replyTo, requestId: msg.requestId, until: Date.now() + this.deps.requestTimeout });
  }

  /** Once per heartbeat period: the checks now satisfied are answered, the expired ones dropped. */
  answerAllWaiters(now: number): void {
    for (const peer of this.waiters.keys()) this.answerWaiters(peer, now);
  }

  /** Adds to `into` every known peer that announced one of `rooms` in `nsp`. */
  interested(nsp: string, rooms: readonly Room[], into: Set<string>): void {
    this.remote.interested(nsp, rooms, this.deps.peers.ids(), into);
  }

  /** A peer left or was forgotten: everything known of it goes. */
  forget(peer: string): void {
    this.remote.drop(peer);
    this.syncAsked.delete(peer);
    this.waiters.delete(peer);
  }

  /** Disconnected from the cluster: the peers' interest is learned anew on reconnection. */
  clearPeers(): void {
    this.remote.clear();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // Batched: a connection ramp that creates many rooms in one tick sends one message.
    setImmediate(() => this.flush());
  }

  /** Asks a peer for its whole interest (a hello to its subject), at most once per SYNC_RETRY_MS. */
  private ask(peer: string): void {
    const now = Date.now();
    if (now - (this.syncAsked.get(peer) ?? 0) < SYNC_RETRY_MS) return;
    this.syncAsked.set(peer, now);
    this.deps.stats.interestSyncs++;
    this.deps.hello(peer);
  }

  /** A peer's interest moved on: answers the checks it now satisfies, drops the expired ones. */
  private answerWaiters(peer: string, now = Date.now()): void {
    const list = this.waiters.get(peer);
    if (!list) return;
    const ver = this.remote.version(peer) ?? -1;
    const left = list.filter((w) => {
      if (w.ver <= ver) this.ack(w.replyTo, w.requestId);
      return w.ver > ver && w.until > now;
    });
    if (left.length > 0) this.waiters.set(peer, left);
    else this.waiters.delete(peer);
  }

  private ack(replyTo: string, requestId: string): void {
    this.bus.respond(replyTo, { v: V, type: "interestAck", from: this.bus.id, requestId });
  }
}
