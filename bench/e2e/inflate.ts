// The load client's side of permessage-deflate (RFC 7692): reads the extension a server agreed to
// in its upgrade response, and inflates one compressed message (RSV1) at a time. Knows nothing of
// frames, Socket.IO or what a message means.
//
// Without context takeover (server_no_context_takeover: uWS's shared compressor, roomgate's
// default) every message is a deflate stream of its own: inflateRawSync per message. With takeover
// (ws's default, so Socket.IO on ws; uWS's dedicated compressors) a message may refer back into
// the last 32 KB of the messages before it on the same connection: they are kept and given to
// inflateRawSync as its preset dictionary, which is what the sliding window holds. (Synchronous,
// so a message is read in order with the frames around it; zlib's stream _processChunk would be
// too, but it closes the stream after one call.)
import zlib from "node:zlib";

/** The 4 bytes a sender strips from the end of each compressed message (RFC 7692 §7.2.1). */
const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);

export interface DeflateParams {
  /** The server starts every message from an empty window. */
  serverNoContextTakeover: boolean;
}

/** The permessage-deflate parameters in a Sec-WebSocket-Extensions response, or null when it
 *  names another extension or parameters a client that offered only
 *  `permessage-deflate; client_max_window_bits` cannot accept. */
export function negotiatedDeflate(header: string): DeflateParams | null {
  const exts = header
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (exts.length !== 1) return null;
  const [name, ...params] = exts[0]!.split(";").map((s) => s.trim());
  if (name !== "permessage-deflate") return null;
  // (any server_max_window_bits fits the 15-bit window the inflater uses)
  const out: DeflateParams = { serverNoContextTakeover: false };
  for (const p of params) {
    const [key, raw] = p.split("=").map((s) => s.trim());
    const value = raw?.replace(/^"|"$/g, "");
    if (key === "server_no_context_takeover" && value === undefined) out.serverNoContextTakeover = true;
    else if (key === "client_no_context_takeover" && value === undefined)
      continue; // our frames go uncompressed
    else if (key === "server_max_window_bits" && value !== undefined && /^(8|9|1[0-5])$/.test(value)) continue;
    else if (key === "client_max_window_bits" && (value === undefined || /^(8|9|1[0-5])$/.test(value))) continue;
    else return null;
  }
  return out;
}

/** The deflate window: the most a back-reference reaches (2^15 bytes). */
const WINDOW = 32768;

/** Inflates the compressed messages of one connection, in the order they arrive. */
export class MessageInflater {
  /** With takeover: the end of what the compressed messages so far inflated to. */
  private window: Buffer | null = null;

  constructor(readonly params: DeflateParams) {}

  inflate(message: Buffer): Buffer {
    const data = Buffer.concat([message, TRAILER]);
    const takeover = !this.params.serverNoContextTakeover;
    const plain = zlib.inflateRawSync(data, {
      finishFlush: zlib.constants.Z_SYNC_FLUSH,
      ...(takeover && this.window !== null ? { dictionary: this.window } : {}),
    });
    if (takeover) this.remember(plain);
    return plain;
  }

  private remember(plain: Buffer): void {
    const prev = this.window;
    if (prev === null || plain.length >= WINDOW) this.window = Buffer.from(plain.subarray(Math.max(0, plain.length - WINDOW)));
    else this.window = Buffer.concat([prev.subarray(Math.max(0, prev.length + plain.length - WINDOW)), plain]);
  }
}
