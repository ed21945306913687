// Type-level test, compiled by `npm test` (tsc): typed events as
// Socket.IO 4.8 types them. Each line marked as an expected error must fail to compile; nothing here runs.
import type { Server, RemoteSocket, Socket } from "../../src/index.ts";

interface ClientToServerEvents {
  hello: (name: string) => void;
  add: (a: number, b: number, cb: (sum: number) => void) => void;
}
interface ServerToClientEvents {
  news: (title: string, score: number) => void;
  message: (text: string) => void;
  ask: (question: string, cb: (answer: boolean) => void) => void;
}
interface InterServerEvents {
  sync: (version: number) => void;
}
interface SocketData {
  user: string;
}

export function typed(io: Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>): void {
  io.emit("news", "t", 1);
  // @ts-expect-error unknown event name
  io.emit("nope", 1);
  // @ts-expect-error wrong argument type
  io.emit("news", 1, "t");
  // @ts-expect-error a broadcast from io.emit takes no acknowledgement
  io.emit("ask", "q", () => {});
  io.to("room").to(42).emit("news", "t", 2);
  io.timeout(1000).emit("ask", "q?", (err: Error, answers: boolean[]) => void [err, answers]);
  // @ts-expect-error the broadcast acknowledgement gets a list of answers
  io.timeout(1000).emit("ask", "q?", (err: Error, answers: string[]) => void [err, answers]);
  io.send("text");
  // @ts-expect-error message is (text: string)
  io.send(1);
  io.serverSideEmit("sync", 3);
  // @ts-expect-error server-side event arguments are typed
  io.serverSideEmit("sync", "3");

  io.on("connection", (socket) => {
    const user: string = socket.data.user;
    // @ts-expect-error socket.data is SocketData
    socket.data.other = 1;
    socket.on("hello", (name) => socket.emit("news", name.toUpperCase(), user.length));
    socket.on("add", (a, b, cb) => cb(a + b));
    // @ts-expect-error the listener's parameters are typed
    socket.on("hello", (name: number) => void name);
    // @ts-expect-error unknown event name on emit
    socket.emit("hello", "x");
    socket.emit("ask", "q", (answer) => void (answer satisfies boolean));
    socket.timeout(100).emit("ask", "q", (err, answer) => void [err satisfies Error, answer satisfies boolean]);
    const answer: Promise<boolean> = socket.emitWithAck("ask", "q");
    void answer;
    socket.send("hi");
    // @ts-expect-error send is the message event
    socket.send(42);
    socket.on("disconnect", (reason) => void (reason satisfies string));
    socket.use(([event, ...args], next) => (event === "hello" && args.length > 0 ? next() : next(new Error("no"))));
  });
  io.on("new_namespace", (nsp) => void nsp.name);

  const admin = io.of("/admin", (socket) => socket.emit("message", "welcome"));
  admin.emit("message", "hi");
  // @ts-expect-error namespaces are typed like the server
  admin.emit("message", 1);
  io.of(/^\/game-\d+$/).emit("news", "game", 0);
  io.of((name, auth, next) => next(null, name === "/x" && auth.token === "t"));
}

export async function fetched(io: Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>): Promise<void> {
  const sockets: RemoteSocket<ServerToClientEvents, SocketData>[] = await io.in("room").fetchSockets();
  for (const s of sockets) {
    const user: string = s.data.user;
    s.emit("news", user, 1);
    // @ts-expect-error fetched sockets are typed
    s.emit("news", 1);
    s.timeout(100).emit("ask", "q", (err: Error, answer: boolean) => void [err, answer]);
  }
}

export function loose(io: Server, socket: Socket): void {
  // Without type arguments, anything goes (Socket.IO's DefaultEventsMap).
  io.emit("anything", 1, { two: 2 });
  socket.emit("whatever", () => {});
  socket.on("any", (...args: unknown[]) => void args);
  socket.data.anything = 1;
}
