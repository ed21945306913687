// Connection-state recovery's log and parked sessions (src/api/recovery/) as a seeded model-based
// test, driven through their one way in, SessionRecovery, on a fake clock: random broadcasts (to
// rooms, with excepts, volatile, with an ack id, binary), direct emits, joins and leaves, sockets
// dropped (persistSession, with their client's offset picked at random: the last event it got, an
// older one, none, another log's, garbage), restored (restoreSession, then the namespace's rejoin and
// replay, sometimes with events in between), peeked, swept, against a model that keeps every entry
// ever made and tells what each session missed by replaying its membership from the start. The log's
// eviction (bytes at each append, time at each sweep) is small enough to run often; each step checks
// the counters, the bytes held and which rooms are held. No sockets: thousands of steps per second.
import { test } from "node:test";
import assert from "node:assert/strict";
import { encodePacket, PacketType, SessionRecovery, type Frame } from "../../src/internal.ts";
import { random, type Random } from "../helpers/rooms-model.ts";

const ROOMS = ["a", "b", "c", "d"];
const SPAN = 1000; // heartbeatSpan: pingInterval + pingTimeout

interface Entry {
  pos: number;
  at: number;
  /** The frame text as sent (with its offset); null for a membership change. */
  text: string | null;
  bytes: number;
  rooms: string[];
  except: string[];
  /** An event to this one socket, or the socket whose membership changed. */
  member: string | null;
  room: string | null;
  joined: boolean;
  tag: string | null;
}

interface Parked {
  id: string;
  pid: string;
  rooms: string[];
  since: number;
  parkedAt: number;
  disconnectedAt: number;
  receivedBefore: number;
  /** What its client presents when it comes back. */
  offset: unknown;
}

const textOf = (frames: readonly Frame[]) => Buffer.from(frames[0]!.data).toString("latin1");
const bytesOf = (frames: readonly Frame[]) => 64 + frames.reduce((n, f) => n + f.data.length, 0);

/** Socket.IO's selection, spelled out. */
const addressed = (rooms: ReadonlySet<string>, e: Entry) => (e.rooms.length === 0 || e.rooms.some((r) => rooms.has(r))) && !e.except.some((r) => rooms.has(r));

class Model {
  readonly entries: Entry[] = [];
  /** Entries below this position are evicted. */
  firstPos = 0;
  readonly live = new Map<string, { pid: string; rooms: Set<string>; since: number }>();
  readonly parked = new Map<string, Parked>();
  /** Rooms held for restored sessions not yet replayed. */
  readonly restoredHolds: string[][] = [];

  constructor(
    readonly maxBytes: number,
    readonly maxDuration: number,
  ) {}

  get nextPos(): number {
    return this.entries.length;
  }

  get bytes(): number {
    let n = 0;
    for (let p = this.firstPos; p < this.nextPos; p++) n += this.entries[p]!.bytes;
    return n;
  }

  append(e: Omit<Entry, "pos">): void {
    this.entries.push({ ...e, pos: this.entries.length });
    while (this.bytes > this.maxBytes && this.firstPos < this.nextPos) this.firstPos++;
  }

  /** A socket's rooms just before position `p`: its membership changes replayed from the start,
   *  frozen at its rooms at disconnect from `parkedAt` on (later changes are its own leaving). */
  roomsAt(s: Parked, p: number): Set<string> {
    if (p >= s.parkedAt) return new Set(s.rooms);
    const rooms = new Set<string>();
    for (let q = 0; q < p; q++) {
      const e = this.entries[q]!;
      if (e.text === null && e.member === s.id) e.joined ? rooms.add(e.room!) : rooms.delete(e.room!);
    }
    return rooms;
  }

  /** What `s` missed, as frame texts with tags, or null when it is not recoverable at `now`. */
  missed(s: Parked, now: number, epoch: string): { texts: string[]; tags: (string | null)[] } | null {
    if (s.disconnectedAt + this.maxDuration < now) return null;
    let start = s.since;
    const o = s.offset;
    if (typeof o === "string" && o.startsWith(`${epoch}.`)) {
      const pos = Number.parseInt(o.slice(epoch.length + 1), 36);
      if (!(pos >= 0 && pos < this.nextPos && o === `${epoch}.${pos.toString(36)}`)) return null;
      start = Math.max(start, pos + 1);
    } else if (o !== undefined && !(typeof o === "string" && /^[\w-]{8}\.[0-9a-z]+$/.test(o))) return null;
    if (start < this.firstPos) {
      // Evicted entries it needs: only if each of them reached the client (older than receivedBefore).
      if (this.entries[this.firstPos - 1]!.at >= s.receivedBefore) return null;
      const first = this.entries.findIndex((e) => e.at >= s.receivedBefore);
      start = Math.max(start, first < 0 ? this.nextPos : first);
    }
    const texts: string[] = [];
    const tags: (string | null)[] = [];
    for (let p = start; p < this.nextPos; p++) {
      const e = this.entries[p]!;
      if (e.text === null) continue;
      if (e.member !== null ? e.member === s.id : addressed(this.roomsAt(s, p), e)) {
        texts.push(e.text);
        tags.push(e.tag);
      }
    }
    return { texts, tags };
  }

  holds(room: string): boolean {
    for (const s of this.parked.values()) if (s.rooms.includes(room)) return true;
    return this.restoredHolds.some((rooms) => rooms.includes(room));
  }
}

function run(seed: number, steps: number): void {
  const rand: Random = random(seed);
  let now = 1_000_000;
  const maxBytes = 300 + rand.int(3000);
  const maxDuration = 2000 + rand.int(8000);
  const recovery = new SessionRecovery(
    "/",
    { maxDisconnectionDuration: maxDuration, maxBufferedBytes: maxBytes, skipMiddlewares: true },
    SPAN,
    undefined,
    () => now,
  );
  const model = new Model(maxBytes, maxDuration);
  const released: string[] = [];
  recovery.onRoomReleased = (room) => released.push(String(room));
  // The log's epoch, from the offset of a first event (to everybody).
  const first = recovery.record(encodePacket({ type: PacketType.EVENT, nsp: "/", data: ["first"] }), new Set(), undefined, false, null);
  const epoch = /,"([\w-]{8})\.0"\]$/.exec(textOf(first))![1]!;
  model.append({ at: now, text: textOf(first), bytes: bytesOf(first), rooms: [], except: [], member: null, room: null, joined: false, tag: null });
  const stats = { recorded: 1, restored: 0, refused: 0 };
  let ids = 0;
  let events = 0;
  const where = (step: number, what: string) => `seed ${seed}, step ${step}: ${what}`;

  const join = (id: string, room: string, joined: boolean) => {
    recovery.noteMembership(id, room, joined);
    model.append({ at: now, text: null, bytes: 64, rooms: [], except: [], member: id, room, joined, tag: null });
  };
  const recorded = (out: readonly Frame[], input: readonly Frame[], e: Omit<Entry, "pos" | "text" | "bytes" | "at">, step: number) => {
    const offset = `${epoch}.${model.nextPos.toString(36)}`;
    assert.equal(textOf(out), `${textOf(input).slice(0, -1)},"${offset}"]`, where(step, "the offset is appended as the last argument"));
    assert.deepEqual(out.slice(1), input.slice(1), where(step, "attachments go along unchanged"));
    model.append({ ...e, at: now, text: textOf(out), bytes: bytesOf(out) });
    stats.recorded++;
  };
  /** The offsets of events `s` may have got, newest last (what its client could present). */
  const offsetsFor = (id: string): string[] => {
    const out: string[] = [];
    for (const e of model.entries) if (e.text !== null && (e.member === id || e.member === null)) out.push(e.text.slice(e.text.lastIndexOf(',"') + 2, -2));
    return out;
  };

  for (let step = 0; step < steps; step++) {
    now += rand.next() < 0.9 ? rand.int(50) : rand.int(4 * SPAN);
    const live = [...model.live.keys()];
    const r = rand.next();
    if (r < 0.3) {
      // A broadcast: some rooms (none: everybody), some excepted, sometimes volatile, with an ack id or binary.
      const rooms = rand.some([...ROOMS, ...live], 0.3);
      const except = rand.next() < 0.4 ? rand.some([...ROOMS, ...live], 0.2) : [];
      const kind = rand.next();
      const data = kind < 0.1 ? ["bin", events++, Buffer.from([1, 2, rand.int(255)])] : ["e", events++, "x".repeat(rand.int(80))];
      const frames = encodePacket({ type: PacketType.EVENT, nsp: "/", data, ...(kind > 0.95 ? { id: 7 } : {}) });
      const volatile = rand.next() < 0.05;
      const tag = rand.next() < 0.3 ? `w:${step}` : null;
      const out = recovery.record(frames, new Set(rooms), new Set(except), volatile, tag);
      if (volatile || kind > 0.95) assert.equal(out, frames, where(step, "volatile and ack-awaiting events go out unrecorded"));
      else recorded(out, frames, { rooms, except, member: null, room: null, joined: false, tag }, step);
    } else if (r < 0.38 && live.length > 0) {
      const id = rand.pick(live);
      const frames = encodePacket({ type: PacketType.EVENT, nsp: "/", data: ["direct", events++] });
      recorded(recovery.recordDirect(id, frames), frames, { rooms: [], except: [], member: id, room: null, joined: false, tag: null }, step);
    } else if (r < 0.55 && live.length > 0) {
      const id = rand.pick(live);
      const room = rand.next() < 0.1 ? rand.pick(live) : rand.pick(ROOMS);
      const s = model.live.get(id)!;
      const joined = !s.rooms.has(room);
      joined ? s.rooms.add(room) : s.rooms.delete(room);
      join(id, room, joined);
    } else if (r < 0.62 || live.length === 0) {
      // A new socket: in its own room, its restore point after that.
      const id = `s${ids++}`;
      join(id, id, true);
      model.live.set(id, { pid: `p${id}`, rooms: new Set([id]), since: recovery.position });
    } else if (r < 0.74) {
      // Dropped: its session persisted, then it leaves its rooms (the adapter's removeMember).
      const id = rand.pick(live);
      const s = model.live.get(id)!;
      model.live.delete(id);
      const lastPongAt = now - rand.int(2 * SPAN);
      const rooms = [...s.rooms];
      const got = offsetsFor(id);
      const o = rand.next();
      const offset =
        o < 0.45 && got.length > 0
          ? got[got.length - 1]
          : o < 0.7 && got.length > 0
            ? rand.pick(got)
            : o < 0.85
              ? undefined
              : o < 0.95
                ? "AbCdEfGh.1z"
                : `${epoch}.zzzzz`;
      recovery.persistSession({ id, pid: s.pid, rooms, data: { step }, since: s.since, lastPongAt });
      model.parked.set(s.pid, {
        id,
        pid: s.pid,
        rooms,
        since: s.since,
        parkedAt: model.nextPos,
        disconnectedAt: now,
        receivedBefore: lastPongAt - SPAN - 1000,
        offset,
      });
      for (const room of rooms) join(id, room, false);
    } else if (r < 0.86 && model.parked.size > 0) {
      // Comes back: restored (or refused), then back in its rooms and replayed, maybe after more events.
      const s = rand.pick([...model.parked.values()]);
      // Now and then right at the end of its window: the last ms it is restorable, or the first it is not.
      if (rand.next() < 0.1) now = Math.max(now, s.disconnectedAt + maxDuration + rand.int(2));
      model.parked.delete(s.pid);
      const expected = model.missed(s, now, epoch);
      const restored = recovery.restoreSession(s.pid, s.offset);
      assert.ok(!(restored instanceof Promise), where(step, "no remote sessions alone"));
      if (expected === null) {
        assert.equal(restored, null, where(step, `${s.id} is not recoverable`));
        stats.refused++;
      } else {
        assert.ok(restored, where(step, `${s.id} is recoverable`));
        stats.restored++;
        assert.deepEqual([restored.id, restored.pid, restored.rooms], [s.id, s.pid, s.rooms], where(step, "its state"));
        assert.deepEqual(restored.missed.map(textOf), expected.texts, where(step, `what ${s.id} missed`));
        assert.deepEqual(restored.tags, expected.tags, where(step, `the tags of what ${s.id} missed`));
        const upTo = model.nextPos;
        model.restoredHolds.push(s.rooms);
        // Middlewares ran meanwhile: events recorded between the take and the replay are caught up.
        const between = rand.next() < 0.3 ? 1 + rand.int(3) : 0;
        for (let i = 0; i < between; i++) {
          const rooms = rand.some(ROOMS, 0.5);
          const frames = encodePacket({ type: PacketType.EVENT, nsp: "/", data: ["mid", events++] });
          recorded(
            recovery.record(frames, new Set(rooms), undefined, false, null),
            frames,
            { rooms, except: [], member: null, room: null, joined: false, tag: null },
            step,
          );
        }
        for (const room of s.rooms) join(s.id, room, true);
        const since = recovery.position;
        const rooms = new Set(s.rooms);
        const catchUp: string[] = [];
        for (let p = Math.max(upTo, model.firstPos); p < model.nextPos; p++) {
          const e = model.entries[p]!;
          if (e.text !== null && (e.member !== null ? e.member === s.id : addressed(rooms, e))) catchUp.push(e.text);
        }
        const sent: string[] = [];
        recovery.replay(restored, (frames) => {
          const base = `${textOf(frames).slice(0, textOf(frames).lastIndexOf(',"'))}]`;
          model.append({ at: now, text: textOf(frames), bytes: bytesOf(frames), rooms: [], except: [], member: s.id, room: null, joined: false, tag: null });
          stats.recorded++;
          assert.ok(textOf(frames).endsWith(`,"${epoch}.${(model.nextPos - 1).toString(36)}"]`), where(step, "a replayed event gets a new offset"));
          sent.push(base);
        });
        const strip = (t: string) => `${t.slice(0, t.lastIndexOf(',"'))}]`;
        assert.deepEqual(sent, [...expected.texts, ...catchUp].map(strip), where(step, `the replay to ${s.id}: missed, then caught up`));
        model.restoredHolds.splice(model.restoredHolds.indexOf(s.rooms), 1);
        model.live.set(s.id, { pid: s.pid, rooms: new Set(s.rooms), since });
      }
    } else if (r < 0.9 && model.parked.size > 0) {
      const s = rand.pick([...model.parked.values()]);
      if (rand.next() < 0.2) now = Math.max(now, s.disconnectedAt + maxDuration + rand.int(2));
      const alive = s.disconnectedAt + maxDuration >= now;
      assert.deepEqual(recovery.peek(s.pid), alive ? s.rooms : null, where(step, `peek ${s.id}`));
    } else if (r < 0.95) {
      // The sweep: expired sessions go, and events older than any session could still need.
      recovery.sweep(now);
      const threshold = now - maxDuration;
      for (const [pid, s] of model.parked) if (s.disconnectedAt < threshold) model.parked.delete(pid);
      const keepFrom = threshold - 3 * SPAN - 2000;
      while (model.firstPos < model.nextPos && model.entries[model.firstPos]!.at < keepFrom) model.firstPos++;
    } else {
      // What a client may still miss when `frames` are all it may not have received.
      const recent = model.entries.filter((e) => e.text !== null && e.pos >= model.firstPos);
      const pending = rand.some(recent, 0.3);
      const frames = pending.map((e) => ({ data: Buffer.from(e.text!, "latin1"), binary: false }));
      const expected = pending.length === 0 ? model.nextPos : Math.min(...pending.map((e) => e.pos));
      assert.equal(recovery.pendingFrom(frames), expected, where(step, "pendingFrom"));
    }
    assert.equal(recovery.position, model.nextPos, where(step, "position"));
    assert.equal(recovery.bufferedBytes, model.bytes, where(step, "bytes held"));
    assert.equal(recovery.parkedCount, model.parked.size, where(step, "sessions parked"));
    assert.deepEqual(
      [recovery.stats.recorded, recovery.stats.restored, recovery.stats.refused],
      [stats.recorded, stats.restored, stats.refused],
      where(step, "recorded, restored, refused"),
    );
    for (const room of [...ROOMS, ...live]) assert.equal(recovery.holdsRoom(room), model.holds(room), where(step, `room ${room} held`));
    for (const room of released) assert.ok(!model.holds(room), where(step, `room ${room} released while held`));
    released.length = 0;
  }
  recovery.close();
}

test("the recording log and parked sessions agree with the model (40 seeds × 1500 steps)", () => {
  for (let seed = 1; seed <= 40; seed++) run(seed, 1500);
});
