// Engine.IO v4 + Socket.IO v5 packet codec: one Engine.IO packet per frame, binary attachments
// as raw binary frames (a WebSocket sends each frame as it is; polling joins them into a payload,
// payload.ts; the walk itself is binary.ts). Pure: knows nothing of sockets.
import { deconstruct, hasBinary, type Frame } from "./binary.ts";
import { decodeBase64Packet } from "./payload.ts";
import { ProtocolError } from "./protocol-error.ts";

export const PacketType = {
  CONNECT: 0,
  DISCONNECT: 1,
  EVENT: 2,
  ACK: 3,
  CONNECT_ERROR: 4,
  BINARY_EVENT: 5,
  BINARY_ACK: 6,
} as const;
export type PacketTypeValue = (typeof PacketType)[keyof typeof PacketType];

export interface Packet {
  type: PacketTypeValue;
  nsp: string;
  id?: number;
  data?: unknown;
  attachments?: number;
}

const MAX_ACK_ID = 2 ** 31 - 1;
const MAX_ATTACHMENTS = 256;

// ---------- encoding ----------

/** Encodes a Socket.IO packet into its WebSocket frames (Engine.IO `4` message + attachments). */
export function encodePacket(packet: Packet): Frame[] {
  let type: number = packet.type;
  let data = packet.data;
  let buffers: Uint8Array[] | null = null;
  if ((type === PacketType.EVENT || type === PacketType.ACK) && hasBinary(data)) {
    buffers = [];
    data = deconstruct(data, buffers);
    type = type === PacketType.EVENT ? PacketType.BINARY_EVENT : PacketType.BINARY_ACK;
  }
  let str = "4" + type;
  if (buffers) str += buffers.length + "-";
  if (packet.nsp !== "/") str += packet.nsp + ",";
  if (packet.id !== undefined) str += packet.id;
  if (data !== undefined) str += JSON.stringify(data);
  // Bytes once per broadcast, so no recipient pays a string conversion (Buffer.from is ~3× TextEncoder here).
  const frames: Frame[] = [{ data: Buffer.from(str), binary: false }];
  if (buffers) for (const b of buffers) frames.push({ data: b, binary: true });
  return frames;
}

export function encodeEngineOpen(open: { sid: string; upgrades: string[]; pingInterval: number; pingTimeout: number; maxPayload: number }): string {
  // The sid is url-safe ([A-Za-z0-9_-], ids.ts), so no escaping is needed.
  return `0{"sid":"${open.sid}","upgrades":${JSON.stringify(open.upgrades)},"pingInterval":${open.pingInterval},"pingTimeout":${open.pingTimeout},"maxPayload":${open.maxPayload}}`;
}

/** A namespace's CONNECT answer, `40{"sid":…}` (with connection-state recovery `40{"sid":…,"pid":…}`),
 *  as text: sent to one socket, once (sid and pid are base64url, so no escaping is needed). */
export function encodeConnectAck(nsp: string, sid: string, pid?: string): string {
  const body = pid === undefined ? `{"sid":"${sid}"}` : `{"sid":"${sid}","pid":"${pid}"}`;
  return nsp === "/" ? `40${body}` : `40${nsp},${body}`;
}

export const ENGINE_PING = "2";

// ---------- decoding ----------

export type EnginePacket =
  | { type: "ping" | "pong" | "close" | "noop" | "upgrade" }
  | { type: "message"; body: string }
  /** A binary message sent as text, `b<base64>` (clients with forceBase64). */
  | { type: "binary"; data: Buffer };

export function decodeEngine(text: string): EnginePacket {
  switch (text.charCodeAt(0)) {
    case 0x32 /* 2 */:
      return { type: "ping" };
    case 0x33 /* 3 */:
      return { type: "pong" };
    case 0x31 /* 1 */:
      return { type: "close" };
    case 0x36 /* 6 */:
      return { type: "noop" };
    case 0x35 /* 5 */:
      return { type: "upgrade" };
    case 0x34 /* 4 */:
      return { type: "message", body: text.slice(1) };
    case 0x62 /* b */:
      return { type: "binary", data: decodeBase64Packet(text) };
    default:
      throw new ProtocolError(`unknown Engine.IO packet type ${JSON.stringify(text.slice(0, 1))}`);
  }
}

/** Decodes a Socket.IO packet sent by a client; throws ProtocolError on anything malformed. */
export function decodePacket(str: string): Packet {
  const type = str.charCodeAt(0) - 48;
  if (!(type >= 0 && type <= 6) || type === PacketType.CONNECT_ERROR) throw new ProtocolError(`invalid packet type ${JSON.stringify(str[0])}`);
  let i = 1;
  let attachments: number | undefined;
  if (type === PacketType.BINARY_EVENT || type === PacketType.BINARY_ACK) {
    const dash = str.indexOf("-", i);
    const digits = str.slice(i, dash);
    if (dash < 0 || !/^\d{1,3}$/.test(digits)) throw new ProtocolError("invalid attachment count");
    attachments = Number(digits);
    if (attachments > MAX_ATTACHMENTS) throw new ProtocolError("too many attachments");
    i = dash + 1;
  }
  let nsp = "/";
  if (str[i] === "/") {
    const comma = str.indexOf(",", i);
    const end = comma < 0 ? str.length : comma;
    nsp = str.slice(i, end);
    i = comma < 0 ? end : end + 1;
  }
  let id: number | undefined;
  let j = i;
  while (j < str.length && str.charCodeAt(j) >= 48 && str.charCodeAt(j) <= 57) j++;
  if (j > i) {
    id = Number(str.slice(i, j));
    if (!Number.isSafeInteger(id) || id > MAX_ACK_ID) throw new ProtocolError("invalid ack id");
    i = j;
  }
  let data: unknown;
  if (i < str.length) {
    try {
      data = JSON.parse(str.slice(i));
    } catch {
      throw new ProtocolError("invalid JSON payload");
    }
  }
  const packet: Packet = { type: type as PacketTypeValue, nsp, id, data, attachments };
  validatePacket(packet);
  return packet;
}

/** Throws ProtocolError when a packet's payload does not fit its type (shared with custom parsers: parser.ts). */
export function validatePacket(p: Packet): void {
  switch (p.type) {
    case PacketType.CONNECT:
      if (p.data !== undefined && (p.data === null || typeof p.data !== "object" || Array.isArray(p.data))) throw new ProtocolError("invalid CONNECT payload");
      return;
    case PacketType.DISCONNECT:
      if (p.data !== undefined) throw new ProtocolError("invalid DISCONNECT payload");
      return;
    case PacketType.EVENT:
    case PacketType.BINARY_EVENT:
      if (!Array.isArray(p.data) || p.data.length === 0 || (typeof p.data[0] !== "string" && typeof p.data[0] !== "number"))
        throw new ProtocolError("invalid EVENT payload");
      return;
    case PacketType.ACK:
    case PacketType.BINARY_ACK:
      if (p.id === undefined || !Array.isArray(p.data)) throw new ProtocolError("invalid ACK packet");
      return;
  }
}
