// The one place uWebSockets.js is loaded. The registry build silently falls back to a slow
// JavaScript implementation when its native binary does not load; roomgate refuses to run on it.
import uWS from "uWebSockets.js";

function isNative(app: unknown): boolean {
  return typeof app === "function" && /\[native code\]/.test(Function.prototype.toString.call(app));
}

if (!isNative(uWS.App) || /^(1|true)$/i.test(process.env.UWS_USE_FALLBACK ?? "")) {
  throw new Error(
    `roomgate: the native uWebSockets.js binding did not load (platform ${process.platform}-${process.arch}, ` +
      `Node ABI ${process.versions.modules}); refusing to run on its JavaScript fallback. ` +
      `Use Node 20 on Linux/macOS x64/arm64 and reinstall (npm ci), and do not set UWS_USE_FALLBACK.`,
  );
}

export default uWS;
export type { TemplatedApp, WebSocket, HttpRequest, HttpResponse, us_listen_socket } from "uWebSockets.js";
