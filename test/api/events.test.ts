// Events, acknowledgements both ways, timeouts, binary payloads, middlewares, catch-all listeners.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, once, type Harness, type ClientSocket, withServer } from "../helpers/server.ts";
import type { Socket } from "../../src/index.ts";

describe("events and acks", () => {
  let h: Harness;
  const server = (c: ClientSocket, nsp = "/"): Socket => h.io.of(nsp).sockets.get(c.id!)!;
  before(async () => {
    h = await startServer();
    h.io.on("connection", (s) => {
      s.on("echo", (...args: unknown[]) => {
        const cb = args.pop() as (...r: unknown[]) => void;
        cb(...args);
      });
      s.on("throws", () => {
        throw new Error("handler bug");
      });
    });
  });
  after(() => h.close());

  test("client → server event with an ack", async () => {
    const c = await h.connected();
    assert.deepEqual(await c.emitWithAck("echo", 1, "two", { three: [3] }), 1);
    const all = await new Promise((resolve) => c.emit("echo", 1, "two", (...r: unknown[]) => resolve(r)));
    assert.deepEqual(all, [1, "two"]);
    c.disconnect();
  });

  test("a socket's listeners: on, once, off, removeAllListeners, names nobody else has", async () => {
    const c = await h.connected();
    const s = server(c);
    const seen: string[] = [];
    const onPing = (n: number) => seen.push(`on ${n}`);
    s.on("ping2", onPing);
    s.once("ping2", (n: number) => seen.push(`once ${n}`));
    s.on("toString", () => seen.push("toString")); // a name Object.prototype has
    s.on("__proto__", () => seen.push("__proto__"));
    assert.equal(s.listenerCount("ping2"), 2);
    assert.deepEqual(s.eventNames().sort(), ["__proto__", "echo", "ping2", "throws", "toString"]);
    const delivered = (n: number) => new Promise<void>((resolve) => s.once("mark", () => resolve()) && c.emit("ping2", n) && c.emit("mark"));
    await delivered(1);
    await delivered(2);
    s.off("ping2", onPing);
    await delivered(3);
    c.emit("toString");
    c.emit("__proto__");
    await new Promise<void>((resolve) => s.once("mark", () => resolve()) && c.emit("mark"));
    s.removeAllListeners("toString");
    assert.deepEqual(seen, ["on 1", "once 1", "on 2", "toString", "__proto__"]);
    assert.deepEqual(s.eventNames().sort(), ["__proto__", "echo", "throws"]);
    c.disconnect();
  });

  test("server → client event with an ack, with and without timeout", async () => {
    const c = await h.connected();
    c.on("ask", (q: string, cb: (a: string) => void) => cb(q.toUpperCase()));
    const s = server(c);
    const reply = await new Promise((resolve) => s.emit("ask", "hi", (a: string) => resolve(a)));
    assert.equal(reply, "HI");
    assert.equal(await s.emitWithAck("ask", "again"), "AGAIN");
    assert.equal(await s.timeout(1000).emitWithAck("ask", "timed"), "TIMED");
    const withErr = await new Promise((resolve) => s.timeout(1000).emit("ask", "cb", (err: Error | null, a: string) => resolve([err, a])));
    assert.deepEqual(withErr, [null, "CB"]);
    c.disconnect();
  });

  test("an unanswered ack with a timeout fails with an error", async () => {
    const c = await h.connected();
    c.on("silent", () => {});
    const s = server(c);
    await assert.rejects(s.timeout(50).emitWithAck("silent"), /timed out/);
    const err = await new Promise<Error>((resolve) => s.timeout(50).emit("silent", (e: Error) => resolve(e)));
    assert.match(err.message, /timed out/);
    c.disconnect();
  });

  test("broadcast with acks collects one response per recipient, or times out with the partial list", async () => {
    const clients = await Promise.all([1, 2, 3].map(() => h.connected()));
    clients.forEach((c, i) => c.on("vote", (cb: (v: number) => void) => (i < 2 ? cb(i) : undefined)));
    clients.slice(0, 2).forEach((c) => server(c).join("voters"));
    const responses = await h.io.to("voters").timeout(1000).emitWithAck("vote");
    assert.deepEqual((responses as number[]).sort(), [0, 1]);
    const [err, partial] = await new Promise<[Error | null, unknown[]]>((resolve) =>
      h.io.timeout(100).emit("vote", (e: Error | null, r: unknown[]) => resolve([e, r])),
    );
    assert.match(err!.message, /timed out/);
    assert.deepEqual((partial as number[]).sort(), [0, 1]);
    const none = await h.io.to("empty-room").timeout(100).emitWithAck("vote");
    assert.deepEqual(none, []);
    clients.forEach((c) => c.disconnect());
  });

  test("binary payloads both ways, nested, with acks", async () => {
    const c = await h.connected();
    const s = server(c);
    const got = once<[{ name: string; blob: Buffer; parts: Buffer[] }]>(s, "upload");
    c.emit("upload", { name: "f", blob: Buffer.from([1, 2, 3]), parts: [Buffer.from("a"), new Uint8Array([9])] });
    const [payload] = await got;
    assert.equal(payload.name, "f");
    assert.deepEqual([...payload.blob], [1, 2, 3]);
    assert.deepEqual(
      payload.parts.map((p) => [...p]),
      [[97], [9]],
    );

    c.on("bin", (a: ArrayBuffer | Buffer, meta: { b: Buffer }, cb: (x: Buffer) => void) => cb(Buffer.concat([Buffer.from(a as Buffer), Buffer.from(meta.b)])));
    const echoed = (await s.emitWithAck("bin", Buffer.from([7]), { b: Buffer.from([8, 9]) })) as Buffer;
    assert.deepEqual([...Buffer.from(echoed)], [7, 8, 9]);

    s.join("binroom");
    const bc = once<[Buffer]>(c, "bcast");
    h.io.to("binroom").emit("bcast", Buffer.from("xyz"));
    assert.equal(Buffer.from((await bc)[0]).toString(), "xyz");
    const binAck = await c.emitWithAck("echo", Buffer.from([5, 6]));
    assert.deepEqual([...Buffer.from(binAck as Buffer)], [5, 6]);
    c.disconnect();
  });

  test("onAny sees every incoming event before the specific listeners", async () => {
    const c = await h.connected();
    const s = server(c);
    const seen: string[] = [];
    s.onAny((ev, ...args) => seen.push(`any:${ev}:${args.length}`));
    s.on("x", () => seen.push("x"));
    const done = once(s, "y");
    c.emit("x", 1, 2);
    c.emit("y");
    await done;
    assert.deepEqual(seen, ["any:x:2", "x", "any:y:0"]);
    c.disconnect();
  });

  test("a throwing handler is reported and the connection carries on", async () => {
    const c = await h.connected();
    const s = server(c);
    const errors: unknown[] = [];
    s.on("error", (e) => errors.push(e));
    c.emit("throws");
    assert.deepEqual(await c.emitWithAck("echo", "still here"), "still here");
    assert.equal(errors.length, 1);
    assert.match(String(errors[0]), /handler bug/);
    c.disconnect();
  });

  test("server-side disconnect: the client hears 'io server disconnect'", async () => {
    const c = await h.connected();
    const reason = once<[string]>(c, "disconnect");
    server(c).disconnect();
    assert.equal((await reason)[0], "io server disconnect");
  });

  test("disconnect(true) closes the whole connection", async () => {
    const c = await h.connected();
    const s = server(c);
    const serverReason = once<[string]>(s, "disconnect");
    const clientReason = once<[string]>(c, "disconnect");
    s.disconnect(true);
    assert.deepEqual(await serverReason, ["server namespace disconnect"]);
    // Socket.IO's DISCONNECT comes first (test/api/disconnect.test.ts has the rest).
    assert.equal((await clientReason)[0], "io server disconnect");
  });
});

describe("middlewares", () => {
  test("io.use and nsp.use run in order; next(err) gives connect_error with message and data", async () => {
    await withServer({}, async (h) => {
      const order: string[] = [];
      h.io.use((_s, next) => (order.push("a"), next()));
      h.io.use((s, next) => {
        order.push("b");
        if (s.handshake.auth.token !== "ok") return next(Object.assign(new Error("not authorized"), { data: { code: 401 } }));
        s.data.user = "alice";
        setTimeout(next, 5); // asynchronous
      });
      const seen = once<[Socket]>(h.io, "connection");
      const good = await h.connected("/", { auth: { token: "ok" } });
      const [s] = await seen;
      assert.equal(s.data.user, "alice");
      assert.equal(good.connected, true);
      assert.deepEqual(order, ["a", "b"]);

      const bad = h.client("/", { auth: { token: "no" } });
      const [err] = await once<[Error & { data?: unknown }]>(bad, "connect_error");
      assert.equal(err.message, "not authorized");
      assert.deepEqual(err.data, { code: 401 });
      assert.equal(h.io.sockets.sockets.size, 1);

      h.io.of("/admin").use((_s, next) => next(new Error("admins only")));
      const admin = h.client("/admin");
      const [adminErr] = await once<[Error]>(admin, "connect_error");
      assert.equal(adminErr.message, "admins only");
    });
  });

  test("several namespaces over one connection", async () => {
    await withServer({}, async (h) => {
      h.io.of("/a").on("connection", (s) => s.emit("hello", "a"));
      h.io.of("/b").on("connection", (s) => s.emit("hello", "b"));
      const a = h.client("/a");
      const got = [once<[string]>(a, "hello")];
      const b = (a as unknown as { io: { socket(n: string): ClientSocket } }).io.socket("/b");
      got.push(once<[string]>(b, "hello"));
      b.connect();
      assert.deepEqual(await Promise.all(got), [["a"], ["b"]]);
      b.disconnect();
      a.disconnect();
    });
  });
});
