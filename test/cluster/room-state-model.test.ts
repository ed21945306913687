// The room-state bookkeeping (src/cluster/room-state.ts) against a brute-force model, seeded: three
// workers change their parts at random and exchange deltas, snapshots and version beacons over a
// lossy, duplicating "relay"; a peer is dropped now and then (as when it is not live) and asked
// for again. Once the messages flow without loss, every worker's totals equal the sum of all
// parts, and the presence events each fired (join at 0 → 1, leave at 1 → 0, cluster-wide) agree
// with its totals, never a join of a member present nor a leave of one absent.
// Run: node --import tsx --test test/cluster/room-state-model.test.ts
import { test } from "node:test";
import assert from "node:assert/strict";
import { LocalRoomState, PeerRoomStates, Totals } from "../../src/cluster/room-state.ts";
import type { RoomStateMessage } from "../../src/cluster/protocol.ts";
import { prng } from "../helpers/rooms-model.ts";

const NSPS = ["/", "/b"];
const ROOMS = ["r0", "r1", "r2", 7];
const KEYS = ["ann", "bob", "cy"];

interface W {
  id: string;
  totals: Totals;
  local: LocalRoomState;
  remote: PeerRoomStates;
  /** "nsp room key" present by the events. */
  byEvents: Set<string>;
  errors: string[];
  /** The model of this worker's own part: "nsp room" → sockets, "nsp room key" → sockets (key
   *  "null": the sockets without a key). */
  sizes: Map<string, number>;
  members: Map<string, number>;
}

function worker(id: string): W {
  const byEvents = new Set<string>();
  const errors: string[] = [];
  const totals = new Totals((nsp, room, key, present) => {
    const k = `${nsp} ${String(room)} ${key}`;
    if (present === byEvents.has(k)) errors.push(`${present ? "join" : "leave"} ${k}`);
    if (present) byEvents.add(k);
    else byEvents.delete(k);
  });
  return { id, totals, local: new LocalRoomState(id, totals), remote: new PeerRoomStates(totals), byEvents, errors, sizes: new Map(), members: new Map() };
}

for (const seed of [1, 2, 3, 4, 5]) {
  test(`room-state bookkeeping converges to the sum of the parts (seed ${seed})`, () => {
    const rnd = prng(seed);
    const int = (n: number) => Math.floor(rnd() * n);
    const ws = [worker("A"), worker("B"), worker("C")];
    let lossy = true;

    const deliver = (to: W, msg: RoomStateMessage) => {
      if (lossy && rnd() < 0.1) return; // lost
      const copies = lossy && rnd() < 0.1 ? 2 : 1;
      for (let i = 0; i < copies; i++) if (!to.remote.apply(msg)) snapshotTo(ws.find((w) => w.id === msg.from)!, to);
    };
    const snapshotTo = (from: W, to: W) => {
      for (const m of from.local.snapshot()) if (!to.remote.apply(m)) throw new Error("a snapshot must apply");
    };
    const others = (w: W) => ws.filter((x) => x !== w);

    for (let i = 0; i < 3000; i++) {
      const w = ws[int(ws.length)]!;
      const op = int(20);
      if (op < 12) {
        const nsp = NSPS[int(NSPS.length)]!;
        const room = ROOMS[int(ROOMS.length)]!;
        const sk = `${nsp} ${String(room)}`;
        const key = int(3) === 0 ? null : KEYS[int(KEYS.length)]!;
        const mk = `${sk} ${key}`;
        // A socket without a key (mk "… null") leaves only what sockets without a key joined.
        const leave = (w.members.get(mk) ?? 0) > 0 && int(2) === 0;
        const d = leave ? -1 : 1;
        w.local.addSize(nsp, room, d);
        w.sizes.set(sk, (w.sizes.get(sk) ?? 0) + d);
        w.members.set(mk, (w.members.get(mk) ?? 0) + d);
        if (key !== null) w.local.addMember(nsp, room, key, d);
      } else if (op < 17) {
        for (const msg of w.local.drain()) for (const o of others(w)) deliver(o, msg);
      } else if (op < 19) {
        const beacon = w.local.beacon();
        for (const o of others(w)) deliver(o, beacon);
      } else {
        const o = others(w)[int(2)]!;
        o.remote.drop(w.id); // not live there for a while; asked for again later
        if (int(2) === 0) snapshotTo(w, o);
      }
    }

    // The relay is reliable again: everything goes out, and each asks what it lacks.
    lossy = false;
    for (const w of ws) for (const msg of w.local.drain()) for (const o of others(w)) deliver(o, msg);
    for (const w of ws) for (const o of others(w)) if (!o.remote.has(w.id) || !o.remote.apply(w.local.beacon())) snapshotTo(w, o);

    for (const w of ws) {
      assert.deepEqual(w.errors, [], `worker ${w.id}'s events`);
      for (const nsp of NSPS)
        for (const room of ROOMS) {
          const sk = `${nsp} ${String(room)}`;
          const want = ws.reduce((n, x) => n + (x.sizes.get(sk) ?? 0), 0);
          assert.equal(w.totals.size(nsp, room), want, `${w.id}: size of ${sk}`);
          for (const key of KEYS) {
            const mk = `${sk} ${key}`;
            const wantN = ws.reduce((n, x) => n + (x.members.get(mk) ?? 0), 0);
            assert.equal(w.totals.members(nsp, room).get(key) ?? 0, wantN, `${w.id}: sockets of ${mk}`);
            assert.equal(w.byEvents.has(mk), wantN > 0, `${w.id}: ${mk} by the events`);
          }
        }
    }
  });
}

test("a snapshot in several messages is applied at once, and only its differences fire events", () => {
  const a = worker("A");
  const b = worker("B");
  for (let i = 0; i < 5000; i++) a.local.addMember("/", `room-${i}`, "ann", 1);
  const snap = a.local.snapshot();
  assert.ok(snap.length >= 2, "more than one message");
  for (const m of snap.slice(0, -1)) b.remote.apply(m);
  assert.equal(b.byEvents.size, 0, "nothing counts before the last message");
  b.remote.apply(snap[snap.length - 1]!);
  assert.equal(b.byEvents.size, 5000);
  a.local.addMember("/", "room-0", "ann", -1);
  a.local.drain();
  for (const m of a.local.snapshot()) b.remote.apply(m);
  assert.equal(b.byEvents.size, 4999);
  assert.deepEqual(b.errors, []);
});
