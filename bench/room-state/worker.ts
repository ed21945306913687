// A gateway worker of bench/room-state/run.ts, forked with an IPC channel: a roomgate Server in the
// cluster, whose namespace holds stand-in members (no connections: the cost measured is room
// state's, per join and leave, which does not depend on how a member is connected), joined to
// rooms and churned here; it answers the runner's probes of staleness and query times.
//
// Env: RS_URL (relay), RS_WORKER (its number), RS_INTERVAL (roomStateInterval; 0: off),
// RS_PRESENCE ("1": presence on, key data.userId).
// IPC in (request/reply by id): populate {sockets, rooms, perSocket, users, seed}; churn {rate,
// seconds}; join {room}; watch {room, want, timeoutMs}; query {room, n}; close.
import { performance } from "node:perf_hooks";
import { type ClusterAdapter, createClusterAdapter, Server } from "../../src/index.ts";
import { mulberry32 } from "../lib/plan.ts";

const url = process.env.RS_URL!;
const interval = Number(process.env.RS_INTERVAL ?? "100");
const io = new Server({
  logger: "warn",
  adapter: createClusterAdapter({ servers: url, roomStateInterval: interval, heartbeatInterval: 1000, name: `rs-${process.env.RS_WORKER}`, log: () => {} }),
});
const adapter = io.of("/").adapter as ClusterAdapter;
if (process.env.RS_PRESENCE === "1") adapter.presence({ key: (s) => s.data.userId });
await adapter.node.ready;

interface StandIn {
  id: string;
  slot: number;
  data: { userId: string };
  handshake: Record<string, never>;
  transport: { subscribesNatively: boolean; closed: boolean; subscribe(): void; unsubscribe(): void };
  readonly rooms: Set<string>;
}
const members: StandIn[] = [];
let rnd = mulberry32(1);
let roomCount = 1;
const now = () => performance.timeOrigin + performance.now();

function standIn(userId: string): StandIn {
  const id = adapter.newSocketId();
  const m: StandIn = {
    id,
    slot: 0,
    data: { userId },
    handshake: {},
    transport: { subscribesNatively: true, closed: false, subscribe() {}, unsubscribe() {} },
    get rooms() {
      return adapter.sids.get(id) as unknown as Set<string>;
    },
  };
  // A stand-in has what membership and fetchSockets read of a socket.
  adapter.addMember(m as never);
  return m;
}

const room = (k: number) => `room-${k}`;

function churnOnce(): void {
  const m = members[Math.floor(rnd() * members.length)]!;
  const mine = [...m.rooms].filter((r) => r !== m.id);
  if (mine.length > 0) adapter.del(m.id, mine[Math.floor(rnd() * mine.length)]!);
  void adapter.add(m.id, room(Math.floor(rnd() * roomCount)));
}

process.on("message", async (raw: unknown) => {
  const msg = raw as { id: number; cmd: string; [k: string]: unknown };
  const reply = (body: Record<string, unknown>) => process.send!({ type: "reply", id: msg.id, ...body });
  switch (msg.cmd) {
    case "populate": {
      rnd = mulberry32(Number(msg.seed));
      roomCount = Number(msg.rooms);
      const users = Number(msg.users);
      for (let i = 0; i < Number(msg.sockets); i++) {
        const m = standIn(`u${Math.floor(rnd() * users)}`);
        members.push(m);
        for (let k = 0; k < Number(msg.perSocket); k++) void adapter.add(m.id, room(Math.floor(rnd() * roomCount)));
      }
      return reply({ sockets: members.length });
    }
    case "churn": {
      // `rate` joins and as many leaves per second, in 100 slices per second.
      const perSlice = Number(msg.rate) / 100;
      const end = Date.now() + Number(msg.seconds) * 1000;
      const cpu0 = process.cpuUsage();
      let ops = 0;
      let owed = 0;
      while (Date.now() < end) {
        owed += perSlice;
        for (; owed >= 1; owed--, ops++) churnOnce();
        await new Promise((r) => setTimeout(r, 10));
      }
      const cpu = process.cpuUsage(cpu0);
      return reply({ ops, cpuUs: cpu.user + cpu.system, stats: { ...adapter.node.stats } });
    }
    case "join": {
      const t0 = now();
      void adapter.add(members[0]!.id, String(msg.room));
      return reply({ t0 });
    }
    case "watch": {
      const want = Number(msg.want);
      const deadline = Date.now() + Number(msg.timeoutMs);
      while (adapter.roomSize(String(msg.room)) !== want) {
        if (Date.now() > deadline) return reply({ t1: null });
        await new Promise((r) => setImmediate(r));
      }
      return reply({ t1: now() });
    }
    case "query": {
      const r = String(msg.room);
      const n = Number(msg.n);
      let size = 0;
      const t0 = performance.now();
      for (let i = 0; i < n; i++) size += adapter.roomSize(r);
      const localNs = ((performance.now() - t0) * 1e6) / n;
      const fetchMs: number[] = [];
      let fetched = 0;
      for (let i = 0; i < 20; i++) {
        const t = performance.now();
        fetched = (await io.in(r).fetchSockets()).length;
        fetchMs.push(performance.now() - t);
      }
      fetchMs.sort((a, b) => a - b);
      return reply({ localNs, size: size / n, fetched, fetchP50Ms: fetchMs[10], fetchP99Ms: fetchMs[19] });
    }
    case "close":
      reply({});
      await io.close();
      process.exit(0);
  }
});
process.send!({ type: "up" });
process.on("disconnect", () => process.exit(0)); // the runner went away
