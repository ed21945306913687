// Polling without sticky sessions: the engine's SessionRouter (engine/session-router.ts) over the
// cluster node. A worker's Engine.IO session ids start with its worker id (as its socket ids do), so
// a polling GET or POST that lands on another worker (pm2 on one SO_REUSEPORT port) is sent to the
// owner's own subject as a request, handled there as a local request, and its recorded answer comes
// back on the reply subject. A WebSocket upgrade that lands elsewhere moves the session (prepare,
// then take: sessionMove messages to the owner). Knows the node's request/reply and the engine's
// SessionOwner port; nothing of sessions, transports or rooms.
import { randomBytes } from "node:crypto";
import type { Frame } from "../engine/binary.ts";
import type { ForwardedRequest, ForwardedResponse, MovedSession, MovedSocket, SessionOwner, SessionRouter } from "../engine/session-router.ts";
import type { ClusterNode } from "./node.ts";
import { ownerOf, PROTOCOL_VERSION as V, type HttpRequestMessage } from "./protocol.ts";

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
    node.onSessionMove = (msg, replyTo) => {
      const reply = (ok: boolean, moved?: MovedSession) =>
        node.respond(replyTo, { v: V, type: "sessionMoved", from: node.id, requestId: msg.requestId, ok, ...moved });
      if (typeof msg.sid !== "string") return reply(false);
      if (msg.step === "cancel") return owner().cancelMove(msg.sid);
      if (msg.step === "prepare") return reply(owner().prepareMove(msg.sid));
      if (msg.step !== "take") return reply(false);
      const moved = owner().handOff(msg.sid);
      reply(moved !== null, moved ?? undefined);
    };
    const serve = (request: ForwardedRequest, aborted: AbortSignal) => owner().handleForwarded(request, aborted);
    node.onHttpRequest = (msg, replyTo) => {
      if (msg.type === "httpAbort") return this.serving.get(msg.requestId)?.abort();
      this.stats.served++;
      const aborted = new AbortController();
      this.serving.set(msg.requestId, aborted);
      serve(requestOf(msg), aborted.signal)
        .then(
          (r) => aborted.signal.aborted || node.respondHttp(replyTo, { v: V, type: "httpResponse", from: node.id, requestId: msg.requestId, ...r }),
          (err) => node.link.log("error", `cluster: a forwarded polling request failed: ${(err as Error).message}`),
        )
        .finally(() => this.serving.delete(msg.requestId));
    };
  }

  get idPrefix(): string {
    return this.node.id;
  }

  ownerOf(sid: string): string | null {
    const owner = ownerOf(sid);
    return owner !== null && owner !== this.node.id && this.node.isLivePeer(owner) ? owner : null;
  }

  async forward(owner: string, request: ForwardedRequest, holdMs: number, aborted: AbortSignal): Promise<ForwardedResponse | null> {
    this.stats.forwarded++;
    const msg: HttpRequestMessage = { v: V, type: "httpRequest", origin: this.node.id, requestId: randomBytes(8).toString("hex"), ...request };
    // The owner may hold a long-poll until its next ping; the request timeout covers the round trip.
    const r = await this.node.forwardHttp(owner, msg, holdMs + this.node.requestTimeout, aborted);
    if (r === null) {
      if (!aborted.aborted) this.stats.unanswered++;
      return null;
    }
    return { status: r.status, headers: r.headers, body: r.body, close: r.close === true };
  }

  async prepareMove(owner: string, sid: string): Promise<boolean> {
    return (await this.node.askMove(owner, sid, "prepare"))?.ok === true;
  }

  cancelMove(owner: string, sid: string): void {
    this.node.cancelMove(owner, sid);
  }

  async takeMove(owner: string, sid: string): Promise<MovedSession | null> {
    const r = await this.node.askMove(owner, sid, "take");
    if (!r?.ok) return null;
    const session = movedOf(r.sockets, r.frames);
    if (!session) this.node.link.log("error", `cluster: worker ${owner} handed off session ${sid} in a shape this worker cannot read`);
    return session;
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
