// The shared plan of the end-to-end benchmark: seeded room assignment, broadcast targets,
// scenarios, and the payload format. The runner, the client processes and every server
// import this one module, so "who must receive seq s" has exactly one definition.

export const ROOM_COUNT = 8;
export const ROOMS_PER_CLIENT = 3;
export const DEFAULT_SEED = 0x5eed1234;

/** mulberry32: small, fast, deterministic. Returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Room bitmask (bit r = member of room "r<r>") for every client id 0..n-1. */
export function assignRooms(n: number, seed: number = DEFAULT_SEED): Uint8Array {
  const rng = mulberry32(seed);
  const masks = new Uint8Array(n);
  for (let cid = 0; cid < n; cid++) {
    let mask = 0;
    let picked = 0;
    while (picked < ROOMS_PER_CLIENT) {
      const r = Math.floor(rng() * ROOM_COUNT);
      if (mask & (1 << r)) continue;
      mask |= 1 << r;
      picked++;
    }
    masks[cid] = mask;
  }
  // The designated socket.to() sender (cid 0) must be in the room it emits to.
  if (n > 0 && !(masks[0]! & 1)) {
    // swap its highest room for r0 so it still has exactly ROOMS_PER_CLIENT rooms
    const hi = 31 - Math.clz32(masks[0]!);
    masks[0] = (masks[0]! & ~(1 << hi)) | 1;
  }
  return masks;
}

export function roomName(r: number): string {
  return "r" + r;
}

export function maskToRooms(mask: number): string[] {
  const out: string[] = [];
  for (let r = 0; r < ROOM_COUNT; r++) if (mask & (1 << r)) out.push(roomName(r));
  return out;
}

export function roomsToMask(rooms: string): number {
  let mask = 0;
  if (!rooms) return 0;
  for (const name of rooms.split(",")) {
    const m = /^r(\d+)$/.exec(name);
    if (!m) throw new Error(`bad room name ${JSON.stringify(name)}`);
    const r = Number(m[1]);
    if (r >= ROOM_COUNT) throw new Error(`room out of range: ${name}`);
    mask |= 1 << r;
  }
  return mask;
}

// ---- broadcast targets -------------------------------------------------------------------
export const T_ONE = 0; // io.to("r0")
export const T_UNION = 1; // io.to("r0").to("r1").to("r2").to("r3")
export const T_EXCEPT = 2; // io.to("r0").except("r1")
export const T_SOCKET_TO = 3; // socketOf(cid 0).to("r0")
export const TARGET_COUNT = 4;
export type TargetId = 0 | 1 | 2 | 3;

export const ONE_ROOM = "r0";
export const UNION_ROOMS = ["r0", "r1", "r2", "r3"] as const;
export const EXCEPT_ROOM = "r0";
export const EXCEPT_EXCLUDED = "r1";
export const SOCKET_TO_ROOM = "r0";
export const SENDER_CID = 0;

/** Whether client `cid` with room mask `mask` must receive a message sent to `target`. */
export function isMember(target: number, mask: number, cid: number): boolean {
  switch (target) {
    case T_ONE:
      return (mask & 0b1) !== 0;
    case T_UNION:
      return (mask & 0b1111) !== 0;
    case T_EXCEPT:
      return (mask & 0b1) !== 0 && (mask & 0b10) === 0;
    case T_SOCKET_TO:
      return (mask & 0b1) !== 0 && cid !== SENDER_CID;
    default:
      throw new Error(`unknown target ${target}`);
  }
}

/** Bit t set = member of target t. */
export function targetMask(mask: number, cid: number): number {
  let m = 0;
  for (let t = 0; t < TARGET_COUNT; t++) if (isMember(t, mask, cid)) m |= 1 << t;
  return m;
}

// ---- target selectors (which target each seq goes to) -----------------------------------
export const SELECTORS = ["one", "union4", "except", "socket-to", "mixed"] as const;
export type Selector = (typeof SELECTORS)[number];
const MIXED: readonly TargetId[] = [T_ONE, T_UNION, T_EXCEPT];

export function targetFor(sel: Selector, seq: number): TargetId {
  switch (sel) {
    case "one":
      return T_ONE;
    case "union4":
      return T_UNION;
    case "except":
      return T_EXCEPT;
    case "socket-to":
      return T_SOCKET_TO;
    case "mixed":
      return MIXED[seq % 3]!;
  }
}

// ---- scenarios ---------------------------------------------------------------------------
export type ScenarioKind = "burst" | "latency" | "churn" | "ramp" | "memory" | "reconnect" | "polling";
export interface Scenario {
  name: string;
  kind: ScenarioKind;
  selector?: Selector;
  title: string;
}
export const SCENARIOS: readonly Scenario[] = [
  { name: "one-room", kind: "burst", selector: "one", title: 'io.to("r0")' },
  { name: "union4", kind: "burst", selector: "union4", title: "io.to(r0..r3): union of 4 overlapping rooms" },
  { name: "except", kind: "burst", selector: "except", title: 'io.to("r0").except("r1")' },
  { name: "socket-to", kind: "burst", selector: "socket-to", title: 'socket.to("r0") from a member' },
  { name: "mixed", kind: "burst", selector: "mixed", title: "one-room, union4, except interleaved" },
  { name: "latency", kind: "latency", title: "publish→receive at a steady rate" },
  { name: "churn", kind: "churn", title: "join/leave churn, then a verified mixed burst" },
  { name: "ramp", kind: "ramp", title: "connection ramp to N" },
  { name: "memory", kind: "memory", title: "idle memory per connection (3 rooms each)" },
  { name: "reconnect", kind: "reconnect", title: "the ramp to N on a running server: everybody disconnects and reconnects twice, the second ramp measured" },
  {
    name: "polling",
    kind: "polling",
    title:
      "Engine.IO long-polling clients only (never upgraded; --polling-n of them, default N/10), in a fresh server process: mixed bursts (CPU, deliveries/s), then the steady-rate latency run",
  },
];
export const SCENARIO_NAMES = SCENARIOS.map((s) => s.name);
export function scenarioByName(name: string): Scenario {
  const s = SCENARIOS.find((x) => x.name === name);
  if (!s) throw new Error(`unknown scenario ${JSON.stringify(name)}; known: ${SCENARIO_NAMES.join(", ")}`);
  return s;
}

// ---- payload -----------------------------------------------------------------------------
// Every server sends the Engine.IO/Socket.IO text frame  42["m","<seq>|<tag>|<tUs>|<pad>"]
// (raw uWS publishes these exact bytes), so the bytes on the wire are identical.
// tUs: process.hrtime in µs (CLOCK_MONOTONIC, comparable across processes on one host).
// The pad reads like the text of a JSON state update (field names, numbers, a few words, drawn by
// a fixed LCG) rather than one repeated byte: it deflates about 2:1 on its own, as such text
// does, where "xxx…" would shrink 100-fold and make compression look nearly free. It holds no
// character JSON escapes and no `|`, so every server sends it as it is.
let padCache = "";
const PAD_WORDS = ["id", "px", "qty", "side", "buy", "sell", "ts", "room", "user", "score", "hp", "x", "y", "vel", "state", "ok", "level", "seq"];
function padText(len: number): string {
  let s = "";
  let r = 0x2545f491;
  const next = (k: number): number => {
    r = (Math.imul(r, 1103515245) + 12345) >>> 0;
    return (r >>> 8) % k;
  };
  while (s.length < len) s += `${PAD_WORDS[next(PAD_WORDS.length)]}:${next(100000) / 100},`;
  return s.slice(0, len);
}
export function makePayload(seq: number, tag: string, tUs: number, size: number): string {
  const head = seq + "|" + tag + "|" + tUs + "|";
  const padLen = size - head.length;
  if (padLen <= 0) return head;
  if (padCache.length < padLen) padCache = padText(Math.max(padLen, 4096));
  return head + padCache.slice(0, padLen);
}
export const FRAME_PREFIX = '42["m","';
export const FRAME_SUFFIX = '"]';

export function nowUs(): number {
  const t = process.hrtime();
  return t[0] * 1e6 + Math.floor(t[1] / 1e3);
}

/** How a load client speaks to a server: Socket.IO over a WebSocket, plain WebSocket frames (raw
 *  uWS), or Socket.IO over Engine.IO long-polling (never upgraded). */
export type ClientMode = "sio" | "raw" | "polling";

/** The connecting request's path: its query tells the server the client's rooms and id. */
export function connectPath(mode: ClientMode, cid: number, mask: number): string {
  const q = `rooms=${maskToRooms(mask).join(",")}&cid=${cid}`;
  if (mode === "raw") return `/?${q}`;
  return `/socket.io/?EIO=4&transport=${mode === "sio" ? "websocket" : "polling"}&${q}`;
}
