// Issue 22, detection: with the cluster's default options, (1) how long a worker killed with
// SIGKILL still counts for the others (serverCount) and how long a fetchSockets issued at its death
// waits; (2) what the heartbeat costs at rest: messages/s and relay bytes/s per worker (everything
// the relay carried: presence heartbeats and the NATS clients' PINGs); (3) how long a frozen relay
// (SIGSTOP) goes unnoticed by a worker. Workers are child processes of this file on an embedded
// relay (a child too, for the SIGSTOP); the observing worker runs here.
//   node --import tsx bench/detection.ts [--reps 10] [--workers 4] [--idle-ms 10000]
import { type ChildProcess, fork, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { type ClusterAdapter, createClusterAdapter, Relay, Server } from "../src/index.ts";
import { freePort } from "./lib/ports.ts";
import { sleep, until } from "./lib/wait.ts";

const self = fileURLToPath(import.meta.url);

if (process.env.DETECTION_WORKER) {
  // A worker with the default cluster options, one client-less namespace.
  const io = new Server({ logger: "silent", adapter: createClusterAdapter({ servers: process.env.DETECTION_WORKER, log: () => {} }) });
  await io.listen(0, "127.0.0.1");
  await (io.sockets.adapter as ClusterAdapter).node.ready;
  process.send!("ready");
  process.on("disconnect", () => process.exit(0));
} else {
  const arg = (name: string, dflt: number) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? Number(process.argv[i + 1]) : dflt;
  };
  const reps = arg("reps", 10);
  const workers = arg("workers", 4);
  const idleMs = arg("idle-ms", 10_000);
  const children = new Set<ChildProcess>();
  process.on("exit", () => {
    for (const c of children) c.kill("SIGKILL");
  });

  const startWorker = (url: string) =>
    new Promise<ChildProcess>((resolve, reject) => {
      const c = fork(self, [], { execArgv: ["--import", "tsx"], env: { ...process.env, DETECTION_WORKER: url }, stdio: "inherit" });
      children.add(c);
      c.on("exit", () => children.delete(c));
      c.once("message", () => resolve(c));
      c.once("exit", (code) => reject(new Error(`worker exited ${code}`)));
    });
  const killed = (c: ChildProcess) => new Promise<void>((r) => (c.exitCode !== null ? r() : (c.once("exit", () => r()), c.kill("SIGKILL"))));
  const stats = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
    return { n: s.length, min: Math.round(s[0]!), p50: Math.round(q(0.5)), max: Math.round(s[s.length - 1]!) };
  };

  // (1) and (2): an in-process relay (its counters), the observer here, workers as children.
  {
    const relay = new Relay();
    const url = `nats://127.0.0.1:${await relay.listen(0, "127.0.0.1")}`;
    const io = new Server({ logger: "silent", adapter: createClusterAdapter({ servers: url, log: () => {} }) });
    await io.listen(0, "127.0.0.1");
    const count = () => io.sockets.adapter.serverCount();
    const pool = await Promise.all(Array.from({ length: workers }, () => startWorker(url)));
    await until(async () => (await count()) === workers + 1, "the workers to meet", 10_000);
    await sleep(1000);
    const before = relay.stats();
    const t0 = performance.now();
    await sleep(idleMs);
    const after = relay.stats();
    const secs = (performance.now() - t0) / 1000;
    const perWorker = (n: number) => Math.round((n / secs / (workers + 1)) * 10) / 10;
    console.log(
      JSON.stringify({
        measure: "heartbeat cost at rest (default options)",
        workers: workers + 1,
        perWorker: {
          relayMsgsInPerSec: perWorker(after.msgsIn - before.msgsIn),
          relayMsgsOutPerSec: perWorker(after.msgsOut - before.msgsOut),
          relayBytesInPerSec: perWorker(after.bytesIn - before.bytesIn),
          relayBytesOutPerSec: perWorker(after.bytesOut - before.bytesOut),
        },
      }),
    );
    for (const c of pool) await killed(c);
    await until(async () => (await count()) === 1, "the pool to be gone", 10_000);

    const outMs: number[] = [];
    const fetchMs: number[] = [];
    for (let i = 0; i < reps; i++) {
      const victim = await startWorker(url);
      await until(async () => (await count()) === 2, "the victim to be counted", 10_000);
      // Its heartbeats are 500 ms apart: die at a random point between two.
      await sleep(Math.random() * 500);
      const t = performance.now();
      await killed(victim);
      const fetched = io.fetchSockets().then(
        () => performance.now() - t,
        () => Number.NaN,
      );
      await until(async () => (await count()) === 1, "the victim to be out", 20_000, 5);
      outMs.push(performance.now() - t);
      fetchMs.push(await fetched);
    }
    console.log(JSON.stringify({ measure: "SIGKILLed worker: ms from death until no longer counted", ...stats(outMs) }));
    console.log(JSON.stringify({ measure: "SIGKILLed worker: ms a fetchSockets issued at its death waited", ...stats(fetchMs) }));
    await io.close();
    await relay.close();
  }

  // (3): the relay as a child process, frozen and thawed.
  {
    const port = await freePort();
    const relay = spawn(process.execPath, ["--import", "tsx", fileURLToPath(new URL("../src/bin/relay.ts", import.meta.url))], {
      env: { ...process.env, RELAY_PORT: String(port), RELAY_TOKEN: "bench" },
      stdio: ["ignore", "pipe", "inherit"],
    });
    children.add(relay);
    await new Promise<void>((r) => relay.stdout!.on("data", (d: Buffer) => d.toString().includes("listening") && r()));
    const io = new Server({ logger: "silent", adapter: createClusterAdapter({ servers: `nats://127.0.0.1:${port}`, token: "bench", log: () => {} }) });
    await io.listen(0, "127.0.0.1");
    const node = (io.sockets.adapter as ClusterAdapter).node;
    await node.ready;
    const noticedMs: number[] = [];
    for (let i = 0; i < reps; i++) {
      await until(async () => node.link.connected, "the link", 10_000);
      await sleep(500 + Math.random() * 250); // freeze at a random point between two PINGs
      const t = performance.now();
      process.kill(relay.pid!, "SIGSTOP");
      await until(async () => !node.link.connected, "the worker to notice", 20_000, 5);
      noticedMs.push(performance.now() - t);
      process.kill(relay.pid!, "SIGCONT");
    }
    console.log(JSON.stringify({ measure: "frozen relay (SIGSTOP): ms until the worker noticed", ...stats(noticedMs) }));
    await io.close();
    relay.kill();
  }
  process.exit(0);
}
