// A back-end process with no sockets for the cluster tests: emits through the relay with the
// Emitter, then exits. Env: CLUSTER_URL.
import { Emitter } from "../../src/index.ts";

const emitter = new Emitter({ servers: process.env.CLUSTER_URL!.split(","), name: "test-emitter" });
// Emitted before the connection is up: queued, then sent.
emitter
  .to("r2")
  .except("x")
  .emit("from emitter", "to r2 except x", Buffer.from([1, 2, 3]));
emitter.emit("from emitter", "to all");
emitter.in("r1").socketsJoin("emitter-room");
emitter.serverSideEmit("note", "from emitter");
if (process.env.DISCONNECT_ID) emitter.in(process.env.DISCONNECT_ID).disconnectSockets(true);
await emitter.close();
process.exit(0);
