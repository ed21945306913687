// Membership (src/rooms/membership.ts, room-map.ts) on its own: the public rooms/sids maps and the
// adapter events checked against socket.io-adapter's own Adapter fed the same operations, own
// rooms answered for without being stored, slots reused, and the uWS topic subscriptions kept in
// step with the rooms (a room goes native at its second member). Pure, milliseconds.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Adapter as SocketIoAdapter } from "socket.io-adapter";
import { Membership, type Room } from "../../src/internal.ts";
import { random, randomMembershipOp, RecordingMember, RoomsModel } from "../helpers/rooms-model.ts";

const EVENTS = ["create-room", "join-room", "leave-room", "delete-room"] as const;

function recordEvents(emitter: { on(ev: string, fn: (...args: unknown[]) => void): unknown }): string[] {
  const log: string[] = [];
  for (const ev of EVENTS) emitter.on(ev, (...args: unknown[]) => log.push(`${ev} ${args.join(" ")}`));
  return log;
}

/** A Map<room, Set<id>> as sorted plain data, to compare without caring for iteration order. */
function plain(map: Map<Room, Set<Room>>): [Room, Room[]][] {
  return [...map.entries()].map(([k, v]): [Room, Room[]] => [k, [...v].sort()]).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Socket.IO's reference adapter (socket.io-adapter 2.5), driven as socket.io drives it. */
function referenceAdapter() {
  return new SocketIoAdapter({ sockets: new Map(), server: { encoder: {} } } as never) as unknown as {
    rooms: Map<string, Set<string>>;
    sids: Map<string, Set<string>>;
    addAll(id: string, rooms: Set<string>): void;
    del(id: string, room: string): void;
    delAll(id: string): void;
    on(ev: string, fn: (...args: unknown[]) => void): unknown;
  };
}

/** The subscriptions a member must hold: the namespace topic and every native room it is in. */
function expectedTopics(m: Membership<RecordingMember>, member: RecordingMember): string[] {
  const out = [m.namespaceTopic];
  for (const room of m.sids.get(member.id)!) {
    const idx = m.roomIndex(room)!;
    if (idx.native) out.push(idx.topic);
  }
  return out.sort();
}

test("membership: rooms, sids and adapter events match socket.io-adapter's through random joins, leaves and disconnects (seeded)", () => {
  for (let seed = 1; seed <= 40; seed++) {
    const rand = random(seed);
    const ours = new Membership<RecordingMember>("/");
    const theirs = referenceAdapter();
    const ourLog = recordEvents(ours);
    const theirLog = recordEvents(theirs);
    const model = new RoomsModel();
    let ids = 0;
    const removed = new Set<RecordingMember>();
    for (let step = 0; step < 120; step++) {
      const before = new Set(model.live);
      const rooms = new Map([...model.rooms].map(([m, r]) => [m, new Set(r)]));
      randomMembershipOp(rand, ours, model, ["a", "b", "c", "d"], () => `m${ids++}`);
      // Replay the same operation on the reference adapter, the way socket.io calls it.
      for (const m of model.live) if (!before.has(m)) theirs.addAll(m.id, new Set([m.id]));
      for (const m of before) {
        if (!model.rooms.has(m)) {
          theirs.delAll(m.id);
          removed.add(m);
          continue;
        }
        const was = rooms.get(m)!;
        const now = model.rooms.get(m)!;
        for (const r of now) if (!was.has(r)) theirs.addAll(m.id, new Set([r]));
        for (const r of was) if (!now.has(r)) theirs.del(m.id, r);
      }
      const where = `seed ${seed}, step ${step}`;
      assert.deepEqual(plain(ours.rooms), plain(theirs.rooms), `${where}: rooms`);
      assert.deepEqual(plain(ours.sids), plain(theirs.sids), `${where}: sids`);
      assert.equal(ours.rooms.size, theirs.rooms.size, `${where}: rooms.size`);
      assert.deepEqual(ourLog, theirLog, `${where}: adapter events`);
      for (const room of ["a", "b", ...model.live.map((m) => m.id)]) {
        assert.equal(ours.rooms.has(room), theirs.rooms.has(room), `${where}: rooms.has(${room})`);
        assert.deepEqual([...(ours.rooms.get(room) ?? [])].sort(), [...(theirs.rooms.get(room) ?? [])].sort(), `${where}: rooms.get(${room})`);
      }
      for (const member of model.live) {
        assert.equal(ours.member(member.id), member, `${where}: member(${member.id})`);
        assert.equal(ours.memberAt(member.slot), member, `${where}: memberAt(${member.slot})`);
        assert.deepEqual([...member.topics].sort(), expectedTopics(ours, member), `${where}: ${member.id}'s topic subscriptions`);
      }
      for (const gone of removed) assert.deepEqual([...gone.topics], [], `${where}: ${gone.id} left with subscriptions`);
    }
  }
});

test("membership: an own room is answered for, not stored, until somebody else joins it", () => {
  const m = new Membership<RecordingMember>("/");
  const x = new RecordingMember("x");
  const y = new RecordingMember("y");
  m.addMember(x);
  m.addMember(y);
  assert.equal(m.rooms.stored("x"), undefined);
  assert.equal(m.rooms.ownRooms, 2);
  assert.ok(m.rooms.has("x"));
  assert.deepEqual([...m.rooms.get("x")!], ["x"]);
  assert.deepEqual([...m.rooms.keys()].sort(), ["x", "y"]);
  assert.equal(m.rooms.size, 2);
  assert.ok(m.holdsOnly("x", x.slot));
  assert.deepEqual(m.roomIndex("x"), { slots: m.roomIndex("x")!.slots, native: false, topic: "" });
  assert.ok(m.roomIndex("x")!.slots.has(x.slot));

  m.add("y", "x"); // y joins x's own room: stored from now on, and native (two members)
  const stored = m.rooms.stored("x")!;
  assert.ok(stored);
  assert.deepEqual([...stored].sort(), ["x", "y"]);
  assert.equal(m.rooms.ownRooms, 1);
  assert.equal(m.rooms.size, 2);
  assert.ok(!m.holdsOnly("x", x.slot));
  assert.ok(stored.native);
  assert.ok(x.topics.has(m.topicOf("x")) && y.topics.has(m.topicOf("x")));

  m.del("x", "x"); // x leaves its own room; y is still in it
  assert.deepEqual([...m.rooms.get("x")!], ["y"]);
  assert.ok(!x.topics.has(m.topicOf("x")));
  assert.deepEqual([...m.socketRooms("x")!], []);
});

test("membership: a room turns native at its second member and subscribes all of them; a leave unsubscribes", () => {
  const m = new Membership<RecordingMember>("/chat");
  const ms = ["a", "b", "c"].map((id) => new RecordingMember(id));
  for (const r of ms) m.addMember(r);
  assert.equal(m.namespaceTopic, "/chat\x1f");
  for (const r of ms) assert.deepEqual([...r.topics], ["/chat\x1f"]);
  m.add("a", "room");
  assert.ok(!m.rooms.stored("room")!.native, "one member: delivered directly, no topic");
  assert.ok(!ms[0]!.topics.has("/chat\x1froom"));
  m.add("b", "room");
  assert.ok(m.rooms.stored("room")!.native);
  assert.ok(ms[0]!.topics.has("/chat\x1froom") && ms[1]!.topics.has("/chat\x1froom"));
  m.add("c", "room");
  assert.ok(ms[2]!.topics.has("/chat\x1froom"));
  m.del("b", "room");
  assert.ok(!ms[1]!.topics.has("/chat\x1froom"));
  m.delAll("a");
  assert.deepEqual([...ms[0]!.topics], ["/chat\x1f"], "delAll leaves every room but keeps the socket in the namespace");
  assert.ok(m.member("a"));
});

test("membership: slots are dense and reused after a disconnect; removing twice or a stranger is a no-op", () => {
  const m = new Membership<RecordingMember>("/");
  const a = new RecordingMember("a");
  const b = new RecordingMember("b");
  m.addMember(a);
  m.addMember(b);
  assert.deepEqual([a.slot, b.slot], [0, 1]);
  m.removeMember(a);
  m.removeMember(a);
  m.removeMember(new RecordingMember("b")); // same id, another object: not the member
  assert.ok(m.member("b") === b);
  assert.equal(m.memberAt(0), undefined);
  assert.equal(m.all.size, 1);
  const c = new RecordingMember("c");
  m.addMember(c);
  assert.equal(c.slot, 0, "the freed slot is reused");
  assert.equal(m.slotCount, 2);
  m.add("nobody", "room"); // joins of unknown sockets are ignored
  assert.ok(!m.rooms.has("room"));
});

test("membership: adapter events come in socket.io's order: create before join, leave before delete", () => {
  const m = new Membership<RecordingMember>("/");
  const log = recordEvents(m);
  const x = new RecordingMember("x");
  m.addMember(x);
  m.add("x", "r");
  m.del("x", "r");
  m.removeMember(x);
  assert.deepEqual(log, [
    "create-room x",
    "join-room x x",
    "create-room r",
    "join-room r x",
    "leave-room r x",
    "delete-room r",
    "leave-room x x",
    "delete-room x",
  ]);
});
