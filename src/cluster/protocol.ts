// The cluster wire format shared by gateway workers and the emitter: subject names, message
// shapes, the payload envelope (JSON, or JSON + binary attachments), and the per-origin
// duplicate filter. Pure: knows nothing of sockets or of the NATS client. Documented for other
// languages in README.md, section "Cluster".

import { randomBytes } from "node:crypto";
import { deconstruct, reconstruct, type Frame } from "../engine/binary.ts";
import type { Room } from "../rooms/types.ts";

export const DEFAULT_PREFIX = "roomgate";
export const PROTOCOL_VERSION = 1;

// ---------- worker ids and socket ids ----------

/** A worker's id: 8 url-safe characters (48 random bits), also the first 8 characters of the ids
 *  of the sockets it makes, so that anyone can tell a socket's owner from its id. */
export const WORKER_ID_LENGTH = 8;
/** A socket id made by a cluster worker: its worker id, then a random id of 21 characters. */
export const CLUSTER_SOCKET_ID_LENGTH = WORKER_ID_LENGTH + 21;
const SOCKET_ID_SHAPE = new RegExp(`^[A-Za-z0-9_-]{${CLUSTER_SOCKET_ID_LENGTH}}$`);

export function newWorkerId(): string {
  return randomBytes(6).toString("base64url");
}

/** The id of the worker that made socket id `room`, or null when `room` does not have the shape of
 *  a cluster socket id (any other room). A room of that shape that is not a socket id only costs
 *  one message to a worker subject nobody, or an uninterested worker, listens to. */
export function ownerOf(room: Room): string | null {
  return typeof room === "string" && room.length === CLUSTER_SOCKET_ID_LENGTH && SOCKET_ID_SHAPE.test(room) ? room.slice(0, WORKER_ID_LENGTH) : null;
}

/** Whether `room` is a socket id made by worker `worker` (ownerOf(room) === worker, without a copy). */
export function isSocketIdOf(room: Room, worker: string): boolean {
  return typeof room === "string" && room.length === CLUSTER_SOCKET_ID_LENGTH && room.startsWith(worker) && SOCKET_ID_SHAPE.test(room);
}

// ---------- subjects ----------

/** One NATS subject token for an arbitrary string: unpadded base64url of its UTF-8 bytes. The
 *  alphabet [A-Za-z0-9_-] holds no `.`, `*`, `>` or whitespace, so any room or namespace name is
 *  safe, and distinct names give distinct tokens. */
export function token(name: string): string {
  return Buffer.from(name, "utf8").toString("base64url");
}

export function assertPrefix(prefix: string): void {
  if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(prefix))
    throw new TypeError(`invalid cluster subject prefix ${JSON.stringify(prefix)}: dot-separated tokens of [A-Za-z0-9_-]`);
}

export class Subjects {
  constructor(readonly prefix: string = DEFAULT_PREFIX) {
    assertPrefix(prefix);
  }
  /** Broadcasts with no target room: every worker serving the namespace subscribes. */
  all(nsp: string): string {
    return `${this.prefix}.${token(nsp)}.all`;
  }
  /** Broadcasts to one room: a worker subscribes while it has local members of the room. A
   *  numeric room (Socket.IO's 42, not "42") has a subject of its own kind, `n`. */
  room(nsp: string, room: Room): string {
    return typeof room === "number" ? `${this.prefix}.${token(nsp)}.n.${token(String(room))}` : `${this.prefix}.${token(nsp)}.r.${token(room)}`;
  }
  /** Cluster-wide operations of a namespace (fetch/join/leave/disconnect, server-side emit,
   *  broadcasts with acks): every worker serving the namespace subscribes. */
  requests(nsp: string): string {
    return `${this.prefix}.${token(nsp)}.req`;
  }
  /** Worker presence: heartbeats, hello, bye. */
  get heartbeat(): string {
    return `${this.prefix}.hb`;
  }
  /** One worker's own subject: replies to its requests and requests aimed at its sockets. */
  node(id: string): string {
    return `${this.prefix}.n.${id}`;
  }
}

// ---------- messages ----------
// Every message is an envelope (`v`, `type`) around the payload of its type, declared once below.
// Messages a worker or an emitter sends carry their `origin`; answers carry who answers (`from`)
// and the `requestId` of the request they answer (requests.ts matches them).

/** What every cluster message carries: the protocol version and its type. */
export interface Envelope<T extends string> {
  v: number;
  type: T;
}

/** A message of type `T` sent by worker or emitter `origin`, with payload `P`. */
export type Sent<T extends string, P> = Envelope<T> & { origin: string } & P;

/** An answer of type `T` from worker `from` to request `requestId`, with payload `P`. */
export type Answering<T extends string, P> = Envelope<T> & { from: string; requestId: string } & P;

export interface WireFlags {
  volatile?: boolean;
}

/** A selection of sockets on the wire: target rooms (none: the whole namespace), rooms excepted,
 *  and the flags a receiving worker applies to its own sockets. */
export interface WireOptions {
  rooms: Room[];
  except: Room[];
  flags?: WireFlags;
}

/** A broadcast: `seq` increases by one per broadcast of the origin (worker or emitter). It carries
 *  either `frames`, the packet already encoded for the namespace (what roomgate publishes: receivers
 *  deliver the bytes as they are), or `data`, the event arguments (simpler for other languages). */
export type BroadcastMessage = Sent<
  "broadcast",
  {
    seq: number;
    nsp: string;
    rooms: Room[];
    except: Room[];
    flags?: WireFlags;
    /** The encoded packet's WebSocket frames (the Engine.IO "4…" text as UTF-8 bytes, then one
     *  binary frame per attachment), each sent as an attachment of the envelope. */
    frames?: Frame[];
    /** Socket.IO event arguments: [event, ...args]. */
    data?: unknown[];
  }
>;

/** The frames of a received broadcast, or null when it has none or they are malformed. */
export function framesOf(msg: BroadcastMessage): Frame[] | null {
  const f = msg.frames;
  if (!Array.isArray(f) || f.length === 0) return null;
  for (const x of f) if (typeof x !== "object" || x === null || typeof x.binary !== "boolean" || !(x.data instanceof Uint8Array)) return null;
  return f;
}

/** A selection of a namespace's sockets (rooms, except) as an operation carries it. */
type Selection = { nsp: string; rooms: Room[]; except: Room[] };

/** Operations published to `requests(nsp)` (or a worker's `node(id)`); those expecting answers
 *  carry a `requestId` and are published with a NATS reply subject. */
export type RequestMessage =
  | Sent<"fetchSockets", Selection & { requestId: string }>
  | Sent<"addSockets" | "delSockets", Selection & { targets: Room[] }>
  | Sent<"disconnectSockets", Selection & { close: boolean }>
  | Sent<"serverSideEmit", { requestId?: string; nsp: string; data: unknown[] }>
  /** Connection-state recovery: the worker holding parked session `pid` hands it over; with `peek`,
   *  it only tells its rooms and keeps it (the first phase, see cluster/session-handover.ts). */
  | Sent<"restoreSession", { requestId: string; nsp: string; pid: string; offset?: string; peek?: boolean }>
  /** Answered (interestAck) once the receiver has applied `origin`'s room interest up to version
   *  `ver`: from then on it routes broadcasts by that interest (the handover's barrier, see
   *  cluster/session-handover.ts). */
  | Sent<"interestCheck", { requestId: string; nsp: string; ver: number }>
  | Sent<"broadcastWithAck", Selection & { requestId: string; flags?: WireFlags; data: unknown[] }>
  /** The exact number of sockets in `rooms` on each worker (room-state-sync.ts's fetchRoomSizes),
   *  answered by roomSizes. */
  | Sent<"countRooms", { requestId: string; nsp: string; rooms: Room[] }>;

export interface SerializedSocket {
  id: string;
  handshake: unknown;
  rooms: Room[];
  data: unknown;
}

/** Answers, published to the requester's reply subject. */
export type ResponseMessage =
  | Answering<"sockets", { sockets: SerializedSocket[] }>
  | Answering<"serverSideEmitAck", { response: unknown }>
  | Answering<"clientCount", { count: number }>
  | Answering<"ack", { response: unknown }>
  | Answering<"session", { session: SerializedSession | null }>
  | Answering<"interestAck", Record<never, never>>
  /** The answering worker's own sockets in each room asked for (0 included). */
  | Answering<"roomSizes", { sizes: [Room, number][] }>
  /** The owner's answer to a SessionMoveMessage: `prepare` ok or not; `take` with the session
   *  (`sockets`, `frames`) when it left the owner, ok false otherwise. */
  | Answering<"sessionMoved", { ok: boolean; sockets?: MovedSocketWire[]; frames?: Frame[] }>
  | HttpResponseMessage;

/** A namespace socket of a moving session (engine/session-router.ts's MovedSocket). */
export interface MovedSocketWire {
  nsp: string;
  pid: string;
  auth: unknown;
}

/** A polling session moves to the worker its WebSocket upgrade landed on (engine/remote-upgrade.ts),
 *  asked of its owner on the owner's subject with a reply subject: `prepare` (release its polls so
 *  the client can pause), then `take` (hand it off), answered by `sessionMoved`; or `cancel` (the
 *  probe ended before the switch), unanswered. */
export type SessionMoveMessage = Sent<"sessionMove", { requestId: string; sid: string; step: "prepare" | "take" | "cancel" }>;

/** A parked session handed to another worker, with the events it missed (each a frame list) and
 *  their tags (`<origin>:<seq>` of a cluster broadcast, null for an event of the owner's alone). */
export interface SerializedSession {
  id: string;
  pid: string;
  rooms: Room[];
  data: unknown;
  missed: Frame[][];
  tags?: (string | null)[];
}

/** Presence, on `heartbeat` (and a heartbeat answering a hello, on the newcomer's node subject). */
export type PresenceMessage = Envelope<"heartbeat" | "hello" | "bye"> & {
  from: string;
  /** Namespaces the worker serves. */
  nsps: string[];
  /** The version of the worker's room interest (see InterestMessage); a peer that holds another
   *  version asks for a snapshot. */
  iv?: number;
  /** The id of the worker's packet format (engine/parser.ts), left out for the built-in one:
   *  workers of one cluster must share it. */
  parser?: string;
  /** When the worker's node started (ms since the epoch): of two workers with different parsers,
   *  the later one refuses to join. */
  up?: number;
};

/**
 * Room interest of a worker (the rooms of a namespace where it has local members, its own
 * sockets' id rooms left out: those are routed by the id), on `heartbeat`: peers use it to send a
 * broadcast to several rooms once to each interested worker. A change bumps `ver` by one and lists
 * the rooms added and removed; a snapshot (`snap`) lists every room, in one or more messages of the
 * same `ver`, the first one with `snap: "reset"`. A peer that sees a version gap asks for a
 * snapshot with a hello to the worker's own subject.
 */
export type InterestMessage = Envelope<"interest"> & {
  from: string;
  ver: number;
  snap?: "reset" | "more";
  nsp: string;
  add: Room[];
  del: Room[];
};

/**
 * Room state of a worker for one namespace (room-state.ts): how many of its sockets are in each
 * room, and, where presence is on, how many of its sockets each member (an application key) has
 * in each room; on `heartbeat`, batched once per roomStateInterval. Counts are absolute (0: none
 * left), so a message applied twice changes nothing. `kind`: "delta" bumps `ver` by one and lists
 * what changed since the previous delta; "reset" then "more" (same `ver`) are a whole snapshot,
 * the one with `last` completing it (to one worker, the one that asked with roomStateAsk, or to
 * all after a reconnection); "ver" carries only the version (a receiver holding another one asks).
 */
export type RoomStateMessage = Envelope<"roomState"> & {
  from: string;
  ver: number;
  kind: "delta" | "reset" | "more" | "ver";
  last?: boolean;
  nsp: string;
  /** [room, sockets of the worker in it] */
  sizes: [Room, number][];
  /** [room, member key, sockets of that member in it] */
  members?: [Room, string, number][];
};

/** Asks worker(s) for their whole room state (a snapshot to the asker's own subject). */
export type RoomStateAskMessage = Envelope<"roomStateAsk"> & { from: string };

/** A polling request for a session another worker holds (no sticky sessions), sent to that worker's
 *  own subject with a reply subject; `body` is a POST's bytes (or why the receiver refused them). */
export type HttpRequestMessage = Sent<
  "httpRequest",
  {
    requestId: string;
    method: "GET" | "POST";
    query: string;
    headers: Record<string, string>;
    remoteAddress: string;
    body?: Uint8Array | { status: string; reason: string };
  }
>;

/** The owner's answer to an HttpRequestMessage, as it would have written it. */
export type HttpResponseMessage = Answering<"httpResponse", { status: string; headers: [string, string][]; body: Uint8Array; close?: boolean }>;

/** The client of a forwarded request went away before its answer: the owner drops the request as
 *  it drops one whose own client went away. */
export type HttpAbortMessage = Sent<"httpAbort", { requestId: string }>;

export type ClusterMessage =
  | BroadcastMessage
  | RequestMessage
  | ResponseMessage
  | PresenceMessage
  | InterestMessage
  | RoomStateMessage
  | RoomStateAskMessage
  | HttpRequestMessage
  | HttpAbortMessage
  | SessionMoveMessage;

export type MessageType = ClusterMessage["type"];
/** The message of type `T` (presence declares three types in one shape). */
export type MessageOf<T extends MessageType> = OfType<ClusterMessage, T>;
type OfType<M, T> = M extends { type: infer U } ? (T extends U ? M : never) : never;

/** Every message type, once, with what it is (tsc fails when one is missing or extra): an answer
 *  goes out on its requester's reply subject (the transport's doPublishResponse) and comes back to
 *  the request awaiting it (requests.ts); a type not listed here does not decode. */
const KIND: Record<MessageType, "broadcast" | "request" | "answer" | "presence"> = {
  broadcast: "broadcast",
  fetchSockets: "request",
  addSockets: "request",
  delSockets: "request",
  disconnectSockets: "request",
  serverSideEmit: "request",
  restoreSession: "request",
  interestCheck: "request",
  broadcastWithAck: "request",
  countRooms: "request",
  httpRequest: "request",
  httpAbort: "request",
  sessionMove: "request",
  sockets: "answer",
  serverSideEmitAck: "answer",
  clientCount: "answer",
  ack: "answer",
  session: "answer",
  interestAck: "answer",
  sessionMoved: "answer",
  roomSizes: "answer",
  httpResponse: "answer",
  heartbeat: "presence",
  hello: "presence",
  bye: "presence",
  interest: "presence",
  roomState: "presence",
  roomStateAsk: "presence",
};

/** Every answer type (requests.ts takes them all). */
export const ANSWER_TYPES = Object.keys(KIND).filter((t) => KIND[t as MessageType] === "answer") as ResponseMessage["type"][];

export function isResponse(msg: ClusterMessage): msg is ResponseMessage {
  return KIND[msg.type] === "answer";
}

/** The worker (or emitter) that sent `msg`. */
export function senderOf(msg: ClusterMessage): string {
  return "origin" in msg ? msg.origin : msg.from;
}

// ---------- payload envelope ----------
// Without binary values a payload is the UTF-8 JSON of the message (first byte `{`). With them, it
// is: byte 0x00, u32 BE attachment count n, u32 BE JSON length, the JSON, then n times (u32 BE
// length, bytes). In the JSON each binary value is replaced by {"_placeholder":true,"num":i}, the
// Socket.IO convention; the decoder puts Buffers back in their place (engine/binary.ts, the walk the
// Socket.IO codec uses: nesting beyond 64 levels, a placeholder without its attachment or an
// attachment without its placeholder reject the payload).

const utf8 = new TextDecoder();

export function encodeMessage(msg: ClusterMessage): Uint8Array {
  const buffers: Uint8Array[] = [];
  let body: unknown;
  if (msg.type === "broadcast" && msg.frames && msg.data === undefined) {
    // The hot path: only the frames are binary, no need to walk the message for more.
    body = { ...msg, frames: msg.frames.map((f) => ({ binary: f.binary, data: { _placeholder: true, num: buffers.push(f.data) - 1 } })) };
  } else {
    body = deconstruct(msg, buffers);
  }
  const json = Buffer.from(JSON.stringify(body), "utf8");
  if (buffers.length === 0) return json;
  let size = 9 + json.length;
  for (const b of buffers) size += 4 + b.length;
  const out = Buffer.allocUnsafe(size);
  out[0] = 0;
  out.writeUInt32BE(buffers.length, 1);
  out.writeUInt32BE(json.length, 5);
  json.copy(out, 9);
  let at = 9 + json.length;
  for (const b of buffers) {
    out.writeUInt32BE(b.length, at);
    out.set(b, at + 4);
    at += 4 + b.length;
  }
  return out;
}

/** Throws on a malformed payload or an unknown message type (the caller counts and drops it). */
export function decodeMessage(payload: Uint8Array): ClusterMessage {
  if (payload.length === 0) throw new Error("cluster payload: empty");
  let msg: unknown;
  if (payload[0] === 0x7b /* { */) {
    msg = JSON.parse(utf8.decode(payload));
  } else if (payload[0] === 0) {
    const buf = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    if (buf.length < 9) throw new Error("cluster payload: truncated header");
    const n = buf.readUInt32BE(1);
    const jsonLength = buf.readUInt32BE(5);
    let at = 9 + jsonLength;
    if (at > buf.length) throw new Error("cluster payload: truncated JSON");
    const json = JSON.parse(utf8.decode(buf.subarray(9, at)));
    const buffers: Buffer[] = [];
    for (let i = 0; i < n; i++) {
      if (at + 4 > buf.length) throw new Error("cluster payload: truncated attachment");
      const len = buf.readUInt32BE(at);
      if (at + 4 + len > buf.length) throw new Error("cluster payload: truncated attachment");
      // A copy: the client's read buffer is not ours to keep.
      buffers.push(Buffer.from(buf.subarray(at + 4, at + 4 + len)));
      at += 4 + len;
    }
    msg = reconstruct(json, buffers);
  } else {
    throw new Error(`cluster payload: unknown format byte ${payload[0]}`);
  }
  if (typeof msg !== "object" || msg === null || typeof (msg as { type?: unknown }).type !== "string") throw new Error("cluster payload: not a message");
  const type = (msg as { type: string }).type;
  if (!Object.hasOwn(KIND, type)) throw new Error(`cluster payload: unknown message type ${JSON.stringify(type.slice(0, 40))}`);
  return msg as ClusterMessage;
}

// ---------- duplicate filter ----------

/**
 * Exactly-once per origin: an emitter publishes a broadcast to several rooms once per room subject,
 * so a worker holding members of several of them receives it several times (workers themselves send
 * it once per interested worker, but a copy may still come twice while interest changes). NATS keeps one publisher's
 * messages in order towards one subscriber, so the sequence numbers a worker sees from an origin
 * never go back except for those duplicates; a sliding window of the last WINDOW sequence numbers
 * still tolerates reordering within it. Memory: WINDOW bits per origin, origins idle for
 * `idleMs` forgotten, at most `maxOrigins` kept.
 */
const WINDOW = 1024;

interface OriginState {
  highest: number;
  seen: Uint8Array;
  lastSeen: number;
}

export class DuplicateFilter {
  private readonly origins = new Map<string, OriginState>();

  constructor(
    private readonly maxOrigins = 10_000,
    private readonly idleMs = 10 * 60_000,
  ) {}

  get size(): number {
    return this.origins.size;
  }

  /** True the first time (origin, seq) is seen; false for a duplicate or a message too old to tell. */
  accept(origin: string, seq: number, now = Date.now()): boolean {
    let s = this.origins.get(origin);
    if (!s) {
      if (this.origins.size >= this.maxOrigins) this.evict(now);
      s = { highest: seq, seen: new Uint8Array(WINDOW), lastSeen: now };
      s.seen[seq % WINDOW] = 1;
      this.origins.set(origin, s);
      return true;
    }
    s.lastSeen = now;
    if (seq > s.highest) {
      const gap = seq - s.highest;
      if (gap >= WINDOW) s.seen.fill(0);
      else for (let q = s.highest + 1; q < seq; q++) s.seen[q % WINDOW] = 0;
      s.highest = seq;
      s.seen[seq % WINDOW] = 1;
      return true;
    }
    if (s.highest - seq >= WINDOW || s.seen[seq % WINDOW]) return false;
    s.seen[seq % WINDOW] = 1;
    return true;
  }

  forget(origin: string): void {
    this.origins.delete(origin);
  }

  /** Drops origins idle for longer than idleMs; if still full, the least recently inserted. */
  evict(now = Date.now()): void {
    for (const [o, s] of this.origins) if (now - s.lastSeen > this.idleMs) this.origins.delete(o);
    while (this.origins.size >= this.maxOrigins) {
      const first = this.origins.keys().next().value;
      if (first === undefined) break;
      this.origins.delete(first);
    }
  }
}
