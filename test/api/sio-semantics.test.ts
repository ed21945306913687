// Socket.IO 4.8 semantics its own server suite checks (issue #21), through the wire with the
// official client: volatile emits while a write is pending, onAnyOutgoing for broadcasts, a
// broadcast's emitWithAck timeout, cleanupEmptyChildNamespaces after a middleware refusal,
// `socket.conn`'s `upgrade`, and malformed packets reported on the socket's `error`.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, once, type Harness, type ClientSocket } from "../helpers/server.ts";
import type { Socket } from "../../src/index.ts";

/** Counts the `ev` events a client gets until the server's `end` (sent after the emits under test). */
function countUntilEnd(c: ClientSocket): Promise<unknown[][]> {
  const got: unknown[][] = [];
  const onEv = (...args: unknown[]) => got.push(args);
  c.on("ev", onEv);
  return once(c, "end").then(() => {
    c.off("ev", onEv);
    return got;
  });
}

describe("volatile: dropped while a write of the tick is pending, as Socket.IO's transport is not writable", () => {
  let h: Harness;
  before(async () => {
    h = await startServer();
  });
  after(() => h.close());

  const pair = async (): Promise<[ClientSocket, Socket]> => {
    const c = await h.connected();
    return [c, h.io.sockets.sockets.get(c.id!)!];
  };

  test("a volatile emit right after a regular one is dropped", async () => {
    const [c, s] = await pair();
    const got = countUntilEnd(c);
    s.emit("ev", "regular");
    s.volatile.emit("ev", "volatile");
    s.emit("end");
    assert.deepEqual(await got, [["regular"]]);
    c.disconnect();
  });

  test("two consecutive volatile emits deliver the first; regular ones around a dropped one all arrive", async () => {
    const [c, s] = await pair();
    let got = countUntilEnd(c);
    s.volatile.emit("ev", 1);
    s.volatile.emit("ev", Buffer.from([2]));
    s.emit("end");
    assert.deepEqual(await got, [[1]]);
    got = countUntilEnd(c);
    s.emit("ev", "a");
    s.volatile.emit("ev", "dropped");
    s.emit("ev", "b");
    s.emit("end");
    assert.deepEqual(await got, [["a"], ["b"]]);
    // A later tick: nothing pending, the volatile emit goes out.
    got = countUntilEnd(c);
    s.volatile.emit("ev", "alone");
    s.emit("end");
    assert.deepEqual(await got, [["alone"]]);
    c.disconnect();
  });

  test("broadcasts: a second volatile publish to the same target in one tick is dropped", async () => {
    const [c, s] = await pair();
    s.join("r");
    let got = countUntilEnd(c);
    h.io.volatile.emit("ev", Buffer.from([1])); // native publish to the namespace topic
    h.io.volatile.emit("ev", Buffer.from([2]));
    h.io.to("r").volatile.emit("ev", "room"); // another topic: its first publish of the tick
    s.emit("end");
    const first = await got;
    assert.equal(first.length, 2);
    assert.deepEqual([...(first[0][0] as Buffer)], [1]);
    assert.deepEqual(first[1], ["room"]);
    got = countUntilEnd(c);
    h.io.emit("ev", "regular");
    h.io.volatile.emit("ev", "dropped");
    s.emit("end");
    assert.deepEqual(await got, [["regular"]]);
    c.disconnect();
  });
});

describe("onAnyOutgoing, broadcast acks, dynamic namespaces", () => {
  let h: Harness;
  before(async () => {
    h = await startServer({ cleanupEmptyChildNamespaces: true });
  });
  after(() => h.close());

  test("onAnyOutgoing listeners hear the broadcasts that reach their socket, and only those", async () => {
    const [c1, c2] = [await h.connected(), await h.connected()];
    const [s1, s2] = [h.io.sockets.sockets.get(c1.id!)!, h.io.sockets.sockets.get(c2.id!)!];
    const heard: string[] = [];
    s1.onAnyOutgoing((ev: string, arg: unknown) => heard.push(`s1 ${ev} ${arg instanceof Uint8Array ? "binary" : arg}`));
    s2.onAnyOutgoing((ev: string, arg: unknown) => heard.push(`s2 ${ev} ${arg}`));
    s1.join("r1");
    h.io.emit("all", 1);
    h.io.emit("bin", Uint8Array.of(1, 2));
    h.io.to("r1").emit("r1", 2);
    h.io.except("r1").emit("not-r1", 3);
    s1.broadcast.emit("from-s1", 4);
    s2.emit("own", 5);
    assert.deepEqual(heard, ["s1 all 1", "s2 all 1", "s1 bin binary", "s2 bin 1,2", "s1 r1 2", "s2 not-r1 3", "s2 from-s1 4", "s2 own 5"]);
    s2.offAnyOutgoing();
    h.io.emit("after-off", 6);
    assert.deepEqual(heard.slice(8), ["s1 after-off 6"]);
    c1.disconnect();
    c2.disconnect();
  });

  test("leaveAll leaves every room, the socket's own included, and broadcasts to them no longer reach it", async () => {
    const c = await h.connected();
    const s = h.io.sockets.sockets.get(c.id!)!;
    s.join(["a", "b"]);
    assert.deepEqual([...s.rooms].sort(), [s.id, "a", "b"].sort());
    s.leaveAll();
    assert.equal(s.rooms.size, 0);
    assert.equal(h.io.sockets.adapter.rooms.has("a"), false);
    const got = countUntilEnd(c);
    h.io.to("a").to(s.id).emit("ev", "gone");
    s.emit("end");
    assert.deepEqual(await got, []);
    c.disconnect();
  });

  test("a broadcast's emitWithAck that times out rejects with the responses that came", async () => {
    const acks = h.io.of("/acks");
    const [c1, c2] = [await h.connected("/acks"), await h.connected("/acks")];
    c1.on("q", (cb: (n: number) => void) => cb(1));
    c2.on("q", () => {}); // never answers
    const err = (await acks
      .timeout(100)
      .emitWithAck("q")
      .then(
        () => assert.fail("should time out"),
        (e: unknown) => e,
      )) as Error & { responses: unknown[] };
    assert.match(err.message, /timed out/);
    assert.deepEqual(err.responses, [1]);
    c1.disconnect();
    c2.disconnect();
  });

  test("cleanupEmptyChildNamespaces: a child whose only client was refused by a middleware is removed", async () => {
    h.io.of(/^\/dyn-\d+$/).use((socket, next) => (socket.handshake.auth.ok ? next() : next(new Error("no"))));
    const refused = h.client("/dyn-1");
    const [err] = await once<[Error]>(refused, "connect_error");
    assert.equal(err.message, "no");
    assert.equal(h.io._nsps.has("/dyn-1"), false);
    // With another client connected there, a refusal leaves the child alone.
    const ok = await h.connected("/dyn-2", { auth: { ok: true } });
    const refused2 = h.client("/dyn-2");
    await once(refused2, "connect_error");
    assert.equal(h.io._nsps.get("/dyn-2")?.sockets.size, 1);
    ok.disconnect();
  });
});

describe("socket.conn's upgrade and malformed packets", () => {
  let h: Harness;
  before(async () => {
    h = await startServer();
  });
  after(() => h.close());

  /** A client over polling, then WebSocket: resolves with its server socket once it has upgraded. */
  const upgraded = async (): Promise<[ClientSocket, Socket]> => {
    const c = h.client("/", { transports: ["polling", "websocket"] });
    const [s] = await once<[Socket]>(h.io, "connection");
    assert.equal(s.conn.transport.name, "polling");
    const [transport] = await once<[{ name: string }]>(s.conn, "upgrade");
    assert.equal(transport.name, "websocket");
    assert.equal(s.conn.transport.name, "websocket");
    return [c, s];
  };

  test("raw binary without attachments (`5woooot`, `5`): the socket's `error` says so, then a parse error closes it", async () => {
    for (const raw of ["5woooot", "5"]) {
      const [c, s] = await upgraded();
      const error = once<[Error]>(s, "error");
      const disconnect = once<[string]>(s, "disconnect");
      (c.io.engine as unknown as { write(data: string): void }).write(raw);
      const [err] = await error;
      assert.match(err.message, /Illegal attachments/);
      assert.deepEqual(await disconnect, ["parse error"]);
    }
  });

  test("a CONNECT_ERROR packet from the client, without an error handler, closes only that session", async () => {
    const [c, s] = await upgraded();
    const other = await h.connected();
    const disconnect = once<[string]>(s, "disconnect");
    (c.io.engine as unknown as { write(data: string): void }).write('44["handle me please"]');
    assert.deepEqual(await disconnect, ["parse error"]);
    h.io.sockets.sockets.get(other.id!)!.on("echo", (cb: (x: string) => void) => cb("still here"));
    assert.equal(await other.emitWithAck("echo"), "still here");
    other.disconnect();
  });
});

describe("socket.request, socket.client, io.engine's connection and socket.conn's close", () => {
  let h: Harness;
  before(async () => {
    h = await startServer();
  });
  after(() => h.close());

  test("the request that opened the session, its engine socket, and the session's end", async () => {
    const opened: string[] = [];
    const onEngine = (conn: { id: string }) => opened.push(conn.id);
    h.io.engine.on("connection", onEngine);
    const c = h.client("/", { query: { key1: "1" }, extraHeaders: { "x-test": "yes" } });
    const [s] = await once<[Socket]>(h.io, "connection");
    h.io.engine.off("connection", onEngine);
    assert.deepEqual(opened, [s.conn.id]);
    assert.equal(s.request.headers["x-test"], "yes");
    assert.equal(s.request.method, "GET");
    assert.equal(new URL(s.request.url, "http://x").searchParams.get("key1"), "1");
    assert.equal(s.request.query.key1, "1");
    assert.equal(s.client.conn, s.conn);
    assert.equal(s.client.request, s.request);
    assert.equal(s.conn.request, s.request);
    assert.equal(s.conn.remoteAddress, s.handshake.address);
    const closed = once<[string]>(s.conn, "close");
    c.disconnect();
    assert.deepEqual(await closed, ["transport close"]);
  });
});
