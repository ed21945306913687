// Incremental parser for the client side of the NATS text protocol
// (CONNECT, PUB, HPUB, SUB, UNSUB, PING, PONG). Bytes are decoded as latin1 so
// subjects round-trip byte for byte when the relay writes them back out.

export interface ProtocolHandler {
  connect(json: string): void;
  ping(): void;
  pong(): void;
  /** hdrLen is -1 for PUB. payload (headers + body) is only valid during the call. */
  pub(subject: string, reply: string | undefined, hdrLen: number, payload: Buffer): void;
  sub(subject: string, queue: string | undefined, sid: string): void;
  unsub(sid: string, max: number | undefined): void;
  /** Fatal protocol error: the parser stops; the connection should be closed. */
  error(message: string): void;
}

export interface ParserLimits {
  maxPayload: number;
  maxControlLine: number;
}

export const ERR_PARSER = "Parser Error";
export const ERR_UNKNOWN_OP = "Unknown Protocol Operation";
export const ERR_MAX_PAYLOAD = "Maximum Payload Violation";
export const ERR_MAX_CONTROL_LINE = "Maximum Control Line Exceeded";

const LF = 10;
const CR = 13;

interface PendingPub {
  subject: string;
  reply: string | undefined;
  hdrLen: number;
  size: number;
}

export class Parser {
  private failed = false;
  // Unconsumed input. Kept as parts so a large payload arriving in many chunks
  // is concatenated once, when complete, rather than once per chunk.
  private parts: Buffer[] = [];
  private partsLen = 0;
  private need = 0;
  private pending: PendingPub | null = null;
  private readonly args: string[] = [];

  constructor(
    private readonly handler: ProtocolHandler,
    private readonly limits: ParserLimits,
  ) {}

  feed(chunk: Buffer): void {
    if (this.failed || chunk.length === 0) return;
    let buf = chunk;
    if (this.partsLen > 0) {
      this.parts.push(chunk);
      this.partsLen += chunk.length;
      if (this.partsLen < this.need) return;
      buf = Buffer.concat(this.parts, this.partsLen);
      this.parts = [];
      this.partsLen = 0;
    }

    let pos = 0;
    while (pos < buf.length && !this.failed) {
      const p = this.pending;
      if (p !== null) {
        const end = pos + p.size;
        if (end + 2 > buf.length) break;
        if (buf[end] !== CR || buf[end + 1] !== LF) return this.fail(ERR_PARSER);
        this.pending = null;
        this.handler.pub(p.subject, p.reply, p.hdrLen, buf.subarray(pos, end));
        pos = end + 2;
        continue;
      }
      const nl = buf.indexOf(LF, pos);
      if (nl < 0) {
        if (buf.length - pos > this.limits.maxControlLine) return this.fail(ERR_MAX_CONTROL_LINE);
        break;
      }
      if (nl - pos > this.limits.maxControlLine) return this.fail(ERR_MAX_CONTROL_LINE);
      this.line(buf, pos, nl > pos && buf[nl - 1] === CR ? nl - 1 : nl);
      pos = nl + 1;
    }
    if (this.failed || pos >= buf.length) return;
    // Keep the tail; wait for a whole payload, or for any new bytes if mid-line.
    this.parts.push(buf.subarray(pos));
    this.partsLen = buf.length - pos;
    this.need = this.pending !== null ? this.pending.size + 2 : this.partsLen + 1;
  }

  /** Ignore all further input (the connection is closing). */
  stop(): void {
    this.failed = true;
    this.parts = [];
    this.partsLen = 0;
    this.pending = null;
  }

  private fail(message: string): void {
    this.stop();
    this.handler.error(message);
  }

  private line(buf: Buffer, start: number, end: number): void {
    // Op is the first token; CONNECT's argument is JSON and may contain spaces.
    let i = start;
    while (i < end && isSpace(buf[i]!)) i++;
    if (i === end) return; // blank line: tolerated like nats-server
    const opStart = i;
    while (i < end && !isSpace(buf[i]!)) i++;
    const op = buf.toString("latin1", opStart, i).toUpperCase();
    if (op === "CONNECT") return this.handler.connect(buf.toString("utf8", i, end).trim());

    const a = this.tokenize(buf, i, end);
    const h = this.handler;
    switch (op) {
      case "PUB":
        if (a.length === 2) return this.startPub(a[0]!, undefined, "", a[1]!);
        if (a.length === 3) return this.startPub(a[0]!, a[1]!, "", a[2]!);
        return this.fail(ERR_PARSER);
      case "HPUB":
        if (a.length === 3) return this.startPub(a[0]!, undefined, a[1]!, a[2]!);
        if (a.length === 4) return this.startPub(a[0]!, a[1]!, a[2]!, a[3]!);
        return this.fail(ERR_PARSER);
      case "SUB":
        if (a.length === 2) return h.sub(a[0]!, undefined, a[1]!);
        if (a.length === 3) return h.sub(a[0]!, a[1]!, a[2]!);
        return this.fail(ERR_PARSER);
      case "UNSUB": {
        if (a.length === 1) return h.unsub(a[0]!, undefined);
        const max = a.length === 2 ? toSize(a[1]!) : -1;
        if (max < 0) return this.fail(ERR_PARSER);
        return h.unsub(a[0]!, max);
      }
      case "PING":
        return h.ping();
      case "PONG":
        return h.pong();
      default:
        return this.fail(ERR_UNKNOWN_OP);
    }
  }

  private startPub(subject: string, reply: string | undefined, hdr: string, total: string): void {
    const size = toSize(total);
    const hdrLen = hdr === "" ? -1 : toSize(hdr);
    if (size < 0 || (hdr !== "" && (hdrLen < 0 || hdrLen > size))) return this.fail(ERR_PARSER);
    if (size > this.limits.maxPayload) return this.fail(ERR_MAX_PAYLOAD);
    this.pending = { subject, reply, hdrLen, size };
  }

  private tokenize(buf: Buffer, start: number, end: number): string[] {
    const a = this.args;
    a.length = 0;
    let i = start;
    while (i < end) {
      while (i < end && isSpace(buf[i]!)) i++;
      if (i === end) break;
      const s = i;
      while (i < end && !isSpace(buf[i]!)) i++;
      a.push(buf.toString("latin1", s, i));
    }
    return a;
  }
}

function isSpace(b: number): boolean {
  return b === 32 || b === 9;
}

/** Non-negative decimal integer, or -1 if the token is not one. */
function toSize(s: string): number {
  if (s.length === 0 || s.length > 15) return -1;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}

/** Subject tokens must be non-empty; `*` and `>` only as whole tokens, `>` only last. */
export function isValidSubscriptionSubject(subject: string): boolean {
  if (subject.length === 0) return false;
  const tokens = subject.split(".");
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.length === 0) return false;
    if (t === ">" && i !== tokens.length - 1) return false;
    if (t.length > 1 && (t.includes("*") || t.includes(">"))) return false;
  }
  return true;
}

export function hasWildcard(subject: string): boolean {
  return subject.includes("*") || subject.includes(">");
}

/** pattern is a split subscription subject, tokens a split published subject. */
export function matchTokens(pattern: readonly string[], tokens: readonly string[]): boolean {
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    if (p === ">") return tokens.length > i;
    if (i >= tokens.length) return false;
    if (p !== "*" && p !== tokens[i]) return false;
  }
  return pattern.length === tokens.length;
}
