// One polling session's move to the worker its WebSocket upgrade lands on, alone: two workers in
// this process over the embedded relay, with connection-state recovery. Each round opens a polling
// session on A (handshake, CONNECT), probes a WebSocket on B, then times from the client's `5` to
// the answer of an event it sends right behind it (handled on B once the socket is restored there:
// the owner's prepare/take and the recovery handover's peek, barrier and take).
//   node --import tsx bench/deploy/move-latency.ts [--rounds 30]
// The wire clients are the test suite's raw ones (test/helpers): one raw client, not two copies.
import { createClusterAdapter, Relay, Server } from "../../src/index.ts";
import { freePort } from "../lib/ports.ts";
import { http, POLLING } from "../../test/helpers/polling.ts";
import { RawWebSocket } from "../../test/helpers/raw-ws.ts";
const relay = new Relay();
const relayPort = await freePort();
await relay.listen(relayPort, "127.0.0.1");
const mk = async (port: number) => {
  const io = new Server({
    connectionStateRecovery: {},
    logger: "warn",
    adapter: createClusterAdapter({ servers: `nats://127.0.0.1:${relayPort}`, heartbeatInterval: 100, heartbeatTimeout: 5000 }),
  });
  await io.listen(port, "127.0.0.1");
  await (io.sockets.adapter as any).node.ready;
  return io;
};
const [pa, pb] = [await freePort(), await freePort()];
const A = await mk(pa);
const B = await mk(pb);
await new Promise((r) => setTimeout(r, 500)); // the workers see each other
B.on("connection", (s) => s.on("hello", (x: string, ack: (r: string) => void) => ack(x)));
A.on("connection", (s) => s.join("room"));
const i0 = process.argv.indexOf("--rounds");
const ROUNDS = i0 > 0 ? Number(process.argv[i0 + 1]) : 30;
const times: number[] = [];
for (let i = 0; i < ROUNDS; i++) {
  const hs = await http(pa, "GET", POLLING);
  const sid = JSON.parse(hs.body.slice(1)).sid;
  await http(pa, "POST", `${POLLING}&sid=${sid}`, "40");
  await http(pa, "GET", `${POLLING}&sid=${sid}`);
  const ws = await RawWebSocket.open(pb, `/socket.io/?EIO=4&transport=websocket&sid=${sid}`);
  ws.sendText("2probe");
  await ws.waitText((t) => t === "3probe");
  const t0 = performance.now();
  ws.sendText("5");
  ws.sendText('421["hello","x"]');
  await ws.waitText((t) => t.startsWith("431"));
  times.push(performance.now() - t0);
  ws.destroy();
}
times.sort((a, b) => a - b);
const at = (p: number) => Number(times[Math.min(times.length - 1, Math.floor(p * times.length))]!.toFixed(2));
console.log(JSON.stringify({ rounds: ROUNDS, moveToFirstAckMs: { p50: at(0.5), p90: at(0.9), max: at(1) } }));
await Promise.all([A.close(), B.close()]);
await relay.close();
process.exit(0);
