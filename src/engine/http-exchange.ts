// One HTTP request of the polling transport while it is open: its uWS response, whether uWS has
// aborted it (uWS terminates the process when a dead response is written to, so every write checks
// `aborted`), and its body, read as it arrives. Knows no sessions.
import type { HttpResponse } from "./uws.ts";

export class Exchange {
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
export class BodyReader {
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

  /** Calls `fn` once with the whole body or why it was refused (at once if it is already known). */
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
