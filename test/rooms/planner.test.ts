// The delivery planner (src/rooms/planner.ts) as a seeded property test against a Set model:
// random rooms, joins, leaves, connects and disconnects over a Membership whose members' transports
// only record their topic subscriptions, then random targets (unions, excepts, socket.to from a
// sender, sockets holding queued frames). A plan's native topics, expanded through the recorded
// subscriptions (uWS skipping the sender when published from it), plus its per-socket slots must
// reach exactly the model's recipients, each once, and never the sender. No sockets: thousands of
// plans in well under a second.
import { test } from "node:test";
import assert from "node:assert/strict";
import { forEachBit, Membership, Planner, selectRecipients, type Plan, type PlanRequest } from "../../src/internal.ts";
import { random, randomMembershipOp, RecordingMember, RoomsModel, type Random } from "../helpers/rooms-model.ts";

const ROOMS = ["a", "b", "c", "d", "e", "f", "missing"];

/** How often each member is reached by `plan`, natively (expanded through subscriptions) and per socket. */
function reached(m: Membership<RecordingMember>, model: RoomsModel, plan: Plan, sender: RecordingMember | undefined): Map<RecordingMember, number> {
  const hits = new Map<RecordingMember, number>();
  const hit = (r: RecordingMember) => hits.set(r, (hits.get(r) ?? 0) + 1);
  for (const topic of plan.topics) {
    for (const r of model.subscribers(topic)) if (!(plan.viaSender && r === sender)) hit(r);
  }
  if (plan.perSocket) {
    forEachBit(plan.perSocket, (slot) => {
      const r = m.memberAt(slot);
      assert.ok(r, `per-socket slot ${slot} holds no member`);
      hit(r);
    });
  }
  return hits;
}

/** A target as the API layer builds it: rooms, except, and for socket.to a sender whose own room is excluded. */
function randomRequest(rand: Random, model: RoomsModel): { req: PlanRequest; sender?: RecordingMember } {
  const live = model.live;
  const pool = [...ROOMS, ...rand.some(live, 0.1).map((x) => x.id)];
  const rooms = new Set(rand.next() < 0.15 ? [] : rand.some(pool, 0.3));
  const except = new Set(rand.next() < 0.5 ? [] : rand.some(pool, 0.2));
  // The adapter passes the sender only while its own room still holds it (api/adapter.ts).
  const s = rand.next() < 0.4 && live.length > 0 ? rand.pick(live) : undefined;
  if (s) except.add(s.id);
  const sender = s && model.rooms.get(s)!.has(s.id) ? s : undefined;
  return { req: { rooms, except, senderSlot: sender ? sender.slot : -1, senderId: sender?.id }, sender };
}

/** Marks random members as holding queued frames, as the delivery layer does between flushes. */
function randomPending(rand: Random, m: Membership<RecordingMember>, model: RoomsModel): void {
  m.pending.fill(0);
  m.pendingAny = false;
  if (rand.next() < 0.7) return;
  for (const r of rand.some(model.live, 0.2)) {
    m.pending[r.slot >>> 5] |= 1 << (r.slot & 31);
    m.pendingAny = true;
  }
}

function run(seed: number, derivedTopics: { after?: number; max?: number }): number {
  const rand = random(seed);
  const m = new Membership<RecordingMember>("/nsp", derivedTopics);
  const model = new RoomsModel();
  const planner = new Planner();
  let ids = 0;
  let plans = 0;
  const population = rand.pick([3, 20, 80]);
  for (let i = 0; i < population; i++) randomMembershipOp(rand, m, model, ROOMS, () => `s${seed}-${ids++}`);
  for (let step = 0; step < 60; step++) {
    for (let k = rand.int(4); k > 0; k--) randomMembershipOp(rand, m, model, ROOMS, () => `s${seed}-${ids++}`);
    randomPending(rand, m, model);
    // The same target again and again sometimes: that is what turns a derived topic on.
    const { req, sender } = randomRequest(rand, model);
    for (let again = rand.next() < 0.3 ? 3 : 1; again > 0; again--) {
      const plan = planner.plan(m, req);
      plans++;
      const want = model.select(req.rooms, req.except);
      const hits = reached(m, model, plan, sender);
      const where = `seed ${seed}, step ${step}: rooms [${[...req.rooms]}] except [${[...req.except]}] sender ${sender?.id ?? "-"} plan ${JSON.stringify({ ...plan, perSocket: !!plan.perSocket })}`;
      if (sender) assert.ok(!hits.has(sender), `${where}: the sender is reached`);
      for (const [r, n] of hits) {
        assert.ok(want.has(r), `${where}: ${r.id} is reached but not a recipient`);
        assert.equal(n, 1, `${where}: ${r.id} is reached ${n} times`);
      }
      for (const r of want) assert.ok(hits.has(r), `${where}: ${r.id} is not reached`);
      // The metrics count native deliveries from the plan: it must match what the topics reach.
      const nativeHits = reached(m, model, { ...plan, perSocket: null }, sender);
      assert.equal(plan.nativeRecipients, nativeHits.size, `${where}: nativeRecipients`);
      // Native topics never reach a member holding queued frames unless the plan flushes first.
      if (!plan.flushFirst && m.pendingAny) {
        for (const topic of plan.topics)
          for (const r of model.subscribers(topic))
            assert.ok(!(m.pending[r.slot >>> 5]! & (1 << (r.slot & 31))) || r === sender, `${where}: a publish to ${topic} overtakes ${r.id}'s queued frames`);
      }
    }
  }
  return plans;
}

test("planner: every plan reaches exactly the model's recipients once, never the sender (seeded, derived topics off)", () => {
  let plans = 0;
  for (let seed = 1; seed <= 150; seed++) plans += run(seed, { max: 0 });
  assert.ok(plans >= 9000, `${plans} plans`);
});

test("planner: the same with derived topics on (created after 2 requests, at most 3, evicted least recently used)", () => {
  let plans = 0;
  for (let seed = 1; seed <= 150; seed++) plans += run(10000 + seed, { after: 2, max: 3 });
  assert.ok(plans >= 9000, `${plans} plans`);
});

test("planner: one native publish for a room, the namespace topic for everybody, per-socket for a room of one", () => {
  const m = new Membership<RecordingMember>("/");
  const [x, y, z] = ["x", "y", "z"].map((id) => new RecordingMember(id));
  for (const r of [x, y, z]) m.addMember(r);
  m.addAll("x", ["big", "solo"]);
  m.addAll("y", ["big"]);
  const planner = new Planner();
  const none = new Set<string>();
  assert.deepEqual(planner.plan(m, { rooms: new Set(["big"]), except: none, senderSlot: -1 }), {
    topics: ["/\x1fbig"],
    viaSender: false,
    perSocket: null,
    nativeRecipients: 2,
  });
  assert.deepEqual(planner.plan(m, { rooms: none, except: none, senderSlot: -1 }), {
    topics: ["/\x1f"],
    viaSender: false,
    perSocket: null,
    nativeRecipients: 3,
  });
  const solo = planner.plan(m, { rooms: new Set(["solo"]), except: none, senderSlot: -1 });
  assert.deepEqual(solo.topics, []);
  assert.deepEqual(
    [...solo.perSocket!].flatMap((w, i) => (w ? [i] : [])),
    [0],
  );
  // socket.to("big") from x: published from x's connection, which uWS skips.
  const fromX = planner.plan(m, { rooms: new Set(["big"]), except: new Set(["x"]), senderSlot: x.slot, senderId: "x" });
  assert.deepEqual(fromX, { topics: ["/\x1fbig"], viaSender: true, perSocket: null, nativeRecipients: 1 });
});

test("planner: selectRecipients is the plain union minus except, for acks and utilities", () => {
  for (let seed = 1; seed <= 100; seed++) {
    const rand = random(50000 + seed);
    const m = new Membership<RecordingMember>("/");
    const model = new RoomsModel();
    let ids = 0;
    for (let i = 0; i < 60; i++) randomMembershipOp(rand, m, model, ROOMS, () => `u${ids++}`);
    const { req } = randomRequest(rand, model);
    const got: string[] = [];
    forEachBit(selectRecipients(m, req.rooms, req.except), (slot) => got.push(m.memberAt(slot)!.id));
    assert.deepEqual(got.sort(), [...model.select(req.rooms, req.except)].map((r) => r.id).sort(), `seed ${seed}`);
  }
});
