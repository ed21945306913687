// A gateway worker of bench:scale (bench/scale/run.ts), forked with an IPC channel: a roomgate Server on
// the shared port (uWS listens with SO_REUSEPORT, so the kernel spreads connections over the
// workers), in the cluster when SCALE_CLUSTER is set. A connection joins the rooms listed in its
// query (`rooms=r1,r7,r42`). The runner asks it to emit broadcasts, stamped here with the
// monotonic clock.
//
// Env: SCALE_PORT, SCALE_WORKER (its number), SCALE_CLUSTER (relay URL; absent: standalone).
// IPC in:  { cmd: "emit", seq, rooms: number[] | null }   { cmd: "stats", id, gc? }   { cmd: "close" }
// IPC out: { type: "up" }   { type: "stats", id, heapUsed, sockets, peers, node }
import { createClusterAdapter, Server, type ClusterAdapter } from "../../src/index.ts";
import { nowUs } from "../lib/plan.ts";
import { payloadOf, roomName } from "./plan.ts";

const url = process.env.SCALE_CLUSTER;
const worker = process.env.SCALE_WORKER ?? String(process.pid);
const io = new Server({
  logger: "warn",
  // The workers share one port on purpose (a lone gateway listens exclusively).
  reusePort: true,
  ...(url
    ? { adapter: createClusterAdapter({ servers: url, name: `scale-${worker}`, log: (level, m) => console.log(`[worker ${worker}] ${level}: ${m}`) }) }
    : {}),
});
const node = url ? (io.sockets.adapter as ClusterAdapter).node : null;

io.on("connection", (socket) => {
  const rooms = socket.handshake.query.rooms;
  if (typeof rooms === "string" && rooms.length > 0) socket.join(rooms.split(","));
});

await io.listen(Number(process.env.SCALE_PORT), "127.0.0.1");
if (node) await node.ready;
process.send!({ type: "up" });

process.on("message", (raw: unknown) => {
  const msg = raw as { cmd: string; id?: number; seq?: number; rooms?: number[] | null; gc?: boolean };
  switch (msg.cmd) {
    case "emit": {
      const payload = payloadOf(msg.seq!, nowUs());
      if (msg.rooms) io.to(msg.rooms.map(roomName)).emit("m", payload);
      else io.emit("m", payload);
      return;
    }
    case "stats":
      // With gc (node --expose-gc): the heap after a full collection, a steadier per-connection figure than RSS.
      if (msg.gc) (globalThis as { gc?: () => void }).gc?.();
      process.send!({
        heapUsed: process.memoryUsage().heapUsed,
        type: "stats",
        id: msg.id,
        sockets: io.sockets.sockets.size,
        peers: node ? node.peersServing("/").length : 0,
        node: node ? { ...node.stats } : null,
      });
      return;
    case "close":
      void io.close().then(() => process.exit(0));
  }
});
process.on("disconnect", () => process.exit(0)); // the runner went away
