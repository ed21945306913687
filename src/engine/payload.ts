// Engine.IO v4 payloads of the HTTP long-polling transport: the packets of one response or one POST
// body, separated by the record separator \x1e, binary packets as `b<base64>`. Pure: the frames
// are the same ones the WebSocket transport sends (text frames hold a whole Engine.IO packet,
// binary frames a raw attachment).
import type { Frame } from "./binary.ts";
import { ProtocolError } from "./protocol-error.ts";

const SEPARATOR = 0x1e;
const BINARY_PREFIX = Buffer.from("b");
const SEPARATOR_BYTES = Buffer.from([SEPARATOR]);

/** One response body for frames, in order: text frames as they are, binary ones base64-encoded. */
export function encodePayload(frames: readonly Frame[]): Buffer {
  const parts: Uint8Array[] = [];
  for (let i = 0; i < frames.length; i++) {
    if (i > 0) parts.push(SEPARATOR_BYTES);
    const f = frames[i];
    if (!f.binary) parts.push(f.data);
    else parts.push(BINARY_PREFIX, Buffer.from(Buffer.from(f.data.buffer, f.data.byteOffset, f.data.byteLength).toString("base64")));
  }
  return parts.length === 1 ? Buffer.from(parts[0].buffer, parts[0].byteOffset, parts[0].byteLength) : Buffer.concat(parts);
}

/** A POST body into its packets: text packets as strings, binary ones as Buffers. Throws
 *  ProtocolError on an empty packet or bad base64. */
export function decodePayload(body: string): (string | Buffer)[] {
  const out: (string | Buffer)[] = [];
  for (const packet of body.split("\x1e")) {
    if (packet.length === 0) throw new ProtocolError("empty packet in payload");
    if (packet.charCodeAt(0) !== 0x62 /* b */) {
      out.push(packet);
      continue;
    }
    out.push(decodeBase64Packet(packet));
  }
  return out;
}

/** A binary packet sent as text, `b<base64>` (a polling payload's, or a WebSocket text frame of a
 *  client that asked for base64: `forceBase64`, `b64=1`). Throws ProtocolError on bad base64. */
export function decodeBase64Packet(packet: string): Buffer {
  const b64 = packet.slice(1);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 === 1) throw new ProtocolError("invalid base64 in binary packet");
  return Buffer.from(b64, "base64");
}
