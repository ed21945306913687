// The cluster wire format: subject tokens, the payload envelope, the duplicate filter; the relay
// link's behaviour when the relay is not there yet; payloads that do not decode.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect as natsConnect } from "nats";
import {
  decodeMessage,
  DuplicateFilter,
  encodeMessage,
  LocalInterest,
  newWorkerId,
  ownerOf,
  PeerInterest,
  Subjects,
  token,
  type BroadcastMessage,
} from "../../src/internal.ts";
import { createClusterAdapter, Emitter, operations, Relay, Server } from "../../src/index.ts";
import clusterApp from "../helpers/cluster-app.ts";
import { connect, op, received } from "../helpers/cluster.ts";
import { freePort } from "../helpers/process.ts";
import { until } from "../helpers/wait.ts";

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

test("socket ids of a cluster worker name their owner; other rooms name nobody", () => {
  const worker = newWorkerId();
  assert.match(worker, /^[A-Za-z0-9_-]{8}$/);
  assert.notEqual(newWorkerId(), worker);
  const id = `${worker}${"x".repeat(21)}`;
  assert.equal(ownerOf(id), worker);
  for (const room of [
    "room",
    "x".repeat(21),
    `${worker}${"x".repeat(20)}`,
    `${worker}${"x".repeat(22)}`,
    `${worker}${" ".repeat(21)}`,
    `${worker}.${"x".repeat(20)}`,
  ])
    assert.equal(ownerOf(room), null, room);
});

test("room interest: deltas in version order, a gap asks for a snapshot, a snapshot resets", () => {
  const a = new LocalInterest("A");
  const peers = new PeerInterest();
  const holders = (rooms: string[]) => {
    const out = new Set<string>();
    peers.interested("/", rooms, ["A", "B"], out);
    return [...out];
  };
  for (const m of a.snapshot()) assert.equal(peers.apply(m), true);
  assert.equal(peers.version("A"), 0);
  a.add("/", "r1");
  a.add("/", "r2");
  a.delete("/", "r2"); // within one batch: only its final state travels
  const d1 = a.drain();
  assert.deepEqual(
    d1.map((m) => [m.ver, m.add, m.del]),
    [[1, ["r1"], ["r2"]]],
  );
  assert.equal(peers.apply(d1[0]!), true);
  assert.deepEqual(holders(["r2", "r1"]), ["A"]);
  assert.deepEqual(holders(["r2"]), []);
  assert.deepEqual(holders(["r1"]).length, 1);
  // A lost delta: the next one is refused (the node then asks for a snapshot), the state is kept.
  a.add("/", "r3");
  a.drain();
  a.add("/", "r4");
  assert.equal(peers.apply(a.drain()[0]!), false);
  assert.deepEqual(holders(["r3", "r4"]), []);
  // The snapshot (in chunks of 4096 rooms) brings everything back, at the current version.
  for (let i = 0; i < 5000; i++) a.add("/admin", `big-${i}`);
  a.drain();
  const snap = a.snapshot();
  assert.deepEqual(
    snap.map((m) => [m.snap, m.nsp, m.add.length]),
    [
      ["reset", "/", 3],
      ["more", "/admin", 4096],
      ["more", "/admin", 904],
    ],
  );
  for (const m of snap) assert.equal(peers.apply(m), true);
  assert.equal(peers.version("A"), a.ver);
  assert.deepEqual(holders(["r3"]), ["A"]);
  const out = new Set<string>();
  peers.interested("/admin", ["big-4999"], ["A"], out);
  assert.equal(out.size, 1);
  // A delta already covered by the snapshot is ignored; a peer never heard of asks for one.
  assert.equal(peers.apply({ ...d1[0]!, del: ["r1"] }), true);
  assert.deepEqual(holders(["r1"]), ["A"]);
  assert.equal(peers.apply({ v: 1, type: "interest", from: "C", ver: 3, nsp: "/", add: ["r1"], del: [] }), false);
  peers.drop("A");
  assert.deepEqual(holders(["r1"]), []);
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
  assert.equal((sub.data![0] as Buffer).toString(), "234");
});

test("envelope: malformed payloads are rejected, not half-decoded", () => {
  const good = encodeMessage(broadcast(["x", Buffer.from("abc")]));
  for (const bad of [
    new Uint8Array(0),
    good.subarray(0, 5),
    good.subarray(0, good.length - 1),
    Buffer.from("[1,2]"),
    Buffer.from("{}"),
    Buffer.from("nope"),
    Buffer.from("{bad json"),
  ]) {
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

test("workers started before the relay connect when it comes up; an emitter queues until connected", { timeout: 20_000 }, async () => {
  const port = await freePort();
  const url = `nats://127.0.0.1:${port}`;
  const logs: string[] = [];
  const log = (level: string, m: string) => logs.push(`${level} ${m}`);
  const io = new Server({ adapter: createClusterAdapter({ servers: url, heartbeatInterval: 200, log }) });
  const io2 = new Server({ adapter: createClusterAdapter({ servers: [url], heartbeatInterval: 200, log: () => {} }) });
  clusterApp(io, "early");
  clusterApp(io2, "early2");
  let emitter: Emitter | undefined;
  const relay = new Relay();
  try {
    const p = await io.listen(0, "127.0.0.1");
    const c = await connect(p, "c", ["r"]);
    // Nothing to talk to: local service works and nothing throws into user code.
    await op(c, "broadcast", { to: ["r"], ev: "local" });
    assert.equal(await op(c, "serverCount"), 1);
    assert.equal((await op(c, "fetch")).length, 1);
    await new Promise((r) => setTimeout(r, 300));
    await relay.listen(port, "127.0.0.1");
    await until(async () => (await op(c, "serverCount")) === 2, "the two servers to meet", 5000);
    // A broadcast in the simpler `data` form, as another language may publish it.
    const raw = await natsConnect({ servers: `127.0.0.1:${port}` });
    const msg: BroadcastMessage = {
      v: 1,
      type: "broadcast",
      origin: "other-language",
      seq: 1,
      nsp: "/",
      rooms: ["r"],
      except: [],
      data: ["plain", { a: 1 }, Buffer.from("b")],
    };
    raw.publish(new Subjects().room("/", "r"), encodeMessage(msg));
    raw.publish(new Subjects().room("/", "r"), encodeMessage(msg)); // a duplicate is dropped
    raw.publish(new Subjects().room("/", "r"), encodeMessage({ ...msg, seq: 2, data: ["plain", 2] }));
    await raw.flush();
    await raw.close();
    await until(() => received(c, "plain").length === 2, "the data-form broadcasts", 3000);
    assert.deepEqual(received(c, "plain")[0]!.slice(0, 1), [{ a: 1 }]);
    assert.equal(Buffer.from(received(c, "plain")[0]![1] as ArrayBuffer).toString(), "b");
    assert.deepEqual(received(c, "plain")[1], [2]);
    // An emitter emits at once, before its connection is up: queued, then sent.
    emitter = new Emitter({ servers: url, log: () => {} });
    emitter.to("r").emit("queued before connect");
    await until(() => received(c, "queued before connect").length === 1, "the emitter's queued broadcast", 5000);
    assert.equal(received(c, "local").length, 1);
    assert.equal(relay.stats().connections, 3, "one relay connection per Server (shared by its namespaces), one for the emitter");
    io.of("/more");
    assert.equal(relay.stats().connections, 3);
    assert.equal(logs.filter((l) => l.includes("relay unreachable")).length, 1, logs.join("\n"));
    assert.equal(logs.filter((l) => l.includes("reachable again")).length, 1, logs.join("\n"));
    c.socket.disconnect();
    await emitter.close();
    await io.close();
    await io2.close();
    await until(() => relay.stats().connections === 0, "io.close() and emitter.close() to close their connections", 3000);
  } finally {
    await emitter?.close(100);
    await io.close();
    await io2.close();
    await relay.close();
  }
});

test("the emitter's wire format, as another language would see it", { timeout: 10_000 }, async () => {
  const relay = new Relay();
  const port = await relay.listen(0, "127.0.0.1");
  const nc = await natsConnect({ servers: `127.0.0.1:${port}` });
  const emitter = new Emitter({ servers: `nats://127.0.0.1:${port}`, prefix: "app" });
  try {
    const seen: Array<{ subject: string; msg: any }> = [];
    nc.subscribe("app.>", { callback: (_e, m) => seen.push({ subject: m.subject, msg: decodeMessage(m.data) }) });
    await nc.flush();
    await emitter.ready;
    emitter.to("a").to("b.c").except("x").emit("ev", 1);
    emitter.of("/admin").volatile.emit("adm");
    emitter.of("admin").in("r").socketsJoin(["s1", "s2"]);
    emitter.except("q").disconnectSockets(true);
    emitter.serverSideEmit("hello", { n: 1 });
    await until(() => seen.length === 6, "6 messages");
    const t = (s: string) => Buffer.from(s).toString("base64url");
    assert.deepEqual(
      seen.map((x) => x.subject),
      [`app.Lw.r.${t("a")}`, `app.Lw.r.${t("b.c")}`, `app.${t("/admin")}.all`, `app.${t("/admin")}.req`, "app.Lw.req", "app.Lw.req"],
    );
    const [m1, m2, m3, m4, m5, m6] = seen.map((x) => x.msg);
    assert.deepEqual(m1, m2, "one message, published once per target room");
    const origin = m1.origin;
    assert.match(origin, /^[0-9a-f]{16}$/);
    // Broadcasts carry the packet already encoded: the Engine.IO frames, as attachments.
    const text = (m: any) => m.frames.map((f: any) => [f.binary, Buffer.from(f.data).toString()]);
    assert.deepEqual(text(m1), [[false, '42["ev",1]']]);
    assert.deepEqual({ ...m1, frames: null }, { v: 1, type: "broadcast", origin, seq: 1, nsp: "/", rooms: ["a", "b.c"], except: ["x"], frames: null });
    assert.deepEqual(text(m3), [[false, '42/admin,["adm"]']]);
    assert.deepEqual(
      { ...m3, frames: null },
      { v: 1, type: "broadcast", origin, seq: 2, nsp: "/admin", rooms: [], except: [], flags: { volatile: true }, frames: null },
    );
    assert.deepEqual(m4, { v: 1, type: "addSockets", origin, nsp: "/admin", rooms: ["r"], except: [], targets: ["s1", "s2"] });
    assert.deepEqual(m5, { v: 1, type: "disconnectSockets", origin, nsp: "/", rooms: [], except: ["q"], close: true });
    assert.deepEqual(m6, { v: 1, type: "serverSideEmit", origin, nsp: "/", data: ["hello", { n: 1 }] });
    assert.throws(() => emitter.emit("connect"), /reserved/);
    assert.throws(() => emitter.emit("x", () => {}), /acknowledgements/);
  } finally {
    await emitter.close();
    await nc.close();
    await relay.close();
  }
});

test("interestCheck: a worker answers once it has applied the asker's interest up to that version (the handover's barrier)", { timeout: 10_000 }, async () => {
  const relay = new Relay();
  const port = await relay.listen(0, "127.0.0.1");
  const io = new Server({ adapter: createClusterAdapter({ servers: `nats://127.0.0.1:${port}`, heartbeatInterval: 100, log: () => {} }) });
  const nc = await natsConnect({ servers: `127.0.0.1:${port}` });
  try {
    const node = (io.sockets.adapter as unknown as { node: { id: string; ready: Promise<void> } }).node;
    await node.ready;
    // A raw client plays a worker "fakepeer": its answers come to its own subject.
    const s = new Subjects();
    const from = "fakepeer";
    const acks: any[] = [];
    nc.subscribe(s.node(from), { callback: (_e, m) => acks.push(decodeMessage(m.data)) });
    await nc.flush();
    const check = (requestId: string, ver: number) =>
      nc.publish(s.requests("/"), encodeMessage({ v: 1, type: "interestCheck", origin: from, requestId, nsp: "/", ver }), { reply: s.node(from) });
    const interest = (ver: number, add: string[], snap?: "reset") =>
      nc.publish(s.heartbeat, encodeMessage({ v: 1, type: "interest", from, ver, nsp: "/", add, del: [], ...(snap ? { snap } : {}) }));
    check("wants-2", 2); // nothing of fakepeer's interest is known yet
    interest(1, ["a"], "reset");
    check("wants-1", 1); // answered at once: version 1 is applied by now
    await until(() => acks.length === 1, "the answer to the check of version 1");
    assert.deepEqual(acks[0], { v: 1, type: "interestAck", from: node.id, requestId: "wants-1" });
    interest(2, ["b"]);
    await until(() => acks.length === 2, "the answer to the check of version 2, once it is applied");
    assert.deepEqual(acks[1], { v: 1, type: "interestAck", from: node.id, requestId: "wants-2" });
  } finally {
    await nc.close();
    await io.close();
    await relay.close();
  }
});

test("cluster payloads that do not decode are counted (metrics), logged, and do not stop the worker", { timeout: 10_000 }, async () => {
  const relay = new Relay();
  const port = await relay.listen(0, "127.0.0.1");
  const logs: string[] = [];
  const io = new Server({
    adapter: createClusterAdapter({ servers: `nats://127.0.0.1:${port}`, log: (level, m) => logs.push(`${level} ${m}`) }),
    operations: operations({ metrics: true }),
    logger: "silent",
  });
  clusterApp(io, "garbage");
  const nc = await natsConnect({ servers: `127.0.0.1:${port}` });
  try {
    const node = (io.sockets.adapter as unknown as { node: { id: string; ready: Promise<void>; stats: { undecodable: number } } }).node;
    await node.ready;
    const ioPort = await io.listen(0, "127.0.0.1");
    const c = await connect(ioPort, "c");
    const s = new Subjects();
    const garbage: [string, Uint8Array][] = [
      [s.requests("/"), Buffer.from("not a payload")], // unknown format byte
      [s.heartbeat, Buffer.from("{bad json")],
      [s.node(node.id), Buffer.from(JSON.stringify({ v: 1, type: "noSuchType", origin: "x" }))], // not a message of this protocol
      [s.all("/"), Buffer.from([0, 0, 0])], // truncated envelope header
      [s.all("/"), new Uint8Array(0)],
    ];
    for (const [subject, payload] of garbage) nc.publish(subject, payload);
    // The worker still serves: a broadcast after the garbage reaches its client.
    const after: BroadcastMessage = { v: 1, type: "broadcast", origin: "garbage-publisher", seq: 1, nsp: "/", rooms: [], except: [], data: ["after"] };
    nc.publish(s.all("/"), encodeMessage(after));
    await nc.flush();
    await until(() => node.stats.undecodable === garbage.length && received(c, "after").length === 1, "the garbage counted and the broadcast delivered");
    const metrics = await (await fetch(`http://127.0.0.1:${ioPort}/metrics`)).text();
    assert.match(metrics, new RegExp(`^roomgate_cluster_dropped_total\\{reason="undecodable"\\} ${garbage.length}$`, "m"));
    assert.equal(logs.filter((l) => l.startsWith("warn cluster: dropped a payload that does not decode")).length, 1, logs.join("\n"));
    c.socket.disconnect();
  } finally {
    await nc.close();
    await io.close();
    await relay.close();
  }
});
