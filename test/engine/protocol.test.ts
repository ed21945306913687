// The wire: Engine.IO handshake and heartbeat, Socket.IO packets, and bad input. Raw WebSocket
// frames where socket.io-client would never send them; every other client keeps working.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { inspect } from "node:util";
import { request } from "node:http";
import { RawWebSocket, EIO_PATH } from "../helpers/raw-ws.ts";
import { startServer, once, type Harness, withServer } from "../helpers/server.ts";
import { until } from "../helpers/wait.ts";

function httpGet(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, headers }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode!, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

async function rawSession(h: Harness): Promise<RawWebSocket> {
  const ws = await RawWebSocket.open(h.port, EIO_PATH);
  await ws.waitText((t) => t.startsWith("0{"));
  return ws;
}

/** A raw session connected to the main namespace; resolves with the socket id. */
async function rawConnected(h: Harness): Promise<{ ws: RawWebSocket; sid: string }> {
  const ws = await rawSession(h);
  ws.sendText("40");
  const reply = await ws.waitText((t) => t.startsWith("40"));
  return { ws, sid: JSON.parse(reply.slice(2)).sid };
}

/** The server still serves a well-behaved client after whatever a bad one did. */
async function stillServes(h: Harness): Promise<void> {
  const c = await h.connected();
  const answer = once(c, "pong");
  h.io.sockets.sockets.get(c.id!)!.emit("pong", "ok");
  assert.deepEqual(await answer, ["ok"]);
  c.disconnect();
}

describe("handshake", () => {
  test("open packet carries sid, no upgrades, heartbeat settings and maxPayload", async () => {
    await withServer({ pingInterval: 1234, pingTimeout: 567, maxPayload: 4096 }, async (h) => {
      const ws = await rawSession(h);
      const open = JSON.parse(ws.texts()[0].slice(1));
      assert.equal(typeof open.sid, "string");
      assert.ok(open.sid.length >= 20);
      assert.deepEqual({ ...open, sid: "x" }, { sid: "x", upgrades: [], pingInterval: 1234, pingTimeout: 567, maxPayload: 4096 });
      ws.sendText("40");
      const reply = await ws.waitText((t) => t.startsWith("40"));
      assert.match(reply, /^40\{"sid":"[\w-]{20,}"\}$/);
      ws.destroy();
    });
  });

  test("wrong EIO, missing transport, unknown sid and a disabled transport get a clear HTTP 400 JSON error", async () => {
    await withServer({ transports: ["websocket"] }, async (h) => {
      await assert.rejects(RawWebSocket.open(h.port, "/socket.io/?EIO=3&transport=websocket"), /400[\s\S]*"code":5,"message":"Unsupported protocol version"/);
      await assert.rejects(RawWebSocket.open(h.port, "/socket.io/?EIO=4"), /400[\s\S]*"message":"Transport unknown"/);
      await assert.rejects(RawWebSocket.open(h.port, "/socket.io/?EIO=4&transport=websocket&sid=abc"), /400[\s\S]*"code":1,"message":"Session ID unknown"/);
      const polling = await httpGet(h.port, "/socket.io/?EIO=4&transport=polling");
      assert.equal(polling.status, 400);
      assert.equal(JSON.parse(polling.body).message, "Transport unknown");
      assert.match(JSON.parse(polling.body).detail, /websocket/);
      await stillServes(h);
    });
  });

  test("allowRequest decides asynchronously; a refusal is a 403 with the reason", async () => {
    const h = await startServer({
      allowRequest: (req, cb) => setTimeout(() => (req.query.token === "good" ? cb(null, true) : cb("bad token", false)), 10),
    });
    try {
      await assert.rejects(RawWebSocket.open(h.port, EIO_PATH + "&token=nope"), /403[\s\S]*"detail":"bad token"/);
      const c = await h.connected("/", { query: { token: "good" } });
      assert.equal(c.connected, true);
      const refused = h.client("/", { query: { token: "bad" } });
      const [err] = await once<[Error]>(refused, "connect_error");
      assert.ok(err instanceof Error);
    } finally {
      await h.close();
    }
  });

  test("allowedOrigins refuses other browser origins", async () => {
    await withServer({ allowedOrigins: ["https://app.example"] }, async (h) => {
      await assert.rejects(RawWebSocket.open(h.port, EIO_PATH, { Origin: "https://evil.example" }), /403/);
      const ok = await RawWebSocket.open(h.port, EIO_PATH, { Origin: "https://app.example" });
      await ok.waitText((t) => t.startsWith("0{"));
      ok.destroy();
    });
  });

  test("the handshake reaches the socket: headers, query, auth, address, time, url", async () => {
    await withServer({}, async (h) => {
      const seen = once<[import("../../src/index.ts").Socket]>(h.io, "connection");
      await h.connected("/", { query: { room: "lobby" }, auth: { token: "t1" }, extraHeaders: { "x-test": "yes" } });
      const [s] = await seen;
      assert.equal(s.handshake.query.room, "lobby");
      assert.deepEqual(s.handshake.auth, { token: "t1" });
      assert.equal(s.handshake.headers["x-test"], "yes");
      assert.match(s.handshake.address, /127\.0\.0\.1/);
      assert.match(s.handshake.url, /^\/socket\.io\/\?.*room=lobby/);
      assert.ok(Date.now() - s.handshake.issued < 5000);
      assert.equal(s.handshake.time, new Date(s.handshake.issued).toString());
      assert.equal(JSON.parse(JSON.stringify(s.handshake)).time, s.handshake.time, "time survives serialization");
      assert.equal(s.handshake.secure, false);
      assert.equal(s.handshake.xdomain, false);
      // Logged, it looks like Socket.IO's plain handshake object, not its internals.
      const logged = inspect(s.handshake);
      for (const field of ["headers", "query", "auth", "address", "time", "issued", "url", "secure", "xdomain"])
        assert.match(logged, new RegExp(`\\b${field}:`));
      assert.doesNotMatch(logged, /authData|UpgradeRequest/);
    });
  });
});

describe("heartbeat and timeouts", () => {
  test("a burst of sessions is not pinged all at once; a silent session is still closed", async () => {
    // 4 s interval = 40 buckets of 100 ms; a session's first ping comes up to 10 % of the interval
    // early (4 buckets, src/engine/heartbeat.ts): 40 sessions made together spread over them (all in
    // fewer than 3 of the 4: a 1e-11 chance). Pings of different buckets leave >= 100 ms apart.
    await withServer({ pingInterval: 4000, pingTimeout: 300 }, async (h) => {
      const t0 = Date.now();
      const sessions = await Promise.all(Array.from({ length: 40 }, () => rawSession(h)));
      const firstPing = await Promise.all(sessions.map((ws) => ws.waitText((t) => t === "2", 8000).then(() => Date.now() - t0)));
      const buckets = new Set(firstPing.map((ms) => Math.floor(ms / 100)));
      assert.ok(buckets.size >= 3, `first pings fell into ${buckets.size} 100-ms windows: ${firstPing.sort((a, b) => a - b).join(",")}`);
      // None answered: each is closed within pingTimeout of its ping (well inside interval + timeout).
      await Promise.all(sessions.map((ws) => ws.waitClosed(3000)));
      assert.ok(sessions.every((ws) => ws.closeReason === "ping timeout"));
    });
  });

  test("server pings; a client that answers stays, one that never pongs is closed", async () => {
    await withServer({ pingInterval: 60, pingTimeout: 60 }, async (h) => {
      const good = await h.connected();
      const silent = await rawSession(h);
      silent.sendText("40");
      const reasons: string[] = [];
      h.io.on("connection", (s) => s.on("disconnect", (r) => reasons.push(r)));
      await silent.waitText((t) => t === "2");
      await silent.waitClosed(2000);
      assert.equal(silent.closeReason, "ping timeout");
      // Several ping cycles: counted on the client (the Manager's "ping" event), not slept through.
      let pings = 0;
      good.io.on("ping", () => pings++);
      await until(() => pings >= 3, "three pings answered by the good client");
      assert.equal(good.connected, true, "a client that answers pings stays connected");
    });
  });

  test("a connection that never connects a namespace is closed after connectTimeout", async () => {
    await withServer({ connectTimeout: 80 }, async (h) => {
      const ws = await rawSession(h);
      await ws.waitClosed(2000);
      assert.match(ws.closeReason, /connectTimeout/);
      await stillServes(h);
    });
  });
});

describe("bad input closes only the offending connection", () => {
  // [case, what the client sends, the close reason (null: uWS itself drops the connection)]
  const cases: Array<[string, (ws: RawWebSocket) => void, RegExp | null]> = [
    ["unknown Engine.IO type", (ws) => ws.sendText("9hello"), /unknown Engine.IO packet type/],
    ["unknown Socket.IO type", (ws) => ws.sendText("49[]"), /invalid packet type/],
    ["invalid JSON", (ws) => ws.sendText('42["ev",'), /invalid JSON/],
    ["EVENT with no event name", (ws) => ws.sendText("42[]"), /invalid EVENT payload/],
    ["EVENT with a non-array payload", (ws) => ws.sendText('42{"a":1}'), /invalid EVENT payload/],
    ["ACK without id", (ws) => ws.sendText("43[1]"), /invalid ACK packet/],
    ["EVENT before CONNECT on a namespace", (ws) => ws.sendText('42/other,["ev"]'), /before CONNECT/],
    // Socket.IO's parser refuses reserved names: a client must not run the app's disconnect handler.
    ["an EVENT named disconnect", (ws) => ws.sendText('42["disconnect","transport close"]'), /reserved event name "disconnect"/],
    ["an EVENT named newListener", (ws) => ws.sendText('42["newListener","x"]'), /reserved event name "newListener"/],
    ["binary frame with no binary packet pending", (ws) => ws.sendBinary(Buffer.from([1, 2])), /without a pending binary packet/],
    [
      "bad binary placeholder",
      (ws) => (ws.sendText('451-["ev",{"_placeholder":true,"num":7}]'), ws.sendBinary(Buffer.from([1]))),
      /invalid binary placeholder/,
    ],
    ["attachment count without placeholder", (ws) => (ws.sendText('451-["ev",1]'), ws.sendBinary(Buffer.from([1]))), /attachment without placeholder/],
    [
      "text frame while attachments are pending",
      (ws) => (ws.sendText('451-["ev",{"_placeholder":true,"num":0}]'), ws.sendText('42["ev"]')),
      /attachments are pending/,
    ],
    ["invalid UTF-8", (ws) => ws.sendFrame(1, Buffer.from([0x34, 0x32, 0xff, 0xfe])), null],
  ];
  for (const [name, send, reason] of cases) {
    test(name, async () => {
      await withServer({}, async (h) => {
        const { ws } = await rawConnected(h);
        send(ws);
        await ws.waitClosed(2000);
        if (reason) {
          assert.equal(ws.closeCode, 1002);
          assert.match(ws.closeReason, reason);
        }
        await stillServes(h);
      });
    });
  }

  test("the server-side socket sees 'parse error' as its disconnect reason", async () => {
    await withServer({}, async (h) => {
      const connected = once<[import("../../src/index.ts").Socket]>(h.io, "connection");
      const { ws } = await rawConnected(h);
      const [s] = await connected;
      const reason = once<[string]>(s, "disconnect");
      ws.sendText('42["ev",');
      assert.deepEqual(await reason, ["parse error"]);
    });
  });

  test("a frame over maxPayload closes the connection", async () => {
    await withServer({ maxPayload: 1000 }, async (h) => {
      const { ws } = await rawConnected(h);
      ws.sendText('42["big","' + "x".repeat(2000) + '"]');
      await ws.waitClosed(2000);
      await stillServes(h);
    });
  });

  test("attachments of one packet together over maxPayload close the connection", async () => {
    await withServer({ maxPayload: 1000 }, async (h) => {
      const { ws } = await rawConnected(h);
      ws.sendText('453-["ev",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1},{"_placeholder":true,"num":2}]');
      for (let i = 0; i < 3; i++) ws.sendBinary(Buffer.alloc(600));
      await ws.waitClosed(2000);
      assert.match(ws.closeReason, /exceed maxPayload/);
      await stillServes(h);
    });
  });

  test("an unknown namespace gets CONNECT_ERROR 'Invalid namespace' and the session stays", async () => {
    await withServer({}, async (h) => {
      const c = h.client("/nope");
      const [err] = await once<[Error]>(c, "connect_error");
      assert.equal(err.message, "Invalid namespace");
      const { ws } = await rawConnected(h);
      ws.sendText("40/nope,");
      assert.equal(await ws.waitText((t) => t.startsWith("44")), '44/nope,{"message":"Invalid namespace"}');
      assert.equal(ws.closed, false);
      await stillServes(h);
    });
  });

  test("a client DISCONNECT for one namespace leaves the others connected", async () => {
    const h = await startServer();
    h.io.of("/chat");
    try {
      const { ws } = await rawConnected(h);
      ws.sendText("40/chat,");
      await ws.waitText((t) => t.startsWith("40/chat,"));
      assert.equal(h.io.of("/chat").sockets.size, 1);
      ws.sendText("41/chat,");
      await until(() => h.io.of("/chat").sockets.size === 0, "the /chat socket to leave");
      assert.equal(h.io.sockets.sockets.size, 1);
      ws.destroy();
    } finally {
      await h.close();
    }
  });
});
