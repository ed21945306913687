// Connection-state recovery across workers, over the embedded relay and over a real nats-server
// (skipped when none is installed): a client cut off from worker A that reconnects to worker B gets
// its session from A (which kept its rooms routed and recorded what it missed), handovers lose
// nothing while a third worker emits without pause, and the clients of a worker that closes (a
// deploy: in this process, and a worker process stopped by SIGTERM) recover on another one.
// Servers in this process each with its own cluster node, or worker processes; real relay or
// nats-server, real socket.io-client.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { io as ioClient, type Socket as ClientSocket } from "socket.io-client";
import { createClusterAdapter, Emitter, Server, type Socket } from "../../src/index.ts";
import type { ClusterNode } from "../../src/cluster/node.ts";
import {
  connect,
  EmbeddedBackend,
  killAll,
  natsServerAvailable,
  NatsServerBackend,
  op,
  received,
  startWorker,
  type Backend,
  type Client,
  seeEachOther,
} from "../helpers/cluster.ts";
import { once } from "../helpers/server.ts";
import { until } from "../helpers/wait.ts";

const HAS_NATS = natsServerAvailable();
after(killAll);

async function worker(clusterUrl: string): Promise<{ io: Server; port: number; url: string }> {
  const io = new Server({
    connectionStateRecovery: {},
    adapter: createClusterAdapter({
      servers: clusterUrl,
      heartbeatInterval: 100,
      heartbeatTimeout: 400,
      requestTimeout: 1000,
      handoverTimeout: 1000,
    }),
    logger: "warn",
  });
  io.on("connection", (s) => {
    if (s.recovered) return;
    s.join("a");
    s.data.user = "alice";
  });
  const port = await io.listen(0, "127.0.0.1");
  await (io.sockets.adapter as unknown as { node: { ready: Promise<void> } }).node.ready;
  return { io, port, url: `http://127.0.0.1:${port}` };
}

function client(url: string): { c: ClientSocket; got: unknown[] } {
  const c = ioClient(url, { transports: ["websocket"], forceNew: true, reconnection: false });
  const got: unknown[] = [];
  c.on("m", (x: unknown) => got.push(x));
  return { c, got };
}

/** The client comes back through another address (a load balancer picking another worker). */
async function reconnectTo(c: ClientSocket, url: string, io: Server): Promise<Socket> {
  const seen = once<[Socket]>(io, "connection", 5000);
  (c.io as unknown as { uri: string }).uri = url;
  c.connect();
  await once(c, "connect", 5000);
  return (await seen)[0];
}

async function barrier(s: Socket, c: ClientSocket): Promise<void> {
  const done = once(c, "end");
  s.emit("end");
  await done;
}

function recoverySuite(name: string, makeBackend: () => Promise<Backend>, skip: string | false) {
  describe(`recovery across workers over ${name}`, { skip, timeout: 60_000 }, () => {
    let backend: Backend;
    before(async () => {
      backend = await makeBackend();
      await backend.start();
    });
    after(() => backend?.stop());

    it("a client cut off from worker A recovers on worker B with everything it missed, once, in order", async () => {
      const A = await worker(backend.url);
      const B = await worker(backend.url);
      const { c, got } = client(A.url);
      try {
        await seeEachOther(A.io, B.io);
        if (!c.connected) await once(c, "connect");
        const sA = A.io.sockets.sockets.get(c.id!)!;
        sA.join("b");
        sA.emit("m", 0);
        await until(() => got.length === 1, "the first event");
        const gone = once(sA, "disconnect");
        c.io.engine.close();
        await gone;
        assert.equal(A.io.sockets.adapter.recovery!.parkedCount, 1);
        // While it is away, from both workers: its rooms stay routed to A, which records them.
        B.io.to("a").emit("m", 1);
        await until(() => A.io.sockets.adapter.recovery!.stats.recorded >= 2, "A to record B's broadcast");
        A.io.to("b").emit("m", 2);
        B.io.to(sA.id).emit("m", 3);
        B.io.to("elsewhere").emit("m", "not for it");
        await until(() => A.io.sockets.adapter.recovery!.stats.recorded >= 4, "A to record the rest");
        const sB = await reconnectTo(c, B.url, B.io);
        assert.equal(sB.recovered, true);
        assert.equal(sB.id, sA.id);
        assert.deepEqual(new Set(sB.rooms), new Set([sA.id, "a", "b"]));
        assert.deepEqual(sB.data, { user: "alice" });
        assert.equal(A.io.sockets.adapter.recovery!.parkedCount, 0);
        // From now on B routes its rooms: a broadcast from A reaches it through B.
        await until(async () => (await A.io.in("b").fetchSockets()).length === 1, "B to serve room b");
        A.io.to("b").emit("m", 4);
        await until(() => got.length === 5, "the live event");
        // Its id names worker A, but B holds it now: B announced the room, so a private message from A
        // goes to B (and A, the id's owner, has nothing left to deliver it to).
        A.io.to(sA.id).emit("m", 5);
        await until(() => got.length === 6, "the private message through B");
        await barrier(sB, c);
        assert.deepEqual(got, [0, 1, 2, 3, 4, 5]);
      } finally {
        c.disconnect();
        await Promise.all([A.io.close(), B.io.close()]);
      }
    });

    it("clients of a worker that closes (a deploy) recover on another worker", async () => {
      const A = await worker(backend.url);
      const B = await worker(backend.url);
      const { c, got } = client(A.url);
      try {
        await seeEachOther(A.io, B.io);
        if (!c.connected) await once(c, "connect");
        const id = c.id;
        const sA = A.io.sockets.sockets.get(id!)!;
        sA.emit("m", 0);
        await until(() => got.length === 1, "the first event");
        // A leaves: its client is cut off ("server shutting down"), A stays in the cluster to hand over.
        const closed = A.io.close();
        await until(() => !c.connected, "the client to notice");
        B.io.to("a").emit("m", 1);
        await until(() => A.io.sockets.adapter.recovery!.stats.recorded >= 2, "A to record B's broadcast while closing");
        const sB = await reconnectTo(c, B.url, B.io);
        assert.equal(sB.recovered, true);
        assert.equal(sB.id, id);
        await closed;
        // A left once its one parked session was asked for, not at handoverTimeout.
        const drain = (A.io.sockets.adapter as unknown as { node: ClusterNode }).node.drain.stats;
        assert.deepEqual(
          { handedOver: drain.handedOver, unclaimed: drain.unclaimed, end: drain.lastEnd },
          { handedOver: 1, unclaimed: 0, end: "all asked for" },
        );
        await barrier(sB, c);
        assert.deepEqual(got, [0, 1]);
      } finally {
        c.disconnect();
        await Promise.all([A.io.close(), B.io.close()]);
      }
    });

    it("a closing worker waits only for the sessions it parks itself: one parked earlier (its client gone) is not waited for", async () => {
      const A = await worker(backend.url);
      const B = await worker(backend.url);
      const { c } = client(A.url);
      try {
        await seeEachOther(A.io, B.io);
        if (!c.connected) await once(c, "connect");
        // The client goes away for good (a closed tab): its session is parked on A.
        const parked = once(A.io.sockets.sockets.get(c.id!)!, "disconnect");
        (c.io.engine as unknown as { close(): void }).close();
        await parked;
        assert.equal(A.io.sockets.adapter.recovery!.parkedCount, 1);
        await A.io.close();
        const drain = (A.io.sockets.adapter as unknown as { node: ClusterNode }).node.drain.stats;
        assert.deepEqual(
          { handedOver: drain.handedOver, unclaimed: drain.unclaimed, end: drain.lastEnd },
          { handedOver: 0, unclaimed: 0, end: "nothing parked" },
        );
      } finally {
        c.disconnect();
        await Promise.all([A.io.close(), B.io.close()]);
      }
    });

    it("a session nobody holds (expired, or unknown pid) gets a new session without waiting long", async () => {
      const A = await worker(backend.url);
      const B = await worker(backend.url);
      try {
        await seeEachOther(A.io, B.io);
        const c = ioClient(B.url, { transports: ["websocket"], forceNew: true, reconnection: false, auth: { pid: "nope", offset: "AAAAAAAA.1" } });
        const seen = once<[Socket]>(B.io, "connection", 5000);
        await once(c, "connect", 5000);
        const [s] = await seen;
        assert.equal(s.recovered, false);
        c.disconnect();
      } finally {
        await Promise.all([A.io.close(), B.io.close()]);
      }
    });

    it("handovers back and forth while a third worker emits without pause: every event once, in order", async (t) => {
      const A = await worker(backend.url);
      const B = await worker(backend.url);
      const C = await worker(backend.url);
      const { c, got } = client(A.url);
      let running = true;
      try {
        await seeEachOther(A.io, B.io, C.io);
        if (!c.connected) await once(c, "connect");
        const id = c.id!;
        // Resolves once every worker routes b to A (C's first unions to b must reach A).
        await A.io.sockets.sockets.get(id)!.join("b");
        await until(async () => (await C.io.in("b").fetchSockets()).length === 1, "C to see the client in b");
        // C emits through every kind of selection without pause, bounded: one room (the room's
        // subject), a union and a union with an except (to each worker C knows to be interested), a
        // private message (to the id's owner and the workers interested in the id room).
        const expected: number[] = [];
        let n = 0;
        const emitting = (async () => {
          while (running && n < 50_000) {
            const k = n++;
            switch (k % 6) {
              case 0:
                C.io.to("a").emit("m", k);
                break;
              case 1:
                C.io.to(["b", "nobody"]).emit("m", k); // a union
                break;
              case 2:
                C.io.to(id).emit("m", k); // private
                break;
              case 3:
                C.io.to("a").except("nobody").emit("m", k);
                break;
              case 4:
                C.io.to(["nobody", "a"]).except("elsewhere").emit("m", k);
                break;
              case 5:
                C.io.to("elsewhere").emit("m", "not for it");
                break;
            }
            if (k % 6 !== 5) expected.push(k);
            if (k % 10 === 9) await new Promise((r) => setImmediate(r)); // ten per turn of the event loop
          }
        })();
        let at = A;
        for (let round = 0; round < 6; round++) {
          await until(() => got.length > expected.length / 2, "some events before the cut");
          const s = at.io.sockets.sockets.get(id)!;
          const gone = once(s, "disconnect");
          c.io.engine.close();
          await gone;
          const next = at === A ? B : A;
          const back = await reconnectTo(c, next.url, next.io);
          assert.equal(back.recovered, true, `round ${round}: recovered`);
          assert.equal(back.id, id);
          at = next;
        }
        running = false;
        await emitting;
        // C's last event: per-origin order means everything before it has arrived once it has.
        const last = n;
        C.io.to(id).emit("m", last);
        expected.push(last);
        await until(() => got.includes(last), "C's last event");
        const lost = expected.filter((k) => !got.includes(k)).length;
        const twice = got.length - new Set(got).size;
        // Under load, this process's event loop may stall past heartbeatTimeout (issue #15: 27 events
        // lost when every worker then forgot its peers' interest); reported, not asserted.
        const stats = [A, B, C].map((w) => (w.io.sockets.adapter as unknown as { node: ClusterNode }).node.stats);
        t.diagnostic(
          `${expected.length} events through 6 handovers: ${lost} lost, ${twice} twice; stalls, peers timed out (A, B, C): ${stats.map((s) => `${s.stalls}, ${s.peersTimedOut}`).join("; ")}`,
        );
        assert.deepEqual({ lost, twice }, { lost: 0, twice: 0 }, `of ${expected.length} events`);
        assert.deepEqual(got, expected);
      } finally {
        running = false;
        c.disconnect();
        await Promise.all([A.io.close(), B.io.close(), C.io.close()]);
      }
    });

    it("a worker process stopped by SIGTERM (a deploy): its clients recover on the other worker with every event an emitter sent meanwhile", async () => {
      const env = { RECOVERY: "1" };
      const [A, B] = await Promise.all([startWorker("A", backend.url, undefined, env), startWorker("B", backend.url, undefined, env)]);
      const emitter = new Emitter({ servers: backend.url, name: "deploy-emitter" });
      const clients: Client[] = [];
      let running = true;
      try {
        for (let i = 0; i < 4; i++) clients.push(await connect(A.port, `c${i}`, ["r1"]));
        const probe = await connect(B.port, "probe");
        await until(async () => (await op(clients[0], "serverCount")) === 2 && (await op(probe, "serverCount")) === 2, "the workers to see each other");
        probe.socket.disconnect();
        const ids = clients.map((c) => c.id);
        // The emitter, a third origin, sends without pause to the room, a union and each client alone.
        const expected = clients.map(() => [] as number[]);
        let n = 0;
        const emitting = (async () => {
          while (running && n < 20_000) {
            const k = n++;
            if (k % 3 === 0) emitter.to("r1").emit("tick", k);
            else if (k % 3 === 1) emitter.to(["r1", "nobody"]).emit("tick", k);
            else emitter.to(ids[k % ids.length]).emit("tick", k);
            clients.forEach((_, i) => (k % 3 !== 2 || k % ids.length === i) && expected[i].push(k));
            if (k % 5 === 4) await new Promise((r) => setTimeout(r, 2));
          }
        })();
        const ticks = (c: Client) => received(c, "tick").map((args) => args[0] as number);
        await until(() => clients.every((c) => ticks(c).length >= 5), "ticks before the deploy");
        // Cut off by the stop, each client comes back through the other worker (pm2 on one port).
        for (const c of clients)
          c.socket.once("disconnect", () => {
            (c.socket.io as unknown as { uri: string }).uri = `http://127.0.0.1:${B.port}`;
            c.socket.connect();
          });
        const stopped = A.kill("SIGTERM");
        await until(() => clients.every((c) => c.socket.connected && c.socket.recovered), "every client recovered on B", 10_000);
        assert.deepEqual(
          clients.map((c) => c.socket.id),
          ids,
        );
        await stopped;
        assert.equal(A.proc.exitCode, 0, "A left by itself, within its handover time");
        const after = clients.map((c) => ticks(c).length);
        await until(() => clients.every((c, i) => ticks(c).length >= after[i] + 5), "ticks after the deploy");
        running = false;
        await emitting;
        emitter.to("r1").emit("tick", n);
        for (const e of expected) e.push(n);
        await until(() => clients.every((c) => ticks(c).includes(n)), "the emitter's last event");
        clients.forEach((c, i) => assert.deepEqual(ticks(c), expected[i], `${c.name}: every event once, in order`));
      } finally {
        running = false;
        for (const c of clients) c.socket.disconnect();
        await emitter.close();
        await Promise.all([A.kill(), B.kill()]);
      }
    });
  });
}

recoverySuite("the embedded relay", EmbeddedBackend.create, false);
recoverySuite("a real nats-server", NatsServerBackend.create, HAS_NATS ? false : "nats-server is not installed");
