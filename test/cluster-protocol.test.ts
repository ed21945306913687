// The cluster wire format: subject tokens, the payload envelope, the duplicate filter; and the
// relay link's behaviour when the relay is not there yet.
import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeMessage, DuplicateFilter, encodeMessage, Subjects, token, type BroadcastMessage } from "../src/cluster/protocol.ts";
import { Emitter, Relay, Server } from "../src/index.ts";
import clusterApp from "./helpers/cluster-app.ts";
import { connect, freePort, op, received, until } from "./helpers/cluster.ts";

test("subject tokens: any room or namespace name becomes one safe, distinct token", () => {
  const names = ["a", "a.b", "a b", "*", ">", "a.*.>", "ünï ☃", "\t\n", "x".repeat(1024), "/", "/admin"];
  const tokens = names.map(token);
  for (const t of tokens) assert.match(t, /^[A-Za-z0-9_-]+$/);
  assert.equal(new Set(tokens).size, names.length);
  for (let i = 0; i < names.length; i++) assert.equal(Buffer.from(tokens[i]!, "base64url").toString("utf8"), names[i]);
  const s = new Subjects();
  assert.equal(s.room("/", "a.b"), "roomgate.Lw.r.YS5i");
  assert.equal(s.all("/admin"), "roomgate.L2FkbWlu.all");
  assert.equal(s.requests("/"), "roomgate.Lw.req");
  assert.equal(s.heartbeat, "roomgate.hb");
  assert.equal(new Subjects("app.rg").node("00ff"), "app.rg.n.00ff");
  assert.throws(() => new Subjects("bad prefix"), TypeError);
  assert.throws(() => new Subjects("a.>"), TypeError);
});

const broadcast = (data: unknown[]): BroadcastMessage => ({ v: 1, type: "broadcast", origin: "o", seq: 7, nsp: "/", rooms: ["r"], except: [], data });

test("envelope: plain JSON without binaries", () => {
  const msg = broadcast(["ev", 1, "two", { three: [3] }, null]);
  const bytes = encodeMessage(msg);
  assert.equal(bytes[0], 0x7b);
  assert.deepEqual(JSON.parse(Buffer.from(bytes).toString()), msg);
  assert.deepEqual(decodeMessage(bytes), msg);
});

test("envelope: binary values anywhere come back as Buffers in their place", () => {
  const ab = new Uint8Array([9, 8, 7]).buffer;
  const view = new Uint16Array([1, 65535]);
  const msg = broadcast(["bin", Buffer.from("hello"), { deep: [ab, { v: view }] }, Buffer.alloc(0), new Date(0)]);
  const bytes = encodeMessage(msg);
  assert.equal(bytes[0], 0);
  const out = decodeMessage(bytes) as BroadcastMessage;
  const [ev, b, o, empty, date] = out.data as [string, Buffer, { deep: [Buffer, { v: Buffer }] }, Buffer, string];
  assert.equal(ev, "bin");
  assert.ok(Buffer.isBuffer(b));
  assert.equal(b.toString(), "hello");
  assert.deepEqual([...o.deep[0]], [9, 8, 7]);
  assert.deepEqual([...o.deep[1].v], [...new Uint8Array(view.buffer)]);
  assert.equal(empty.length, 0);
  assert.equal(date, "1970-01-01T00:00:00.000Z");
  // A sub-view of a larger buffer carries only its own bytes.
  const big = Buffer.from("0123456789");
  const sub = decodeMessage(encodeMessage(broadcast([big.subarray(2, 5)]))) as BroadcastMessage;
  assert.equal((sub.data[0] as Buffer).toString(), "234");
});

test("envelope: malformed payloads are rejected, not half-decoded", () => {
  const good = encodeMessage(broadcast(["x", Buffer.from("abc")]));
  for (const bad of [new Uint8Array(0), good.subarray(0, 5), good.subarray(0, good.length - 1), Buffer.from("[1,2]"), Buffer.from("{}"), Buffer.from("nope"), Buffer.from("{bad json")]) {
    assert.throws(() => decodeMessage(bad));
  }
  // A placeholder pointing at a missing attachment.
  const json = Buffer.from(JSON.stringify(broadcast([{ _placeholder: true, num: 3 }])));
  const framed = Buffer.alloc(9 + json.length + 5);
  framed[0] = 0;
  framed.writeUInt32BE(1, 1);
  framed.writeUInt32BE(json.length, 5);
  json.copy(framed, 9);
  framed.writeUInt32BE(1, 9 + json.length);
  assert.throws(() => decodeMessage(framed), /missing attachment/);
});

test("duplicate filter: once per (origin, seq), reordering within the window, bounded memory", () => {
  const f = new DuplicateFilter(3, 1000);
  assert.equal(f.accept("a", 1, 0), true);
  assert.equal(f.accept("a", 1, 0), false);
  assert.equal(f.accept("a", 2, 0), true);
  assert.equal(f.accept("a", 2, 0), false);
  assert.equal(f.accept("a", 5, 0), true); // gap: 3 and 4 lost or late
  assert.equal(f.accept("a", 4, 0), true); // late but new
  assert.equal(f.accept("a", 4, 0), false);
  assert.equal(f.accept("a", 5, 0), false);
  assert.equal(f.accept("a", 5000, 0), true);
  assert.equal(f.accept("a", 5, 0), false, "older than the window: treated as seen");
  assert.equal(f.accept("a", 4999, 0), true);
  assert.equal(f.accept("b", 1, 0), true, "origins are independent");
  assert.equal(f.accept("c", 1, 0), true);
  assert.equal(f.accept("d", 1, 10), true);
  assert.ok(f.size <= 3);
  f.evict(5000);
  assert.equal(f.size, 0, "idle origins are forgotten");
});

test("a worker and an emitter started before the relay connect when it comes up", { timeout: 20_000 }, async () => {
  const port = await freePort();
  const url = `nats://127.0.0.1:${port}`;
  const logs: string[] = [];
  const log = (level: string, m: string) => logs.push(`${level} ${m}`);
  const io = new Server({ cluster: { servers: url, heartbeatInterval: 200, log } });
  const io2 = new Server({ cluster: { servers: [url], heartbeatInterval: 200, log: () => {} } });
  clusterApp(io, "early");
  clusterApp(io2, "early2");
  const emitter = new Emitter({ servers: url, log: () => {} });
  const relay = new Relay();
  try {
    const p = await io.listen(0, "127.0.0.1");
    const c = await connect(p, "c", ["r"]);
    // Nothing to talk to: local service works and nothing throws into user code.
    await op(c, "broadcast", { to: ["r"], ev: "local" });
    assert.equal(await op(c, "serverCount"), 1);
    assert.equal((await op(c, "fetch")).length, 1);
    emitter.to("r").emit("queued before connect");
    await new Promise((r) => setTimeout(r, 300));
    await relay.listen(port, "127.0.0.1");
    await until(() => received(c, "queued before connect").length === 1, "the emitter's queued broadcast", 5000);
    await until(async () => (await op(c, "serverCount")) === 2, "the two servers to meet", 5000);
    assert.equal(received(c, "local").length, 1);
    assert.equal(logs.filter((l) => l.includes("relay unreachable")).length, 1, logs.join("\n"));
    assert.equal(logs.filter((l) => l.includes("reachable again")).length, 1, logs.join("\n"));
    c.socket.disconnect();
  } finally {
    await emitter.close(100);
    await io.close();
    await io2.close();
    await relay.close();
  }
});
