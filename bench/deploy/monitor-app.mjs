// The application the monitored reloads run (bench/deploy/reload-monitor.ts: `npm run bench:reload`,
// test/bin/reload.test.ts), loaded by the pm2 ecosystem's workers (APP) with plain node, hence
// JavaScript. Every socket is in room "monitor"; "echo" acks its argument; "publish" broadcasts
// "tick" with its argument to the room, then acks. Knows nothing of how it is measured.

/** @param {import("../../src/index.ts").Server} io */
export default function monitorApp(io) {
  io.on("connection", (socket) => {
    socket.join("monitor");
    socket.on("echo", (n, ack) => {
      if (typeof ack === "function") ack(n);
    });
    socket.on("publish", (n, ack) => {
      if (typeof n === "number") io.to("monitor").emit("tick", n);
      if (typeof ack === "function") ack(n);
    });
  });
}
