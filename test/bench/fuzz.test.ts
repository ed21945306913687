// Issue #13: a few thousand fuzz cases (the same generators as `npm run fuzz`, another seed) against
// a server in a child process: no crash, no internal error, the well-behaved client unaffected.
import assert from "node:assert/strict";
import { test } from "node:test";
import { runFuzz } from "../../bench/fuzz/run.ts";

test("3,000 random and mutated inputs: no crash, no internal error, a good client unaffected", { timeout: 120_000 }, async () => {
  const r = await runFuzz({ cases: 3000, seed: 13, concurrency: 32 });
  assert.equal(r.cases, 3000);
  assert.deepEqual(r.crashes, []);
  assert.deepEqual(r.internalErrors, []);
  assert.equal(r.refusedSessions, 0);
  assert.equal(r.goodClient.failed, 0);
  assert.equal(r.goodClient.disconnects, 0);
  assert.ok(r.goodClient.roundTrips > 0, "the good client made round trips throughout");
  assert.ok(r.reached.events > 0 && r.reached.binaryEvents > 0, `cases reached the application: ${JSON.stringify(r.reached)}`);
  for (const kind of ["http", "packet", "mutated", "binary", "deep-json", "invalid-utf8", "oversize", "frame", "engine"]) assert.ok(r.byKind[kind] > 0, kind);
});
