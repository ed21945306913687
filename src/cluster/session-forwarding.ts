// Polling without sticky sessions: the engine's SessionRouter (engine/session-router.ts) over the
// cluster node. A worker's Engine.IO session ids start with its worker id (as its socket ids do), so
// a polling GET or POST that lands on another worker (pm2 on one SO_REUSEPORT port) is sent to the
// owner's own subject as a request, handled there as a local request, and its recorded answer comes
// back on the reply subject. A WebSocket upgrade that lands elsewhere moves the session (prepare,
// then take: sessionMove messages to the owner). Registers its handlers (sessionMove, httpRequest,
// httpAbort) on the node's bus and asks through its request primitive; knows the engine's
// SessionOwner port; nothing of sessions, transports or rooms.
import type { Frame } from "../engine/binary.ts";
import type { ForwardedRequest, ForwardedResponse, MovedSession, MovedSocket, SessionOwner, SessionRouter } from "../engine/session-router.ts";
import type { ClusterNode } from "./node.ts";
import { ownerOf, PROTOCOL_VERSION as V, type HttpAbortMessage, type HttpRequestMessage, type MessageOf, type SessionMoveMessage } from "./protocol.ts";
import { Requests } from "./requests.ts";
import { toWorker } from "./route.ts";

export class SessionForwarding implements SessionRouter {
  /** Counters, for tests and monitoring: requests sent to their owner, served for another worker,
   *  and sent but never answered (owner gone). */
  readonly stats = { forwarded: 0, served: 0, unanswered: 0 };
  /** Requests served here for another worker, until answered (their client may go away first). */
  private readonly serving = new Map<string, AbortController>();

  constructor(
    readonly node: ClusterNode,
    /** The engine's sessions held here (looked up at each request: attachApp replaces the endpoint). */
    owner: () => SessionOwner,
  ) {
    node.handle("sessionMove", (msg, replyTo) => {
      const reply = (ok: boolean, moved?: MovedSession) =>
        node.respond(replyTo, { v: V, type: "sessionMoved", from: node.id, requestId: msg.requestId, ok, ...moved });
      if (typeof msg.sid !== "string") return reply(false);
      if (msg.step === "cancel") return owner().cancelMove(msg.sid);
      if (msg.step === "prepare") return reply(owner().prepareMove(msg.sid));
      if (msg.step !== "take") return reply(false);
      const moved = owner().handOff(msg.sid);
      reply(moved !== null, moved ?? undefined);
    });
    const serve = (request: ForwardedRequest, aborted: AbortSignal) => owner().handleForwarded(request, aborted);
    node.handle("httpAbort", (msg) => this.serving.get(msg.requestId)?.abort());
    node.handle("httpRequest", (msg, replyTo) => {
      this.stats.served++;
      const aborted = new AbortController();
      this.serving.set(msg.requestId, aborted);
      serve(requestOf(msg), aborted.signal)
        .then(
          (r) => aborted.signal.aborted || node.respond(replyTo, { v: V, type: "httpResponse", from: node.id, requestId: msg.requestId, ...r }),
          (err) => node.log("error", `cluster: a forwarded polling request failed: ${(err as Error).message}`),
        )
        .finally(() => this.serving.delete(msg.requestId));
    });
  }

  get idPrefix(): string {
    return this.node.id;
  }

  ownerOf(sid: string): string | null {
    const owner = ownerOf(sid);
    return owner !== null && owner !== this.node.id && this.node.peers.isLive(owner) ? owner : null;
  }

  async forward(owner: string, request: ForwardedRequest, holdMs: number, aborted: AbortSignal): Promise<ForwardedResponse | null> {
    this.stats.forwarded++;
    const node = this.node;
    const msg: HttpRequestMessage = { v: V, type: "httpRequest", origin: node.id, requestId: Requests.newId(), ...request };
    // The client went away: its request ends here, and its owner drops it.
    const abort = () => {
      if (!node.requests.cancel(msg.requestId)) return;
      const drop: HttpAbortMessage = { v: V, type: "httpAbort", origin: node.id, requestId: msg.requestId };
      node.publish(drop, { route: toWorker(owner) });
    };
    aborted.addEventListener("abort", abort, { once: true });
    // The owner may hold a long-poll until its next ping; the request timeout covers the round trip.
    // A client's wait: the client's own connection keeps the process alive, not this wait.
    const r = await node.requests.ask(msg, owner, holdMs + node.requestTimeout, true);
    aborted.removeEventListener("abort", abort);
    if (r?.type !== "httpResponse") {
      if (!aborted.aborted) this.stats.unanswered++;
      return null;
    }
    return { status: r.status, headers: r.headers, body: r.body, close: r.close === true };
  }

  async prepareMove(owner: string, sid: string): Promise<boolean> {
    return (await this.askMove(owner, sid, "prepare"))?.ok === true;
  }

  /** No answer expected. */
  cancelMove(owner: string, sid: string): void {
    const msg: SessionMoveMessage = { v: V, type: "sessionMove", origin: this.node.id, requestId: "", sid, step: "cancel" };
    this.node.publish(msg, { route: toWorker(owner) });
  }

  async takeMove(owner: string, sid: string): Promise<MovedSession | null> {
    const r = await this.askMove(owner, sid, "take");
    if (!r?.ok) return null;
    const session = movedOf(r.sockets, r.frames);
    if (!session) this.node.log("error", `cluster: worker ${owner} handed off session ${sid} in a shape this worker cannot read`);
    return session;
  }

  /** Asks worker `owner` one step of a session move; resolves to its answer, or null when none
   *  came within requestTimeout. */
  private async askMove(owner: string, sid: string, step: "prepare" | "take"): Promise<MessageOf<"sessionMoved"> | null> {
    const msg: SessionMoveMessage = { v: V, type: "sessionMove", origin: this.node.id, requestId: Requests.newId(), sid, step };
    const r = await this.node.requests.ask(msg, owner, this.node.requestTimeout);
    return r?.type === "sessionMoved" ? r : null;
  }
}

/** A received hand-off, checked field by field. */
function movedOf(sockets: unknown, frames: unknown): MovedSession | null {
  if (!Array.isArray(sockets) || !Array.isArray(frames)) return null;
  const out: MovedSocket[] = [];
  for (const s of sockets) {
    if (typeof s !== "object" || s === null || typeof s.nsp !== "string" || typeof s.pid !== "string") return null;
    out.push({ nsp: s.nsp, pid: s.pid, auth: s.auth ?? null });
  }
  const fs: Frame[] = [];
  for (const f of frames) {
    if (typeof f !== "object" || f === null || typeof f.binary !== "boolean" || !(f.data instanceof Uint8Array)) return null;
    fs.push({ data: f.data, binary: f.binary });
  }
  return { sockets: out, frames: fs };
}

/** A received request, checked field by field (a worker that misbehaves must not crash this one). */
function requestOf(msg: HttpRequestMessage): ForwardedRequest {
  const headers: Record<string, string> = {};
  const encoding = msg.headers?.["accept-encoding"];
  if (typeof encoding === "string") headers["accept-encoding"] = encoding;
  const out: ForwardedRequest = {
    method: msg.method === "POST" ? "POST" : "GET",
    query: typeof msg.query === "string" ? msg.query : "",
    headers,
    remoteAddress: typeof msg.remoteAddress === "string" ? msg.remoteAddress : "",
  };
  const body = msg.body;
  if (body instanceof Uint8Array) out.body = body;
  else if (body && typeof body.status === "string" && typeof body.reason === "string") out.body = { status: body.status, reason: body.reason };
  return out;
}
