// The WebSocket side of the Engine.IO endpoint: the uWS route on the path, the upgrade's checks
// (EIO version, transports, origins, the connection limits, allowRequest) and refusals with
// Engine.IO's error codes, then what the opened WebSocket carries (UpgradeData, one of three cases
// fixed at the upgrade): a new session, the upgrade probe of a polling session held here
// (upgrade/upgrade-probe.ts), or the move of one held by another worker (upgrade/remote-upgrade.ts).
// Reads all it needs from the uWS request before returning (uWS reuses it). Knows the sessions only
// through WebSocketHost (the endpoint) and their upgrade; nothing of rooms or namespaces.
import { admit, type AdmissionOptions, originAllowed } from "./http/admission.ts";
import { compressionFor, type PerMessageDeflate } from "./app.ts";
import { CloseCode, type Connection } from "./connection.ts";
import { HttpError, type HttpErrorKind } from "./http/errors.ts";
import type { LimitRefusal } from "./limits.ts";
import type { Logger } from "./logger.ts";
import { RemoteUpgrade } from "./upgrade/remote-upgrade.ts";
import { shared, UpgradeRequest } from "./http/request.ts";
import { type CookieOptions, sessionCookie } from "./http/session-cookie.ts";
import type { MovedSession, SessionRouter } from "./session-router.ts";
import type { RefusalCause } from "./stats.ts";
import { WebSocketTransport } from "./transports/websocket.ts";
import { UpgradeProbe } from "./upgrade/upgrade-probe.ts";
import type uWS from "./uws.ts";
import type { HttpRequest, HttpResponse, TemplatedApp, WebSocket } from "./uws.ts";

export interface WebSocketOptions extends AdmissionOptions {
  /** URL path of the endpoint, without a trailing slash. */
  path: string;
  /** Largest frame a client may send (maxHttpBufferSize). */
  maxPayload: number;
  maxBackpressure: number;
  /** "polling" and/or "websocket". */
  transports: readonly ("polling" | "websocket")[];
  /** Whether a polling session may upgrade to a WebSocket. */
  allowUpgrades: boolean;
  /** Milliseconds an upgrade probe may take before it is abandoned. */
  upgradeTimeout: number;
  /** The app serves TLS (handshake.secure). */
  secure?: boolean;
  /** Take the client's address and scheme from X-Forwarded-For / X-Forwarded-Proto. */
  trustProxy?: boolean;
  perMessageDeflate?: PerMessageDeflate;
  cookie?: CookieOptions | null;
}

/** What the WebSocket side needs of the endpoint. */
export interface WebSocketHost {
  readonly logger: Logger;
  /** In a cluster: where the sessions of other workers are (null for a lone worker). */
  readonly sessionRouter: SessionRouter | null;
  /** Whether a polling session of another worker may move here at its upgrade. */
  readonly sessionsMovable: boolean;
  generateId(request: UpgradeRequest): string;
  /** The polling session `sid`, while its transport serves requests. */
  pollingSession(sid: string): Connection | undefined;
  /** Opens a session on a new WebSocket (its place in the limits reserved under `limitedAs`). */
  openWebSocketSession(transport: WebSocketTransport, sid: string, request: UpgradeRequest, limitedAs: string | null): Connection;
  /** A session moved here from another worker, on its new WebSocket (sockets not restored yet). */
  adoptMovedSession(transport: WebSocketTransport, sid: string, request: UpgradeRequest, limitedAs: string | null, moved: MovedSession): Connection;
  reserveConnection(address: string): LimitRefusal | null;
  releaseConnection(address: string): void;
  /** Answers Engine.IO's error and reports it. */
  refuse(res: HttpResponse, req: UpgradeRequest, error: HttpErrorKind, cause: RefusalCause, detail?: string): void;
}

/** What a WebSocket carries from its upgrade to its close: one of three cases, fixed at the upgrade. */
type UpgradeData = NewSessionData | ProbeData | MoveData;

/** A WebSocket that opens a new session. */
interface NewSessionData {
  readonly kind: "session";
  /** From upgrade to open only: then the connection holds it. */
  request: UpgradeRequest | null;
  /** Chosen at the upgrade when a session cookie must carry it (otherwise at open). */
  readonly sid: string | null;
  /** The client address the session's place in the connection limits is reserved under, from the
   *  upgrade to open (then the connection holds it). */
  readonly reservedFor: string;
  connection: Connection | null;
}

/** A WebSocket that probes the upgrade of a polling session held here. */
interface ProbeData {
  readonly kind: "probe";
  readonly session: Connection;
  /** The upgrade running on this WebSocket, from open until the switch or its end. */
  upgrade: UpgradeProbe | null;
  /** The session, once the switch made this WebSocket its transport. */
  connection: Connection | null;
}

/** A WebSocket that moves here a polling session of worker `owner`. */
interface MoveData {
  readonly kind: "move";
  readonly owner: string;
  readonly sid: string;
  readonly request: UpgradeRequest;
  /** The client address its place in this worker's limits is reserved under, until the session is
   *  built here (then the connection holds it); given back if it never is. */
  reservedFor: string | null;
  /** The upgrade running on this WebSocket (the move), from open until the session runs here (its
   *  sockets restored) or the move ends. */
  upgrade: RemoteUpgrade | null;
  /** The session, once built here from the owner's hand-off. */
  connection: Connection | null;
}

export class WebSocketRequests {
  constructor(
    private readonly opts: WebSocketOptions,
    private readonly host: WebSocketHost,
  ) {}

  /** The WebSocket route on `pattern`. */
  route(app: TemplatedApp, pattern: string): void {
    app.ws<UpgradeData>(pattern, {
      maxPayloadLength: this.opts.maxPayload,
      // uWS's own cut (no close frame) sits above ours: see Endpoint.startBackpressureSweep.
      maxBackpressure: this.opts.maxBackpressure + backpressureCushion(this.opts.maxBackpressure),
      closeOnBackpressureLimit: true, // 20.30 typed it as a number; both builds read it as a flag
      idleTimeout: 0, // the Engine.IO heartbeat detects dead peers
      compression: compressionFor(this.opts.perMessageDeflate),
      sendPingsAutomatically: false,
      upgrade: (res, req, context) => this.onUpgrade(res, req, context),
      open: (ws) => this.onOpen(ws),
      message: (ws, message, isBinary) => {
        const data = ws.getUserData();
        // An upgrade first: a session moving here has its connection before its sockets are back.
        if (data.kind !== "session" && data.upgrade !== null) data.upgrade.onMessage(message, isBinary);
        else data.connection?.onMessage(message, isBinary);
      },
      close: (ws) => {
        const data = ws.getUserData();
        if (data.kind !== "session") data.upgrade?.onClose();
        if (data.connection !== null) data.connection.onTransportClosed("transport close");
        // A move that never became a session gives its place in the limits back.
        else if (data.kind === "move" && data.reservedFor !== null) this.host.releaseConnection(data.reservedFor);
      },
    });
  }

  private onUpgrade(res: HttpResponse, req: HttpRequest, context: uWS.us_socket_context_t): void {
    const headers: Record<string, string> = {};
    let origins = 0;
    // Interned, but for the WebSocket key: unique per connection, it would only churn the table.
    req.forEach((k, v) => {
      if (k === "origin") origins++;
      headers[k] = k === "sec-websocket-key" ? v : shared(v);
    });
    const proxied = this.opts.trustProxy ? forwarded(headers) : null;
    const request = new UpgradeRequest(
      shared(req.getMethod().toUpperCase()),
      shared(req.getUrl()),
      shared(req.getQuery() ?? ""), // usually "EIO=4&transport=websocket", the same for everyone
      headers,
      shared(proxied?.address ?? Buffer.from(res.getRemoteAddressAsText()).toString()),
      proxied?.secure ?? !!this.opts.secure,
    );
    const host = this.host;
    const query = request.query;
    if (query.EIO !== "4") return host.refuse(res, request, HttpError.UNSUPPORTED_PROTOCOL, "protocol");
    if (query.transport !== "websocket" || !this.opts.transports.includes("websocket"))
      return host.refuse(res, request, HttpError.UNKNOWN_TRANSPORT, "protocol", `this server serves the transports ${JSON.stringify(this.opts.transports)}`);
    // Which of two Origin headers would a check believe? Neither: refuse the ambiguity.
    if (origins > 1) return host.refuse(res, request, HttpError.BAD_REQUEST, "ambiguous_origin", "more than one Origin header");
    const key = headers["sec-websocket-key"] ?? "";
    const protocol = headers["sec-websocket-protocol"] ?? "";
    const extensions = headers["sec-websocket-extensions"] ?? "";
    const sid = query.sid;
    if (sid !== undefined) {
      const owner = host.pollingSession(sid) ? null : (host.sessionRouter?.ownerOf(sid) ?? null);
      if (owner !== null)
        return this.onMoveUpgrade(res, request, owner, sid, (reservedFor) =>
          res.upgrade<UpgradeData>({ kind: "move", owner, sid, request, reservedFor, upgrade: null, connection: null }, key, protocol, extensions, context),
        );
      return this.onProbeUpgrade(res, request, sid, (session) =>
        res.upgrade<UpgradeData>({ kind: "probe", session, upgrade: null, connection: null }, key, protocol, extensions, context),
      );
    }

    const cookie = this.opts.cookie;
    const accept = () => {
      // The sid is chosen at open; a session cookie needs it now, so it is chosen here instead.
      let sid: string | null = null;
      if (cookie) {
        sid = host.generateId(request);
        res.writeStatus("101 Switching Protocols").writeHeader("Set-Cookie", sessionCookie(cookie, sid));
      }
      res.upgrade<UpgradeData>({ kind: "session", request, sid, reservedFor: address, connection: null }, key, protocol, extensions, context);
    };
    if (!originAllowed(this.opts, headers.origin)) return host.refuse(res, request, HttpError.FORBIDDEN, "origin", "origin not allowed");
    const address = request.remoteAddress;
    const limited = host.reserveConnection(address);
    if (limited !== null) return host.refuse(res, request, HttpError.SERVICE_UNAVAILABLE, limited.cause, limited.detail);
    if (!this.opts.allowRequest) return accept();
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
      host.releaseConnection(address);
    });
    admit(
      this.opts,
      request,
      () => aborted,
      (refusal) =>
        res.cork(() => {
          if (refusal === null) return accept();
          host.releaseConnection(address);
          if (refusal.timedOut) host.refuse(res, request, HttpError.SERVICE_UNAVAILABLE, refusal.cause, refusal.reason);
          else host.refuse(res, request, HttpError.FORBIDDEN, refusal.cause, refusal.reason || undefined);
        }),
      host.logger,
    );
  }

  /** A WebSocket for a polling session held here: the upgrade probe (upgrade/upgrade-probe.ts). */
  private onProbeUpgrade(res: HttpResponse, request: UpgradeRequest, sid: string, accept: (conn: Connection) => void): void {
    const conn = this.host.pollingSession(sid);
    const upgrade = conn?.upgrade;
    if (conn === undefined || !upgrade) return this.host.refuse(res, request, HttpError.UNKNOWN_SID, "protocol");
    if (!this.opts.allowUpgrades) return this.host.refuse(res, request, HttpError.BAD_REQUEST, "protocol", "upgrades are disabled (allowUpgrades: false)");
    if (!upgrade.can("accept")) return this.host.refuse(res, request, HttpError.BAD_REQUEST, "protocol", "an upgrade of this session is already in progress");
    if (!originAllowed(this.opts, request.headers.origin)) return this.host.refuse(res, request, HttpError.FORBIDDEN, "origin", "origin not allowed");
    upgrade.accept();
    accept(conn);
  }

  /** A WebSocket for a polling session of another worker: the session moves here (upgrade/remote-upgrade.ts)
   *  if it takes a place in this worker's limits; refused otherwise (code 3: the probe fails and
   *  the client goes on polling through any worker; code 1 would tell it its session is gone). */
  private onMoveUpgrade(res: HttpResponse, request: UpgradeRequest, owner: string, sid: string, accept: (reservedFor: string) => void): void {
    const host = this.host;
    if (!this.opts.allowUpgrades) return host.refuse(res, request, HttpError.BAD_REQUEST, "protocol", "upgrades are disabled (allowUpgrades: false)");
    if (!host.sessionsMovable)
      return host.refuse(
        res,
        request,
        HttpError.BAD_REQUEST,
        "protocol",
        "the session lives on another worker and moves only with connectionStateRecovery: it stays on polling",
      );
    if (!originAllowed(this.opts, request.headers.origin)) return host.refuse(res, request, HttpError.FORBIDDEN, "origin", "origin not allowed");
    const address = request.remoteAddress;
    if (host.reserveConnection(address) !== null)
      return host.refuse(
        res,
        request,
        HttpError.BAD_REQUEST,
        "protocol",
        `this worker is at its connection limits: session ${sid} stays on polling with ${owner}`,
      );
    accept(address);
  }

  private onOpen(ws: WebSocket<UpgradeData>): void {
    const data = ws.getUserData();
    const transport = new WebSocketTransport(ws, this.opts.maxBackpressure);
    if (data.kind === "probe") return this.onProbeOpen(ws, data, transport);
    if (data.kind === "move") return this.onMoveOpen(data, transport);
    const request = data.request;
    if (request === null) return; // opened once only
    data.request = null;
    data.connection = this.host.openWebSocketSession(transport, data.sid ?? this.host.generateId(request), request, data.reservedFor);
  }

  private onProbeOpen(ws: WebSocket<UpgradeData>, data: ProbeData, transport: WebSocketTransport): void {
    const conn = data.session;
    const upgrade = conn.upgrade;
    const probe =
      upgrade &&
      UpgradeProbe.start(conn, upgrade, transport, this.opts.upgradeTimeout, () => {
        data.upgrade = null;
        data.connection = conn;
      });
    if (!probe) return ws.end(CloseCode.NORMAL, "session closed");
    data.upgrade = probe;
  }

  private onMoveOpen(data: MoveData, transport: WebSocketTransport): void {
    const { owner, sid, request } = data;
    const router = this.host.sessionRouter;
    if (router === null) return transport.close(CloseCode.NORMAL, "session closed");
    const move = new RemoteUpgrade(router, owner, sid, transport, this.opts.upgradeTimeout, (moved, done) => {
      const conn = this.host.adoptMovedSession(transport, sid, request, data.reservedFor, moved);
      data.reservedFor = null;
      data.connection = conn;
      conn.adopt(moved.sockets, (ok) => {
        if (!ok) conn.close("transport close", CloseCode.INTERNAL_ERROR, "the session could not be restored here");
        done(ok);
      });
    });
    move.onAdopted = (held) => {
      data.upgrade = null;
      for (const [message, isBinary] of held) data.connection?.onMessage(message, isBinary);
    };
    data.upgrade = move;
  }
}

/** The client's address and scheme as a trusted proxy reports them (the first X-Forwarded-For
 *  entry is the client; X-Forwarded-Proto "https" means TLS ended at the proxy). */
function forwarded(headers: Record<string, string>): { address?: string; secure?: boolean } {
  const xff = headers["x-forwarded-for"];
  const proto = headers["x-forwarded-proto"];
  return {
    address: xff ? xff.split(",")[0].trim() || undefined : undefined,
    secure: proto ? proto.split(",")[0].trim().toLowerCase() === "https" : undefined,
  };
}

/** Room between our backpressure cut and uWS's: a second's native publishes can land in between. */
function backpressureCushion(maxBackpressure: number): number {
  return Math.max(1024 * 1024, maxBackpressure);
}
