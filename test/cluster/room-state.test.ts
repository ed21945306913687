// Room sizes and presence across workers, through the wire: a seeded property test over three
// workers (two in this process, one forked so that it can be killed) with real socket.io-client
// clients, checked against a model of what the clients did. After each round of random joins,
// leaves, connects and disconnects, after a worker is killed (SIGKILL: no bye) and after the relay
// restarts (with changes made during the outage), every in-process worker's local answers
// (roomSize, allRooms, presence members) and the presence events it fired (once per member: a
// join of a member present or a leave of one absent is an error) must converge to the model, and
// the exact answer (fetchRoomSizes, a round trip) must equal it. Decided with bounded `until`s,
// never fixed sleeps. Against the embedded relay, and a real nats-server when installed.
// Run: node --import tsx --test test/cluster/room-state.test.ts
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { io as connectClient, type Socket as ClientSocket } from "socket.io-client";
import { type ClusterAdapter, createClusterAdapter, Server, type Room } from "../../src/index.ts";
import { EmbeddedBackend, killAll, natsServerAvailable, NatsServerBackend, startWorker, type Backend } from "../helpers/cluster.ts";
import { until } from "../helpers/wait.ts";
import { prng } from "../helpers/rooms-model.ts";
import roomStateApp, { type PresenceLog } from "../helpers/room-state-app.ts";

after(killAll);

/** "p:" rooms have presence (room-state-app), "r:" rooms sizes only. */
const ROOMS = ["p:a", "p:b", "p:c", "r:x", "r:y"];
const USERS = ["ann", "bob", "cy", "dee", "eve"];
const CONVERGE_MS = 15_000;

interface Tab {
  client: ClientSocket;
  worker: number;
  user: string;
  rooms: Set<string>;
  alive: boolean;
}

interface InProcess {
  io: Server;
  adapter: ClusterAdapter;
  log: PresenceLog;
}

function clusterOptions(url: string) {
  return { servers: url, heartbeatInterval: 200, heartbeatTimeout: 700, requestTimeout: 1000, roomStateInterval: 50, log: () => {} };
}

async function startInProcess(url: string): Promise<InProcess & { port: number }> {
  const io = new Server({ adapter: createClusterAdapter(clusterOptions(url)), logger: "silent" });
  const log = roomStateApp(io);
  const port = await io.listen(0, "127.0.0.1");
  const adapter = io.of("/").adapter as ClusterAdapter;
  await adapter.node.ready;
  return { io, adapter, log, port };
}

function connectTab(port: number, user: string): Promise<ClientSocket> {
  const client = connectClient(`http://127.0.0.1:${port}`, { transports: ["websocket"], forceNew: true, reconnection: false, auth: { user } });
  return new Promise((resolve, reject) => {
    client.once("connect", () => resolve(client));
    client.once("connect_error", reject);
  });
}

/** The model: sizes of every room, members of every presence room. */
function truth(tabs: Tab[]): { sizes: Map<Room, number>; members: Map<Room, Set<string>> } {
  const sizes = new Map<Room, number>();
  const members = new Map<Room, Set<string>>();
  for (const t of tabs) {
    if (!t.alive) continue;
    for (const r of t.rooms) {
      sizes.set(r, (sizes.get(r) ?? 0) + 1);
      if (!r.startsWith("p:")) continue;
      let set = members.get(r);
      if (!set) members.set(r, (set = new Set()));
      set.add(t.user);
    }
  }
  return { sizes, members };
}

const sorted = (xs: Iterable<unknown>) => [...xs].map(String).sort().join(",");

/** What differs between worker `w`'s local answers and the model (null: nothing). */
async function mismatch(w: InProcess, name: string, tabs: Tab[]): Promise<string | null> {
  const want = truth(tabs);
  for (const r of ROOMS) {
    const size = w.adapter.roomSize(r);
    if (size !== (want.sizes.get(r) ?? 0)) return `${name}: roomSize(${r}) ${size}, want ${want.sizes.get(r) ?? 0}`;
    if (!r.startsWith("p:")) continue;
    const members = sorted(w.log.presence.members(r));
    const wantMembers = sorted(want.members.get(r) ?? []);
    if (members !== wantMembers) return `${name}: members(${r}) [${members}], want [${wantMembers}]`;
    const byEvents = sorted(w.log.members.get(r) ?? []);
    if (byEvents !== wantMembers) return `${name}: members of ${r} by the events [${byEvents}], want [${wantMembers}]`;
  }
  const rooms = sorted(await w.adapter.allRooms());
  if (rooms !== sorted(want.sizes.keys())) return `${name}: allRooms [${rooms}], want [${sorted(want.sizes.keys())}]`;
  return null;
}

async function run(seed: number, backend: Backend, rounds: number, opsPerRound: number): Promise<void> {
  const rnd = prng(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  await backend.start();
  const workers = [await startInProcess(backend.url), await startInProcess(backend.url)];
  const killable = await startWorker("K", backend.url, "./room-state-worker.ts");
  const ports = [workers[0]!.port, workers[1]!.port, killable.port];
  const live = [true, true, true];
  const tabs: Tab[] = [];
  try {
    const serverCount = () => Promise.all(workers.map((w) => w.adapter.serverCount()));
    await until(async () => (await serverCount()).every((n) => n === 3), "three workers to see each other", CONVERGE_MS);

    const converged = async (what: string) => {
      let last: string | null = null;
      await until(
        async () => {
          for (const [i, w] of workers.entries()) if ((last = await mismatch(w, `worker ${i}`, tabs))) return false;
          return true;
        },
        `${what} (seed ${seed}): ${last}`,
        CONVERGE_MS,
      ).catch((err: Error) => assert.fail(`${err.message}; last mismatch: ${last}`));
      for (const [i, w] of workers.entries()) assert.deepEqual(w.log.errors, [], `worker ${i}'s presence events (seed ${seed})`);
    };

    const step = async (workersUsable: number[]) => {
      const alive = tabs.filter((t) => t.alive && workersUsable.includes(t.worker));
      const pick = int(10);
      if (alive.length < 3 || pick === 0) {
        const worker = workersUsable[int(workersUsable.length)]!;
        const user = USERS[int(USERS.length)]!;
        tabs.push({ client: await connectTab(ports[worker]!, user), worker, user, rooms: new Set(), alive: true });
      } else if (pick <= 5) {
        const t = alive[int(alive.length)]!;
        const room = ROOMS[int(ROOMS.length)]!;
        await t.client.timeout(5000).emitWithAck("join", room);
        t.rooms.add(room);
      } else if (pick <= 8) {
        const t = alive[int(alive.length)]!;
        const room = [...t.rooms][int(t.rooms.size)] ?? ROOMS[0]!;
        await t.client.timeout(5000).emitWithAck("leave", room);
        t.rooms.delete(room);
      } else {
        const t = alive[int(alive.length)]!;
        t.client.disconnect();
        t.alive = false;
      }
    };

    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < opsPerRound; i++) await step([0, 1, 2].filter((w) => live[w]));
      await converged(`round ${round}`);
      const exact = await workers[round % 2]!.adapter.fetchRoomSizes(ROOMS);
      const want = truth(tabs).sizes;
      for (const r of ROOMS) assert.equal(exact.get(r), want.get(r) ?? 0, `fetchRoomSizes(${r}) (seed ${seed})`);
    }

    // A worker dies without a word: its members leave within the liveness bound, but for a member
    // with a tab on another worker too ("ann", also on worker 0), who stays.
    const join = async (worker: number, user: string, rooms: string[]) => {
      const t: Tab = { client: await connectTab(ports[worker]!, user), worker, user, rooms: new Set(), alive: true };
      tabs.push(t);
      for (const room of rooms) {
        await t.client.timeout(5000).emitWithAck("join", room);
        t.rooms.add(room);
      }
    };
    await join(2, "kay", ["p:a", "r:x"]);
    await join(2, "ann", ["p:b"]);
    await join(0, "ann", ["p:b"]);
    await converged("before the kill");
    await killable.kill("SIGKILL");
    live[2] = false;
    for (const t of tabs) if (t.worker === 2) t.alive = false;
    await converged("the killed worker's members left");

    // The relay restarts; changes made meanwhile count once it is back.
    await backend.stop();
    await until(() => workers.every((w) => w.adapter.roomStateStaleSince !== null), "the outage to be reported", CONVERGE_MS);
    for (let i = 0; i < opsPerRound; i++) await step([0, 1]);
    await backend.start();
    await until(() => workers.every((w) => w.adapter.roomStateStaleSince === null), "the recovery to be reported", CONVERGE_MS);
    await converged("after the relay restart");
    for (let i = 0; i < opsPerRound; i++) await step([0, 1]);
    await converged("after more changes");
  } finally {
    for (const t of tabs) t.client.disconnect();
    for (const w of workers) await w.io.close();
    await killable.kill();
    await backend.stop();
  }
}

describe("room sizes and presence across workers", { timeout: 120_000 }, () => {
  it("off (roomStateInterval: 0): no room state messages, and the answers say it is off", async () => {
    const backend = await EmbeddedBackend.create();
    await backend.start();
    const io = new Server({ adapter: createClusterAdapter({ ...clusterOptions(backend.url), roomStateInterval: 0 }), logger: "silent" });
    try {
      io.on("connection", (socket) => socket.join("r"));
      const port = await io.listen(0, "127.0.0.1");
      const adapter = io.of("/").adapter as ClusterAdapter;
      await adapter.node.ready;
      const client = await connectTab(port, "ann");
      await until(() => adapter.rooms.get("r")?.size === 1, "the socket to join");
      assert.throws(() => adapter.roomSize("r"), /off in this cluster/);
      assert.throws(() => adapter.presence({ key: (s) => s.data.user }), /off in this cluster/);
      assert.equal(adapter.node.stats.roomStateOut, 0);
      client.disconnect();
    } finally {
      await io.close();
      await backend.stop();
    }
  });

  it("presence options are checked, and a listener that throws breaks nothing", async () => {
    const backend = await EmbeddedBackend.create();
    await backend.start();
    const io = new Server({ adapter: createClusterAdapter(clusterOptions(backend.url)), logger: "silent" });
    try {
      const adapter = io.of("/").adapter as ClusterAdapter;
      assert.throws(() => adapter.presence({ key: "userId" as never }), /`key` must be a function/);
      assert.throws(() => adapter.presence({ key: () => 1, rooms: "p:*" as never }), /RegExp or a function/);
      // A listener that throws is logged; the join that fired it and the counts go on.
      const presence = adapter.presence({ key: (socket) => socket.data.user });
      presence.on("join", () => {
        throw new Error("an application bug");
      });
      io.use((socket, next) => {
        socket.data.user = socket.handshake.auth.user;
        next();
      });
      io.on("connection", (socket) => socket.on("join", async (room: string, ack: () => void) => (await socket.join(room), ack())));
      const port = await io.listen(0, "127.0.0.1");
      await adapter.node.ready;
      const client = await connectTab(port, "ann");
      await client.timeout(5000).emitWithAck("join", "p:x");
      assert.deepEqual(presence.members("p:x"), ["ann"]);
      assert.equal(adapter.roomSize("p:x"), 1);
      client.disconnect();
      await until(() => adapter.roomSize("p:x") === 0 && presence.members("p:x").length === 0, "ann to leave");
    } finally {
      await io.close();
      await backend.stop();
    }
  });

  for (const seed of [1, 2, 3]) it(`agree with the model: embedded relay, seed ${seed}`, async () => run(seed, await EmbeddedBackend.create(), 4, 25));

  it("agree with the model: real nats-server", { skip: natsServerAvailable() ? false : "nats-server not installed" }, async () =>
    run(7, await NatsServerBackend.create(), 2, 25),
  );
});
