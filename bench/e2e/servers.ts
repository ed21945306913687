// The servers the end-to-end benchmark compares (bench/e2e/servers/), the ones it runs by default,
// the baselines every figure is divided by, and their compiled form (--dist). With --runtimes a
// server's name carries its runtime, "roomgate@node24" (bench/lib/runtimes.ts), and its baselines
// are the ones on the same runtime.
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const BENCH_DIR = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const ROOT = path.dirname(BENCH_DIR);

export interface ServerDef {
  name: string;
  /** The server's script, relative to bench/. */
  file: string;
  /** "sio": speaks Engine.IO/Socket.IO to the clients (also over long-polling: the polling
   *  scenario); "raw": plain WebSocket frames (no polling). */
  mode: "sio" | "raw";
  label: string;
  /** Environment the server process runs with (a variant of another server's script). */
  env?: Record<string, string>;
  /** The Node runtime it runs on (bench/lib/runtimes.ts); undefined: the runner's own node. */
  runtime?: string;
}
export const SERVER_DEFS: readonly ServerDef[] = [
  { name: "roomgate", file: "e2e/servers/roomgate.ts", mode: "sio", label: "roomgate" },
  // The recording's cost, side by side with roomgate in one run (issue #15).
  { name: "roomgate-recovery", file: "e2e/servers/roomgate.ts", mode: "sio", label: "roomgate, connectionStateRecovery on", env: { ROOMGATE_RECOVERY: "on" } },
  { name: "uws", file: "e2e/servers/uws.ts", mode: "raw", label: "raw uWS pub/sub (floor)" },
  { name: "socketio-ws", file: "e2e/servers/socketio-ws.ts", mode: "sio", label: "Socket.IO 4.8 on ws" },
  { name: "socketio-uws", file: "e2e/servers/socketio-uws.ts", mode: "sio", label: "Socket.IO 4.8 on uWS" },
  { name: "wrong", file: "e2e/servers/wrong.ts", mode: "raw", label: "deliberately wrong (harness check)" },
];
export const DEFAULT_SERVERS = ["roomgate", "uws", "socketio-ws", "socketio-uws"];
export const BASELINES = ["uws", "socketio-ws"] as const;

export function serverDef(name: string): ServerDef {
  const [base, runtime] = name.split("@");
  const def = SERVER_DEFS.find((d) => d.name === base);
  if (!def) throw new Error(`unknown server ${JSON.stringify(name)}`);
  return runtime ? { ...def, name, label: `${def.label} on ${runtime}`, runtime } : def;
}

/** The baseline `base` ("uws", "socketio-ws") on the same runtime as `server`. */
export function baselineFor(base: string, server: string): string {
  const runtime = server.split("@")[1];
  return runtime ? `${base}@${runtime}` : base;
}

/** --dist: builds dist/ and compiles the servers like the package (tsconfig.bench.json), once per run. */
export function compileServers(): void {
  for (const [cmd, args] of [
    ["npm", ["run", "build"]],
    [process.execPath, [path.join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", path.join(ROOT, "tsconfig.bench.json")]],
  ] as const) {
    const r = spawnSync(cmd, args, { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] });
    if (r.status !== 0) throw new Error(`--dist: ${cmd} ${args.join(" ")} failed`);
  }
}

/** A server's script: the TypeScript source (run through tsx) or, with --dist, its compiled JS (plain node). */
export function serverScript(def: ServerDef, dist: boolean): string {
  return dist ? path.join(BENCH_DIR, ".dist", "bench", def.file.replace(/\.ts$/, ".js")) : path.join(BENCH_DIR, def.file);
}
