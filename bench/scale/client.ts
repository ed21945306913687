// A load-client process of bench:scale (bench/scale/run.ts), forked with an IPC channel: up to ~19,000
// raw TCP WebSocket connections (the fd limit is 20,000 per process) speaking just enough Engine.IO
// / Socket.IO: upgrade, open `0…` → `40`, `40{"sid"…}` = connected, ping `2` → pong `3`. Source
// addresses rotate over 127.0.0.2… so that 100k connections to one port do not run out of
// ephemeral ports. Every event `42["m","<seq>|<t>"]` is checked against the plan (scale-plan.ts):
// wrong recipient, duplicate, stray; missing ones are counted at the report. Latency (receipt −
// emit stamp, one monotonic clock) and pings received go into per-second histograms.
//
// IPC in:  init {cids:[from,to), seed, port, addrs, concurrency}; connect; begin {t0Us, maxSeq};
//          report {sent}; close
// IPC out: up; progress {ready, failed}; connected {ready, failed, examples}; report {...}
import net from "node:net";
import { nowUs } from "../lib/plan.ts";
import { BINS, binOf, KINDS, kindOf, roomName, roomsOf, targetsOf } from "./plan.ts";
import { acceptKey, newFrameHeader, newKey, readFrame, textFrame, upgradeRequest } from "../lib/ws-frame.ts";

const CONNECTING = 0;
const AWAIT_OPEN = 1;
const AWAIT_CONNECT = 2;
const READY = 3;
const CLOSED = 4;

interface Conn {
  cid: number;
  rooms: number[];
  sock: net.Socket | null;
  state: number;
  key: string;
  buf: Buffer | null;
  attempts: number;
}

const counters = { valid: 0, dup: 0, wrong: 0, stray: 0, proto: 0, closed: 0 };
const examples: string[] = [];
const example = (s: string): void => void (examples.length < 8 && examples.push(s));

let conns: Conn[] = [];
let port = 0;
let addrs = 1;
let concurrency = 100;
let next = 0;
let inflight = 0;
let ready = 0;
let failed = 0;
let connectedReported = false;
let closing = false;
// The measured phase: t0 (µs), received bitmaps per connection, per-second histograms.
let t0Us = 0;
let maxSeq = 0;
let stride = 0;
let seen: Uint8Array = new Uint8Array(0);
let targetsBySeq: (number[] | null)[] = [];
const latBySecond: Uint32Array[] = [];
const latByKind = new Map(KINDS.map((k) => [k, new Uint32Array(BINS)]));
const pingsBySecond: number[] = [];

const send = (m: object): void => void process.send?.(m);

const PONG = textFrame("3");
const CONNECT = textFrame("40");
const h = newFrameHeader();

function startMore(): void {
  while (!closing && inflight < concurrency && next < conns.length) {
    inflight++;
    open(conns[next++]!);
  }
  if (!connectedReported && ready + failed === conns.length) {
    connectedReported = true;
    send({ type: "connected", ready, failed, examples: examples.splice(0) });
  }
}

function open(c: Conn): void {
  c.attempts++;
  c.state = CONNECTING;
  c.buf = null;
  c.key = newKey();
  const sock = net.connect({ host: "127.0.0.1", port, localAddress: `127.0.0.${2 + (c.cid % addrs)}` });
  c.sock = sock;
  sock.setNoDelay(true);
  sock.on("connect", () =>
    sock.write(upgradeRequest(`/socket.io/?EIO=4&transport=websocket&rooms=${c.rooms.map(roomName).join(",")}`, `127.0.0.1:${port}`, c.key)),
  );
  sock.on("data", (chunk: Buffer) => onData(c, chunk));
  sock.on("error", (err) => lost(c, err.message));
  sock.on("close", () => lost(c, "closed"));
}

function lost(c: Conn, why: string): void {
  if (c.state === CLOSED) return;
  const was = c.state;
  c.state = CLOSED;
  c.sock?.destroy();
  c.sock = null;
  if (closing) return;
  if (was === READY) {
    counters.closed++;
    example(`cid ${c.cid}: closed during the run: ${why}`);
    return;
  }
  inflight--;
  if (c.attempts < 3) {
    inflight++;
    setTimeout(() => open(c), 200 * c.attempts);
    return;
  }
  failed++;
  example(`cid ${c.cid}: connect failed after ${c.attempts} attempts: ${why}`);
  startMore();
}

function onData(c: Conn, chunk: Buffer): void {
  const buf = c.buf ? Buffer.concat([c.buf, chunk]) : chunk;
  c.buf = null;
  let off = 0;
  if (c.state === CONNECTING) {
    const end = buf.indexOf("\r\n\r\n");
    if (end < 0) {
      c.buf = buf;
      return;
    }
    const head = buf.toString("latin1", 0, end);
    if (!head.startsWith("HTTP/1.1 101") || !head.includes(acceptKey(c.key))) return lost(c, `upgrade refused: ${head.split("\r\n")[0]}`);
    c.state = AWAIT_OPEN;
    off = end + 4;
  }
  while (readFrame(buf, off, h)) {
    const { opcode: op, start, end } = h;
    off = end;
    if (op === 1) {
      // The hot frames are read from the bytes: the event `42["m","<seq>|<t>"]` and the ping `2`.
      if (end - start > 12 && startsWithEvent(buf, start)) onEvent(c, buf, start + 8, end);
      else onText(c, buf.toString("latin1", start, end));
    } else if (op === 8) return lost(c, "close frame");
    if (c.state === CLOSED) return;
  }
  if (off < buf.length) c.buf = buf.subarray(off);
}

const EVENT_PREFIX = Buffer.from('42["m","');
function startsWithEvent(buf: Buffer, at: number): boolean {
  for (let i = 0; i < EVENT_PREFIX.length; i++) if (buf[at + i] !== EVENT_PREFIX[i]) return false;
  return true;
}

function secondOf(us: number): number {
  return Math.floor((us - t0Us) / 1e6);
}

function onText(c: Conn, text: string): void {
  if (text === "2") {
    c.sock?.write(PONG);
    if (t0Us > 0) {
      const s = secondOf(nowUs());
      if (s >= 0) pingsBySecond[s] = (pingsBySecond[s] ?? 0) + 1;
    }
    return;
  }
  if (c.state === AWAIT_OPEN && text[0] === "0") {
    c.state = AWAIT_CONNECT;
    c.sock?.write(CONNECT);
    return;
  }
  if (c.state === AWAIT_CONNECT && text.startsWith("40{")) {
    c.state = READY;
    inflight--;
    ready++;
    if (ready % 1000 === 0) send({ type: "progress", ready, failed });
    startMore();
    return;
  }
  counters.proto++;
  example(`cid ${c.cid}: unexpected ${text.slice(0, 40)}`);
}

/** Reads `<seq>|<t>"]` from buf[at, end). */
function onEvent(c: Conn, buf: Buffer, at: number, end: number): void {
  let seq = 0;
  let t = 0;
  let p = at;
  for (; p < end && buf[p] !== 0x7c; p++) seq = seq * 10 + buf[p]! - 48;
  for (p++; p < end && buf[p] !== 0x22; p++) t = t * 10 + buf[p]! - 48;
  if (!(seq >= 0 && seq < maxSeq) || t0Us === 0) {
    counters.stray++;
    return example(`cid ${c.cid}: stray ${buf.toString("latin1", at, end)}`);
  }
  const targets = targetsBySeq[seq]!;
  if (targets && !targets.some((r) => c.rooms.includes(r))) {
    counters.wrong++;
    return example(`cid ${c.cid}: seq ${seq} is not for it`);
  }
  const i = (c.cid - conns[0]!.cid) * stride + (seq >> 3);
  if (seen[i]! & (1 << (seq & 7))) {
    counters.dup++;
    return example(`cid ${c.cid}: seq ${seq} twice`);
  }
  seen[i]! |= 1 << (seq & 7);
  counters.valid++;
  const bin = binOf(nowUs() - t);
  const s = Math.max(0, secondOf(t));
  (latBySecond[s] ??= new Uint32Array(BINS))[bin]!++;
  latByKind.get(kindOf(seq))![bin]!++;
}

function report(sent: number): object {
  let expected = 0;
  let missing = 0;
  for (const c of conns) {
    if (c.state !== READY) continue;
    const base = (c.cid - conns[0]!.cid) * stride;
    for (let seq = 0; seq < sent; seq++) {
      const targets = targetsOf(seq);
      if (targets && !targets.some((r) => c.rooms.includes(r))) continue;
      expected++;
      if (!(seen[base + (seq >> 3)]! & (1 << (seq & 7)))) {
        missing++;
        if (missing <= 3) example(`cid ${c.cid}: missing seq ${seq}`);
      }
    }
  }
  const sparse = (h: Uint32Array | undefined) => (h ? [...h.entries()].filter(([, n]) => n > 0) : []);
  return {
    type: "report",
    ...counters,
    expected,
    missing,
    connected: conns.filter((c) => c.state === READY).length,
    latBySecond: Array.from({ length: latBySecond.length }, (_, s) => sparse(latBySecond[s])),
    latByKind: Object.fromEntries(KINDS.map((k) => [k, sparse(latByKind.get(k))])),
    pingsBySecond: Array.from({ length: pingsBySecond.length }, (_, s) => pingsBySecond[s] ?? 0),
    examples: examples.splice(0),
  };
}

process.on("disconnect", () => process.exit(0));
process.on("message", (raw: unknown) => {
  const m = raw as {
    cmd: string;
    id?: number;
    cids?: [number, number];
    seed?: number;
    port?: number;
    addrs?: number;
    concurrency?: number;
    t0Us?: number;
    maxSeq?: number;
    sent?: number;
  };
  switch (m.cmd) {
    case "init":
      port = m.port!;
      addrs = m.addrs!;
      concurrency = m.concurrency!;
      conns = [];
      for (let cid = m.cids![0]; cid < m.cids![1]; cid++)
        conns.push({ cid, rooms: roomsOf(cid, m.seed!), sock: null, state: CONNECTING, key: "", buf: null, attempts: 0 });
      send({ type: "ok", id: m.id });
      return;
    case "connect":
      startMore();
      return;
    case "begin":
      maxSeq = m.maxSeq!;
      stride = (maxSeq + 7) >> 3;
      seen = new Uint8Array(conns.length * stride);
      targetsBySeq = Array.from({ length: maxSeq }, (_, q) => targetsOf(q));
      t0Us = m.t0Us!;
      send({ type: "ok", id: m.id });
      return;
    case "count":
      send({ type: "count", id: m.id, valid: counters.valid });
      return;
    case "report":
      send({ ...report(m.sent!), id: m.id });
      return;
    case "close":
      closing = true;
      for (const c of conns) c.sock?.destroy();
      process.exit(0);
  }
});
send({ type: "up" });
