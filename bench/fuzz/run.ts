// `npm run fuzz`: throws seeded random and mutated Engine.IO / Socket.IO input, and HTTP edge cases,
// at a roomgate server in a child process over 127.0.0.1, while a well-behaved socket.io-client
// keeps a round trip going. Counts crashes (the child exiting), internal errors (roomgate logging a
// bug of its own) and the good client's failed round trips; all three must stay 0.
//   npm run fuzz -- [--cases 100000] [--seed 1] [--concurrency 48]
// Bounded: stops after --cases cases. A crash restarts the target and lists the cases in flight.
import type { ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { io as connectClient, type Socket as ClientSocket } from "socket.io-client";
import { makeCase, type SessionCase } from "./generators.ts";
import { type Running, startProcess } from "../lib/start-process.ts";
import { httpCase, openSession, text } from "./wire.ts";

export interface FuzzOptions {
  cases: number;
  seed: number;
  concurrency: number;
}

export interface FuzzResult {
  seed: number;
  cases: number;
  byKind: Record<string, number>;
  /** Sessions the server refused (should stay 0: no limit is near). */
  refusedSessions: number;
  crashes: Array<{ exit: string; inFlight: number[] }>;
  /** What reached the application in the target (namespace connections, events, binary events). */
  reached: Record<string, number>;
  /** Error lines the target logged (roomgate's "unexpected error", a handler that threw, a crash's stack). */
  internalErrors: string[];
  goodClient: { roundTrips: number; failed: number; disconnects: number };
  durationMs: number;
}

const MAX_PAYLOAD = 64 * 1024;
const serverScript = fileURLToPath(new URL("./server.ts", import.meta.url));

class Target {
  private run: Running | null = null;
  /** Resolves once the current target's output ended and was read (below). */
  private closed: Promise<void> = Promise.resolve();
  port = 0;
  /** What the last target said it reached (its last words, on SIGTERM). */
  reached: Record<string, number> = {};
  /** Every line any target printed on stderr (roomgate logging a bug of its own). */
  readonly errors: string[] = [];

  get proc(): ChildProcess | null {
    return this.run?.child ?? null;
  }

  async start(): Promise<void> {
    const run = await startProcess(process.execPath, ["--import", "tsx", serverScript], { ready: /listening (\d+)/, what: "the fuzz target" });
    this.run = run;
    this.port = Number((run.ready as RegExpExecArray)[1]);
    // "close" comes after the output ended: nothing it printed is missed.
    this.closed = new Promise((resolve) =>
      run.child.once("close", () => {
        this.errors.push(...run.stderrLines().filter((l) => l.trim()));
        const r = /reached (\{.*\})/.exec(run.output());
        if (r) this.reached = JSON.parse(r[1]!);
        resolve();
      }),
    );
  }

  async stop(): Promise<void> {
    await this.run?.stop("SIGTERM");
    await this.closed;
  }
}

/** One session case: open, connect the namespace if asked, write the frames, half-close, wait for
 *  the server to close (it has read everything before our FIN by then), bounded. */
async function runSessionCase(port: number, c: SessionCase): Promise<boolean> {
  const socket = await openSession(port);
  if (!socket) return false;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(done, 2000);
    function done() {
      clearTimeout(timer);
      socket!.destroy();
      resolve();
    }
    socket.on("data", () => {});
    socket.on("error", done);
    socket.on("close", done);
    const frames = c.connect ? [text("40"), ...c.frames] : c.frames;
    socket.end(Buffer.concat(frames));
  });
  return true;
}

/** A client that does everything right, with a round trip every 200 ms. */
function goodClient(target: Target, stats: FuzzResult["goodClient"]): () => void {
  let client: ClientSocket | null = null;
  let stopped = false;
  const connect = () => {
    client = connectClient(`http://127.0.0.1:${target.port}`, { transports: ["websocket"], forceNew: true, reconnection: false });
    client.on("disconnect", () => {
      if (stopped) return;
      stats.disconnects++;
      setTimeout(connect, 200);
    });
  };
  connect();
  let n = 0;
  const timer = setInterval(async () => {
    const c = client;
    if (!c?.connected) return;
    const k = n++;
    try {
      const reply = (await c.timeout(5000).emitWithAck("echo", k)) as number;
      if (reply === k) stats.roundTrips++;
      else stats.failed++;
    } catch {
      if (!stopped) stats.failed++;
    }
  }, 200);
  return () => {
    stopped = true;
    clearInterval(timer);
    client?.disconnect();
  };
}

export async function runFuzz(opts: FuzzOptions, progress?: (done: number) => void): Promise<FuzzResult> {
  const started = Date.now();
  const result: FuzzResult = {
    seed: opts.seed,
    cases: 0,
    byKind: {},
    refusedSessions: 0,
    reached: {},
    crashes: [],
    internalErrors: [],
    goodClient: { roundTrips: 0, failed: 0, disconnects: 0 },
    durationMs: 0,
  };
  const target = new Target();
  await target.start();
  const inFlight = new Set<number>();
  let restarting: Promise<void> | null = null;
  const watch = () =>
    target.proc!.once("exit", (code, signal) => {
      if (stopping) return;
      result.crashes.push({ exit: `${code ?? signal}`, inFlight: [...inFlight] });
      restarting = target.start().then(() => {
        watch();
        restarting = null;
      });
    });
  let stopping = false;
  watch();
  const stopClient = goodClient(target, result.goodClient);

  let next = 0;
  const worker = async () => {
    while (next < opts.cases) {
      const n = next++;
      if (restarting) await restarting;
      const c = makeCase(opts.seed, n, MAX_PAYLOAD);
      inFlight.add(n);
      if ("request" in c) await httpCase(target.port, c.request);
      else if (!(await runSessionCase(target.port, c))) result.refusedSessions++;
      inFlight.delete(n);
      result.cases++;
      result.byKind[c.kind] = (result.byKind[c.kind] ?? 0) + 1;
      if (progress && result.cases % 10_000 === 0) progress(result.cases);
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  // One last round trip after the last case: the good client is still served.
  await new Promise((r) => setTimeout(r, 500));
  stopClient();
  stopping = true;
  await target.stop();
  result.reached = target.reached;
  // The target's app catches the errors it expects: any error line is a finding.
  result.internalErrors = target.errors;
  result.durationMs = Date.now() - started;
  return result;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (name: string, dflt: number) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? Number(process.argv[i + 1]) : dflt;
  };
  const opts = { cases: arg("cases", 100_000), seed: arg("seed", 1), concurrency: arg("concurrency", 48) };
  const result = await runFuzz(opts, (done) => console.log(`fuzz: ${done} cases`));
  console.log(JSON.stringify(result, null, 2));
  if (process.argv.includes("--save"))
    writeFileSync(
      fileURLToPath(new URL("../results/fuzz.json", import.meta.url)),
      `${JSON.stringify({ ...result, command: process.argv.slice(2).join(" ") }, null, 2)}\n`,
    );
  const ok = result.crashes.length === 0 && result.internalErrors.length === 0 && result.goodClient.failed === 0 && result.goodClient.disconnects === 0;
  console.log(ok ? "fuzz: OK" : "fuzz: FAILED");
  process.exit(ok ? 0 : 1);
}
