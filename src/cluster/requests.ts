// The one request primitive of a worker (nats.js's MuxSubscription and request): every request that
// awaits answers is one entry of one map, by requestId; every answer that comes back (any
// ResponseMessage, a forwarded polling request's too) goes to the entry awaiting it, and is dropped
// when none does. An entry ends when every expected worker has answered or was declared dead
// (peerLost: it then completes with what the live workers answered, as socket.io-adapter's
// removeNode does), at its timeout, when cancelled, or (a client's wait) when the node closes. Knows neither how messages are encoded or
// travel (the bus's publish) nor which peers are live (the caller says whom it expects).
import { randomBytes } from "node:crypto";
import type { Bus } from "./bus.ts";
import { ANSWER_TYPES, type ClusterMessage, type ResponseMessage } from "./protocol.ts";
import { toWorker } from "./route.ts";

/** A message that expects answers. */
type Asking = ClusterMessage & { requestId: string };

interface Pending {
  onAnswer(msg: ResponseMessage): void;
  /** Worker `id` was declared dead: it is no longer awaited. */
  lost(id: string): void;
  /** Ends the request now, as unanswered by the workers still awaited. */
  end(): void;
  /** A client's wait: ended when the node closes. */
  clientWait: boolean;
}

export interface RequestOptions {
  /** Only to this worker's own subject (otherwise where the message goes by its type: an
   *  operation to the namespace's workers). */
  to?: string;
  /** The wait of a client's request, not the process's: its timer does not keep the process
   *  alive, and it ends unanswered when the node closes. */
  clientWait?: boolean;
}

export class Requests {
  private readonly pending = new Map<string, Pending>();

  constructor(private readonly bus: Pick<Bus, "publish" | "handle">) {
    for (const type of ANSWER_TYPES) bus.handle(type, (msg) => this.onAnswer(msg));
  }

  /** A fresh requestId. */
  static newId(): string {
    return randomBytes(8).toString("hex");
  }

  /**
   * Publishes `msg` answered by `expected` workers: `onAnswer` gets each answer to it (the caller
   * tells who answered: `from`), `done(missing)` runs once, when all have answered or were declared
   * dead meanwhile (missing = 0), at `timeoutMs`, or when cancelled. A worker counts as answered when onAnswer returns true or, by default
   * (nothing returned), at its first answer; false: more answers are to come from it (acks).
   */
  request(
    msg: Asking,
    expected: readonly string[],
    timeoutMs: number,
    // biome-ignore lint/suspicious/noConfusingVoidType: a handler may return nothing (answered) or a boolean
    onAnswer: (msg: ResponseMessage) => boolean | void,
    done: (missing: number) => void,
    opts: RequestOptions = {},
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
    if (opts.clientWait) timer.unref();
    this.pending.set(msg.requestId, {
      onAnswer: (r) => {
        if (finished) return;
        if (onAnswer(r) !== false) waiting.delete(r.from);
        if (waiting.size === 0) finish();
      },
      lost: (id) => {
        if (finished || !waiting.delete(id)) return;
        if (waiting.size === 0) finish();
      },
      end: finish,
      clientWait: opts.clientWait === true,
    });
    const route = opts.to === undefined ? undefined : toWorker(opts.to);
    if (!this.bus.publish(msg, { route, expectReplies: true })) return finish();
    if (waiting.size === 0) finish();
  }

  /** Publishes `msg` to worker `to` alone; resolves to its first answer, or to null when none came
   *  within `timeoutMs`, the message could not go out, or the request was cancelled. */
  ask(msg: Asking, to: string, timeoutMs: number, clientWait = false): Promise<ResponseMessage | null> {
    return new Promise((resolve) => {
      let answer: ResponseMessage | null = null;
      this.request(
        msg,
        [to],
        timeoutMs,
        (r) => {
          if (r.from === to) answer = r;
        },
        () => resolve(answer),
        { to, clientWait },
      );
    });
  }

  /** Keeps a handler for answers to `requestId` for `ttlMs`, whoever sends them (broadcast acks
   *  arrive late; the handler picks); `onLost(id)` when worker `id` is declared dead meanwhile. */
  listen(requestId: string, ttlMs: number, onAnswer: (msg: ResponseMessage) => void, onLost: (id: string) => void = () => {}): void {
    const end = () => this.pending.delete(requestId);
    const timer = setTimeout(end, ttlMs);
    timer.unref();
    this.pending.set(requestId, { onAnswer, lost: onLost, end, clientWait: false });
  }

  /** Ends request `requestId` now; whether it was still awaiting answers. */
  cancel(requestId: string): boolean {
    const p = this.pending.get(requestId);
    p?.end();
    return p !== undefined;
  }

  /** Worker `id` was declared dead (timed out, forgotten, or said bye): no request waits for it
   *  any longer; one that waited for nothing else completes now with what the others answered,
   *  instead of at its timeout. */
  peerLost(id: string): void {
    for (const p of [...this.pending.values()]) p.lost(id);
  }

  /** An answer came: to the request awaiting it, if any still does. */
  private onAnswer(msg: ResponseMessage): void {
    this.pending.get(msg.requestId)?.onAnswer(msg);
  }

  /** The node closes: the clients' waits end unanswered (their clients get "Session ID unknown"
   *  and reconnect). */
  endClientWaits(): void {
    for (const p of [...this.pending.values()]) if (p.clientWait) p.end();
  }
}
