// Connection-state recovery (Socket.IO's `connectionStateRecovery`) for one namespace: the offsets
// appended to recorded events, the log of what went out (events and membership changes, bounded by
// time and bytes), and the sessions of disconnected sockets waiting to be restored.
// Knows no transport and no cluster: the adapter records into it, the namespace restores from it,
// and a cluster adapter learns through `onRoomReleased` when a parked session lets go of a room.
//
// Why a log of what went out, not a buffer per disconnected session: a server learns of a dead
// connection only at its ping timeout (up to 45 s); what it sent meanwhile was lost too, and only
// the client's offset says where its reception stopped. One entry per broadcast (shared by every
// recipient) costs one push per broadcast, nothing per recipient, and parked sessions share it.
import { randomBytes } from "node:crypto";
import type { Frame } from "../engine/binary.ts";
import type { Room, SocketId } from "../rooms/types.ts";

export interface RecoveryOptions {
  /** How long a disconnected session can be restored, in ms (default 120000, Socket.IO's). */
  maxDisconnectionDuration?: number;
  /** A restored socket skips the namespace's middlewares (default true, Socket.IO's). */
  skipMiddlewares?: boolean;
  /** Bytes of recorded events kept per namespace (default 32 MiB). The oldest go first; a session
   *  whose missed events were among them is not recoverable (it gets a new session). */
  maxBufferedBytes?: number;
}

export type ResolvedRecoveryOptions = Required<RecoveryOptions>;

export const RECOVERY_DEFAULTS: ResolvedRecoveryOptions = { maxDisconnectionDuration: 120_000, skipMiddlewares: true, maxBufferedBytes: 32 * 1024 * 1024 };

/** Disconnect reasons after which the session is kept (Socket.IO's list, in roomgate's names):
 *  the client did not choose to leave. */
const RECOVERABLE = new Set(["transport error", "transport close", "ping timeout", "server shutting down"]);

export function isRecoverable(reason: string): boolean {
  return RECOVERABLE.has(reason);
}

/** A recorded event (frames set) or a membership change of one socket (member + room set). */
class Entry {
  constructor(
    readonly pos: number,
    readonly at: number,
    readonly frames: readonly Frame[] | null,
    readonly rooms: ReadonlySet<Room> | null,
    readonly except: ReadonlySet<Room> | null,
    /** An event sent to this one socket (socket.emit), or the socket whose membership changed. */
    readonly member: SocketId | null,
    readonly room: Room | null,
    readonly joined: boolean,
    readonly bytes: number,
    /** The broadcast's identity across workers (origin + sequence number), given by a cluster
     *  adapter; null for a local event. Lets a worker taking over a session skip what the owner
     *  already handed it. */
    readonly tag: string | null = null,
  ) {}
}

/** What a disconnected socket leaves behind. */
export interface SessionState {
  id: SocketId;
  pid: string;
  rooms: Room[];
  data: unknown;
}

interface ParkedSession extends SessionState {
  disconnectedAt: number;
  /** Log position from which the session may have missed events (its connect or restore). */
  since: number;
  /** Log position at its disconnect: later membership entries are its own leaving. */
  parkedAt: number;
  /** Its client had received everything sent before this time (ms; see `park`). */
  receivedBefore: number;
}

/** A session taken for restoring: its state and the events it missed (one frame list each, with
 *  its tag in `tags`) up to log position `upTo`; `holding`: its rooms are still held here until
 *  `release`; `skip`: tags of events `catchUp` must leave out (the owner of a session that came from
 *  another worker handed them over already). */
export interface RestoredSession extends SessionState {
  missed: (readonly Frame[])[];
  tags: (string | null)[];
  upTo: number;
  holding: boolean;
  skip?: ReadonlySet<string>;
}

const SEPARATOR = ".";
/** Frame text starts `42` (EVENT) or `45` (BINARY_EVENT). */
const FOUR = 0x34;
const TWO = 0x32;
const FIVE = 0x35;
const DASH = 0x2d;
const SLASH = 0x2f;
const COMMA = 0x2c;
const OPEN = 0x5b;

/** Whether an encoded packet is an event without ack id (the only kind recorded: an ack callback
 *  cannot be restored). Reads the header `4` type [attachments `-`] [`/nsp,`] [ack id] `[`. */
export function isPlainEvent(text: Uint8Array): boolean {
  if (text[0] !== FOUR || (text[1] !== TWO && text[1] !== FIVE)) return false;
  let i = 2;
  if (text[1] === FIVE) {
    while (i < text.length && text[i] !== DASH) i++;
    i++;
  }
  if (text[i] === SLASH) {
    while (i < text.length && text[i] !== COMMA) i++;
    i++;
  }
  return text[i] === OPEN;
}

const OFFSET_START = Buffer.from(',"');

/** The frames without the offset a log appended (an event replayed gets a new one). */
function withoutOffset(frames: readonly Frame[]): readonly Frame[] {
  const head = frames[0].data;
  const at = Buffer.from(head.buffer, head.byteOffset, head.length).lastIndexOf(OFFSET_START);
  if (at < 0) return frames;
  const out = Buffer.allocUnsafe(at + 1);
  out.set(head.subarray(0, at));
  out[at] = 0x5d; // ]
  return [{ data: out, binary: false }, ...frames.slice(1)];
}

/** The frame text with `,"<offset>"` appended as the event's last argument. */
function withOffset(frames: readonly Frame[], offset: string): Frame[] {
  const head = frames[0].data;
  const out = Buffer.allocUnsafe(head.length + offset.length + 3);
  out.set(head.subarray(0, head.length - 1));
  out.write(`,"${offset}"]`, head.length - 1, "latin1");
  const result: Frame[] = [{ data: out, binary: false }];
  for (let i = 1; i < frames.length; i++) result.push(frames[i]);
  return result;
}

function sizeOf(frames: readonly Frame[]): number {
  let n = 64; // the entry itself
  for (const f of frames) n += f.data.length;
  return n;
}

export class RecoveryLog {
  /** Offsets are `<epoch>.<position base 36>`: the epoch names this log, so an offset from another
   *  log (another worker, an earlier run) is never mistaken for one of ours. */
  readonly epoch = randomBytes(6).toString("base64url");
  private entries: Entry[] = [];
  private head = 0;
  private nextPos = 0;
  private bytes = 0;
  private readonly sessions = new Map<string, ParkedSession>();
  /** Rooms held by parked sessions: a cluster keeps routing them here (see onRoomReleased). */
  private readonly holds = new Map<Room, number>();
  private readonly timer: NodeJS.Timeout;
  /** Called when no parked session holds `room` any more. */
  onRoomReleased: (room: Room) => void = () => {};
  /** Counters, for tests and monitoring. */
  readonly stats = { recorded: 0, restored: 0, expired: 0, refused: 0, trimmedByBytes: 0 };

  /** Time of the newest entry trimmed so far. */
  private trimmedAt = Number.NEGATIVE_INFINITY;

  /** `heartbeatSpan`: pingInterval + pingTimeout, the longest a dead connection goes unnoticed;
   *  entries are kept that much longer than the window (twice: see `park`). */
  constructor(
    readonly opts: ResolvedRecoveryOptions,
    private readonly heartbeatSpan: number,
  ) {
    this.timer = setInterval(() => this.sweep(Date.now()), Math.max(50, Math.min(5000, opts.maxDisconnectionDuration / 4)));
    this.timer.unref();
  }

  get parkedCount(): number {
    return this.sessions.size;
  }

  get bufferedBytes(): number {
    return this.bytes;
  }

  /** Position of the next entry (a socket's restore point). */
  get position(): number {
    return this.nextPos;
  }

  holdsRoom(room: Room): boolean {
    return this.holds.has(room);
  }

  /** Records a broadcast and returns its frames with the offset appended; other packets (acks,
   *  volatile) go out unchanged and unrecorded, as in Socket.IO. */
  record(
    frames: readonly Frame[],
    rooms: ReadonlySet<Room>,
    except: ReadonlySet<Room> | undefined,
    volatile: boolean,
    tag: string | null = null,
  ): readonly Frame[] {
    if (volatile || !isPlainEvent(frames[0].data)) return frames;
    return this.append(frames, rooms, except && except.size > 0 ? except : null, null, tag);
  }

  /** Records an event emitted to one socket (`socket.emit`). */
  recordDirect(id: SocketId, frames: readonly Frame[]): readonly Frame[] {
    if (!isPlainEvent(frames[0].data)) return frames;
    return this.append(frames, null, null, id);
  }

  /** Records a missed event replayed to a restored socket under a new offset of this log, so a
   *  client cut off again in the middle of its replay resumes from where it stopped. */
  recordReplay(id: SocketId, frames: readonly Frame[]): readonly Frame[] {
    return this.append(withoutOffset(frames), null, null, id);
  }

  /** Log position of the oldest event of this log among `frames` (frames not yet delivered, in
   *  the order they were queued), or the next position when none is: what a client may still miss
   *  when everything sent to it before those frames is known to have reached it. */
  pendingFrom(frames: readonly Frame[]): number {
    let from = this.nextPos;
    for (const f of frames) {
      if (f.binary || !isPlainEvent(f.data)) continue;
      const head = Buffer.from(f.data.buffer, f.data.byteOffset, f.data.length);
      const at = head.lastIndexOf(OFFSET_START);
      if (at < 0) continue;
      const pos = this.parseOffset(head.toString("latin1", at + 2, head.length - 2));
      if (pos !== null && pos < from) from = pos;
    }
    return from;
  }

  /** A socket joined or left a room (the adapter's join-room / leave-room). */
  noteMembership(id: SocketId, room: Room, joined: boolean): void {
    this.push(new Entry(this.nextPos++, Date.now(), null, null, null, id, room, joined, 64));
  }

  /** Keeps a disconnected socket's session for maxDisconnectionDuration. `since` is the log
   *  position of its connect (or restore); `lastPongAt` the time its connection last answered a
   *  ping. That pong proves the client received everything sent before the ping one interval
   *  earlier (frames queued before a ping are flushed within its tick), so however old the
   *  client's offset, it can only have missed what was sent from then on: a quiet socket whose
   *  last event is older than the log recovers all the same. */
  park(state: SessionState, since: number, lastPongAt: number): void {
    const receivedBefore = lastPongAt - this.heartbeatSpan - 1000;
    this.sessions.set(state.pid, { ...state, disconnectedAt: Date.now(), since, parkedAt: this.nextPos, receivedBefore });
    for (const room of state.rooms) this.holds.set(room, (this.holds.get(room) ?? 0) + 1);
  }

  /** Takes the session `pid` with everything it missed after `offset` (the last event its client
   *  received; none if it received nothing since it connected). Null, and the session dropped,
   *  when it is unknown, expired, or its missed events are no longer all in the log. */
  restore(pid: unknown, offset: unknown): RestoredSession | null {
    if (typeof pid !== "string") return null;
    const session = this.sessions.get(pid);
    if (!session) return null;
    this.sessions.delete(pid);
    const missed = session.disconnectedAt + this.opts.maxDisconnectionDuration < Date.now() ? null : this.missedBy(session, offset);
    if (!missed) {
      this.releaseRooms(session.rooms);
      this.stats.refused++;
      return null;
    }
    this.stats.restored++;
    return { id: session.id, pid: session.pid, rooms: session.rooms, data: session.data, ...missed, upTo: this.nextPos, holding: true };
  }

  /** The rooms of parked session `pid`, without taking it (the first phase of a handover to
   *  another worker); null when it is unknown or expired. */
  peek(pid: unknown): Room[] | null {
    if (typeof pid !== "string") return null;
    const session = this.sessions.get(pid);
    if (!session || session.disconnectedAt + this.opts.maxDisconnectionDuration < Date.now()) return null;
    return session.rooms;
  }

  /** Holds `rooms` for a session about to arrive from another worker (see onRoomReleased): until
   *  `releaseHold`, or `release` of the session restored with them. */
  hold(rooms: readonly Room[]): void {
    for (const room of rooms) this.holds.set(room, (this.holds.get(room) ?? 0) + 1);
  }

  releaseHold(rooms: readonly Room[]): void {
    this.releaseRooms(rooms);
  }

  /** Events addressed to a restored session recorded here since it was taken (middlewares ran,
   *  or it came from another worker): it is back in its rooms only from now on. */
  catchUp(r: RestoredSession): (readonly Frame[])[] {
    const out: (readonly Frame[])[] = [];
    const rooms = new Set(r.rooms);
    for (let p = Math.max(r.upTo, this.firstPos); p < this.nextPos; p++) {
      const e = this.at(p);
      if (e.frames === null || (e.tag !== null && r.skip?.has(e.tag))) continue;
      if (e.member !== null ? e.member === r.id : addressed(rooms, e)) out.push(e.frames);
    }
    return out;
  }

  /** The restored socket is back in its rooms (or was refused): its parked hold on them ends. */
  release(r: RestoredSession): void {
    if (!r.holding) return;
    r.holding = false;
    this.releaseRooms(r.rooms);
  }

  /** Stops the sweep (the namespace's server closes). */
  close(): void {
    clearInterval(this.timer);
  }

  // ---------- internal ----------

  private append(
    frames: readonly Frame[],
    rooms: ReadonlySet<Room> | null,
    except: ReadonlySet<Room> | null,
    member: SocketId | null,
    tag: string | null = null,
  ): Frame[] {
    const pos = this.nextPos++;
    const out = withOffset(frames, this.epoch + SEPARATOR + pos.toString(36));
    this.stats.recorded++;
    this.push(new Entry(pos, Date.now(), out, rooms, except, member, null, false, sizeOf(out), tag));
    return out;
  }

  private push(entry: Entry): void {
    this.entries.push(entry);
    this.bytes += entry.bytes;
    while (this.bytes > this.opts.maxBufferedBytes && this.head < this.entries.length) {
      this.shift();
      this.stats.trimmedByBytes++;
    }
  }

  private shift(): void {
    this.trimmedAt = this.entries[this.head].at;
    this.bytes -= this.entries[this.head].bytes;
    this.head++;
    // Compact now and then, not on every shift (an array shift is O(n)).
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }

  /** Position of the first entry made at or after `time` (entries are in time order). */
  private firstPosAtOrAfter(time: number): number {
    let lo = this.head;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.entries[mid].at < time) lo = mid + 1;
      else hi = mid;
    }
    return lo < this.entries.length ? this.entries[lo].pos : this.nextPos;
  }

  /** Oldest position still in the log. */
  private get firstPos(): number {
    return this.head < this.entries.length ? this.entries[this.head].pos : this.nextPos;
  }

  private at(pos: number): Entry {
    return this.entries[this.head + (pos - this.firstPos)];
  }

  /** Whether `offset` is well-formed but made by another log. */
  isForeignOffset(offset: unknown): boolean {
    return typeof offset === "string" && /^[\w-]{8}\.[0-9a-z]+$/.test(offset) && !offset.startsWith(this.epoch + SEPARATOR);
  }

  private parseOffset(offset: unknown): number | null {
    if (typeof offset !== "string") return null;
    const dot = offset.indexOf(SEPARATOR);
    if (dot < 0 || offset.slice(0, dot) !== this.epoch) return null;
    const pos = Number.parseInt(offset.slice(dot + 1), 36);
    return Number.isSafeInteger(pos) && pos >= 0 && pos < this.nextPos ? pos : null;
  }

  /** The events after `offset` addressed to the session, judged by its rooms at each event's time:
   *  its rooms at disconnect, with its later joins and leaves undone back to the starting point. */
  private missedBy(session: ParkedSession, offset: unknown): { missed: (readonly Frame[])[]; tags: (string | null)[] } | null {
    let start = session.since;
    // An offset of another log (another worker's, from before the session came here) means the
    // client received nothing of this log since `since`; anything else unknown: where it stopped is
    // unknown, and the session is not recoverable.
    if (offset !== undefined && offset !== null && !this.isForeignOffset(offset)) {
      const pos = this.parseOffset(offset);
      if (pos === null) return null;
      if (pos + 1 > start) start = pos + 1;
    }
    // Entries older than session.receivedBefore reached the client: only if none of those were
    // trimmed is the first retained one a safe start.
    if (start < this.firstPos && this.trimmedAt < session.receivedBefore) start = Math.max(start, this.firstPosAtOrAfter(session.receivedBefore));
    if (start < this.firstPos) return null; // events it may have missed were trimmed
    const end = Math.min(session.parkedAt, this.nextPos);
    const rooms = new Set(session.rooms);
    for (let p = end - 1; p >= start; p--) {
      const e = this.at(p);
      if (e.room !== null && e.member === session.id) e.joined ? rooms.delete(e.room) : rooms.add(e.room);
    }
    const missed: (readonly Frame[])[] = [];
    const tags: (string | null)[] = [];
    for (let p = start; p < this.nextPos; p++) {
      const e = this.at(p);
      if (e.frames === null) {
        if (p < end && e.member === session.id) e.joined ? rooms.add(e.room!) : rooms.delete(e.room!);
      } else if (e.member !== null ? e.member === session.id : addressed(rooms, e)) {
        missed.push(e.frames);
        tags.push(e.tag);
      }
    }
    return { missed, tags };
  }

  private releaseRooms(rooms: readonly Room[]): void {
    for (const room of rooms) {
      const n = this.holds.get(room)! - 1;
      if (n > 0) this.holds.set(room, n);
      else {
        this.holds.delete(room);
        this.onRoomReleased(room);
      }
    }
  }

  /** Drops expired sessions and events older than any session could still need. */
  private sweep(now: number): void {
    const threshold = now - this.opts.maxDisconnectionDuration;
    for (const s of this.sessions.values()) {
      if (s.disconnectedAt < threshold) {
        this.sessions.delete(s.pid);
        this.releaseRooms(s.rooms);
        this.stats.expired++;
      }
    }
    // A session restorable until now needs what its client may have missed: at most from
    // 3 heartbeat spans before its disconnect (its last pong, up to 2 spans before, less one: see park).
    const keepFrom = threshold - 3 * this.heartbeatSpan - 2000;
    while (this.head < this.entries.length && this.entries[this.head].at < keepFrom) this.shift();
  }
}

/** Socket.IO's selection: in one of the rooms (or no rooms: everybody), in none of the except. */
function addressed(rooms: ReadonlySet<Room>, e: Entry): boolean {
  if (e.rooms !== null && e.rooms.size > 0) {
    let hit = false;
    for (const r of e.rooms)
      if (rooms.has(r)) {
        hit = true;
        break;
      }
    if (!hit) return false;
  }
  if (e.except !== null) for (const r of e.except) if (rooms.has(r)) return false;
  return true;
}
