// `npm run soak`: ≥ 15,000 WebSocket sessions from several client processes and 127.0.0.x source
// addresses (loopback only) against a server process, churned for minutes while the server
// broadcasts to rooms; then every client leaves and the server's tables, descriptors and memory
// must be back at their baseline. Bounded: stops by itself after --minutes.
//   flock /tmp/roomgate-bench.lock npm run soak -- [--connections 15000] [--clients 4] [--minutes 2] [--churn 100]
import { type ChildProcess, fork } from "node:child_process";
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { sleep } from "../lib/wait.ts";

type Stats = { sockets: number; rooms: number; sids: number; fds: number; rssMB: number; heapMB: number };
type Counters = { open: number; opened: number; closed: number; failed: number; unexpectedClose: number; frames: number };

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const connections = arg("connections", 15_000);
const clientCount = arg("clients", 4);
const minutes = arg("minutes", 2);
const churn = arg("churn", 100);
const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const children: ChildProcess[] = [];

function request<T>(child: ChildProcess, type: string, reply: string, ms = 120_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${reply} within ${ms} ms`)), ms);
    const on = (m: { type: string } & Record<string, unknown>) => {
      if (m.type !== reply) return;
      clearTimeout(timer);
      child.off("message", on);
      resolve(m as T);
    };
    child.on("message", on);
    if (type) child.send({ type });
  });
}

async function main(): Promise<void> {
  const server = fork(here("./server.ts"), [], { execArgv: ["--import", "tsx", "--expose-gc", "--max-semi-space-size=2"], stdio: "inherit" });
  children.push(server);
  const { port } = await request<{ port: number }>(server, "", "listening");
  const stats = async () => (await request<{ stats: Stats }>(server, "stats", "stats")).stats;
  const baseline = await stats();
  console.log(`soak: server on ${port}, baseline ${JSON.stringify(baseline)}`);

  const clients = Array.from({ length: clientCount }, (_, i) =>
    fork(here("./client.ts"), [], {
      execArgv: ["--import", "tsx"],
      env: { ...process.env, PORT: String(port), LOCAL_ADDRESS: `127.0.0.${2 + i}`, COUNT: String(Math.ceil(connections / clientCount)), CHURN: String(churn) },
    }),
  );
  children.push(...clients);
  await Promise.all(clients.map((c) => request(c, "", "ready")));
  const rampStart = Date.now();
  await Promise.all(clients.map((c) => request(c, "ramp", "ramped")));
  const peak = await stats();
  console.log(`soak: ramp to ${peak.sockets} sessions in ${Date.now() - rampStart} ms; ${JSON.stringify(peak)}`);

  for (const c of clients) c.send({ type: "churn" });
  const samples: Array<Stats & { t: number }> = [];
  const end = Date.now() + minutes * 60_000;
  while (Date.now() < end) {
    await sleep(Math.min(10_000, end - Date.now()));
    const s = await stats();
    samples.push({ t: Math.round((Date.now() - rampStart) / 1000), ...s });
    console.log(`soak: t=${samples.at(-1)!.t}s ${JSON.stringify(s)}`);
  }

  const counters = (await Promise.all(clients.map((c) => request<{ counters: Counters }>(c, "stop", "stopped")))).map((m) => m.counters);
  const totals = counters.reduce((a, c) => {
    for (const k of Object.keys(c) as (keyof Counters)[]) a[k] = (a[k] ?? 0) + c[k];
    return a;
  }, {} as Counters);
  let final = await stats();
  for (let i = 0; i < 60 && (final.sockets > 0 || final.fds > baseline.fds + 2); i++) {
    await sleep(500);
    final = await stats();
  }
  const back = final.sockets === 0 && final.rooms === 0 && final.sids === 0 && final.fds <= baseline.fds + 2;
  const result = {
    connections,
    clients: clientCount,
    minutes,
    churnPerClientPerSecond: churn,
    baseline,
    peak,
    samples,
    final,
    clientTotals: totals,
    backToBaseline: back,
  };
  writeFileSync(here("../results/soak.json"), JSON.stringify(result, null, 2) + "\n");
  console.log(`soak: clients ${JSON.stringify(totals)}`);
  console.log(`soak: final ${JSON.stringify(final)} (baseline ${JSON.stringify(baseline)}): ${back ? "back to baseline" : "NOT back to baseline"}`);
  server.send({ type: "stop" });
  await sleep(500);
  process.exitCode = back && totals.unexpectedClose === 0 ? 0 : 1;
}

try {
  await main();
} finally {
  for (const c of children) if (c.exitCode === null) c.kill();
}
