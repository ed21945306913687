// The recording log of one namespace: what went out (events, each with the offset it carries, and
// the membership changes of sockets), bounded by bytes (each append) and by time (trimBefore), and
// what a session missed after an offset. Knows no parked session and no timer: SessionRecovery
// (session-recovery.ts) drives it; the offset format is engine/offset.ts's.
//
// Why a log of what went out, not a buffer per disconnected session: a server learns of a dead
// connection only at its ping timeout (up to 45 s); what it sent meanwhile was lost too, and only
// the client's offset says where its reception stopped. One entry per broadcast (shared by every
// recipient) costs one push per broadcast, nothing per recipient, and parked sessions share it.
import type { Frame } from "../../engine/binary.ts";
import { formatOffset, isForeignOffset, isOffsetOf, newEpoch, type OffsetCodec, parseOffset, TEXT_OFFSETS } from "../../engine/offset.ts";
import type { Room, SocketId } from "../../rooms/types.ts";

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

/** What the log needs to know of a session to tell what it missed. */
export interface Absence {
  id: SocketId;
  /** Its rooms at its disconnect. */
  rooms: readonly Room[];
  /** Log position from which the session may have missed events (its connect or restore). */
  since: number;
  /** Log position at its disconnect: later membership entries are its own leaving. */
  parkedAt: number;
  /** Its client had received everything sent before this time (ms; see SessionRecovery.persistSession). */
  receivedBefore: number;
}

/** The events a session missed, one frame list each, with its tag (null for a local event). */
export interface Missed {
  missed: (readonly Frame[])[];
  tags: (string | null)[];
}

/** The counters the log keeps (SessionRecovery's stats). */
export interface LogStats {
  recorded: number;
  trimmedByBytes: number;
}

function sizeOf(frames: readonly Frame[]): number {
  let n = 64; // the entry itself
  for (const f of frames) n += f.data.length;
  return n;
}

export class RecordingLog {
  /** Names this log in its offsets (engine/offset.ts). */
  readonly epoch = newEpoch();
  private entries: Entry[] = [];
  private head = 0;
  private nextPos = 0;
  private bytes = 0;
  /** Time of the newest entry trimmed so far. */
  private trimmedAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly maxBytes: number,
    private readonly stats: LogStats,
    private readonly now: () => number,
    /** How offsets ride in the frames: the built-in codec's, or a custom parser's (engine/parser.ts). */
    private readonly offsets: OffsetCodec = TEXT_OFFSETS,
  ) {}

  get bufferedBytes(): number {
    return this.bytes;
  }

  /** Position of the next entry (a socket's restore point). */
  get position(): number {
    return this.nextPos;
  }

  /** Records a broadcast and returns its frames with the offset appended; other packets (acks,
   *  volatile) go out unchanged and unrecorded, as in Socket.IO. */
  record(frames: readonly Frame[], rooms: ReadonlySet<Room>, except: ReadonlySet<Room> | undefined, volatile: boolean, tag: string | null): readonly Frame[] {
    if (volatile || !this.offsets.isPlainEvent(frames)) return frames;
    return this.append(frames, rooms, except && except.size > 0 ? except : null, null, tag);
  }

  /** Records an event emitted to one socket (`socket.emit`). */
  recordDirect(id: SocketId, frames: readonly Frame[]): readonly Frame[] {
    if (!this.offsets.isPlainEvent(frames)) return frames;
    return this.append(frames, null, null, id, null);
  }

  /** Records a missed event replayed to a restored socket under a new offset of this log, so a
   *  client cut off again in the middle of its replay resumes from where it stopped. */
  recordReplay(id: SocketId, frames: readonly Frame[]): readonly Frame[] {
    return this.append(this.offsets.withoutOffset(frames), null, null, id, null);
  }

  /** A socket joined or left a room (the adapter's join-room / leave-room). */
  noteMembership(id: SocketId, room: Room, joined: boolean): void {
    this.push(new Entry(this.nextPos++, this.now(), null, null, null, id, room, joined, 64));
  }

  /** Log position of the oldest event of this log among `frames` (frames not yet delivered, in
   *  the order they were queued), or the next position when none is: what a client may still miss
   *  when everything sent to it before those frames is known to have reached it. */
  pendingFrom(frames: readonly Frame[]): number {
    let from = this.nextPos;
    for (const f of frames) {
      const pos = parseOffset(this.epoch, this.offsets.offsetIn(f), this.nextPos);
      if (pos !== null && pos < from) from = pos;
    }
    return from;
  }

  /** Whether `offset` was made by this log. */
  isOwnOffset(offset: unknown): boolean {
    return isOffsetOf(this.epoch, offset);
  }

  /** The events after `offset` addressed to the session, judged by its rooms at each event's time:
   *  its rooms at disconnect, with its later joins and leaves undone back to the starting point.
   *  Null when where its client stopped is unknown, or events it may have missed were trimmed. */
  missedBy(session: Absence, offset: unknown): Missed | null {
    let start = session.since;
    // An offset of another log (another worker's, from before the session came here) means the
    // client received nothing of this log since `since`; anything else unknown: where it stopped is
    // unknown, and the session is not recoverable.
    if (offset !== undefined && offset !== null && !isForeignOffset(this.epoch, offset)) {
      const pos = parseOffset(this.epoch, offset, this.nextPos);
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

  /** Events recorded from position `from` on addressed to socket `id` in `rooms`, less those tagged
   *  in `skip` (a restored session's catch-up: see SessionRecovery.replay). */
  addressedSince(from: number, id: SocketId, rooms: ReadonlySet<Room>, skip: ReadonlySet<string> | undefined): (readonly Frame[])[] {
    const out: (readonly Frame[])[] = [];
    for (let p = Math.max(from, this.firstPos); p < this.nextPos; p++) {
      const e = this.at(p);
      if (e.frames === null || (e.tag !== null && skip?.has(e.tag))) continue;
      if (e.member !== null ? e.member === id : addressed(rooms, e)) out.push(e.frames);
    }
    return out;
  }

  /** Drops the entries made before `time`. */
  trimBefore(time: number): void {
    while (this.head < this.entries.length && this.entries[this.head].at < time) this.shift();
  }

  // ---------- internal ----------

  private append(
    frames: readonly Frame[],
    rooms: ReadonlySet<Room> | null,
    except: ReadonlySet<Room> | null,
    member: SocketId | null,
    tag: string | null,
  ): Frame[] {
    const pos = this.nextPos++;
    const out = this.offsets.withOffset(frames, formatOffset(this.epoch, pos));
    this.stats.recorded++;
    this.push(new Entry(pos, this.now(), out, rooms, except, member, null, false, sizeOf(out), tag));
    return out;
  }

  private push(entry: Entry): void {
    this.entries.push(entry);
    this.bytes += entry.bytes;
    while (this.bytes > this.maxBytes && this.head < this.entries.length) {
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
