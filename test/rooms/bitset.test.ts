// SlotSet and the bitset helpers (src/rooms/bitset.ts) against a plain Set: membership, size and
// iteration on both sides of the switch from a sorted array to a bitset, and the word-wise
// operations the planner builds on (or, and-not, intersects). Pure, milliseconds.
import { test } from "node:test";
import assert from "node:assert/strict";
import { SlotSet, forEachBit, wordsFor } from "../../src/internal.ts";
import { random } from "../helpers/rooms-model.ts";

function bitsOf(slots: Iterable<number>, words: number): Uint32Array {
  const out = new Uint32Array(words);
  for (const s of slots) out[s >>> 5] |= 1 << (s & 31);
  return out;
}

function slotsOf(bits: Uint32Array): number[] {
  const out: number[] = [];
  forEachBit(bits, (slot) => out.push(slot));
  return out;
}

function contents(s: SlotSet): number[] {
  const out: number[] = [];
  s.forEach((slot) => out.push(slot));
  return out.sort((a, b) => a - b);
}

test("bitset: wordsFor rounds slots up to 32-bit words", () => {
  assert.deepEqual([0, 1, 31, 32, 33, 64, 65].map(wordsFor), [0, 1, 1, 1, 2, 2, 3]);
});

test("bitset: forEachBit visits every set bit once, in ascending order, high bits included", () => {
  const slots = [0, 1, 31, 32, 63, 64, 95, 200];
  assert.deepEqual(slotsOf(bitsOf(slots, wordsFor(201))), slots);
  assert.deepEqual(slotsOf(new Uint32Array(4)), []);
  assert.deepEqual(
    slotsOf(Uint32Array.of(0xffffffff)),
    Array.from({ length: 32 }, (_, i) => i),
  );
});

test("bitset: SlotSet.of holds exactly one slot", () => {
  const s = SlotSet.of(77);
  assert.equal(s.size, 1);
  assert.ok(s.has(77));
  assert.ok(!s.has(76));
  assert.deepEqual(contents(s), [77]);
});

test("bitset: add and delete answer whether they changed the set, small and large alike", () => {
  const s = new SlotSet();
  assert.equal(s.add(5), true);
  assert.equal(s.add(5), false);
  assert.equal(s.delete(6), false);
  assert.equal(s.delete(5), true);
  assert.equal(s.delete(5), false);
  assert.equal(s.size, 0);
  // past the small-array limit: now a bitset
  for (let i = 0; i < 100; i++) assert.equal(s.add(i * 3), true);
  assert.equal(s.add(30), false);
  assert.equal(s.size, 100);
  assert.equal(s.delete(1), false);
  assert.equal(s.delete(100000), false, "a slot beyond the bitset's words is not a member");
  assert.equal(s.has(100000), false);
  assert.equal(s.delete(30), true);
  assert.equal(s.size, 99);
});

test("bitset: SlotSet follows a Set model through random adds and deletes (seeded)", () => {
  for (let seed = 1; seed <= 200; seed++) {
    const rand = random(seed);
    const s = new SlotSet();
    const model = new Set<number>();
    // Some seeds stay small (under the switch to a bitset), others grow far past it.
    const range = rand.pick([8, 40, 300, 3000]);
    for (let op = 0; op < 400; op++) {
      const slot = rand.int(range);
      if (rand.next() < 0.6) {
        assert.equal(s.add(slot), !model.has(slot), `seed ${seed}: add ${slot}`);
        model.add(slot);
      } else {
        assert.equal(s.delete(slot), model.has(slot), `seed ${seed}: delete ${slot}`);
        model.delete(slot);
      }
      assert.equal(s.size, model.size, `seed ${seed}: size`);
    }
    assert.deepEqual(
      contents(s),
      [...model].sort((a, b) => a - b),
      `seed ${seed}: contents`,
    );
    for (let slot = 0; slot < range; slot++) assert.equal(s.has(slot), model.has(slot), `seed ${seed}: has ${slot}`);
  }
});

test("bitset: orInto, andNotInto and intersects match the Set model, small and large sets, short and long targets", () => {
  for (let seed = 1; seed <= 200; seed++) {
    const rand = random(1000 + seed);
    const range = rand.pick([40, 300, 2000]);
    const s = new SlotSet();
    const model = new Set<number>();
    const count = rand.pick([1, 5, 32, 33, 200]);
    while (model.size < Math.min(count, range)) {
      const slot = rand.int(range);
      s.add(slot);
      model.add(slot);
    }
    const words = wordsFor(range);
    const other = new Set(Array.from({ length: rand.int(range) }, () => rand.int(range)));

    const or = bitsOf(other, words);
    s.orInto(or);
    assert.deepEqual(
      slotsOf(or),
      [...new Set([...other, ...model])].sort((a, b) => a - b),
      `seed ${seed}: or`,
    );

    const andNot = bitsOf(other, words);
    s.andNotInto(andNot);
    assert.deepEqual(
      slotsOf(andNot),
      [...other].filter((x) => !model.has(x)).sort((a, b) => a - b),
      `seed ${seed}: and-not`,
    );

    assert.equal(
      s.intersects(bitsOf(other, words)),
      [...other].some((x) => model.has(x)),
      `seed ${seed}: intersects`,
    );

    // A target narrower than the set (the planner sizes its scratch to the slots in use): bits past it are ignored.
    const narrow = wordsFor(Math.max(1, range >> 1));
    const cut = new Uint32Array(narrow).fill(0xffffffff);
    s.andNotInto(cut);
    assert.deepEqual(
      slotsOf(cut),
      Array.from({ length: narrow * 32 }, (_, i) => i).filter((x) => !model.has(x)),
      `seed ${seed}: and-not into a narrower target`,
    );
    assert.equal(
      s.intersects(new Uint32Array(narrow).fill(0xffffffff)),
      [...model].some((x) => x < narrow * 32),
      `seed ${seed}: narrow intersects`,
    );
  }
});
