// Socket.IO 4.8 on its default WebSocket engine (ws), websocket transport only.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Server } from "socket.io";
import { serve } from "./harness.ts";
import { sioImpl, type SioServer } from "./sioapi.ts";

const httpServer = http.createServer();
const io = new Server(httpServer, {
  transports: ["websocket"],
  serveClient: false,
  perMessageDeflate: false,
  pingInterval: 25000,
  pingTimeout: 20000,
  maxHttpBufferSize: 1e6,
});

await serve(
  sioImpl(
    io as unknown as SioServer,
    () =>
      new Promise<number>((resolve, reject) => {
        httpServer.once("error", reject);
        httpServer.listen(0, "127.0.0.1", () => resolve((httpServer.address() as AddressInfo).port));
      }),
    () => io.close(),
  ),
);
