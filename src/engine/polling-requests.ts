// The HTTP side of the Engine.IO endpoint: every non-upgrade request on the path. CORS (with its
// preflight), the polling handshake (GET without sid), long-poll GETs and POSTs of a session, and
// Engine.IO's error answers for the rest. Reads all it needs from the uWS request before returning
// (uWS reuses it), and never writes to a response uWS has aborted. In a cluster, a request for a
// session another worker holds is forwarded to it through the SessionRouter, and the request such
// a worker forwards here is handled as a local one (handleForwarded). Knows the sessions through
// PollingHost (the endpoint) and their polling transport; nothing of upgrades, rooms or namespaces.
import { STATUS_CODES } from "node:http";
import { admit } from "./http/admission.ts";
import type { Connection } from "./connection.ts";
import type { LimitRefusal } from "./limits.ts";
import type { Logger } from "./logger.ts";
import { type CorsOptions, resolveCors } from "./http/cors.ts";
import { type BodyError, BodyReader, Exchange, type HttpExchange, ReadBody, RecordedExchange } from "./http/exchange.ts";
import { type HeaderList, HttpError, type HttpErrorKind, refuse, writeHeaders } from "./http/errors.ts";
import type { PollEncoding, PollingTransport } from "./transports/polling.ts";
import { type RequestInfo, shared, UpgradeRequest } from "./http/request.ts";
import { type CookieOptions, sessionCookie } from "./http/session-cookie.ts";
import type { ForwardedRequest, ForwardedResponse, SessionRouter } from "./session-router.ts";
import type { RefusalCause } from "./stats.ts";
import type { HttpRequest, HttpResponse } from "./uws.ts";
import type { AdmissionOptions } from "./http/admission.ts";

export interface PollingOptions extends AdmissionOptions {
  /** URL path of the endpoint, without a trailing slash. */
  path: string;
  transports: readonly string[];
  /** POST body limit (maxHttpBufferSize). */
  maxPayload: number;
  cors?: CorsOptions;
  cookie?: CookieOptions | null;
  /** Compression of poll responses (Socket.IO's httpCompression): on at 1 KiB by default. */
  httpCompression: boolean | { threshold?: number };
  /** A long-poll is held at most about this long (until the next ping): a forwarded one too. */
  pingInterval: number;
}

/** What the requests need of the endpoint. */
export interface PollingHost {
  /** The polling session `sid`, while its transport serves requests. */
  pollingSession(sid: string): Connection | undefined;
  /** Opens a polling session; its transport holds the open packet. */
  openPollingSession(request: UpgradeRequest): { sid: string; transport: PollingTransport };
  /** A refused request (Engine.IO's `connection_error`). */
  reportRefusal(req: RequestInfo | null, error: HttpErrorKind, cause: RefusalCause, detail?: string): void;
  /** Reserves a place for a new session from `address` in the connection limits, or says why not. */
  reserveConnection(address: string): LimitRefusal | null;
  /** Gives back a place reserved for a session that was not opened after all. */
  releaseConnection(address: string): void;
  readonly logger: Logger;
  /** In a cluster: where the sessions of other workers are (null for a lone worker). */
  readonly sessionRouter: SessionRouter | null;
}

const NO_HEADERS: HeaderList = [];

export class PollingRequests {
  constructor(
    private readonly opts: PollingOptions,
    private readonly host: PollingHost,
  ) {}

  onRequest(res: HttpResponse, req: HttpRequest): void {
    const ex = new Exchange(res);
    const method = req.getMethod().toUpperCase();
    const headers: Record<string, string> = {};
    let origins = 0;
    req.forEach((k, v) => {
      if (k === "origin") origins++;
      headers[k] = shared(v);
    });
    // The query of a poll carries a cache-busting timestamp: not interned.
    const request = new UpgradeRequest(
      shared(method),
      shared(req.getUrl()),
      req.getQuery() ?? "",
      headers,
      shared(Buffer.from(res.getRemoteAddressAsText()).toString()),
    );
    // Which of two Origin headers would a check believe? Neither: refuse the ambiguity.
    if (origins > 1) return this.refuse(ex, request, HttpError.BAD_REQUEST, "ambiguous_origin", "more than one Origin header", NO_HEADERS);
    // A body is read from now on or lost (uWS hands it only to a handler set before returning).
    const body = method === "POST" ? new BodyReader(ex, headers["content-length"], this.opts.maxPayload) : null;
    const cors = this.opts.cors;
    if (!cors) return this.dispatch(ex, request, body, NO_HEADERS);
    resolveCors(cors, { origin: headers.origin, requestHeaders: headers["access-control-request-headers"] }, method === "OPTIONS", (cors) => {
      if (cors instanceof Error) return this.refuse(ex, request, HttpError.BAD_REQUEST, "origin", `cors: ${cors.message}`, NO_HEADERS);
      const corsHeaders = cors ?? NO_HEADERS;
      if (method === "OPTIONS") return ex.write((res) => preflight(res, corsHeaders, this.opts.cors!.optionsSuccessStatus ?? 204));
      this.dispatch(ex, request, body, corsHeaders);
    });
  }

  private dispatch(ex: Exchange, request: UpgradeRequest, body: BodyReader | null, cors: HeaderList): void {
    const query = request.query;
    if (query.EIO !== "4") return this.refuse(ex, request, HttpError.UNSUPPORTED_PROTOCOL, "protocol", undefined, cors);
    if (query.transport !== "polling" || !this.opts.transports.includes("polling")) {
      const detail =
        query.transport === "websocket"
          ? "a websocket connection needs an Upgrade request"
          : `this server serves the transports ${JSON.stringify(this.opts.transports)}`;
      return this.refuse(ex, request, HttpError.UNKNOWN_TRANSPORT, "protocol", detail, cors);
    }
    const sid = query.sid;
    if (sid === undefined) {
      if (request.method !== "GET") return this.refuse(ex, request, HttpError.BAD_HANDSHAKE_METHOD, "protocol", undefined, cors);
      return this.handshake(ex, request, cors);
    }
    const owner = this.host.pollingSession(sid) === undefined ? (this.host.sessionRouter?.ownerOf(sid) ?? null) : null;
    if (owner !== null && (request.method === "GET" || body)) return this.forward(ex, request, owner, body, cors);
    this.serve(ex, request, sid, body, cors);
  }

  /** A request for session `sid`, held here (or unknown). */
  private serve(ex: HttpExchange, request: UpgradeRequest, sid: string, body: ReadBody | BodyReader | null, cors: HeaderList): void {
    const transport = this.host.pollingSession(sid)?.transport;
    if (transport?.name !== "polling") return this.refuse(ex, request, HttpError.UNKNOWN_SID, "protocol", undefined, cors);
    if (request.method === "GET")
      return transport.onPoll(ex, cors, this.opts.httpCompression === false ? null : encodingOf(request.headers["accept-encoding"]));
    if (body) return transport.onPost(ex, cors, body);
    this.refuse(ex, request, HttpError.BAD_REQUEST, "protocol", `method ${request.method} on a polling session`, cors);
  }

  /** Sends the request (a POST once its body is read here, within maxHttpBufferSize) to the worker
   *  holding its session, and writes its answer back after this worker's CORS headers. The owner
   *  gone (no answer): Engine.IO's unknown session, and the client reconnects. */
  private forward(ex: Exchange, request: UpgradeRequest, owner: string, body: BodyReader | null, cors: HeaderList): void {
    const router = this.host.sessionRouter!;
    const send = (data?: Buffer | BodyError) => {
      if (ex.aborted) return;
      const forwarded: ForwardedRequest = {
        method: request.method as "GET" | "POST",
        query: request.url.slice(request.url.indexOf("?") + 1),
        headers: {},
        remoteAddress: request.remoteAddress,
      };
      const encoding = request.headers["accept-encoding"];
      if (encoding !== undefined) forwarded.headers["accept-encoding"] = encoding;
      if (data !== undefined) forwarded.body = data;
      const aborted = new AbortController();
      ex.onAbort = () => aborted.abort();
      // A GET may be held until the next ping; a POST is answered at once.
      router.forward(owner, forwarded, request.method === "GET" ? this.opts.pingInterval : 0, aborted.signal).then(
        (answer) =>
          answer
            ? ex.write((res) => writeForwarded(res, cors, answer))
            : this.refuse(ex, request, HttpError.UNKNOWN_SID, "protocol", "its worker did not answer", cors),
        () => this.refuse(ex, request, HttpError.UNKNOWN_SID, "protocol", "its worker did not answer", cors),
      );
    };
    if (body) body.whenRead(send);
    else send();
  }

  /** A request another worker received for a session held here: served as if it came here
   *  (`aborted`: its client went away there). */
  handleForwarded(req: ForwardedRequest, aborted?: AbortSignal): Promise<ForwardedResponse> {
    const ex = new RecordedExchange();
    aborted?.addEventListener("abort", () => ex.abort(), { once: true });
    const request = new UpgradeRequest(req.method, this.opts.path, req.query, req.headers, req.remoteAddress);
    const body =
      req.method === "POST"
        ? new ReadBody(req.body instanceof Uint8Array ? Buffer.from(req.body.buffer, req.body.byteOffset, req.body.byteLength) : (req.body ?? NO_BODY))
        : null;
    this.serve(ex, request, request.query.sid ?? "", body, NO_HEADERS);
    return ex.response;
  }

  private refuse(ex: HttpExchange, request: RequestInfo, error: HttpErrorKind, cause: RefusalCause, detail: string | undefined, cors: HeaderList): void {
    this.host.reportRefusal(request, error, cause, detail);
    ex.write((res) => refuse(res, error, detail, cors));
  }

  private handshake(ex: Exchange, request: UpgradeRequest, cors: HeaderList): void {
    const limited = this.host.reserveConnection(request.remoteAddress);
    if (limited !== null) return this.refuse(ex, request, HttpError.SERVICE_UNAVAILABLE, limited.cause, limited.detail, cors);
    admit(
      this.opts,
      request,
      () => ex.aborted,
      (refusal) => {
        if (ex.aborted || refusal !== null) this.host.releaseConnection(request.remoteAddress);
        if (ex.aborted) return; // gone while CORS or allowRequest decided: no session for it
        if (refusal?.timedOut) return this.refuse(ex, request, HttpError.SERVICE_UNAVAILABLE, refusal.cause, refusal.reason, cors);
        if (refusal !== null) return this.refuse(ex, request, HttpError.FORBIDDEN, refusal.cause, refusal.reason || undefined, cors);
        const { sid, transport } = this.host.openPollingSession(request);
        const cookie = this.opts.cookie;
        const headers = cookie ? [...cors, ["Set-Cookie", sessionCookie(cookie, sid)] as const] : cors;
        // The open packet is buffered: this GET carries it away at once.
        transport.onPoll(ex, headers);
      },
      this.host.logger,
    );
  }
}

const NO_BODY: BodyError = { status: "411 Length Required", reason: "content-length header required" };

/** A forwarded request's answer, on the response of the client that sent it here. */
function writeForwarded(res: HttpResponse, cors: HeaderList, answer: ForwardedResponse): void {
  res.writeStatus(answer.status);
  writeHeaders(res, cors);
  writeHeaders(res, answer.headers);
  res.end(answer.body, answer.close === true);
}

function preflight(res: HttpResponse, headers: HeaderList, status: number): void {
  res.writeStatus(`${status} ${STATUS_CODES[status] ?? ""}`.trimEnd());
  writeHeaders(res, headers);
  res.endWithoutBody(0);
}

/** gzip or deflate when Accept-Encoding offers it (gzip preferred, q=0 honoured), else none. */
export function encodingOf(accept: string | undefined): PollEncoding {
  if (!accept) return null;
  let best: PollEncoding = null;
  for (const part of accept.split(",")) {
    const [name, ...params] = part.trim().toLowerCase().split(";");
    const q = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
    if (q !== undefined && Number(q.slice(2)) === 0) continue;
    if (name === "gzip" || name === "*") return "gzip";
    if (name === "deflate") best = "deflate";
  }
  return best;
}
