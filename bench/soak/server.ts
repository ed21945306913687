// The soak target: a roomgate server in its own process with a rooms app (each client joins a
// room it names; a broadcast to a few rooms every 100 ms), answering the soak runner's "stats"
// message over IPC with its tables, descriptors and memory.
import { readdirSync } from "node:fs";
import { Server } from "../../src/index.ts";

const io = new Server({ logger: "warn" });
io.on("connection", (socket) => {
  socket.on("join", (room: unknown) => {
    if (typeof room === "string" && room.length < 64) socket.join(room);
  });
});
let tick = 0;
const ticker = setInterval(() => {
  tick++;
  io.to(`room-${tick % 50}`).emit("tick", tick);
  io.to(`room-${(tick + 1) % 50}`)
    .to(`room-${(tick + 7) % 50}`)
    .except(`room-${(tick + 13) % 50}`)
    .emit("union", tick);
}, 100);

function stats() {
  const nsp = io.of("/");
  return {
    sockets: nsp.sockets.size,
    rooms: nsp.adapter.rooms.size,
    sids: nsp.adapter.sids.size,
    fds: readdirSync("/proc/self/fd").length,
    rssMB: Math.round(process.memoryUsage().rss / 1e5) / 10,
    heapMB: Math.round(process.memoryUsage().heapUsed / 1e5) / 10,
  };
}

const port = await io.listen(Number(process.env.PORT ?? 0), "0.0.0.0");
process.send!({ type: "listening", port });
process.on("message", (m: { type: string }) => {
  if (m.type === "stats") {
    if (global.gc) global.gc();
    process.send!({ type: "stats", stats: stats() });
  }
  if (m.type === "stop") {
    clearInterval(ticker);
    void io.close().then(() => process.exit(0));
  }
});
