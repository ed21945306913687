// The WebSocket side of the Engine.IO endpoint: the uWS route on the path, the upgrade's checks
// (EIO version, transports, origins, the connection limits, allowRequest) and refusals with
// Engine.IO's error codes, then what the opened WebSocket carries: a new session, the upgrade probe
// of a polling session held here (upgrade-probe.ts), or the move of one held by another worker
// (remote-upgrade.ts). Reads all it needs from the uWS request before returning (uWS reuses it).
// Knows the sessions only through WebSocketHost (the endpoint); nothing of rooms or namespaces.
import { admit, type AdmissionOptions, originAllowed } from "./admission.ts";
import { compressionFor, type PerMessageDeflate } from "./app.ts";
import { CloseCode, type Connection } from "./connection.ts";
import { HttpError, type HttpErrorKind } from "./http-errors.ts";
import type { LimitRefusal } from "./limits.ts";
import type { Logger } from "./logger.ts";
import { PollingTransport } from "./polling-transport.ts";
import { RemoteUpgrade } from "./remote-upgrade.ts";
import { shared, UpgradeRequest } from "./request.ts";
import { type CookieOptions, sessionCookie } from "./session-cookie.ts";
import type { MovedSession, SessionRouter } from "./session-router.ts";
import type { RefusalCause } from "./stats.ts";
import { WebSocketTransport } from "./transport.ts";
import { UpgradeProbe } from "./upgrade-probe.ts";
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

interface UpgradeData {
  /** From upgrade to open only: then the connection holds it. */
  request: UpgradeRequest | null;
  /** Chosen at the upgrade when a session cookie must carry it. */
  sid?: string;
  connection?: Connection;
  /** A WebSocket opened to upgrade this polling session, from upgrade to open. */
  probeOf?: Connection;
  /** A WebSocket opened to move here a polling session of worker `owner`, from upgrade to open. */
  moveOf?: { owner: string; sid: string; request: UpgradeRequest };
  /** This WebSocket moves a session here (its reservedFor is released if it never becomes one). */
  moved?: true;
  /** The probe running on this WebSocket, until the switch. */
  probe?: UpgradeProbe | RemoteUpgrade;
  /** The client address a new session's place in the connection limits is reserved under, from
   *  the upgrade to open (then the connection holds it). */
  reservedFor?: string;
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
        // A probe first: a session moving here has its connection before its sockets are back.
        if (data.probe !== undefined) data.probe.onMessage(message, isBinary);
        else data.connection?.onMessage(message, isBinary);
      },
      close: (ws) => {
        const data = ws.getUserData();
        data.probe?.onClose();
        if (data.connection !== undefined) data.connection.onTransportClosed("transport close");
        // A move that never became a session gives its place in the limits back.
        else if (data.moved && data.reservedFor !== undefined) this.host.releaseConnection(data.reservedFor);
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
          res.upgrade<UpgradeData>({ request: null, moveOf: { owner, sid, request }, reservedFor }, key, protocol, extensions, context),
        );
      return this.onProbeUpgrade(res, request, sid, (probeOf) => res.upgrade<UpgradeData>({ request: null, probeOf }, key, protocol, extensions, context));
    }

    const cookie = this.opts.cookie;
    const accept = () => {
      // The sid is chosen at open; a session cookie needs it now, so it is chosen here instead.
      if (cookie) {
        const sid = host.generateId(request);
        res.writeStatus("101 Switching Protocols").writeHeader("Set-Cookie", sessionCookie(cookie, sid));
        return res.upgrade<UpgradeData>({ request, sid, reservedFor: address }, key, protocol, extensions, context);
      }
      res.upgrade<UpgradeData>({ request, reservedFor: address }, key, protocol, extensions, context);
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

  /** A WebSocket for a polling session held here: the upgrade probe (upgrade-probe.ts). */
  private onProbeUpgrade(res: HttpResponse, request: UpgradeRequest, sid: string, accept: (conn: Connection) => void): void {
    const conn = this.host.pollingSession(sid);
    const transport = conn?.transport;
    if (!(transport instanceof PollingTransport)) return this.host.refuse(res, request, HttpError.UNKNOWN_SID, "protocol");
    if (!this.opts.allowUpgrades) return this.host.refuse(res, request, HttpError.BAD_REQUEST, "protocol", "upgrades are disabled (allowUpgrades: false)");
    if (transport.probing || transport.closed)
      return this.host.refuse(res, request, HttpError.BAD_REQUEST, "protocol", "an upgrade of this session is already in progress");
    if (!originAllowed(this.opts, request.headers.origin)) return this.host.refuse(res, request, HttpError.FORBIDDEN, "origin", "origin not allowed");
    transport.probing = true;
    accept(conn!);
  }

  /** A WebSocket for a polling session of another worker: the session moves here (remote-upgrade.ts)
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
    if (data.probeOf) return this.onProbeOpen(ws, data, transport);
    if (data.moveOf) return this.onMoveOpen(data, transport);
    const request = data.request!;
    data.request = null;
    data.connection = this.host.openWebSocketSession(transport, data.sid ?? this.host.generateId(request), request, data.reservedFor ?? null);
  }

  private onProbeOpen(ws: WebSocket<UpgradeData>, data: UpgradeData, transport: WebSocketTransport): void {
    const conn = data.probeOf!;
    data.probeOf = undefined;
    const polling = conn.transport;
    if (!(polling instanceof PollingTransport) || polling.closed) {
      if (polling instanceof PollingTransport) polling.probing = false;
      return ws.end(CloseCode.NORMAL, "session closed");
    }
    data.probe = new UpgradeProbe(conn, polling, transport, this.opts.upgradeTimeout, () => {
      data.probe = undefined;
      data.connection = conn;
    });
  }

  private onMoveOpen(data: UpgradeData, transport: WebSocketTransport): void {
    const { owner, sid, request } = data.moveOf!;
    data.moveOf = undefined;
    data.moved = true;
    const router = this.host.sessionRouter;
    if (router === null) return transport.close(CloseCode.NORMAL, "session closed");
    const move = new RemoteUpgrade(router, owner, sid, transport, this.opts.upgradeTimeout, (moved, done) => {
      const conn = this.host.adoptMovedSession(transport, sid, request, data.reservedFor ?? null, moved);
      data.reservedFor = undefined;
      data.connection = conn;
      conn.adopt(moved.sockets, (ok) => {
        if (!ok) conn.close("transport close", CloseCode.INTERNAL_ERROR, "the session could not be restored here");
        done(ok);
      });
    });
    move.onAdopted = (held) => {
      data.probe = undefined;
      for (const [message, isBinary] of held) data.connection?.onMessage(message, isBinary);
    };
    data.probe = move;
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
