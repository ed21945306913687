// `socket.disconnect(true)` as Socket.IO does it: every namespace socket of the session sends its
// DISCONNECT, then the connection closes. The official client hears "io server disconnect" (not
// "transport close"), does not reconnect, and gets what was emitted just before. Over WebSocket,
// long-polling and the default transports, through `disconnectSockets(true)` locally and across a
// cluster, and through a remote socket.
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { Server as SocketIOServer } from "socket.io";
import { io as ioClient, type Socket as ClientSocket } from "socket.io-client";
import { createClusterAdapter, Relay, Server, type Socket } from "../../src/index.ts";
import { seeEachOther } from "../helpers/cluster.ts";
import { freePort } from "../helpers/process.ts";
import { once, startServer, type Harness } from "../helpers/server.ts";

type Transports = { transports?: string[] };
const VARIANTS: Array<[string, Transports]> = [
  ["websocket", { transports: ["websocket"] }],
  ["polling", { transports: ["polling"] }],
  ["default transports", {}],
];

/** A client that would reconnect on its own after a "transport close" (reconnection on, the
 *  client's default); resolves once connected. */
function reconnecting(url: string, opts: Transports, nsp = "/", manager?: ClientSocket): Promise<ClientSocket> {
  const c = manager ? manager.io.socket(nsp) : ioClient(url + nsp, { forceNew: true, reconnectionDelay: 1, reconnectionDelayMax: 1, ...opts });
  if (manager) c.connect();
  return new Promise((resolve, reject) => {
    c.once("connect", () => resolve(c));
    c.once("connect_error", reject);
  });
}

/** What the client saw at its disconnect: the events received before it, its reason, and whether it
 *  is still trying (Socket.IO's client: `active` false and no reconnection under way once the
 *  server has said DISCONNECT; a "transport close" would leave it active, reconnecting). */
function kicked(c: ClientSocket): Promise<{ got: unknown[]; reason: string; active: boolean; reconnecting: boolean }> {
  const got: unknown[] = [];
  c.on("bye", (x: unknown) => got.push(x));
  return new Promise((resolve) =>
    c.once("disconnect", (reason) =>
      // The manager decides on a reconnection when its engine closes, after the socket's own
      // disconnect: read its state once that close has run (a macrotask later).
      setImmediate(() => resolve({ got, reason, active: c.active, reconnecting: (c.io as unknown as { _reconnecting: boolean })._reconnecting })),
    ),
  );
}

const serverSocket = (io: Server, c: ClientSocket, nsp = "/"): Socket => io.of(nsp).sockets.get(c.id!)!;

for (const [name, opts] of VARIANTS) {
  describe(`disconnect(true) over ${name}`, () => {
    let h: Harness;
    const clients: ClientSocket[] = [];
    const connect = async (nsp = "/", manager?: ClientSocket) => {
      const c = await reconnecting(h.url, opts, nsp, manager);
      clients.push(c);
      return c;
    };
    after(async () => {
      for (const c of clients) c.disconnect();
      await h?.close();
    });

    test("the client hears 'io server disconnect', gets what was emitted before, and does not reconnect", async () => {
      h ??= await startServer({ logger: "silent" });
      const c = await connect();
      const s = serverSocket(h.io, c);
      const serverReason = once<[string]>(s, "disconnect");
      const seen = kicked(c);
      s.emit("bye", 1);
      s.emit("bye", 2);
      s.disconnect(true);
      assert.deepEqual(await serverReason, ["server namespace disconnect"]);
      assert.deepEqual(await seen, { got: [1, 2], reason: "io server disconnect", active: false, reconnecting: false });
    });

    test("every namespace of the connection is told, and the session is gone", async () => {
      h ??= await startServer({ logger: "silent" });
      h.io.of("/admin");
      const root = await connect();
      const admin = await connect("/admin", root);
      const seen = [kicked(root), kicked(admin)];
      const adminSocket = serverSocket(h.io, admin, "/admin");
      const adminReason = once<[string]>(adminSocket, "disconnect");
      adminSocket.emit("bye", "admin");
      serverSocket(h.io, root).disconnect(true);
      assert.deepEqual(await adminReason, ["server namespace disconnect"]);
      const [r, a] = await Promise.all(seen);
      assert.deepEqual(r, { got: [], reason: "io server disconnect", active: false, reconnecting: false });
      assert.deepEqual(a, { got: ["admin"], reason: "io server disconnect", active: false, reconnecting: false });
      assert.equal(h.io.of("/admin").sockets.size, 0);
    });

    test("io.disconnectSockets(true) and io.in(room).disconnectSockets(true)", async () => {
      h ??= await startServer({ logger: "silent" });
      const [a, b, other] = [await connect(), await connect(), await connect()];
      serverSocket(h.io, b).join("kick");
      const seenB = kicked(b);
      h.io.to("kick").emit("bye", "room");
      h.io.in("kick").disconnectSockets(true);
      assert.deepEqual(await seenB, { got: ["room"], reason: "io server disconnect", active: false, reconnecting: false });
      assert.equal(a.connected && other.connected, true);
      const seen = [kicked(a), kicked(other)];
      h.io.disconnectSockets(true);
      for (const s of await Promise.all(seen)) assert.deepEqual(s, { got: [], reason: "io server disconnect", active: false, reconnecting: false });
    });
  });
}

describe("disconnect(true) across a cluster", () => {
  test("disconnectSockets(true) from another worker, and a remote socket's disconnect(true)", async () => {
    const relay = new Relay();
    const relayPort = await freePort();
    await relay.listen(relayPort, "127.0.0.1");
    const worker = async () => {
      const io = new Server({ logger: "silent", adapter: createClusterAdapter({ servers: `nats://127.0.0.1:${relayPort}`, heartbeatInterval: 100 }) });
      const port = await io.listen(0, "127.0.0.1");
      return { io, url: `http://127.0.0.1:${port}` };
    };
    const A = await worker();
    const B = await worker();
    const clients: ClientSocket[] = [];
    try {
      await seeEachOther(A.io, B.io);
      const onB = async () => {
        const c = await reconnecting(B.url, { transports: ["websocket"] });
        clients.push(c);
        return c;
      };
      // A remote socket (fetched on A, living on B).
      const one = await onB();
      const seenOne = kicked(one);
      const [remote] = await A.io.fetchSockets();
      assert.equal(remote.id, one.id);
      remote.disconnect(true);
      assert.deepEqual(await seenOne, { got: [], reason: "io server disconnect", active: false, reconnecting: false });

      // Cluster-wide: A asks, B's sockets go.
      const [x, y] = [await onB(), await onB()];
      const seen = [kicked(x), kicked(y)];
      A.io.disconnectSockets(true);
      for (const s of await Promise.all(seen)) assert.deepEqual(s, { got: [], reason: "io server disconnect", active: false, reconnecting: false });
      assert.equal(B.io.sockets.sockets.size, 0);
    } finally {
      for (const c of clients) c.disconnect();
      await A.io.close();
      await B.io.close();
      await relay.close();
    }
  });
});

describe("the same as Socket.IO 4.8 itself", () => {
  /** What a client sees when the server emits "bye" then calls disconnect(true) on its socket. */
  async function seen(
    url: string,
    opts: Transports,
    serverSocket: (id: string) => { emit(ev: string, x: unknown): unknown; disconnect(close: boolean): unknown },
  ) {
    const c = await reconnecting(url, opts);
    try {
      const result = kicked(c);
      const s = serverSocket(c.id!);
      s.emit("bye", "last");
      s.disconnect(true);
      return await result;
    } finally {
      c.disconnect();
    }
  }

  for (const [name, opts] of VARIANTS) {
    test(`disconnect(true) over ${name}: the client sees what Socket.IO's sees`, async () => {
      const http = createServer();
      const sio = new SocketIOServer(http);
      await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
      const h = await startServer({ logger: "silent" });
      try {
        const sioPort = (http.address() as { port: number }).port;
        const theirs = await seen(`http://127.0.0.1:${sioPort}`, opts, (id) => sio.of("/").sockets.get(id)!);
        const ours = await seen(h.url, opts, (id) => serverSocket(h.io, { id } as ClientSocket));
        assert.deepEqual(theirs, { got: ["last"], reason: "io server disconnect", active: false, reconnecting: false });
        assert.deepEqual(ours, theirs);
      } finally {
        await new Promise((resolve) => sio.close(resolve));
        await h.close();
      }
    });
  }
});
