// Custom parsers (issue #23), the part that needs no load: bytes on the wire per event and the cost
// of the one encode per broadcast, Socket.IO's JSON format (roomgate's built-in codec) against
// socket.io-msgpack-parser, for a price tick, a small game state and a Float64Array payload.
// Bytes: every frame's payload plus its WebSocket header (server frames are unmasked: 2 bytes up
// to 125, 4 up to 65535), and the polling payload (binary as b<base64>). Socket.IO with the same
// parser puts the same bytes on the wire (the same encoder makes them).
//
//   node --import tsx bench/parsers.ts            (needs socket.io-msgpack-parser installed)
//   node --import tsx bench/parsers.ts --quick
import { encodePacket, type Packet, PacketType } from "../src/internal.ts";
import { type Parser, PacketParser } from "../src/engine/parser.ts";
import { encodePayload } from "../src/engine/payload.ts";
import type { Frame } from "../src/engine/binary.ts";

const NAME = "socket.io-msgpack-parser";
const msgpack = (await import(NAME).then(
  (m: { default?: Parser } & Parser) => m.default ?? m,
  () => null,
)) as Parser | null;
if (!msgpack) console.error(`bench/parsers: ${NAME} is not installed (npm install -D ${NAME}@3): JSON only`);

const quick = process.argv.includes("--quick");
const ROUNDS = quick ? 20_000 : 200_000;

const payloads: Record<string, unknown> = {
  "price tick": { sym: "EURUSD", bid: 1.08412, ask: 1.08431, ts: 1733616000123 },
  "game state (36 numbers)": {
    tick: 48213,
    players: Array.from({ length: 7 }, (_, i) => ({ id: i + 1, x: 120.5 + i * 3.25, y: 88.75 - i, hp: 100 - i * 7, score: 1200 + i * 35 })),
  },
  "Float64Array(64)": new Float64Array(Array.from({ length: 64 }, (_, i) => Math.sin(i) * 1000)),
};

const wsBytes = (frames: readonly Frame[]) => frames.reduce((n, f) => n + f.data.length + (f.data.length <= 125 ? 2 : f.data.length <= 65535 ? 4 : 10), 0);

function nsPerEncode(encode: (p: Packet) => Frame[], packet: Packet): number {
  for (let i = 0; i < ROUNDS / 10; i++) encode(packet); // warm up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < ROUNDS; i++) encode(packet);
  return Number(process.hrtime.bigint() - t0) / ROUNDS;
}

const encoders: [string, (p: Packet) => Frame[]][] = [["JSON (built-in)", encodePacket]];
if (msgpack) {
  const p = new PacketParser(msgpack);
  encoders.push(["msgpack", (packet) => p.encode(packet)]);
}

const rows: string[][] = [];
for (const [name, data] of Object.entries(payloads)) {
  const packet: Packet = { type: PacketType.EVENT, nsp: "/", data: ["tick", data] };
  for (const [format, encode] of encoders) {
    const frames = encode(packet);
    rows.push([name, format, String(frames.length), String(wsBytes(frames)), String(encodePayload(frames).length), nsPerEncode(encode, packet).toFixed(0)]);
  }
}
const head = ["payload", "format", "frames", "WebSocket bytes", "polling bytes", "ns per encode (once per broadcast)"];
console.log([head, head.map(() => "---"), ...rows].map((r) => `| ${r.join(" | ")} |`).join("\n"));
