// One raw exchange over node:net, for requests no HTTP (or NATS) client would send (malformed lines,
// duplicate headers, forged commands) and to see whether the server closes the connection. Loopback only.
import { connect } from "node:net";
import { upgradeRequest as wsUpgradeRequest } from "../../bench/lib/ws-frame.ts";

export interface RawExchange {
  /** Everything the server sent. */
  response: string;
  /** Whether the server closed the connection before `ms` ran out. */
  closed: boolean;
}

/** Sends `request` to 127.0.0.1:port and collects the answer until the server closes or `ms` pass.
 *  `afterGreeting`: sent once the server spoke first (a NATS server's INFO), not on connect. */
export function rawHttp(port: number, request: string | Buffer, ms = 3000, afterGreeting = false): Promise<RawExchange> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1", () => afterGreeting || socket.write(request));
    let response = "";
    const done = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ response, closed });
    };
    const timer = setTimeout(() => done(false), ms);
    socket.on("data", (d) => {
      if (afterGreeting && response === "" && request.length > 0) socket.write(request);
      response += d.toString("latin1");
    });
    socket.on("close", () => done(true));
    socket.on("error", () => {});
  });
}

/** A WebSocket upgrade request for the Engine.IO endpoint, with extra header lines (a fixed key). */
export function upgradeRequest(port: number, extraHeaderLines: string[] = [], path = "/socket.io/?EIO=4&transport=websocket"): string {
  return wsUpgradeRequest(path, `127.0.0.1:${port}`, "dGhlIHNhbXBsZSBub25jZQ==", extraHeaderLines);
}
