// Property test of delivery: random joins, leaves, disconnects and broadcasts (rooms, except,
// socket.to, chains, direct emits) on real sockets and clients, checked against a plain Set-based
// model of Socket.IO's semantics: every expected recipient gets every message exactly once, in
// order, and nobody else gets it. Seeded, so a failure names the seed that reproduces it. The mixed
// runs add HTTP long-polling clients and clients with the official defaults, which upgrade from
// polling to WebSocket while the broadcasts go on. With connection-state recovery on, clients are
// also cut off at random (their transport closed under them) and come back later while the
// broadcasts go on: a client away keeps its rooms in the model, and must get what it missed,
// replayed, exactly once and in order with the rest.
import { test } from "node:test";
import assert from "node:assert/strict";
import { setImmediate as tick } from "node:timers/promises";
import { prng } from "../helpers/rooms-model.ts";
import { startServer, once, type ClientSocket } from "../helpers/server.ts";
import type { Socket, ServerOptions } from "../../src/index.ts";
import { sleep, until } from "../helpers/wait.ts";

/** How a peer connects: WebSocket only, polling only, or socket.io-client's default (polling,
 *  then the upgrade). */
type Kind = "websocket" | "polling" | "default";
const TRANSPORTS: Record<Kind, ("polling" | "websocket")[] | undefined> = { websocket: ["websocket"], polling: ["polling"], default: undefined };

/** live: connected; cut: its client's transport closed, the server has not noticed yet; parked:
 *  the server noticed (session kept); returning: the client reconnects; dead: disconnected for good. */
type State = "live" | "cut" | "parked" | "returning" | "dead";

interface Peer {
  client: ClientSocket;
  kind: Kind;
  /** Whether this peer was seen on polling during the broadcasts (default peers only). */
  seenPolling: boolean;
  socket: Socket;
  received: number[];
  expected: number[];
  rooms: Set<string>; // the model
  state: State;
}

const ROOMS = ["r0", "r1", "r2", "r3", "r4", "r5"];

async function run(seed: number, ops: number, clientCount: number, opts: ServerOptions = {}, mixed = false): Promise<void> {
  const rand = prng(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];
  const some = <T>(xs: T[], max: number): T[] => xs.filter(() => rand() < max / xs.length);
  const h = await startServer(opts);
  const peers: Peer[] = [];
  const byId = new Map<string, Peer>();
  const failures: string[] = [];
  // A returning client's socket: the same id, restored (a new session would fail the test below).
  h.io.on("connection", (socket) => {
    const peer = byId.get(socket.id);
    if (!socket.recovered || !peer) return;
    if (peer.state !== "returning") failures.push(`${socket.id} restored while ${peer.state}`);
    peer.socket = socket;
    peer.state = "live";
  });
  const connectPeer = async () => {
    const kind: Kind = mixed ? pick(["websocket", "polling", "default"]) : "websocket";
    const client = await h.connected("/", { transports: TRANSPORTS[kind] });
    const socket = h.io.sockets.sockets.get(client.id!)!;
    const peer: Peer = { client, kind, seenPolling: false, socket, received: [], expected: [], rooms: new Set([socket.id]), state: "live" };
    client.on("m", (seq: number) => peer.received.push(seq));
    client.on("connect", () => {
      if (!client.recovered) failures.push(`${socket.id} came back as a new session`);
    });
    peers.push(peer);
    byId.set(socket.id, peer);
  };
  const recovery = !!opts.connectionStateRecovery;
  /** Closes the client's transport under it (the server sees the connection drop). */
  const cut = (p: Peer) => {
    p.state = "cut";
    p.socket.once("disconnect", () => {
      if (p.state === "cut") p.state = "parked";
    });
    p.client.io.engine.close();
  };
  const comeBack = (p: Peer) => {
    p.state = "returning";
    // A return that fails would leave the peer "returning" for good: said at once, not at a timeout.
    p.client.once("connect_error", (err) => failures.push(`${p.socket.id} (${p.kind}) could not come back: ${err.message}`));
    p.client.connect();
  };
  try {
    for (let i = 0; i < clientCount; i++) await connectPeer();
    let seq = 0;
    const deliver = (targets: Iterable<Peer>) => {
      const s = seq++;
      for (const p of targets) p.expected.push(s);
      return s;
    };
    // Socket.IO's semantics, spelled out with Sets: union of rooms (or everybody), minus except.
    // A client away (cut, parked, returning) is still addressed: it gets the event on its return.
    const select = (rooms: string[], except: string[]) =>
      peers.filter((p) => p.state !== "dead" && (rooms.length === 0 || rooms.some((r) => p.rooms.has(r))) && !except.some((r) => p.rooms.has(r)));

    const upgradesDuringRun = () => peers.filter((q) => q.kind === "default" && q.seenPolling && q.socket.conn.transport.name === "websocket").length;
    for (let i = 0; i < ops; i++) {
      const live = peers.filter((p) => p.state === "live");
      for (const q of live) if (q.socket.conn.transport.name === "polling") q.seenPolling = true;
      const p = pick(live);
      const present = peers.filter((q) => q.state !== "dead");
      const roomChoices = [...ROOMS, ...some(present, 2).map((q) => q.socket.id)];
      if (recovery) {
        const parked = peers.filter((q) => q.state === "parked");
        if (parked.length > 0 && rand() < 0.08) comeBack(pick(parked));
        if (live.length > 4 && rand() < 0.03) {
          cut(p);
          continue;
        }
      }
      const r = rand();
      if (r < 0.2) {
        // Now and then another socket's own room: it then holds two sockets.
        const rooms = rand() < 0.8 ? some(ROOMS, 2) : some(roomChoices, 2);
        p.socket.join(rooms);
        rooms.forEach((x) => p.rooms.add(x));
      } else if (r < 0.3) {
        // Now and then a room of its own choosing, its own room included.
        const room = rand() < 0.8 ? pick(ROOMS) : pick([...p.rooms, p.socket.id]);
        p.socket.leave(room);
        p.rooms.delete(room);
      } else if (r < 0.33 && live.length > 3) {
        p.socket.disconnect();
        p.state = "dead";
        p.rooms.clear();
        await connectPeer();
      } else if (r < 0.6) {
        const rooms = some(roomChoices, 2.5);
        const except = rand() < 0.4 ? some(roomChoices, 1.5) : [];
        let op = h.io.to(rooms.slice(0, 1));
        if (rooms.length === 0) op = h.io.except([]); // everybody
        for (const room of rooms.slice(1)) op = op.to(room);
        if (except.length) op = op.except(except);
        op.emit("m", deliver(select(rooms, except)));
      } else if (r < 0.85) {
        const rooms = some(roomChoices, 2);
        const except = rand() < 0.3 ? some(ROOMS, 1) : [];
        let op = rooms.length ? p.socket.to(rooms) : p.socket.broadcast;
        if (except.length) op = op.except(except);
        op.emit("m", deliver(select(rooms, [...except, p.socket.id])));
      } else {
        p.socket.emit("m", deliver([p]));
      }
      if (rand() < 0.15) await tick(); // let some queues flush mid-stream
      if (mixed && rand() < 0.05) await sleep(1); // and let polls and upgrades make progress
    }
    const upgraded = upgradesDuringRun();

    // Everybody away comes back before the checks.
    if (recovery) {
      // Liveness bounds, generous: a full suite run beside another on 2 cores once took over 10 s here.
      await until(() => peers.every((q) => q.state !== "cut"), `seed ${seed}: the server to notice every cut`, 30000);
      peers.filter((q) => q.state === "parked").forEach(comeBack);
      const away = () => peers.filter((q) => q.state !== "live" && q.state !== "dead").map((q) => `${q.socket.id} (${q.kind}) ${q.state}`);
      await until(() => failures.length > 0 || away().length === 0, `seed ${seed}: every client back`, 30000).catch((err: Error) => {
        throw new Error(`${err.message}; still away: ${away().join(", ")}`);
      });
      assert.deepEqual(failures, [], `seed ${seed}: every return restored its session`);
    }
    const model = new Map<string, Set<string>>();
    for (const q of peers.filter((x) => x.state === "live")) for (const room of q.rooms) model.set(room, new Set([...(model.get(room) ?? []), q.socket.id]));
    assert.deepEqual(new Map([...h.io.sockets.adapter.rooms].map(([k, v]) => [k, new Set(v)])), model, `seed ${seed}: adapter.rooms matches the model`);
    const rooms = h.io.sockets.adapter.rooms;
    assert.equal(rooms.size, model.size, `seed ${seed}: adapter.rooms.size`);
    for (const [room, ids] of model) assert.deepEqual(new Set(rooms.get(room)), ids, `seed ${seed}: adapter.rooms.get(${room})`);
    for (const q of peers) assert.equal(rooms.has(q.socket.id), model.has(q.socket.id), `seed ${seed}: adapter.rooms.has(${q.socket.id})`);

    const last = seq;
    await until(() => peers.every((q) => q.received.length >= q.expected.length), `seed ${seed}: all expected deliveries`, 10000).catch(() => undefined);
    // A final direct message to each live peer: per-socket order means nothing older is still in flight.
    const barrier = peers.filter((q) => q.state === "live").map((q) => once(q.client, "__end", 5000));
    peers.filter((q) => q.state === "live").forEach((q) => q.socket.emit("__end"));
    await Promise.all(barrier);
    for (const q of peers)
      assert.deepEqual(q.received, q.expected, `seed ${seed}: socket ${q.socket.id} (${q.state === "live" ? "live" : "disconnected"}), ${last} messages`);
    if (opts.derivedTopics) assert.ok(h.io.sockets.adapter.derivedTopicCount > 0, "derived topics were in play");
    if (recovery) {
      const stats = h.io.sockets.adapter.recovery!.stats;
      assert.ok(stats.restored > 0, `seed ${seed}: sessions were restored`);
      assert.equal(stats.refused, 0, `seed ${seed}: no session refused`);
    }
    if (mixed) {
      assert.ok(upgraded > 0, `seed ${seed}: some clients upgraded while the broadcasts went on`);
      assert.ok(
        peers.some((q) => q.state === "live" && q.socket.conn.transport.name === "polling"),
        `seed ${seed}: some clients stayed on polling`,
      );
    }
  } finally {
    await h.close();
  }
}

for (const seed of [1, 2, 3, 42, 2026]) {
  test(`random rooms and broadcasts match the reference model (seed ${seed})`, () => run(seed, 1500, 12));
}
// Derived topics on at once and few of them: creation, maintenance on join/leave/disconnect and
// eviction all happen many times in one run.
for (const seed of [7, 8, 9]) {
  test(`with eager, scarce derived topics (seed ${seed})`, () => run(seed, 1500, 12, { derivedTopics: { after: 1, max: 3 } }));
}
test("with derived topics at their defaults when turned on (seed 11)", () => run(11, 1500, 12, { derivedTopics: true }));
// Polling, WebSocket and upgrading clients in the same rooms: native publishes reach polling
// members through their buffers, and an upgrade mid-stream loses, duplicates and reorders nothing.
for (const seed of [5, 6, 77, 1234]) {
  test(`with polling, websocket and upgrading clients mixed (seed ${seed})`, () => run(seed, 1500, 12, {}, true));
}
test("mixed transports with eager derived topics (seed 13)", () => run(13, 1500, 12, { derivedTopics: { after: 1, max: 3 } }, true));
// Connection-state recovery: clients cut off at random and back later, while broadcasts go on.
for (const seed of [5, 6, 77, 1234]) {
  test(`with clients cut off and recovering (seed ${seed})`, () => run(seed, 1500, 12, { connectionStateRecovery: {} }));
}
test("with clients cut off and recovering, and derived topics (seed 13)", () =>
  run(13, 1500, 12, { connectionStateRecovery: {}, derivedTopics: { after: 1, max: 3 } }));
// Intermittent (3 of ~20 full runs on 2026-12-08): a default-transport client sometimes does not come back within
// 30 s ("still away: … (default) returning"). Runs and reports; to be found and fixed first (issue #22, reconnects).
test("with clients cut off and recovering, on mixed transports (seed 21)", { todo: "a default client sometimes not back" }, () =>
  run(21, 1500, 12, { connectionStateRecovery: {} }, true),
);
