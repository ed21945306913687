// Connection-state recovery (Socket.IO's `connectionStateRecovery`) of one namespace, the one way
// into its recording log (recording-log.ts) and its parked sessions (parked-sessions.ts). Shaped
// like Socket.IO's adapter hooks: `persistSession` when a socket drops, `restoreSession` when its
// client comes back with its pid and offset, then `replay` of what it missed. Besides those: the
// recording hooks the adapter and socket call on the way out, and what the cluster's handover asks
// of the side that holds a session and of the side that takes it (cluster/session-handover.ts).
// Knows no transport and no cluster: a session parked on another worker comes through the
// RemoteSessions port, installed once per server by the cluster (cluster/session-mobility.ts).
import type { Frame } from "../../engine/binary.ts";
import type { OffsetCodec } from "../../engine/offset.ts";
import type { Room, SocketId } from "../../rooms/types.ts";
import type { ResolvedRecoveryOptions } from "./options.ts";
import { ParkedSessions, type SessionState } from "./parked-sessions.ts";
import { RecordingLog } from "./recording-log.ts";

export type { SessionState } from "./parked-sessions.ts";
export { parkMark } from "./parked-sessions.ts";

/** What `persistSession` keeps of a dropped socket: its state, the log position of its connect
 *  (or restore), and when its connection last answered a ping. */
export interface SessionToPersist extends SessionState {
  since: number;
  lastPongAt: number;
}

/** A session taken for restoring: its state and the events it missed (one frame list each, with
 *  its tag in `tags`) up to log position `upTo`; `holding`: its rooms are still held here until
 *  `release`; `skip`: tags of events `replay` must leave out of its catch-up (the owner of a session
 *  that came from another worker handed them over already). */
export interface RestoredSession extends SessionState {
  missed: (readonly Frame[])[];
  tags: (string | null)[];
  upTo: number;
  holding: boolean;
  skip?: ReadonlySet<string>;
}

/** Where a session parked on another worker is asked for (the cluster's handover). */
export interface RemoteSessions {
  restore(recovery: SessionRecovery, pid: string, offset: unknown): Promise<RestoredSession | null>;
}

export class SessionRecovery {
  /** Counters, for tests and monitoring. */
  readonly stats = { recorded: 0, restored: 0, expired: 0, refused: 0, trimmedByBytes: 0 };
  private readonly log: RecordingLog;
  private readonly parked: ParkedSessions;
  private readonly timer: NodeJS.Timeout;

  /** `heartbeatSpan`: pingInterval + pingTimeout, the longest a dead connection goes unnoticed;
   *  entries are kept that much longer than the window (three times: see persistSession). `remote`:
   *  the cluster's handover, looked up at each restore (null alone). */
  constructor(
    readonly nsp: string,
    readonly opts: ResolvedRecoveryOptions,
    private readonly heartbeatSpan: number,
    private readonly remote: () => RemoteSessions | null = () => null,
    private readonly now: () => number = Date.now,
    /** How offsets ride in the frames (a custom parser's codec; the built-in codec's by default). */
    offsets?: OffsetCodec,
  ) {
    this.log = new RecordingLog(opts.maxBufferedBytes, this.stats, now, offsets);
    this.parked = new ParkedSessions(opts.maxDisconnectionDuration, this.stats);
    this.timer = setInterval(() => this.sweep(this.now()), Math.max(50, Math.min(5000, opts.maxDisconnectionDuration / 4)));
    this.timer.unref();
  }

  get parkedCount(): number {
    return this.parked.count;
  }

  /** Sessions parked after `mark` (parked-sessions.ts's parkMark) still here: a draining worker
   *  waits for those. */
  parkedSince(mark: bigint): number {
    return this.parked.countSince(mark);
  }

  get bufferedBytes(): number {
    return this.log.bufferedBytes;
  }

  /** Log position of the next entry (a socket's restore point). */
  get position(): number {
    return this.log.position;
  }

  /** Called when no parked session (nor one on its way here) holds `room` any more. */
  set onRoomReleased(fn: (room: Room) => void) {
    this.parked.onRoomReleased = fn;
  }

  // ---------- recording, on the way out ----------

  /** Records a broadcast and returns its frames with the offset appended; other packets (acks,
   *  volatile) go out unchanged and unrecorded, as in Socket.IO. `tag`: its identity across workers. */
  record(
    frames: readonly Frame[],
    rooms: ReadonlySet<Room>,
    except: ReadonlySet<Room> | undefined,
    volatile: boolean,
    tag: string | null = null,
  ): readonly Frame[] {
    return this.log.record(frames, rooms, except, volatile, tag);
  }

  /** Records an event emitted to one socket (`socket.emit`). */
  recordDirect(id: SocketId, frames: readonly Frame[]): readonly Frame[] {
    return this.log.recordDirect(id, frames);
  }

  /** A socket joined or left a room. */
  noteMembership(id: SocketId, room: Room, joined: boolean): void {
    this.log.noteMembership(id, room, joined);
  }

  /** The log position from which a client may still miss events, when `frames` (queued, not yet
   *  delivered) are all it may not have received. */
  pendingFrom(frames: readonly Frame[]): number {
    return this.log.pendingFrom(frames);
  }

  // ---------- Socket.IO's hooks ----------

  /** Keeps a dropped socket's session for maxDisconnectionDuration. The last pong proves the client
   *  received everything sent before the ping one interval earlier (frames queued before a ping are
   *  flushed within its tick), so however old the client's offset, it can only have missed what
   *  was sent from then on: a quiet socket whose last event is older than the log recovers all
   *  the same. */
  persistSession(s: SessionToPersist): void {
    const receivedBefore = s.lastPongAt - this.heartbeatSpan - 1000;
    this.parked.park({
      id: s.id,
      pid: s.pid,
      rooms: s.rooms,
      data: s.data,
      disconnectedAt: this.now(),
      since: s.since,
      parkedAt: this.log.position,
      receivedBefore,
    });
  }

  /** The session `pid` with everything it missed after `offset` (the last event its client
   *  received; none if it received nothing since it connected): parked here, or else on another
   *  worker (the RemoteSessions port). Null when it is unknown, expired, or its missed events are
   *  no longer all in the log. */
  restoreSession(pid: unknown, offset: unknown): RestoredSession | null | Promise<RestoredSession | null> {
    const local = this.restoreHere(pid, offset);
    if (local || typeof pid !== "string") return local;
    const remote = this.remote();
    // An offset of this log: the session was parked here and is gone.
    if (remote === null || this.log.isOwnOffset(offset)) return null;
    return remote.restore(this, pid, offset);
  }

  /** Queues to the restored socket (through `send`) the events it missed, then those recorded here
   *  for it since it was taken (middlewares ran, or it came from another worker: it is back in its
   *  rooms only from now on), each recorded again under a new offset of this log, so a client cut
   *  off again in the middle of its replay resumes from where it stopped. Its hold ends. */
  replay(r: RestoredSession, send: (frames: readonly Frame[]) => void): void {
    const catchUp = this.log.addressedSince(r.upTo, r.id, new Set(r.rooms), r.skip);
    for (const frames of r.missed) send(this.log.recordReplay(r.id, frames));
    for (const frames of catchUp) send(this.log.recordReplay(r.id, frames));
    this.release(r);
  }

  /** The restored socket is back in its rooms (or was refused): its hold on them ends. */
  release(r: RestoredSession): void {
    if (!r.holding) return;
    r.holding = false;
    this.parked.release(r.rooms);
  }

  // ---------- the cluster's handover ----------

  /** The session `pid` taken from the sessions parked here only (the owner's side of a handover). */
  restoreHere(pid: unknown, offset: unknown): RestoredSession | null {
    if (typeof pid !== "string") return null;
    const session = this.parked.take(pid);
    if (!session) return null;
    const missed = this.parked.isExpired(session, this.now()) ? null : this.log.missedBy(session, offset);
    if (!missed) {
      this.parked.release(session.rooms);
      this.stats.refused++;
      return null;
    }
    this.stats.restored++;
    return { id: session.id, pid: session.pid, rooms: session.rooms, data: session.data, ...missed, upTo: this.log.position, holding: true };
  }

  /** The rooms of parked session `pid`, without taking it (the first phase of a handover); null
   *  when it is unknown or expired. */
  peek(pid: unknown): Room[] | null {
    return typeof pid === "string" ? (this.parked.peek(pid, this.now())?.rooms ?? null) : null;
  }

  /** Holds `rooms` for a session about to arrive from another worker: until `releaseHold`, or
   *  `release` of the session restored with them. */
  hold(rooms: readonly Room[]): void {
    this.parked.hold(rooms);
  }

  releaseHold(rooms: readonly Room[]): void {
    this.parked.release(rooms);
  }

  /** Whether a parked session (or one on its way here) holds `room`. */
  holdsRoom(room: Room): boolean {
    return this.parked.holdsRoom(room);
  }

  /** Stops the sweep (the namespace's server closes). */
  close(): void {
    clearInterval(this.timer);
  }

  /** @internal Drops expired sessions and events older than any session could still need. */
  sweep(now: number): void {
    const threshold = now - this.opts.maxDisconnectionDuration;
    this.parked.expire(threshold);
    // A session restorable until now needs what its client may have missed: at most from
    // 3 heartbeat spans before its disconnect (its last pong, up to 2 spans before, less one: see persistSession).
    this.log.trimBefore(threshold - 3 * this.heartbeatSpan - 2000);
  }
}
