// The one place uWebSockets.js is loaded. The official build is published on GitHub, not npm, so
// roomgate picks a native binding per runtime, in this order (README "Runtimes"):
//   1. ROOMGATE_UWS=<module>, when set: that module and nothing else;
//   2. the application's own `uWebSockets.js` (e.g. the official build), when it is installed: it
//      wins, and it alone is tried (a user who replaces the build never silently gets another one);
//   3. `@btc-vision/uwebsockets.js` 20.57.0 (optional dependency): Node 20/22/24/25, glibc >= 2.38;
//   4. `@trufflesuite/uws-js-unofficial` 20.30.0 (optional dependency): Node 16/18/20, glibc >= 2.27.
// The first that loads a native binary is used. The 20.30 build silently falls back to a slow
// JavaScript implementation when its binary does not load: roomgate never runs on it, and when no
// candidate loads it stops with its own message first (Node, ABI, platform, glibc, what to install),
// each candidate's failure after it. Knows nothing of HTTP or WebSockets.
//
// Loaded with require() (the bindings are CommonJS) so that a throwing binding can be caught without
// a top-level await, which would make `require("roomgate")` (require(esm)) impossible. Resolution
// starts at roomgate's own files, so "uWebSockets.js" finds the application's node_modules.
// 20.57 comes before 20.30 where both load (Node 20, glibc >= 2.38): it is 27 releases newer and
// answers malformed requests at once instead of holding them 10 s (test/engine/http-parser.test.ts).
// The types are 20.57's (its index.d.ts); 20.30 has the same native methods on WebSocket,
// HttpResponse and HttpRequest, and a subset of App's (test/runtimes/binding-api.ts).
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import type * as UWS from "@btc-vision/uwebsockets.js";

interface Candidate {
  name: string;
  /** ABI (process.versions.modules) -> Node major, for the binaries the build ships; null = unknown. */
  abis: Record<string, number> | null;
  /** The glibc its Linux binaries need. */
  glibc?: string;
}

const OWN = "uWebSockets.js";
const REGISTRY: Candidate[] = [
  { name: "@btc-vision/uwebsockets.js", abis: { "115": 20, "127": 22, "137": 24, "141": 25 }, glibc: "2.38" },
  { name: "@trufflesuite/uws-js-unofficial", abis: { "93": 16, "108": 18, "115": 20 }, glibc: "2.27" },
];
const OFFICIAL = `"uWebSockets.js": "github:uNetworking/uWebSockets.js#v20.52.0"`;

/** Which binding was loaded: module name, its package version and folder. */
export interface BindingInfo {
  name: string;
  version: string;
  dir: string;
}

const requireHere = createRequire(import.meta.url);

function isNative(app: unknown): boolean {
  return typeof app === "function" && /\[native code\]/.test(Function.prototype.toString.call(app));
}

function glibcVersion(): string | undefined {
  if (process.platform !== "linux") return undefined;
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return header?.glibcVersionRuntime;
}

/** The folder holding the package.json of the module `name` (its main file's nearest package.json). */
function packageOf(name: string): BindingInfo {
  let dir = path.dirname(requireHere.resolve(name));
  for (let i = 0; i < 8 && !existsSync(path.join(dir, "package.json")); i++) dir = path.dirname(dir);
  let version = "unknown";
  try {
    version = String(JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")).version);
  } catch {}
  return { name, version, dir };
}

function installed(name: string): boolean {
  try {
    requireHere.resolve(name);
    return true;
  } catch {
    return false;
  }
}

/** One line from a (multi-line) load error: uWS wraps the real cause after its own text. */
function oneLine(err: unknown): string {
  const text = String((err as Error)?.message ?? err);
  const lines = text.split("\n").filter((l) => l.trim());
  const cause = lines.find((l) => /GLIBC_|Cannot find module|cannot open shared|invalid ELF|undefined symbol|compiled against/.test(l));
  return (cause ?? lines[0] ?? text).trim().slice(0, 300);
}

function versionOk(have: string | undefined, need: string | undefined): boolean {
  if (!have || !need) return true;
  const [a = 0, b = 0] = have.split(".").map(Number);
  const [c = 0, d = 0] = need.split(".").map(Number);
  return a > c || (a === c && b >= d);
}

/** Why no binding is usable here and what to do about it: roomgate's part first, then each candidate's. */
export function bindingError(tried: string[], chosen: "registry" | "own" | "forced" = "registry"): Error {
  const abi = process.versions.modules;
  const major = process.versions.node.split(".")[0];
  const glibc = glibcVersion();
  const where = `Node ${process.version} (ABI ${abi}) on ${process.platform}-${process.arch}${glibc ? `, glibc ${glibc}` : ""}`;
  let fix: string;
  if (/^(1|true)$/i.test(process.env.UWS_USE_FALLBACK ?? "")) {
    fix = "Unset UWS_USE_FALLBACK: it asks uWS for its JavaScript fallback.";
  } else if (chosen === "forced") {
    fix = `ROOMGATE_UWS=${process.env.ROOMGATE_UWS} names the only binding to try: unset it, or install a build of it for Node ${major}.`;
  } else if (chosen === "own") {
    fix = `Your application's own ${OWN} is used exclusively when it is installed: install its build for Node ${major} (e.g. ${OFFICIAL}), or remove it to use roomgate's registry builds.`;
  } else if (!REGISTRY.some((c) => c.abis && abi in c.abis)) {
    fix = `Use Node 20, 22 or 24 (README "Runtimes"), or install a ${OWN} build for Node ${major} in your application.`;
  } else if (process.platform === "linux" && !versionOk(glibc, REGISTRY[0]!.glibc) && abi !== "115") {
    fix =
      `The registry build for Node ${major} needs glibc >= ${REGISTRY[0]!.glibc} (Debian 13, Ubuntu 24.04, RHEL 10 or later): ` +
      `upgrade the system, or use Node 20, whose build needs glibc >= ${REGISTRY[1]!.glibc}.`;
  } else {
    fix =
      `Install roomgate with its optional dependencies on this machine (npm install --include=optional; not --omit=optional, ` +
      `and not copied from another platform), or install ${OWN} yourself: ${OFFICIAL}.`;
  }
  return new Error(
    `roomgate: no native uWebSockets.js binding loads for ${where}; refusing to run on a JavaScript fallback. ${fix} Tried: ${tried.join("; ")}.`,
  );
}

function load(): { uWS: typeof UWS; binding: BindingInfo } {
  const abi = process.versions.modules;
  const forced = process.env.ROOMGATE_UWS?.trim();
  const own = !forced && installed(OWN);
  const candidates: Candidate[] = forced
    ? [REGISTRY.find((c) => c.name === forced) ?? { name: forced, abis: null }]
    : own
      ? [{ name: OWN, abis: null }]
      : REGISTRY;
  const chosen = forced ? "forced" : own ? "own" : "registry";
  const tried: string[] = [];
  if (/^(1|true)$/i.test(process.env.UWS_USE_FALLBACK ?? "")) throw bindingError(["UWS_USE_FALLBACK is set"], chosen);
  for (const c of candidates) {
    const label = forced ? `${c.name} (ROOMGATE_UWS)` : own ? `your ${OWN}` : c.name;
    if (c.abis && !(abi in c.abis)) {
      tried.push(`${label}: no binary for ABI ${abi} (it has Node ${[...new Set(Object.values(c.abis))].join("/")})`);
      continue;
    }
    let uWS: typeof UWS;
    try {
      uWS = requireHere(c.name) as typeof UWS;
    } catch (err) {
      tried.push(`${label}: ${oneLine(err)}`);
      continue;
    }
    if (!isNative(uWS.App)) {
      tried.push(`${label}: no native binary for this Node ABI and platform (JavaScript fallback)`);
      continue;
    }
    return { uWS, binding: packageOf(c.name) };
  }
  throw bindingError(tried, chosen);
}

const loaded = load();
/** The binding in use (module name, version, folder); the gateway logs it at startup. */
export const binding: BindingInfo = loaded.binding;
// biome-ignore lint/correctness/noUnusedVariables: the default export (biome misreads the merge with the namespace below)
const uWS = loaded.uWS;
// Types reached as `uWS.<name>` next to the value (as with the module's own default import).
declare namespace uWS {
  export type us_socket_context_t = UWS.us_socket_context_t;
  export type us_listen_socket = UWS.us_listen_socket;
  export type WebSocket<UserData> = UWS.WebSocket<UserData>;
}
export default uWS;
export type { TemplatedApp, WebSocket, HttpRequest, HttpResponse, us_listen_socket } from "@btc-vision/uwebsockets.js";
