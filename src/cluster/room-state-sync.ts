// Room sizes and presence shared between workers on the bus, so that "how many in this room" and
// "who is here" are answered from local state, without a request per question. This worker's
// joins and leaves change its part at once (room-state.ts) and go out batched: at most one
// message per namespace per roomStateInterval with the rooms that changed (never one per join);
// the first change after a quiet interval goes out at the end of its event-loop turn, so a lone
// change waits one relay hop, not an interval, and only churn waits for the interval; a peer's
// part is applied as it comes, and asked for whole (roomStateAsk, answered by a snapshot) when
// this worker holds none of it or a version is missing; the version alone goes out once per
// heartbeat, so a lost last delta is noticed too. A peer that is not live (peers.ts: unheard for
// heartbeatTimeout, or gone with a bye) leaves the sums at the next interval, its members with
// it. While the relay is unreachable the peers' parts stay as last heard, reported stale
// (`staleSince`); on reconnection every worker sends its whole state and asks for the others',
// and only real differences fire presence events. Registers its handlers (roomState,
// roomStateAsk) on the bus; knows no adapter (the cluster adapter calls change, and answers
// countRooms exactly from its own membership).
import type { Room } from "../rooms/types.ts";
import type { Bus } from "./bus.ts";
import type { Peers } from "./peers.ts";
import { PROTOCOL_VERSION as V, type RoomStateMessage } from "./protocol.ts";
import type { RoomPresence } from "./room-presence.ts";
import { LocalRoomState, PeerRoomStates, Totals } from "./room-state.ts";
import { toWorker } from "./route.ts";

/** A peer's whole state is asked for at most this often. */
const ASK_RETRY_MS = 1000;

export interface RoomStateSyncDeps {
  /** How often changes go out (ms): the batching interval, and most of the staleness bound. */
  readonly interval: number;
  readonly heartbeatTimeout: number;
  readonly peers: Peers;
  /** The counters of ClusterNode.stats kept here (see there). */
  readonly stats: { roomStateOut: number; roomStateIn: number; roomStateSyncs: number };
  /** The relay became unreachable (`since`) or reachable again (null). */
  onStale(since: number | null): void;
}

export class RoomStateSync {
  readonly totals: Totals;
  readonly local: LocalRoomState;
  private readonly remote: PeerRoomStates;
  private readonly presences = new Map<string, RoomPresence>();
  private readonly asked = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;
  /** A flush is scheduled; when the last one went out. */
  private scheduled = false;
  private lastFlush = 0;
  /** When the link last came up (peers get heartbeatTimeout from then to be heard again). */
  private connectedAt = Date.now();
  /** When the relay became unreachable; null while connected. */
  staleSince: number | null = null;

  constructor(
    private readonly bus: Bus,
    private readonly deps: RoomStateSyncDeps,
  ) {
    this.totals = new Totals((nsp, room, key, present) => this.tell(nsp, room, key, present));
    this.local = new LocalRoomState(bus.id, this.totals);
    this.remote = new PeerRoomStates(this.totals);
    bus.handle("roomState", (msg) => this.onState(msg));
    bus.handle("roomStateAsk", (msg) => this.sendSnapshot(msg.from));
    this.timer = setInterval(() => this.tick(), deps.interval);
    this.timer.unref();
  }

  /** A local socket joined (+1) or left (-1) `room`; `member`: the presence member it counts as. */
  change(nsp: string, room: Room, d: 1 | -1, member: string | null): void {
    this.local.addSize(nsp, room, d);
    if (member !== null) this.local.addMember(nsp, room, member, d);
    this.schedule();
  }

  /** Presence events of `nsp` go to `presence`. */
  addPresence(nsp: string, presence: RoomPresence): void {
    this.presences.set(nsp, presence);
  }

  /** Sends what changed since the last interval (one message per namespace). */
  flush(): void {
    if (!this.local.changed || !this.bus.link.connected) return;
    this.lastFlush = Date.now();
    for (const msg of this.local.drain()) this.send(msg);
  }

  /** Once per heartbeat period: the version alone, so a peer that missed the last delta asks. */
  beacon(): void {
    if (this.bus.link.connected) this.send(this.local.beacon());
  }

  /** (Re)connected: this worker's whole state to all, and the others' asked for. */
  connected(): void {
    this.connectedAt = Date.now();
    if (this.staleSince !== null) {
      this.staleSince = null;
      this.deps.onStale(null);
    }
    this.local.drain(); // superseded by the snapshot
    this.sendSnapshot();
    this.asked.clear();
    this.deps.stats.roomStateSyncs++;
    this.bus.publish({ v: V, type: "roomStateAsk", from: this.bus.id });
  }

  /** Cut off: the peers' parts stay as last heard, reported stale until reconnected. */
  disconnected(): void {
    if (this.staleSince !== null) return;
    this.staleSince = Date.now();
    this.deps.onStale(this.staleSince);
  }

  close(): void {
    clearInterval(this.timer);
  }

  /** A presence event to the application; a listener that throws is logged, and leaves the counts
   *  (being updated when it runs) as they must be. */
  private tell(nsp: string, room: Room, key: string, present: boolean): void {
    const presence = this.presences.get(nsp);
    if (!presence) return;
    try {
      presence.emit(present ? "join" : "leave", room, key);
    } catch (err) {
      this.bus.log("error", `presence: a "${present ? "join" : "leave"}" listener of namespace ${nsp} threw: ${(err as Error)?.message ?? err}`);
    }
  }

  /** The next flush: at the end of this turn (the joins of one turn share it) when the last one is
   *  an interval old, else when it will be. */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    const run = () => {
      this.scheduled = false;
      this.flush();
    };
    const wait = this.lastFlush + this.deps.interval - Date.now();
    if (wait <= 0) setImmediate(run);
    else setTimeout(run, wait).unref();
  }

  private tick(): void {
    this.flush();
    if (!this.bus.link.connected) return;
    const now = Date.now();
    // Peers not live leave the sums; after a reconnection, not before they had time to be heard.
    if (now - this.connectedAt > this.deps.heartbeatTimeout) for (const id of [...this.remote.ids()]) if (!this.deps.peers.isLive(id)) this.remote.drop(id);
    for (const id of this.deps.peers.live()) if (!this.remote.has(id)) this.ask(id);
  }

  private onState(msg: RoomStateMessage): void {
    this.deps.stats.roomStateIn++;
    // From a worker not live here (a bye just came, or not heard yet): its part waits for its hello.
    if (!this.deps.peers.isLive(msg.from) && msg.kind !== "reset" && msg.kind !== "more") return;
    if (!this.remote.apply(msg)) this.ask(msg.from);
  }

  /** This worker's whole state, to worker `to` or (undefined) to all. */
  private sendSnapshot(to?: string): void {
    if (to === undefined) this.local.drain();
    else this.flush(); // a snapshot is taken at the version last sent
    for (const msg of this.local.snapshot()) this.send(msg, to);
  }

  private ask(peer: string): void {
    const now = Date.now();
    if (now - (this.asked.get(peer) ?? 0) < ASK_RETRY_MS) return;
    this.asked.set(peer, now);
    this.deps.stats.roomStateSyncs++;
    this.bus.publish({ v: V, type: "roomStateAsk", from: this.bus.id }, { route: toWorker(peer) });
  }

  private send(msg: RoomStateMessage, to?: string): void {
    this.deps.stats.roomStateOut++;
    this.bus.publish(msg, to === undefined ? undefined : { route: toWorker(to) });
  }
}
