// Load-client process of the end-to-end benchmark (started by bench/e2e/run.ts over IPC).
// Raw node:net sockets with a minimal WebSocket client: HTTP upgrade with Sec-WebSocket-Key
// (and Sec-WebSocket-Accept checked), masked client frames, a minimal unmasked-frame parser
// that reads seq/time straight from the bytes. For Socket.IO-protocol servers: Engine.IO open,
// namespace connect `40` -> `40{"sid":..}`, ping `2` -> pong `3`.
// Mode "polling": Engine.IO long-polling only, never upgraded (bench/e2e/polling-link.ts), the
// same Socket.IO packets read from each poll answer's payload; only the connections with a client
// id below the connect command's `limit` take part.
// Every receipt is checked against the shared plan: duplicates, wrong recipients, out-of-order
// and (at the end) missing deliveries are counted per connection.
// With `deflate` (--deflate) the WebSocket upgrade offers permessage-deflate and compressed
// messages (RSV1) are inflated before they are read (bench/e2e/inflate.ts).
import net from "node:net";
import { MessageInflater, negotiatedDeflate } from "./inflate.ts";
import { TARGET_COUNT, assignRooms, connectPath, nowUs, targetFor, targetMask, type ClientMode, type Selector } from "../lib/plan.ts";
import { PollingLink } from "./polling-link.ts";
import { acceptKey, encodeFrame, newFrameHeader, newKey, readFrame, upgradeRequest } from "../lib/ws-frame.ts";

type Mode = ClientMode;
export type ClientCmd =
  | { id: number; cmd: "init"; cids: number[]; n: number; seed: number; addrs: number }
  | {
      id: number;
      cmd: "connect";
      port: number;
      mode: Mode;
      concurrency: number;
      /** Connections allowed to start now (default all); more with "allow". */
      allowed?: number;
      /** Report {type:"progress", ready} every this many ready connections (0: never). */
      progressEvery?: number;
      /** Only the connections with a client id below this take part (default all). */
      limit?: number;
      /** Offer permessage-deflate in the WebSocket upgrade (and inflate what comes compressed). */
      deflate?: boolean;
    }
  | { id: number; cmd: "allow"; count: number }
  | { id: number; cmd: "begin"; sel: Selector; base: number; total: number; m: number; latency: boolean; stallMs: number }
  | { id: number; cmd: "sent"; b: number }
  | { id: number; cmd: "stats" }
  | { id: number; cmd: "disconnect" }
  | { id: number; cmd: "exit" };

const h = newFrameHeader();
const S_CONNECTING = 0;
const S_UPGRADING = 1;
const S_AWAIT_OPEN = 2;
const S_AWAIT_CONNECT = 3;
const S_READY = 4;
const S_CLOSED = 5;

interface Conn {
  idx: number;
  cid: number;
  mask: number;
  tmask: number; // bit t = member of target t
  sock: net.Socket | null;
  /** Mode "polling": the HTTP link (sock is then its poll socket). */
  link: PollingLink | null;
  state: number;
  key: string;
  hbuf: Buffer | null; // HTTP response bytes so far
  buf: Buffer | null; // partial frame bytes
  frag: Buffer[] | null;
  fragOp: number;
  fragRsv1: boolean;
  /** Set when the server accepted permessage-deflate for this connection. */
  inflater: MessageInflater | null;
  lastSeq: number;
  attempts: number;
}

interface ScenarioState {
  sel: Selector;
  base: number;
  total: number;
  m: number;
  latency: boolean;
  stallMs: number;
  stride: number; // bytes of received-bitmap per connection
  bits: Uint8Array;
  burstExpected: Int32Array;
  burstValid: Int32Array;
  burstReported: Uint8Array;
  burstSent: Uint8Array;
  sentAt: Float64Array;
  waiting: Set<number>;
  cpu0: number;
  cpuLast: number; // process CPU when the latest burst was complete (client CPU excludes stats/grace)
}

const counters = {
  valid: 0,
  dup: 0,
  wrong: 0,
  ooo: 0,
  stray: 0,
  proto: 0,
  closed: 0,
  /** Messages that came compressed (RSV1), and their bytes on the wire and inflated. */
  inflated: 0,
  wireBytes: 0,
  plainBytes: 0,
};
const examples: string[] = [];
function example(s: string): void {
  if (examples.length < 12) examples.push(s);
}

let conns: Conn[] = [];
/** The connections taking part since the last connect command (all, or those below its limit). */
let live: Conn[] = [];
let addrs = 1;
let mode: Mode = "raw";
let port = 0;
let deflate = false;
let sc: ScenarioState | null = null;
let lastDataAt = 0; // performance.now() of the last data event
let chunkUs = 0; // receive time of the chunk being parsed (latency mode only)
let lat = new Float64Array(1 << 16);
let latN = 0;
let disconnecting = false;
let memberCount = new Int32Array(TARGET_COUNT);
let stallTimer: NodeJS.Timeout | null = null;

function send(msg: object): void {
  process.send?.(msg);
}

function cpuUs(): number {
  const c = process.cpuUsage();
  return c.user + c.system;
}

const TEXT_40 = Buffer.from("40");
const TEXT_3 = Buffer.from("3");

function sendText(c: Conn, text: Buffer): void {
  if (c.link) c.link.send(text.toString());
  else c.sock?.write(encodeFrame({ opcode: 0x1, payload: text }));
}

// ---- connection setup --------------------------------------------------------------------
let connectDone: ((ok: number, failed: number) => void) | null = null;
let pendingStart = 0; // next conn index to start
let inflight = 0;
let readyCount = 0;
let failedCount = 0;
let concurrency = 64;
let lastReadyUs = 0;
let allowed = 0; // connections allowed to start (the probe is paced by the bulk clients' progress)
let progressEvery = 0;

function startNext(): void {
  while (inflight < concurrency && pendingStart < Math.min(allowed, live.length)) {
    const c = live[pendingStart++]!;
    inflight++;
    openConn(c);
  }
  if (connectDone && readyCount + failedCount === live.length) {
    const done = connectDone;
    connectDone = null;
    done(readyCount, failedCount);
  }
}

function connFailed(c: Conn, why: string): void {
  if (c.state === S_CLOSED) return;
  const wasReady = c.state === S_READY;
  c.state = S_CLOSED;
  c.inflater = null;
  c.link?.destroy();
  c.link = null;
  c.sock?.destroy();
  c.sock = null;
  if (wasReady) {
    if (!disconnecting) {
      counters.closed++;
      example(`cid ${c.cid}: connection closed during the run: ${why}`);
    }
    return;
  }
  inflight--;
  if (c.attempts < 3 && !disconnecting) {
    // transient connect failure (e.g. a full accept queue): retry this connection
    setTimeout(() => {
      inflight++;
      c.state = S_CONNECTING;
      openConn(c);
    }, 100 * c.attempts);
    return;
  }
  failedCount++;
  example(`cid ${c.cid}: connect failed after ${c.attempts} attempts: ${why}`);
  startNext();
}

function connReady(c: Conn): void {
  c.state = S_READY;
  inflight--;
  readyCount++;
  lastReadyUs = nowUs();
  if (progressEvery > 0 && (readyCount % progressEvery === 0 || readyCount === live.length)) send({ type: "progress", ready: readyCount });
  startNext();
}

function openConn(c: Conn): void {
  c.attempts++;
  c.hbuf = null;
  c.buf = null;
  c.frag = null;
  c.inflater = null;
  if (mode === "polling") return openPolling(c);
  c.key = newKey();
  const sock = net.connect({ host: "127.0.0.1", port, localAddress: `127.0.0.${1 + (c.cid % addrs)}` });
  c.sock = sock;
  sock.setNoDelay(true);
  sock.on("connect", () => {
    c.state = S_UPGRADING;
    const extensions = deflate ? ["Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"] : [];
    sock.write(upgradeRequest(connectPath(mode, c.cid, c.mask), `127.0.0.1:${port}`, c.key, extensions));
  });
  sock.on("data", (chunk: Buffer) => onData(c, chunk));
  sock.on("error", (err) => connFailed(c, err.message));
  sock.on("close", () => connFailed(c, "socket closed"));
}

function openPolling(c: Conn): void {
  c.state = S_UPGRADING;
  const link: PollingLink = new PollingLink(port, `127.0.0.${1 + (c.cid % addrs)}`, connectPath("polling", c.cid, c.mask), {
    onOpen(body) {
      let sid: unknown;
      try {
        sid = body[0] === 0x30 ? (JSON.parse(body.toString("utf8", 1)) as { sid?: unknown }).sid : undefined;
      } catch {
        sid = undefined;
      }
      if (typeof sid !== "string") return connFailed(c, `bad polling handshake: ${body.toString("latin1", 0, 80)}`);
      c.state = S_AWAIT_OPEN;
      onMessage(c, body, 0, body.length); // the open packet: sends `40`
      link.opened(sid);
    },
    onPayload(body) {
      lastDataAt = performance.now();
      if (sc?.latency) chunkUs = nowUs();
      let start = 0;
      while (start <= body.length && c.state !== S_CLOSED) {
        let end = body.indexOf(0x1e, start);
        if (end < 0) end = body.length;
        onMessage(c, body, start, end);
        start = end + 1;
      }
    },
    onFail: (why) => connFailed(c, why),
  });
  c.link = link;
  link.start();
  c.sock = link.socket;
}

function onHttp(c: Conn, chunk: Buffer): Buffer | null {
  const all: Buffer = c.hbuf ? Buffer.concat([c.hbuf, chunk]) : chunk;
  const end = all.indexOf("\r\n\r\n");
  if (end < 0) {
    if (all.length > 16384) connFailed(c, "oversized HTTP response");
    else c.hbuf = all;
    return null;
  }
  c.hbuf = null;
  const head = all.subarray(0, end).toString("latin1");
  if (!head.startsWith("HTTP/1.1 101")) {
    connFailed(c, `upgrade refused: ${head.split("\r\n")[0]}`);
    return null;
  }
  const m = /\r\nsec-websocket-accept:\s*([^\r\n]+)/i.exec(head);
  if (!m || m[1]!.trim() !== acceptKey(c.key)) {
    connFailed(c, "bad Sec-WebSocket-Accept");
    return null;
  }
  const ext = /\r\nsec-websocket-extensions:\s*([^\r\n]+)/i.exec(head)?.[1];
  if (ext !== undefined) {
    const agreed = deflate ? negotiatedDeflate(ext) : null;
    if (agreed === null) {
      counters.proto++;
      example(`cid ${c.cid}: extensions the client did not offer or cannot use: ${ext}`);
      connFailed(c, "unusable Sec-WebSocket-Extensions");
      return null;
    }
    c.inflater = new MessageInflater(agreed);
  }
  if (mode === "raw") connReady(c);
  else c.state = S_AWAIT_OPEN;
  return all.subarray(end + 4);
}

// ---- frame parser --------------------------------------------------------------------------
function onData(c: Conn, chunk: Buffer): void {
  lastDataAt = performance.now();
  if (c.state < S_AWAIT_OPEN) {
    const rest = onHttp(c, chunk);
    if (!rest || rest.length === 0) return;
    chunk = rest;
  }
  if (sc?.latency) chunkUs = nowUs();
  const buf = c.buf ? Buffer.concat([c.buf, chunk]) : chunk;
  c.buf = null;
  const len = buf.length;
  let off = 0;
  while (readFrame(buf, off, h)) {
    if (h.masked) {
      counters.proto++;
      example(`cid ${c.cid}: masked frame from server`);
      connFailed(c, "masked server frame");
      return;
    }
    const { b0, opcode, rsv1, start, end } = h;
    off = end;
    if (b0 & 0x30 || (rsv1 && (c.inflater === null || opcode === 0 || opcode >= 0x8))) {
      counters.proto++;
      example(`cid ${c.cid}: reserved bits 0x${(b0 & 0x70).toString(16)} on opcode ${opcode} (permessage-deflate ${c.inflater ? "on" : "off"})`);
      connFailed(c, "reserved bits set");
      return;
    }
    if ((b0 & 0x80) === 0 || opcode === 0) {
      // fragmented message (the servers here do not fragment, but be correct)
      if (opcode !== 0) {
        c.frag = [Buffer.from(buf.subarray(start, end))];
        c.fragOp = opcode;
        c.fragRsv1 = rsv1;
      } else if (c.frag) {
        c.frag.push(Buffer.from(buf.subarray(start, end)));
        if (b0 & 0x80) {
          const whole = Buffer.concat(c.frag);
          c.frag = null;
          if (c.fragRsv1) onCompressed(c, c.fragOp, whole, 0, whole.length);
          else onFrame(c, c.fragOp, whole, 0, whole.length);
          if (c.state === S_CLOSED) return;
        }
      } else {
        counters.proto++;
        example(`cid ${c.cid}: continuation frame without a start`);
      }
      continue;
    }
    if (rsv1) onCompressed(c, opcode, buf, start, end);
    else onFrame(c, opcode, buf, start, end);
    if (c.state === S_CLOSED) return;
  }
  if (off < len) c.buf = buf.subarray(off);
}

/** A compressed data message (RSV1): inflated, then read as any other. */
function onCompressed(c: Conn, opcode: number, buf: Buffer, start: number, end: number): void {
  let plain: Buffer;
  try {
    plain = c.inflater!.inflate(buf.subarray(start, end));
  } catch (err) {
    counters.proto++;
    example(`cid ${c.cid}: cannot inflate a ${end - start}-byte message: ${(err as Error).message}`);
    connFailed(c, "bad compressed message");
    return;
  }
  counters.inflated++;
  counters.wireBytes += end - start;
  counters.plainBytes += plain.length;
  onFrame(c, opcode, plain, 0, plain.length);
}

function onFrame(c: Conn, opcode: number, buf: Buffer, start: number, end: number): void {
  switch (opcode) {
    case 0x1:
    case 0x2:
      onMessage(c, buf, start, end);
      return;
    case 0x8:
      if (!disconnecting) {
        const code = end - start >= 2 ? buf.readUInt16BE(start) : 0;
        example(`cid ${c.cid}: server sent close ${code}`);
      }
      c.sock?.end(encodeFrame({ opcode: 0x8, payload: Buffer.from(buf.subarray(start, Math.min(end, start + 2))) }));
      connFailed(c, "close frame from server");
      return;
    case 0x9:
      c.sock?.write(encodeFrame({ opcode: 0xa, payload: Buffer.from(buf.subarray(start, end)) }));
      return;
    case 0xa:
      return;
    default:
      counters.proto++;
      example(`cid ${c.cid}: unknown opcode ${opcode}`);
  }
}

// '42["m","'
const P0 = 0x34,
  P1 = 0x32,
  P2 = 0x5b,
  P3 = 0x22,
  P4 = 0x6d,
  P5 = 0x22,
  P6 = 0x2c,
  P7 = 0x22;
const BAR = 0x7c;

function onMessage(c: Conn, buf: Buffer, start: number, end: number): void {
  const n = end - start;
  if (
    n > 10 &&
    buf[start] === P0 &&
    buf[start + 1] === P1 &&
    buf[start + 2] === P2 &&
    buf[start + 3] === P3 &&
    buf[start + 4] === P4 &&
    buf[start + 5] === P5 &&
    buf[start + 6] === P6 &&
    buf[start + 7] === P7
  ) {
    let p = start + 8;
    let seq = 0;
    let ch = 0;
    while (p < end && (ch = buf[p]!) !== BAR) {
      if (ch < 48 || ch > 57) break;
      seq = seq * 10 + (ch - 48);
      p++;
    }
    if (ch !== BAR || p === start + 8) {
      counters.proto++;
      example(`cid ${c.cid}: unparsable payload ${buf.toString("latin1", start, Math.min(end, start + 40))}`);
      return;
    }
    let tUs = 0;
    if (sc?.latency) {
      p++;
      while (p < end && buf[p] !== BAR) p++; // tag
      p++;
      while (p < end && (ch = buf[p]!) !== BAR) {
        tUs = tUs * 10 + (ch - 48);
        p++;
      }
    }
    receive(c, seq, tUs);
    return;
  }
  if (mode === "raw") {
    counters.proto++;
    example(`cid ${c.cid}: unexpected message ${buf.toString("latin1", start, Math.min(end, start + 40))}`);
    return;
  }
  const t0 = buf[start];
  if (n === 1 && t0 === 0x32) {
    sendText(c, TEXT_3); // Engine.IO ping -> pong
  } else if (mode === "polling" && n === 1 && t0 === 0x36) {
    // Engine.IO noop: a poll released empty
  } else if (mode === "polling" && n === 1 && t0 === 0x31) {
    if (!disconnecting) example(`cid ${c.cid}: the server closed the polling session`);
    connFailed(c, "close packet from server");
  } else if (t0 === 0x30 && c.state === S_AWAIT_OPEN) {
    c.state = S_AWAIT_CONNECT; // Engine.IO open; connect to the main namespace
    sendText(c, TEXT_40);
  } else if (n >= 3 && t0 === 0x34 && buf[start + 1] === 0x30 && c.state === S_AWAIT_CONNECT) {
    const text = buf.toString("utf8", start + 2, end);
    let sid: unknown;
    try {
      sid = (JSON.parse(text) as { sid?: unknown }).sid;
    } catch {
      sid = undefined;
    }
    if (typeof sid !== "string") {
      counters.proto++;
      example(`cid ${c.cid}: CONNECT reply without sid: ${text.slice(0, 60)}`);
      connFailed(c, "CONNECT reply without sid");
      return;
    }
    connReady(c);
  } else {
    counters.proto++;
    example(`cid ${c.cid}: unexpected packet ${buf.toString("latin1", start, Math.min(end, start + 60))}`);
  }
}

function receive(c: Conn, seq: number, tUs: number): void {
  const s = sc;
  if (s === null) {
    counters.stray++;
    example(`cid ${c.cid}: seq ${seq} outside any scenario`);
    return;
  }
  const j = seq - s.base;
  if (j < 0 || j >= s.total) {
    counters.stray++;
    example(`cid ${c.cid}: seq ${seq} outside the current scenario [${s.base}, ${s.base + s.total})`);
    return;
  }
  const t = targetFor(s.sel, seq);
  if (((c.tmask >> t) & 1) === 0) {
    counters.wrong++;
    example(`cid ${c.cid}: wrong recipient of seq ${seq} (target ${t})`);
    return;
  }
  const byte = c.idx * s.stride + (j >> 3);
  const bit = 1 << (j & 7);
  if (s.bits[byte]! & bit) {
    counters.dup++;
    example(`cid ${c.cid}: duplicate seq ${seq}`);
    return;
  }
  s.bits[byte]! |= bit;
  counters.valid++;
  if (seq < c.lastSeq) {
    counters.ooo++;
    example(`cid ${c.cid}: seq ${seq} after ${c.lastSeq} (out of order)`);
  }
  c.lastSeq = seq;
  if (s.latency) {
    if (latN === lat.length) {
      const bigger = new Float64Array(lat.length * 2);
      bigger.set(lat);
      lat = bigger;
    }
    lat[latN++] = chunkUs - tUs;
  }
  const b = (j / s.m) | 0;
  if (++s.burstValid[b]! === s.burstExpected[b]! && !s.burstReported[b]) {
    s.burstReported[b] = 1;
    s.waiting.delete(b);
    s.cpuLast = cpuUs();
    send({ type: "done", b, t: nowUs(), incomplete: false });
  }
}

function checkStalls(): void {
  const s = sc;
  if (!s || s.waiting.size === 0) {
    if (stallTimer) clearInterval(stallTimer);
    stallTimer = null;
    return;
  }
  const now = performance.now();
  for (const b of [...s.waiting]) {
    if (now - Math.max(lastDataAt, s.sentAt[b]!) > s.stallMs) {
      s.waiting.delete(b);
      s.burstReported[b] = 1;
      send({ type: "done", b, t: 0, incomplete: true, have: s.burstValid[b], want: s.burstExpected[b] });
    }
  }
}

/** The connections that take part from now on, and how many of them each target reaches. */
function useConns(xs: Conn[]): void {
  live = xs;
  memberCount = new Int32Array(TARGET_COUNT);
  for (const c of live) for (let t = 0; t < TARGET_COUNT; t++) if ((c.tmask >> t) & 1) memberCount[t]!++;
}

// ---- IPC ---------------------------------------------------------------------------------
process.on("disconnect", () => process.exit(0));
process.on("message", (raw: unknown) => {
  const msg = raw as ClientCmd;
  switch (msg.cmd) {
    case "init": {
      addrs = msg.addrs;
      const masks = assignRooms(msg.n, msg.seed);
      conns = msg.cids.map((cid, idx) => ({
        idx,
        cid,
        mask: masks[cid]!,
        tmask: targetMask(masks[cid]!, cid),
        sock: null,
        link: null,
        state: S_CONNECTING,
        key: "",
        hbuf: null,
        buf: null,
        frag: null,
        fragOp: 0,
        fragRsv1: false,
        inflater: null,
        lastSeq: -1,
        attempts: 0,
      }));
      useConns(conns);
      send({ id: msg.id, type: "ok" });
      break;
    }
    case "connect": {
      port = msg.port;
      mode = msg.mode;
      deflate = msg.deflate === true;
      concurrency = msg.concurrency;
      const limit = msg.limit;
      useConns(limit === undefined ? conns : conns.filter((c) => c.cid < limit));
      allowed = msg.allowed ?? live.length;
      progressEvery = msg.progressEvery ?? 0;
      disconnecting = false;
      pendingStart = 0;
      inflight = 0;
      readyCount = 0;
      failedCount = 0;
      lastReadyUs = 0;
      for (const c of conns) {
        c.state = S_CONNECTING;
        c.attempts = 0;
        c.lastSeq = -1;
      }
      const cpu0 = cpuUs();
      connectDone = (ok, failed) => send({ id: msg.id, type: "connected", ok, failed, t: lastReadyUs, cpuUs: cpuUs() - cpu0, examples: examples.splice(0) });
      startNext();
      break;
    }
    case "allow":
      allowed = msg.count;
      startNext();
      break;
    case "begin": {
      const stride = (msg.total + 7) >> 3;
      const nb = Math.ceil(msg.total / msg.m);
      const burstExpected = new Int32Array(nb);
      for (let b = 0; b < nb; b++) {
        const hi = Math.min(msg.total, (b + 1) * msg.m);
        let e = 0;
        for (let j = b * msg.m; j < hi; j++) e += memberCount[targetFor(msg.sel, msg.base + j)]!;
        burstExpected[b] = e;
      }
      for (const c of conns) c.lastSeq = -1;
      latN = 0;
      sc = {
        sel: msg.sel,
        base: msg.base,
        total: msg.total,
        m: msg.m,
        latency: msg.latency,
        stallMs: msg.stallMs,
        stride,
        bits: new Uint8Array(conns.length * stride),
        burstExpected,
        burstValid: new Int32Array(nb),
        burstReported: new Uint8Array(nb),
        burstSent: new Uint8Array(nb),
        sentAt: new Float64Array(nb),
        waiting: new Set(),
        cpu0: 0,
        cpuLast: 0,
      };
      sc.cpu0 = sc.cpuLast = cpuUs();
      send({ id: msg.id, type: "begun", expected: Array.from(burstExpected) });
      break;
    }
    case "sent": {
      const s = sc;
      if (!s) break;
      const b = msg.b;
      s.burstSent[b] = 1;
      s.sentAt[b] = performance.now();
      if (!s.burstReported[b]) {
        if (s.burstValid[b]! >= s.burstExpected[b]!) {
          s.burstReported[b] = 1;
          s.cpuLast = cpuUs();
          send({ type: "done", b, t: 0, incomplete: false });
        } else {
          s.waiting.add(b);
          if (!stallTimer) stallTimer = setInterval(checkStalls, 25);
        }
      }
      break;
    }
    case "stats": {
      const s = sc;
      let expected = 0;
      let validSent = 0;
      let cpu = 0;
      if (s) {
        for (let b = 0; b < s.burstExpected.length; b++) {
          if (s.burstSent[b]) {
            expected += s.burstExpected[b]!;
            validSent += s.burstValid[b]!;
          }
        }
        cpu = s.cpuLast - s.cpu0;
      }
      const missing = expected - validSent;
      if (missing > 0 && s) {
        // name a few connections that are short
        let named = 0;
        for (const c of live) {
          if (named >= 3) break;
          for (let j = 0; j < s.total; j++) {
            const b = (j / s.m) | 0;
            if (!s.burstSent[b]) continue;
            if (((c.tmask >> targetFor(s.sel, s.base + j)) & 1) === 0) continue;
            if ((s.bits[c.idx * s.stride + (j >> 3)]! & (1 << (j & 7))) === 0) {
              example(`cid ${c.cid}: missing seq ${s.base + j}`);
              named++;
              break;
            }
          }
        }
      }
      send({
        id: msg.id,
        type: "stats",
        valid: counters.valid,
        expected,
        missing,
        dup: counters.dup,
        wrong: counters.wrong,
        ooo: counters.ooo,
        stray: counters.stray,
        proto: counters.proto,
        closed: counters.closed,
        inflated: counters.inflated,
        wireBytes: counters.wireBytes,
        plainBytes: counters.plainBytes,
        cpuUs: cpu,
        lat: lat.slice(0, latN),
        examples: examples.splice(0),
      });
      for (const k of Object.keys(counters) as (keyof typeof counters)[]) counters[k] = 0;
      sc = null;
      latN = 0;
      if (stallTimer) clearInterval(stallTimer);
      stallTimer = null;
      break;
    }
    case "disconnect": {
      disconnecting = true;
      connectDone = null;
      let open = 0;
      const closeFrame = encodeFrame({ opcode: 0x8, payload: Buffer.from([0x03, 0xe8]) });
      const finish = (): void => {
        for (const c of conns) {
          c.link?.destroy();
          c.link = null;
          c.sock?.destroy();
          c.sock = null;
          c.state = S_CLOSED;
        }
        send({ id: msg.id, type: "disconnected" });
      };
      const timer = setTimeout(finish, 3000);
      for (const c of conns) {
        const sock = c.sock;
        if (!sock || sock.destroyed) continue;
        open++;
        sock.once("close", () => {
          if (--open === 0) {
            clearTimeout(timer);
            finish();
          }
        });
        if (c.link) {
          const link = c.link;
          c.link = null;
          link.close(() => sock.destroy());
        } else if (c.state >= S_AWAIT_OPEN && c.state !== S_CLOSED) sock.end(closeFrame);
        else sock.destroy();
      }
      if (open === 0) {
        clearTimeout(timer);
        finish();
      }
      break;
    }
    case "exit":
      for (const c of conns) {
        c.link?.destroy();
        c.sock?.destroy();
      }
      process.exit(0);
  }
});
send({ type: "up", pid: process.pid });
