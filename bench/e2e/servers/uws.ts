// Raw uWebSockets.js native pub/sub: the floor. Each target is one topic that exactly the
// target's sockets subscribe to; the bytes sent are the same Socket.IO frames.
import { serve } from "./harness.ts";
import { rawImpl } from "./rawuws.ts";

await serve(rawImpl(null));
