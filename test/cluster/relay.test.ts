// The embedded relay against the real official `nats` client (and raw sockets
// for what the client refuses to send). Run: node --import tsx --test test/cluster/relay.test.ts
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { connect, headers, StringCodec, type NatsConnection, type ConnectionOptions, type Msg } from "nats";
import { Relay, type RelayOptions } from "../../src/internal.ts";
import { Parser, type ProtocolHandler } from "../../src/internal.ts";
import { until } from "../helpers/wait.ts";

const sc = StringCodec();
const T = { timeout: 10_000 };

let relay: Relay;
let port: number;
const clients: NatsConnection[] = [];
const raws: net.Socket[] = [];
const extraRelays: Relay[] = [];

before(async () => {
  relay = new Relay();
  port = await relay.listen(0, "127.0.0.1");
});

after(async () => {
  for (const nc of clients) if (!nc.isClosed()) await nc.close().catch(() => {});
  for (const s of raws) s.destroy();
  for (const r of extraRelays) await r.close();
  await relay.close();
});

async function client(opts: ConnectionOptions = {}, p = port): Promise<NatsConnection> {
  const nc = await connect({ servers: `127.0.0.1:${p}`, reconnect: false, ...opts });
  clients.push(nc);
  return nc;
}

async function extraRelay(opts: RelayOptions): Promise<{ relay: Relay; port: number }> {
  const r = new Relay(opts);
  extraRelays.push(r);
  return { relay: r, port: await r.listen(0) };
}

function collect(nc: NatsConnection, subject: string, opts: { queue?: string; max?: number } = {}): string[] {
  const got: string[] = [];
  nc.subscribe(subject, { ...opts, callback: (_err, m) => got.push(`${m.subject}:${sc.decode(m.data)}`) });
  return got;
}

/** A raw TCP client that records everything the relay sends. */
class Raw {
  readonly socket: net.Socket;
  text = "";
  closed = false;
  constructor(p = port) {
    this.socket = net.connect(p, "127.0.0.1");
    raws.push(this.socket);
    this.socket.setEncoding("latin1");
    this.socket.on("data", (d: string) => (this.text += d));
    this.socket.on("error", () => {});
    this.socket.on("close", () => (this.closed = true));
  }
  send(s: string | Buffer): void {
    this.socket.write(s);
  }
  count(s: string): number {
    return this.text.split(s).length - 1;
  }
  /** Send PING and wait for its PONG: everything sent before it has been processed. */
  async sync(): Promise<void> {
    const n = this.count("PONG\r\n");
    this.send("PING\r\n");
    await until(() => this.count("PONG\r\n") > n || this.closed, "PONG");
    assert.equal(this.closed, false, "raw socket closed unexpectedly");
  }
}

async function stillWorks(p = port): Promise<void> {
  const a = await client({}, p);
  const b = await client({}, p);
  const got = collect(b, "alive");
  await b.flush();
  a.publish("alive", sc.encode("yes"));
  await a.flush();
  await b.flush();
  assert.deepEqual(got, ["alive:yes"]);
}

test("connect sends INFO the official client accepts, and close", T, async () => {
  const nc = await client();
  assert.equal(nc.info?.proto, 1);
  assert.equal(nc.info?.headers, true);
  assert.equal(nc.info?.max_payload, 1024 * 1024);
  assert.match(nc.info?.version ?? "", /^\d+\.\d+\.\d+$/);
  await nc.flush();
  const before = relay.stats().connections;
  assert.ok(before >= 1);
  await nc.close();
  await until(() => relay.stats().connections === before - 1, "connection count to drop");
});

test("pub/sub between two clients", T, async () => {
  const a = await client();
  const b = await client();
  const got = collect(b, "room.1");
  await b.flush();
  for (let i = 0; i < 3; i++) a.publish("room.1", sc.encode(`m${i}`));
  a.publish("room.2", sc.encode("other"));
  await a.flush();
  await b.flush();
  assert.deepEqual(got, ["room.1:m0", "room.1:m1", "room.1:m2"]);
});

test("* matches one token, > one or more trailing tokens", T, async () => {
  const a = await client();
  const b = await client();
  const star = collect(b, "w.*");
  const gt = collect(b, "w.>");
  const mid = collect(b, "w.*.z");
  await b.flush();
  for (const s of ["w", "w.a", "w.a.b", "w.a.z", "x.a"]) a.publish(s, sc.encode("."));
  await a.flush();
  await b.flush();
  assert.deepEqual(star, ["w.a:."]);
  assert.deepEqual(gt, ["w.a:.", "w.a.b:.", "w.a.z:."]);
  assert.deepEqual(mid, ["w.a.z:."]);
});

test("queue groups: one member per group, every group gets each message", T, async () => {
  const pub = await client();
  const m1 = await client();
  const m2 = await client();
  const g1 = [collect(m1, "q.job", { queue: "g1" }), collect(m2, "q.job", { queue: "g1" }), collect(m2, "q.*", { queue: "g1" })];
  const g2 = [collect(m1, "q.job", { queue: "g2" }), collect(m2, "q.job", { queue: "g2" })];
  const plain = collect(m1, "q.job");
  await m1.flush();
  await m2.flush();
  const N = 40;
  for (let i = 0; i < N; i++) pub.publish("q.job", sc.encode(String(i)));
  await pub.flush();
  await m1.flush();
  await m2.flush();
  const all = (g: string[][]) =>
    g
      .flat()
      .map((s) => s.split(":")[1])
      .sort((x, y) => Number(x) - Number(y));
  const expected = Array.from({ length: N }, (_, i) => String(i));
  assert.deepEqual(all(g1), expected, "group g1 got each message exactly once");
  assert.deepEqual(all(g2), expected, "group g2 got each message exactly once");
  assert.equal(plain.length, N);
});

test("request/reply through the muxed inbox", T, async () => {
  const svc = await client();
  const caller = await client();
  svc.subscribe("svc.echo", { callback: (_e, m: Msg) => m.respond(sc.encode(`re:${sc.decode(m.data)}`)) });
  await svc.flush();
  const replies = await Promise.all([1, 2, 3].map((i) => caller.request("svc.echo", sc.encode(`q${i}`), { timeout: 5000 })));
  assert.deepEqual(
    replies.map((m) => sc.decode(m.data)),
    ["re:q1", "re:q2", "re:q3"],
  );
  const noMux = await caller.request("svc.echo", sc.encode("solo"), { timeout: 5000, noMux: true });
  assert.equal(sc.decode(noMux.data), "re:solo");
});

test("request with no subscriber fails fast with no-responders (503)", T, async () => {
  const caller = await client();
  await assert.rejects(caller.request("nobody.home", sc.encode("?"), { timeout: 5000 }), (err: { code?: string }) => {
    assert.equal(err.code, "503");
    return true;
  });
  await assert.rejects(caller.request("nobody.home", sc.encode("?"), { timeout: 5000, noMux: true }), (err: { code?: string }) => {
    assert.equal(err.code, "503");
    return true;
  });
});

test("subscription with max gets exactly max messages", T, async () => {
  const a = await client();
  const b = await client();
  const got = collect(b, "cap", { max: 2 });
  await b.flush();
  for (let i = 0; i < 5; i++) a.publish("cap", sc.encode(String(i)));
  await a.flush();
  await b.flush();
  assert.deepEqual(got, ["cap:0", "cap:1"]);
});

test("UNSUB max counts deliveries already made, and the relay drops the sub", T, async () => {
  const pub = await client();
  const raw = new Raw();
  raw.send("CONNECT {}\r\nSUB cnt 7\r\n");
  await raw.sync();
  const subsBefore = relay.stats().subscriptions;
  pub.publish("cnt", sc.encode("a"));
  await pub.flush();
  await raw.sync();
  raw.send("UNSUB 7 2\r\n");
  await raw.sync();
  for (let i = 0; i < 4; i++) pub.publish("cnt", sc.encode("b"));
  await pub.flush();
  await raw.sync();
  assert.equal(raw.count("MSG cnt 7 1\r\n"), 2);
  assert.equal(relay.stats().subscriptions, subsBefore - 1);
});

test("headers round-trip; a client without headers gets the body only", T, async () => {
  const a = await client();
  const b = await client();
  const raw = new Raw();
  raw.send('CONNECT {"headers":false}\r\nSUB hdr 1\r\n');
  await raw.sync();
  const got: Msg[] = [];
  b.subscribe("hdr", { callback: (_e, m) => got.push(m) });
  await b.flush();
  const h = headers();
  h.set("X-Room", "lobby");
  h.append("X-Multi", "1");
  h.append("X-Multi", "2");
  a.publish("hdr", sc.encode("hello"), { headers: h });
  await a.flush();
  await b.flush();
  await raw.sync();
  assert.equal(got.length, 1);
  assert.equal(sc.decode(got[0]!.data), "hello");
  assert.equal(got[0]!.headers?.get("X-Room"), "lobby");
  assert.deepEqual(got[0]!.headers?.values("X-Multi"), ["1", "2"]);
  assert.ok(raw.text.includes("MSG hdr 1 5\r\nhello\r\n"), raw.text);
  assert.ok(!raw.text.includes("HMSG"));
});

test("noEcho: a connection does not receive its own publishes", T, async () => {
  const quiet = await client({ noEcho: true });
  const other = await client();
  const mine = collect(quiet, "echo.t");
  const theirs = collect(other, "echo.t");
  await quiet.flush();
  await other.flush();
  quiet.publish("echo.t", sc.encode("from-quiet"));
  other.publish("echo.t", sc.encode("from-other"));
  await quiet.flush();
  await other.flush();
  await quiet.flush();
  assert.deepEqual(mine, ["echo.t:from-other"]);
  assert.deepEqual(theirs.sort(), ["echo.t:from-other", "echo.t:from-quiet"]);
});

test("verbose CONNECT gets +OK; PING gets PONG", T, async () => {
  const raw = new Raw();
  raw.send('CONNECT {"verbose":true}\r\nSUB v 1\r\nPUB v 2\r\nhi\r\n');
  await raw.sync();
  assert.ok(raw.text.startsWith("INFO {"), raw.text);
  assert.equal(raw.count("+OK\r\n"), 3);
  assert.ok(raw.text.includes("MSG v 1 2\r\nhi\r\n"));
});

test("payload over max_payload: -ERR and only that connection is closed", T, async () => {
  const bystander = await client();
  const raw = new Raw();
  raw.send("CONNECT {}\r\nPUB big 2000000\r\n");
  await until(() => raw.closed, "oversized publisher to be closed");
  assert.ok(raw.text.includes("-ERR 'Maximum Payload Violation'\r\n"), raw.text);
  assert.equal(bystander.isClosed(), false);
  await bystander.flush();
  await stillWorks();
});

test("garbage input: -ERR and disconnect, relay keeps serving", T, async () => {
  const cases: [string | Buffer, string][] = [
    ["HELLO world\r\n", "Unknown Protocol Operation"],
    ["PUB foo notanumber\r\n", "Parser Error"],
    ["HPUB foo 20 10\r\n", "Parser Error"],
    ["PUB foo 3\r\nabcXY", "Parser Error"],
    ["UNSUB\r\n", "Parser Error"],
    ["CONNECT {not json\r\nSUB leak 1\r\n", "Invalid CONNECT"],
    [Buffer.alloc(5000, 0x41), "Maximum Control Line Exceeded"],
  ];
  const subsBefore = relay.stats().subscriptions;
  for (const [input, err] of cases) {
    const raw = new Raw();
    raw.send(input);
    await until(() => raw.closed, `close after ${String(input).slice(0, 20)}`);
    assert.ok(raw.text.includes(`-ERR '${err}'\r\n`), `${String(input).slice(0, 20)} -> ${raw.text}`);
  }
  // Random bytes mixed with protocol fragments must never take the relay down.
  const frags = ["PUB ", "SUB ", "HPUB ", "UNSUB ", "MSG ", "a.b ", "* ", "> ", "1 ", "99999999999999999999 ", "\r\n", "\n", "-1 "];
  let seed = 42;
  const rnd = (n: number) => (seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff) % n;
  const fuzz: Raw[] = [];
  for (let i = 0; i < 40; i++) {
    const parts: Buffer[] = [];
    for (let j = 0; j < 30; j++) {
      parts.push(rnd(3) === 0 ? Buffer.from([rnd(256), rnd(256), rnd(256)]) : Buffer.from(frags[rnd(frags.length)]!));
    }
    const raw = new Raw();
    raw.send(Buffer.concat(parts));
    raw.socket.end();
    fuzz.push(raw);
  }
  await until(() => fuzz.every((r) => r.closed), "fuzz sockets to close");
  assert.equal(relay.stats().subscriptions, subsBefore, "nothing left subscribed by closed sockets");
  await stillWorks();
});

test("split writes: every split point of a message stream parses the same", T, () => {
  const stream = Buffer.from('CONNECT {"a":1}\r\nSUB a.* q 1\r\nPUB a.b r 5\r\nhello\r\nHPUB a.c 12 14\r\nNATS/1.0\r\n\r\nhi\r\nUNSUB 1 3\r\nPING\r\n');
  const record = (events: string[]): ProtocolHandler => ({
    connect: (j) => events.push(`C${j}`),
    ping: () => events.push("PING"),
    pong: () => events.push("PONG"),
    pub: (s, r, h, p) => events.push(`P${s}|${r}|${h}|${p.toString()}`),
    sub: (s, q, sid) => events.push(`S${s}|${q}|${sid}`),
    unsub: (sid, max) => events.push(`U${sid}|${max}`),
    error: (m) => events.push(`E${m}`),
  });
  const limits = { maxPayload: 1024, maxControlLine: 4096 };
  const whole: string[] = [];
  new Parser(record(whole), limits).feed(stream);
  assert.equal(whole.length, 6);
  assert.ok(!whole.some((e) => e.startsWith("E")), whole.join(","));
  for (let i = 1; i < stream.length; i++) {
    for (const j of [i + 1, i + 7, stream.length]) {
      const events: string[] = [];
      const p = new Parser(record(events), limits);
      p.feed(stream.subarray(0, i));
      p.feed(stream.subarray(i, Math.min(j, stream.length)));
      if (j < stream.length) p.feed(stream.subarray(j));
      assert.deepEqual(events, whole, `split at ${i},${j}`);
    }
  }
});

test("slow consumer is cut and counted; publisher unaffected", T, async () => {
  const { relay: r, port: p } = await extraRelay({ maxPendingBytes: 256 * 1024 });
  const pub = await client({}, p);
  const raw = new Raw(p);
  raw.send("CONNECT {}\r\nSUB flood 1\r\n");
  await raw.sync();
  raw.socket.pause(); // stop reading: kernel buffers fill, then the relay's queue
  const chunk = new Uint8Array(64 * 1024);
  for (let i = 0; i < 2000 && r.stats().slowConsumers === 0; i++) {
    pub.publish("flood", chunk);
    if (i % 16 === 15) await pub.flush();
  }
  assert.equal(r.stats().slowConsumers, 1);
  raw.socket.resume();
  await until(() => raw.closed, "slow consumer socket to close");
  await pub.flush();
  assert.equal(pub.isClosed(), false);
  assert.equal(r.stats().connections, 1);
  await stillWorks(p);
});

test("stats count connections, subscriptions, messages and bytes", T, async () => {
  const { relay: r, port: p } = await extraRelay({});
  const a = await client({}, p);
  const b = await client({}, p);
  collect(b, "st.a");
  collect(b, "st.*");
  await b.flush();
  let s = r.stats();
  assert.equal(s.connections, 2);
  assert.equal(s.subscriptions, 2);
  a.publish("st.a", sc.encode("xyz"));
  a.publish("st.b", sc.encode("xyz"));
  a.publish("nowhere", sc.encode("xyz"));
  await a.flush();
  await b.flush();
  s = r.stats();
  assert.deepEqual(
    { msgsIn: s.msgsIn, msgsOut: s.msgsOut, bytesIn: s.bytesIn, bytesOut: s.bytesOut, slowConsumers: s.slowConsumers },
    { msgsIn: 3, msgsOut: 3, bytesIn: 9, bytesOut: 9, slowConsumers: 0 },
  );
  await b.close();
  await until(() => r.stats().connections === 1 && r.stats().subscriptions === 0, "b's subscriptions to go");
});

test("max subscriptions per connection: -ERR, connection stays up", T, async () => {
  const { port: p } = await extraRelay({ maxSubscriptionsPerConnection: 2 });
  const raw = new Raw(p);
  raw.send("CONNECT {}\r\nSUB a 1\r\nSUB b 2\r\nSUB c 3\r\nSUB bad..subject 4\r\n");
  await raw.sync();
  assert.ok(raw.text.includes("-ERR 'Maximum Subscriptions Exceeded'\r\n"), raw.text);
  assert.ok(raw.text.includes("-ERR 'Invalid Subject'\r\n"), raw.text);
});
