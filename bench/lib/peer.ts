// Child processes of a benchmark runner: spawned with `node --import tsx` (a .ts script) or plain
// `node` (a compiled .js one, `npm run bench -- --dist`), optionally pinned with
// taskset, spoken to over IPC (request/reply by id, or one-way), and all killed by PID when the
// runner exits. Shared by bench/e2e/run.ts and bench/e2e/cluster.ts.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.dirname(path.dirname(path.dirname(fileURLToPath(import.meta.url))));

export type Msg = { id?: number; type: string; [k: string]: unknown };

/** Every child process started through Peer and still running. */
export const children = new Set<ChildProcess>();

export function killChildren(): void {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null && c.pid) {
      try {
        process.kill(c.pid, "SIGKILL"); // only processes this runner started, by pid
      } catch {
        /* already gone */
      }
    }
  }
  children.clear();
}
process.on("exit", killChildren);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const)
  process.on(sig, () => {
    killChildren();
    process.exit(130);
  });

export const HAS_TASKSET = spawnSync("taskset", ["-c", "0", "true"], { stdio: "ignore" }).status === 0;
export const NCPU = os.availableParallelism();

/** The CPU list (taskset -c) of a role: servers on CPU 0, load clients on the others; null when
 *  not pinning (asked not to, no taskset, or a single CPU). */
export function cpusFor(role: "server" | "client", pin: boolean): string | null {
  if (!pin || !HAS_TASKSET || NCPU < 2) return null;
  return role === "server" ? "0" : clientCpus();
}

function clientCpus(): string {
  return NCPU === 2 ? "1" : `1-${NCPU - 1}`;
}

/** How a runner pinned its processes, for its report: `servers` names what runs on CPU 0. */
export function pinningNote(pin: boolean, servers: string): string {
  return pin && HAS_TASKSET && NCPU >= 2 ? `${servers} on CPU 0, clients on CPU ${clientCpus()} (taskset)` : "none";
}

/** Extra node flags for children from the environment, e.g. BENCH_SERVER_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof". */
export function envFlags(name: string): string[] {
  return (process.env[name] ?? "").split(" ").filter(Boolean);
}

export class Peer {
  readonly child: ChildProcess;
  private nextId = 1;
  private pending = new Map<number, { resolve: (m: Msg) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private listeners = new Map<string, (m: Msg) => void>();
  exited: string | null = null;
  private exitWaiters: (() => void)[] = [];

  /** `args`: the script (absolute path) and its arguments, run as `node [nodeFlags] --import tsx ...args`
   *  (no loader for a .js script), by `node` (default: the runner's own). */
  constructor(
    readonly name: string,
    args: string[],
    cpus: string | null,
    nodeFlags: string[] = [],
    env: NodeJS.ProcessEnv = {},
    node: string = process.execPath,
  ) {
    const loader = args[0]?.endsWith(".ts") ? ["--import", "tsx"] : [];
    const nodeArgs = [...nodeFlags, ...loader, ...args];
    const [cmd, argv] = cpus !== null ? ["taskset", ["-c", cpus, node, ...nodeArgs]] : [node, nodeArgs];
    this.child = spawn(cmd, argv, {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      serialization: "advanced",
    });
    children.add(this.child);
    this.child.on("message", (raw) => {
      const m = raw as Msg;
      if (m.id !== undefined && m.id > 0 && this.pending.has(m.id)) {
        const p = this.pending.get(m.id)!;
        this.pending.delete(m.id);
        clearTimeout(p.timer);
        if (m.type === "error") p.reject(new Error(`${this.name}: ${String(m.error)}`));
        else p.resolve(m);
        return;
      }
      this.listeners.get(m.type)?.(m);
    });
    this.child.on("exit", (code, signal) => {
      this.exited = `exited with ${signal ?? `code ${code}`}`;
      children.delete(this.child);
      for (const p of this.pending.values()) {
        clearTimeout(p.timer);
        p.reject(new Error(`${this.name} ${this.exited}`));
      }
      this.pending.clear();
      const w = this.exitWaiters;
      this.exitWaiters = [];
      w.forEach((f) => f());
      this.listeners.get("exit")?.({ type: "exit" });
    });
    this.child.on("error", (err) => {
      this.exited = `failed to start: ${err.message}`;
    });
  }
  get pid(): number {
    return this.child.pid ?? -1;
  }
  on(type: string, fn: (m: Msg) => void): void {
    this.listeners.set(type, fn);
  }
  off(type: string): void {
    this.listeners.delete(type);
  }
  waitFor(type: string, timeoutMs: number): Promise<Msg> {
    return new Promise((resolve, reject) => {
      if (this.exited) return reject(new Error(`${this.name} ${this.exited}`));
      const timer = setTimeout(() => reject(new Error(`${this.name}: no '${type}' within ${timeoutMs} ms`)), timeoutMs);
      this.listeners.set(type, (m) => {
        clearTimeout(timer);
        this.listeners.delete(type);
        resolve(m);
      });
      this.listeners.set("exit", () => {
        clearTimeout(timer);
        reject(new Error(`${this.name} ${this.exited}`));
      });
    });
  }
  request(msg: Record<string, unknown>, timeoutMs = 30000): Promise<Msg> {
    return new Promise((resolve, reject) => {
      if (this.exited) return reject(new Error(`${this.name} ${this.exited}`));
      const id = this.nextId++;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name}: no reply to '${String(msg.cmd)}' within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.child.send({ ...msg, id });
    });
  }
  notify(msg: Record<string, unknown>): void {
    if (!this.exited) this.child.send({ ...msg, id: 0 });
  }
  waitExit(timeoutMs: number): Promise<boolean> {
    if (this.exited) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.exitWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }
  kill(): void {
    if (!this.exited && this.child.pid) {
      try {
        process.kill(this.child.pid, "SIGKILL");
      } catch {
        /* gone */
      }
    }
  }

  /** Asks the child to finish (when given a command), waits up to 3 s for it to exit, then kills it. */
  async stop(closeCmd: Record<string, unknown> | null): Promise<void> {
    if (!this.exited && closeCmd) await this.request(closeCmd, 5000).catch(() => {});
    if (!(await this.waitExit(3000))) this.kill();
  }
}

/** Runs a benchmark's main(): exits with its code, kills every child on the way out, and gives up
 *  (exit 3) after `maxMinutes` whatever happens. */
export function runMain(label: string, main: () => Promise<number>, maxMinutes: number): void {
  const watchdog = setTimeout(
    () => {
      console.error(`${label}: FAIL: watchdog: the run took more than ${maxMinutes} minutes`);
      killChildren();
      process.exit(3);
    },
    maxMinutes * 60 * 1000,
  );
  watchdog.unref();
  main().then(
    (code) => {
      killChildren();
      process.exitCode = code;
      setTimeout(() => process.exit(code), 50).unref();
    },
    (err: unknown) => {
      console.error(`${label}: FAIL:`, err);
      killChildren();
      process.exit(1);
    },
  );
}
