// HTTP long-polling and the upgrade, on the wire (raw HTTP and raw WebSocket where the official
// client would never send it) and with the official socket.io-client at its default options.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:http";
import { gunzipSync } from "node:zlib";
import type { Socket as ClientSocket } from "socket.io-client";
import { RawWebSocket } from "../helpers/raw-ws.ts";
import { http, POLLING, RawPolling } from "../helpers/polling.ts";
import { once, type Harness, withServer } from "../helpers/server.ts";
import type { ServerOptions, Socket } from "../../src/index.ts";
import { sleep, until } from "../helpers/wait.ts";

/** A polling session made by hand with the main namespace connected, and its server-side socket. */
async function connectedPolling(h: Harness): Promise<{ p: RawPolling; socket: Socket }> {
  const seen = once<[Socket]>(h.io, "connection");
  const p = await RawPolling.open(h.port);
  await p.connect();
  const [socket] = await seen;
  return { p, socket };
}

/** A client with socket.io-client's defaults (polling first, then the upgrade), as `io(url)` makes it. */
function defaultClient(h: Harness, opts: Record<string, unknown> = {}): ClientSocket {
  return h.client("/", { transports: undefined, ...opts });
}

function connected(c: ClientSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    c.once("connect", () => resolve());
    c.once("connect_error", reject);
  });
}

describe("polling handshake and payloads", () => {
  test("the handshake GET answers the open packet with the websocket upgrade", () =>
    withServer({ pingInterval: 1234, pingTimeout: 567, maxHttpBufferSize: 4096 }, async (h) => {
      const reply = await http(h.port, "GET", `${POLLING}&t=abc`);
      assert.equal(reply.status, 200);
      assert.equal(reply.headers["content-type"], "text/plain; charset=UTF-8");
      assert.equal(reply.headers["access-control-allow-origin"], undefined, "no CORS without the cors option");
      assert.match(reply.body, /^0\{/);
      const open = JSON.parse(reply.body.slice(1));
      assert.match(open.sid, /^[\w-]{20,}$/);
      assert.deepEqual({ ...open, sid: "x" }, { sid: "x", upgrades: ["websocket"], pingInterval: 1234, pingTimeout: 567, maxPayload: 4096 });
    }));

  test("POSTed packets, text and binary, reach the socket; answers come back as one \\x1e payload", () =>
    withServer({}, async (h) => {
      const got: unknown[][] = [];
      h.io.on("connection", (s) => {
        s.onAny((...args) => got.push(args));
        s.on("bin", (buf: Buffer, ack: (...a: unknown[]) => void) => ack("len", buf.length, Buffer.from([9, 8])));
      });
      const p = await RawPolling.open(h.port);
      const id = await p.connect();
      assert.equal(h.io.sockets.sockets.get(id)?.conn.transport.name, "polling");
      // Two packets in one POST: an event and a binary event with its attachment as b<base64>.
      const ok = await p.post(['42["hello","world"]', '451-7["bin",{"_placeholder":true,"num":0}]', "bAQID"]);
      assert.equal(ok.status, 200);
      assert.equal(ok.body, "ok");
      assert.deepEqual(got[0], ["hello", "world"]);
      assert.deepEqual(got[1].slice(0, 2), ["bin", Buffer.from([1, 2, 3])]);
      const packets = await p.poll();
      assert.deepEqual(packets, ['461-7["len",3,{"_placeholder":true,"num":0}]', "bCQg="]);
    }));

  test("a poll is held until there is something to send, and carries everything queued by then", () =>
    withServer({}, async (h) => {
      const { p, socket } = await connectedPolling(h);
      const pending = p.poll();
      await sleep(50);
      socket.emit("a", 1);
      h.io.emit("b", "two");
      assert.deepEqual(await pending, ['42["a",1]', '42["b","two"]']);
    }));

  test("pings go out on the poll, pongs come by POST; a client that stops answering is dropped", () =>
    withServer({ pingInterval: 300, pingTimeout: 300 }, async (h) => {
      const { p, socket } = await connectedPolling(h);
      assert.deepEqual(await p.poll({ pings: true }), ["2"]);
      await p.post("3");
      assert.deepEqual(await p.poll({ pings: true }), ["2"]);
      await p.post("3");
      assert.ok(socket.connected);
      const gone = once<[string]>(socket, "disconnect", 2000);
      assert.deepEqual(await gone, ["ping timeout"]);
      // What was buffered (the unanswered ping) goes out on the next poll, the close packet on the
      // one after it (events before a close are never in the close's response: see PollingTransport.close).
      assert.deepEqual(await p.poll({ pings: true }), ["2"]);
      assert.deepEqual(await p.poll({ pings: true }), ["1"]);
      const after = await http(h.port, "GET", p.path);
      assert.deepEqual([after.status, JSON.parse(after.body)], [400, { code: 1, message: "Session ID unknown" }]);
    }));

  test("a POST carrying close (1) ends the session", () =>
    withServer({}, async (h) => {
      const { p, socket } = await connectedPolling(h);
      const gone = once<[string]>(socket, "disconnect");
      await p.post("1");
      assert.deepEqual(await gone, ["transport close"]);
      assert.equal(h.io.sockets.sockets.size, 0);
    }));
});

describe("polling errors (Engine.IO's codes)", () => {
  const json = (r: { status: number; body: string }) => [r.status, JSON.parse(r.body).code, JSON.parse(r.body).message];

  test("unknown transport 0, unknown sid 1, bad handshake method 2, unsupported protocol 5", () =>
    withServer({}, async (h) => {
      assert.deepEqual(json(await http(h.port, "GET", "/socket.io/?EIO=4&transport=carrier-pigeon")), [400, 0, "Transport unknown"]);
      assert.deepEqual(json(await http(h.port, "GET", "/socket.io/?EIO=4")), [400, 0, "Transport unknown"]);
      assert.deepEqual(json(await http(h.port, "GET", `${POLLING}&sid=nope`)), [400, 1, "Session ID unknown"]);
      assert.deepEqual(json(await http(h.port, "POST", `${POLLING}&sid=nope`, "40")), [400, 1, "Session ID unknown"]);
      assert.deepEqual(json(await http(h.port, "POST", POLLING, "40")), [400, 2, "Bad handshake method"]);
      assert.deepEqual(json(await http(h.port, "PUT", POLLING, "40")), [400, 2, "Bad handshake method"]);
      assert.deepEqual(json(await http(h.port, "GET", "/socket.io/?EIO=3&transport=polling")), [400, 5, "Unsupported protocol version"]);
    }));

  test("forbidden 4: allowRequest and allowedOrigins guard the polling handshake", () =>
    withServer(
      {
        allowedOrigins: ["https://ok.example"],
        allowRequest: (req, cb) => setTimeout(() => cb(req.query.token === "good" ? null : "bad token", req.query.token === "good"), 5),
      },
      async (h) => {
        assert.deepEqual(json(await http(h.port, "GET", `${POLLING}&token=bad`)), [403, 4, "Forbidden"]);
        assert.equal(JSON.parse((await http(h.port, "GET", `${POLLING}&token=bad`)).body).detail, "bad token");
        const evil = await http(h.port, "GET", `${POLLING}&token=good`, undefined, { Origin: "https://evil.example" });
        assert.deepEqual(json(evil), [403, 4, "Forbidden"]);
        const good = await http(h.port, "GET", `${POLLING}&token=good`, undefined, { Origin: "https://ok.example" });
        assert.equal(good.status, 200);
        assert.match(good.body, /^0\{"sid"/);
      },
    ));

  test("a second concurrent poll is a bad request (3) and ends the session; the first poll carries the close", () =>
    withServer({}, async (h) => {
      const { p, socket } = await connectedPolling(h);
      const gone = once<[string]>(socket, "disconnect");
      const first = p.poll();
      await sleep(30);
      assert.deepEqual(json(await http(h.port, "GET", p.path)), [400, 3, "Bad request"]);
      assert.deepEqual(await gone, ["transport error"]);
      assert.deepEqual(await first, ["1"]);
    }));

  test("a POST over maxHttpBufferSize is refused with 413 and ends the session; a bad payload with 400", () =>
    withServer({ maxHttpBufferSize: 100 }, async (h) => {
      const seen = once<[Socket]>(h.io, "connection");
      const p = await RawPolling.open(h.port);
      assert.equal(p.open.maxPayload, 100);
      await p.connect();
      const [socket] = await seen;
      const gone = once<[string]>(socket, "disconnect");
      const big = await p.post(`42["x","${"a".repeat(200)}"]`);
      assert.equal(big.status, 413);
      assert.deepEqual(await gone, ["transport error"]);

      const q = await RawPolling.open(h.port);
      await q.connect();
      const bad = await q.post("42[not json");
      assert.deepEqual(json(bad), [400, 3, "Bad request"]);
      const q2 = await RawPolling.open(h.port);
      assert.deepEqual(json(await q2.post(["40", "bnot*base64"])), [400, 3, "Bad request"]);
      await until(() => h.io.sockets.sockets.size === 0, "every bad session closed");
    }));

  test("a poll the client aborts ends the session; the server never writes to the dead response", () =>
    withServer({ pingInterval: 300, pingTimeout: 300 }, async (h) => {
      const { p, socket } = await connectedPolling(h);
      const gone = once<[string]>(socket, "disconnect");
      const req = request({ host: "127.0.0.1", port: h.port, path: p.path, agent: false });
      req.on("error", () => {});
      req.end();
      await sleep(20);
      req.destroy();
      assert.deepEqual(await gone, ["transport error"]);
      // The heartbeat would have written a ping to it: wait past one, then check the server is fine.
      await sleep(350);
      const c = await h.connected();
      assert.ok(c.connected);
    }));
});

describe("the upgrade", () => {
  test("2probe/3probe, the waiting poll released with 6, then 5: what was buffered arrives first on the WebSocket", () =>
    withServer({}, async (h) => {
      const { p, socket } = await connectedPolling(h);
      socket.join("room");
      const ws = await RawWebSocket.open(h.port, `/socket.io/?EIO=4&transport=websocket&sid=${p.sid}`);
      const waiting = p.poll();
      await sleep(20);
      ws.sendText("2probe");
      await ws.waitText((t) => t === "3probe");
      assert.deepEqual(await waiting, ["6"]);
      // Emitted while the client has paused polling: buffered for the WebSocket.
      h.io.to("room").emit("m", 1);
      socket.emit("m", 2);
      await sleep(20);
      ws.sendText("5");
      await until(() => socket.conn.transport.name === "websocket", "the switch");
      h.io.to("room").emit("m", 3); // a native publish now
      socket.emit("m", 4);
      await ws.waitText((t) => t === '42["m",4]');
      // Pings left out: the heartbeat's first ping comes at a random point of its interval.
      assert.deepEqual(
        ws.texts().filter((t) => t !== "2"),
        ["3probe", '42["m",1]', '42["m",2]', '42["m",3]', '42["m",4]'],
      );
      // The session is no longer reachable by polling.
      assert.equal((await http(h.port, "GET", p.path)).status, 400);
      ws.destroy();
    }));

  test("anything but 2probe/5 on the probe closes it; the session stays on polling", () =>
    withServer({}, async (h) => {
      const { p, socket } = await connectedPolling(h);
      const ws = await RawWebSocket.open(h.port, `/socket.io/?EIO=4&transport=websocket&sid=${p.sid}`);
      // A second probe at the same time is refused.
      await assert.rejects(RawWebSocket.open(h.port, `/socket.io/?EIO=4&transport=websocket&sid=${p.sid}`), /400[\s\S]*"code":3/);
      ws.sendText('42["sneaky"]');
      await ws.waitClosed();
      socket.emit("still", "polling");
      assert.deepEqual(await p.poll(), ['42["still","polling"]']);
      assert.equal(socket.conn.transport.name, "polling");
    }));

  test("upgradeTimeout abandons a probe that never sends 5", () =>
    withServer({ upgradeTimeout: 100 }, async (h) => {
      const p = await RawPolling.open(h.port);
      await p.connect();
      const ws = await RawWebSocket.open(h.port, `/socket.io/?EIO=4&transport=websocket&sid=${p.sid}`);
      ws.sendText("2probe");
      await ws.waitText((t) => t === "3probe");
      await ws.waitClosed(2000);
      // After the probe, polls are held again (not released with a noop; p.poll skips pings).
      const held = await Promise.race([p.poll(), sleep(100).then(() => "held")]);
      assert.equal(held, "held");
    }));

  test("allowUpgrades: false offers no upgrade and refuses one; the default client stays on polling and works", () =>
    withServer({ allowUpgrades: false }, async (h) => {
      const p = await RawPolling.open(h.port);
      assert.deepEqual(p.open.upgrades, []);
      await assert.rejects(RawWebSocket.open(h.port, `/socket.io/?EIO=4&transport=websocket&sid=${p.sid}`), /400[\s\S]*"code":3,"message":"Bad request"/);
      const c = defaultClient(h);
      await connected(c);
      const reply = await c
        .timeout(2000)
        .emitWithAck("__missing")
        .catch((e: Error) => e.message);
      assert.equal(reply, "operation has timed out");
      h.io.emit("hi", Buffer.from([1, 2]));
      assert.deepEqual(await once(c, "hi"), [Buffer.from([1, 2])]);
      assert.equal(c.io.engine.transport.name, "polling");
    }));

  test('transports: ["websocket"] serves no polling, transports: ["polling"] no websocket', async () => {
    await withServer({ transports: ["websocket"] }, async (h) => {
      const r = await http(h.port, "GET", POLLING);
      assert.deepEqual([r.status, JSON.parse(r.body).code], [400, 0]);
      assert.ok((await h.connected()).connected);
    });
    await withServer({ transports: ["polling"] }, async (h) => {
      const p = await RawPolling.open(h.port);
      assert.deepEqual(p.open.upgrades, []);
      await assert.rejects(RawWebSocket.open(h.port, "/socket.io/?EIO=4&transport=websocket"), /400[\s\S]*"code":0/);
      const c = defaultClient(h);
      await connected(c);
      assert.equal(c.io.engine.transport.name, "polling");
    });
  });
});

describe("the official client with its default options", () => {
  test("io(url) connects by polling, upgrades to websocket, and events, acks and binary work throughout", () =>
    withServer({}, async (h) => {
      h.io.on("connection", (s) => {
        s.join("room");
        s.on("echo", (x: unknown, ack: (y: unknown) => void) => ack(x));
      });
      const c = defaultClient(h);
      const upgraded = new Promise<string>((resolve) => c.io.on("open", () => c.io.engine.once("upgrade", (t: { name: string }) => resolve(t.name))));
      await connected(c);
      const received: number[] = [];
      c.on("n", (n: number) => received.push(n));
      let n = 0;
      // A stream across the upgrade: nothing lost, duplicated or reordered.
      const timer = setInterval(() => h.io.to("room").emit("n", n++), 2);
      assert.deepEqual(await c.timeout(2000).emitWithAck("echo", { b: Buffer.from([1, 2, 3]) }), { b: Buffer.from([1, 2, 3]) });
      assert.equal(await upgraded, "websocket");
      await sleep(30);
      clearInterval(timer);
      const sent = n;
      assert.deepEqual(await c.timeout(2000).emitWithAck("echo", "after"), "after");
      await until(() => received.length === sent, "every streamed message");
      assert.deepEqual(received, [...Array(sent).keys()]);
      const [socket] = [...h.io.sockets.sockets.values()];
      assert.equal(socket.conn.transport.name, "websocket");
    }));

  test("a polling-only client and a websocket client share rooms; server disconnects reach polling clients", () =>
    withServer({}, async (h) => {
      h.io.on("connection", (s) => s.join("room"));
      const polling = defaultClient(h, { transports: ["polling"] });
      const ws = h.client();
      await Promise.all([connected(polling), connected(ws)]);
      const got = Promise.all([once(polling, "x"), once(ws, "x")]);
      h.io.to("room").emit("x", "both");
      assert.deepEqual(await got, [["both"], ["both"]]);
      const reason = once<[string]>(polling, "disconnect");
      h.io.sockets.sockets.get(polling.id!)!.disconnect();
      assert.equal((await reason)[0], "io server disconnect");
      // Closing the whole connection: the DISCONNECT, then the close packet, go out on the next polls.
      const polling2 = defaultClient(h, { transports: ["polling"] });
      await connected(polling2);
      const closed = once<[string]>(polling2, "disconnect");
      h.io.sockets.sockets.get(polling2.id!)!.disconnect(true);
      assert.equal((await closed)[0], "io server disconnect");
    }));
});

describe("CORS and the session cookie", () => {
  test("cors with an origin and credentials: headers on polls, preflight answered 204", () =>
    withServer({ cors: { origin: "https://app.example", credentials: true } }, async (h) => {
      const hs = await http(h.port, "GET", POLLING, undefined, { Origin: "https://app.example" });
      assert.equal(hs.headers["access-control-allow-origin"], "https://app.example");
      assert.equal(hs.headers["access-control-allow-credentials"], "true");
      assert.equal(hs.headers.vary, "Origin");
      const pre = await http(h.port, "OPTIONS", POLLING, undefined, { Origin: "https://app.example", "Access-Control-Request-Headers": "x-token" });
      assert.equal(pre.status, 204);
      assert.equal(pre.headers["access-control-allow-methods"], "GET,HEAD,PUT,PATCH,POST,DELETE");
      assert.equal(pre.headers["access-control-allow-headers"], "x-token");
      assert.equal(pre.headers.vary, "Origin, Access-Control-Request-Headers");
    }));

  test("cors origin as a list, a RegExp and an async function; without cors, no headers and no preflight", async () => {
    await withServer({ cors: { origin: ["https://a.example", /\.b\.example$/], methods: ["GET", "POST"], allowedHeaders: "x-a", maxAge: 600 } }, async (h) => {
      const a = await http(h.port, "GET", POLLING, undefined, { Origin: "https://a.example" });
      assert.equal(a.headers["access-control-allow-origin"], "https://a.example");
      const b = await http(h.port, "GET", POLLING, undefined, { Origin: "https://x.b.example" });
      assert.equal(b.headers["access-control-allow-origin"], "https://x.b.example");
      const c = await http(h.port, "GET", POLLING, undefined, { Origin: "https://c.example" });
      assert.equal(c.headers["access-control-allow-origin"], undefined);
      const pre = await http(h.port, "OPTIONS", POLLING, undefined, { Origin: "https://a.example" });
      assert.deepEqual(
        [pre.headers["access-control-allow-methods"], pre.headers["access-control-allow-headers"], pre.headers["access-control-max-age"]],
        ["GET,POST", "x-a", "600"],
      );
    });
    await withServer({ cors: { origin: (origin, cb) => setTimeout(() => cb(null, origin === "https://ok.example"), 5) } }, async (h) => {
      const ok = await http(h.port, "GET", POLLING, undefined, { Origin: "https://ok.example" });
      assert.equal(ok.headers["access-control-allow-origin"], "https://ok.example");
      const no = await http(h.port, "GET", POLLING, undefined, { Origin: "https://no.example" });
      assert.equal(no.headers["access-control-allow-origin"], undefined);
    });
    await withServer({}, async (h) => {
      const pre = await http(h.port, "OPTIONS", POLLING, undefined, { Origin: "https://a.example" });
      assert.deepEqual([pre.status, JSON.parse(pre.body).code], [400, 2]);
    });
  });

  test("cookie: the session id in Set-Cookie on the polling and the websocket handshake", () =>
    withServer({ cookie: true }, async (h) => {
      const hs = await http(h.port, "GET", POLLING);
      const sid = JSON.parse(hs.body.slice(1)).sid;
      assert.deepEqual(hs.headers["set-cookie"], [`io=${sid}; Path=/; HttpOnly; SameSite=Lax`]);
      const raw = await new Promise<string>((resolve, reject) => {
        const req = request({
          host: "127.0.0.1",
          port: h.port,
          path: "/socket.io/?EIO=4&transport=websocket",
          headers: { Connection: "Upgrade", Upgrade: "websocket", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==" },
        });
        req.on("upgrade", (res, socket) => {
          socket.destroy();
          resolve(String(res.headers["set-cookie"]));
        });
        req.on("error", reject);
        req.end();
      });
      assert.match(raw, /^io=[\w-]{20,}; Path=\/; HttpOnly; SameSite=Lax$/);
    }));
});

test("a polling client that stops polling while broadcasts pile up is dropped at maxBackpressure", () =>
  withServer({ maxBackpressure: 10_000 }, async (h) => {
    const { p, socket } = await connectedPolling(h);
    const gone = once<[string]>(socket, "disconnect");
    for (let i = 0; i < 100; i++) h.io.emit("fill", "x".repeat(200));
    assert.deepEqual(await gone, ["transport error"]);
    const after = await http(h.port, "GET", p.path);
    assert.deepEqual([after.status, JSON.parse(after.body).code], [400, 1]);
  }));

/** A poll with Accept-Encoding, its body as bytes. */
function rawPoll(port: number, path: string, acceptEncoding: string): Promise<{ encoding: string | undefined; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, agent: false, headers: { "Accept-Encoding": acceptEncoding } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (d: Buffer) => chunks.push(d));
      res.on("end", () => resolve({ encoding: res.headers["content-encoding"], body: Buffer.concat(chunks) }));
    });
    req.setTimeout(5000, () => req.destroy(new Error("no answer")));
    req.on("error", reject);
    req.end();
  });
}

test("httpCompression: large poll answers gzipped for clients that accept it, small ones and refusers plain", async () => {
  for (const opts of [{}, { httpCompression: false }] as ServerOptions[]) {
    await withServer(opts, async (h) => {
      const { p, socket } = await connectedPolling(h);
      const big = "y".repeat(4000);
      socket.emit("big", big);
      const large = await rawPoll(h.port, p.path, "gzip, deflate, br");
      socket.emit("small", 1);
      const small = await rawPoll(h.port, p.path, "gzip");
      socket.emit("big", big);
      const refused = await rawPoll(h.port, p.path, "gzip;q=0, identity");
      const on = opts.httpCompression !== false;
      assert.equal(large.encoding, on ? "gzip" : undefined);
      assert.equal((on ? gunzipSync(large.body) : large.body).toString(), `42["big","${big}"]`);
      assert.ok(!on || large.body.length < 200, "compressed");
      assert.deepEqual([small.encoding, small.body.toString()], [undefined, '42["small",1]']);
      assert.deepEqual([refused.encoding, refused.body.length > 4000], [undefined, true]);
    });
  }
});
