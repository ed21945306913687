// A client connection's outgoing side, as the ports its different users see it: membership's topic
// subscriptions, delivery's per-tick queue, the session's direct sends, the endpoint's backpressure
// sweep. `Transport` is all of them; WebSocket (websocket.ts) and HTTP long-polling (polling.ts)
// implement it. Knows no session, no upgrade and no HTTP handling.
import type { Frame } from "../binary.ts";

/** What membership (rooms/) needs: the connection's topic subscriptions. */
export interface TopicSubscriber {
  /** Whether uWS delivers the topics it subscribes to (a WebSocket); a polling transport only
   *  remembers them, and the rooms layer delivers into its buffer instead. */
  readonly subscribesNatively: boolean;
  subscribe(topic: string): void;
  unsubscribe(topic: string): void;
}

/** What delivery (rooms/) and volatile emits need: the per-socket queue the delivery layer flushes
 *  once per tick, and publishes from this connection. */
export interface Outbox {
  readonly subscribesNatively: boolean;
  readonly closed: boolean;
  /** Whether frames wait for the next flush. */
  readonly hasQueued: boolean;
  /** Whether the peer has not yet taken everything sent so far (volatile emits skip it). */
  readonly congested: boolean;
  enqueue(frame: Frame): void;
  flush(): void;
  /** Publishes to a topic from this connection: every subscriber but this one gets it. */
  publish(topic: string, data: Uint8Array | string, binary: boolean, compress?: boolean): void;
}

/** Whether a volatile packet goes out to this connection, like Engine.IO's `transport.writable`:
 *  not while a write of this tick still waits for the flush (Socket.IO's transport is not writable
 *  between a write and its drain: two volatile emits in a row deliver one), nor while the peer has
 *  not taken what was sent before. */
export function takesVolatile(t: Outbox): boolean {
  return !t.hasQueued && !t.congested;
}

/** What the session (connection.ts) and a namespace's CONNECT answer need: frames now, after what
 *  is queued; Engine.IO control frames; the close. */
export interface SessionWire {
  /** "websocket" or "polling" (Socket.IO's `socket.conn.transport.name`). */
  readonly name: "websocket" | "polling";
  readonly closed: boolean;
  flush(): void;
  sendNow(frames: readonly Frame[]): void;
  sendTextNow(text: string): void;
  sendControl(text: string): void;
  close(code?: number, reason?: string): void;
}

/** What the endpoint needs: its backpressure sweep and its count of cuts. */
export interface Backpressured {
  /** Cuts the connection, with a close frame saying why, if the peer has fallen too far behind. */
  checkBackpressure(): void;
  /** Set when the transport ended because the peer fell more than maxBackpressure behind (counted
   *  once per session by the endpoint, for `roomgate_limits_hit_total`). */
  readonly cutForBackpressure?: true;
}

/** A session's transport: every port. */
export interface Transport extends TopicSubscriber, Outbox, SessionWire, Backpressured {}

/** Close code and reason a client cut for backpressure receives. */
export const BACKPRESSURE_CLOSE = { code: 1008, reason: "backpressure limit exceeded" } as const;
