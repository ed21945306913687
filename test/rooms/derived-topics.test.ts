// Derived topics (src/rooms/derived-topics.ts) through Membership: a composite target asked for
// often enough gets a uWS topic of its own whose subscribers are exactly the target's members, and
// stay so through joins, leaves, connects and disconnects; at most `max` are kept, the least
// recently used evicted (its subscribers unsubscribed). Pure, milliseconds.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Membership } from "../../src/internal.ts";
import { random, randomMembershipOp, RecordingMember, RoomsModel } from "../helpers/rooms-model.ts";

const ROOMS = ["a", "b", "c", "d"];

function ids(members: Iterable<RecordingMember>): string[] {
  return [...members].map((m) => m.id).sort();
}

function setup(opts: { after?: number; max?: number }, n = 6) {
  const m = new Membership<RecordingMember>("/", opts);
  const model = new RoomsModel();
  const members = Array.from({ length: n }, (_, i) => new RecordingMember(`m${i}`));
  for (const r of members) {
    m.addMember(r);
    model.add(r);
  }
  const join = (r: RecordingMember, room: string) => {
    m.add(r.id, room);
    model.rooms.get(r)!.add(room);
  };
  return { m, model, members, join };
}

test("derived topics: a target gets its topic on the `after`-th request, and the same one for the rooms in any order", () => {
  const { m, members, join } = setup({ after: 3, max: 4 });
  join(members[0]!, "a");
  join(members[1]!, "b");
  assert.equal(m.derivedTopic(["a", "b"], []), undefined);
  assert.equal(m.derivedTopic(["b", "a"], []), undefined);
  const d = m.derivedTopic(["a", "b"], []);
  assert.ok(d, "third request: a topic");
  assert.equal(m.derivedTopic(["b", "a"], []), d);
  assert.equal(m.derivedTopicCount, 1);
  assert.ok(d.topic.startsWith(m.namespaceTopic));
  for (const room of ["a", "b", "a\x1fb", ""]) assert.notEqual(d.topic, m.topicOf(room), "never a room's topic");
  assert.deepEqual(ids(members.filter((r) => r.topics.has(d.topic))), ["m0", "m1"]);
});

test("derived topics: off (max 0) means no topic, ever", () => {
  const { m } = setup({ max: 0 });
  assert.equal(m.derivedTopicsEnabled, false);
  for (let i = 0; i < 5; i++) assert.equal(m.derivedTopic(["a"], ["b"]), undefined);
  assert.equal(m.derivedTopicCount, 0);
});

test("derived topics: subscribers follow the target's members through random membership changes (seeded)", () => {
  for (let seed = 1; seed <= 60; seed++) {
    const rand = random(seed);
    const { m, model } = setup({ after: 1, max: 3 }, 0);
    let n = 0;
    for (let i = 0; i < 30; i++) randomMembershipOp(rand, m, model, ROOMS, () => `x${n++}`);
    const targets: { rooms: string[]; except: string[] }[] = [];
    for (let step = 0; step < 80; step++) {
      if (rand.next() < 0.2) {
        // Another target (the whole namespace when no rooms): may evict the least recently used.
        targets.push({ rooms: rand.some([...ROOMS, ...rand.some(model.live, 0.1).map((r) => r.id)], 0.4), except: rand.some(ROOMS, 0.3) });
      }
      for (const t of targets.slice(-3)) {
        const d = m.derivedTopic(t.rooms, t.except)!;
        assert.ok(d, `seed ${seed}: no topic with after = 1`);
        const where = `seed ${seed}, step ${step}: [${t.rooms}] except [${t.except}]`;
        // (strings compared, not arrays: deepEqual in this loop would take most of a second)
        const want = ids(model.select(t.rooms, t.except)).join();
        assert.equal(ids(model.subscribers(d.topic)).join(), want, `${where}: subscribers`);
        const slots: string[] = [];
        d.slots.forEach((s) => slots.push(m.memberAt(s)!.id));
        assert.equal(slots.sort().join(), want, `${where}: slots`);
      }
      assert.ok(m.derivedTopicCount <= 3);
      randomMembershipOp(rand, m, model, ROOMS, () => `x${n++}`);
    }
  }
});

test("derived topics: at most `max` are kept; the least recently used is evicted and its subscribers unsubscribed", () => {
  const { m, members, join } = setup({ after: 1, max: 2 });
  for (const r of members) join(r, "a");
  join(members[0]!, "b");
  const first = m.derivedTopic(["a"], ["b"])!;
  const second = m.derivedTopic([], ["b"])!;
  assert.equal(m.derivedTopic(["a"], ["b"]), first, "used again: now the most recent");
  const subscribed = (topic: string) => ids(members.filter((r) => r.topics.has(topic)));
  assert.deepEqual(subscribed(second.topic), ["m1", "m2", "m3", "m4", "m5"]);
  const third = m.derivedTopic(["b"], [])!;
  assert.equal(m.derivedTopicCount, 2);
  assert.deepEqual(subscribed(second.topic), [], "the evicted topic has no subscribers left");
  assert.deepEqual(subscribed(first.topic), ["m1", "m2", "m3", "m4", "m5"]);
  assert.deepEqual(subscribed(third.topic), ["m0"]);
  // Evicted targets start over: a new topic object once asked for again.
  assert.notEqual(m.derivedTopic([], ["b"]), second);
});

test("derived topics: a whole-namespace target subscribes sockets that connect later, and a disconnect unsubscribes", () => {
  const { m, members } = setup({ after: 1, max: 2 }, 2);
  const d = m.derivedTopic([], ["quiet"])!;
  const late = new RecordingMember("late");
  m.addMember(late);
  assert.ok(late.topics.has(d.topic));
  m.add("late", "quiet");
  assert.ok(!late.topics.has(d.topic));
  m.del("late", "quiet");
  assert.ok(late.topics.has(d.topic));
  m.removeMember(late);
  assert.deepEqual([...late.topics], []);
  assert.ok(members.every((r) => r.topics.has(d.topic)));
});
