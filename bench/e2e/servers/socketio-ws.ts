// Socket.IO 4.8 on its default WebSocket engine (ws), websocket transport only.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Server } from "socket.io";
import { serve } from "./harness.ts";
import { SOCKET_IO_OPTIONS, sioImpl, type SioServer } from "./sioapi.ts";

const httpServer = http.createServer();
const io = new Server(httpServer, SOCKET_IO_OPTIONS);

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
