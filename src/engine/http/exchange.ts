// One HTTP request of the polling transport while it is open: its uWS response, whether uWS has
// aborted it (uWS terminates the process when a dead response is written to, so every write checks
// `aborted`), and its body, read as it arrives; or a request forwarded from another worker, whose
// response is recorded and sent back (RecordedExchange, ReadBody). Knows no sessions.
import type { HttpResponse } from "../uws.ts";

/** What the polling transport writes a response through: a uWS response, or a recording of one. */
export interface ResponseSink {
  writeStatus(status: string): ResponseSink;
  writeHeader(key: string, value: string): ResponseSink;
  /** `closeConnection`: the connection closes after this response (a refusal). */
  end(body?: string | Uint8Array, closeConnection?: boolean): ResponseSink;
}

/** One request's response, as the polling transport holds it until it answers. */
export interface HttpExchange {
  readonly aborted: boolean;
  /** Whoever holds the response is told when the client goes away. */
  onAbort: (() => void) | null;
  /** Runs `write` (corked), unless the response is dead. */
  write(write: (res: ResponseSink) => void): void;
}

/** A request's body, read or still arriving. */
export interface RequestBody {
  /** Calls `fn` once with the whole body or why it was refused (at once if it is already known). */
  whenRead(fn: (body: Buffer | BodyError) => void): void;
}

export class Exchange implements HttpExchange {
  aborted = false;
  /** Whoever holds the response is told when the client goes away. */
  onAbort: (() => void) | null = null;

  constructor(readonly res: HttpResponse) {
    // Registered before the route handler returns, as uWS requires of a response answered later.
    res.onAborted(() => {
      this.aborted = true;
      const fn = this.onAbort;
      this.onAbort = null;
      fn?.();
    });
  }

  /** Runs `write` corked, unless the response is dead. */
  write(write: (res: HttpResponse) => void): void {
    if (this.aborted) return;
    this.onAbort = null;
    this.res.cork(() => write(this.res));
  }
}

/** Why a body was refused: the status to answer, and what to log. */
export interface BodyError {
  status: string;
  reason: string;
}

/**
 * A request body, read from the moment the request arrives (uWS hands the data to a handler set
 * before the route returns, or drops it). At most `limit` bytes: Content-Length is required and
 * checked before any byte is kept.
 */
export class BodyReader implements RequestBody {
  private body: Buffer | BodyError | null = null;
  private waiting: ((body: Buffer | BodyError) => void) | null = null;

  constructor(ex: Exchange, contentLength: string | undefined, limit: number) {
    const length = Number(contentLength);
    if (contentLength === undefined || !Number.isSafeInteger(length) || length <= 0) {
      this.body = { status: "411 Length Required", reason: "content-length header required" };
      return;
    }
    if (length > limit) {
      this.body = { status: "413 Payload Too Large", reason: `payload of ${length} bytes exceeds maxHttpBufferSize (${limit})` };
      return;
    }
    const buffer = Buffer.allocUnsafe(length);
    let offset = 0;
    ex.res.onData((chunk, isLast) => {
      if (this.body) return;
      if (offset + chunk.byteLength > length) return this.settle({ status: "400 Bad Request", reason: "body longer than its content-length" });
      // The chunk's memory is uWS's and is gone after this call: copy it.
      buffer.set(new Uint8Array(chunk), offset);
      offset += chunk.byteLength;
      if (isLast) this.settle(offset === length ? buffer : { status: "400 Bad Request", reason: "body shorter than its content-length" });
    });
  }

  whenRead(fn: (body: Buffer | BodyError) => void): void {
    if (this.body) fn(this.body);
    else this.waiting = fn;
  }

  private settle(body: Buffer | BodyError): void {
    this.body = body;
    const fn = this.waiting;
    this.waiting = null;
    fn?.(body);
  }
}

export function isBodyError(x: Buffer | BodyError): x is BodyError {
  return !Buffer.isBuffer(x);
}

/** A body already read (by the worker that received a forwarded request). */
export class ReadBody implements RequestBody {
  constructor(private readonly body: Buffer | BodyError) {}

  whenRead(fn: (body: Buffer | BodyError) => void): void {
    fn(this.body);
  }
}

/** What a RecordedExchange's response became. */
export interface RecordedResponse {
  status: string;
  headers: [string, string][];
  body: Uint8Array;
  /** The connection closes after it (a refusal). */
  close?: boolean;
}

/** The response to a request forwarded by another worker: recorded, and handed over once ended;
 *  aborted when that worker's client goes away. */
export class RecordedExchange implements HttpExchange, ResponseSink {
  aborted = false;
  onAbort: (() => void) | null = null;
  /** Resolves when the response is ended. */
  readonly response: Promise<RecordedResponse>;
  private status = "200 OK";
  private readonly headers: [string, string][] = [];
  private resolve!: (r: RecordedResponse) => void;

  constructor() {
    this.response = new Promise((resolve) => (this.resolve = resolve));
  }

  write(write: (res: ResponseSink) => void): void {
    if (this.aborted) return;
    this.onAbort = null;
    write(this);
  }

  /** The client went away on the worker that received the request. */
  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    const fn = this.onAbort;
    this.onAbort = null;
    fn?.();
  }

  writeStatus(status: string): this {
    this.status = status;
    return this;
  }

  writeHeader(key: string, value: string): this {
    this.headers.push([key, value]);
    return this;
  }

  end(body: string | Uint8Array = "", closeConnection?: boolean): this {
    const recorded: RecordedResponse = { status: this.status, headers: this.headers, body: typeof body === "string" ? Buffer.from(body) : body };
    if (closeConnection) recorded.close = true;
    this.resolve(recorded);
    return this;
  }
}
