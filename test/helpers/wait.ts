// Waiting in tests: the one `until` (a bounded poll of a condition, for states the product has no
// event for) and `sleep`, shared with bench/ (bench/lib/wait.ts). Prefer an event or a barrier.
export { sleep, until } from "../../bench/lib/wait.ts";
