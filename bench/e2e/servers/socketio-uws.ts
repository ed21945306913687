// Socket.IO 4.8 attached to a uWebSockets.js app (io.attachApp), websocket transport only.
// Socket.IO then publishes single-room broadcasts natively (app.publish) and sends the rest
// socket by socket. With --deflate the uWS app gets the shared compressor (Socket.IO leaves uWS's
// compression to attachApp's options; perMessageDeflate alone only sets the per-frame flag).
import uWS from "../../../src/engine/uws.ts";
import { Server } from "socket.io";
import { serve } from "./harness.ts";
import { BENCH_DEFLATE, SOCKET_IO_OPTIONS, sioImpl, type SioServer } from "./sioapi.ts";

const app = uWS.App();
const io = new Server(SOCKET_IO_OPTIONS);
// (attachApp hands its options to engine.io's uServer, which reads `compression`; its type omits it)
const uwsOptions = { compression: BENCH_DEFLATE ? uWS.SHARED_COMPRESSOR : uWS.DISABLED };
io.attachApp(app, uwsOptions as Parameters<typeof io.attachApp>[1]);
let token: uWS.us_listen_socket | null = null;

await serve(
  sioImpl(
    io as unknown as SioServer,
    () =>
      new Promise<number>((resolve, reject) => {
        app.listen("127.0.0.1", 0, (t) => {
          if (!t) return reject(new Error("uWS listen failed"));
          token = t;
          resolve(uWS.us_socket_local_port(t));
        });
      }),
    async () => {
      await io.close();
      if (token) uWS.us_listen_socket_close(token);
      token = null;
    },
  ),
);
