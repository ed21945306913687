// Child processes in tests: the one "start a process and wait until it is ready" and the one free
// port finder, shared with bench/ (bench/lib/start-process.ts, bench/lib/ports.ts).
export { freePort } from "../../bench/lib/ports.ts";
export { type Running, startProcess } from "../../bench/lib/start-process.ts";
