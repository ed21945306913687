// Raw bytes to the fuzz target over loopback TCP: WebSocket frames built by hand (valid or not)
// and raw HTTP requests. Never waits long: a case is written, the answer skimmed, the socket dropped.
import net from "node:net";
import { randomBytes } from "node:crypto";

export interface FrameSpec {
  opcode: number;
  payload: Buffer;
  fin?: boolean;
  mask?: boolean;
  rsv?: number;
}

/** One WebSocket frame as a client sends it (masked unless told otherwise). */
export function frame({ opcode, payload, fin = true, mask = true, rsv = 0 }: FrameSpec): Buffer {
  const len = payload.length;
  const head = [((fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0x0f)) & 0xff];
  const m = mask ? 0x80 : 0;
  let ext: Buffer;
  if (len < 126) {
    head.push(m | len);
    ext = Buffer.alloc(0);
  } else if (len < 65536) {
    head.push(m | 126);
    ext = Buffer.alloc(2);
    ext.writeUInt16BE(len);
  } else {
    head.push(m | 127);
    ext = Buffer.alloc(8);
    ext.writeBigUInt64BE(BigInt(len));
  }
  if (!mask) return Buffer.concat([Buffer.from(head), ext, payload]);
  const key = randomBytes(4);
  const body = Buffer.allocUnsafe(len);
  for (let i = 0; i < len; i++) body[i] = payload[i] ^ key[i & 3];
  return Buffer.concat([Buffer.from(head), ext, key, body]);
}

export const text = (s: string | Buffer) => frame({ opcode: 1, payload: Buffer.isBuffer(s) ? s : Buffer.from(s) });
export const binary = (b: Buffer) => frame({ opcode: 2, payload: b });

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
    socket.on("connect", () =>
      socket.write(
        "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
          `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      ),
    );
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
