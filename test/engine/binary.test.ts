// The binary walk (src/engine/binary.ts) shared by the codec and the cluster envelope: binary
// values found and swapped for numbered placeholders (the input untouched), put back by
// reconstruct, the depth limit on both sides, and every bad placeholder a ProtocolError. Pure.
import { test } from "node:test";
import assert from "node:assert/strict";
import { deconstruct, hasBinary, isBinary, MAX_DEPTH, ProtocolError, reconstruct, toBytes } from "../../src/internal.ts";

const ph = (num: unknown) => ({ _placeholder: true, num });

/** `x` wrapped in `depth` arrays. */
function nest(x: unknown, depth: number): unknown {
  let out = x;
  for (let i = 0; i < depth; i++) out = [out];
  return out;
}

test("binary: isBinary and toBytes take ArrayBuffers and every view, a sub-view only its own range, without a copy", () => {
  const backing = new Uint8Array([0, 1, 2, 3, 4, 5]);
  for (const x of [backing.buffer, backing, Buffer.from([1]), new DataView(backing.buffer), new Uint16Array(2), new Float64Array(1)]) assert.ok(isBinary(x));
  for (const x of [null, "s", 1, [1], { byteLength: 1 }, new Blob([])]) assert.ok(!isBinary(x));
  const view = backing.subarray(2, 5);
  const bytes = toBytes(view);
  assert.deepEqual([...bytes], [2, 3, 4]);
  backing[3] = 99;
  assert.equal(bytes[1], 99, "a view, not a copy");
  assert.deepEqual([...toBytes(new DataView(backing.buffer, 4, 2))], [4, 5]);
});

test("binary: hasBinary finds binaries at any depth up to MAX_DEPTH, not inside toJSON objects", () => {
  assert.ok(!hasBinary(["a", { b: [1, null, "c"] }]));
  assert.ok(hasBinary({ a: [{ b: new Uint8Array(1) }] }));
  assert.ok(hasBinary(nest(new Uint8Array(1), MAX_DEPTH)));
  assert.ok(!hasBinary(nest(new Uint8Array(1), MAX_DEPTH + 1)), "beyond the limit: not walked");
  assert.ok(!hasBinary({ toJSON: () => "x", b: new Uint8Array(1) }));
});

test("binary: deconstruct numbers binaries depth-first, leaves its input untouched, and reconstruct puts them back", () => {
  const a = new Uint8Array([1]);
  const b = Buffer.from([2, 2]);
  const c = new Uint8Array([3, 3, 3]).buffer;
  const input = ["ev", a, { x: [b, "s"], y: { z: c, n: null } }, 7];
  const before = JSON.stringify(input);
  const buffers: Uint8Array[] = [];
  const out = deconstruct(input, buffers);
  assert.deepEqual(out, ["ev", ph(0), { x: [ph(1), "s"], y: { z: ph(2), n: null } }, 7]);
  assert.equal(JSON.stringify(input), before, "the input is not changed");
  assert.deepEqual(
    buffers.map((x) => [...x]),
    [[1], [2, 2], [3, 3, 3]],
  );
  // over the wire the placeholders are JSON; the attachments arrive as Buffers
  const received = buffers.map((x) => Buffer.from(x));
  const back = reconstruct(JSON.parse(JSON.stringify(out)), received) as unknown[];
  assert.equal(back[1], received[0]);
  assert.deepEqual(back, ["ev", received[0], { x: [received[1], "s"], y: { z: received[2], n: null } }, 7]);
});

test("binary: reconstruct refuses placeholders without attachments, attachments without placeholders, and nesting past MAX_DEPTH", () => {
  const one = [Buffer.from([1])];
  const bad: [unknown, Buffer[]][] = [
    [[ph(1)], one], // past the end
    [[ph(-1)], one],
    [[ph(0.5)], one],
    [[ph("0")], one],
    [[ph(null)], one],
    [[{ _placeholder: true }], one],
    [["no placeholder"], one], // an attachment nobody refers to
    [[ph(0)], [...one, Buffer.from([2])]],
    [nest("deep", MAX_DEPTH + 2), []],
  ];
  for (const [data, buffers] of bad) assert.throws(() => reconstruct(data, buffers), ProtocolError, JSON.stringify(data).slice(0, 80));
  // the same placeholder twice is allowed (both get the attachment); not a placeholder unless _placeholder is exactly true
  assert.deepEqual(reconstruct([ph(0), ph(0)], one), [one[0], one[0]]);
  assert.deepEqual(reconstruct([{ _placeholder: "true", num: 0 }, ph(0)], one), [{ _placeholder: "true", num: 0 }, one[0]]);
  assert.deepEqual(reconstruct(nest("deep", MAX_DEPTH), []), nest("deep", MAX_DEPTH));
});
