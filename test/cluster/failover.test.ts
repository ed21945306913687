// A worker that dies (SIGKILL: no goodbye) while requests await its answer: with the default
// heartbeat, the other workers declare it dead, and the pending fetchSockets / serverSideEmit /
// broadcast with acks complete with what the live workers answered as soon as that happens, not at their timeout
// (set to 60 s here: only the failover can end them within the test's time). Decided on the order
// of events, over the embedded relay and over a real nats-server.
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { type ClusterAdapter, createClusterAdapter, Server } from "../../src/index.ts";
import { type Backend, type Client, connect, EmbeddedBackend, killAll, natsServerAvailable, NatsServerBackend, startWorker } from "../helpers/cluster.ts";
import { until } from "../helpers/wait.ts";

after(killAll);

const backends: Array<[string, () => Promise<Backend>, string | false]> = [
  ["the embedded relay", () => EmbeddedBackend.create(), false],
  ["nats-server", () => NatsServerBackend.create(), natsServerAvailable() ? false : "nats-server is not installed"],
];

for (const [name, makeBackend, skip] of backends) {
  describe(`a worker dies over ${name}`, { skip, timeout: 30_000 }, () => {
    it("pending fetchSockets and serverSideEmit complete with the live workers' answers once it is declared dead", async () => {
      const backend = await makeBackend();
      await backend.start();
      const events: string[] = [];
      // Default heartbeat; a request timeout no test would wait for.
      const cluster = {
        servers: backend.url,
        requestTimeout: 60_000,
        log: (_level: string, message: string) => {
          if (message.includes("not heard from")) events.push("declared dead");
        },
      };
      const ioA = new Server({ adapter: createClusterAdapter(cluster), logger: "silent" });
      const ioB = new Server({ adapter: createClusterAdapter({ ...cluster, log: () => {} }), logger: "silent" });
      ioB.on("who", (ack: (r: string) => void) => ack("B"));
      const clients: Client[] = [];
      try {
        const C = await startWorker("C", backend.url, "./cluster-worker.ts", { HEARTBEAT: "default" });
        clients.push(await connect(await ioA.listen(0, "127.0.0.1"), "a"), await connect(await ioB.listen(0, "127.0.0.1"), "b"), await connect(C.port, "c"));
        const [a, b] = clients as [Client, Client];
        await until(async () => (await ioA.sockets.adapter.serverCount()) === 3, "A to count B and C");
        const node = (ioA.sockets.adapter as ClusterAdapter).node;
        // In one synchronous run: C is killed, is still counted (its silence has just begun: A
        // judges peers in its timers only), and both requests go out to it and wait for its answer.
        process.kill(C.proc.pid!, "SIGKILL");
        assert.equal(node.peersServing("/").length, 2, "C still counted when the requests go out");
        const fetched = ioA.fetchSockets().then((sockets) => {
          events.push("fetchSockets resolved");
          return sockets.map((s) => s.id).sort();
        });
        const emitted = new Promise<{ err: Error | null; responses: unknown[] }>((resolve) =>
          ioA.serverSideEmit("who", (err: Error | null, responses: unknown[]) => {
            events.push("serverSideEmit answered");
            resolve({ err, responses });
          }),
        );
        const acked = new Promise<{ err: Error | null; responses: unknown[] }>((resolve) =>
          ioA.timeout(60_000).emit("question", (err: Error | null, responses: unknown[]) => {
            events.push("broadcast acked");
            resolve({ err, responses });
          }),
        );
        await C.kill(); // its exit seen
        const [ids, sse, acks] = await Promise.all([fetched, emitted, acked]);
        assert.equal(events[0], "declared dead", `events in order: ${events.join(", ")}`);
        assert.deepEqual(events.slice(1).sort(), ["broadcast acked", "fetchSockets resolved", "serverSideEmit answered"]);
        assert.equal(acks.err, null);
        assert.deepEqual(acks.responses.sort(), ["answer from a", "answer from b"]);
        assert.deepEqual(ids, [a.id, b.id].sort(), "the sockets of the live workers");
        assert.equal(sse.err, null);
        assert.deepEqual(sse.responses, ["B"]);
        assert.equal(await ioA.sockets.adapter.serverCount(), 2);
        assert.equal(node.stats.peersTimedOut, 1);
      } finally {
        for (const c of clients) c.socket.disconnect();
        await Promise.all([ioA.close(), ioB.close()]);
        await backend.stop();
      }
    });
  });
}
