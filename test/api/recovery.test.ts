// Connection-state recovery on one server, through the real socket.io-client (WebSocket transport):
// the socket comes back with its id, rooms and data, `recovered`, and every event it missed, in
// order, exactly once; after the window, or past the byte bound, it is a new session.
import { test } from "node:test";
import assert from "node:assert/strict";
import { startServer, once, type ClientSocket, type Harness, withServer } from "../helpers/server.ts";
import net from "node:net";
import { io as ioClient } from "socket.io-client";
import { RawWebSocket, EIO_PATH } from "../helpers/raw-ws.ts";
import type { ServerOptions, Socket } from "../../src/index.ts";
import { until } from "../helpers/wait.ts";

/** A server where every socket joins "a" and keeps data, and a client that records "m" events
 *  (without the offset the server appends as their last argument). */
async function setup(opts: ServerOptions["connectionStateRecovery"] = {}, extra: ServerOptions = {}) {
  const h = await startServer({ connectionStateRecovery: opts, ...extra });
  const sockets: Socket[] = [];
  h.io.on("connection", (s) => {
    sockets.push(s);
    if (!s.recovered) {
      s.join("a");
      s.data.user = "alice";
    }
    s.on("burst", (n: number) => {
      for (let i = 0; i < n; i++) s.emit("m", `burst ${i}`);
    });
  });
  const c = await h.connected("/", { reconnection: false });
  const got: unknown[] = [];
  c.on("m", (...args: unknown[]) => got.push(args[0]));
  return { h, c, got, sockets };
}

/** Closes the client's transport (the server sees "transport close") and waits for the server. */
async function cut(c: ClientSocket, s: Socket): Promise<void> {
  const gone = once(s, "disconnect");
  c.io.engine.close();
  await gone;
}

async function reconnect(h: Harness, c: ClientSocket): Promise<Socket> {
  const seen = once<[Socket]>(h.io, "connection");
  c.connect();
  await once(c, "connect");
  return (await seen)[0];
}

/** A round trip after which everything sent to `c` before has arrived. */
async function barrier(s: Socket, c: ClientSocket): Promise<void> {
  const done = once(c, "end");
  s.emit("end");
  await done;
}

test("a client cut off gets its id, rooms, data and every event it missed, in order, once", async () => {
  const { h, c, got, sockets } = await setup();
  try {
    const first = sockets[0];
    first.join("b");
    const id = c.id;
    c.emit("burst", 1);
    await until(() => got.length === 1, "the event");
    await cut(c, first);
    assert.equal(first.rooms.size, 0);
    // While it is away: to its rooms, to its own room, to everybody, and some not for it.
    h.io.to("a").emit("m", 1);
    h.io.to(id!).emit("m", 2);
    h.io.to("other").emit("m", "not for it");
    h.io.except("b").emit("m", "not for it either");
    h.io.to("b").to("a").emit("m", 3);
    h.io.emit("m", 4);
    h.io.to("a").emit("m", { binary: Buffer.from([5]) });
    const s = await reconnect(h, c);
    assert.equal(s.id, id);
    assert.equal(c.id, id);
    assert.equal(s.recovered, true);
    assert.equal(c.recovered, true);
    assert.deepEqual(new Set(s.rooms), new Set([id, "a", "b"]));
    assert.deepEqual(s.data, { user: "alice" });
    h.io.to("a").emit("m", 6);
    await barrier(s, c);
    const binary = got[5] as { binary: Buffer };
    assert.deepEqual([...binary.binary], [5]);
    assert.deepEqual([...got.slice(0, 5), ...got.slice(6)], ["burst 0", 1, 2, 3, 4, 6]);
  } finally {
    await h.close();
  }
});

/** A TCP proxy in front of the server whose link can go silent (the network drops whatever the
 *  server sends) and then die, as a mobile link does. */
async function flakyLink(port: number) {
  let silent = false;
  const pairs: net.Socket[] = [];
  const proxy = net.createServer((down) => {
    const up = net.connect(port, "127.0.0.1");
    pairs.push(down, up);
    down.on("data", (d) => up.write(d));
    up.on("data", (d) => silent || down.write(d));
    const end = () => (down.destroy(), up.destroy());
    down.on("close", end).on("error", end);
    up.on("close", end).on("error", end);
  });
  await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(proxy.address() as net.AddressInfo).port}`,
    silence: () => (silent = true),
    cut: () => {
      for (const s of pairs) s.destroy();
      silent = false;
    },
    close: () => proxy.close(),
  };
}

test("events sent before the server noticed the disconnect are replayed from the client's offset", async () => {
  const { h, sockets } = await setup();
  const link = await flakyLink(h.port);
  const c = ioClient(link.url, { transports: ["websocket"], forceNew: true, reconnection: false });
  const got: unknown[] = [];
  c.on("m", (...args: unknown[]) => got.push(args[0]));
  try {
    await once(c, "connect");
    const s0 = sockets[1];
    c.emit("burst", 1);
    await until(() => got.length === 1, "the event");
    link.silence();
    for (let i = 1; i < 5; i++) s0.emit("m", `burst ${i}`);
    h.io.to("a").emit("m", "to a");
    await new Promise((r) => setTimeout(r, 20));
    const gone = once(s0, "disconnect");
    link.cut();
    await gone;
    await until(() => !c.connected, "the disconnect");
    assert.deepEqual(got, ["burst 0"]);
    const s = await reconnect(h, c);
    assert.equal(s.recovered, true);
    assert.equal(s.id, s0.id);
    await barrier(s, c);
    assert.deepEqual(got, ["burst 0", "burst 1", "burst 2", "burst 3", "burst 4", "to a"]);
  } finally {
    c.disconnect();
    link.close();
    await h.close();
  }
});

test("a client cut off again in the middle of its replay resumes where it stopped, once", async () => {
  const { h, c, got, sockets } = await setup();
  try {
    c.emit("burst", 1);
    await until(() => got.length === 1, "the event");
    const pid = sockets[0].pid!;
    await cut(c, sockets[0]);
    for (let i = 0; i < 4; i++) h.io.to("a").emit("m", i);
    // A raw client with the session's pid reads the CONNECT reply and two replayed events, then drops.
    const offsetOf = (t: string) => (JSON.parse(t.slice(2)) as string[]).at(-1)!;
    const raw = await RawWebSocket.open(h.port, EIO_PATH);
    await raw.waitText((t) => t.startsWith("0{"));
    raw.sendText(`40${JSON.stringify({ pid, offset: (c as unknown as { _lastOffset: string })._lastOffset })}`);
    const first = await raw.waitText((t) => t.startsWith('42["m",0'));
    assert.match(raw.texts().find((t) => t.startsWith("40"))!, /"pid":"/);
    raw.destroy();
    await until(() => h.io.sockets.sockets.size === 0, "every socket gone");
    h.io.to("a").emit("m", 4);
    // The real client comes back with the offset of the first replayed event.
    (c as unknown as { _lastOffset: string })._lastOffset = offsetOf(first);
    got.push(0);
    const s = await reconnect(h, c);
    assert.equal(s.recovered, true);
    assert.equal(s.id, sockets[0].id);
    await barrier(s, c);
    assert.deepEqual(got, ["burst 0", 0, 1, 2, 3, 4]);
  } finally {
    await h.close();
  }
});

test("a socket that never received an event recovers what it missed", async () => {
  const { h, c, got, sockets } = await setup();
  try {
    await cut(c, sockets[0]);
    h.io.to("a").emit("m", 1);
    const s = await reconnect(h, c);
    assert.equal(s.recovered, true);
    await barrier(s, c);
    assert.deepEqual(got, [1]);
  } finally {
    await h.close();
  }
});

test("rooms left and joined before the disconnect decide what is replayed", async () => {
  const { h, c, got, sockets } = await setup();
  try {
    const s0 = sockets[0];
    c.emit("burst", 1);
    await until(() => got.length === 1, "the event");
    // The client is already gone (its offset is "burst 0") while the server still changes its rooms.
    c.io.engine.close();
    s0.leave("a");
    h.io.to("a").emit("m", "left a: not for it");
    s0.join("c");
    h.io.to("c").emit("m", "joined c");
    await until(() => !s0.connected, "the disconnect");
    h.io.to("c").emit("m", "after");
    const s = await reconnect(h, c);
    assert.deepEqual(new Set(s.rooms), new Set([s.id, "c"]));
    await barrier(s, c);
    assert.deepEqual(got, ["burst 0", "joined c", "after"]);
  } finally {
    await h.close();
  }
});

test("after maxDisconnectionDuration the client gets a new session", async () => {
  const { h, c, sockets } = await setup({ maxDisconnectionDuration: 100 });
  try {
    await cut(c, sockets[0]);
    await new Promise((r) => setTimeout(r, 250));
    const s = await reconnect(h, c);
    assert.equal(s.recovered, false);
    assert.equal(c.recovered, false);
    assert.notEqual(s.id, sockets[0].id);
    assert.deepEqual(new Set(s.rooms), new Set([s.id, "a"]));
    assert.equal(h.io.sockets.adapter.recovery!.parkedCount, 0);
  } finally {
    await h.close();
  }
});

test("past maxBufferedBytes the session is not recoverable: a new session", async () => {
  const { h, c, got, sockets } = await setup({ maxBufferedBytes: 4096 });
  try {
    await cut(c, sockets[0]);
    for (let i = 0; i < 100; i++) h.io.to("a").emit("m", "x".repeat(100));
    const log = h.io.sockets.adapter.recovery!;
    assert.ok(log.bufferedBytes <= 4096);
    assert.ok(log.stats.trimmedByBytes > 0);
    const s = await reconnect(h, c);
    assert.equal(s.recovered, false);
    assert.notEqual(s.id, sockets[0].id);
    assert.equal(log.stats.refused, 1);
    await barrier(s, c);
    assert.deepEqual(got, []);
  } finally {
    await h.close();
  }
});

test("a client that says goodbye is not recoverable; middlewares are skipped on recovery unless asked", async () => {
  for (const skipMiddlewares of [true, false]) {
    const { h, c, sockets } = await setup({ skipMiddlewares });
    const ran: boolean[] = [];
    h.io.use((s, next) => {
      ran.push(s.recovered);
      next();
    });
    try {
      await cut(c, sockets[0]);
      const s = await reconnect(h, c);
      assert.equal(s.recovered, true);
      assert.deepEqual(ran, skipMiddlewares ? [] : [true]);
      const gone = once(s, "disconnect");
      c.disconnect();
      await gone;
      const s2 = await reconnect(h, c);
      assert.equal(s2.recovered, false);
    } finally {
      await h.close();
    }
  }
});

test("without the option: no pid in the CONNECT reply, no offset appended", async () => {
  await withServer({}, async (h) => {
    const c = await h.connected();
    const s = h.io.sockets.sockets.get(c.id!)!;
    assert.equal(s.pid, undefined);
    assert.equal(s.recovered, false);
    assert.equal(h.io.sockets.adapter.recovery, null);
    const args = once(c, "m");
    h.io.emit("m", "x");
    assert.deepEqual(await args, ["x"]);
  });
});

test("with the option: events carry an offset string, acks and volatile events do not", async () => {
  const { h, c, sockets } = await setup();
  try {
    const s = sockets[0];
    const seen: unknown[][] = [];
    c.onAny((ev: string, ...args: unknown[]) => seen.push([ev, ...args]));
    c.on("ask", (cb: (x: number) => void) => cb(1));
    h.io.emit("e1", "x");
    s.emit("e2");
    s.volatile.emit("e3", 1);
    h.io.volatile.emit("e4", 2);
    assert.deepEqual(await s.emitWithAck("ask"), 1);
    await barrier(s, c);
    const [e1, e2, e3, e4] = seen;
    assert.equal(e1[0], "e1");
    assert.equal(e1[1], "x");
    assert.match(String(e1[2]), /^[\w-]+\.\w+$/);
    assert.match(String(e2[1]), /^[\w-]+\.\w+$/);
    assert.deepEqual(e3, ["e3", 1]);
    assert.deepEqual(e4, ["e4", 2]);
  } finally {
    await h.close();
  }
});

// socket.io-client cut off during its upgrade (`engine.close()` waits for the upgrade to finish)
// still takes in the last poll response, the one its upgrade waits for: those events reach its
// socket after it disconnected, are buffered, and come out on the next connect, yet the offset it
// reconnects with predates them. The server knows better: the client sends `5` only once that
// response is in, so whatever went out by polling before `5` is no longer "missed".
test("a client cut off in the middle of its upgrade gets the events of its last poll once", async () => {
  const h = await startServer({ connectionStateRecovery: {} });
  let current = null as { s: Socket; sent: number } | null;
  // Events to the newest socket on every tick from its connection until it is gone (bounded).
  h.io.on("connection", (s) => {
    if (s.recovered) return;
    const streamed = { s, sent: 0 };
    current = streamed;
    const stream = () => {
      if (!s.connected || streamed.sent >= 2000) return;
      s.emit("m", streamed.sent++);
      setImmediate(stream);
    };
    stream();
  });
  let cuts = 0;
  let raced = 0;
  try {
    // A round is void when the upgrade comes before the CONNECT reply (about 2 of 3 here).
    for (let round = 0; round < 40 && cuts < 4; round++) {
      current = null;
      const c = h.client("/", { transports: ["polling", "websocket"], reconnection: false });
      const got: number[] = [];
      c.on("m", (n: number) => got.push(n));
      let state = "upgrading" as "upgrading" | "cut" | "void";
      c.io.once("open", () => {
        const engine = c.io.engine;
        engine.once("upgrading", () => {
          // Cut once connected and streamed to (its CONNECT or the reply may still be on the way:
          // a reply taken in after the cut would leave the client socket connected on a closed
          // manager, another socket.io-client race).
          if (current === null || !c.connected) return void (state = "void");
          state = "cut";
          engine.close();
        });
        // Events the engine takes in after the cut: the race this test is about.
        engine.on("packet", (p: { type: string; data?: unknown }) => {
          if (state === "cut" && p.type === "message" && String(p.data).startsWith('2["m"')) raced++;
        });
      });
      await until(() => state === "void" || (state === "cut" && current !== null && !current.s.connected), `round ${round}: the cut`, 10000);
      if (state === "void") {
        c.disconnect();
        continue;
      }
      cuts++;
      const sent = current!.sent;
      const back = await reconnect(h, c);
      assert.equal(back.recovered, true, `round ${round}: recovered`);
      await barrier(back, c);
      const all = Array.from({ length: sent }, (_, i) => i);
      assert.deepEqual(got, all, `round ${round}: every event once, in order (${sent} sent)`);
      c.disconnect();
    }
    // Without the race exercised, this test would prove nothing.
    assert.ok(cuts > 0 && raced > 0, `some client took in events after its cut (${cuts} cuts, ${raced} events after one)`);
  } finally {
    await h.close();
  }
});

test("a polling client closed by the server with events still buffered recovers each of them once", async () => {
  await withServer({ connectionStateRecovery: {} }, async (h) => {
    let n = 0;
    for (let round = 0; round < 5; round++) {
      const c = await h.connected("/", { transports: ["polling"], reconnection: true, reconnectionDelay: 10, reconnectionDelayMax: 20 });
      const got: number[] = [];
      c.on("m", (k: number) => got.push(k));
      const s = h.io.sockets.sockets.get(c.id!)!;
      s.join("r");
      const sent: number[] = [];
      // Buffered (the client polls again only after the CONNECT reply's poll), then the close: the
      // events go out in one poll response, the close packet in the next (as Engine.IO does). In one
      // response, socket.io-client closes before it dispatches them and reconnects without their offset.
      for (let i = 0; i < 5; i++) {
        sent.push(n);
        h.io.to("r").emit("m", n++);
      }
      const back = once<[Socket]>(h.io, "connection");
      s.conn.close();
      const [again] = await back;
      assert.equal(again.recovered, true, `round ${round}: recovered`);
      if (!c.connected) await once(c, "connect");
      sent.push(n);
      h.io.to("r").emit("m", n++);
      await barrier(again, c);
      assert.deepEqual(got, sent, `round ${round}: every event once, in order`);
      c.disconnect();
    }
  });
});
