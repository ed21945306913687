// Cluster test helpers: relay backends (the embedded Relay, or a real nats-server process), gateway
// worker processes, and socket.io-client clients driving them. Every process started here is
// tracked and killed by PID in `killAll()`.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { freePort, type Running, startProcess } from "./process.ts";
import { fileURLToPath } from "node:url";
import { io as connectClient, type Socket as ClientSocket } from "socket.io-client";
import { Relay, type Server } from "../../src/index.ts";
import { until } from "./wait.ts";

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const children = new Set<ChildProcess>();

/** Waits until each of these in-process workers counts all of them (serverCount). */
export function seeEachOther(...ios: Server[]): Promise<boolean> {
  return until(
    async () => (await Promise.all(ios.map((io) => io.sockets.adapter.serverCount()))).every((n) => n === ios.length),
    "the workers to see each other",
  );
}

export interface RelayCounters {
  msgsOut: number;
  bytesOut: number;
}

export interface Backend {
  readonly name: string;
  readonly url: string;
  start(): Promise<void>;
  /** Kills the relay (clients see their connection drop). */
  stop(): Promise<void>;
  stats(): Promise<RelayCounters>;
}

export class EmbeddedBackend implements Backend {
  readonly name = "embedded relay";
  private relay: Relay | null = null;
  private constructor(private readonly port: number) {}
  static async create(): Promise<EmbeddedBackend> {
    return new EmbeddedBackend(await freePort());
  }
  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }
  async start(): Promise<void> {
    const relay = new Relay();
    await relay.listen(this.port, "127.0.0.1");
    this.relay = relay;
  }
  async stop(): Promise<void> {
    await this.relay?.close();
    this.relay = null;
  }
  async stats(): Promise<RelayCounters> {
    const s = this.relay!.stats();
    return { msgsOut: s.msgsOut, bytesOut: s.bytesOut };
  }
}

export function natsServerAvailable(): boolean {
  return spawnSync("nats-server", ["--version"], { stdio: "ignore" }).status === 0;
}

export class NatsServerBackend implements Backend {
  readonly name = "nats-server";
  private proc: ChildProcess | null = null;
  private constructor(
    private readonly port: number,
    private readonly monitorPort: number,
  ) {}
  static async create(): Promise<NatsServerBackend> {
    return new NatsServerBackend(await freePort(), await freePort());
  }
  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }
  async start(): Promise<void> {
    const args = ["-a", "127.0.0.1", "-p", String(this.port), "-m", String(this.monitorPort)];
    this.proc = (await track(startProcess("nats-server", args, { ready: /Server is ready/, what: "nats-server" }))).child;
  }
  async stop(): Promise<void> {
    const proc = this.proc;
    this.proc = null;
    if (proc) await kill(proc);
  }
  async stats(): Promise<RelayCounters> {
    const v = (await (await fetch(`http://127.0.0.1:${this.monitorPort}/varz`)).json()) as { out_msgs: number; out_bytes: number };
    return { msgsOut: v.out_msgs, bytesOut: v.out_bytes };
  }
}

/** Three nats-server processes routed into one cluster, on free loopback ports; one can be killed. */
export class NatsCluster {
  private readonly procs: (ChildProcess | null)[] = [null, null, null];
  private constructor(
    readonly ports: number[],
    private readonly monitorPorts: number[],
    private readonly routePorts: number[],
  ) {}
  static async create(): Promise<NatsCluster> {
    const free = async () => Promise.all([freePort(), freePort(), freePort()]);
    return new NatsCluster(await free(), await free(), await free());
  }
  url(i: number): string {
    return `nats://127.0.0.1:${this.ports[i]}`;
  }
  /** The URLs with server `i` first (a worker spread onto it connects there first). */
  urlsFrom(i: number): string {
    return [0, 1, 2].map((k) => this.url((i + k) % 3)).join(",");
  }
  async start(): Promise<void> {
    for (let i = 0; i < 3; i++) {
      const routes = [0, 1, 2].filter((k) => k !== i).map((k) => `nats://127.0.0.1:${this.routePorts[k]}`);
      const args = ["-a", "127.0.0.1", "-p", String(this.ports[i]), "-m", String(this.monitorPorts[i])];
      args.push("--cluster_name", "roomgate-test", "--cluster", `nats://127.0.0.1:${this.routePorts[i]}`, "--routes", routes.join(","));
      this.procs[i] = (await track(startProcess("nats-server", args, { ready: /Server is ready/, what: `nats-server ${i}` }))).child;
    }
    await until(
      async () => {
        for (let i = 0; i < 3; i++) {
          const r = (await (await fetch(`http://127.0.0.1:${this.monitorPorts[i]}/routez`)).json()) as { num_routes: number };
          if (r.num_routes < 2) return false;
        }
        return true;
      },
      "the three nats-servers to route to each other",
      15_000,
    );
  }
  /** Names of the client connections of server `i`. */
  async connectionNames(i: number): Promise<string[]> {
    const c = (await (await fetch(`http://127.0.0.1:${this.monitorPorts[i]}/connz`)).json()) as { connections?: { name?: string }[] };
    return (c.connections ?? []).map((x) => x.name ?? "");
  }
  async kill(i: number): Promise<void> {
    const proc = this.procs[i];
    this.procs[i] = null;
    if (proc) await kill(proc);
  }
  async stop(): Promise<void> {
    for (let i = 0; i < 3; i++) await this.kill(i);
  }
}

function kill(proc: ChildProcess, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
    const timer = setTimeout(() => {
      if (proc.pid) process.kill(proc.pid, "SIGKILL");
    }, 3000);
    proc.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    if (proc.pid) process.kill(proc.pid, signal);
  });
}

export async function killAll(): Promise<void> {
  await Promise.all([...children].map((c) => kill(c)));
}

export interface Worker {
  id: string;
  port: number;
  proc: ChildProcess;
  /** Everything the worker printed. */
  output: string[];
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export async function startWorker(id: string, clusterUrl: string, script = "./cluster-worker.ts", env: Record<string, string> = {}): Promise<Worker> {
  const w = await track(
    startProcess(process.execPath, ["--import", "tsx", here(script)], {
      env: { ...env, CLUSTER_URL: clusterUrl, WORKER_ID: id },
      ready: (m) => (m as { ready?: boolean }).ready === true,
      what: `worker ${id}`,
    }),
  );
  return {
    id,
    port: (w.ready as { port: number }).port,
    proc: w.child,
    get output() {
      return w.output().split("\n").filter(Boolean);
    },
    kill: (signal) => kill(w.child, signal),
  };
}

/** Runs a script to completion (bounded). */
export function runScript(script: string, env: Record<string, string>, ms = 20_000): Promise<string> {
  const proc = spawn(process.execPath, ["--import", "tsx", here(script)], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  children.add(proc);
  let out = "";
  proc.stdout!.on("data", (c: Buffer) => (out += c));
  proc.stderr!.on("data", (c: Buffer) => (out += c));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void kill(proc);
      reject(new Error(`${script} did not finish: ${out}`));
    }, ms);
    proc.on("exit", (code) => {
      children.delete(proc);
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${script} exited with ${code}: ${out}`));
    });
  });
}

/** Every process started here is killed in killAll(). */
async function track(started: Promise<Running>): Promise<Running> {
  const r = await started;
  children.add(r.child);
  r.child.once("exit", () => children.delete(r.child));
  return r;
}

export interface Client {
  name: string;
  socket: ClientSocket;
  /** Every event received, in order. */
  log: Array<[string, ...unknown[]]>;
  id: string;
}

export function connect(port: number, name: string, rooms: string[] = [], opts: { answer?: boolean } = {}): Promise<Client> {
  const socket = connectClient(`http://127.0.0.1:${port}`, {
    transports: ["websocket"],
    forceNew: true,
    reconnection: false,
    query: { name, rooms: rooms.join(",") },
  });
  const log: Array<[string, ...unknown[]]> = [];
  socket.onAny((ev: string, ...args: unknown[]) => {
    const last = args[args.length - 1];
    if (typeof last === "function") {
      args.pop();
      if (opts.answer !== false) (last as (r: unknown) => void)(`answer from ${name}`);
    }
    log.push([ev, ...args]);
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`client ${name} did not connect`)), 5000);
    socket.once("connect", () => {
      clearTimeout(timer);
      const client = { name, socket, log, id: socket.id! };
      // Every worker routes the client's rooms to its worker once the join settled (cluster-app's op).
      if (rooms.length === 0) resolve(client);
      else op(client, "joined").then(() => resolve(client), reject);
    });
    socket.once("connect_error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** Runs a server-side operation on the client's worker. */
export async function op<T = any>(client: Client, name: string, args: unknown = {}, ms = 5000): Promise<T> {
  const r = (await client.socket.timeout(ms).emitWithAck("op", name, args)) as { ok: boolean; value?: T; error?: string };
  if (!r.ok) throw new Error(`op ${name} failed: ${r.error}`);
  return r.value as T;
}

export function received(client: Client, ev: string): unknown[][] {
  return client.log.filter((e) => e[0] === ev).map((e) => e.slice(1));
}
