// Socket.IO 4.8 attached to a uWebSockets.js app (io.attachApp), websocket transport only.
// Socket.IO then publishes single-room broadcasts natively (app.publish) and sends the rest
// socket by socket.
import uWS from "uWebSockets.js";
import { Server } from "socket.io";
import { serve } from "./harness.ts";
import { SOCKET_IO_OPTIONS, sioImpl, type SioServer } from "./sioapi.ts";

const app = uWS.App();
const io = new Server(SOCKET_IO_OPTIONS);
io.attachApp(app);
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
