// Operations: health and readiness, Prometheus metrics (names, per-path counts, protection,
// separate listener), exclusive listening, TLS, trusted proxies and permessage-deflate, through
// HTTP and the wire with the real uWS binding and socket.io-client.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { connect } from "node:net";
import { join } from "node:path";
import { inflateRawSync } from "node:zlib";
import { io as connectClient } from "socket.io-client";
import { createClusterAdapter, operations, Relay, Server } from "../../src/index.ts";
import { once, settle, startServer, withServer } from "../helpers/server.ts";
import { EIO_PATH, RawWebSocket } from "../helpers/raw-ws.ts";
import { freePort } from "../helpers/process.ts";
import { until } from "../helpers/wait.ts";

const get = async (url: string, headers: Record<string, string> = {}) => {
  const r = await fetch(url, { headers });
  return { status: r.status, text: await r.text(), type: r.headers.get("content-type") ?? "" };
};

/** The value of a sample line `name{labels} value` in Prometheus text. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(series + " "));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test("/healthz answers while the process runs; /readyz while listening, 503 once closing", async () => {
  const ops = operations();
  await withServer({ operations: ops, logger: "silent" }, async (h) => {
    assert.deepEqual(await get(h.url + "/healthz"), { status: 200, text: '{"status":"ok"}', type: "application/json" });
    const ready = await get(h.url + "/readyz");
    assert.equal(ready.status, 200);
    assert.deepEqual(JSON.parse(ready.text), { listening: true, draining: false });
    ops.drain();
    assert.equal((await get(h.url + "/readyz")).status, 503);
  });
});

test("/readyz follows the cluster link: 503 while the relay is unreachable, 200 once connected", async () => {
  const relayPort = await freePort();
  const io = new Server({
    adapter: createClusterAdapter({ servers: `nats://127.0.0.1:${relayPort}`, log: () => {} }),
    operations: operations(),
    logger: "silent",
  });
  const port = await io.listen(0, "127.0.0.1");
  const relay = new Relay();
  try {
    const before = await get(`http://127.0.0.1:${port}/readyz`);
    assert.equal(before.status, 503);
    assert.deepEqual(JSON.parse(before.text).cluster, { linkUp: false });
    await relay.listen(relayPort, "127.0.0.1");
    let status = 0;
    for (let i = 0; i < 100 && status !== 200; i++) {
      status = (await get(`http://127.0.0.1:${port}/readyz`)).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(status, 200);
    const metrics = await get(`http://127.0.0.1:${port}/metrics`);
    assert.equal(metrics.status, 404, "metrics are opt-in");
  } finally {
    await io.close();
    await relay.close();
  }
});

test("metrics: Prometheus text with connections, rooms, per-path broadcasts counted per broadcast, refusals and disconnects", async () => {
  await withServer({ operations: operations({ metrics: true, token: "s3cret" }), allowedOrigins: ["https://ok.example"], logger: "silent" }, async (h) => {
    h.io.on("connection", (s) => {
      s.join("lobby");
      if (s.handshake.auth.extra) s.join("vip");
    });
    const a = await h.connected("/", { auth: { extra: true } });
    const b = await h.connected();
    const c = await h.connected();
    assert.equal((await get(h.url + "/metrics")).status, 401);
    assert.equal((await get(h.url + "/metrics?token=wrong")).status, 401);

    h.io.to("lobby").emit("tick", 1); // native: 3 recipients
    h.io.to("lobby").except("vip").emit("tick", 2); // per socket: 2 recipients
    await settle(a, b, c);
    await assert.rejects(RawWebSocket.open(h.port, EIO_PATH, { Origin: "https://evil.example" }), /403/);
    c.disconnect();
    await until(() => h.io.engineEndpoint.clientsCount === 2, "2 clients");

    const m = await get(h.url + "/metrics", { Authorization: "Bearer s3cret" });
    assert.equal(m.status, 200);
    assert.match(m.type, /text\/plain/);
    const t = m.text;
    assert.equal(sample(t, 'roomgate_connections{transport="websocket"}'), 2);
    assert.equal(sample(t, "roomgate_connections_opened_total"), 3);
    assert.equal(sample(t, "roomgate_namespaces"), 1);
    assert.equal(sample(t, 'roomgate_rooms{namespace="/"}'), 2);
    assert.equal(sample(t, 'roomgate_room_sockets_bucket{le="1"}'), 1); // vip
    assert.equal(sample(t, 'roomgate_room_sockets_bucket{le="2"}'), 2); // lobby (2 left)
    assert.equal(sample(t, "roomgate_room_sockets_count"), 2);
    assert.equal(sample(t, 'roomgate_broadcasts_total{path="native"}'), 1);
    assert.equal(sample(t, 'roomgate_deliveries_total{path="native"}'), 3);
    assert.equal(sample(t, 'roomgate_broadcasts_total{path="per_socket"}'), 1);
    assert.equal(sample(t, 'roomgate_deliveries_total{path="per_socket"}'), 2);
    assert.ok(sample(t, 'roomgate_bytes_out_total{path="native"}')! >= 3 * '42["tick",1]'.length);
    assert.equal(sample(t, 'roomgate_handshakes_refused_total{reason="forbidden",cause="origin"}'), 1);
    assert.equal(sample(t, 'roomgate_disconnects_total{reason="transport close"}'), 1);
    assert.equal(sample(t, "roomgate_acks_timed_out_total"), 0);
    assert.equal(sample(t, "roomgate_backpressure_dropped_total"), 0);
    assert.match(t, /^nodejs_eventloop_lag_p99_seconds /m);
    assert.match(t, /^process_cpu_seconds_total /m);
    assert.doesNotMatch(t, /roomgate_cluster_/, "no cluster metrics on a standalone server");
  });
});

/** A raw session that has connected the main namespace. */
async function rawConnected(port: number, path = EIO_PATH, localAddress?: string): Promise<RawWebSocket> {
  const ws = await RawWebSocket.open(port, path, {}, localAddress);
  await ws.waitText((t) => t.startsWith("0{"));
  ws.sendText("40");
  await ws.waitText((t) => t.startsWith("40{"));
  return ws;
}

test("metrics: every limit hit (connections, per address, allowRequest deadline, inbound budget, backpressure cut, rooms), refusals by cause", async () => {
  const h = await startServer({
    operations: operations({ metrics: true }),
    allowedOrigins: ["https://ok.example"],
    allowRequest: (req, cb) => {
      if (req.query.mode === "hang") return; // never calls back
      cb(req.query.mode === "no" ? "no" : null, req.query.mode !== "no");
    },
    allowRequestTimeout: 100,
    maxConnections: 3,
    maxConnectionsPerIp: 2,
    inboundRateLimit: { events: 20, interval: 60_000 },
    maxBackpressure: 64 * 1024,
    maxRoomsPerSocket: 3,
    maxRoomNameLength: 16,
    logger: "silent",
  });
  const open: RawWebSocket[] = [];
  try {
    const sockets: import("../../src/index.ts").Socket[] = [];
    h.io.on("connection", (s) => sockets.push(s));
    const scrape = async () => (await get(h.url + "/metrics")).text;
    const before = await scrape();
    assert.equal(sample(before, 'roomgate_limits_hit_total{limit="maxConnections"}'), 0, "every limit's series exists before its first hit");
    assert.equal(sample(before, "roomgate_backpressure_cut_total"), 0);

    // Refusals the endpoint knows more of than Engine.IO's code.
    await assert.rejects(RawWebSocket.open(h.port, EIO_PATH, { Origin: "https://evil.example" }), /403/);
    await assert.rejects(RawWebSocket.open(h.port, EIO_PATH + "&mode=no"), /403/);
    await assert.rejects(RawWebSocket.open(h.port, EIO_PATH + "&mode=hang"), /503/);
    await assert.rejects(RawWebSocket.open(h.port, "/socket.io/?EIO=3&transport=websocket"), /400/);

    // A flood over the inbound budget: cut.
    const flood = await rawConnected(h.port);
    for (let i = 0; i < 30; i++) flood.sendText(`42["flood",${i}]`);
    await flood.waitClosed();

    // A consumer that stops reading: cut for backpressure (bounded; its close frame is limits.test.ts's
    // concern). Small batches: each flush stays far below uWS's own cut, which sends no close frame.
    const slow = await rawConnected(h.port);
    await until(() => sockets.filter((s) => s.connected).length === 1, "one connected socket");
    const victim = sockets.find((s) => s.connected)!;
    slow.pause();
    const chunk = "y".repeat(16 * 1024);
    for (let i = 0; i < 4000 && victim.connected; i++) {
      victim.emit("bulk", chunk);
      if (i % 10 === 9) await new Promise((r) => setImmediate(r));
    }
    await until(() => !victim.connected, "the slow consumer to be cut", 10_000);
    slow.destroy();
    await until(() => h.io.engineEndpoint.clientsCount === 0, "both cut sessions to be forgotten");

    // Connection limits: 2 per address, 3 in all.
    open.push(await rawConnected(h.port, EIO_PATH, "127.0.0.1"), await rawConnected(h.port, EIO_PATH, "127.0.0.1"));
    await assert.rejects(RawWebSocket.open(h.port, EIO_PATH, {}, "127.0.0.1"), /503/);
    open.push(await rawConnected(h.port, EIO_PATH, "127.0.0.2"));
    await assert.rejects(RawWebSocket.open(h.port, EIO_PATH, {}, "127.0.0.3"), /503/);

    // Room limits, through the API.
    await until(() => sockets.filter((s) => s.connected).length === 3, "three connected sockets");
    const s = sockets.find((x) => x.connected)!;
    assert.throws(() => s.join(["a", "b", "c"]), RangeError);
    assert.throws(() => s.join("r".repeat(17)), TypeError);
    assert.throws(() => s.join(""), TypeError, "an empty name is invalid, not a limit hit");

    const t = await scrape();
    const limit = (name: string) => sample(t, `roomgate_limits_hit_total{limit="${name}"}`);
    assert.deepEqual(
      ["maxConnections", "maxConnectionsPerIp", "allowRequestTimeout", "inboundRateLimit", "maxBackpressure", "maxRoomsPerSocket", "maxRoomNameLength"].map(
        limit,
      ),
      [1, 1, 1, 1, 1, 1, 1],
    );
    assert.equal(sample(t, "roomgate_backpressure_cut_total"), 1);
    const refused = (reason: string, cause: string) => sample(t, `roomgate_handshakes_refused_total{reason="${reason}",cause="${cause}"}`);
    assert.equal(refused("forbidden", "origin"), 1);
    assert.equal(refused("forbidden", "allow_request"), 1);
    assert.equal(refused("service_unavailable", "allow_request_timeout"), 1);
    assert.equal(refused("service_unavailable", "max_connections_per_ip"), 1);
    assert.equal(refused("service_unavailable", "max_connections"), 1);
    assert.equal(refused("unsupported_protocol_version", "protocol"), 1);
    assert.equal(sample(t, 'roomgate_disconnects_total{reason="rate limit exceeded"}'), 1);
  } finally {
    for (const ws of open) ws.destroy();
    await h.close();
  }
});

test("metrics on their own address: not served on the clients' port", async () => {
  const ops = operations({ metrics: { path: "/m" }, port: 0 });
  await withServer({ operations: ops, logger: "silent" }, async (h) => {
    assert.ok(ops.port! > 0);
    const m = await get(`http://127.0.0.1:${ops.port}/m`);
    assert.equal(m.status, 200);
    assert.match(m.text, /roomgate_connections\{transport="websocket"\} 0/);
    assert.equal((await get(h.url + "/m")).status, 404);
    assert.equal((await get(h.url + "/healthz")).status, 200);
  });
  // Closed with the server: a new connection is refused.
  await assert.rejects(new Promise((resolve, reject) => connect(ops.port!, "127.0.0.1").on("connect", resolve).on("error", reject)), /ECONNREFUSED/);
});

test("a second server on the same port fails to listen, clearly; reusePort shares it on purpose", async () => {
  const first = new Server({ logger: "silent" });
  const port = await first.listen(0, "127.0.0.1");
  const second = new Server({ logger: "silent" });
  try {
    await assert.rejects(second.listen(port, "127.0.0.1"), /cannot listen on 127\.0\.0\.1:\d+ \(address in use \(by another gateway\?\)/);
  } finally {
    await first.close();
    await second.close();
  }
  const a = new Server({ reusePort: true, logger: "silent" });
  const b = new Server({ reusePort: true, logger: "silent" });
  try {
    const p = await freePort(); // the kernel shares a fixed port, not an ephemeral one
    assert.equal(await a.listen(p, "127.0.0.1"), p);
    assert.equal(await b.listen(p, "127.0.0.1"), p);
  } finally {
    await a.close();
    await b.close();
  }
});

test("TLS: wss:// with a self-signed certificate (encrypted key), handshake.secure true", async () => {
  const dir = mkdtempSync(join(tmpdir(), "roomgate-tls-"));
  const key = join(dir, "key.pem");
  const cert = join(dir, "cert.pem");
  execFileSync(
    "openssl",
    ["req", "-x509", "-newkey", "rsa:2048", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1", "-passout", "pass:pw"],
    {
      stdio: "ignore",
    },
  );
  assert.throws(() => new Server({ tls: { key: join(dir, "missing.pem"), cert } }), /tls\.key file .*missing\.pem cannot be read/);
  const io = new Server({ tls: { key, cert, passphrase: "pw" }, logger: "silent" });
  const port = await io.listen(0, "127.0.0.1");
  const client = connectClient(`https://127.0.0.1:${port}`, { transports: ["websocket"], rejectUnauthorized: false, reconnection: false, forceNew: true });
  try {
    const [socket] = await once<[import("../../src/index.ts").Socket]>(io, "connection", 5000);
    assert.equal(socket.handshake.secure, true);
    await once(client, "connect");
  } finally {
    client.disconnect();
    await io.close();
  }
});

test("trustProxy: address and scheme from X-Forwarded-For / -Proto; ignored without it", async () => {
  for (const trustProxy of [true, false]) {
    await withServer({ trustProxy, logger: "silent" }, async (h) => {
      const seen = once<[import("../../src/index.ts").Socket]>(h.io, "connection");
      await h.connected("/", { extraHeaders: { "X-Forwarded-For": "203.0.113.7, 10.0.0.1", "X-Forwarded-Proto": "https" } });
      const [socket] = await seen;
      assert.equal(socket.handshake.address, trustProxy ? "203.0.113.7" : "127.0.0.1");
      assert.equal(socket.handshake.secure, trustProxy);
    });
  }
});

test("perMessageDeflate: large frames go compressed, compress(false) and small frames do not; off by default", async () => {
  const big = "x".repeat(4000);
  for (const on of [true, false]) {
    await withServer({ perMessageDeflate: on ? { threshold: 1024 } : undefined, logger: "silent" }, async (h) => {
      h.io.on("connection", (s) => {
        s.join("r");
        s.on("go", () => {
          h.io.to("r").emit("big", big); // native publish
          h.io.to("r").compress(false).emit("plain", big);
          s.emit("small", "hi");
          s.emit("own", big); // per socket
          s.compress(false).emit("ownplain", big);
          h.io.compress(false).emit("allplain", big); // the whole namespace, uncompressed
        });
      });
      const ws = await RawWebSocket.open(h.port, EIO_PATH, { "Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits" });
      ws.sendText("40");
      await ws.waitText((t) => t.startsWith("40{"));
      ws.sendText('42["go"]');
      // Pings left out: the heartbeat's first ping comes at a random point of its interval.
      const frames = () => ws.frames.filter((f) => f.rsv1 || f.data.toString() !== "2");
      await ws.waitFor(() => frames().length >= 8, 3000, "six events");
      const events = frames()
        .slice(-6)
        .map((f) => {
          const text = f.rsv1 ? inflateRawSync(Buffer.concat([f.data, Buffer.from([0, 0, 0xff, 0xff])]), { finishFlush: 2 }).toString() : f.data.toString();
          return [JSON.parse(text.slice(2))[0], f.rsv1];
        });
      assert.deepEqual(events, [
        ["big", on],
        ["plain", false],
        ["small", false],
        ["own", on],
        ["ownplain", false],
        ["allplain", false],
      ]);
      ws.destroy();
    });
  }
});
