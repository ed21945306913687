// Raw bytes to the fuzz target over loopback TCP: WebSocket frames built by hand (valid or not)
// and raw HTTP requests. Never waits long: a case is written, the answer skimmed, the socket dropped.
import net from "node:net";
import { newKey, upgradeRequest } from "../lib/ws-frame.ts";

/** Frames built by hand, valid or not: bench/lib/ws-frame.ts's. */
export { binaryFrame as binary, encodeFrame as frame, textFrame as text } from "../lib/ws-frame.ts";

/** An open WebSocket session on the Engine.IO endpoint, or null if the upgrade was refused. */
export function openSession(port: number, timeoutMs = 3000): Promise<net.Socket | null> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    let head = "";
    const timer = setTimeout(() => finish(null), timeoutMs);
    const finish = (s: net.Socket | null) => {
      clearTimeout(timer);
      socket.removeAllListeners("data");
      if (!s) socket.destroy();
      resolve(s);
    };
    socket.on("error", () => finish(null));
    socket.on("connect", () => socket.write(upgradeRequest("/socket.io/?EIO=4&transport=websocket", "127.0.0.1", newKey())));
    socket.on("data", (d: Buffer) => {
      head += d.toString("latin1");
      // Wait for the Engine.IO open packet, so the session exists before the case arrives.
      if (head.includes("\r\n\r\n") && head.includes('0{"sid"')) finish(head.startsWith("HTTP/1.1 101") ? socket : null);
      else if (head.includes("\r\n\r\n") && !head.startsWith("HTTP/1.1 101")) finish(null);
    });
  });
}

/** Sends `request` on a fresh connection; resolves once the server answers and/or closes, or after `ms`. */
export function httpCase(port: number, request: Buffer, ms = 150): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.write(request));
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve();
    };
    const timer = setTimeout(done, ms);
    socket.on("data", () => {});
    socket.on("close", done);
    socket.on("error", done);
  });
}
