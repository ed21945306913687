// Socket.IO's `parser` option across workers (socket.io-msgpack-parser): the rooms behaviours hold
// between in-process workers over the embedded relay, with one encode per broadcast for the whole
// cluster (the envelope carries the encoded frames) and the emitter given the same parser;
// connection-state recovery moves a session between workers; a worker whose parser differs from
// the cluster's refuses to join with a clear error. Real relay, real socket.io-client.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { io as ioClient, type Socket as ClientSocket, type ManagerOptions, type SocketOptions } from "socket.io-client";
import { type ClusterAdapter, createClusterAdapter, Emitter, type Parser, type ParserPacket, Server, type Socket } from "../../src/index.ts";
import { EmbeddedBackend, seeEachOther } from "../helpers/cluster.ts";
import { until } from "../helpers/wait.ts";
import { counting, msgpackParser, SKIP_MSGPACK } from "../helpers/msgpack.ts";
import { once, record } from "../helpers/server.ts";

const base = msgpackParser as Parser;
const counter = { encodes: 0, packets: [] as ParserPacket[] };
const parser = msgpackParser ? counting(base, counter) : base;

/** A worker in this process. With recovery on (`recovery`), each worker's log gives an event its
 *  own offset, so each re-encodes what it records: the encode counts are taken with it off. */
async function worker(url: string, opts: { parser?: Parser; recovery?: boolean; log?: (level: "info" | "warn" | "error", m: string) => void } = {}) {
  const io = new Server({
    parser: "parser" in opts ? opts.parser : parser,
    connectionStateRecovery: opts.recovery ? {} : undefined,
    adapter: createClusterAdapter({ servers: url, heartbeatInterval: 100, heartbeatTimeout: 400, requestTimeout: 1000, handoverTimeout: 1000, log: opts.log }),
    logger: "warn",
  });
  io.on("connection", async (s) => {
    if (s.recovered) return;
    const { rooms } = (s.handshake.auth ?? {}) as { rooms?: string[] };
    await s.join(rooms ?? []);
    s.emit("ready");
  });
  io.of("/admin");
  const port = await io.listen(0, "127.0.0.1");
  const node = (io.sockets.adapter as unknown as ClusterAdapter).node;
  await node.ready;
  return { io, node, url: `http://127.0.0.1:${port}` };
}

const clients: ClientSocket[] = [];
function client(url: string, o: Partial<ManagerOptions & SocketOptions> = {}): ClientSocket {
  const c = ioClient(url, { parser: base, transports: ["websocket"], forceNew: true, reconnection: false, ...o });
  clients.push(c);
  return c;
}

async function ready(c: ClientSocket): Promise<ClientSocket> {
  await once(c, "ready", 5000);
  return c;
}

describe("socket.io-msgpack-parser across workers", { skip: SKIP_MSGPACK, timeout: 60_000 }, () => {
  let backend: EmbeddedBackend;
  before(async () => {
    backend = await EmbeddedBackend.create();
    await backend.start();
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    await backend?.stop();
  });

  it("rooms behave as on one process, each broadcast encoded once for the whole cluster, the emitter too", async () => {
    const A = await worker(backend.url);
    const B = await worker(backend.url);
    const emitter = new Emitter({ servers: backend.url, parser, log: () => {} });
    try {
      await seeEachOther(A.io, B.io);
      const a1 = await ready(client(A.url + "/", { auth: { rooms: ["a", "b"] }, transports: ["polling", "websocket"] }));
      const b1 = await ready(client(B.url + "/", { auth: { rooms: ["a"] } }));
      const b2 = await ready(client(B.url + "/", { auth: { rooms: ["b", "muted"] }, transports: ["polling"] }));
      const b3 = await ready(client(B.url + "/", { auth: { rooms: [] } }));
      const admin = client(B.url + "/admin");
      await once(admin, "connect");
      const all = [a1, b1, b2, b3];
      for (const c of all) c.on("q", (x: number, ack: (y: number) => void) => ack(x * 2));
      const logs = all.map(record);
      const adminLog = record(admin);
      const sA1 = [...A.io.sockets.sockets.values()].find((s) => s.id === a1.id) as Socket;

      counter.encodes = 0;
      A.io.to("a").emit("ev", "to a");
      A.io.in("a").to("b").emit("ev", "a or b once");
      A.io.to(["a", "b"]).except("muted").emit("ev", "a or b but muted");
      sA1.to("a").emit("ev", "from a1 to a");
      A.io.in("b").emit("ev", Buffer.from([7, 7]));
      A.io.of("/admin").emit("ev", "admin only");
      assert.equal(counter.encodes, 6, "one encode per broadcast, for every worker");
      const responses = await A.io.to("a").timeout(3000).emitWithAck("q", 5);
      assert.deepEqual(responses, [10, 10]);
      // After a round trip: as Socket.IO, a volatile packet is dropped while the transport has a write waiting.
      const beforeVolatile = counter.encodes;
      A.io.volatile.to("a").emit("ev", "volatile");
      assert.equal(counter.encodes - beforeVolatile, 1, "a volatile broadcast too is encoded once for every worker");
      const ends = all.map((c) => once(c, "end", 5000));
      A.io.emit("end");
      await Promise.all(ends);

      const evs = (i: number) =>
        logs[i].filter(([ev]) => ev === "ev").map(([, x]) => (Buffer.isBuffer(x) || x instanceof Uint8Array ? [...(x as Uint8Array)] : x));
      assert.deepEqual(evs(0), ["to a", "a or b once", "a or b but muted", [7, 7], "volatile"]);
      assert.deepEqual(evs(1), ["to a", "a or b once", "a or b but muted", "from a1 to a", "volatile"]);
      assert.deepEqual(evs(2), ["a or b once", [7, 7]]);
      assert.deepEqual(evs(3), []);
      await until(() => adminLog.length === 1, "the admin namespace's event");
      assert.deepEqual(adminLog, [["ev", "admin only"]]);

      // The emitter: encoded once by it, delivered by both workers as it is.
      await emitter.ready;
      counter.encodes = 0;
      emitter.to("b").except("muted").emit("ev", "from the emitter");
      const ends2 = all.map((c) => once(c, "end2", 5000));
      emitter.emit("end2");
      await Promise.all(ends2);
      assert.equal(counter.encodes, 2);
      assert.deepEqual(
        logs.map((l) => l.filter(([ev, x]) => ev === "ev" && x === "from the emitter").length),
        [1, 0, 0, 0],
      );
    } finally {
      await emitter.close();
      await Promise.all([A.io.close(), B.io.close()]);
    }
  });

  it("connection-state recovery: a client cut off from worker A recovers on B with what it missed, once, in order", async () => {
    const A = await worker(backend.url, { recovery: true });
    const B = await worker(backend.url, { recovery: true });
    try {
      await seeEachOther(A.io, B.io);
      const c = await ready(client(A.url, { auth: { rooms: ["a"] } }));
      const got: unknown[] = [];
      c.on("m", (x: unknown) => got.push(x));
      const sA = A.io.sockets.sockets.get(c.id!)!;
      A.io.to("a").emit("m", 0);
      await until(() => got.length === 1, "the first event");
      const gone = once(sA, "disconnect");
      c.io.engine.close();
      await gone;
      // Events of two origins: their order is A's (each origin's own order holds), so B's first is
      // let reach A before A's own.
      const recorded = () => A.io.sockets.adapter.recovery!.stats.recorded;
      const base = recorded();
      B.io.to("a").emit("m", 1);
      await until(() => recorded() >= base + 1, "A to record B's broadcast");
      A.io.to("a").emit("m", 2);
      B.io.to(sA.id).emit("m", 3);
      await until(() => recorded() >= base + 3, "A to record the rest");
      const seen = once<[Socket]>(B.io, "connection", 5000);
      (c.io as unknown as { uri: string }).uri = B.url;
      c.connect();
      const [sB] = await seen;
      assert.equal(sB.recovered, true);
      assert.equal(sB.id, sA.id);
      const end = once(c, "end", 5000);
      sB.emit("end");
      await end;
      assert.deepEqual(got, [0, 1, 2, 3]);
    } finally {
      await Promise.all([A.io.close(), B.io.close()]);
    }
  });

  it("a worker whose parser differs refuses to join, with a clear error; the cluster goes on", async () => {
    const A = await worker(backend.url);
    const B = await worker(backend.url);
    const logs: string[] = [];
    let C: Awaited<ReturnType<typeof worker>> | undefined;
    try {
      await seeEachOther(A.io, B.io);
      C = await worker(backend.url, { parser: undefined, log: (level, m) => logs.push(`${level} ${m}`) });
      await until(() => C!.node.refusal !== null, "the newcomer to refuse");
      assert.match(C.node.refusal!.message, /refusing to join: worker [\w-]{8} uses another parser/);
      assert.ok(
        logs.some((l) => l.startsWith("error ") && l.includes("the same `parser` option")),
        logs.join("\n"),
      );
      assert.ok(A.node.stats.foreignParsers > 0 || B.node.stats.foreignParsers > 0);
      assert.equal(await A.io.sockets.adapter.serverCount(), 2);
      const c = await ready(client(B.url, { auth: { rooms: ["r"] } }));
      const got = once<[number]>(c, "still", 5000);
      A.io.to("r").emit("still", 1);
      assert.deepEqual(await got, [1]);
    } finally {
      await Promise.all([A.io.close(), B.io.close(), C?.io.close()]);
    }
  });
});
