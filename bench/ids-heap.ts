// Heap held per id, for src/engine/ids.ts: 10,000 ids kept in an array (a connection holds two:
// its Engine.IO sid and its socket id), measured after forced GCs. Run:
//   node --expose-gc --import tsx bench/ids-heap.ts
// Compares roomgate's randomId (nanoid, flattened) with plain nanoid and with the earlier
// base64url cut of a pooled crypto buffer.
import { randomFillSync } from "node:crypto";
import { nanoid } from "nanoid";
import { randomId } from "../src/engine/ids.ts";

const N = 10_000;
const pool = Buffer.allocUnsafe(15 * 256);
let offset = pool.length;
/** The previous ids.ts: 120 random bits as 20 base64url characters, cut in one piece. */
function pooledBase64url(): string {
  if (offset + 15 > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const id = pool.toString("base64url", offset, offset + 15);
  offset += 15;
  return id;
}

const kinds: Record<string, () => string> = {
  "randomId (nanoid, flattened)": randomId,
  "nanoid() as it comes": () => nanoid(),
  "pooled base64url (previous ids.ts)": pooledBase64url,
};

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc");

function bytesPerId(make: () => string): number {
  for (let i = 0; i < 1000; i++) make();
  gc!();
  gc!();
  const before = process.memoryUsage().heapUsed;
  const held: string[] = new Array(N);
  for (let i = 0; i < N; i++) held[i] = make();
  gc!();
  gc!();
  const after = process.memoryUsage().heapUsed;
  if (new Set(held).size !== N) throw new Error("duplicate ids");
  return (after - before) / N;
}

for (const [name, make] of Object.entries(kinds)) {
  const runs = [bytesPerId(make), bytesPerId(make), bytesPerId(make)].map((b) => b.toFixed(1));
  console.log(`${name.padEnd(36)} ${runs.join(" / ")} B per id held`);
}
