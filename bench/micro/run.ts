// Micro-benchmarks (mitata) of the delivery layer's pure parts, each against what Socket.IO does:
// membership join/leave, union and and-not of 1–8 rooms at 1k/10k/100k members (roomgate's slot
// bitsets vs socket.io-adapter's Set-based apply), plan selection, and frame encoding.
// Run: npm run bench:micro [-- --quick]. Writes bench/results/micro.json and the micro section of
// bench/RESULTS.md.
import { bench, group, run, do_not_optimize, summary } from "mitata";
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";
import { Adapter as SocketIoAdapter } from "socket.io-adapter";
import { Encoder as SocketIoEncoder } from "socket.io-parser";
import { forEachBit } from "../../src/internal.ts";
import { encodePacket, PacketType } from "../../src/internal.ts";
import { Membership } from "../../src/internal.ts";
import type { Member } from "../../src/internal.ts";
import { Planner, selectRecipients } from "../../src/internal.ts";
import { writeFileAtomic } from "../lib/files.ts";
import { writeResultsSection } from "../lib/results-md.ts";

const quick = process.argv.includes("--quick");
const SIZES = quick ? [1000, 10000] : [1000, 10000, 100000];
const ROOM_COUNTS = [1, 2, 4, 8];
const noTopics = { subscribe() {}, unsubscribe() {} };

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 4294967296;
}

/** The same population in both: `n` sockets, 8 rooms each holding a random half of them. */
function populations(n: number) {
  const rand = prng(n);
  const ours = new Membership("/");
  const sockets = new Map<string, { id: string }>();
  // apply() is the loop every Socket.IO broadcast, fetch and utility goes through (private in its typings).
  const theirs = new SocketIoAdapter({ sockets, server: { encoder: new SocketIoEncoder() } } as never) as unknown as {
    addAll(id: string, rooms: Set<string>): void;
    del(id: string, room: string): void;
    apply(opts: { rooms: Set<string>; except: Set<string> }, fn: (socket: unknown) => void): void;
  };
  const members: Member[] = [];
  for (let i = 0; i < n; i++) {
    const m: Member = { id: "s" + i, slot: -1, transport: noTopics };
    ours.addMember(m);
    members.push(m);
    sockets.set(m.id, { id: m.id });
    theirs.addAll(m.id, new Set([m.id]));
  }
  for (let r = 0; r < 8; r++) {
    for (const m of members) {
      if (rand() < 0.5) {
        ours.addAll(m.id, ["room" + r]);
        theirs.addAll(m.id, new Set(["room" + r]));
      }
    }
  }
  return { ours, theirs, members };
}

const rooms = (k: number) => new Set(Array.from({ length: k }, (_, i) => "room" + i));
const none = new Set<string>();

for (const n of SIZES) {
  const { ours, theirs, members } = populations(n);
  for (const k of ROOM_COUNTS) {
    const target = rooms(k);
    const except = new Set(["room7"]);
    summary(() => {
      group(`union of ${k} room(s), ${n} sockets`, () => {
        bench(`roomgate bitset union k=${k} n=${n}`, () => {
          let count = 0;
          forEachBit(selectRecipients(ours, target, none), (slot) => void (ours.memberAt(slot) && count++));
          return do_not_optimize(count);
        });
        bench(`socket.io-adapter Set union k=${k} n=${n}`, () => {
          let count = 0;
          theirs.apply({ rooms: target, except: none }, () => void count++);
          return do_not_optimize(count);
        });
      });
    });
    summary(() => {
      group(`union of ${k} room(s) except 1 room, ${n} sockets`, () => {
        bench(`roomgate bitset and-not k=${k} n=${n}`, () => {
          let count = 0;
          forEachBit(selectRecipients(ours, target, except), (slot) => void (ours.memberAt(slot) && count++));
          return do_not_optimize(count);
        });
        bench(`socket.io-adapter Set and-not k=${k} n=${n}`, () => {
          let count = 0;
          theirs.apply({ rooms: target, except }, () => void count++);
          return do_not_optimize(count);
        });
      });
    });
  }

  const planner = new Planner();
  group(`plan selection, ${n} sockets`, () => {
    bench(`plan: one room n=${n}`, () => do_not_optimize(planner.plan(ours, { rooms: rooms(1), except: none, senderSlot: -1 })));
    bench(`plan: socket.to(room) n=${n}`, () =>
      do_not_optimize(planner.plan(ours, { rooms: rooms(1), except: new Set([members[0].id]), senderSlot: members[0].slot })),
    );
    bench(`plan: union of 4 n=${n}`, () => do_not_optimize(planner.plan(ours, { rooms: rooms(4), except: none, senderSlot: -1 })));
    bench(`plan: room except room n=${n}`, () => do_not_optimize(planner.plan(ours, { rooms: rooms(1), except: new Set(["room1"]), senderSlot: -1 })));
  });

  const ids = members.slice(0, 1000).map((m) => m.id);
  summary(() => {
    group(`join + leave of 1000 sockets, ${n} sockets`, () => {
      bench(`roomgate membership join+leave n=${n}`, () => {
        for (const id of ids) ours.addAll(id, ["churn"]);
        for (const id of ids) ours.del(id, "churn");
      });
      bench(`socket.io-adapter join+leave n=${n}`, () => {
        for (const id of ids) theirs.addAll(id, new Set(["churn"]));
        for (const id of ids) theirs.del(id, "churn");
      });
    });
  });
}

const payload = "x".repeat(100);
const siEncoder = new SocketIoEncoder();
summary(() => {
  group("encode one 100 B event frame", () => {
    bench("roomgate encodePacket", () => do_not_optimize(encodePacket({ type: PacketType.EVENT, nsp: "/", data: ["tick", payload] })));
    bench("socket.io-parser encode + engine.io prefix", () => do_not_optimize("4" + siEncoder.encode({ type: 2, nsp: "/", data: ["tick", payload] })[0]));
  });
});

const { benchmarks, context } = await run();

// ---------- report ----------
interface Row {
  name: string;
  avgNs: number;
  opsPerSec: number;
}
const rows: Row[] = benchmarks.flatMap((b: any) =>
  b.runs.filter((r: any) => r.stats).map((r: any) => ({ name: r.name, avgNs: r.stats.avg, opsPerSec: 1e9 / r.stats.avg })),
);
const byName = new Map(rows.map((r) => [r.name, r]));
const pairs: string[] = [];
for (const r of rows) {
  if (!r.name.startsWith("roomgate ")) continue;
  const peerName = r.name
    .replace("roomgate bitset union", "socket.io-adapter Set union")
    .replace("roomgate bitset and-not", "socket.io-adapter Set and-not")
    .replace("roomgate membership", "socket.io-adapter")
    .replace("roomgate encodePacket", "socket.io-parser encode + engine.io prefix");
  const peer = byName.get(peerName);
  if (peer) pairs.push(`| ${r.name.replace(/^roomgate /, "")} | ${fmt(r.avgNs)} | ${fmt(peer.avgNs)} | ${(peer.avgNs / r.avgNs).toFixed(1)}× |`);
}
const plans = rows.filter((r) => r.name.startsWith("plan:")).map((r) => `| ${r.name} | ${fmt(r.avgNs)} | ${Math.round(r.opsPerSec).toLocaleString("en-US")} |`);
function fmt(ns: number): string {
  return ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : ns >= 1e3 ? `${(ns / 1e3).toFixed(1)} µs` : `${ns.toFixed(0)} ns`;
}
const section = [
  "## Micro-benchmarks (mitata)",
  "",
  `Command: \`npm run bench:micro${quick ? " -- --quick" : ""}\` — ${new Date().toISOString().slice(0, 10)}, ${cpus().length} × ${context.cpu.name}, Node ${process.version}.`,
  "Each room holds a random half of the sockets (so rooms overlap); the iteration visits every recipient once.",
  "",
  "| operation | roomgate | socket.io-adapter 2.5 | speed-up |",
  "|---|---|---|---|",
  ...pairs,
  "",
  "| plan selection | time | plans/s |",
  "|---|---|---|",
  ...plans,
].join("\n");

writeFileAtomic(fileURLToPath(new URL("../results/micro.json", import.meta.url)), JSON.stringify({ date: new Date().toISOString(), quick, rows }, null, 2));
writeResultsSection("micro", section);
console.log(`\n<!-- micro:start -->\n${section}\n<!-- micro:end -->`);
