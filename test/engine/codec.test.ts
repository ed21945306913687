// The Engine.IO + Socket.IO packet codec (src/engine/codec.ts) on its own: what encodePacket puts
// on the wire, decode(encode(p)) round trips, binary attachments as placeholders plus binary
// frames, and every malformed input answered with a ProtocolError (a seeded fuzz included: no
// other error type may escape, since a TypeError would mean a bug of ours). Pure, milliseconds.
import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeEngine, decodePacket, encodePacket, PacketType, ProtocolError, type Packet } from "../../src/internal.ts";
import { random } from "../helpers/rooms-model.ts";

const text = (p: Packet): string => {
  const frames = encodePacket(p);
  assert.equal(frames[0]!.binary, false);
  return Buffer.from(frames[0]!.data).toString();
};

/** The Socket.IO packet inside an encoded Engine.IO message frame. */
function decodeFrame(frame: Uint8Array): Packet {
  const e = decodeEngine(Buffer.from(frame).toString());
  assert.equal(e.type, "message");
  return decodePacket((e as { body: string }).body);
}

test("codec: encodePacket writes Socket.IO's text format", () => {
  assert.equal(text({ type: PacketType.EVENT, nsp: "/", data: ["hello", 1, { a: "b" }] }), '42["hello",1,{"a":"b"}]');
  assert.equal(text({ type: PacketType.EVENT, nsp: "/chat", data: ["x"] }), '42/chat,["x"]');
  assert.equal(text({ type: PacketType.EVENT, nsp: "/chat", id: 7, data: ["x"] }), '42/chat,7["x"]');
  assert.equal(text({ type: PacketType.ACK, nsp: "/", id: 12, data: [null] }), "4312[null]");
  assert.equal(text({ type: PacketType.CONNECT, nsp: "/admin", data: { sid: "abc" } }), '40/admin,{"sid":"abc"}');
  assert.equal(text({ type: PacketType.DISCONNECT, nsp: "/" }), "41");
  assert.equal(text({ type: PacketType.CONNECT_ERROR, nsp: "/", data: { message: "no" } }), '44{"message":"no"}');
  // toJSON objects (a Date) are left to JSON.stringify, not walked for binaries
  assert.equal(text({ type: PacketType.EVENT, nsp: "/", data: ["d", new Date(0)] }), '42["d","1970-01-01T00:00:00.000Z"]');
});

test("codec: decode(encode(p)) round-trips events and acks, namespaces and ack ids included", () => {
  const packets: Packet[] = [
    { type: PacketType.EVENT, nsp: "/", data: ["a"] },
    { type: PacketType.EVENT, nsp: "/", data: [42, "number event names are allowed"] },
    { type: PacketType.EVENT, nsp: "/deep/nsp", id: 0, data: ["e", { nested: [1, [2, [3]]], s: 'quote " and \\ and ,' }] },
    { type: PacketType.ACK, nsp: "/x", id: 2 ** 31 - 1, data: [] },
    { type: PacketType.CONNECT, nsp: "/", data: { token: "t" } },
    { type: PacketType.CONNECT, nsp: "/x" },
    { type: PacketType.DISCONNECT, nsp: "/x" },
  ];
  for (const p of packets) {
    const frames = encodePacket(p);
    assert.equal(frames.length, 1);
    assert.deepEqual(decodeFrame(frames[0]!.data), { ...p, id: p.id, data: p.data, attachments: undefined }, JSON.stringify(p));
  }
});

test("codec: binaries become numbered placeholders and binary frames, in order, views honoured", () => {
  const buf = Buffer.from([1, 2, 3]);
  const backing = new Uint8Array([9, 9, 4, 5, 6, 9]);
  const view = backing.subarray(2, 5); // only 4, 5, 6
  const ab = new Uint8Array([7, 8]).buffer;
  const dv = new DataView(new Uint8Array([10, 11, 12]).buffer, 1, 1); // only 11
  const frames = encodePacket({ type: PacketType.EVENT, nsp: "/files", id: 3, data: ["upload", buf, { inner: [view, ab] }, { dv, keep: "me" }] });
  assert.equal(frames.length, 5);
  assert.deepEqual(
    frames.slice(1).map((f) => f.binary),
    [true, true, true, true],
  );
  assert.deepEqual(
    frames.slice(1).map((f) => [...f.data]),
    [[1, 2, 3], [4, 5, 6], [7, 8], [11]],
  );
  const head = Buffer.from(frames[0]!.data).toString();
  assert.ok(head.startsWith("454-/files,3["), head);
  const decoded = decodeFrame(frames[0]!.data);
  assert.equal(decoded.type, PacketType.BINARY_EVENT);
  assert.equal(decoded.attachments, 4);
  assert.equal(decoded.nsp, "/files");
  assert.equal(decoded.id, 3);
  const ph = (num: number) => ({ _placeholder: true, num });
  assert.deepEqual(decoded.data, ["upload", ph(0), { inner: [ph(1), ph(2)] }, { dv: ph(3), keep: "me" }]);

  const ack = encodePacket({ type: PacketType.ACK, nsp: "/", id: 1, data: [new Uint8Array([0])] });
  assert.equal(Buffer.from(ack[0]!.data).toString(), '461-1[{"_placeholder":true,"num":0}]');
  assert.equal(decodeFrame(ack[0]!.data).type, PacketType.BINARY_ACK);
});

test("codec: decodeEngine knows Engine.IO's packet types and rejects the rest", () => {
  assert.deepEqual(
    ["2", "3", "1", "6", "5"].map((t) => decodeEngine(t).type),
    ["ping", "pong", "close", "noop", "upgrade"],
  );
  assert.deepEqual(decodeEngine('42["a"]'), { type: "message", body: '2["a"]' });
  for (const bad of ["", "0", "7", "x", "b4AQID"]) assert.throws(() => decodeEngine(bad), ProtocolError, JSON.stringify(bad));
  // A binary message as text (a client with forceBase64): its bytes.
  assert.deepEqual(decodeEngine("bAQID"), { type: "binary", data: Buffer.from([1, 2, 3]) });
});

test("codec: malformed Socket.IO packets throw ProtocolError", () => {
  const malformed = [
    "", // no type
    "9", // unknown type
    "7[]",
    '4{"message":"x"}', // CONNECT_ERROR is server-to-client only
    '5["a"]', // binary event without an attachment count
    '5x-["a"]',
    '51["a"]', // no dash
    '51234-["a"]', // count too long
    '5257-["a"]', // too many attachments (256 at most)
    '22147483648["a"]', // ack id past 2^31 - 1
    '299999999999999999999["a"]', // not a safe integer
    '2["a"', // invalid JSON
    '2/chat,["a"', // invalid JSON after a namespace
    "2{}", // EVENT payload not an array
    "2[]", // EVENT without a name
    "2[null]", // EVENT name neither string nor number
    '2"a"',
    "0[]", // CONNECT payload must be an object
    "0null",
    '1{"a":1}', // DISCONNECT carries nothing
    "3[]", // ACK without an id
    "31{}", // ACK payload not an array
    "61-{}", // BINARY_ACK without an id... and not an array
  ];
  for (const bad of malformed) assert.throws(() => decodePacket(bad), ProtocolError, JSON.stringify(bad));
});

test("codec: random garbage decodes or throws ProtocolError, never anything else (seeded fuzz)", () => {
  const alphabet = ["0", "1", "2", "3", "4", "5", "6", "-", ",", "/", "[", "]", "{", "}", '"', ":", "n", "u", "l", "9", "_", "x", "\\", " "];
  const seeds = ['2["a",1]', '51-["a",{"_placeholder":true,"num":0}]', "3/n,5[{}]", '0/x,{"a":[]}', "1/x,"];
  let decoded = 0;
  for (let seed = 1; seed <= 5000; seed++) {
    const rand = random(seed);
    let s = rand.next() < 0.5 ? rand.pick(seeds) : "";
    // mutate: insert, delete or replace a few characters
    for (let k = 1 + rand.int(4); k > 0; k--) {
      const at = rand.int(s.length + 1);
      const op = rand.int(3);
      const c = rand.pick(alphabet);
      s = op === 0 ? s.slice(0, at) + c + s.slice(at) : op === 1 ? s.slice(0, at) + s.slice(at + 1) : s.slice(0, at) + c + s.slice(at + 1);
    }
    try {
      const p = decodePacket(s);
      decoded++;
      assert.ok(p.type >= 0 && p.type <= 6 && p.type !== PacketType.CONNECT_ERROR, s);
      assert.ok(p.nsp.startsWith("/"), s);
    } catch (err) {
      assert.ok(err instanceof ProtocolError, `${JSON.stringify(s)}: ${String(err)}`);
    }
  }
  assert.ok(decoded > 100, `only ${decoded} of the mutated packets were valid: the fuzz is not reaching the decoder's success paths`);
});
