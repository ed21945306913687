// The cluster adapter across real worker processes, with the official socket.io-client on each
// worker: against the embedded relay, and against a real nats-server when one is installed.
// Run: node --import tsx --test test/cluster/cluster.test.ts
import { describe, it, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { createClusterAdapter, Emitter, Server, type ClusterAdapter } from "../../src/index.ts";
import clusterApp from "../helpers/cluster-app.ts";
import {
  connect,
  EmbeddedBackend,
  killAll,
  NatsCluster,
  natsServerAvailable,
  NatsServerBackend,
  op,
  received,
  runScript,
  startWorker,
  type Backend,
  type Client,
  type Worker,
} from "../helpers/cluster.ts";
import { sleep, until } from "../helpers/wait.ts";

const HAS_NATS = natsServerAvailable();
if (!HAS_NATS) console.log("# nats-server not installed: the real-NATS cluster tests are skipped (apt-get install nats-server)");

after(killAll);

function clusterSuite(name: string, makeBackend: () => Promise<Backend>, skip: string | false) {
  describe(`cluster over ${name}`, { skip, timeout: 60_000 }, () => {
    let backend: Backend;
    let A: Worker;
    let B: Worker;
    // a1, a2 on worker A; b1, b2, b3 on worker B.
    let a1: Client, a2: Client, b1: Client, b2: Client, b3: Client;
    const all = () => [a1, a2, b1, b2, b3];

    before(async () => {
      backend = await makeBackend();
      await backend.start();
      [A, B] = await Promise.all([startWorker("A", backend.url), startWorker("B", backend.url)]);
      [a1, a2, b1, b2, b3] = await Promise.all([
        connect(A.port, "a1", ["r1", "r2", "both"]),
        connect(A.port, "a2", ["r2"]),
        connect(B.port, "b1", ["r1", "both"]),
        connect(B.port, "b2", ["r2", "x"]),
        connect(B.port, "b3"),
      ]);
      await until(async () => (await op(a1, "serverCount")) === 2 && (await op(b1, "serverCount")) === 2, "both workers to see each other");
    });

    after(async () => {
      for (const c of all()) c?.socket.disconnect();
      await Promise.all([A?.kill(), B?.kill()]);
      await backend?.stop();
    });

    /** How many events `ev` each client got, in the order of all(). */
    const counts = (ev: string) => all().map((c) => received(c, ev).length);

    /** A barrier instead of a settle sleep: each worker's earlier broadcasts have reached the other
     *  (quiet: a request travels behind them), and each client has what its worker sent it before (an
     *  op's answer is emitted after it). */
    async function barrier(clients = all()) {
      await quiet(a1, b1);
      await Promise.all(clients.map((c) => op(c, "rooms")));
    }

    /** Waits until the clients got `count` events `ev` in total, then for the barrier: extras show. */
    async function settle(ev: string, count: number, clients = all()) {
      await until(() => clients.reduce((n, c) => n + received(c, ev).length, 0) >= count, `${count} "${ev}" events`);
      await barrier(clients);
    }

    it("a union of rooms reaches every member in the cluster exactly once, in emit order", async () => {
      const many = ["r1", ...Array.from({ length: 19 }, (_, i) => `nobody-${i}`)]; // > maxRoomSubjects: one publish on the namespace subject
      const targets = [["r1", "r2", "both"], ["r1"], [], ["both", "x"], ["r2", "x", "r1"], many];
      const N = 60;
      for (let i = 0; i < N; i++) await op(a2, "broadcast", { to: targets[i % targets.length], ev: "u", args: [i] });
      const expected = (member: string[]) =>
        [...Array(N).keys()]
          .filter((i) => targets[i % targets.length]!.length === 0 || targets[i % targets.length]!.some((r) => member.includes(r)))
          .map((i) => [i]);
      const want = [expected(["r1", "r2", "both"]), expected(["r2"]), expected(["r1", "both"]), expected(["r2", "x"]), expected([])];
      await settle(
        "u",
        want.reduce((n, w) => n + w.length, 0),
      );
      assert.deepEqual(
        all().map((c) => received(c, "u")),
        want,
      );
      // Worker B holds a recipient of every one of them and got each once, not once per room of it
      // that it holds (a union goes once to each interested worker).
      const stats = await op(b1, "clusterStats");
      assert.equal(stats.broadcastsIn, N, JSON.stringify(stats));
      assert.equal(stats.duplicatesDropped, 0, JSON.stringify(stats));
    });

    it("room names that are not valid NATS subject tokens", async () => {
      const odd = ["with space", "dots.in.it", "star*", "gt>", "ünï ☃", "a.*.>"];
      const c = await connect(B.port, "odd", odd);
      try {
        for (const room of odd) await op(a1, "broadcast", { to: [room], ev: "odd", args: [room] });
        await until(() => received(c, "odd").length === odd.length, "one event per odd room");
        assert.deepEqual(
          received(c, "odd"),
          odd.map((r) => [r]),
        );
        // The rooms are distinct subjects: "dots.in.it" is not "dots" + "in" + "it".
        await op(a1, "broadcast", { to: ["dots"], ev: "odd2" });
        await op(a1, "broadcast", { to: ["a"], ev: "odd2" });
        await barrier([c]);
        assert.equal(received(c, "odd2").length, 0);
      } finally {
        c.socket.disconnect();
      }
    });

    it("once join's promise resolved, a broadcast from another worker reaches the new member", async () => {
      // Each room is new to worker B: its interest must reach worker A before A publishes. Without
      // the wait, a broadcast right after the join could be routed by A's older view and miss B.
      const rooms = Array.from({ length: 30 }, (_, i) => `fresh-${i}`);
      const single = rooms.slice(0, 15);
      const unions = rooms.slice(15);
      for (const room of single) {
        await op(b3, "joinSelf", { rooms: [room] });
        await op(a1, "broadcast", { to: [room], ev: "fresh", args: [room] });
      }
      for (const room of unions) {
        await op(b3, "joinSelf", { rooms: [room] });
        await op(a1, "broadcast", { to: [room, "nobody-else"], ev: "fresh", args: [room] });
      }
      await settle("fresh", rooms.length, [b3]);
      assert.deepEqual(
        received(b3, "fresh"),
        rooms.map((r) => [r]),
      );
      await op(b3, "leave", { to: [b3.id], rooms });
    });

    it("serverCount counts the workers serving the namespace", async () => {
      assert.equal(await op(a1, "serverCount"), 2);
      assert.equal(await op(a1, "serverCountOf", { nsp: "/admin" }), 1, "only worker A serves /admin");
    });

    it("except rooms are applied on every worker against its own members; namespace-wide and binary broadcasts", async () => {
      // from B: r2 except x (x only on B) → a1, a2; both except r2 → b1 (a1 is in r2)
      await op(b3, "broadcast", { to: ["r2"], except: ["x"], ev: "e1" });
      await op(b3, "broadcast", { to: ["both"], except: ["r2"], ev: "e2" });
      await op(a1, "broadcast", { except: ["r1"], ev: "e3", args: [Buffer.from("bin"), { nested: [Buffer.from([0, 255])] }] });
      await settle("e3", 3);
      assert.deepEqual(counts("e1"), [1, 1, 0, 0, 0]);
      assert.deepEqual(counts("e2"), [0, 0, 1, 0, 0]);
      assert.deepEqual(counts("e3"), [0, 1, 0, 1, 1]);
      const [bin, obj] = received(b2, "e3")[0] as [Buffer, { nested: Buffer[] }];
      assert.equal(Buffer.from(bin).toString(), "bin");
      assert.deepEqual([...Buffer.from(obj.nested[0]!)], [0, 255]);
    });

    it("socket.to / socket.broadcast across workers skip only the sender; a private message reaches a socket on another worker", async () => {
      await op(a1, "socketTo", { to: ["r1"], ev: "st" });
      await op(b2, "socketBroadcast", { ev: "sb" });
      await op(a1, "broadcast", { to: [b2.id], ev: "pm", args: ["hi b2"] });
      await settle("sb", 4);
      assert.deepEqual(counts("st"), [0, 0, 1, 0, 0]);
      assert.deepEqual(counts("sb"), [1, 1, 1, 0, 1]);
      assert.deepEqual(
        all().map((c) => received(c, "pm")),
        [[], [], [], [["hi b2"]], []],
      );
    });

    it("local and volatile flags", async () => {
      await op(a1, "broadcast", { to: ["r2"], local: true, ev: "loc" });
      await op(a1, "broadcast", { to: ["r2"], volatile: true, ev: "vol" });
      await settle("vol", 3);
      assert.deepEqual(counts("loc"), [1, 1, 0, 0, 0]);
      assert.deepEqual(counts("vol"), [1, 1, 0, 1, 0]);
    });

    it("fetchSockets is cluster-wide; remote sockets carry id, handshake, rooms, data and act on their own worker", async () => {
      const everyone = await op(a1, "fetch");
      assert.deepEqual(
        everyone.map((s: any) => [s.name, s.data.worker, s.remote]),
        [
          ["a1", "A", false],
          ["a2", "A", false],
          ["b1", "B", true],
          ["b2", "B", true],
          ["b3", "B", true],
        ],
      );
      const inR2 = await op(b1, "fetch", { to: ["r2"], except: ["x"] });
      assert.deepEqual(
        inR2.map((s: any) => s.name),
        ["a1", "a2"],
      );
      assert.deepEqual(inR2[0].rooms, [a1.id, "both", "r1", "r2"].sort());
      assert.deepEqual(
        (await op(a1, "fetch", { local: true })).map((s: any) => s.name),
        ["a1", "a2"],
      );

      await op(a1, "remote", { id: b3.id, action: "join", args: [["joined-remotely"]] });
      await until(async () => (await op(b3, "rooms")).includes("joined-remotely"), "b3 to join a room from worker A");
      await op(a1, "remote", { id: b3.id, action: "emit", args: ["remote hello", 1] });
      await until(() => received(b3, "remote hello").length === 1, "remote emit");
      await op(a1, "remote", { id: b3.id, action: "leave", args: ["joined-remotely"] });
      await until(async () => !(await op(b3, "rooms")).includes("joined-remotely"), "b3 to leave");
      // RemoteSocket.timeout(ms).emit with an acknowledgement: the remote client's one answer, not a list.
      assert.deepEqual(await op(a1, "remoteAsk", { id: b3.id, timeout: 3000, ev: "remote question", args: ["why"] }), { err: null, answer: "answer from b3" });
    });

    it("socketsJoin / socketsLeave across workers", async () => {
      await op(a1, "join", { to: ["x"], rooms: ["y"] });
      await until(async () => (await op(a1, "fetch", { to: ["y"] })).map((s: any) => s.name).join() === "b2", "b2 to join y");
      await op(b1, "join", { to: ["r1"], except: ["both"], rooms: ["nobody"] });
      await op(b1, "join", { to: ["r2"], rooms: ["z1", "z2"] });
      await until(async () => (await op(b1, "fetch", { to: ["z2"] })).map((s: any) => s.name).join() === "a1,a2,b2", "r2 to join z2");
      assert.deepEqual(await op(b1, "fetch", { to: ["nobody"] }), []);
      await op(b2, "leave", { rooms: ["z1", "y"] });
      await until(async () => (await op(a2, "fetch", { to: ["z1", "y"] })).length === 0, "everyone to leave z1 and y");
    });

    it("serverSideEmit reaches the other workers, with acknowledgements", async () => {
      assert.deepEqual(await op(a1, "serverSideEmit", { ev: "who", args: ["from A"] }), { err: null, responses: [{ worker: "B", x: "from A" }] });
      assert.deepEqual(await op(b1, "serverSideEmit", { ev: "who", args: ["from B"] }), { err: null, responses: [{ worker: "A", x: "from B" }] });
      await op(a1, "serverSideEmitNoAck", { ev: "note", args: [1, { two: 2 }] });
      await until(async () => (await op(b1, "serverEvents")).some((e: unknown[]) => e[0] === "note"), "B to get the note");
      assert.deepEqual(
        (await op(a1, "serverEvents")).filter((e: unknown[]) => e[0] === "note"),
        [],
        "not echoed to the sender",
      );
    });

    it("broadcasts with acks collect the answers of clients on every worker", async () => {
      const r = await op(a2, "ackBroadcast", { ev: "question", timeout: 3000 });
      assert.equal(r.err, null);
      assert.deepEqual(
        r.responses.sort(),
        ["a1", "a2", "b1", "b2", "b3"].map((n) => `answer from ${n}`),
      );
      const some = await op(b3, "ackBroadcast", { to: ["r2"], except: ["x"], ev: "question", timeout: 3000 });
      assert.equal(some.err, null);
      assert.deepEqual(some.responses.sort(), ["answer from a1", "answer from a2"]);
    });

    it("the emitter publishes from a separate process, with no sockets", async () => {
      const victim = await connect(B.port, "victim");
      await runScript("./cluster-emitter.ts", { CLUSTER_URL: backend.url, DISCONNECT_ID: victim.id });
      await until(() => !victim.socket.connected, "the emitter to disconnect a socket");
      await until(() => received(b3, "from emitter").length === 1, "the emitter's broadcast");
      await settle("from emitter", 5 + 2);
      assert.deepEqual(counts("from emitter"), [2, 2, 1, 1, 1]);
      const [text, bytes] = received(a2, "from emitter")[0] as [string, Buffer];
      assert.equal(text, "to r2 except x");
      assert.deepEqual([...Buffer.from(bytes)], [1, 2, 3]);
      await until(async () => (await op(a1, "fetch", { to: ["emitter-room"] })).map((s: any) => s.name).join() === "a1,b1", "r1 to join emitter-room");
      await until(async () => (await op(a1, "serverEvents")).some((e: unknown[]) => e[1] === "from emitter"), "the emitter's server-side event");
    });

    it("relay killed and restarted: workers keep serving locally, then recover by themselves", async () => {
      await backend.stop();
      await until(
        () => A.output.some((l) => l.includes("lost the relay")) && B.output.some((l) => l.includes("lost the relay")),
        "workers to notice the outage",
      );
      // Local service goes on: broadcasts reach local members, cluster requests answer locally, at once.
      await op(a1, "broadcast", { to: ["r2"], ev: "during outage" });
      await until(() => received(a2, "during outage").length === 1, "local delivery during the outage");
      assert.equal(await op(a1, "serverCount"), 1);
      assert.deepEqual(
        (await op(a1, "fetch")).map((s: any) => s.name),
        ["a1", "a2"],
      );
      assert.deepEqual(await op(b1, "serverSideEmit", { ev: "who" }), { err: null, responses: [] });
      await sleep(300);
      await backend.start();
      await until(async () => (await op(a1, "serverCount")) === 2 && (await op(b1, "serverCount")) === 2, "workers to find each other again", 10_000);
      // Room subscriptions are back: cross-worker routing works again.
      await op(b3, "broadcast", { to: ["r1"], ev: "after outage" });
      await until(() => received(a1, "after outage").length === 1 && received(b1, "after outage").length === 1, "delivery after recovery");
      assert.equal(received(b2, "during outage").length, 0, "what was sent during the outage is lost, not replayed");
      for (const w of [A, B]) {
        assert.equal(w.output.filter((l) => l.includes("lost the relay")).length, 1, `${w.id} logs the outage once:\n${w.output.join("\n")}`);
        assert.equal(w.output.filter((l) => l.includes("reachable again")).length, 1, `${w.id} logs the recovery once`);
      }
    });

    it("a worker killed: requests still answer within their timeout, serverCount drops", async () => {
      await op(a1, "disconnect", { to: ["r1"], except: ["r2"] }); // b1 (on B)
      await until(() => !b1.socket.connected, "b1 to be disconnected from worker A");
      assert.ok(a1.socket.connected);
      await op(a1, "remote", { id: b3.id, action: "disconnect" });
      await until(() => !b3.socket.connected, "b3 to be disconnected through its remote socket");
      await B.kill("SIGKILL");
      const t = await op(a1, "time", { op: "fetch", args: {} });
      assert.ok(t.ms <= 1500, `answered in ${t.ms} ms`);
      if (t.ok)
        assert.deepEqual(
          t.value.map((s: any) => s.name),
          ["a1", "a2"],
        );
      else assert.match(t.error, /timeout reached: only 0 responses received out of 1/);
      const sse = await op(a1, "time", { op: "serverSideEmit", args: { ev: "who" } });
      assert.ok(sse.ms <= 1500, `serverSideEmit answered in ${sse.ms} ms`);
      await until(async () => (await op(a1, "serverCount")) === 1, "serverCount to drop to 1", 3000);
      assert.deepEqual(
        (await op(a1, "fetch")).map((s: any) => s.name),
        ["a1", "a2"],
      );
      const acks = await op(a2, "ackBroadcast", { ev: "question", timeout: 1000 });
      assert.equal(acks.err, null);
      assert.deepEqual(acks.responses.sort(), ["answer from a1", "answer from a2"]);
    });
  });
}

/** A relay backend of its own for a describe block, and the servers and clients made on it,
 *  closed after the block. */
/**
 * A barrier instead of a settle sleep: everything each of these clients' workers sent the others
 * before now has arrived (hello replies, interest snapshots, SUBs at the relay). A serverSideEmit
 * from each worker is answered by every other one, and an answer travels behind what its sender
 * sent before it (one connection to the relay, read in order).
 */
async function quiet(...clients: Client[]): Promise<void> {
  for (const c of clients) await op(c, "serverSideEmit", { ev: "who", args: ["barrier"] });
}

function ownBackend(makeBackend: () => Promise<Backend>): { backend: Backend; servers: Server[]; clients: Client[] } {
  const fx = { backend: null as unknown as Backend, servers: [] as Server[], clients: [] as Client[] };
  before(async () => {
    fx.backend = await makeBackend();
    await fx.backend.start();
  });
  after(async () => {
    for (const c of fx.clients) c.socket.disconnect();
    for (const io of fx.servers) await io.close();
    await fx.backend?.stop();
  });
  return fx;
}

function interestSuite(name: string, makeBackend: () => Promise<Backend>, skip: string | false) {
  // Servers in this process, on a relay of their own, with slow heartbeats: nothing but the
  // measured broadcasts moves while measuring.
  describe(`routing by interest over ${name}`, { skip, timeout: 30_000 }, () => {
    const fx = ownBackend(makeBackend);
    const { servers, clients } = fx;

    it("a broadcast to a room with members only on worker A costs worker B 0 bytes", async () => {
      // Room sizes off: their batched messages would cross the relay while counting.
      const cluster = { servers: fx.backend.url, heartbeatInterval: 60_000, roomStateInterval: 0, requestTimeout: 1000, log: () => {} };
      const ioA = new Server({ adapter: createClusterAdapter(cluster) });
      const ioB = new Server({ adapter: createClusterAdapter(cluster) });
      servers.push(ioA, ioB);
      clusterApp(ioA, "A");
      clusterApp(ioB, "B");
      const [pA, pB] = await Promise.all([ioA.listen(0, "127.0.0.1"), ioB.listen(0, "127.0.0.1")]);
      const cA = await connect(pA, "cA", ["only-on-A"]);
      const cB = await connect(pB, "cB", ["elsewhere"]);
      clients.push(cA, cB);
      const emitter = new Emitter({ servers: fx.backend.url, log: () => {} });
      try {
        await emitter.ready;
        await until(async () => (await op(cA, "serverCount")) === 2 && (await op(cB, "serverCount")) === 2, "the two servers to meet");
        await quiet(cA, cB); // hello replies and SUBs settle
        const linkB = (ioB.sockets.adapter as unknown as { node: { link: { stats(): { inBytes: number; inMsgs: number } } } }).node.link;
        const before = await fx.backend.stats();
        const bBefore = linkB.stats();
        emitter.to("only-on-A").emit("interest", "x".repeat(1000));
        await until(() => received(cA, "interest").length === 1, "cA to receive");
        await sleep(200);
        const after = await fx.backend.stats();
        const bAfter = linkB.stats();
        assert.equal(after.msgsOut - before.msgsOut, 1, "the relay delivered the broadcast once, to worker A");
        assert.ok(
          after.bytesOut - before.bytesOut > 1000 && after.bytesOut - before.bytesOut < 1400,
          `one payload's bytes: ${after.bytesOut - before.bytesOut}`,
        );
        assert.equal(bAfter.inBytes - bBefore.inBytes, 0, "worker B received 0 bytes");
        assert.equal(bAfter.inMsgs - bBefore.inMsgs, 0);
        // The same from worker B itself (socket.to from B to a room only on A): one delivery.
        await op(cB, "broadcast", { to: ["only-on-A"], ev: "interest2" });
        await until(() => received(cA, "interest2").length === 1, "cA to receive from B");
        await sleep(100);
        assert.equal((await fx.backend.stats()).msgsOut - after.msgsOut, 1);
        // Whereas a namespace-wide emit reaches both workers.
        const before2 = await fx.backend.stats();
        emitter.emit("everyone");
        await until(() => received(cB, "everyone").length === 1 && received(cA, "everyone").length === 1, "everyone");
        await sleep(100);
        assert.equal((await fx.backend.stats()).msgsOut - before2.msgsOut, 2);
        assert.equal(received(cB, "interest").length + received(cB, "interest2").length, 0);
      } finally {
        await emitter.close();
      }
    });
  });
}

function unionSuite(name: string, makeBackend: () => Promise<Backend>, skip: string | false) {
  // Three servers in this process (slow heartbeats: nothing else moves while counting): members of
  // the four target rooms only on B, nothing of them on C.
  describe(`unions and socket ids over ${name}`, { skip, timeout: 30_000 }, () => {
    const fx = ownBackend(makeBackend);
    const { servers, clients } = fx;

    it("a union crosses the relay once per interested worker; private messages and per-socket operations go to the owner only", async () => {
      // Room sizes off: their batched messages would cross the relay while counting.
      const cluster = { servers: fx.backend.url, heartbeatInterval: 60_000, roomStateInterval: 0, requestTimeout: 1000, log: () => {} };
      const [ioA, ioB, ioC] = ["A", "B", "C"].map((w) => {
        const io = new Server({ adapter: createClusterAdapter(cluster) });
        clusterApp(io, w);
        servers.push(io);
        return io;
      }) as [Server, Server, Server];
      const nodeOf = (io: Server) => (io.sockets.adapter as ClusterAdapter).node;
      const [pA, pB, pC] = await Promise.all([ioA, ioB, ioC].map((io) => io.listen(0, "127.0.0.1")));
      const cA = await connect(pA!, "cA");
      const cB = await connect(pB!, "cB", ["u1", "u2", "u3", "u4"]);
      const cC = await connect(pC!, "cC", ["elsewhere"]);
      clients.push(cA, cB, cC);
      // Socket ids carry their worker's id, and stay as long and random as a lone worker's after it.
      for (const [c, io] of [
        [cA, ioA],
        [cB, ioB],
        [cC, ioC],
      ] as const) {
        assert.equal(c.id.slice(0, 8), nodeOf(io).id);
        assert.match(c.id, /^[A-Za-z0-9_-]{29}$/);
      }
      // A socket on C also joins cB's own room (a foreign member of a socket-id room).
      const cBx = await connect(pC!, "cBx", [cB.id]);
      clients.push(cBx);
      await until(async () => (await Promise.all([cA, cB, cC].map((c) => op(c, "serverCount")))).every((n) => n === 3), "the three servers to meet");
      await quiet(cA, cB, cC); // interest messages settle

      const bytesIn = () => [ioA, ioB, ioC].map((io) => nodeOf(io).link.stats()!.inBytes);
      const statsOf = () => [ioA, ioB, ioC].map((io) => ({ ...nodeOf(io).stats }));
      const measure = async (what: () => Promise<unknown>, settle: () => boolean) => {
        const [r0, b0, s0] = [await fx.backend.stats(), bytesIn(), statsOf()];
        await what();
        await until(settle, "delivery");
        await sleep(150);
        const [r1, b1, s1] = [await fx.backend.stats(), bytesIn(), statsOf()];
        return {
          relayMsgs: r1.msgsOut - r0.msgsOut,
          relayBytes: r1.bytesOut - r0.bytesOut,
          bytesIn: b1.map((b, i) => b - b0[i]!),
          broadcastsIn: s1.map((s, i) => s.broadcastsIn - s0[i]!.broadcastsIn),
          requestsIn: s1.map((s, i) => s.requestsIn - s0[i]!.requestsIn),
        };
      };

      // A union of four rooms, all on B, with a 1,000-byte payload: one message, to B.
      const big = "x".repeat(1000);
      const u4 = await measure(
        () => op(cA, "broadcast", { to: ["u1", "u2", "u3", "u4"], ev: "u4", args: [big] }),
        () => received(cB, "u4").length === 1,
      );
      assert.equal(u4.relayMsgs, 1, JSON.stringify(u4));
      assert.ok(u4.relayBytes > 1000 && u4.relayBytes < 1400, JSON.stringify(u4));
      assert.deepEqual(u4.broadcastsIn, [0, 1, 0]);
      assert.equal(u4.bytesIn[2], 0, "C, with members of none of the rooms, receives nothing");
      // One room of it costs the same bytes: independent of the number of rooms.
      const u1 = await measure(
        () => op(cA, "broadcast", { to: ["u1"], ev: "u1", args: [big] }),
        () => received(cB, "u1").length === 1,
      );
      assert.equal(u1.relayMsgs, 1);
      assert.ok(Math.abs(u4.relayBytes - u1.relayBytes) < 40, `${u4.relayBytes} vs ${u1.relayBytes}`);
      // A union over B's and C's rooms: once to each of them.
      const both = await measure(
        () => op(cA, "broadcast", { to: ["u1", "u2", "elsewhere"], ev: "both" }),
        () => received(cB, "both").length === 1 && received(cC, "both").length === 1,
      );
      assert.deepEqual(both.broadcastsIn, [0, 1, 1]);
      assert.equal(both.relayMsgs, 2);

      // A private message: to its owner B, and to C, which holds a foreign member of cB's room.
      const pm = await measure(
        () => op(cA, "broadcast", { to: [cB.id], ev: "pm", args: ["hi"] }),
        () => received(cB, "pm").length === 1 && received(cBx, "pm").length === 1,
      );
      assert.deepEqual(pm.broadcastsIn, [0, 1, 1]);
      assert.equal(received(cA, "pm").length + received(cC, "pm").length, 0);
      // To cA (on A, no foreign member) from C: A alone receives it.
      const pm2 = await measure(
        () => op(cC, "broadcast", { to: [cA.id], ev: "pm2" }),
        () => received(cA, "pm2").length === 1,
      );
      assert.deepEqual(pm2.broadcastsIn, [1, 0, 0]);
      assert.equal(pm2.relayMsgs, 1);

      // Per-socket operations by id: only the owner (and C for cB, through cBx) hears of them.
      const join = await measure(
        () => op(cC, "join", { to: [cA.id], rooms: ["joined-by-id"] }),
        () => ioA.sockets.adapter.rooms.get("joined-by-id")?.has(cA.id) === true,
      );
      assert.deepEqual(join.requestsIn, [1, 0, 0]);
      await measure(
        () => op(cC, "leave", { to: [cA.id], rooms: ["joined-by-id"] }),
        () => !ioA.sockets.adapter.rooms.has("joined-by-id"),
      );
      // Through a remote socket (fetchSockets goes to every worker, the join to the owner only).
      const remote = await measure(
        () => op(cC, "remote", { id: cA.id, action: "join", args: [["via-remote"]] }),
        () => ioA.sockets.adapter.rooms.get("via-remote")?.has(cA.id) === true,
      );
      assert.deepEqual(remote.requestsIn, [2, 1, 0], "A: the fetchSockets, then the join; B: the fetchSockets");
      const disc = await measure(
        () => op(cC, "disconnect", { to: [cA.id] }),
        () => !cA.socket.connected,
      );
      assert.deepEqual(disc.requestsIn, [1, 0, 0]);
      assert.equal(received(cB, "u4").length + received(cB, "pm").length + received(cBx, "pm").length, 3, "each delivered once");
    });
  });

  // Missed heartbeats (a stall here or there) must not cost a peer its broadcasts: two servers in
  // this process, a member of room "x" on B only, A broadcasts a union to it.
  describe(`missed heartbeats over ${name}`, { skip, timeout: 30_000 }, () => {
    const fx = ownBackend(makeBackend);
    const { servers, clients } = fx;

    async function pair(heartbeatB: number): Promise<{ ioA: Server; b: Client }> {
      const opts = (heartbeatInterval: number) => ({ servers: fx.backend.url, heartbeatInterval, heartbeatTimeout: 400, requestTimeout: 1000, log: () => {} });
      const ioA = new Server({ adapter: createClusterAdapter(opts(100)) });
      const ioB = new Server({ adapter: createClusterAdapter(opts(heartbeatB)) });
      clusterApp(ioA, "A");
      clusterApp(ioB, "B");
      servers.push(ioA, ioB);
      await ioA.listen(0, "127.0.0.1");
      const portB = await ioB.listen(0, "127.0.0.1");
      // B must know A before b joins: join's promise then resolves once A routes "x" to B (the
      // barrier). Joined before B met A, it resolves at once, and A's union could go out before
      // A got B's interest (seen once on a loaded machine: "timed out waiting for the union").
      await until(async () => (await ioB.sockets.adapter.serverCount()) === 2, "B to see A");
      const b = await connect(portB, "b", ["x"]);
      clients.push(b);
      return { ioA, b };
    }

    // Each test's servers close before the next one starts, also when it failed: left running, they
    // would be counted by the next test's serverCount (seen: "got 3, expected 1").
    afterEach(async () => {
      for (const io of servers.splice(0)) await io.close();
    });

    it("this worker's event loop stalls longer than heartbeatTimeout: its peers stay live and get its unions", async () => {
      const { ioA, b } = await pair(100);
      const node = (ioA.sockets.adapter as ClusterAdapter).node;
      await until(async () => (await ioA.sockets.adapter.serverCount()) === 2, "A to see B");
      const t = Date.now() + 700;
      while (Date.now() < t); // B's heartbeats wait unread meanwhile
      // Timers run first after the stall (A's heartbeat tick among them), then this broadcast.
      await new Promise<void>((r) =>
        setTimeout(() => {
          ioA.to(["x", "nobody"]).emit("u", 1);
          r();
        }, 0),
      );
      await until(() => received(b, "u").length === 1, "the union");
      assert.ok(node.stats.stalls >= 1, "the stall is counted");
      assert.equal(node.stats.peersTimedOut, 0, "B is not timed out for A's stall");
    });

    it("a peer not heard from within heartbeatTimeout is no longer counted, but unions still reach its members", async () => {
      const { ioA, b } = await pair(60_000); // B heartbeats once when it meets A, then stays silent
      const node = (ioA.sockets.adapter as ClusterAdapter).node;
      await until(() => node.stats.peersTimedOut === 1, "A to time B out");
      assert.equal(await ioA.sockets.adapter.serverCount(), 1);
      ioA.to(["x", "nobody"]).emit("u", 2);
      await until(() => received(b, "u").length === 1, "the union");
    });
  });
}

// Three nats-server processes routed into one NATS cluster, a worker on each; one server is killed
// while worker A streams broadcasts to a room with a member on every worker.
describe("a three-node nats-server cluster", { skip: HAS_NATS ? false : "nats-server is not installed", timeout: 60_000 }, () => {
  let nats: NatsCluster;
  let workers: Worker[] = [];
  let clients: Client[] = [];
  before(async () => {
    nats = await NatsCluster.create();
    await nats.start();
  });
  after(async () => {
    for (const c of clients) c.socket.disconnect();
    await Promise.all(workers.map((w) => w.kill()));
    await nats?.stop();
  });

  it("workers spread over the servers; one server killed mid-stream: its worker loses a window of broadcasts, reported, and nothing hangs", async (t) => {
    workers = await Promise.all(["A", "B", "C"].map((id, i) => startWorker(id, nats.urlsFrom(i))));
    const [A, B, C] = workers as [Worker, Worker, Worker];
    for (let i = 0; i < 3; i++) assert.deepEqual(await nats.connectionNames(i), [`worker-${"ABC"[i]}`], `worker ${"ABC"[i]} on server ${i}`);
    clients = await Promise.all([connect(A.port, "a", ["feed"]), connect(B.port, "b", ["feed"]), connect(C.port, "c", ["feed"])]);
    const [a, b, c] = clients as [Client, Client, Client];
    await until(async () => (await Promise.all(clients.map((x) => op(x, "serverCount")))).every((n) => n === 3), "the three workers to meet");
    // A union and a private message across the routes, before anything breaks.
    await op(a, "broadcast", { to: ["feed", b.id, c.id], ev: "hello" });
    await until(() => clients.every((x) => received(x, "hello").length === 1), "the union to reach everyone once");

    const COUNT = 300;
    const EVERY_MS = 10;
    const streaming = op(a, "stream", { to: ["feed"], ev: "tick", count: COUNT, everyMs: EVERY_MS }, 20_000);
    await until(() => received(b, "tick").length >= 50, "b to get the first ticks");
    await nats.kill(1); // worker B's server
    await streaming;
    // B's worker moves to another server by itself; a probe reaches b again.
    await until(
      async () => {
        await op(a, "broadcast", { to: ["feed"], ev: "probe" });
        return received(b, "probe").length > 0;
      },
      "b to be reachable again",
      15_000,
    );
    const seqs = (x: Client) => received(x, "tick").map((e) => e[0] as number);
    const all = [...Array(COUNT).keys()];
    assert.deepEqual(seqs(a), all, "a (local to A) got every tick, once, in order");
    await until(() => seqs(c).length === COUNT, "c to get every tick");
    assert.deepEqual(seqs(c), all, "c (on a surviving server) got every tick, once, in order");
    // b: in order, no duplicate, and what it missed is one contiguous window around the kill.
    const got = seqs(b);
    assert.deepEqual(
      got,
      [...got].sort((x, y) => x - y),
    );
    assert.equal(new Set(got).size, got.length);
    const missing = all.filter((i) => !got.includes(i));
    if (missing.length > 0) assert.equal(missing[missing.length - 1]! - missing[0]! + 1, missing.length, `one window: ${missing.join(",")}`);
    t.diagnostic(
      `loss window for worker B: ${missing.length} of ${COUNT} broadcasts (~${missing.length * EVERY_MS} ms${missing.length ? `, ticks ${missing[0]}–${missing[missing.length - 1]}` : ""}); ` +
        `B logged: ${B.output.filter((l) => /lost the relay|reachable again/.test(l)).join(" | ")}`,
    );
    // The event: B logged the outage once and its end once.
    await until(() => B.output.some((l) => l.includes("reachable again")), "B to log its recovery");
    assert.equal(B.output.filter((l) => l.includes("lost the relay")).length, 1, B.output.join("\n"));
    // Nothing hangs: cluster-wide requests answer with all three workers.
    await until(async () => (await Promise.all(clients.map((x) => op(x, "serverCount")))).every((n) => n === 3), "serverCount back to 3");
    const everyone = await op(c, "time", { op: "fetch", args: {} });
    assert.ok(everyone.ok, everyone.error);
    assert.deepEqual(
      everyone.value.map((s: any) => s.name),
      ["a", "b", "c"],
    );
    const sse = await op(b, "serverSideEmit", { ev: "who", args: ["from b"] });
    assert.deepEqual(sse.responses.map((r: any) => r.worker).sort(), ["A", "C"], JSON.stringify(sse));
    // And routing by interest still holds after the move: a union and a private message to b.
    await op(c, "broadcast", { to: ["feed", b.id], ev: "after" });
    await until(() => clients.every((x) => received(x, "after").length === 1), "the union after the move, once each");
    await sleep(100);
    assert.deepEqual(
      clients.map((x) => received(x, "after").length),
      [1, 1, 1],
    );
  });
});

clusterSuite("the embedded relay", EmbeddedBackend.create, false);
clusterSuite("a real nats-server", NatsServerBackend.create, HAS_NATS ? false : "nats-server is not installed");
interestSuite("the embedded relay", EmbeddedBackend.create, false);
interestSuite("a real nats-server", NatsServerBackend.create, HAS_NATS ? false : "nats-server is not installed");
unionSuite("the embedded relay", EmbeddedBackend.create, false);
unionSuite("a real nats-server", NatsServerBackend.create, HAS_NATS ? false : "nats-server is not installed");

// A worker process answers while this one's event loop is stalled past the request's timeout: the
// answer is read before the timeout is judged (timers run before the poll phase). nats-server runs
// in its own process (the embedded relay would stall with this one).
describe("a request answered during a stall", { skip: HAS_NATS ? false : "nats-server is not installed", timeout: 30_000 }, () => {
  it("serverSideEmit counts the answer that came while the event loop was stalled past requestTimeout", async () => {
    const backend = await NatsServerBackend.create();
    await backend.start();
    const B = await startWorker("B", backend.url);
    const io = new Server({ adapter: createClusterAdapter({ servers: backend.url, heartbeatInterval: 100, requestTimeout: 300, log: () => {} }) });
    try {
      await io.listen(0, "127.0.0.1");
      await until(async () => (await io.sockets.adapter.serverCount()) === 2, "the workers to see each other");
      // From the check phase (setImmediate), so that the next phase to run after the stall is the
      // timers'. The request is published at once; the NATS client writes it in a microtask.
      await new Promise((r) => setImmediate(r));
      const answers = new Promise<unknown[]>((resolve, reject) =>
        io.serverSideEmit("who", 1, (err: Error | null, r: unknown[]) => (err ? reject(err) : resolve(r))),
      );
      await null;
      const t = Date.now() + 600;
      while (Date.now() < t); // B answers meanwhile
      assert.deepEqual(await answers, [{ worker: "B", x: 1 }]);
    } finally {
      await io.close();
      await B.kill();
      await backend.stop();
    }
  });
});
