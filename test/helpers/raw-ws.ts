// A minimal WebSocket client over node:net, for tests that must send what socket.io-client never
// would (malformed packets, oversize frames, silence). Loopback only.
import { connect, type Socket } from "node:net";
import { randomBytes } from "node:crypto";

export interface RawFrame {
  opcode: number;
  data: Buffer;
  /** RSV1: set on a permessage-deflate compressed message. */
  rsv1: boolean;
}

export class RawWebSocket {
  readonly frames: RawFrame[] = [];
  closed = false;
  closeCode: number | undefined;
  closeReason = "";
  private buffer = Buffer.alloc(0);
  private waiters: (() => void)[] = [];

  private constructor(private readonly socket: Socket) {}

  /** Opens a WebSocket to 127.0.0.1:port at `path`; rejects with the HTTP status line if refused. */
  static open(port: number, path: string, headers: Record<string, string> = {}, localAddress?: string): Promise<RawWebSocket> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host: "127.0.0.1", localAddress, noDelay: true });
      const key = randomBytes(16).toString("base64");
      const extra = Object.entries(headers)
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join("");
      socket.on("connect", () => {
        socket.write(
          `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`,
        );
      });
      let head = Buffer.alloc(0);
      const onData = (chunk: Buffer) => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf("\r\n\r\n");
        if (end < 0) return;
        socket.off("data", onData);
        const status = head.subarray(0, head.indexOf("\r\n")).toString();
        if (!status.includes(" 101 ")) {
          socket.destroy();
          return reject(new Error(`${status}\n${head.subarray(end + 4).toString()}`));
        }
        const ws = new RawWebSocket(socket);
        socket.on("data", (d: Buffer) => ws.onData(d));
        socket.on("close", () => ws.markClosed());
        socket.on("error", () => ws.markClosed());
        ws.onData(head.subarray(end + 4));
        resolve(ws);
      };
      socket.on("data", onData);
      socket.on("error", reject);
    });
  }

  sendText(text: string): void {
    this.sendFrame(1, Buffer.from(text));
  }

  sendBinary(data: Buffer): void {
    this.sendFrame(2, data);
  }

  sendFrame(opcode: number, payload: Buffer): void {
    const mask = randomBytes(4);
    const len = payload.length;
    const header = len < 126 ? Buffer.from([0x80 | opcode, 0x80 | len]) : len < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
    if (len >= 126 && len < 65536) {
      header[0] = 0x80 | opcode;
      header[1] = 0x80 | 126;
      header.writeUInt16BE(len, 2);
    } else if (len >= 65536) {
      header[0] = 0x80 | opcode;
      header[1] = 0x80 | 127;
      header.writeBigUInt64BE(BigInt(len), 2);
    }
    const masked = Buffer.alloc(len);
    for (let i = 0; i < len; i++) masked[i] = payload[i] ^ mask[i & 3];
    if (!this.socket.destroyed) this.socket.write(Buffer.concat([header, mask, masked]));
  }

  /** Text frames received so far. */
  texts(): string[] {
    return this.frames.filter((f) => f.opcode === 1).map((f) => f.data.toString());
  }

  /** Resolves once `predicate` holds (checked on every frame and on close); rejects after `ms`. */
  waitFor<T>(predicate: () => T | undefined | false, ms = 3000, what = "condition"): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const v = predicate();
        if (v) {
          cleanup();
          resolve(v);
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.texts())}, closed=${this.closed}`));
      }, ms);
      const waiter = () => void check();
      const cleanup = () => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== waiter);
      };
      if (!check()) this.waiters.push(waiter);
    });
  }

  waitText(predicate: (t: string) => boolean, ms?: number): Promise<string> {
    return this.waitFor(() => this.texts().find(predicate), ms, "a matching text frame");
  }

  waitClosed(ms?: number): Promise<true> {
    return this.waitFor(() => this.closed || undefined, ms, "close") as Promise<true>;
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Stops reading from the socket (a slow consumer), until resume(). */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  private onData(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const b = this.buffer;
      if (b.length < 2) break;
      let len = b[1] & 0x7f;
      let offset = 2;
      if (len === 126) {
        if (b.length < 4) break;
        len = b.readUInt16BE(2);
        offset = 4;
      } else if (len === 127) {
        if (b.length < 10) break;
        len = Number(b.readBigUInt64BE(2));
        offset = 10;
      }
      if (b.length < offset + len) break;
      const frame = { opcode: b[0] & 0x0f, data: Buffer.from(b.subarray(offset, offset + len)), rsv1: (b[0] & 0x40) !== 0 };
      this.buffer = b.subarray(offset + len);
      if (frame.opcode === 8) {
        this.closeCode = frame.data.length >= 2 ? frame.data.readUInt16BE(0) : undefined;
        this.closeReason = frame.data.subarray(2).toString();
      }
      this.frames.push(frame);
    }
    this.notify();
  }

  private markClosed(): void {
    this.closed = true;
    this.notify();
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }
}

export const EIO_PATH = "/socket.io/?EIO=4&transport=websocket";
