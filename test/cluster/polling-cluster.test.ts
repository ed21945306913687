// Polling without sticky sessions: two workers (two Servers in this process, each with its own
// cluster node, over the embedded relay or a real nats-server). A polling request that reaches the
// worker that does not hold its session is forwarded to the owner and answered back. An upgrade
// there moves the session with connectionStateRecovery (same id, rooms, data; nothing lost or
// doubled), and is refused without it (the client goes on polling). First on the wire, each worker
// on its own port so that the test picks the worker; then 250 socket.io-clients against both workers
// on ONE port (SO_REUSEPORT: the kernel spreads the TCP connections), every broadcast delivered
// exactly once, and with recovery every default client ends on WebSocket.
import { test, after, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { io as ioClient, type Socket as ClientSocket } from "socket.io-client";
import { createClusterAdapter, Relay, Server, type ServerOptions, type Socket } from "../../src/index.ts";
import type { SessionForwarding } from "../../src/cluster/session-forwarding.ts";
import { NatsServerBackend, natsServerAvailable, seeEachOther } from "../helpers/cluster.ts";
import { freePort } from "../helpers/process.ts";
import { http, POLLING, RawPolling } from "../helpers/polling.ts";
import { RawWebSocket } from "../helpers/raw-ws.ts";
import { sleep, until } from "../helpers/wait.ts";

const relay = new Relay();
const relayPort = await freePort();
await relay.listen(relayPort, "127.0.0.1");
after(() => relay.close());

const embedded = `nats://127.0.0.1:${relayPort}`;

async function worker(port: number, opts: ServerOptions = {}, servers = embedded): Promise<Server> {
  const io = new Server({
    reusePort: true,
    // Both workers share this process's event loop: after a stall (250 clients connecting on a
    // busy 2-core box) a worker's timer can run before it reads the other's heartbeats, so a short
    // heartbeatTimeout would drop a live peer (and, until it is back, its room interest and its
    // sessions' forwarding).
    adapter: createClusterAdapter({ servers, heartbeatInterval: 100, heartbeatTimeout: 5000, requestTimeout: 2000 }),
    logger: "warn",
    ...opts,
  });
  await io.listen(port, "127.0.0.1");
  await (io.sockets.adapter as unknown as { node: { ready: Promise<void> } }).node.ready;
  return io;
}

const forwarding = (io: Server) => io.sessionRoutes as SessionForwarding;

/** The packets of the next poll through `port` (the worker it reaches) that carries more than pings. */
const poll = (port: number, sid: string) => RawPolling.at(port, sid).poll();

test("polls and POSTs through the other worker reach the session's owner; its upgrade there is refused, polling goes on", async () => {
  const [portA, portB] = [await freePort(), await freePort()];
  const A = await worker(portA, { cors: { origin: "https://app.example" } });
  const B = await worker(portB, { cors: { origin: "https://app.example" } });
  try {
    await seeEachOther(A, B);
    let onA: Socket | null = null;
    const uploads: Buffer[] = [];
    A.on("connection", (s) => {
      onA = s;
      s.on("up", (buf: Buffer) => uploads.push(buf));
    });
    B.on("connection", () => assert.fail("the session lives on A: B makes no socket"));

    const hs = await http(portA, "GET", POLLING);
    const sid = JSON.parse(hs.body.slice(1)).sid as string;
    assert.equal(sid.slice(0, 8), forwarding(A).idPrefix, "the session id starts with its worker's id");

    // Connect through B: the POST and the poll are answered by A, through B, with B's CORS headers.
    const post = await http(portB, "POST", `${POLLING}&sid=${sid}`, "40", { Origin: "https://app.example" });
    assert.deepEqual([post.status, post.body, post.headers["access-control-allow-origin"]], [200, "ok", "https://app.example"]);
    const connect = (await poll(portB, sid)).find((p) => p.startsWith("40"));
    assert.ok(connect, "the CONNECT answer came back through B");
    await until(() => onA, "the socket on A");

    // Binary both ways through B, and a long-poll B holds until A has something to send.
    const held = poll(portB, sid);
    await sleep(50);
    onA!.emit("bin", Buffer.from([1, 2, 3]));
    assert.deepEqual(await held, ['451-["bin",{"_placeholder":true,"num":0}]', "bAQID"]);
    const up = await http(portB, "POST", `${POLLING}&sid=${sid}`, ['451-["up",{"_placeholder":true,"num":0}]', "bBAUG"].join("\x1e"));
    assert.equal(up.body, "ok");
    await until(() => uploads.length === 1, "the upload on A");
    assert.deepEqual([...uploads[0]], [4, 5, 6]);

    // A WebSocket cannot be forwarded: the probe on B is refused with code 3 (not 1, the session is fine).
    await assert.rejects(RawWebSocket.open(portB, `/socket.io/?EIO=4&transport=websocket&sid=${sid}`), /400 Bad Request[\s\S]*"code":3/);
    const next = poll(portB, sid);
    onA!.emit("still", "polling");
    assert.deepEqual(await next, ['42["still","polling"]']);
    assert.equal(A.engineEndpoint.clientsCount, 1);

    // A session id naming no live worker is unknown (code 1), at once.
    const unknown = await http(portB, "GET", `${POLLING}&sid=zzzzzzzz${sid.slice(8)}`);
    assert.deepEqual([unknown.status, JSON.parse(unknown.body).code], [400, 1]);

    // A forwarded poll whose client goes away ends the session on its owner, as a local one would.
    const gone = new Promise<string>((resolve) => onA!.on("disconnect", resolve));
    for (let cut = false; !cut; ) {
      // Cut after 200 ms, unless a ping answers it first (then again).
      const reply = await http(portB, "GET", `${POLLING}&sid=${sid}`, undefined, {}, 200).catch((err: Error) => err);
      cut = reply instanceof Error;
      if (!cut) assert.equal((reply as { body: string }).body, "2");
    }
    assert.equal(await gone, "transport error");
    assert.deepEqual([forwarding(B).stats.forwarded >= 6, forwarding(A).stats.served >= 6, forwarding(B).stats.unanswered], [true, true, 0]);
  } finally {
    await Promise.all([A.close(), B.close()]);
  }
});

test("a probe on the other worker that ends before the switch: the owner holds its polls again, the session stays there", async () => {
  const [portA, portB] = [await freePort(), await freePort()];
  const A = await worker(portA, { connectionStateRecovery: {} });
  const B = await worker(portB, { connectionStateRecovery: {} });
  try {
    await seeEachOther(A, B);
    let onA: Socket | null = null;
    A.on("connection", (s) => (onA = s));
    const hs = await http(portA, "GET", POLLING);
    const sid = JSON.parse(hs.body.slice(1)).sid as string;
    await http(portA, "POST", `${POLLING}&sid=${sid}`, "40");
    await poll(portA, sid);
    await until(() => onA, "the socket on A");
    const ws = await RawWebSocket.open(portB, `/socket.io/?EIO=4&transport=websocket&sid=${sid}`);
    ws.sendText("2probe");
    await ws.waitText((t) => t === "3probe");
    assert.deepEqual(await poll(portA, sid), ["6"], "released while the probe runs");
    ws.destroy();
    await sleep(200); // B tells A the probe is off
    // Held again: this poll carries the next event, not a noop.
    const held = poll(portA, sid);
    await sleep(100);
    onA!.emit("still", "here");
    const [packet] = await held;
    assert.match(packet!, /^42\["still","here","[\w-]+\.\w+"\]$/); // with its recovery offset
    assert.equal(onA!.connected, true);
    assert.deepEqual([A.engineEndpoint.stats.movedOut, B.engineEndpoint.stats.movedIn], [0, 0]);
  } finally {
    await Promise.all([A.close(), B.close()]);
  }
});

const moveTest =
  "with connectionStateRecovery, a polling session whose WebSocket lands on the other worker moves there: same id, rooms and data; nothing lost, nothing twice";
test(`${moveTest} (embedded relay)`, () => moveOnTheWire(embedded));
test(`${moveTest} (nats-server)`, { skip: natsServerAvailable() ? false : "nats-server is not installed" }, async () => {
  const nats = await NatsServerBackend.create();
  await nats.start();
  try {
    await moveOnTheWire(nats.url);
  } finally {
    await nats.stop();
  }
});

async function moveOnTheWire(servers: string): Promise<void> {
  const [portA, portB] = [await freePort(), await freePort()];
  const A = await worker(portA, { connectionStateRecovery: {} }, servers);
  const B = await worker(portB, { connectionStateRecovery: {} }, servers);
  try {
    await seeEachOther(A, B);
    const events: string[] = [];
    let onA: Socket | null = null;
    let onB: Socket | null = null;
    A.on("connection", (s) => {
      onA = s;
      s.join("room");
      s.data = { name: "kept" };
      s.on("disconnecting", () => events.push(`A: disconnecting, moved ${s.moved}`));
      s.on("disconnect", (reason) => events.push(`A: disconnect (${reason})`));
    });
    B.on("connection", (s) => {
      onB = s;
      events.push(`B: connection, recovered ${s.recovered}`);
      s.on("hello", (x: string, ack: (r: string) => void) => ack(`B got ${x}`));
    });

    const hs = await http(portA, "GET", POLLING);
    const sid = JSON.parse(hs.body.slice(1)).sid as string;
    assert.equal((await http(portA, "POST", `${POLLING}&sid=${sid}`, "40")).body, "ok");
    const connect = (await poll(portA, sid)).find((p) => p.startsWith("40"))!;
    await until(() => onA, "the socket on A");
    const socketId = onA!.id;
    assert.equal(JSON.parse(connect.slice(2)).sid, socketId);
    // Worker B routes "room" to A before anything is emitted there from B.
    await until(async () => (await B.in("room").fetchSockets()).length === 1, "B to see the member of room");

    // The probe on B: answered once A has released its polls (a poll on A is answered at once).
    const ws = await RawWebSocket.open(portB, `/socket.io/?EIO=4&transport=websocket&sid=${sid}`);
    ws.sendText("2probe");
    await ws.waitText((t) => t === "3probe");
    assert.deepEqual(await poll(portA, sid), ["6"]);

    // Queued on A while the client has paused polling: they go along with the session.
    A.to("room").emit("m", "A1");
    onA!.emit("m", "A-direct");
    B.to("room").emit("m", "B1");
    await sleep(50);
    // The switch, an event with an ack right behind it, and broadcasts from both workers while the
    // session moves.
    ws.sendText("5");
    ws.sendText('421["hello","x"]');
    A.to("room").emit("m", "A2");
    B.to("room").emit("m", "B2");
    await until(() => onB, "the socket restored on B");
    A.to("room").emit("m", "A3");
    B.to("room").emit("m", "B3");
    A.to(socketId).emit("m", "A-to-id");
    B.to(socketId).emit("m", "B-to-id");

    const events42 = () =>
      ws
        .texts()
        .filter((t) => t.startsWith("42"))
        .map((t) => JSON.parse(t.slice(2))[1] as string);
    const want = ["A1", "A-direct", "B1", "A2", "B2", "A3", "B3", "A-to-id", "B-to-id"];
    await ws.waitFor(() => events42().length >= want.length, 5000, "every event on the WebSocket");
    await sleep(200);
    const got = events42();
    assert.deepEqual([...got].sort(), [...want].sort(), "each event exactly once");
    for (const origin of ["A", "B"]) {
      const fromOne = got.filter((e) => e.startsWith(origin) && e !== `${origin}-direct` && e !== `${origin}-to-id`);
      assert.deepEqual(fromOne, [...fromOne].sort(), `in emit order from ${origin}`);
    }
    await ws.waitText((t) => t === '431["B got x"]');

    assert.equal(onB!.id, socketId, "same id");
    assert.deepEqual([...onB!.rooms].sort(), ["room", socketId].sort(), "same rooms");
    assert.deepEqual(onB!.data, { name: "kept" }, "same data");
    assert.deepEqual(events, ["A: disconnecting, moved true", "A: disconnect (transport close)", "B: connection, recovered true"]);
    assert.deepEqual([A.engineEndpoint.clientsCount, B.engineEndpoint.clientsCount], [0, 1]);
    assert.deepEqual([A.engineEndpoint.stats.movedOut, B.engineEndpoint.stats.movedIn], [1, 1]);
    // A poll on A for the session now gets "Session ID unknown": it lives on B.
    assert.equal(JSON.parse((await http(portA, "GET", `${POLLING}&sid=${sid}`)).body).code, 1);
    ws.destroy();
  } finally {
    await Promise.all([A.close(), B.close()]);
  }
}

test("250 clients on two workers sharing one port, no sticky sessions: every broadcast exactly once", (t) => fanOut(t, false));

test("with connectionStateRecovery, every default client's session moves to the worker its WebSocket lands on: all on WebSocket, every broadcast exactly once", (t) =>
  fanOut(t, true));

async function fanOut(t: TestContext, recovery: boolean): Promise<void> {
  const port = await freePort();
  const opts: ServerOptions = recovery ? { connectionStateRecovery: {} } : {};
  const A = await worker(port, opts);
  const B = await worker(port, opts);
  const clients: { c: ClientSocket; odd: boolean; got: number[]; connects: number; disconnects: number; pollingOnly: boolean }[] = [];
  try {
    await seeEachOther(A, B);
    let recovered = 0;
    for (const io of [A, B])
      io.on("connection", (s) => {
        // A session that moved here is back in its rooms (restored like a recovery).
        if (s.recovered) return void recovered++;
        s.join("all");
        s.join(s.handshake.auth.odd ? "odd" : "even");
      });
    for (let i = 0; i < 250; i++) {
      const pollingOnly = i >= 200;
      const odd = i % 2 === 1;
      const c = ioClient(`http://127.0.0.1:${port}`, {
        forceNew: true,
        reconnection: false,
        auth: { odd },
        ...(pollingOnly ? { transports: ["polling"] } : {}),
      });
      const entry = { c, odd, got: [] as number[], connects: 0, disconnects: 0, pollingOnly };
      c.on("connect", () => entry.connects++);
      c.on("disconnect", () => entry.disconnects++);
      c.on("m", (n: number) => entry.got.push(n));
      clients.push(entry);
    }
    await until(() => clients.every((e) => e.connects === 1) && A.sockets.sockets.size + B.sockets.sockets.size === 250, "250 sockets", 15_000);

    // 60 broadcasts, from both workers in turn, spaced so that they interleave with upgrades and
    // forwarded polls: to everyone, to a union that holds everyone once, to the odd clients.
    // Room interest (which worker holds members of which rooms) is announced asynchronously: a
    // union emitted before a worker's announcement arrives would miss that worker. Wait until a
    // union from each worker reaches every client.
    const warm = clients.map(() => new Set<string>());
    clients.forEach((e, i) => e.c.on("warm", (from: string) => warm[i]!.add(from)));
    await until(
      () => {
        A.to("even").to("odd").emit("warm", "A");
        B.to("even").to("odd").emit("warm", "B");
        return warm.every((w) => w.size === 2);
      },
      "a union from each worker at every client",
      10_000,
    );

    const N = 60;
    for (let i = 0; i < N; i++) {
      const io = i % 2 === 0 ? A : B;
      if (i % 3 === 0) io.emit("m", i);
      else if (i % 3 === 1) io.to("even").to("all").emit("m", i);
      else io.to("odd").emit("m", i);
      if (i % 6 === 5) await sleep(10);
    }
    const expected = (odd: boolean) => Array.from({ length: N }, (_, i) => i).filter((i) => i % 3 !== 2 || odd);
    await until(() => clients.every((e) => e.got.length >= expected(e.odd).length), "every broadcast at every client", 15_000);
    // A last broadcast from each worker: whatever was still on its way arrived before it.
    for (const io of [A, B]) io.emit("m", -1);
    await until(() => clients.every((e) => e.got.filter((n) => n === -1).length === 2), "the closing broadcasts", 10_000);

    for (const e of clients) {
      const got = e.got.filter((n) => n >= 0);
      assert.deepEqual(
        [...got].sort((x, y) => x - y),
        expected(e.odd),
        "each broadcast exactly once",
      );
      // Per origin, in emit order (A's are the even numbers, B's the odd ones).
      for (const parity of [0, 1]) {
        const fromOne = got.filter((n) => n % 2 === parity);
        assert.deepEqual(
          fromOne,
          [...fromOne].sort((x, y) => x - y),
          "in order per worker",
        );
      }
      assert.deepEqual([e.connects, e.disconnects], [1, 0], "connected once, never dropped");
    }
    const transportOf = (e: (typeof clients)[number]) => (e.c.io.engine as unknown as { transport: { name: string } }).transport.name;
    const onWebSocket = clients.filter((e) => !e.pollingOnly && transportOf(e) === "websocket").length;
    assert.ok(clients.filter((e) => e.pollingOnly).every((e) => transportOf(e) === "polling"));
    const forwarded = forwarding(A).stats.forwarded + forwarding(B).stats.forwarded;
    assert.ok(forwarded > 0, "some requests landed on the worker that does not hold their session");
    const moved = A.engineEndpoint.stats.movedIn + B.engineEndpoint.stats.movedIn;
    if (recovery) {
      assert.equal(onWebSocket, 200, "every default client upgraded, wherever its WebSocket landed");
      assert.ok(moved > 0, "some sessions moved to the worker their WebSocket landed on");
      assert.equal(recovered, moved, "each moved socket was restored (connection with socket.recovered)");
      assert.equal(A.engineEndpoint.stats.movedOut + B.engineEndpoint.stats.movedOut, moved);
    } else {
      assert.ok(onWebSocket > 0 && onWebSocket < 200, `some upgrades landed on the session's owner, some elsewhere (${onWebSocket})`);
      assert.equal(moved, 0);
    }
    t.diagnostic(
      `default clients on WebSocket at the end: ${onWebSocket}/200; sessions moved: ${moved}; requests forwarded: ${forwarded}; ` +
        `sockets A/B: ${A.sockets.sockets.size}/${B.sockets.sockets.size}`,
    );
  } finally {
    for (const e of clients) e.c.close();
    await Promise.all([A.close(), B.close()]);
  }
}
