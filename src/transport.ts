// A client connection's outgoing side over uWebSockets.js: topic subscriptions, the per-socket
// queue that the delivery layer flushes once per tick, and control frames. The seam where an
// HTTP long-polling transport would plug in later.
import type { WebSocket } from "./uws.ts";
import type { Frame } from "./codec.ts";

/**
 * The queued frames of every connection of a server, in two flat arrays reused tick after tick.
 * A connection holds only the positions of its first and last queued frame: an array per
 * connection would stay allocated (~150 B) while the connection idles.
 */
export class FrameStore {
  readonly frames: Frame[] = [];
  /** Position of the same connection's next frame, or -1. */
  readonly next: number[] = [];

  /** Forgets every frame; only once no transport holds a queue. */
  clear(): void {
    this.frames.length = 0;
    this.next.length = 0;
  }
}

export class WebSocketTransport {
  private head = -1;
  private tail = -1;
  closed = false;

  constructor(
    readonly ws: WebSocket<unknown>,
    private readonly store: FrameStore,
  ) {}

  /** Whether frames wait for the next flush. */
  get hasQueued(): boolean {
    return this.head !== -1;
  }

  /** Queues a frame behind those already waiting (emit order). */
  enqueue(frame: Frame): void {
    const i = this.store.frames.push(frame) - 1;
    this.store.next.push(-1);
    if (this.tail === -1) this.head = i;
    else this.store.next[this.tail] = i;
    this.tail = i;
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
    const head = this.head;
    if (head === -1) return;
    this.head = this.tail = -1;
    if (this.closed) return;
    const { frames, next } = this.store;
    const ws = this.ws;
    ws.cork(() => {
      for (let i = head; i !== -1; i = next[i]) ws.send(frames[i].data, frames[i].binary);
    });
  }

  /** Sends frames now, after whatever is queued (a reply outside any namespace socket). */
  sendNow(frames: readonly Frame[]): void {
    this.flush();
    if (this.closed) return;
    const ws = this.ws;
    ws.cork(() => {
      for (const f of frames) ws.send(f.data, f.binary);
    });
  }

  /** An Engine.IO control frame (open, ping), sent at once: it carries no application order. */
  sendControl(text: string): void {
    if (!this.closed) this.ws.send(text, false);
  }

  close(code = 1000, reason = ""): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.ws.end(code, reason);
  }
}
