// Socket.IO's `parser` option: a custom packet format (socket.io-msgpack-parser, or any module of
// socket.io-parser's shape: an `Encoder` whose `encode(packet)` returns string and binary chunks,
// a `Decoder` fed chunks by `add()` that emits `decoded`), put behind the engine's frames. A string
// chunk is an Engine.IO message (`4` + text frame), a binary chunk a binary message (a binary
// WebSocket frame; `b<base64>` in a polling payload, payload.ts). Without the option none of this
// runs: the built-in codec (codec.ts) is used directly, so the default path pays nothing.
// Knows no socket and no session: the session feeds a PacketDecoder and takes what it decodes.
import { createHash } from "node:crypto";
import { isBinary, toBytes, type Frame } from "./binary.ts";
import { encodePacket, type Packet, PacketType, validatePacket } from "./codec.ts";
import type { OffsetCodec } from "./offset.ts";
import { ProtocolError } from "./protocol-error.ts";

/** A Socket.IO packet as a parser sees it (socket.io-parser's Packet). */
export interface ParserPacket {
  type: number;
  nsp: string;
  id?: number;
  data?: unknown;
}

export interface ParserEncoder {
  encode(packet: ParserPacket): unknown[];
}

export interface ParserDecoder {
  add(chunk: string | Buffer): void;
  on(ev: "decoded", fn: (packet: ParserPacket) => void): unknown;
  destroy?(): void;
}

/** Socket.IO's parser contract, as socket.io-parser and socket.io-msgpack-parser export it. */
export interface Parser {
  Encoder: new () => ParserEncoder;
  Decoder: new () => ParserDecoder;
}

/** Same events with the same arguments give the same bytes: a worker compares this id with its
 *  peers' to refuse a cluster that speaks another format (cluster/presence.ts). */
const PROBE: ParserPacket = { type: PacketType.EVENT, nsp: "/", data: ["roomgate:probe", 1.5, { a: [true, null, "x"] }] };

function fingerprint(frames: readonly Frame[]): string {
  const h = createHash("sha256");
  for (const f of frames) h.update(f.binary ? "b" : "t").update(f.data);
  return h.digest("base64url").slice(0, 16);
}

/** The parser id of the built-in codec (socket.io-parser passed explicitly has the same one). */
export const DEFAULT_PARSER_ID = fingerprint(encodePacket(PROBE as Packet));

/** A custom parser, checked once, with the one Encoder every broadcast of the server uses. */
export class PacketParser {
  readonly id: string;
  /** Connection-state recovery's offsets in this parser's frames (see ParserOffsets). */
  readonly offsets: OffsetCodec = new ParserOffsets(this);
  private readonly encoder: ParserEncoder;

  constructor(private readonly parser: Parser) {
    if (parser === null || typeof parser !== "object" || typeof parser.Encoder !== "function" || typeof parser.Decoder !== "function")
      throw new TypeError("roomgate: option parser must be a Socket.IO parser module: { Encoder, Decoder } (e.g. require('socket.io-msgpack-parser'))");
    this.encoder = new parser.Encoder();
    if (typeof this.encoder.encode !== "function") throw new TypeError("roomgate: the parser's Encoder has no encode(packet) method");
    if (typeof new parser.Decoder().add !== "function") throw new TypeError("roomgate: the parser's Decoder has no add(chunk) method");
    this.id = fingerprint(this.encode(PROBE as Packet));
  }

  /** Encodes a Socket.IO packet into its frames, once per broadcast as the built-in codec does.
   *  Throws TypeError when the parser returns something else than string and binary chunks. */
  encode(packet: Packet): Frame[] {
    const p: ParserPacket = { type: packet.type, nsp: packet.nsp };
    if (packet.id !== undefined) p.id = packet.id;
    if (packet.data !== undefined) p.data = packet.data;
    const chunks = this.encoder.encode(p);
    if (!Array.isArray(chunks) || chunks.length === 0) throw new TypeError("roomgate: the parser's encode() must return a non-empty array of chunks");
    const frames: Frame[] = [];
    for (const c of chunks) {
      if (typeof c === "string") frames.push({ data: Buffer.from("4" + c), binary: false });
      else if (isBinary(c)) frames.push({ data: toBytes(c), binary: true });
      else throw new TypeError(`roomgate: the parser's encode() returned a chunk of type ${typeof c}; expected strings and binary`);
    }
    return frames;
  }

  /** The packet frames made by encode() hold (connection-state recovery reads its own frames back). */
  decodeFrames(frames: readonly Frame[]): Packet | null {
    let out: Packet | null = null;
    const decoder = new PacketDecoder(this.parser, (p) => {
      out = p;
    });
    try {
      for (const f of frames)
        decoder.add(f.binary ? Buffer.from(f.data.buffer, f.data.byteOffset, f.data.byteLength) : Buffer.from(f.data).toString("utf8", 1));
    } catch {
      return null;
    } finally {
      decoder.destroy();
    }
    return out;
  }

  /** A decoder for one client's session: `onPacket` gets each packet, checked (validatePacket). */
  decoder(onPacket: (packet: Packet) => void, onError: (err: unknown) => void, maxBytes: number): PacketDecoder {
    return new PacketDecoder(this.parser, onPacket, onError, maxBytes);
  }
}

/** The offset as the last argument of an event (Socket.IO's recovery), for a format roomgate cannot
 *  edit in place: the frames are decoded and encoded again with it, once per recorded broadcast
 *  (the built-in codec appends bytes instead: offset.ts). The offsets of frames made here are
 *  remembered by their first frame's bytes, so reading one back is a lookup. */
class ParserOffsets implements OffsetCodec {
  private readonly made = new WeakMap<Uint8Array, string>();
  /** The last frames decoded (isPlainEvent then withOffset read the same ones). */
  private last: { frames: readonly Frame[]; packet: Packet | null } | null = null;

  constructor(private readonly parser: PacketParser) {}

  isPlainEvent(frames: readonly Frame[]): boolean {
    const p = this.packetOf(frames);
    return p !== null && (p.type === PacketType.EVENT || p.type === PacketType.BINARY_EVENT) && p.id === undefined && Array.isArray(p.data);
  }

  offsetIn(frame: Frame): string | null {
    const known = this.made.get(frame.data);
    if (known !== undefined) return known;
    const p = this.packetOf([frame]);
    return p === null ? null : lastOffset(p);
  }

  withOffset(frames: readonly Frame[], offset: string): Frame[] {
    const p = this.packetOf(frames);
    // Frames this parser cannot read back (never its own): they go out without an offset.
    if (p === null || !Array.isArray(p.data)) return [...frames];
    const out = this.parser.encode({ type: PacketType.EVENT, nsp: p.nsp, data: [...p.data, offset] });
    this.made.set(out[0].data, offset);
    return out;
  }

  withoutOffset(frames: readonly Frame[]): readonly Frame[] {
    const p = this.packetOf(frames);
    if (p === null || lastOffset(p) === null) return frames;
    return this.parser.encode({ type: PacketType.EVENT, nsp: p.nsp, data: (p.data as unknown[]).slice(0, -1) });
  }

  private packetOf(frames: readonly Frame[]): Packet | null {
    if (this.last?.frames !== frames) this.last = { frames, packet: this.parser.decodeFrames(frames) };
    return this.last.packet;
  }
}

/** The offset an event carries as its last argument (offset.ts's format), or null. */
function lastOffset(p: Packet): string | null {
  const last = Array.isArray(p.data) ? p.data[p.data.length - 1] : undefined;
  return typeof last === "string" && /^[\w-]{8}\.[0-9a-z]+$/.test(last) ? last : null;
}

/** One client's decoder. A parser that throws, or decodes something that is not a valid Socket.IO
 *  packet, makes add() throw a ProtocolError naming it (the session closes with a parse error);
 *  an error of the packet's handler comes out of add() as it is. */
export class PacketDecoder {
  private readonly decoder: ParserDecoder;
  private adding = false;
  private failure: { err: unknown } | null = null;
  private destroyed = false;
  /** Bytes added since the last packet came out: one packet's chunks (a header and its
   *  attachments) together stay within maxBytes, as with the built-in codec. */
  private pendingBytes = 0;

  constructor(
    parser: Parser,
    onPacket: (packet: Packet) => void,
    onError: (err: unknown) => void = () => {},
    private readonly maxBytes = Number.POSITIVE_INFINITY,
  ) {
    this.decoder = new parser.Decoder();
    this.decoder.on("decoded", (raw: ParserPacket) => {
      if (this.destroyed || this.failure !== null) return;
      this.pendingBytes = 0;
      try {
        onPacket(checked(raw));
      } catch (err) {
        // Inside add(): thrown from there once the parser returns; later (a parser that decodes
        // asynchronously): the session is told directly.
        if (this.adding) this.failure = { err };
        else onError(err);
      }
    });
  }

  add(chunk: string | Buffer): void {
    this.pendingBytes += chunk.length;
    if (this.pendingBytes > this.maxBytes) throw new ProtocolError("a packet's chunks exceed maxPayload");
    this.adding = true;
    this.failure = null;
    try {
      this.decoder.add(chunk);
    } catch (err) {
      if (this.failure === null) throw new ProtocolError(`the parser refused a packet: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      this.adding = false;
    }
    const failure = this.failure as { err: unknown } | null;
    if (failure !== null) throw failure.err;
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    try {
      this.decoder.destroy?.();
    } catch {
      // a parser's cleanup failing changes nothing for a session that is ending
    }
  }
}

/** What a parser decoded, as a Packet, or a ProtocolError saying why it is not a valid one. */
function checked(raw: unknown): Packet {
  if (raw === null || typeof raw !== "object") throw new ProtocolError("the parser decoded an invalid packet: not an object");
  const p = raw as ParserPacket;
  const type = p.type;
  if (typeof type !== "number" || !Number.isInteger(type) || type < 0 || type > 6 || type === PacketType.CONNECT_ERROR)
    throw new ProtocolError(`the parser decoded an invalid packet: type ${JSON.stringify(type)}`);
  if (typeof p.nsp !== "string" || !p.nsp.startsWith("/")) throw new ProtocolError("the parser decoded an invalid packet: namespace");
  const id = p.id === null ? undefined : p.id;
  if (id !== undefined && !(Number.isSafeInteger(id) && id >= 0 && id <= 2 ** 31 - 1)) throw new ProtocolError("the parser decoded an invalid packet: ack id");
  const packet: Packet = { type: type as Packet["type"], nsp: p.nsp, id, data: p.data };
  try {
    validatePacket(packet);
  } catch (err) {
    throw new ProtocolError(`the parser decoded an invalid packet: ${(err as Error).message}`);
  }
  return packet;
}
