// The binary walk shared by the Socket.IO codec and the cluster envelope: find binary values in a
// payload, swap them for Socket.IO's {"_placeholder":true,"num":i} (deconstruct) and put received
// attachments back in their place (reconstruct). Pure: knows no packet and no message format.
import { ProtocolError } from "./protocol-error.ts";

/** One WebSocket frame, encoded once and shared by every recipient (and, as it is, by every worker
 *  of a cluster: a broadcast travels as its frames). */
export interface Frame {
  data: Uint8Array;
  binary: boolean;
  /** Set (true) only when permessage-deflate is on and this frame should be compressed. */
  compress?: boolean;
}

/** Deeper than this, a payload is not walked: encoding leaves it as JSON, decoding refuses it (a
 *  peer's JSON nested thousands deep must not cost a stack overflow). Socket.IO payloads seldom
 *  pass 5. */
export const MAX_DEPTH = 64;

export function isBinary(x: unknown): x is ArrayBuffer | ArrayBufferView {
  return x instanceof ArrayBuffer || ArrayBuffer.isView(x);
}

/** The bytes of a binary value, without copying (a sub-view keeps only its own range). */
export function toBytes(x: ArrayBuffer | ArrayBufferView): Uint8Array {
  return x instanceof ArrayBuffer ? new Uint8Array(x) : new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
}

function hasToJSON(x: object): boolean {
  return typeof (x as { toJSON?: unknown }).toJSON === "function";
}

/** True when a binary value sits anywhere within MAX_DEPTH (an object with toJSON is a leaf). */
export function hasBinary(x: unknown, depth = 0): boolean {
  if (x === null || typeof x !== "object" || depth > MAX_DEPTH) return false;
  if (isBinary(x)) return true;
  if (Array.isArray(x)) return x.some((v) => hasBinary(v, depth + 1));
  if (hasToJSON(x)) return false;
  for (const k in x) if (hasBinary((x as Record<string, unknown>)[k], depth + 1)) return true;
  return false;
}

/** A copy of `x` with its binary values replaced by placeholders, the bytes pushed to `buffers`
 *  in placeholder order. The input is not changed. */
export function deconstruct(x: unknown, buffers: Uint8Array[], depth = 0): unknown {
  if (x === null || typeof x !== "object" || depth > MAX_DEPTH) return x;
  if (isBinary(x)) {
    buffers.push(toBytes(x));
    return { _placeholder: true, num: buffers.length - 1 };
  }
  if (Array.isArray(x)) return x.map((v) => deconstruct(v, buffers, depth + 1));
  if (hasToJSON(x)) return x;
  const out: Record<string, unknown> = {};
  for (const k in x) if (Object.hasOwn(x, k)) out[k] = deconstruct((x as Record<string, unknown>)[k], buffers, depth + 1);
  return out;
}

/** Puts `buffers` in place of their placeholders, in place. Throws ProtocolError on a placeholder
 *  without its attachment, an attachment without a placeholder, or nesting beyond MAX_DEPTH. */
export function reconstruct<B extends Uint8Array>(data: unknown, buffers: B[]): unknown {
  const used = new Set<number>();
  const walk = (x: unknown, depth: number): unknown => {
    if (x === null || typeof x !== "object") return x;
    if (depth > MAX_DEPTH) throw new ProtocolError("payload nested too deeply");
    const o = x as Record<string, unknown>;
    if (o._placeholder === true) {
      const num = o.num;
      if (typeof num !== "number" || !Number.isInteger(num) || num < 0 || num >= buffers.length)
        throw new ProtocolError(`invalid binary placeholder: missing attachment ${JSON.stringify(num)}`);
      used.add(num);
      return buffers[num];
    }
    if (Array.isArray(x)) {
      for (let k = 0; k < x.length; k++) x[k] = walk(x[k], depth + 1);
      return x;
    }
    for (const k of Object.keys(o)) o[k] = walk(o[k], depth + 1);
    return x;
  };
  const out = walk(data, 0);
  if (used.size !== buffers.length) throw new ProtocolError("attachment without placeholder");
  return out;
}
