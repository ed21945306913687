// WebSocket framing (RFC 6455) for every raw client in bench/ and test/: the upgrade request and
// its accept key, client frames (masked, or anything a fuzzer wants), and a reader of the frames a
// server sends. Allocation-free on the read path (one reusable header), as the load clients read
// millions of frames. Knows no Engine.IO, no sockets: bytes in, bytes out.
import { createHash, randomBytes, randomFillSync } from "node:crypto";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** A fresh Sec-WebSocket-Key. */
export function newKey(): string {
  return randomBytes(16).toString("base64");
}

/** The Sec-WebSocket-Accept a server must answer to `key`. */
export function acceptKey(key: string): string {
  return createHash("sha1")
    .update(key + GUID)
    .digest("base64");
}

/** The HTTP/1.1 upgrade request for `path` on `host`, with extra header lines ("Name: value"). */
export function upgradeRequest(path: string, host: string, key: string, extraHeaderLines: readonly string[] = []): string {
  const lines = [
    `GET ${path} HTTP/1.1`,
    `Host: ${host}`,
    "Upgrade: websocket",
    "Connection: Upgrade",
    `Sec-WebSocket-Key: ${key}`,
    "Sec-WebSocket-Version: 13",
  ];
  return [...lines, ...extraHeaderLines, "", ""].join("\r\n");
}

export interface FrameSpec {
  opcode: number;
  payload: Buffer;
  fin?: boolean;
  /** Clients mask every frame; a fuzzer may not. */
  mask?: boolean;
  /** RSV1-3 as a 3-bit number (RSV1 = 4: permessage-deflate). */
  rsv?: number;
}

/** One frame as a client sends it (masked unless told otherwise), any length. */
export function encodeFrame({ opcode, payload, fin = true, mask = true, rsv = 0 }: FrameSpec): Buffer {
  const len = payload.length;
  const ext = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const hdr = 2 + ext;
  const out = Buffer.allocUnsafe(hdr + (mask ? 4 : 0) + len);
  out[0] = ((fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0x0f)) & 0xff;
  const m = mask ? 0x80 : 0;
  if (ext === 0) out[1] = m | len;
  else if (ext === 2) {
    out[1] = m | 126;
    out.writeUInt16BE(len, 2);
  } else {
    out[1] = m | 127;
    out.writeBigUInt64BE(BigInt(len), 2);
  }
  if (!mask) {
    payload.copy(out, hdr);
    return out;
  }
  randomFillSync(out, hdr, 4);
  const body = hdr + 4;
  for (let i = 0; i < len; i++) out[body + i] = payload[i]! ^ out[hdr + (i & 3)]!;
  return out;
}

/** A masked text frame. */
export const textFrame = (text: string | Buffer): Buffer => encodeFrame({ opcode: 1, payload: Buffer.isBuffer(text) ? text : Buffer.from(text) });
/** A masked binary frame. */
export const binaryFrame = (data: Buffer): Buffer => encodeFrame({ opcode: 2, payload: data });

/** The header of one frame in a buffer, as readFrame fills it. */
export interface FrameHeader {
  /** The first byte: FIN (0x80), RSV1-3 (0x70), opcode (0x0f). */
  b0: number;
  fin: boolean;
  opcode: number;
  /** RSV1: a permessage-deflate compressed message. */
  rsv1: boolean;
  /** Whether the frame was masked (a server's never is). */
  masked: boolean;
  /** The payload is buf[start, end); the next frame starts at end. */
  start: number;
  end: number;
}

export const newFrameHeader = (): FrameHeader => ({ b0: 0, fin: false, opcode: 0, rsv1: false, masked: false, start: 0, end: 0 });

/** Reads the frame at buf[off…] into `h`; false when the buffer does not hold all of it yet. The
 *  payload is left as it is (a masked frame's stays masked: only servers' frames are read here). */
export function readFrame(buf: Buffer, off: number, h: FrameHeader): boolean {
  const avail = buf.length - off;
  if (avail < 2) return false;
  const b0 = buf[off]!;
  const b1 = buf[off + 1]!;
  let len = b1 & 0x7f;
  let hdr = 2;
  if (len === 126) {
    if (avail < 4) return false;
    len = buf.readUInt16BE(off + 2);
    hdr = 4;
  } else if (len === 127) {
    if (avail < 10) return false;
    len = buf.readUInt32BE(off + 2) * 4294967296 + buf.readUInt32BE(off + 6);
    hdr = 10;
  }
  if (b1 & 0x80) hdr += 4;
  if (avail < hdr + len) return false;
  h.b0 = b0;
  h.fin = (b0 & 0x80) !== 0;
  h.opcode = b0 & 0x0f;
  h.rsv1 = (b0 & 0x40) !== 0;
  h.masked = (b1 & 0x80) !== 0;
  h.start = off + hdr;
  h.end = off + hdr + len;
  return true;
}
