// A client connection's outgoing side over uWebSockets.js: topic subscriptions, the per-socket
// queue that the delivery layer flushes once per tick, and control frames. The seam where an
// HTTP long-polling transport would plug in later.
import type { WebSocket } from "./uws.ts";
import type { Frame } from "./codec.ts";

export class WebSocketTransport {
  /** Frames waiting for the next flush, in emit order. */
  readonly queue: Frame[] = [];
  closed = false;

  constructor(readonly ws: WebSocket<unknown>) {}

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
    if (!this.closed && queue.length > 0) {
      const ws = this.ws;
      ws.cork(() => {
        for (let i = 0; i < queue.length; i++) ws.send(queue[i].data, queue[i].binary);
      });
    }
    queue.length = 0;
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
