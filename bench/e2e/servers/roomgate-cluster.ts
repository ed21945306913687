// roomgate as one gateway worker of a cluster (bench/e2e/cluster.ts), or standalone when BENCH_CLUSTER
// is unset: the same server body as bench/e2e/servers/roomgate.ts (sioapi.ts, driven by harness.ts).
//
// Env: BENCH_CLUSTER   NATS URL of the relay (absent: no cluster)
//      BENCH_LOCAL_ROOM "1": every socket of this worker that joins r0 also joins LOCAL_ROOM, a room
//                       with members on this worker only (the "recipients all on worker A" case)
// Extra IPC commands (the harness ignores them, this module ignores the harness's):
//   { cmd: "local-room", on }  while on, target T_ONE is emitted to LOCAL_ROOM instead of r0
//   { cmd: "cluster-stats" }   this worker's NATS client counters, broadcast counters and CPU
import { createClusterAdapter, Server, type ClusterAdapter } from "../../../src/index.ts";
import { ONE_ROOM, T_ONE, type TargetId } from "../../lib/plan.ts";
import { serve } from "./harness.ts";
import { sioImpl, type SioServer, type SioSocket } from "./sioapi.ts";

export const LOCAL_ROOM = "r0-local";

const url = process.env.BENCH_CLUSTER;
const io = new Server({
  pingInterval: 25000,
  pingTimeout: 20000,
  maxPayload: 1e6,
  // Heartbeats are slowed down so that they do not blur the byte counts of a scenario (the
  // workers still meet at once: a newcomer says hello and is answered).
  ...(url ? { adapter: createClusterAdapter({ servers: url, heartbeatInterval: 600_000, name: `bench-${process.env.BENCH_WORKER ?? process.pid}` }) } : {}),
});
const node = url ? (io.of("/").adapter as unknown as ClusterAdapter).node : null;

if (process.env.BENCH_LOCAL_ROOM === "1") {
  // Registered before sioImpl's handler, so it runs first: join the local room alongside r0.
  (io as unknown as SioServer).on("connection", (socket: SioSocket) => {
    const rooms = String(socket.handshake.query.rooms ?? "").split(",");
    if (rooms.includes(ONE_ROOM)) socket.join(LOCAL_ROOM);
  });
}

const base = sioImpl(
  io as unknown as SioServer,
  async () => {
    const port = await io.listen(0, "127.0.0.1");
    if (node) {
      let timer: NodeJS.Timeout | undefined;
      const ok = await Promise.race([node.ready.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 10_000)))]);
      clearTimeout(timer);
      if (!ok) throw new Error(`worker: no relay connection to ${url} within 10 s`);
    }
    return port;
  },
  () => io.close(),
);

let localRoom = false;
await serve({
  ...base,
  emit(target: TargetId, payload: string, i: number): void {
    if (localRoom && target === T_ONE) io.to(LOCAL_ROOM).emit("m", payload);
    else base.emit(target, payload, i);
  },
});

process.on("message", (raw: unknown) => {
  const msg = raw as { id: number; cmd: string; on?: boolean };
  if (msg.cmd === "local-room") {
    localRoom = msg.on === true;
    process.send?.({ id: msg.id, type: "ok" });
  } else if (msg.cmd === "cluster-stats") {
    const c = process.cpuUsage();
    process.send?.({
      id: msg.id,
      type: "cluster-stats",
      cpuUs: c.user + c.system,
      nats: node?.link.stats() ?? null,
      node: node ? { ...node.stats } : null,
      peers: node ? node.peersServing("/").length : 0,
    });
  }
});
