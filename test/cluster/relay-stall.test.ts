// Issue #13: a frozen relay (a child relay process stopped with SIGSTOP, by PID) is noticed by the
// workers, what their broadcasts lost is counted exactly, and the application hears of the lost
// window through the adapter's "cluster-gap" event once the relay is back (SIGCONT).
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { after, test } from "node:test";
import { io as connectClient } from "socket.io-client";
import { type ClusterGap, createClusterAdapter, operations, Server } from "../../src/index.ts";
import { freePort, startProcess } from "../helpers/process.ts";
import { once } from "../helpers/server.ts";
import { until } from "../helpers/wait.ts";

const relayScript = fileURLToPath(new URL("../../src/bin/relay.ts", import.meta.url));
let relay: ChildProcess | null = null;
after(() => {
  if (relay?.pid && relay.exitCode === null) {
    process.kill(relay.pid, "SIGCONT");
    relay.kill();
  }
});

async function startRelay(port: number): Promise<ChildProcess> {
  const r = await startProcess(process.execPath, ["--import", "tsx", relayScript], {
    env: { RELAY_PORT: String(port) },
    ready: /listening/,
    what: "the relay",
  });
  return r.child;
}

interface Link {
  connected: boolean;
  flush(): Promise<void>;
}
const linkOf = (io: Server) => (io.of("/").adapter as unknown as { node: { link: Link; ready: Promise<void> } }).node;

test("a frozen relay is noticed, the lost broadcasts are counted exactly, and cluster-gap reports the window", { timeout: 60_000 }, async () => {
  const port = await freePort();
  relay = await startRelay(port);
  // Slow heartbeats and room sizes off: nothing but the counted broadcasts is published.
  const cluster = { servers: `nats://127.0.0.1:${port}`, heartbeatInterval: 60_000, roomStateInterval: 0, log: () => {} };
  const ioA = new Server({ adapter: createClusterAdapter(cluster), operations: operations({ metrics: true }), logger: "silent" });
  const portA = await ioA.listen(0, "127.0.0.1");
  const ioB = new Server({ adapter: createClusterAdapter(cluster), logger: "silent" });
  const portB = await ioB.listen(0, "127.0.0.1");
  ioB.on("connection", (s) => s.join("r"));
  const client = connectClient(`http://127.0.0.1:${portB}`, { transports: ["websocket"], forceNew: true, reconnection: false });
  const gapsA: ClusterGap[] = [];
  const gapsB: ClusterGap[] = [];
  ioA.of("/").adapter.on("cluster-gap", (g: ClusterGap) => gapsA.push(g));
  ioB.of("/").adapter.on("cluster-gap", (g: ClusterGap) => gapsB.push(g));
  try {
    await once(client, "connect");
    await Promise.all([linkOf(ioA).ready, linkOf(ioB).ready]);
    const got: number[] = [];
    client.on("n", (i: number) => got.push(i));
    // Interest for room "r" reaches the relay: A's broadcasts arrive.
    let probe = 1000;
    await until(() => (ioA.to("r").emit("n", probe++), got.length > 0), "A's broadcasts to reach B's client");
    const counted = () => got.filter((n) => n < 100);

    for (let i = 0; i < 10; i++) ioA.to("r").emit("n", i);
    await until(() => counted().length === 10, "the first 10 broadcasts");
    await linkOf(ioA).link.flush(); // everything so far confirmed by a round trip

    process.kill(relay.pid!, "SIGSTOP");
    // 10 sent into the frozen relay before the workers notice, 20 dropped after: none delivered.
    for (let i = 10; i < 20; i++) ioA.to("r").emit("n", i);
    await until(() => !linkOf(ioA).link.connected && !linkOf(ioB).link.connected, "both workers to notice the stall", 10_000);
    for (let i = 20; i < 40; i++) ioA.to("r").emit("n", i);

    process.kill(relay.pid!, "SIGCONT");
    await until(() => gapsA.length === 1 && gapsB.length === 1, "cluster-gap on both workers", 20_000);
    const [gap] = gapsA;
    assert.deepEqual({ unconfirmed: gap.unconfirmed, dropped: gap.dropped }, { unconfirmed: 10, dropped: 20 });
    assert.ok(gap.from <= gap.to);
    assert.ok(gapsB[0].to - gapsB[0].from > 0, "B learns of the window it missed A's broadcasts in");

    // Back in business: new broadcasts arrive, the 30 lost ones never do.
    let after = 100;
    await until(() => (ioA.to("r").emit("n", after++), got.some((n) => n >= 100 && n < 1000)), "broadcasts after the recovery", 10_000);
    assert.deepEqual(counted(), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);

    // The gap in A's metrics: one outage, its 10 unconfirmed and 20 dropped messages, its length.
    const metrics = await (await fetch(`http://127.0.0.1:${portA}/metrics`)).text();
    const sample = (series: string) =>
      Number(
        metrics
          .split("\n")
          .find((l) => l.startsWith(series + " "))
          ?.slice(series.length + 1),
      );
    assert.equal(sample("roomgate_cluster_gaps_total"), 1);
    assert.equal(sample('roomgate_cluster_gap_lost_total{kind="unconfirmed"}'), 10);
    assert.equal(sample('roomgate_cluster_gap_lost_total{kind="dropped"}'), 20);
    assert.equal(sample("roomgate_cluster_gap_seconds_total"), (gap.to - gap.from) / 1000);
  } finally {
    client.disconnect();
    await Promise.all([ioA.close(), ioB.close()]);
    if (relay.exitCode === null) {
      process.kill(relay.pid!, "SIGCONT");
      relay.kill();
    }
  }
});
