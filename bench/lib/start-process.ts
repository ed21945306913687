// Starting a child process and waiting until it says it is ready, for the tests and the benchmark
// runners: a line of its output matching a pattern, or an IPC message. Collects what it prints,
// rejects (with that output) when it exits first or stays silent too long, and stops it by PID.
// Knows nothing of what the process is (a gateway, a relay, an app).
import { type ChildProcess, spawn } from "node:child_process";

export interface StartOptions {
  cwd?: string;
  /** Added to (or, with `HOST: undefined`, removed from) the parent's environment. */
  env?: Record<string, string | undefined>;
  /** Ready once the output (stdout and stderr) matches this, or once an IPC message satisfies it
   *  (the child then gets an IPC channel, as with fork). */
  ready: RegExp | ((message: unknown) => boolean);
  /** How long the child may take to be ready before it is killed (default 20 s). */
  ms?: number;
  /** What the process is, for the error messages. */
  what?: string;
}

export interface Running {
  readonly child: ChildProcess;
  /** The match of a `ready` pattern, or the IPC message that made the child ready. */
  readonly ready: RegExpExecArray | unknown;
  /** Everything printed so far, stdout and stderr interleaved. */
  output(): string;
  /** The complete lines printed on stdout, on stderr, so far. */
  stdoutLines(): string[];
  stderrLines(): string[];
  /** Resolves to the exit code (null after a signal). */
  readonly exited: Promise<number | null>;
  /** Sends `signal` if the child still runs, SIGKILL after `graceMs`; resolves to the exit code. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number | null>;
}

export function startProcess(cmd: string, args: string[], opts: StartOptions): Promise<Running> {
  const ipc = typeof opts.ready === "function";
  const env: Record<string, string | undefined> = { ...process.env, ...opts.env };
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  const child = spawn(cmd, args, { cwd: opts.cwd, env, stdio: ["ignore", "pipe", "pipe", ...(ipc ? (["ipc"] as const) : [])] });
  const what = opts.what ?? args.find((a) => /\.(ts|js|mjs)$/.test(a)) ?? cmd;
  let out = "";
  let stdout = "";
  let stderr = "";
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const stop = async (signal: NodeJS.Signals = "SIGTERM", graceMs = 5000) => {
    if (child.exitCode === null && child.signalCode === null && child.pid) process.kill(child.pid, signal);
    const timer = setTimeout(() => child.pid && child.exitCode === null && process.kill(child.pid, "SIGKILL"), graceMs);
    const code = await exited;
    clearTimeout(timer);
    return code;
  };
  return new Promise((resolve, reject) => {
    let done = false;
    const settle = (ready: unknown, err?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) reject(err);
      else
        resolve({
          child,
          ready,
          output: () => out,
          stdoutLines: () => stdout.split("\n").slice(0, -1),
          stderrLines: () => stderr.split("\n").slice(0, -1),
          exited,
          stop,
        });
    };
    const timer = setTimeout(() => {
      void stop("SIGKILL");
      settle(null, new Error(`${what} not ready within ${opts.ms ?? 20_000} ms:\n${out}`));
    }, opts.ms ?? 20_000);
    const onData = (isStdout: boolean) => (d: Buffer) => {
      out += d;
      if (isStdout) stdout += d;
      else stderr += d;
      if (opts.ready instanceof RegExp) {
        const m = opts.ready.exec(out);
        if (m) settle(m);
      }
    };
    child.stdout!.on("data", onData(true));
    child.stderr!.on("data", onData(false));
    if (typeof opts.ready === "function") {
      const accept = opts.ready;
      child.on("message", (m) => accept(m) && settle(m));
    }
    child.once("exit", (code) => settle(null, new Error(`${what} exited with ${code} before it was ready:\n${out}`)));
    child.once("error", (err) => settle(null, err));
  });
}
