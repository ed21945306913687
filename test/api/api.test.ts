// Socket.IO 4.8's server API as users write it, through the official client: send/write, repeated
// CONNECT, io.of(name, fn), dynamic namespaces, numeric rooms, construction and listening forms,
// options, socket.use, outgoing catch-alls, socket.conn, io.engine.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { io as connectClient, Manager } from "socket.io-client";
import uWS from "../../src/engine/uws.ts";
import { Server, type Socket } from "../../src/index.ts";
import type { Logger } from "../../src/engine/logger.ts";
import { freePort } from "../helpers/process.ts";
import { startServer, once, settle, type Harness, type ClientSocket, withServer } from "../helpers/server.ts";
import { until } from "../helpers/wait.ts";

const serverSocket = (h: Harness, c: ClientSocket, nsp = "/"): Socket => h.io.of(nsp).sockets.get(c.id!)!;

/** A logger that records warnings and errors (and prints nothing). */
function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const log = (a: unknown, b?: unknown) => lines.push(typeof a === "string" ? a : String(b));
  const silent = () => {};
  return { lines, debug: silent, info: silent, warn: log, error: log } as unknown as Logger & { lines: string[] };
}

describe("send and write", () => {
  test("socket.send / socket.write reach the client as `message` events; io.send and nsp.write broadcast them", () =>
    withServer({}, async (h) => {
      h.io.of("/x");
      const c = await h.connected();
      const x = await h.connected("/x");
      const got: unknown[][] = [];
      c.on("message", (...args) => got.push(["/", ...args]));
      x.on("message", (...args) => got.push(["/x", ...args]));
      const s = serverSocket(h, c);
      assert.equal(s.send("hello", 1), s, "send returns the socket");
      s.write({ two: 2 });
      h.io.send("to all");
      h.io.of("/x").write("to /x");
      await settle(c, x);
      // In order per client (two clients: two connections, no order between them).
      got.sort((a, b) => (a[0] as string).localeCompare(b[0] as string));
      assert.deepEqual(got, [
        ["/", "hello", 1],
        ["/", { two: 2 }],
        ["/", "to all"],
        ["/x", "to /x"],
      ]);
      assert.ok(c.connected, "no parse error");
    }));
});

test("a repeated CONNECT (connect() on a socket of a connected Manager) is tolerated: both namespaces stay connected", () =>
  withServer({}, async (h) => {
    h.io.on("connection", (socket) => socket.on("ping2", (cb: (r: string) => void) => cb("pong")));
    h.io.of("/x");
    const manager = new Manager(h.url, { transports: ["websocket"], reconnection: false });
    try {
      const root = manager.socket("/");
      await once(root, "connect");
      const x = manager.socket("/x");
      x.connect(); // a second CONNECT for /x, sent before the first one's answer
      await once(x, "connect");
      await settle(root, x);
      assert.ok(root.connected && x.connected);
      assert.equal(h.io.of("/x").sockets.size, 1, "one server socket for /x");
      assert.equal(await root.emitWithAck("ping2"), "pong", "the main namespace still talks to the server");
    } finally {
      manager.engine?.close();
    }
  }));

describe("namespaces", () => {
  test("io.of(name, fn) calls fn with each connecting socket", () =>
    withServer({}, async (h) => {
      const seen: string[] = [];
      const nsp = h.io.of("/chat", (socket) => seen.push(socket.nsp.name));
      assert.equal(h.io.of("/chat"), nsp);
      await h.connected("/chat");
      assert.deepEqual(seen, ["/chat"]);
    }));

  test("a RegExp parent: children made on demand with its middlewares and listeners, new_namespace, parent emit, Invalid namespace otherwise", () =>
    withServer({}, async (h) => {
      const created: string[] = [];
      h.io.on("new_namespace", (nsp) => created.push(nsp.name));
      const parent = h.io.of(/^\/game-\d+$/);
      parent.use((socket, next) => {
        socket.data.checked = true;
        next();
      });
      const connected: string[] = [];
      parent.on("connection", (socket) => {
        connected.push(`${socket.nsp.name} ${socket.data.checked}`);
        socket.on("where", (cb: (n: string) => void) => cb(socket.nsp.name));
      });
      const g1 = await h.connected("/game-1");
      const g2 = await h.connected("/game-22");
      assert.deepEqual(connected, ["/game-1 true", "/game-22 true"]);
      assert.deepEqual(created, ["/game-1", "/game-22"]);
      assert.equal(await g2.emitWithAck("where"), "/game-22");
      const both = Promise.all([once(g1, "news"), once(g2, "news")]);
      parent.emit("news", "all games");
      assert.deepEqual(await both, [["all games"], ["all games"]]);
      // A namespace that matches no parent is refused as Socket.IO refuses it.
      const other = h.client("/game-x");
      const [err] = await once<[Error]>(other, "connect_error");
      assert.equal(err.message, "Invalid namespace");
      // io.of(name) of a matching name is the child, not a new static namespace.
      assert.equal(h.io.of("/game-1"), h.io._nsps.get("/game-1"));
      assert.throws(() => h.io.of(/x/g), /stateful/);
      assert.throws(() => parent.fetchSockets(), /not supported on parent namespaces/);
    }));

  test("a function parent decides asynchronously from the name and the client's auth", () =>
    withServer({}, async (h) => {
      h.io.of(
        (name, auth, next) => setTimeout(() => next(null, name.startsWith("/team-") && auth.token === "secret"), 5),
        (socket) => socket.emit("welcome", socket.nsp.name),
      );
      const ok = h.client("/team-a", { auth: { token: "secret" } });
      assert.deepEqual(await once(ok, "welcome"), ["/team-a"]);
      const refused = h.client("/team-b", { auth: { token: "wrong" } });
      const [err] = await once<[Error]>(refused, "connect_error");
      assert.equal(err.message, "Invalid namespace");
      assert.equal(h.io._nsps.has("/team-b"), false);
    }));

  test("cleanupEmptyChildNamespaces removes a child when its last socket leaves", () =>
    withServer({ cleanupEmptyChildNamespaces: true }, async (h) => {
      h.io.of(/^\/room-\d+$/);
      const a = await h.connected("/room-1");
      const b = await h.connected("/room-1");
      assert.ok(h.io._nsps.has("/room-1"));
      a.disconnect();
      await until(() => h.io.of("/").sockets.size === 0 && (h.io._nsps.get("/room-1")?.sockets.size ?? 0) === 1, "the socket to move to /room-1");
      assert.ok(h.io._nsps.has("/room-1"), "one socket left");
      b.disconnect();
      await until(() => !h.io._nsps.has("/room-1"), "the child to be removed");
      // A new client makes it again.
      await h.connected("/room-1");
      assert.ok(h.io._nsps.has("/room-1"));
    }));
});

test("numeric rooms: join(42) and to(42) deliver; 42 and '42' are different rooms, as in Socket.IO", () =>
  withServer({}, async (h) => {
    const [n, s] = [await h.connected(), await h.connected()];
    serverSocket(h, n).join(42);
    serverSocket(h, s).join("42");
    assert.ok(serverSocket(h, n).rooms.has(42));
    const got: string[] = [];
    n.on("ev", (x: string) => got.push(`number ${x}`));
    s.on("ev", (x: string) => got.push(`string ${x}`));
    h.io.to(42).emit("ev", "a");
    h.io.to("42").emit("ev", "b");
    h.io.to([42, "42"]).emit("ev", "c");
    h.io.except(42).emit("ev", "d");
    await settle(n, s);
    assert.deepEqual(got.sort(), ["number a", "number c", "string b", "string c", "string d"]);
    assert.deepEqual([...(await h.io.in(42).allSockets())], [n.id]);
    serverSocket(h, n).leave(42);
    assert.equal(serverSocket(h, n).rooms.has(42), false);
  }));

describe("construction, listening, closing", () => {
  test("new Server(port) listens on that port", async () => {
    const port = await freePort();
    const io = new Server(port, { logger: "silent" });
    try {
      const c = connectClient(`http://127.0.0.1:${port}`, { transports: ["websocket"], forceNew: true, reconnection: false });
      await once(c, "connect", 5000);
      c.disconnect();
    } finally {
      await io.close();
    }
  });

  test("a Node http.Server is refused with a TypeError that says what to do", async () => {
    const http = createServer();
    assert.throws(
      () => new Server(http as never),
      (err: Error) => err instanceof TypeError && /cannot attach to a Node http\.Server/.test(err.message) && /io\.listen\(port\)/.test(err.message),
    );
    const io = new Server({ logger: "silent" });
    assert.throws(
      () => io.listen(http as never),
      (err: Error) => err instanceof TypeError && /attachApp/.test(err.message),
    );
    await io.close();
  });

  test("io.close(cb) calls cb once everything is closed", async () => {
    const h = await startServer();
    const c = await h.connected();
    const gone = once(c, "disconnect");
    let calls = 0;
    await new Promise<void>((resolve, reject) => h.io.close((err) => (calls++, err ? reject(err) : resolve())));
    await gone;
    assert.equal(calls, 1);
  });

  test("other routes on the same port: io.app, and attachApp(app) for a uWS app of your own", async () => {
    await withServer({}, async (h) => {
      h.io.app.get("/health", (res) => void res.end("ok"));
      assert.equal(await (await fetch(`${h.url}/health`)).text(), "ok");
      await h.connected();
    });

    const app = uWS.App();
    app.get("/mine", (res) => void res.end("mine"));
    const io = new Server({ logger: "silent" });
    io.attachApp(app);
    io.on("connection", (socket) => socket.emit("hi"));
    const listenSocket = await new Promise<uWS.us_listen_socket>((resolve, reject) =>
      app.listen("127.0.0.1", 0, (s) => (s ? resolve(s) : reject(new Error("listen")))),
    );
    const port = uWS.us_socket_local_port(listenSocket);
    try {
      assert.equal(await (await fetch(`http://127.0.0.1:${port}/mine`)).text(), "mine");
      const c = connectClient(`http://127.0.0.1:${port}`, { transports: ["websocket"], forceNew: true, reconnection: false });
      await once(c, "hi", 5000);
      assert.equal(io.engine.clientsCount, 1);
      await assert.rejects(io.listen(0), /attachApp/);
      assert.throws(() => io.attachApp(app), /once, before any client/);
      assert.throws(() => new Server({ logger: "silent" }).attachApp({} as never), TypeError);
      c.disconnect();
    } finally {
      await io.close();
      uWS.us_listen_socket_close(listenSocket);
    }
  });
});

describe("options", () => {
  test("an unknown option is a TypeError naming it; unsupported Socket.IO options too, unless off", () => {
    assert.throws(() => new Server({ pingIntervall: 1000 } as never), /unknown option "pingIntervall"/);
    assert.throws(() => new Server({ parser: {} } as never), /option parser must be a Socket.IO parser module/);
    assert.throws(() => new Server({ allowEIO3: true } as never), /option "allowEIO3" is not supported/);
    assert.throws(
      () => new Server({ connectionStateRecovery: { maxDisconnectionDuration: -1 } }),
      /connectionStateRecovery.maxDisconnectionDuration must be a non-negative number/,
    );
    const off = new Server({ perMessageDeflate: false, allowEIO3: false, logger: "silent" } as never);
    void off.close();
  });

  test("harmless Socket.IO options are accepted with one warning per option; maxHttpBufferSize is maxPayload", async () => {
    const logger = recordingLogger();
    const a = new Server({ serveClient: false, addTrailingSlash: true, wsEngine: "ws", cors: { origin: "*" }, maxHttpBufferSize: 1234, logger } as never);
    // serveClient: false and addTrailingSlash: true ask for what roomgate does: no warning.
    assert.equal(logger.lines.filter((l) => /"serveClient"|"addTrailingSlash"/.test(l)).length, 0);
    const b = new Server({ serveClient: true, wsEngine: "ws", logger } as never);
    assert.equal(a.opts.maxPayload, 1234);
    assert.equal(logger.lines.filter((l) => /"serveClient" is ignored/.test(l)).length, 1);
    assert.equal(logger.lines.filter((l) => /"wsEngine" is ignored.*uWebSockets/.test(l)).length, 1);
    // cors is an option of its own now (the polling transport's CORS): no warning.
    assert.equal(logger.lines.filter((l) => /"cors"/.test(l)).length, 0);
    await Promise.all([a.close(), b.close()]);
  });
});

describe("socket.use, outgoing catch-alls, disconnected, conn", () => {
  test("socket.use sees every event before its listeners, may change it, and next(err) drops it with an `error` event", () =>
    withServer({}, async (h) => {
      const c = await h.connected();
      const s = serverSocket(h, c);
      const log: string[] = [];
      s.onAny((ev) => log.push(`any ${ev}`));
      s.use(([ev, ...args], next) => {
        log.push(`use ${ev} ${JSON.stringify(args.filter((a) => typeof a !== "function"))}`);
        if (ev === "forbidden") return next(new Error("not allowed"));
        next();
      });
      s.use((event, next) => {
        if (event[0] === "double") event[1] = (event[1] as number) * 2;
        next();
      });
      s.on("double", (n: number, cb: (r: number) => void) => cb(n));
      s.on("forbidden", () => log.push("forbidden handler ran"));
      const errors: string[] = [];
      s.on("error", (err) => errors.push(err.message));
      assert.equal(await c.emitWithAck("double", 21), 42);
      c.emit("forbidden");
      await until(() => errors.length === 1, "the error");
      assert.deepEqual(errors, ["not allowed"]);
      assert.deepEqual(log, ["any double", "use double [21]", "any forbidden", "use forbidden []"]);
      assert.ok(c.connected, "a refused event does not disconnect");
    }));

  test("onAnyOutgoing / prependAnyOutgoing / offAnyOutgoing see what the socket emits", () =>
    withServer({}, async (h) => {
      const c = await h.connected();
      const s = serverSocket(h, c);
      const log: string[] = [];
      const first = (ev: string, ...args: unknown[]) => log.push(`first ${ev} ${args.length}`);
      s.onAnyOutgoing((ev: string, ...args: unknown[]) => log.push(`on ${ev} ${JSON.stringify(args)}`));
      s.prependAnyOutgoing(first);
      s.emit("one", 1);
      s.send("two");
      s.timeout(1000).emit("three", () => {});
      assert.equal(s.listenersAnyOutgoing().length, 2);
      s.offAnyOutgoing(first);
      s.emit("four");
      s.offAnyOutgoing();
      s.emit("five");
      h.io.emit("broadcast");
      assert.deepEqual(log, ["first one 1", "on one [1]", "first message 1", 'on message ["two"]', "first three 0", "on three []", "on four []"]);
    }));

  test("socket.disconnected, socket.conn (transport name, session id shared by namespaces)", () =>
    withServer({}, async (h) => {
      h.io.of("/x");
      const manager = new Manager(h.url, { transports: ["websocket"], reconnection: false });
      try {
        const root = manager.socket("/");
        const x = manager.socket("/x");
        await Promise.all([once(root, "connect"), once(x, "connect")]);
        const [s, sx] = [serverSocket(h, root), serverSocket(h, x, "/x")];
        assert.equal(s.disconnected, false);
        assert.equal(s.conn.transport.name, "websocket");
        assert.equal(s.conn.readyState, "open");
        assert.equal(s.conn, sx.conn, "one Engine.IO session under both namespaces");
        assert.equal(s.conn.id, manager.engine.id);
        const gone = once(s, "disconnect");
        root.disconnect();
        await gone;
        assert.equal(s.disconnected, true);
        assert.equal(sx.connected, true);
      } finally {
        manager.engine?.close();
      }
    }));
});

describe("io.engine", () => {
  test("clientsCount, connection_error on a refused handshake, generateId", () =>
    withServer({ logger: "silent" }, async (h) => {
      const errors: { code: number; message: string }[] = [];
      h.io.engine.on("connection_error", (err) => errors.push({ code: err.code, message: err.message }));
      let n = 0;
      h.io.engine.generateId = () => `custom-${++n}`;
      const c = await h.connected();
      assert.equal(c.io.engine.id, "custom-1");
      assert.equal(h.io.engine.clientsCount, 1);
      await (await fetch(`${h.url}/socket.io/?EIO=3&transport=polling`)).text();
      assert.deepEqual(errors, [{ code: 5, message: "Unsupported protocol version" }]);
      // An id that cannot go out as it is is replaced by a random one (and logged).
      h.io.engine.generateId = () => 'bad"id';
      const d = await h.connected();
      assert.match(d.io.engine.id, /^[\w-]+$/);
    }));
});

describe("listen's address", () => {
  /** Whether a client reaches the server at `url` (connect, or connect_error on a refused TCP connect). */
  const reaches = (url: string) =>
    new Promise<boolean>((resolve) => {
      const c = connectClient(url, { transports: ["websocket"], forceNew: true, reconnection: false });
      c.once("connect", () => (c.disconnect(), resolve(true)));
      c.once("connect_error", () => (c.close(), resolve(false)));
    });

  test("io.listen(port) without a host takes IPv6 clients too, as Node's listen; with a host, that host only", async () => {
    const all = new Server({ logger: "silent" });
    const v4 = new Server({ logger: "silent" });
    try {
      const port = await all.listen(0);
      assert.equal(await reaches(`http://[::1]:${port}`), true, "IPv6 loopback");
      assert.equal(await reaches(`http://127.0.0.1:${port}`), true, "IPv4 loopback");
      const only = await v4.listen(0, "127.0.0.1");
      assert.equal(await reaches(`http://127.0.0.1:${only}`), true);
      assert.equal(await reaches(`http://[::1]:${only}`), false, "a host given: not on [::1]");
    } finally {
      await Promise.all([all.close(), v4.close()]);
    }
  });
});
