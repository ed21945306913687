// The cluster's one routing rule (src/cluster/route.ts), as a table: where a worker's broadcast, a
// worker's operation on a selection, and the emitter's broadcast go, for each shape of target.
// Run: node --import tsx --test test/cluster/cluster-route.test.ts
import assert from "node:assert/strict";
import { test } from "node:test";
import { newWorkerId, type Route, type RouteView, routeBroadcast, routeSelection } from "../../src/internal.ts";

const self = newWorkerId();
const [A, B, C] = [newWorkerId(), newWorkerId(), newWorkerId()];
/** A socket id made by worker `w`. */
const sid = (w: string) => w + "s".repeat(21);

/** This worker's view: A and B live and serving "/", C serving it too but timed out; A announced
 *  "x" and "y", B "y", C "z". */
const view: RouteView = {
  self,
  maxRoomSubjects: 3,
  interested(_nsp, rooms, into) {
    const announced: Record<string, string[]> = { [A]: ["x", "y"], [B]: ["y"], [C]: ["z"] };
    for (const [w, held] of Object.entries(announced)) if (rooms.some((r) => held.includes(r as string))) into.add(w);
  },
  serving: () => [A, B],
};

/** A route in a comparable form (sets as sorted arrays). */
function shape(r: Route): unknown {
  if (r.to === "workers") return { to: "workers", workers: [...r.workers].sort() };
  if (r.to === "rooms") return { to: "rooms", rooms: [...r.rooms], owners: [...r.owners] };
  return r;
}

const workers = (...ws: string[]) => ({ to: "workers", workers: ws.sort() });
const namespace = { to: "namespace" };

test("route: a worker's broadcast", () => {
  const table: [string, (string | number)[], unknown][] = [
    ["no room: the namespace", [], namespace],
    ["more rooms than maxRoomSubjects: the namespace", ["a", "b", "c", "d"], namespace],
    ["one room: its subject", ["x"], { to: "rooms", rooms: ["x"], owners: [] }],
    ["one numeric room: its subject", [42], { to: "rooms", rooms: [42], owners: [] }],
    ["one socket id: its owner", [sid(C)], workers(C)],
    ["one of this worker's socket ids: nobody", [sid(self)], workers()],
    ["a union: the interested workers", ["x", "z"], workers(A, C)],
    ["a union nobody holds: nobody", ["p", "q"], workers()],
    ["a union every live peer holds: the namespace", ["y", "q"], namespace],
    ["a socket id and a room, together every live peer: the namespace", [sid(B), "x"], namespace],
    ["a socket id and a room held by one: both", [sid(C), "x"], workers(A, C)],
  ];
  for (const [what, rooms, expected] of table) assert.deepEqual(shape(routeBroadcast("/", rooms, view)), expected, what);
});

test("route: a worker's operation on a selection (join, leave, disconnect)", () => {
  const table: [string, string[], unknown][] = [
    ["no room: the namespace", [], namespace],
    ["a room that is not a socket id: the namespace", ["x"], namespace],
    ["socket ids and a room: the namespace", [sid(A), "x"], namespace],
    ["socket ids only: their owners", [sid(A), sid(C)], workers(A, C)],
    ["socket ids only, every peer named: still each owner", [sid(A), sid(B)], workers(A, B)],
    ["more than maxRoomSubjects socket ids: the namespace", [sid(A), sid(B), sid(C), sid(A)], namespace],
  ];
  for (const [what, rooms, expected] of table) assert.deepEqual(shape(routeSelection("/", rooms, view)), expected, what);
});

test("route: the emitter's broadcast (it knows no interest): rooms' subjects and socket ids' owners", () => {
  const emitter = { maxRoomSubjects: 3 };
  const table: [string, string[], unknown][] = [
    ["no room: the namespace", [], namespace],
    ["more rooms than maxRoomSubjects: the namespace", ["a", "b", "c", "d"], namespace],
    ["rooms: their subjects", ["a", "b"], { to: "rooms", rooms: ["a", "b"], owners: [] }],
    ["a socket id: its subject and its owner", ["a", sid(A)], { to: "rooms", rooms: ["a", sid(A)], owners: [A] }],
  ];
  for (const [what, rooms, expected] of table) assert.deepEqual(shape(routeBroadcast("/", rooms, emitter)), expected, what);
});
