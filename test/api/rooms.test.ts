// Rooms semantics, as the Socket.IO rooms documentation describes them, through the public API
// with real socket.io-client clients.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, once, record, type Harness, type ClientSocket } from "../helpers/server.ts";
import type { Socket } from "../../src/index.ts";
import { until } from "../helpers/wait.ts";

/** Sends a marker to every client after whatever was emitted before; resolves when all have it.
 *  Per-socket order is guaranteed, so anything not received by then was not sent. */
async function barrier(h: Harness, clients: ClientSocket[], nsp = "/"): Promise<void> {
  const got = clients.map((c) => once(c, "__barrier"));
  for (const c of clients) h.io.of(nsp).sockets.get(c.id!)!.emit("__barrier");
  await Promise.all(got);
}

function events(log: Array<[string, ...unknown[]]>, name: string): unknown[][] {
  return log.filter(([ev]) => ev === name).map(([, ...args]) => args);
}

describe("rooms", () => {
  let h: Harness;
  const server = (c: ClientSocket, nsp = "/"): Socket => h.io.of(nsp).sockets.get(c.id!)!;

  before(async () => {
    h = await startServer();
  });
  after(() => h.close());

  test("every socket is in its own id room, and ids are random and unique", async () => {
    const a = await h.connected();
    const b = await h.connected();
    assert.ok(a.id!.length >= 20);
    assert.notEqual(a.id, b.id);
    assert.deepEqual([...server(a).rooms], [a.id]);
    assert.deepEqual([...h.io.sockets.adapter.rooms.get(a.id!)!], [a.id]);
    a.disconnect();
    b.disconnect();
  });

  test("a socket's own room: joined by another socket, left by its owner", async () => {
    const [a, b, c] = await Promise.all([h.connected(), h.connected(), h.connected()]);
    const logs = [a, b, c].map(record);
    const rooms = h.io.sockets.adapter.rooms;
    const created: string[] = [];
    const onCreate = (room: string) => created.push(room);
    h.io.sockets.adapter.on("create-room", onCreate);
    try {
      server(b).join(a.id!); // b joins a's own room: a private message to a now reaches b too
      assert.deepEqual(new Set(rooms.get(a.id!)), new Set([a.id, b.id]));
      assert.deepEqual(created, [], "the room already existed");
      h.io.to(a.id!).emit("pm", 1);
      server(a).leave(a.id!); // its owner leaves; b stays
      assert.deepEqual([...rooms.get(a.id!)!], [b.id]);
      assert.deepEqual([...server(a).rooms], []);
      h.io.to(a.id!).emit("pm", 2);
      server(b).leave(a.id!);
      assert.equal(rooms.has(a.id!), false);
      assert.equal(rooms.get(a.id!), undefined);
      h.io.to(a.id!).emit("pm", 3); // nobody
      server(c).leave(c.id!); // alone in it: the room is gone at once
      assert.equal(rooms.has(c.id!), false);
      h.io.to(c.id!).emit("pm", 4);
      // Socket.IO skips a sender by excluding its own room: having left it, c gets its own broadcast.
      server(c).join("x");
      server(c).to("x").emit("self", 5);
      server(c).join(c.id!);
      assert.deepEqual([...rooms.get(c.id!)!], [c.id]);
      assert.deepEqual(created, ["x", c.id], "rejoining its own room creates it again");
      server(c).to("x").emit("self", 6);
      h.io.to(c.id!).emit("pm", 7);
      await barrier(h, [a, b, c]);
      assert.deepEqual(events(logs[0], "pm"), [[1]]);
      assert.deepEqual(events(logs[1], "pm"), [[1], [2]]);
      assert.deepEqual(events(logs[2], "pm"), [[7]]);
      assert.deepEqual(events(logs[2], "self"), [[5]]);
    } finally {
      h.io.sockets.adapter.off("create-room", onCreate);
      [a, b, c].forEach((x) => x.disconnect());
    }
  });

  test("adapter.rooms answers for every socket's own room: size, has, get, iteration", async () => {
    const rooms = h.io.sockets.adapter.rooms;
    await until(() => h.io.sockets.sockets.size === 0, "earlier tests' sockets are gone");
    const before = rooms.size;
    const [a, b] = await Promise.all([h.connected(), h.connected()]);
    server(a).join("shared");
    server(b).join("shared");
    assert.equal(rooms.size, before + 3);
    assert.ok(rooms.has(a.id!) && rooms.has(b.id!) && rooms.has("shared"));
    const seen = new Map([...rooms].map(([room, ids]) => [room, [...ids].sort()]));
    assert.deepEqual(seen.get(a.id!), [a.id]);
    assert.deepEqual(seen.get("shared"), [a.id, b.id].sort());
    assert.deepEqual(new Set(rooms.keys()), new Set(seen.keys()));
    assert.equal([...rooms.values()].length, rooms.size);
    let visited = 0;
    rooms.forEach((ids, room) => {
      visited++;
      assert.deepEqual([...ids].sort(), seen.get(room));
    });
    assert.equal(visited, rooms.size);
    a.disconnect();
    b.disconnect();
    await until(() => rooms.size === before, "both sockets' rooms are gone");
  });

  test("to(room) reaches members only; in() is the same", async () => {
    const [a, b, c] = await Promise.all([h.connected(), h.connected(), h.connected()]);
    const logs = [a, b, c].map(record);
    server(a).join("r1");
    server(b).join(["r1", "r2"]);
    h.io.to("r1").emit("hello", 1);
    h.io.in("r2").emit("hello", 2);
    await barrier(h, [a, b, c]);
    assert.deepEqual(events(logs[0], "hello"), [[1]]);
    assert.deepEqual(events(logs[1], "hello"), [[1], [2]]);
    assert.deepEqual(events(logs[2], "hello"), []);
    [a, b, c].forEach((x) => x.disconnect());
  });

  test("chained to() is a union: each socket gets the event exactly once", async () => {
    const clients = await Promise.all([1, 2, 3, 4, 5].map(() => h.connected()));
    const logs = clients.map(record);
    // overlapping rooms: every client but the last is in two or three of them
    server(clients[0]).join(["u1", "u2", "u3"]);
    server(clients[1]).join(["u1", "u2"]);
    server(clients[2]).join(["u2", "u3"]);
    server(clients[3]).join("u3");
    h.io.to("u1").to("u2").to("u3").emit("u", "x");
    h.io.to(["u1", "u2"]).to("u1").emit("u", "y");
    await barrier(h, clients);
    assert.deepEqual(
      logs.map((l) => events(l, "u")),
      [[["x"], ["y"]], [["x"], ["y"]], [["x"], ["y"]], [["x"]], []],
    );
    clients.forEach((x) => x.disconnect());
  });

  test("except() excludes a room, alone and with to()", async () => {
    const clients = await Promise.all([1, 2, 3].map(() => h.connected()));
    const logs = clients.map(record);
    server(clients[0]).join(["e1", "vip"]);
    server(clients[1]).join("e1");
    h.io.to("e1").except("vip").emit("a");
    h.io.except("vip").emit("b");
    h.io.except(["vip", clients[1].id!]).emit("c");
    await barrier(h, clients);
    assert.deepEqual(
      logs.map((l) => l.filter(([ev]) => ev !== "__barrier").map(([ev]) => ev)),
      [[], ["a", "b"], ["b", "c"]],
    );
    clients.forEach((x) => x.disconnect());
  });

  test("socket.to(room) and socket.broadcast skip the sender", async () => {
    const clients = await Promise.all([1, 2, 3].map(() => h.connected()));
    const logs = clients.map(record);
    clients.forEach((c) => server(c).join("st"));
    server(clients[0]).to("st").emit("from0");
    server(clients[1]).broadcast.emit("all-but-1");
    server(clients[2]).to("st").to(clients[0].id!).emit("union-from2");
    await barrier(h, clients);
    const names = logs.map((l) => l.map(([ev]) => ev).filter((ev) => ev !== "__barrier"));
    assert.deepEqual(names[0], ["all-but-1", "union-from2"]);
    assert.deepEqual(names[1], ["from0", "union-from2"]);
    assert.deepEqual(names[2], ["from0", "all-but-1"]);
    clients.forEach((x) => x.disconnect());
  });

  test("socket.broadcast excludes whoever is in the sender's own room, even when that is someone else", async () => {
    const [a, b, c] = await Promise.all([h.connected(), h.connected(), h.connected()]);
    const logs = [a, b, c].map(record);
    server(a).leave(a.id!);
    server(b).join(a.id!); // now the room named after a holds b alone
    server(a).broadcast.emit("odd");
    await barrier(h, [a, b, c]);
    assert.deepEqual(events(logs[1], "odd"), [], "b is in the excepted room");
    assert.deepEqual(events(logs[2], "odd"), [[]]);
    [a, b, c].forEach((x) => x.disconnect());
  });

  test("private message to a socket id through socket.to(id)", async () => {
    const [a, b] = await Promise.all([h.connected(), h.connected()]);
    const got = once<[string, string]>(b, "private message");
    server(a).to(b.id!).emit("private message", a.id, "psst");
    assert.deepEqual(await got, [a.id, "psst"]);
    a.disconnect();
    b.disconnect();
  });

  test("leave() stops delivery", async () => {
    const a = await h.connected();
    const log = record(a);
    server(a).join("lv");
    h.io.to("lv").emit("one");
    server(a).leave("lv");
    h.io.to("lv").emit("two");
    await barrier(h, [a]);
    assert.deepEqual(
      log.map(([ev]) => ev),
      ["one", "__barrier"],
    );
    assert.equal(h.io.sockets.adapter.rooms.has("lv"), false);
    a.disconnect();
  });

  test("per-socket order holds when native, per-socket and direct paths interleave", async () => {
    const clients = await Promise.all([1, 2, 3, 4].map(() => h.connected()));
    const logs = clients.map(record);
    server(clients[0]).join(["o1", "o2"]);
    server(clients[1]).join(["o1"]);
    server(clients[2]).join(["o2", "o3"]);
    server(clients[3]).join(["o3"]);
    const expected: number[][] = [[], [], [], []];
    const members: Record<string, number[]> = { o1: [0, 1], o2: [0, 2], o3: [2, 3] };
    for (let i = 0; i < 60; i++) {
      const kind = i % 5;
      let to: number[];
      if (kind === 0)
        h.io.to("o1").emit("n", i), (to = members.o1); // one room: native
      else if (kind === 1)
        h.io.to("o1").to("o2").emit("n", i), (to = [0, 1, 2]); // overlapping union
      else if (kind === 2)
        h.io.to("o2").except("o1").emit("n", i), (to = [2]); // except
      else if (kind === 3)
        server(clients[2]).to("o3").emit("n", i), (to = [3]); // socket.to
      else server(clients[i % 4]).emit("n", i), (to = [i % 4]); // direct
      for (const k of to) expected[k].push(i);
    }
    await barrier(h, clients);
    assert.deepEqual(
      logs.map((l) => events(l, "n").map(([x]) => x)),
      expected,
    );
    clients.forEach((x) => x.disconnect());
  });

  test("disconnecting sees the rooms, disconnect sees none, and the rooms are left", async () => {
    const a = await h.connected();
    const s = server(a);
    s.join(["d1", "d2"]);
    const seen: { ev: string; rooms: (string | number)[]; reason: string }[] = [];
    s.on("disconnecting", (reason) => seen.push({ ev: "disconnecting", rooms: [...s.rooms], reason }));
    s.on("disconnect", (reason) => seen.push({ ev: "disconnect", rooms: [...s.rooms], reason }));
    const done = once(s, "disconnect");
    a.disconnect();
    await done;
    assert.deepEqual(seen, [
      { ev: "disconnecting", rooms: [s.id, "d1", "d2"], reason: "client namespace disconnect" },
      { ev: "disconnect", rooms: [], reason: "client namespace disconnect" },
    ]);
    const { rooms, sids } = h.io.sockets.adapter;
    assert.equal(rooms.has("d1") || rooms.has("d2") || rooms.has(s.id), false);
    assert.equal(sids.has(s.id), false);
    s.join("after");
    assert.equal(rooms.has("after"), false, "no join after disconnect");
  });

  test("a broadcast emitted just before a server-side disconnect still arrives, then the disconnect", async () => {
    const [a, b] = await Promise.all([h.connected(), h.connected()]);
    const log = record(a);
    server(a).join("bye");
    server(b).join("bye"); // two members: the room goes out by native publish
    h.io.to("bye").emit("last words");
    const reason = once<[string]>(a, "disconnect");
    server(a).disconnect();
    assert.equal((await reason)[0], "io server disconnect");
    assert.deepEqual(
      log.map(([ev]) => ev),
      ["last words"],
    );
    const bGone = once(server(b), "disconnect");
    b.disconnect();
    await bGone;
  });

  test("adapter maps and events follow Socket.IO's order and arguments", async () => {
    const adapter = h.io.sockets.adapter;
    const log: string[] = [];
    const on =
      (ev: string) =>
      (...args: string[]) =>
        log.push([ev, ...args].join(" "));
    const evs = ["create-room", "join-room", "leave-room", "delete-room"] as const;
    const listeners = evs.map((ev) => [ev, on(ev)] as const);
    listeners.forEach(([ev, fn]) => adapter.on(ev, fn));
    const a = await h.connected();
    const s = server(a);
    s.join("m1");
    s.join("m1"); // re-join: no event
    s.join(["m1", "m2"]);
    assert.deepEqual([...adapter.rooms.get("m1")!], [s.id]);
    assert.deepEqual([...adapter.sids.get(s.id)!], [s.id, "m1", "m2"]);
    s.leave("m1");
    s.leave("never-joined");
    const gone = once(s, "disconnect");
    a.disconnect();
    await gone;
    listeners.forEach(([ev, fn]) => adapter.off(ev, fn));
    const id = s.id;
    assert.deepEqual(log, [
      `create-room ${id}`,
      `join-room ${id} ${id}`,
      "create-room m1",
      `join-room m1 ${id}`,
      "create-room m2",
      `join-room m2 ${id}`,
      `leave-room m1 ${id}`,
      "delete-room m1",
      `leave-room ${id} ${id}`,
      `delete-room ${id}`,
      `leave-room m2 ${id}`,
      "delete-room m2",
    ]);
  });

  test("invalid room names are a TypeError, not a silent no-op", async () => {
    const a = await h.connected();
    const s = server(a);
    for (const bad of ["", Number.NaN, Number.POSITIVE_INFINITY, null, undefined, {}, "x\x1fy", "r".repeat(1025)]) {
      assert.throws(() => s.join(bad as string), TypeError);
      assert.throws(() => s.join(["ok", bad as string]), TypeError);
      assert.throws(() => h.io.to(bad as string), TypeError);
      assert.throws(() => h.io.except(bad as string), TypeError);
      assert.throws(() => s.leave(bad as string), TypeError);
    }
    assert.deepEqual([...s.rooms], [s.id], "a rejected join list joins nothing");
    a.disconnect();
  });

  test("reserved event names cannot be emitted", async () => {
    assert.throws(() => h.io.emit("disconnect"), /reserved/);
    assert.throws(() => h.io.to("x").emit("connect"), /reserved/);
  });

  test("namespaces are isolated: same room name, separate members", async () => {
    const admin = h.io.of("/admin");
    const a = await h.connected("/");
    const b = await h.connected("/admin");
    const [la, lb] = [record(a), record(b)];
    server(a).join("shared");
    server(b, "/admin").join("shared");
    h.io.to("shared").emit("main");
    admin.to("shared").emit("admin");
    admin.emit("admin-all");
    await barrier(h, [a]);
    await barrier(h, [b], "/admin");
    assert.deepEqual(
      la.map(([e]) => e),
      ["main", "__barrier"],
    );
    assert.deepEqual(
      lb.map(([e]) => e),
      ["admin", "admin-all", "__barrier"],
    );
    a.disconnect();
    b.disconnect();
  });

  test("utilities: fetchSockets, socketsJoin, socketsLeave, disconnectSockets", async () => {
    const nsp = h.io.of("/util");
    const clients = await Promise.all([1, 2, 3].map(() => h.connected("/util")));
    const [s0, s1, s2] = clients.map((c) => server(c, "/util"));
    s0.join("f");
    s1.join("f");
    const inF = (await nsp.in("f").fetchSockets()) as Socket[];
    assert.deepEqual(inF.map((s) => s.id).sort(), [s0.id, s1.id].sort());
    nsp.in("f").socketsJoin(["g", "h"]);
    assert.deepEqual([...nsp.adapter.rooms.get("g")!].sort(), [s0.id, s1.id].sort());
    nsp.except("f").socketsJoin("g");
    assert.equal(nsp.adapter.rooms.get("g")!.size, 3);
    nsp.in("g").except("f").socketsLeave("g");
    assert.deepEqual([...nsp.adapter.rooms.get("g")!].sort(), [s0.id, s1.id].sort());
    assert.deepEqual([...(await nsp.in("h").allSockets())].sort(), [s0.id, s1.id].sort());
    const reasons = [once(clients[0], "disconnect"), once(clients[1], "disconnect")];
    nsp.in("f").disconnectSockets();
    const [[r0], [r1]] = await Promise.all(reasons);
    assert.equal(r0, "io server disconnect");
    assert.equal(r1, "io server disconnect");
    assert.equal(clients[2].connected, true);
    assert.equal(nsp.sockets.size, 1);
    assert.equal(s2.connected, true);
    clients[2].disconnect();
  });
});
