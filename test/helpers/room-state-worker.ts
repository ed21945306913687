// A gateway worker process running room-state-app (forked with an IPC channel, started by
// cluster.ts's startWorker): the worker a room-state test kills. Env: CLUSTER_URL, WORKER_ID.
import { createClusterAdapter, Server } from "../../src/index.ts";
import roomStateApp from "./room-state-app.ts";

const io = new Server({
  adapter: createClusterAdapter({
    servers: process.env.CLUSTER_URL!,
    heartbeatInterval: 200,
    heartbeatTimeout: 700,
    requestTimeout: 1000,
    log: () => {},
  }),
  logger: "silent",
});
roomStateApp(io);
const port = await io.listen(0, "127.0.0.1");
await (io.sockets.adapter as unknown as { node: { ready: Promise<void> } }).node.ready;
process.send!({ ready: true, port });
process.on("disconnect", () => process.exit(0)); // the test process went away
