// A gateway worker process for the cluster tests (forked with an IPC channel). Env: CLUSTER_URL,
// WORKER_ID, RECOVERY (set: connection-state recovery on), HEARTBEAT=default (the cluster's default
// heartbeat and request timings instead of the fast ones below). Sends {ready, port} once listening
// and connected to the relay; closes on SIGTERM.
import { createClusterAdapter, Server } from "../../src/index.ts";
import clusterApp from "./cluster-app.ts";

const worker = process.env.WORKER_ID ?? String(process.pid);
const io = new Server({
  ...(process.env.RECOVERY ? { connectionStateRecovery: {} } : {}),
  adapter: createClusterAdapter({
    servers: process.env.CLUSTER_URL!.split(","),
    // In the given order: a test spreads workers over the servers of a NATS cluster.
    nats: { noRandomize: true },
    name: `worker-${worker}`,
    ...(process.env.HEARTBEAT === "default" ? {} : { heartbeatInterval: 200, heartbeatTimeout: 700, requestTimeout: 1000 }),
    handoverTimeout: 3000,
    log: (level, message) => console.log(`[${worker}] ${level}: ${message}`),
  }),
});
clusterApp(io, worker);
const port = await io.listen(0, "127.0.0.1");
await (io.sockets.adapter as unknown as { node: { ready: Promise<void> } }).node.ready;
process.send!({ ready: true, port });

let closing = false;
process.on("SIGTERM", () => {
  if (closing) return;
  closing = true;
  void io.close().then(() => process.exit(0));
});
process.on("disconnect", () => process.exit(0)); // the test process went away
