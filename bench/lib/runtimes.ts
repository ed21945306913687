// The Node runtimes a benchmark's servers can run on (--runtimes): this machine's node ("host")
// and the registry's Node binaries that `npm run test:runtimes` patches to run on glibc 2.41 (test/
// runtimes/run.sh, same names, same cache folder). A runtime is a node binary; which uWS build it
// loads is roomgate's loader's choice (src/engine/uws.ts), reported by describeRuntime.
// Knows nothing of servers or scenarios.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const RUNTIME_NAMES = ["host", "node20", "node22", "node24"] as const;

function cacheDir(): string {
  return path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache"), "roomgate-runtimes");
}

/** The node binary of a runtime (undefined: the runner's own). Throws, saying how to make it, when missing. */
export function runtimeNode(name: string | undefined): string {
  if (!name || name === "host") return process.execPath;
  if (!(RUNTIME_NAMES as readonly string[]).includes(name)) throw new Error(`unknown runtime ${JSON.stringify(name)}; known: ${RUNTIME_NAMES.join(",")}`);
  const node = path.join(cacheDir(), name, "bin", "node");
  if (!existsSync(node)) throw new Error(`runtime ${name}: ${node} is missing; make it with: npm run test:runtimes -- prepare`);
  return node;
}

/** Environment for a child on that runtime: its bin first in PATH, so that its own children use it too. */
export function runtimeEnv(name: string | undefined): NodeJS.ProcessEnv {
  const node = runtimeNode(name);
  return node === process.execPath ? {} : { PATH: `${path.dirname(node)}${path.delimiter}${process.env.PATH ?? ""}` };
}

/** "v24.22.3, glibc 2.41, @btc-vision/uwebsockets.js 20.57.0": the runtime as roomgate's loader sees it. */
export function describeRuntime(name: string | undefined): string {
  const probe =
    'const { binding } = await import("./src/engine/uws.ts"); const h = process.report.getReport().header;' +
    'console.log([process.version, "glibc " + h.glibcVersionRuntime, binding.name + " " + binding.version].join(", "));';
  const r = spawnSync(runtimeNode(name), ["--import", "tsx", "--input-type=module", "-e", probe], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, ...runtimeEnv(name) },
    timeout: 30000,
  });
  return r.status === 0 ? r.stdout.trim() : `? (${(r.stderr.split("\n").find((l) => l.startsWith("Error")) ?? r.stderr).slice(0, 200)})`;
}
