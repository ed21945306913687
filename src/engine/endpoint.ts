// The Engine.IO endpoint on a uWS app: the WebSocket upgrade (checks, allowRequest, origins,
// refusals with Engine.IO's error codes, the upgrade probe of a polling session, here or moving it
// from another worker), the HTTP side
// (polling-requests.ts), one session per client, the heartbeat, the connect timeout sweep, and
// listen/close. Knows no rooms and no Socket class: namespaces are reached through the
// SessionHost's `namespaceFor`.
import uWS, { type HttpRequest, type HttpResponse, type TemplatedApp, type WebSocket, type us_listen_socket } from "./uws.ts";
import { admit, originAllowed } from "./admission.ts";
import { compressionFor, type PerMessageDeflate } from "./app.ts";
import { encodeEngineOpen, ENGINE_PING } from "./codec.ts";
import { CloseCode, Connection, type SessionHost, type SessionNamespace } from "./connection.ts";
import { Heartbeat } from "./heartbeat.ts";
import { type HeaderList, HttpError, type HttpErrorKind, refuse } from "./http-errors.ts";
import { randomId } from "./ids.ts";
import { ConnectionLimits, type LimitRefusal } from "./limits.ts";
import type { Logger } from "./logger.ts";
import { type PollingOptions, PollingRequests } from "./polling-requests.ts";
import { PollingTransport } from "./polling-transport.ts";
import { RATE_LIMIT_REASON, type InboundRateLimit } from "./rate-limit.ts";
import { shared, UpgradeRequest, type RequestInfo } from "./request.ts";
import { sessionCookie } from "./session-cookie.ts";
import { RemoteUpgrade } from "./remote-upgrade.ts";
import type { ForwardedRequest, ForwardedResponse, MovedSession, SessionOwner, SessionRouter } from "./session-router.ts";
import { closeInSlices } from "./slices.ts";
import { type EngineLimit, EngineStats, type RefusalCause, type RefusalReason } from "./stats.ts";
import { WebSocketTransport } from "./transport.ts";
import { UpgradeProbe } from "./upgrade-probe.ts";

export type { RequestInfo };

export interface EndpointOptions extends PollingOptions {
  /** URL path of the endpoint, without a trailing slash. */
  path: string;
  pingInterval: number;
  pingTimeout: number;
  /** Largest message (WebSocket frame, polling POST body) a client may send: maxHttpBufferSize. */
  maxPayload: number;
  connectTimeout: number;
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
  /** Share the port with other processes (SO_REUSEPORT); otherwise listen exclusively. */
  reusePort?: boolean;
  /** An allowRequest that has not called back after this many ms is taken as a refusal (503). */
  allowRequestTimeout: number;
  maxConnections: number;
  maxConnectionsPerIp: number;
  inboundRateLimit: InboundRateLimit | null;
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

/** How long a closed polling session's close packet waits for the next poll (Engine.IO's closeTimeout). */
const POLLING_CLOSE_TIMEOUT = 30_000;

/** A refused upgrade, as Engine.IO's `connection_error` event gives it. */
export interface ConnectionErrorInfo {
  req: RequestInfo | null;
  code: number;
  message: string;
  context: Record<string, unknown>;
}

export class Endpoint implements SessionHost, SessionOwner {
  /** Makes session ids (Engine.IO's `generateId`); must return a url-safe string. */
  generateId: (req: RequestInfo) => string = () => randomId();
  /** Told of every refused upgrade (Engine.IO's `connection_error`). */
  onConnectionError: ((err: ConnectionErrorInfo) => void) | null = null;
  /** In a cluster: the sessions of other workers (session-router.ts); null for a lone worker. */
  sessionRouter: SessionRouter | null = null;
  /** Whether a polling session held here may move to the worker its WebSocket upgrade lands on
   *  (its sockets must be recoverable there: the API sets it with connection-state recovery). */
  sessionsMovable = false;
  /** Every open session, in its heartbeat bucket. */
  private readonly connections: Heartbeat<Connection>;
  /** Sessions on the polling transport, by sid (a WebSocket session needs no lookup). */
  private readonly pollingSessions = new Map<string, Connection>();
  private readonly polling: PollingRequests;
  /** Sessions with no namespace connected yet, with when they opened (kept here, not on every
   *  connection: it matters only until the first CONNECT). */
  private readonly awaitingNamespace = new Map<Connection, number>();
  private connectSweep: NodeJS.Timeout | null = null;
  private listenSocket: us_listen_socket | null = null;
  /** Counters for monitoring (read by ops/metrics.ts). */
  readonly stats = new EngineStats();
  private backpressureSweep: NodeJS.Timeout | null = null;
  readonly limits: ConnectionLimits;

  constructor(
    readonly app: TemplatedApp,
    private readonly opts: EndpointOptions,
    readonly logger: Logger,
    /** The namespace a client asks for (the API's server owns them). */
    readonly namespaceFor: (name: string) => SessionNamespace | undefined,
  ) {
    this.connections = new Heartbeat<Connection>(
      opts.pingInterval,
      opts.pingTimeout,
      (conn) => conn.transport.sendControl(ENGINE_PING),
      (conn) => conn.close("ping timeout", CloseCode.POLICY, "ping timeout"),
    );
    this.limits = new ConnectionLimits(opts, logger);
    this.polling = new PollingRequests(opts, this);
    this.routes();
  }

  get maxPayload(): number {
    return this.opts.maxPayload;
  }

  get inboundRateLimit(): InboundRateLimit | null {
    return this.opts.inboundRateLimit;
  }

  /** Number of open sessions. */
  get clientsCount(): number {
    return this.connections.size;
  }

  /** Open sessions by transport name, and how many have unsent bytes buffered (walks the
   *  sessions: for a scrape or a dashboard poll, ~1 ms at 20k sessions, not a hot path). */
  sessionSummary(): { byTransport: Map<string, number>; congested: number } {
    const byTransport = new Map<string, number>();
    let congested = 0;
    for (const conn of this.connections.peers()) {
      byTransport.set(conn.transport.name, (byTransport.get(conn.transport.name) ?? 0) + 1);
      if (conn.transport.congested) congested++;
    }
    return { byTransport, congested };
  }

  /** Whether the listen socket is open. */
  get listening(): boolean {
    return this.listenSocket !== null;
  }

  /** Starts listening; resolves to the bound port (0 picks a free one). Exclusive unless
   *  `reusePort`: a second gateway started on the same port by mistake fails here instead of
   *  silently taking half of the new connections (Linux SO_REUSEPORT). */
  listen(port: number, host: string): Promise<number> {
    if (this.listenSocket) return Promise.reject(new Error("roomgate: server is already listening"));
    const options = this.opts.reusePort ? 0 : 1; // LIBUS_LISTEN_DEFAULT (reuse) / LIBUS_LISTEN_EXCLUSIVE_PORT
    return new Promise((resolve, reject) => {
      // uWS takes (host, port, options, callback); its typings list only (port, options, callback).
      const listen = this.app.listen as unknown as (host: string, port: number, options: number, cb: (s: us_listen_socket | false) => void) => void;
      listen.call(this.app, host, port, options, (socket) => {
        if (!socket) {
          const why = this.opts.reusePort
            ? "address in use or not available"
            : "address in use (by another gateway?) or not available; set reusePort to share it on purpose";
          return reject(new Error(`roomgate: cannot listen on ${host}:${port} (${why})`));
        }
        this.listenSocket = socket;
        this.startHeartbeat();
        resolve(uWS.us_socket_local_port(socket));
      });
    });
  }

  /** Stops accepting connections; open sessions go on. */
  stopListening(): void {
    if (this.listenSocket) {
      uWS.us_listen_socket_close(this.listenSocket);
      this.listenSocket = null;
    }
  }

  /** Stops listening, then ends every session with `reason`, in slices (see closeInSlices). */
  async close(reason: "server shutting down"): Promise<void> {
    // Listening stops first, so clients told to reconnect land on another worker, not here.
    this.stopListening();
    this.stopHeartbeat();
    this.limits.close();
    await closeInSlices([...this.connections.peers()], (conn) => conn.close(reason, CloseCode.GOING_AWAY));
  }

  /** A place in the connection limits for a new session from `address` (released when the session
   *  is forgotten, or by releaseConnection), or why not. */
  reserveConnection(address: string): LimitRefusal | null {
    const refusal = this.limits.admit(address);
    if (refusal === null) return null;
    return refusal === "maxConnections"
      ? { cause: "max_connections", detail: "server is at its connection limit" }
      : { cause: "max_connections_per_ip", detail: "too many connections from this address" };
  }

  releaseConnection(address: string): void {
    this.limits.release(address);
  }

  forgetConnection(conn: Connection, reason: string = "transport close"): void {
    // Teardown may run twice (close, then the transport's close): the place is given back once.
    if (conn.limitedAs !== null) {
      this.limits.release(conn.limitedAs);
      conn.limitedAs = null;
    }
    if (conn.heartbeatBucket < 0) return; // already forgotten
    this.connections.remove(conn);
    this.awaitingNamespace.delete(conn);
    this.stats.disconnect(reason);
    // Counted here, once per session that ends, never on the delivery path.
    if (conn.transport.cutForBackpressure) this.stats.limitHit("maxBackpressure");
    else if (reason === RATE_LIMIT_REASON) this.stats.limitHit("inboundRateLimit");
    this.logger.debug({ sid: conn.sid, reason }, "connection closed");
  }

  awaitNamespace(conn: Connection): void {
    this.awaitingNamespace.set(conn, Date.now());
    // Checked every quarter of connectTimeout: a silent session is closed within 1.25× of it.
    this.connectSweep ??= setInterval(() => this.sweepUnconnected(), Math.max(5, this.opts.connectTimeout / 4));
  }

  namespaceConnected(conn: Connection): void {
    this.awaitingNamespace.delete(conn);
  }

  private sweepUnconnected(): void {
    const deadline = Date.now() - this.opts.connectTimeout;
    for (const [conn, openedAt] of this.awaitingNamespace) {
      if (openedAt > deadline) continue;
      this.awaitingNamespace.delete(conn);
      if (conn.socketCount === 0) conn.close("transport close", CloseCode.POLICY, "no namespace connected within connectTimeout");
    }
    if (this.awaitingNamespace.size === 0 && this.connectSweep) {
      clearInterval(this.connectSweep);
      this.connectSweep = null;
    }
  }

  pollingSession(sid: string): Connection | undefined {
    return this.pollingSessions.get(sid);
  }

  /** A polling request another worker received for a session held here (session-router.ts). */
  handleForwarded(request: ForwardedRequest, aborted?: AbortSignal): Promise<ForwardedResponse> {
    return this.polling.handleForwarded(request, aborted);
  }

  /** Upgrades a polling session may make, as its open packet lists them. */
  private get pollingUpgrades(): string[] {
    return this.opts.allowUpgrades && this.opts.transports.includes("websocket") ? ["websocket"] : [];
  }

  openPollingSession(request: UpgradeRequest): Connection {
    const compression = this.opts.httpCompression;
    const transport = new PollingTransport(this.app, {
      closeTimeout: POLLING_CLOSE_TIMEOUT,
      maxBuffered: this.opts.maxBackpressure,
      compression: compression === false ? null : { threshold: compression === true ? 1024 : (compression.threshold ?? 1024) },
    });
    const sid = this.generateId(request);
    const conn = new Connection(this, transport, sid, request);
    conn.limitedAs = request.remoteAddress; // reserved by the handshake (polling-requests.ts)
    transport.session = conn;
    // Known by sid until its close packet is fetched or it has upgraded.
    transport.onFinished = () => {
      if (this.pollingSessions.get(sid) === conn) this.pollingSessions.delete(sid);
    };
    this.pollingSessions.set(sid, conn);
    this.connections.add(conn);
    this.stats.opened++;
    this.logger.debug({ sid, address: request.remoteAddress, transport: transport.name }, "connection opened");
    this.awaitNamespace(conn);
    transport.sendControl(this.openPacket(sid, this.pollingUpgrades));
    return conn;
  }

  private openPacket(sid: string, upgrades: string[]): string {
    const { pingInterval, pingTimeout, maxPayload } = this.opts;
    return encodeEngineOpen({ sid, upgrades, pingInterval, pingTimeout, maxPayload });
  }

  private routes(): void {
    const pattern = this.opts.path + "/*";
    this.app.ws<UpgradeData>(pattern, {
      maxPayloadLength: this.opts.maxPayload,
      // uWS's own cut (no close frame) sits above ours: see startBackpressureSweep.
      maxBackpressure: this.opts.maxBackpressure + backpressureCushion(this.opts.maxBackpressure),
      closeOnBackpressureLimit: 1,
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
        else if (data.moved && data.reservedFor !== undefined) this.releaseConnection(data.reservedFor);
      },
    });
    // Everything else on the path: polling, CORS preflights, and Engine.IO's errors.
    this.app.any(pattern, (res, req) => this.polling.onRequest(res, req));
    this.notFoundRoute();
  }

  /** Any other path: a prompt 404 and the connection closed (uWS would otherwise close it without
   *  a word). Registered as a catch-all, so the endpoint's own routes take precedence. */
  private notFoundRoute(): void {
    this.app.any("/*", (res) => refuse(res, HttpError.NOT_FOUND));
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
    const query = request.query;
    if (query.EIO !== "4") return this.refuse(res, request, HttpError.UNSUPPORTED_PROTOCOL, "protocol");
    if (query.transport !== "websocket" || !this.opts.transports.includes("websocket"))
      return this.refuse(res, request, HttpError.UNKNOWN_TRANSPORT, "protocol", `this server serves the transports ${JSON.stringify(this.opts.transports)}`);
    // Which of two Origin headers would a check believe? Neither: refuse the ambiguity.
    if (origins > 1) return this.refuse(res, request, HttpError.BAD_REQUEST, "ambiguous_origin", "more than one Origin header");
    const key = headers["sec-websocket-key"] ?? "";
    const protocol = headers["sec-websocket-protocol"] ?? "";
    const extensions = headers["sec-websocket-extensions"] ?? "";
    if (query.sid !== undefined) {
      const owner = this.pollingSessions.has(query.sid) ? null : (this.sessionRouter?.ownerOf(query.sid) ?? null);
      if (owner !== null)
        return this.onMoveUpgrade(res, request, owner, query.sid, (reservedFor) =>
          res.upgrade<UpgradeData>({ request: null, moveOf: { owner, sid: query.sid!, request }, reservedFor }, key, protocol, extensions, context),
        );
      return this.onProbeUpgrade(res, request, query.sid, (probeOf) =>
        res.upgrade<UpgradeData>({ request: null, probeOf }, key, protocol, extensions, context),
      );
    }

    const cookie = this.opts.cookie;
    const accept = () => {
      // The sid is chosen at open; a session cookie needs it now, so it is chosen here instead.
      if (cookie) {
        const sid = this.generateId(request);
        res.writeStatus("101 Switching Protocols").writeHeader("Set-Cookie", sessionCookie(cookie, sid));
        return res.upgrade<UpgradeData>({ request, sid, reservedFor: address }, key, protocol, extensions, context);
      }
      res.upgrade<UpgradeData>({ request, reservedFor: address }, key, protocol, extensions, context);
    };
    if (!originAllowed(this.opts, headers.origin)) return this.refuse(res, request, HttpError.FORBIDDEN, "origin", "origin not allowed");
    const address = request.remoteAddress;
    const limited = this.reserveConnection(address);
    if (limited !== null) return this.refuse(res, request, HttpError.SERVICE_UNAVAILABLE, limited.cause, limited.detail);
    if (!this.opts.allowRequest) return accept();
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
      this.releaseConnection(address);
    });
    admit(
      this.opts,
      request,
      () => aborted,
      (refusal) =>
        res.cork(() => {
          if (refusal === null) return accept();
          this.releaseConnection(address);
          if (refusal.timedOut) this.refuse(res, request, HttpError.SERVICE_UNAVAILABLE, refusal.cause, refusal.reason);
          else this.refuse(res, request, HttpError.FORBIDDEN, refusal.cause, refusal.reason || undefined);
        }),
      this.logger,
    );
  }

  /** A WebSocket for an existing polling session: the upgrade probe (upgrade-probe.ts). */
  private onProbeUpgrade(res: HttpResponse, request: UpgradeRequest, sid: string, accept: (conn: Connection) => void): void {
    const conn = this.pollingSessions.get(sid);
    const transport = conn?.transport;
    if (!(transport instanceof PollingTransport)) return this.refuse(res, request, HttpError.UNKNOWN_SID, "protocol");
    if (!this.opts.allowUpgrades) return this.refuse(res, request, HttpError.BAD_REQUEST, "protocol", "upgrades are disabled (allowUpgrades: false)");
    if (transport.probing || transport.closed)
      return this.refuse(res, request, HttpError.BAD_REQUEST, "protocol", "an upgrade of this session is already in progress");
    if (!originAllowed(this.opts, request.headers.origin)) return this.refuse(res, request, HttpError.FORBIDDEN, "origin", "origin not allowed");
    transport.probing = true;
    accept(conn!);
  }

  /** A WebSocket for a polling session of another worker: the session moves here (remote-upgrade.ts)
   *  if it takes a place in this worker's limits; refused otherwise (code 3: the probe fails and
   *  the client goes on polling through any worker; code 1 would tell it its session is gone). */
  private onMoveUpgrade(res: HttpResponse, request: UpgradeRequest, owner: string, sid: string, accept: (reservedFor: string) => void): void {
    if (!this.opts.allowUpgrades) return this.refuse(res, request, HttpError.BAD_REQUEST, "protocol", "upgrades are disabled (allowUpgrades: false)");
    if (!this.sessionsMovable)
      return this.refuse(
        res,
        request,
        HttpError.BAD_REQUEST,
        "protocol",
        "the session lives on another worker and moves only with connectionStateRecovery: it stays on polling",
      );
    if (!originAllowed(this.opts, request.headers.origin)) return this.refuse(res, request, HttpError.FORBIDDEN, "origin", "origin not allowed");
    const address = request.remoteAddress;
    if (this.reserveConnection(address) !== null)
      return this.refuse(
        res,
        request,
        HttpError.BAD_REQUEST,
        "protocol",
        `this worker is at its connection limits: session ${sid} stays on polling with ${owner}`,
      );
    accept(address);
  }

  /** Answers Engine.IO's error and reports it (Engine.IO's `connection_error`). */
  refuse(res: HttpResponse, req: RequestInfo | null, error: HttpErrorKind, cause: RefusalCause, detail?: string, headers?: HeaderList): void {
    this.reportRefusal(req, error, cause, detail);
    refuse(res, error, detail, headers);
  }

  /** Counts (by Engine.IO error, e.g. "forbidden", "transport_unknown", and by the finer `cause`,
   *  a limit hit included), logs at debug and reports (Engine.IO's `connection_error`) a refused request. */
  reportRefusal(req: RequestInfo | null, error: HttpErrorKind, cause: RefusalCause, detail?: string): void {
    const reason: RefusalReason = error.message.toLowerCase().replace(/\W+/g, "_");
    this.stats.refuse(reason, cause);
    const limit = LIMIT_OF_CAUSE[cause];
    if (limit !== undefined) this.stats.limitHit(limit);
    this.logger.debug({ reason, cause, address: req?.remoteAddress, detail: detail ?? error.message }, "handshake refused");
    this.onConnectionError?.({ req, code: error.code, message: error.message, context: detail ? { detail } : {} });
  }

  private onOpen(ws: WebSocket<UpgradeData>): void {
    const data = ws.getUserData();
    const transport = new WebSocketTransport(ws, this.opts.maxBackpressure);
    if (data.probeOf) return this.onProbeOpen(ws, data, transport);
    if (data.moveOf) return this.onMoveOpen(data, transport);
    const sid = data.sid ?? this.generateId(data.request!);
    const address = data.request!.remoteAddress;
    const conn = new Connection(this, transport, sid, data.request!);
    conn.limitedAs = data.reservedFor ?? null;
    this.awaitNamespace(conn);
    data.request = null;
    data.connection = conn;
    this.connections.add(conn);
    this.stats.opened++;
    this.logger.debug({ sid, address, transport: transport.name }, "connection opened");
    transport.sendControl(this.openPacket(sid, []));
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
    const router = this.sessionRouter;
    if (router === null) return transport.close(CloseCode.NORMAL, "session closed");
    const move = new RemoteUpgrade(router, owner, sid, transport, this.opts.upgradeTimeout, (moved, done) => {
      const conn = this.adoptSession(transport, sid, request, data.reservedFor ?? null, moved);
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

  /** A session moved here from another worker, on its new WebSocket: what the owner's polling had
   *  not delivered goes out first. */
  private adoptSession(transport: WebSocketTransport, sid: string, request: UpgradeRequest, limitedAs: string | null, moved: MovedSession): Connection {
    const conn = new Connection(this, transport, sid, request);
    conn.limitedAs = limitedAs;
    this.connections.add(conn);
    this.stats.opened++;
    this.stats.movedIn++;
    this.logger.debug({ sid, address: request.remoteAddress, transport: transport.name }, "session moved here at its upgrade");
    if (moved.frames.length > 0) transport.sendNow(moved.frames);
    if (moved.sockets.length === 0) this.awaitNamespace(conn);
    return conn;
  }

  /** SessionOwner: a polling session held here probes a WebSocket on another worker. */
  prepareMove(sid: string): boolean {
    if (!this.sessionsMovable) return false;
    return this.pollingSessions.get(sid)?.prepareMove(this.opts.upgradeTimeout) ?? false;
  }

  /** SessionOwner: that WebSocket got the switch; the session leaves. */
  handOff(sid: string): MovedSession | null {
    const moved = this.pollingSessions.get(sid)?.handOff() ?? null;
    if (moved !== null) this.stats.movedOut++;
    return moved;
  }

  /** Starts the heartbeat without listening: the API calls it when the app is the user's, who
   *  listens on it (io.attachApp). listen() starts it too. */
  startHeartbeat(): void {
    this.connections.start();
    this.startBackpressureSweep();
  }

  /** uWS cuts a client past its buffer limit without a close frame (it shuts the socket down and
   *  drops the frame that would say why), so the endpoint cuts it first, just under uWS's limit
   *  (see `routes`), with a close frame that gives the reason. Checked after every flush by the
   *  transport, and here every second for clients that only get native publishes. */
  private startBackpressureSweep(): void {
    if (this.backpressureSweep) return;
    this.backpressureSweep = setInterval(() => {
      for (const conn of this.connections.peers()) conn.transport.checkBackpressure?.();
    }, 1000);
    this.backpressureSweep.unref();
  }

  private stopHeartbeat(): void {
    if (this.backpressureSweep) clearInterval(this.backpressureSweep);
    this.backpressureSweep = null;
    if (this.connectSweep) clearInterval(this.connectSweep);
    this.connectSweep = null;
    this.connections.stop();
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

/** The limit behind a refusal, for `roomgate_limits_hit_total`. */
const LIMIT_OF_CAUSE: Partial<Record<RefusalCause, EngineLimit>> = {
  max_connections: "maxConnections",
  max_connections_per_ip: "maxConnectionsPerIp",
  allow_request_timeout: "allowRequestTimeout",
};

/** Room between our backpressure cut and uWS's: a second's native publishes can land in between. */
function backpressureCushion(maxBackpressure: number): number {
  return Math.max(1024 * 1024, maxBackpressure);
}
