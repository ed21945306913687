// The WebSocket transport over uWebSockets.js: one Engine.IO packet per frame, the per-socket queue
// flushed in one corked write per tick, topic subscriptions uWS delivers natively, the
// backpressure cut. Knows no session, no upgrade and no HTTP handling (the ports: transport.ts).
import type { WebSocket } from "../uws.ts";
import type { Frame } from "../binary.ts";
import { BACKPRESSURE_CLOSE, type Transport } from "./transport.ts";

export class WebSocketTransport implements Transport {
  readonly name = "websocket";
  readonly subscribesNatively = true;
  /** Frames waiting for the next flush, in emit order. (One array per connection, made at the
   *  first frame queued, since many sockets only ever get native publishes, and kept between
   *  ticks: measured, a shared store for all connections cost 15–35% more CPU per socket-by-socket
   *  delivery, for 24 B less per connection.) */
  private queue: Frame[] | null = null;
  /** Set by close(), the backpressure cut, or the peer's close (closedByPeer). */
  closed = false;
  /** Set on the cut only. Declared, not initialised: a field every connection carries would cost
   *  4 B per connection for a rare event (V8 adds it to the few objects cut). */
  declare cutForBackpressure?: true;

  constructor(
    readonly ws: WebSocket<unknown>,
    /** Bytes the peer may leave unread before it is cut (the maxBackpressure option). */
    private readonly maxBuffered = Infinity,
  ) {}

  /** Whether frames wait for the next flush. */
  get hasQueued(): boolean {
    return this.queue !== null && this.queue.length > 0;
  }

  /** Queues a frame behind those already waiting (emit order). */
  enqueue(frame: Frame): void {
    (this.queue ??= []).push(frame);
  }

  publish(topic: string, data: Uint8Array | string, binary: boolean, compress = false): void {
    if (!this.closed) this.ws.publish(topic, data, binary, compress);
  }

  subscribe(topic: string): void {
    if (!this.closed) this.ws.subscribe(topic);
  }

  unsubscribe(topic: string): void {
    if (!this.closed) this.ws.unsubscribe(topic);
  }

  /** Whether the kernel has not yet taken everything sent so far (volatile emits skip such sockets). */
  get congested(): boolean {
    return !this.closed && this.ws.getBufferedAmount() > 0;
  }

  /** Sends the queued frames in one corked write. */
  flush(): void {
    const queue = this.queue;
    if (queue === null || queue.length === 0) return;
    if (!this.closed) {
      // One function for every flush, not a closure per flush (this runs once per recipient per tick).
      corkedWs = this.ws;
      corkedQueue = queue;
      corkedBackpressure = false;
      this.ws.cork(sendCorked);
      corkedWs = null;
      corkedQueue = NO_FRAMES;
    }
    queue.length = 0;
    // Only when a send reported buffered bytes: asking uWS for the buffered amount after every
    // flush cost 10–15% of the per-socket path's CPU (union4 360 -> 321, except 256 -> 215 µs per
    // 1k deliveries, N=2000, one A/B run each); ws.send's result says it for free.
    if (corkedBackpressure) this.checkBackpressure();
  }

  checkBackpressure(): void {
    if (this.closed || this.ws.getBufferedAmount() <= this.maxBuffered) return;
    // Not through close(): that would flush, and flushing is what brought us here.
    this.queue = null;
    this.closed = true;
    this.cutForBackpressure = true;
    this.ws.end(BACKPRESSURE_CLOSE.code, BACKPRESSURE_CLOSE.reason);
  }

  /** Sends frames now, after whatever is queued (a reply outside any namespace socket). */
  sendNow(frames: readonly Frame[]): void {
    this.flush();
    if (this.closed) return;
    const ws = this.ws;
    ws.cork(() => {
      for (const f of frames) ws.send(f.data, f.binary, f.compress === true);
    });
  }

  /** A text frame now, after whatever is queued (a namespace's CONNECT answer). */
  sendTextNow(text: string): void {
    this.flush();
    if (this.closed) return;
    const ws = this.ws;
    ws.cork(() => ws.send(text, false));
  }

  /** An Engine.IO control frame (open, ping), sent at once: it carries no application order. */
  sendControl(text: string): void {
    if (!this.closed) this.ws.send(text, false);
  }

  /** uWS reported the WebSocket closed (by either side): nothing more can be sent. */
  closedByPeer(): void {
    this.closed = true;
  }

  close(code = 1000, reason = ""): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.ws.end(code, reason);
  }
}

/** What `sendCorked` writes, set around each ws.cork call (read once on entry: a send may end up
 *  running user code that flushes another connection). */
let corkedWs: WebSocket<unknown> | null = null;
const NO_FRAMES: Frame[] = [];
let corkedQueue = NO_FRAMES;
/** Whether a send of the last corked flush left bytes buffered (uWS's send: 1 = written). */
let corkedBackpressure = false;
function sendCorked(): void {
  const ws = corkedWs!;
  const queue = corkedQueue;
  let buffered = false;
  for (let i = 0; i < queue.length; i++) if (ws.send(queue[i].data, queue[i].binary, queue[i].compress === true) !== 1) buffered = true;
  corkedBackpressure = buffered;
}
