// Heap per parked session (connection-state recovery): N clients connect (3 rooms each and a small
// `data`), are cut off, and the server holds their sessions; heap with them parked minus heap once
// they are dropped. Run: node --expose-gc --import tsx bench/recovery-memory.ts [N]
import { io as connect, type Socket as ClientSocket } from "socket.io-client";
import { Server } from "../src/index.ts";

const N = Number(process.argv[2] ?? 2000);
const gc = (globalThis as { gc?: () => void }).gc!;
const heap = () => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};

const io = new Server({ connectionStateRecovery: { maxDisconnectionDuration: 60_000 }, logger: "warn" });
io.on("connection", (s) => {
  s.join(["lobby", `user:${s.id.slice(0, 6)}`, `table:${Math.floor(Math.random() * 100)}`]);
  s.data.user = { name: "alice", since: 1 };
});
const port = await io.listen(0, "127.0.0.1");
const clients: ClientSocket[] = [];
for (let i = 0; i < N; i += 100) {
  await Promise.all(
    Array.from({ length: Math.min(100, N - i) }, () => {
      const c = connect(`http://127.0.0.1:${port}`, { transports: ["websocket"], forceNew: true, reconnection: false });
      clients.push(c);
      return new Promise<void>((r) => c.once("connect", () => r()));
    }),
  );
}
const recovery = io.sockets.adapter.recovery!;
for (const c of clients) c.io.engine.close();
while (io.sockets.sockets.size > 0) await new Promise((r) => setTimeout(r, 20));
const parked = heap();
const count = recovery.parkedCount;
// Drop them (as expiry would) and measure again.
for (const c of clients) {
  const r = recovery.restoreHere((c as unknown as { _pid: string })._pid, undefined);
  if (r) recovery.release(r);
}
const dropped = heap();
console.log(`${count} parked sessions: ${((parked - dropped) / count).toFixed(0)} B of heap each (3 rooms, small data; log ${recovery.bufferedBytes} B)`);
await io.close();
process.exit(0);
