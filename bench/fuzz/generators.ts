// The fuzz cases: seeded (a failure replays from its seed), each a list of WebSocket frames for
// one session or one raw HTTP request. Families: random and mutated Engine.IO / Socket.IO packets,
// binary attachments (right and wrong counts), deep JSON, invalid UTF-8, oversize frames, frame-level
// oddities (reserved opcodes and bits, unmasked, fragments, long control frames), HTTP edge cases.
import { mulberry32 } from "../lib/plan.ts";
import { binary, frame, text } from "./wire.ts";

export type Rng = () => number;

/** mulberry32 (bench/lib/plan.ts): small, fast, good enough to spread cases. */
export const rng: (seed: number) => Rng = mulberry32;

const int = (r: Rng, n: number) => Math.floor(r() * n);
const pick = <T>(r: Rng, xs: readonly T[]): T => xs[int(r, xs.length)];
const bytes = (r: Rng, n: number) => Buffer.from(Array.from({ length: n }, () => int(r, 256)));

const EVENTS = ["echo", "join", "leave", "bcast", "all", "disconnect", "disconnecting", "connect", "__proto__", "constructor", "", "x".repeat(300)];
const NSPS = ["", "/admin", "/nope", "/", "/admin/", "/ad,min"];
const STRINGS = ["r", "", "\u0000", "\x1f", "a\x1fb", "ü☃😀", "\ud800", "x".repeat(2000), "__proto__", '"', "\\", "%00"];

/** A random JSON-able value, `depth` levels at most. */
function value(r: Rng, depth: number): unknown {
  const k = int(r, depth > 0 ? 9 : 6);
  switch (k) {
    case 0:
      return null;
    case 1:
      return r() < 0.5;
    case 2:
      return pick(r, [0, -1, 1.5, 1e308, -0, 2 ** 53 + 1, int(r, 1e6)]);
    case 3:
      return pick(r, STRINGS);
    case 4:
      return { _placeholder: true, num: pick(r, [0, 1, -1, 99, "0", null, 1.5]) };
    case 5:
      return bytes(r, int(r, 8)).toString("latin1");
    case 6:
    case 7:
      return Array.from({ length: int(r, 4) }, () => value(r, depth - 1));
    default:
      return Object.fromEntries(
        Array.from({ length: int(r, 4) }, () => [pick(r, ["a", "_placeholder", "num", "__proto__", "constructor", ""]), value(r, depth - 1)]),
      );
  }
}

/** A Socket.IO packet in Engine.IO message framing, valid in shape more often than not. */
function sioPacket(r: Rng): string {
  const type = r() < 0.85 ? pick(r, [0, 1, 2, 2, 2, 3, 4, 5, 6]) : int(r, 12);
  const attachments = type === 5 || type === 6 || r() < 0.05 ? `${pick(r, [0, 1, 2, 3, 1000, -1])}-` : "";
  const nsp = r() < 0.3 ? `${pick(r, NSPS)},` : "";
  const id = r() < 0.3 ? pick(r, ["0", "1", "42", "9007199254740992", "99999999999999999999"]) : "";
  let data = "";
  if (type === 2 || type === 5) data = JSON.stringify([pick(r, EVENTS), ...Array.from({ length: int(r, 3) }, () => value(r, 3))]);
  else if (r() < 0.6) data = JSON.stringify(value(r, 3));
  return `4${type}${attachments}${nsp}${id}${data}`;
}

/** A valid packet changed by a few byte-level edits. */
function mutated(r: Rng): Buffer {
  const b = Buffer.from(sioPacket(r));
  const out = [...b];
  for (let n = 1 + int(r, 4); n > 0; n--) {
    const at = int(r, out.length + 1);
    switch (int(r, 5)) {
      case 0:
        out.splice(at, 1);
        break;
      case 1:
        out.splice(at, 0, int(r, 128));
        break;
      case 2:
        if (at < out.length) out[at] = pick(r, [0x22, 0x5b, 0x5d, 0x7b, 0x7d, 0x2c, 0x2d, 0x30, 0x39, 0x2f, 0x00]);
        break;
      case 3:
        out.length = Math.min(out.length, at);
        break;
      default:
        out.splice(at, 0, ...out.slice(at, at + int(r, 8)));
    }
  }
  return Buffer.from(out);
}

function deepJson(r: Rng): string {
  const depth = pick(r, [100, 1000, 5000, 20000]);
  const [open, close] = r() < 0.5 ? ["[", "]"] : ['{"a":', "}"];
  const inner = r() < 0.3 ? '{"_placeholder":true,"num":0}' : "1";
  return `42["echo",${open.repeat(depth)}${inner}${close.repeat(depth)}]`;
}

function invalidUtf8(r: Rng): Buffer {
  const bad = pick(r, [[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82], [0x80]]);
  const prefix = Buffer.from(pick(r, ['42["echo","', "4", "40", ""]));
  return Buffer.concat([prefix, Buffer.from(bad), Buffer.from('"]')]);
}

/** Frame-level oddities uWS must reject or handle. */
function oddFrame(r: Rng): Buffer {
  const payload = Buffer.from(sioPacket(r));
  switch (int(r, 8)) {
    case 0:
      return frame({ opcode: pick(r, [3, 4, 5, 6, 7, 11, 12, 15]), payload });
    case 1:
      return frame({ opcode: 1, payload, rsv: 1 + int(r, 7) });
    case 2:
      return frame({ opcode: 1, payload, mask: false });
    case 3: // a fragmented message, sometimes with a bad continuation
      return Buffer.concat([
        frame({ opcode: 1, payload: payload.subarray(0, 2), fin: false }),
        frame({ opcode: r() < 0.7 ? 0 : 1, payload: payload.subarray(2) }),
      ]);
    case 4:
      return frame({ opcode: 0, payload });
    case 5:
      return frame({ opcode: pick(r, [8, 9, 10]), payload: bytes(r, pick(r, [0, 1, 2, 125, 126, 200])) });
    case 6:
      return frame({ opcode: 8, payload: Buffer.from([int(r, 256), int(r, 256), ...bytes(r, int(r, 10))]) });
    default:
      return frame({ opcode: 9, payload: bytes(r, int(r, 125)), fin: r() < 0.5 });
  }
}

export interface SessionCase {
  kind: string;
  /** Whether the session first connects the main namespace ("40"). */
  connect: boolean;
  frames: Buffer[];
}
export interface HttpCase {
  kind: "http";
  request: Buffer;
}
export type Case = SessionCase | HttpCase;

const HTTP_LINES = [
  "GET / HTTP/1.1",
  "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1",
  "GET /socket.io/?EIO=4&transport=polling HTTP/1.1",
  "POST /socket.io/?EIO=4&transport=polling&sid=x HTTP/1.1",
  "GET /socket.io/?EIO=3 HTTP/1.1",
  "OPTIONS * HTTP/1.1",
  "GET /nope HTTP/1.0",
  "BREW /pot HTTP/1.1",
  "GET /socket.io/?EIO=4&transport=websocket&sid=%ZZ HTTP/1.1",
  "GET  HTTP/1.1",
  "HELLO",
  "",
];
const HTTP_HEADERS = [
  "Host: 127.0.0.1",
  "Upgrade: websocket",
  "Connection: Upgrade",
  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
  "Sec-WebSocket-Version: 13",
  "Sec-WebSocket-Version: 8",
  "Origin: https://a.example",
  "Origin: https://b.example",
  "X_Under_Score: 1",
  "Content-Length: 5",
  "Content-Length: -1",
  "Transfer-Encoding: chunked",
  "X: " + "y".repeat(9000),
  "Bad Header: 1",
  ": empty",
  "NoColon",
];

function httpRequest(r: Rng): Buffer {
  const lines = [pick(r, HTTP_LINES), ...Array.from({ length: int(r, 9) }, () => pick(r, HTTP_HEADERS))];
  let req = `${lines.join("\r\n")}\r\n\r\n`;
  if (r() < 0.2) req += bytes(r, int(r, 64)).toString("latin1");
  if (r() < 0.2) req = req.slice(0, int(r, req.length)); // cut short
  if (r() < 0.1) req = req.replace(/\r\n/g, "\n");
  return Buffer.from(req, "latin1");
}

/** The case number `n` of the run seeded with `seed`. */
export function makeCase(seed: number, n: number, maxPayload: number): Case {
  const r = rng((seed * 1_000_003 + n) >>> 0);
  const roll = r();
  const connect = r() < 0.85;
  if (roll < 0.12) return { kind: "http", request: httpRequest(r) };
  if (roll < 0.4) return { kind: "packet", connect, frames: Array.from({ length: 1 + int(r, 4) }, () => text(sioPacket(r))) };
  if (roll < 0.6) return { kind: "mutated", connect, frames: Array.from({ length: 1 + int(r, 4) }, () => text(mutated(r))) };
  if (roll < 0.7) {
    // A binary event or ack, then some number of attachments (maybe not the announced one).
    const n = int(r, 4);
    const header = `4${pick(r, [5, 6])}${n}-${r() < 0.3 ? "/admin," : ""}${r() < 0.5 ? "7" : ""}${JSON.stringify(["echo", ...Array.from({ length: n }, (_, i) => ({ _placeholder: true, num: r() < 0.9 ? i : int(r, 9) - 1 }))])}`;
    const frames = [text(header)];
    for (let i = n + int(r, 3) - 1; i > 0; i--) frames.push(binary(bytes(r, int(r, 2048))));
    if (r() < 0.2) frames.push(text(sioPacket(r)));
    return { kind: "binary", connect, frames };
  }
  if (roll < 0.75) return { kind: "deep-json", connect, frames: [text(deepJson(r))] };
  if (roll < 0.8) return { kind: "invalid-utf8", connect, frames: [text(invalidUtf8(r))] };
  if (roll < 0.83) {
    const size = maxPayload + 1 + int(r, 1024);
    const payload = r() < 0.5 ? Buffer.alloc(size, 0x61) : Buffer.from(`42["echo","${"z".repeat(size)}"]`);
    return { kind: "oversize", connect, frames: [r() < 0.5 ? binary(payload) : text(payload)] };
  }
  if (roll < 0.93) return { kind: "frame", connect, frames: [oddFrame(r)] };
  const engine = ["2", "3", "2probe", "3probe", "5", "6", "1", "0", "7", "", "4", "40", "41", "40/admin,", "b", "8{}"];
  return { kind: "engine", connect, frames: Array.from({ length: 1 + int(r, 5) }, () => text(pick(r, engine))) };
}
