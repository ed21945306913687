// Socket.IO's `parser` option on one server, through the wire: the official client with
// socket.io-msgpack-parser over default transports, WebSocket only and polling only; binary
// WebSocket frames and `b<base64>` polling packets as Engine.IO v4 carries them; an upgrade in the
// middle of a stream; the rooms behaviours; one encode per broadcast; connection-state recovery;
// socket.io-parser passed explicitly; and a parser that throws or decodes garbage, which closes that
// one client with a clear reason. Real uWS, real socket.io-client, real parsers.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as sioParser from "socket.io-parser";
import type { ManagerOptions, SocketOptions } from "socket.io-client";
import { DEFAULT_PARSER_ID, PacketDecoder, PacketParser } from "../../src/engine/parser.ts";
import { encodePacket, type Packet, PacketType, ProtocolError } from "../../src/internal.ts";
import { type Parser, type ParserPacket, Server, type Socket } from "../../src/index.ts";
import { counting, msgpackParser, SKIP_MSGPACK } from "../helpers/msgpack.ts";
import { RawPolling } from "../helpers/polling.ts";
import { EIO_PATH, RawWebSocket } from "../helpers/raw-ws.ts";
import { once, record, startServer, type ClientSocket, type Harness } from "../helpers/server.ts";
import { until } from "../helpers/wait.ts";

const parser = msgpackParser as Parser;
type ClientOpts = Partial<ManagerOptions & SocketOptions>;
const msgpack = (o: ClientOpts = {}): ClientOpts => ({ parser, ...o });

/** Everything sent to `c` before this has arrived (one event after the rest, on the same socket). */
async function barrier(io: Harness["io"], ...clients: ClientSocket[]): Promise<void> {
  const done = clients.map((c) => once(c, "end", 5000));
  io.emit("end");
  await Promise.all(done);
}

function encodeWith(p: Parser, packet: ParserPacket): Buffer {
  const [chunk] = new p.Encoder().encode(packet);
  return Buffer.from(chunk as Uint8Array);
}

function decodeWith(p: Parser, chunk: Buffer): ParserPacket {
  const d = new p.Decoder();
  let out: ParserPacket | undefined;
  d.on("decoded", (x) => {
    out = x;
  });
  d.add(chunk);
  return out!;
}

describe("socket.io-msgpack-parser on one server", { skip: SKIP_MSGPACK, timeout: 60_000 }, () => {
  for (const [transports, extra] of [
    [undefined, {}],
    [["websocket"], {}],
    [["polling"], {}],
    [["websocket"], { forceBase64: true }],
  ] as const) {
    const name = (transports ? transports.join("") + " only" : "default transports") + (extra.forceBase64 ? ", binary as base64 text (forceBase64)" : "");
    test(`the official client connects with it over ${name}: events, acks and binary both ways`, async () => {
      const h = await startServer({ parser, logger: "warn" });
      try {
        h.io.on("connection", (s) => {
          s.on("echo", (data: unknown, ack: (x: unknown) => void) => ack(data));
          s.emit("hello", { sym: "EURUSD", bid: 1.0841, ask: 1.0843, ts: 1733616000000 }, Buffer.from([1, 2, 3]));
        });
        const c = h.client("/", msgpack({ transports: transports ? [...transports] : ["polling", "websocket"], ...extra }));
        const [tick, bytes] = await once<[unknown, Buffer]>(c, "hello", 5000);
        assert.deepEqual(tick, { sym: "EURUSD", bid: 1.0841, ask: 1.0843, ts: 1733616000000 });
        assert.deepEqual([...new Uint8Array(bytes)], [1, 2, 3]);
        if (!transports) await until(() => c.io.engine.transport.name === "websocket", "the upgrade", 5000);
        const back = await c.timeout(3000).emitWithAck("echo", { n: [1, 2.5, -3], blob: Buffer.from("xyz") });
        assert.deepEqual(back.n, [1, 2.5, -3]);
        assert.equal(Buffer.from(back.blob).toString(), "xyz");
      } finally {
        await h.close();
      }
    });
  }

  test("over a WebSocket every packet of the parser is a binary frame; Engine.IO's own stay text", async () => {
    const h = await startServer({ parser, logger: "warn" });
    const ws = await RawWebSocket.open(h.port, EIO_PATH);
    try {
      await ws.waitText((t) => t.startsWith("0{"));
      ws.sendBinary(encodeWith(parser, { type: 0, nsp: "/" }));
      const connected = await ws.waitFor(() => ws.frames.find((f) => f.opcode === 2));
      const reply = decodeWith(parser, connected.data);
      assert.equal(reply.type, 0);
      assert.equal(typeof (reply.data as { sid: unknown }).sid, "string");
      h.io.emit("tick", { bid: 1.5 });
      const tick = await ws.waitFor(() => ws.frames.filter((f) => f.opcode === 2)[1]);
      assert.deepEqual(decodeWith(parser, tick.data), { type: 2, nsp: "/", data: ["tick", { bid: 1.5 }] });
      assert.ok(
        ws.frames.every((f) => f.opcode === 2 || f.data.toString().startsWith("0{")),
        "only the open packet is text",
      );
    } finally {
      ws.destroy();
      await h.close();
    }
  });

  test("over long-polling its packets travel as b<base64> both ways (GET and POST)", async () => {
    const h = await startServer({ parser, logger: "warn" });
    try {
      const p = await RawPolling.open(h.port);
      const ok = await p.post("b" + encodeWith(parser, { type: 0, nsp: "/" }).toString("base64"));
      assert.equal(ok.body, "ok");
      const [connect] = await p.poll();
      assert.ok(connect.startsWith("b"), connect);
      assert.equal(decodeWith(parser, Buffer.from(connect.slice(1), "base64")).type, 0);
      h.io.emit("tick", Buffer.from([9, 8]));
      const [tick] = await p.poll();
      const packet = decodeWith(parser, Buffer.from(tick.slice(1), "base64"));
      assert.equal((packet.data as unknown[])[0], "tick");
      assert.deepEqual([...(packet.data as Buffer[])[1]], [9, 8]);
    } finally {
      await h.close();
    }
  });

  test("the upgrade in the middle of a stream loses nothing and reorders nothing", async () => {
    const h = await startServer({ parser, logger: "warn" });
    try {
      let upgradedAt = -1;
      let sent = 0;
      h.io.on("connection", (s) => {
        s.join("r");
        // Room broadcasts (native publish once upgraded) interleaved with direct emits, in batches
        // across event-loop turns, until well after the server sees the WebSocket.
        const batch = (turn: number) => {
          if (!s.connected) return;
          for (let i = 0; i < 10; i++) {
            if (sent % 2 === 0) h.io.to("r").emit("n", sent++);
            else s.emit("n", sent++, Buffer.from([sent & 255]));
          }
          if (upgradedAt < 0 && s.conn.transport.name === "websocket") upgradedAt = sent;
          if ((upgradedAt >= 0 && sent >= upgradedAt + 300) || turn >= 5000) return void s.emit("end");
          setImmediate(() => batch(turn + 1));
        };
        batch(0);
      });
      const c = h.client("/", msgpack({ transports: ["polling", "websocket"] }));
      const got: number[] = [];
      c.on("n", (n: number) => got.push(n));
      await once(c, "end", 30_000);
      assert.ok(upgradedAt > 0, "the stream started before the upgrade");
      assert.equal(c.io.engine.transport.name, "websocket");
      assert.deepEqual(
        got,
        Array.from({ length: sent }, (_, i) => i),
      );
    } finally {
      await h.close();
    }
  });

  test("rooms: join, to/in, a union once, except, socket.to, acks, binary, namespaces, volatile", async () => {
    const h = await startServer({ parser, logger: "warn" });
    try {
      const byName = new Map<string, Socket>();
      h.io.of("/admin");
      h.io.on("connection", (s) => {
        const { name, rooms } = s.handshake.auth as { name: string; rooms: string[] };
        s.join(rooms);
        byName.set(name, s);
      });
      const clients: Record<string, ClientSocket> = {};
      for (const [name, rooms] of [
        ["A", ["a", "b"]],
        ["B", ["a"]],
        ["C", ["b", "muted"]],
        ["D", []],
      ] as const) {
        clients[name] = h.client("/", msgpack({ auth: { name, rooms } }));
        clients[name].on("q", (x: number, ack: (y: unknown) => void) => ack({ name, x }));
      }
      await until(() => byName.size === 4, "four sockets", 5000);
      const logs = Object.fromEntries(Object.entries(clients).map(([n, c]) => [n, record(c)]));
      const admin = h.client("/admin", msgpack());
      const adminLog = record(admin);
      await once(admin, "connect");

      h.io.to("a").emit("ev", "to a");
      h.io.in("a").to("b").emit("ev", "a or b once");
      h.io.to(["a", "b"]).except("muted").emit("ev", "a or b but muted");
      byName.get("A")!.to("a").emit("ev", "from A to a");
      h.io.in("b").emit("ev", Buffer.from([7, 7]));
      h.io.of("/admin").emit("ev", "admin only");
      const responses = await h.io.to("a").timeout(3000).emitWithAck("q", 5);
      // After a round trip: as Socket.IO, a volatile packet is dropped while the transport has a write waiting.
      h.io.volatile.to("a").emit("ev", "volatile");
      await barrier(h.io, ...Object.values(clients));

      const evs = (n: string) =>
        logs[n].filter(([ev]) => ev === "ev").map(([, x]) => (Buffer.isBuffer(x) || x instanceof Uint8Array ? [...(x as Uint8Array)] : x));
      assert.deepEqual(evs("A"), ["to a", "a or b once", "a or b but muted", [7, 7], "volatile"]);
      assert.deepEqual(evs("B"), ["to a", "a or b once", "a or b but muted", "from A to a", "volatile"]);
      assert.deepEqual(evs("C"), ["a or b once", [7, 7]]);
      assert.deepEqual(evs("D"), []);
      assert.deepEqual(
        adminLog.filter(([ev]) => ev === "ev"),
        [["ev", "admin only"]],
      );
      assert.deepEqual((responses as { name: string }[]).map((r) => r.name).sort(), ["A", "B"]);
    } finally {
      await h.close();
    }
  });

  test("every broadcast is encoded once, whatever its path (native, union, except, socket.to, acks, volatile, compressed)", async () => {
    const counter = { encodes: 0, packets: [] as ParserPacket[] };
    const h = await startServer({ parser: counting(parser, counter), perMessageDeflate: true, logger: "warn" });
    try {
      const sockets: Socket[] = [];
      h.io.on("connection", (s) => {
        s.join(sockets.length % 2 ? "a" : "b");
        sockets.push(s);
      });
      const clients = [0, 1, 2, 3].map(() => h.client("/", msgpack()));
      for (const c of clients) c.on("q", (ack: (x: number) => void) => ack(1));
      await Promise.all(clients.map((c) => once(c, "connect")));
      const logs = clients.map(record);
      counter.encodes = 0;
      h.io.emit("x", 1); // native publish to the namespace
      h.io.to("a").emit("x", 2); // one room
      h.io.to("a").to("b").emit("x", 3); // union
      h.io.except("a").emit("x", 4); // except
      sockets[0].to("b").emit("x", 5); // socket.to
      h.io.compress(false).emit("x", { big: "y".repeat(4096) });
      await h.io.timeout(3000).emitWithAck("q"); // broadcast ack
      h.io.volatile.emit("x", 6); // after a round trip: dropped while a write waits, as in Socket.IO
      assert.equal(counter.encodes, 8);
      const end = clients.map((c) => once(c, "end"));
      h.io.emit("end");
      await Promise.all(end);
      assert.equal(logs.flat().filter(([ev]) => ev === "x").length, 4 + 2 + 4 + 2 + 1 + 4 + 4);
    } finally {
      await h.close();
    }
  });

  test("connection-state recovery: the offset rides as the last argument, what was missed is replayed once, in order", async () => {
    const h = await startServer({ parser, connectionStateRecovery: {}, logger: "warn" });
    try {
      const sockets: Socket[] = [];
      h.io.on("connection", (s) => {
        sockets.push(s);
        if (!s.recovered) s.join("a");
      });
      const c = h.client("/", msgpack());
      const got: unknown[] = [];
      const offsets: unknown[] = [];
      c.on("m", (x: unknown, offset: unknown) => {
        got.push(Buffer.isBuffer(x) || x instanceof Uint8Array ? [...(x as Uint8Array)] : x);
        offsets.push(offset);
      });
      await once(c, "connect");
      h.io.to("a").emit("m", 0);
      await until(() => got.length === 1, "the first event", 3000);
      assert.match(String(offsets[0]), /^[\w-]{8}\.[0-9a-z]+$/);
      const gone = once(sockets[0], "disconnect");
      c.io.engine.close();
      await gone;
      h.io.to("a").emit("m", 1);
      h.io.to(sockets[0].id).emit("m", 2);
      h.io.to("other").emit("m", "not for it");
      h.io.emit("m", Buffer.from([3]));
      const back = once<[Socket]>(h.io, "connection");
      c.connect();
      const [s] = await back;
      assert.equal(s.recovered, true);
      h.io.to("a").emit("m", 4);
      const end = once(c, "end");
      s.emit("end");
      await end;
      assert.deepEqual(got, [0, 1, 2, [3], 4]);
      assert.equal(new Set(offsets).size, offsets.length, "every event has its own offset");
    } finally {
      await h.close();
    }
  });

  for (const [what, trigger, reason] of [
    ["throws", "boom", /parse error: the parser refused a packet: the parser blew up/],
    ["decodes garbage", "garbage", /parse error: the parser decoded an invalid packet: type 42/],
  ] as const) {
    test(`a parser that ${what} closes that client with a clear reason; the others go on`, async () => {
      const inner = parser;
      class BadDecoder {
        private readonly decoder = new inner.Decoder();
        private readonly fns: ((p: ParserPacket) => void)[] = [];
        constructor() {
          this.decoder.on("decoded", (p: ParserPacket) => {
            const ev = Array.isArray(p.data) ? p.data[0] : undefined;
            if (ev === "boom") throw new Error("the parser blew up");
            for (const fn of this.fns) fn(ev === "garbage" ? ({ type: 42, nsp: "/" } as ParserPacket) : p);
          });
        }
        on(_ev: "decoded", fn: (p: ParserPacket) => void) {
          this.fns.push(fn);
          return this;
        }
        add(chunk: string | Buffer) {
          this.decoder.add(chunk);
        }
      }
      const h = await startServer({ parser: { Encoder: inner.Encoder, Decoder: BadDecoder }, logger: "silent" });
      try {
        const reasons: string[] = [];
        h.io.on("connection", (s) => s.on("disconnect", (r) => reasons.push(r)));
        const good = await h.connected("/", msgpack());
        const ws = await RawWebSocket.open(h.port, EIO_PATH);
        ws.sendBinary(encodeWith(inner, { type: 0, nsp: "/" }));
        await ws.waitFor(() => ws.frames.find((f) => f.opcode === 2));
        ws.sendBinary(encodeWith(inner, { type: 2, nsp: "/", data: [trigger, 1] }));
        await ws.waitClosed();
        assert.match(ws.closeReason, reason);
        assert.deepEqual(reasons, ["parse error"]);
        const still = once<[number]>(good, "alive");
        h.io.emit("alive", 1);
        assert.deepEqual(await still, [1]);
      } finally {
        await h.close();
      }
    });
  }

  test("bytes that are not MessagePack close the client with a parse error", async () => {
    const h = await startServer({ parser, logger: "silent" });
    const ws = await RawWebSocket.open(h.port, EIO_PATH);
    try {
      ws.sendBinary(Buffer.from([0xc1, 0xff, 0x00]));
      await ws.waitClosed();
      assert.match(ws.closeReason, /parse error: the parser/);
    } finally {
      ws.destroy();
      await h.close();
    }
  });
});

describe("the parser option", () => {
  test("socket.io-parser passed explicitly speaks the default format (the default client connects), with the default parser id", async () => {
    assert.equal(new PacketParser(sioParser as unknown as Parser).id, DEFAULT_PARSER_ID);
    const h = await startServer({ parser: sioParser as unknown as Parser, logger: "warn" });
    try {
      h.io.on("connection", (s) => s.on("echo", (x: unknown, ack: (y: unknown) => void) => ack(x)));
      const c = await h.connected("/");
      const back = await c.timeout(3000).emitWithAck("echo", { n: 1, blob: Buffer.from([1, 2]) });
      assert.equal(back.n, 1);
      assert.deepEqual([...new Uint8Array(back.blob)], [1, 2]);
    } finally {
      await h.close();
    }
  });

  test("the default format from a client with forceBase64: its binary attachments come as b<base64> text frames", async () => {
    const h = await startServer({ logger: "warn" });
    try {
      h.io.on("connection", (s) => s.on("echo", (x: unknown, ack: (y: unknown) => void) => ack(x)));
      const c = await h.connected("/", { forceBase64: true });
      const back = await c.timeout(3000).emitWithAck("echo", { blob: Buffer.from([4, 5, 6]) });
      assert.deepEqual([...new Uint8Array(back.blob)], [4, 5, 6]);
    } finally {
      await h.close();
    }
  });

  test("a value that is not a parser module is refused at construction", () => {
    assert.throws(() => startServerSync({ parser: { Encoder: 1 } }), /option parser must be a Socket.IO parser module/);
    class NoEncode {}
    class Decoder {
      add() {}
      on() {}
    }
    assert.throws(() => startServerSync({ parser: { Encoder: NoEncode, Decoder } }), /Encoder has no encode/);
  });

  test("an encoder that returns something else than chunks fails the emit that used it, with a clear error", async () => {
    class Encoder {
      encode(p: ParserPacket) {
        return Array.isArray(p.data) && p.data[0] === "bad" ? [42] : [JSON.stringify(p)];
      }
    }
    class Decoder {
      on() {}
      add() {}
    }
    const h = await startServer({ parser: { Encoder, Decoder } as unknown as Parser, logger: "silent" });
    try {
      assert.throws(() => h.io.emit("bad"), /the parser's encode\(\) returned a chunk of type number/);
      h.io.emit("fine");
    } finally {
      await h.close();
    }
  });
});

/** Construction alone throws on a bad option (nothing listens). */
function startServerSync(opts: Record<string, unknown>): void {
  void new Server(opts as never).close();
}

describe("PacketParser and PacketDecoder (socket.io-parser as the custom parser: text plus attachments)", () => {
  const sio = sioParser as unknown as Parser;
  const event: Packet = { type: PacketType.EVENT, nsp: "/admin", data: ["ev", 1, { blob: Buffer.from([1, 2]) }] };
  const hex = (frames: readonly { data: Uint8Array; binary: boolean }[]) => frames.map((f) => [f.binary, Buffer.from(f.data).toString("hex")]);

  test("encode gives the frames the built-in codec gives: a `4` text frame, then one binary frame per attachment", () => {
    assert.deepEqual(hex(new PacketParser(sio).encode(event)), hex(encodePacket(event)));
  });

  test("the offset of recovery: appended as the last argument, read back, taken off", () => {
    const parser = new PacketParser(sio);
    const frames = parser.encode(event);
    assert.equal(parser.offsets.isPlainEvent(frames), true);
    assert.equal(parser.offsets.isPlainEvent(parser.encode({ ...event, id: 3 })), false);
    const withIt = parser.offsets.withOffset(frames, "abcdefgh.1z");
    assert.equal(parser.offsets.offsetIn(withIt[0]), "abcdefgh.1z");
    const back = parser.decodeFrames(withIt)!;
    assert.deepEqual((back.data as unknown[]).slice(-1), ["abcdefgh.1z"]);
    assert.deepEqual(hex(parser.offsets.withoutOffset(withIt)), hex(frames));
    assert.equal(parser.offsets.offsetIn(frames[0]), null);
  });

  test("the decoder: packets out in order, attachments in place; a refusal, garbage and an oversized packet are ProtocolErrors naming the cause", () => {
    const got: Packet[] = [];
    const d = new PacketDecoder(sio, (p) => got.push(p), undefined, 100);
    const frames = encodePacket(event);
    d.add(Buffer.from(frames[0].data).toString().slice(1));
    assert.equal(got.length, 0, "waits for its attachment");
    d.add(Buffer.from(frames[1].data));
    assert.equal(got.length, 1);
    assert.deepEqual([...(got[0].data as [string, number, { blob: Buffer }])[2].blob], [1, 2]);
    assert.throws(
      () => d.add("9nonsense"),
      (err: Error) => err instanceof ProtocolError && /^the parser refused a packet: /.test(err.message),
    );
    class Garbage {
      private fn: ((p: unknown) => void) | null = null;
      on(_ev: string, fn: (p: unknown) => void) {
        this.fn = fn;
      }
      add() {
        this.fn?.({ type: 2, nsp: "/", data: "not a list" });
      }
    }
    const g = new PacketDecoder({ Encoder: sio.Encoder, Decoder: Garbage } as unknown as Parser, () => assert.fail("garbage must not come out"));
    assert.throws(() => g.add("x"), /the parser decoded an invalid packet: invalid EVENT payload/);
    assert.throws(() => new PacketDecoder(sio, () => {}, undefined, 10).add("x".repeat(11)), /exceed maxPayload/);
  });
});
