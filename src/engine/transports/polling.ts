// The HTTP long-polling transport of one Engine.IO session: the Transport ports over a buffer of
// frames that the next poll (GET) carries away as one payload, the POSTs that carry the client's
// packets in, polls held or released (an upgrade in progress releases them so the client can pause
// polling) and the hand-over of the buffer and topic subscriptions at the switch. A polling session
// is no uWS topic subscriber: it only remembers its topics, and the rooms layer delivers what those
// topics carry into its buffer. Knows the HTTP exchange it answers on; not the session (a port),
// the upgrade's states, or how requests reach it (polling-requests.ts).
import { deflate, gzip } from "node:zlib";
import type { Frame } from "../binary.ts";
import { type BodyError, type HttpExchange, isBodyError, type RequestBody } from "../http/exchange.ts";
import { type HeaderList, HttpError, refuse, writeHeaders } from "../http/errors.ts";
import { encodePayload } from "../payload.ts";
import type { Transport } from "./transport.ts";
import type { TemplatedApp } from "../uws.ts";

/** What the transport tells its session. */
export interface PollingSession {
  /** A POST body's packets; false when they broke the protocol (the session is then closed). */
  receivePayload(body: string): boolean;
  /** The client broke the transport's rules (overlapping requests, a request cut short, a body too
   *  large): the session ends. */
  onTransportError(reason: string): void;
}

const NOOP = Buffer.from("6");
const CLOSE: Frame = { data: Buffer.from("1"), binary: false };
const OK = "ok";

/** A poll's response encoding, chosen from its Accept-Encoding. */
export type PollEncoding = "gzip" | "deflate" | null;

export interface PollingTransportOptions {
  /** How long a closed session's close packet waits for the client's next poll. */
  closeTimeout: number;
  /** Most bytes buffered for a client that does not poll (maxBackpressure). */
  maxBuffered: number;
  /** Poll responses of at least `threshold` bytes are compressed when the client accepts it. */
  compression: { threshold: number } | null;
}

function textFrame(text: string): Frame {
  return { data: Buffer.from(text), binary: false };
}

export class PollingTransport implements Transport {
  readonly name = "polling";
  readonly subscribesNatively = false;
  closed = false;
  /** Topics the session's sockets are subscribed to, taken over by the WebSocket at the upgrade. */
  readonly topics = new Set<string>();
  /** The session; set once its connection exists. */
  session: PollingSession | null = null;
  /** Called once the transport is done: its close packet delivered (or given up on), or handed over. */
  onFinished: () => void = () => {};
  private buffer: Frame[] = [];
  /** Bytes in `buffer`; over maxBuffered the session ends, as a WebSocket's does over maxBackpressure. */
  private buffered = 0;
  private poll: { ex: HttpExchange; headers: HeaderList; encoding: PollEncoding } | null = null;
  private posting = false;
  /** Released (release()): polls are answered at once, with a noop when nothing waits, so the
   *  client can pause polling and finish its upgrade. */
  private releasing = false;
  private finished = false;
  /** Closed with frames still buffered: they go out first, the close packet in the next poll. */
  private closePending = false;
  private closeTimer: NodeJS.Timeout | null = null;

  private readonly maxBuffered: number;
  /** Set on the cut only. Declared, not initialised: a field every connection carries would cost
   *  4 B per connection for a rare event (V8 adds it to the few objects cut). */
  declare cutForBackpressure?: true;

  constructor(
    private readonly app: TemplatedApp,
    private readonly opts: PollingTransportOptions,
  ) {
    this.maxBuffered = opts.maxBuffered;
  }

  get hasQueued(): boolean {
    return this.buffer.length > 0;
  }

  /** Like Engine.IO's `writable`: only a waiting poll can take a volatile packet. */
  get congested(): boolean {
    return !this.closed && this.poll === null;
  }

  enqueue(frame: Frame): void {
    if (this.closed) return;
    this.buffer.push(frame);
    this.buffered += frame.data.byteLength;
    if (this.buffered > this.maxBuffered) this.overflow();
  }

  /** A client that stopped polling while broadcasts pile up: ended once the current broadcast is
   *  done (not in the middle of the delivery loop). */
  private overflow(): void {
    this.closed = true;
    this.cutForBackpressure = true;
    this.buffer = [];
    this.buffered = 0;
    queueMicrotask(() => this.fail(`more than ${this.maxBuffered} bytes buffered for a client that does not poll`));
  }

  subscribe(topic: string): void {
    this.topics.add(topic);
  }

  unsubscribe(topic: string): void {
    this.topics.delete(topic);
  }

  /** Not a subscriber itself, so a plain publish skips it as ws.publish would. */
  publish(topic: string, data: Uint8Array | string, binary: boolean): void {
    if (!this.closed) this.app.publish(topic, data, binary);
  }

  /** Answers the waiting poll with everything buffered. */
  flush(): void {
    if (this.poll !== null && (this.buffer.length > 0 || this.releasing)) this.answerPoll();
  }

  sendNow(frames: readonly Frame[]): void {
    for (const f of frames) this.enqueue(f);
    this.flush();
  }

  sendTextNow(text: string): void {
    this.enqueue(textFrame(text));
    this.flush();
  }

  sendControl(text: string): void {
    this.sendTextNow(text);
  }

  /** Ends the session: what is buffered goes out with the next poll (or this one), the close packet
   *  with the poll after it, as Engine.IO does. In the same response, socket.io-client would close
   *  before it dispatches the events (it hands packets to its sockets a tick later), buffer them for
   *  its next connect, and reconnect without their offset: with connection-state recovery every one
   *  of them came twice (measured: 100 of 100 events in 20 rounds, see the closing note of issue #15). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.buffer.length > 0) this.closePending = true;
    else this.buffer.push(CLOSE);
    if (this.poll) this.answerPoll();
    if (this.finished) return;
    this.closeTimer = setTimeout(() => this.finish(), this.opts.closeTimeout);
    this.closeTimer.unref();
  }

  /** The client went away (a request cut short) or let too much pile up: the session ends, and a
   *  poll still waiting gets the close packet. */
  private fail(reason: string): void {
    if (this.finished) return;
    this.closed = true;
    this.closePending = false;
    this.buffer = [CLOSE];
    this.buffered = 0;
    if (this.poll) this.answerPoll();
    this.finish();
    this.session?.onTransportError(reason);
  }

  /** Closed by the server, its buffer not yet fetched: an upgrade may still take it (upgrade/upgrade-probe.ts). */
  get closing(): boolean {
    return this.closed && !this.finished && this.cutForBackpressure !== true;
  }

  /** The switch to a WebSocket (here or on another worker): returns what is buffered, in order, and the topics.
   *  A poll still waiting is released with a noop. The transport is done after this. */
  handOver(): { frames: Frame[]; topics: Set<string> } {
    // The close packet of a closing transport stays behind: the WebSocket closes on its own.
    const frames = this.buffer.filter((f) => f !== CLOSE);
    this.closePending = false;
    this.buffer = [];
    this.buffered = 0;
    this.releasing = true;
    this.flush();
    this.closed = true;
    this.finish();
    return { frames, topics: this.topics };
  }

  /** Answers polls at once from now on (a waiting one too), with a noop when nothing waits. */
  release(): void {
    this.releasing = true;
    this.flush();
  }

  /** Holds polls again until frames wait (the default). */
  hold(): void {
    this.releasing = false;
  }

  /** Nothing to sweep: enqueue() checks maxBuffered at every frame. */
  checkBackpressure(): void {}

  /** A long-poll GET: answered when frames are buffered, held until then otherwise. */
  onPoll(ex: HttpExchange, headers: HeaderList, encoding: PollEncoding = null): void {
    if (this.finished) return ex.write((res) => refuse(res, HttpError.UNKNOWN_SID, undefined, headers));
    if (this.poll) {
      // Engine.IO's rule: a second concurrent poll is an error that ends the session (the first
      // poll then carries the close packet).
      ex.write((res) => refuse(res, HttpError.BAD_REQUEST, "overlapping poll requests", headers));
      this.session?.onTransportError("overlapping poll requests");
      return;
    }
    this.poll = { ex, headers, encoding };
    ex.onAbort = () => {
      if (this.poll?.ex !== ex) return;
      this.poll = null;
      this.fail("poll request closed prematurely");
    };
    if (this.buffer.length > 0 || this.releasing || this.closePending) this.answerPoll();
  }

  /** A POST carrying packets. */
  onPost(ex: HttpExchange, headers: HeaderList, body: RequestBody): void {
    if (this.posting) {
      ex.write((res) => refuse(res, HttpError.BAD_REQUEST, "overlapping data requests", headers));
      this.session?.onTransportError("overlapping data requests");
      return;
    }
    this.posting = true;
    ex.onAbort = () => {
      this.posting = false;
      this.fail("data request closed prematurely");
    };
    body.whenRead((data) => {
      this.posting = false;
      if (ex.aborted) return;
      if (isBodyError(data)) return this.refuseBody(ex, headers, data);
      // After the session closed (its close packet not yet fetched), packets are ignored.
      const ok = this.closed || this.session === null || this.session.receivePayload(data.toString());
      ex.write((res) => {
        if (!ok) return refuse(res, HttpError.BAD_REQUEST, "invalid packet in payload", headers);
        res.writeStatus("200 OK");
        writeHeaders(res, headers);
        // text/html, as Engine.IO answers: some user agents offer text/plain as a download.
        res.writeHeader("Content-Type", "text/html").end(OK);
      });
    });
  }

  private refuseBody(ex: HttpExchange, headers: HeaderList, error: BodyError): void {
    ex.write((res) => {
      res.writeStatus(error.status);
      writeHeaders(res, headers);
      res.writeHeader("Content-Type", "application/json").end(JSON.stringify({ code: HttpError.BAD_REQUEST.code, message: error.reason }));
    });
    this.session?.onTransportError(error.reason);
  }

  private answerPoll(): void {
    const { ex, headers, encoding } = this.poll!;
    this.poll = null;
    if (this.buffer.length === 0 && this.closePending) {
      this.closePending = false;
      this.buffer.push(CLOSE);
    }
    const frames = this.buffer;
    this.buffer = [];
    this.buffered = 0;
    const body = frames.length > 0 ? encodePayload(frames) : NOOP;
    const compression = this.opts.compression;
    if (encoding === null || compression === null || body.length < compression.threshold) respond(ex, headers, body, null);
    else {
      // Off the event loop (zlib's thread pool); the client sends no next poll before this answer.
      (encoding === "gzip" ? gzip : deflate)(body, (err, compressed) => respond(ex, headers, err ? body : compressed, err ? null : encoding));
    }
    if (this.closed && !this.closePending) this.finish();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.closeTimer) clearTimeout(this.closeTimer);
    this.closeTimer = null;
    this.onFinished();
  }
}

function respond(ex: HttpExchange, headers: HeaderList, body: Uint8Array, encoding: PollEncoding): void {
  ex.write((res) => {
    res.writeStatus("200 OK");
    writeHeaders(res, headers);
    if (encoding !== null) res.writeHeader("Content-Encoding", encoding);
    res.writeHeader("Content-Type", "text/plain; charset=UTF-8").end(body);
  });
}
