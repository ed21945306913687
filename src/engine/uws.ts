// The one place uWebSockets.js is loaded, by its module name: an application replaces the binding
// (e.g. the official build for Node 22/24, README "Runtimes") with npm `overrides`, without editing
// roomgate. The registry build silently falls back to a slow JavaScript implementation when its
// native binary does not load, and the official build throws: either way roomgate stops with one
// message that names this Node's ABI and what to install.
//
// Loaded with require() (the binding is CommonJS) so that a throwing binding can be caught without
// a top-level await, which would make `require("roomgate")` (require(esm)) impossible.
import { createRequire } from "node:module";
import type * as UWS from "uWebSockets.js";

// ABI (process.versions.modules) -> Node major, for the binaries the registry build ships.
const REGISTRY_BUILD_ABIS: Record<string, number> = { "93": 16, "108": 18, "115": 20 };

function isNative(app: unknown): boolean {
  return typeof app === "function" && /\[native code\]/.test(Function.prototype.toString.call(app));
}

/** Why the binding is unusable here and what to do about it, in one paragraph. */
export function bindingError(cause: string): Error {
  const abi = process.versions.modules;
  const where = `Node ${process.version} (ABI ${abi}) on ${process.platform}-${process.arch}`;
  const fix =
    abi in REGISTRY_BUILD_ABIS
      ? "Reinstall the dependencies (npm ci) on this machine, and do not set UWS_USE_FALLBACK."
      : `The registry build roomgate depends on ships binaries for Node 16/18/20 only (ABI 93/108/115). ` +
        `Use Node 20.19+ (20.x), or install the official uWebSockets.js build for Node ${process.versions.node.split(".")[0]} ` +
        `with npm overrides: "overrides": { "uWebSockets.js": "github:uNetworking/uWebSockets.js#v20.52.0" } (README, "Runtimes").`;
  return new Error(`roomgate: the native uWebSockets.js binding did not load for ${where} (${cause}); refusing to run on a JavaScript fallback. ${fix}`);
}

function load(): typeof UWS {
  let uWS: typeof UWS;
  try {
    uWS = createRequire(import.meta.url)("uWebSockets.js") as typeof UWS;
  } catch (err) {
    throw bindingError(String((err as Error).message ?? err).split("\n")[0]!);
  }
  if (/^(1|true)$/i.test(process.env.UWS_USE_FALLBACK ?? "")) throw bindingError("UWS_USE_FALLBACK is set");
  if (!isNative(uWS.App)) throw bindingError("no native binary for this Node ABI and platform");
  return uWS;
}

// biome-ignore lint/correctness/noUnusedVariables: the default export (biome misreads the merge with the namespace below)
const uWS = load();
// Types reached as `uWS.<name>` next to the value (as with the module's own default import).
declare namespace uWS {
  export type us_socket_context_t = UWS.us_socket_context_t;
}
export default uWS;
export type { TemplatedApp, WebSocket, HttpRequest, HttpResponse, us_listen_socket } from "uWebSockets.js";
