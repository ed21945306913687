// Request/response bookkeeping of one worker: the requests awaiting answers (by requestId) and when
// they give up, the polling requests forwarded to other workers awaiting their owner's answer, and
// the session-move steps asked of other workers. Builds those messages and routes the answers that
// come back; knows neither how messages are encoded or travel (the node's `send`) nor which peers
// are live (the caller says whom it expects).
import { randomBytes } from "node:crypto";
import {
  PROTOCOL_VERSION as V,
  type ClusterMessage,
  type HttpAbortMessage,
  type HttpRequestMessage,
  type HttpResponseMessage,
  type RequestMessage,
  type ResponseMessage,
  type SessionMoveMessage,
} from "./protocol.ts";
import type { PublishTarget } from "./transport.ts";

/** Encodes and publishes a message; false when it could not go out. */
export type Send = (msg: ClusterMessage, target?: PublishTarget) => boolean;

type SessionMoved = Extract<ResponseMessage, { type: "sessionMoved" }>;

interface Pending {
  onResponse(msg: ResponseMessage): void;
}

export class Requests {
  private readonly pending = new Map<string, Pending>();
  /** Forwarded requests of this worker awaiting their answer, by requestId. */
  private readonly forwarded = new Map<string, (msg: HttpResponseMessage | null) => void>();

  constructor(
    private readonly self: string,
    private readonly timeout: number,
    private readonly send: Send,
  ) {}

  /**
   * Publishes a request answered by `expected` peers: `onResponse` gets each answer from them,
   * `done(missing)` runs once, when all have answered (missing = 0) or at `timeoutMs`.
   */
  request(
    msg: (RequestMessage & { requestId: string }) | SessionMoveMessage,
    expected: string[],
    timeoutMs: number,
    // biome-ignore lint/suspicious/noConfusingVoidType: a handler may return nothing (keep waiting) or true (done)
    onResponse: (msg: ResponseMessage) => boolean | void,
    done: (missing: number) => void,
    /** Only to this worker's subject (otherwise to the namespace's requests subject). */
    to?: string,
  ): void {
    const waiting = new Set(expected);
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      this.pending.delete(msg.requestId);
      done(waiting.size);
    };
    // Timers run before the poll phase: after a stall, answers that came meanwhile are still unread
    // when the timeout fires. Judged after this turn's input (setImmediate), they count.
    const timer = setTimeout(() => setImmediate(finish), timeoutMs);
    this.pending.set(msg.requestId, {
      onResponse: (r) => {
        if (finished) return;
        // A response may be one of several from its worker (acks); the worker counts as answered
        // when onResponse says so (true) or, by default, at its first response.
        const complete = onResponse(r);
        if (complete !== false) waiting.delete(r.from);
        if (waiting.size === 0) finish();
      },
    });
    if (!this.send(msg, to === undefined ? { expectReplies: true } : { expectReplies: true, node: to })) return finish();
    if (waiting.size === 0) finish();
  }

  /** Keeps a handler for responses to `requestId` for `ttlMs` (broadcast acks arrive late). */
  listen(requestId: string, ttlMs: number, onResponse: (msg: ResponseMessage) => void): void {
    const timer = setTimeout(() => this.pending.delete(requestId), ttlMs);
    timer.unref();
    this.pending.set(requestId, { onResponse });
  }

  /** A response came: to the request awaiting it, if any still does. */
  onResponse(msg: ResponseMessage): void {
    this.pending.get(msg.requestId)?.onResponse(msg);
  }

  /** Asks worker `to` one step of a session move; resolves to its answer, or null when none came
   *  within the request timeout. */
  askMove(to: string, sid: string, step: SessionMoveMessage["step"]): Promise<SessionMoved | null> {
    const msg: SessionMoveMessage = { v: V, type: "sessionMove", origin: this.self, requestId: randomBytes(8).toString("hex"), sid, step };
    return new Promise((resolve) => {
      let answer: SessionMoved | null = null;
      this.request(
        msg,
        [to],
        this.timeout,
        (r) => {
          if (r.type === "sessionMoved" && r.from === to) answer = r;
        },
        () => resolve(answer),
        to,
      );
    });
  }

  /** Tells worker `to` that the move of session `sid` is off (no answer expected). */
  cancelMove(to: string, sid: string): void {
    const msg: SessionMoveMessage = { v: V, type: "sessionMove", origin: this.self, requestId: "", sid, step: "cancel" };
    this.send(msg, { node: to });
  }

  /** Sends a forwarded HTTP request to worker `to`; resolves to its answer, or to null when none
   *  came within `timeoutMs` or it could not go out. */
  forwardHttp(to: string, msg: HttpRequestMessage, timeoutMs: number, aborted: AbortSignal): Promise<HttpResponseMessage | null> {
    return new Promise((resolve) => {
      const settle = (r: HttpResponseMessage | null) => {
        clearTimeout(timer);
        this.forwarded.delete(msg.requestId);
        resolve(r);
      };
      const timer = setTimeout(() => settle(null), timeoutMs);
      timer.unref(); // the client's own connection keeps the process alive, not this wait
      this.forwarded.set(msg.requestId, settle);
      if (!this.send(msg, { node: to, expectReplies: true })) return settle(null);
      aborted.addEventListener("abort", () => this.abortForwarded(to, msg.requestId), { once: true });
    });
  }

  /** The owner's answer to a forwarded request, to the request awaiting it if any still does. */
  onHttpResponse(msg: HttpResponseMessage): void {
    this.forwarded.get(msg.requestId)?.(msg);
  }

  /** Closing: every forwarded request ends unanswered (their clients get "Session ID unknown" and
   *  reconnect). */
  dropForwarded(): void {
    for (const settle of [...this.forwarded.values()]) settle(null);
  }

  /** The client went away: its request ends here, and its owner drops it. */
  private abortForwarded(to: string, requestId: string): void {
    const settle = this.forwarded.get(requestId);
    if (!settle) return;
    settle(null);
    const abort: HttpAbortMessage = { v: V, type: "httpAbort", origin: this.self, requestId };
    this.send(abort, { node: to });
  }
}
