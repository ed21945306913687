// A minimal WebSocket client over node:net, for tests that must send what socket.io-client never
// would (malformed packets, oversize frames, silence). Loopback only. The framing is bench/'s one
// (bench/lib/ws-frame.ts).
import { connect, type Socket } from "node:net";
import { encodeFrame, newFrameHeader, newKey, readFrame, upgradeRequest } from "../../bench/lib/ws-frame.ts";

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
      const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}`);
      socket.on("connect", () => socket.write(upgradeRequest(path, `127.0.0.1:${port}`, newKey(), extra)));
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
    if (!this.socket.destroyed) this.socket.write(encodeFrame({ opcode, payload }));
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
    const h = newFrameHeader();
    let off = 0;
    while (readFrame(this.buffer, off, h)) {
      const frame = { opcode: h.opcode, data: Buffer.from(this.buffer.subarray(h.start, h.end)), rsv1: h.rsv1 };
      off = h.end;
      if (frame.opcode === 8) {
        this.closeCode = frame.data.length >= 2 ? frame.data.readUInt16BE(0) : undefined;
        this.closeReason = frame.data.subarray(2).toString();
      }
      this.frames.push(frame);
    }
    this.buffer = this.buffer.subarray(off);
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
