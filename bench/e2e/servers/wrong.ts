// A deliberately broken server (raw uWS, socket-by-socket sends) that duplicates a message,
// skips a recipient, sends to a non-recipient and swaps two messages. The harness must catch
// every one of these (test/bench/bench.test.ts asserts it). BENCH_WRONG=dup,skip,wrong,reorder picks.
import { serve } from "./harness.ts";
import { ALL_FAULTS, rawImpl, type Fault } from "./rawuws.ts";

const env = process.env.BENCH_WRONG;
const faults = new Set<Fault>(env ? (env.split(",").filter((f) => (ALL_FAULTS as readonly string[]).includes(f)) as Fault[]) : ALL_FAULTS);
await serve(rawImpl(faults));
