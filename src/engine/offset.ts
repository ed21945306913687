// The offset codec of connection-state recovery: which encoded Socket.IO packets carry an offset,
// appending it to an event's text frame as its last argument (`42["ev",1,"<offset>"]`, as Socket.IO
// does), taking it off again, and the offset string itself, `<epoch>.<position base 36>`: the epoch
// names one recording log, so an offset of another log (another worker, an earlier run) is never
// mistaken for one of ours. Pure, next to the packet codec (codec.ts): knows no log and no socket.
import { randomBytes } from "node:crypto";
import type { Frame } from "./binary.ts";

const SEPARATOR = ".";
/** Frame text starts `42` (EVENT) or `45` (BINARY_EVENT). */
const FOUR = 0x34;
const TWO = 0x32;
const FIVE = 0x35;
const DASH = 0x2d;
const SLASH = 0x2f;
const COMMA = 0x2c;
const OPEN = 0x5b;
const OFFSET_START = Buffer.from(',"');

/** Whether an encoded packet is an event without ack id (the only kind recorded: an ack callback
 *  cannot be restored). Reads the header `4` type [attachments `-`] [`/nsp,`] [ack id] `[`. */
export function isPlainEvent(text: Uint8Array): boolean {
  if (text[0] !== FOUR || (text[1] !== TWO && text[1] !== FIVE)) return false;
  let i = 2;
  if (text[1] === FIVE) {
    while (i < text.length && text[i] !== DASH) i++;
    i++;
  }
  if (text[i] === SLASH) {
    while (i < text.length && text[i] !== COMMA) i++;
    i++;
  }
  return text[i] === OPEN;
}

/** How offsets ride in encoded events: appended to the text frame here (TEXT_OFFSETS); a custom
 *  parser's frames are decoded and encoded again instead (parser.ts). */
export interface OffsetCodec {
  /** Whether the frames are an event without ack id (the only kind recorded). */
  isPlainEvent(frames: readonly Frame[]): boolean;
  /** The offset a frame carries, or null. */
  offsetIn(frame: Frame): string | null;
  withOffset(frames: readonly Frame[], offset: string): Frame[];
  withoutOffset(frames: readonly Frame[]): readonly Frame[];
}

/** The built-in codec's offsets: bytes appended to and cut from the event's text frame. */
export const TEXT_OFFSETS: OffsetCodec = {
  isPlainEvent: (frames) => isPlainEvent(frames[0].data),
  offsetIn: (frame) => offsetIn(frame),
  withOffset: (frames, offset) => withOffset(frames, offset),
  withoutOffset: (frames) => withoutOffset(frames),
};

/** A new epoch: 8 url-safe characters (48 random bits). */
export function newEpoch(): string {
  return randomBytes(6).toString("base64url");
}

export function formatOffset(epoch: string, pos: number): string {
  return epoch + SEPARATOR + pos.toString(36);
}

/** The position of `offset` in the log of `epoch`, if it is one of that log's and below `limit`
 *  (the log's next position); null otherwise. */
export function parseOffset(epoch: string, offset: unknown, limit: number): number | null {
  if (typeof offset !== "string") return null;
  const dot = offset.indexOf(SEPARATOR);
  if (dot < 0 || offset.slice(0, dot) !== epoch) return null;
  const pos = Number.parseInt(offset.slice(dot + 1), 36);
  return Number.isSafeInteger(pos) && pos >= 0 && pos < limit ? pos : null;
}

/** Whether `offset` was made by the log of `epoch` (well-formed or not). */
export function isOffsetOf(epoch: string, offset: unknown): boolean {
  return typeof offset === "string" && offset.startsWith(epoch + SEPARATOR);
}

/** Whether `offset` is well-formed but made by another log than that of `epoch`. */
export function isForeignOffset(epoch: string, offset: unknown): boolean {
  return typeof offset === "string" && /^[\w-]{8}\.[0-9a-z]+$/.test(offset) && !isOffsetOf(epoch, offset);
}

/** The offset string an event's text frame carries, or null when it carries none. */
export function offsetIn(frame: Frame): string | null {
  if (frame.binary || !isPlainEvent(frame.data)) return null;
  const head = Buffer.from(frame.data.buffer, frame.data.byteOffset, frame.data.length);
  const at = head.lastIndexOf(OFFSET_START);
  return at < 0 ? null : head.toString("latin1", at + 2, head.length - 2);
}

/** The frame text with `,"<offset>"` appended as the event's last argument. */
export function withOffset(frames: readonly Frame[], offset: string): Frame[] {
  const head = frames[0].data;
  const out = Buffer.allocUnsafe(head.length + offset.length + 3);
  out.set(head.subarray(0, head.length - 1));
  out.write(`,"${offset}"]`, head.length - 1, "latin1");
  const result: Frame[] = [{ data: out, binary: false }];
  for (let i = 1; i < frames.length; i++) result.push(frames[i]);
  return result;
}

/** The frames without the offset `withOffset` appended (an event replayed gets a new one). */
export function withoutOffset(frames: readonly Frame[]): readonly Frame[] {
  const head = frames[0].data;
  const at = Buffer.from(head.buffer, head.byteOffset, head.length).lastIndexOf(OFFSET_START);
  if (at < 0) return frames;
  const out = Buffer.allocUnsafe(at + 1);
  out.set(head.subarray(0, at));
  out[at] = 0x5d; // ]
  return [{ data: out, binary: false }, ...frames.slice(1)];
}
