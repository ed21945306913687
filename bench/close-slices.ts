// Issue #13: disconnecting thousands of sockets at once must not hold the event loop. Holds 5,000
// sessions (from a soak client process), calls io.disconnectSockets(true), and reports how long
// that call ran, the longest event-loop stall (that call included) until a second after every
// session was gone, and the time until every session was gone.
//   flock /tmp/roomgate-bench.lock node --import tsx bench/close-slices.ts
import { fork } from "node:child_process";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { Server } from "../src/index.ts";

const COUNT = 5000;
const io = new Server({ logger: "warn" });
const port = await io.listen(0, "127.0.0.1");
const client = fork(fileURLToPath(new URL("./soak/client.ts", import.meta.url)), [], {
  execArgv: ["--import", "tsx"],
  env: { ...process.env, PORT: String(port), LOCAL_ADDRESS: "127.0.0.2", COUNT: String(COUNT), CHURN: "0" },
});
const next = (type: string) => new Promise<void>((resolve) => client.on("message", (m: { type: string }) => m.type === type && resolve()));
await next("ready");
client.send({ type: "ramp" });
await next("ramped");
while (io.sockets.sockets.size < COUNT) await new Promise((r) => setTimeout(r, 50));

const delay = monitorEventLoopDelay({ resolution: 1 });
delay.enable();
const t0 = performance.now();
io.disconnectSockets(true);
const syncMs = performance.now() - t0;
while (io.sockets.sockets.size > 0) await new Promise((r) => setImmediate(r));
const totalMs = performance.now() - t0;
// The peers' FINs and uWS's close callbacks follow: keep watching the loop for another second.
await new Promise((r) => setTimeout(r, 1000));
delay.disable();
const longest = Math.max(syncMs, delay.max / 1e6);
console.log(
  JSON.stringify({ sessions: COUNT, disconnectSocketsCallMs: +syncMs.toFixed(1), longestLoopStallMs: +longest.toFixed(1), allClosedMs: +totalMs.toFixed(1) }),
);
client.send({ type: "stop" });
await io.close();
setTimeout(() => process.exit(0), 1000);
