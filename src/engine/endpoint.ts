// The Engine.IO endpoint on a uWS app: its sessions (one per client) and their ends, the routes on
// its path (the WebSocket side in websocket-requests.ts, the HTTP side in polling-requests.ts, a 404
// elsewhere), the heartbeat, the connect timeout sweep, the connection limits, refusals as
// Engine.IO's `connection_error`, the owner's side of a session moving to another worker
// (SessionOwner), and listen/close. Knows no rooms and no Socket class: namespaces are reached
// through the SessionHost's `namespaceFor`.
import uWS, { type HttpResponse, type TemplatedApp, type us_listen_socket } from "./uws.ts";
import { encodeEngineOpen, ENGINE_PING } from "./codec.ts";
import { CloseCode, Connection, type SessionHost, type SessionNamespace, type SessionTransport } from "./connection.ts";
import { Heartbeat } from "./heartbeat.ts";
import { type HeaderList, HttpError, type HttpErrorKind, refuse } from "./http/errors.ts";
import { randomId } from "./ids.ts";
import { ConnectionLimits, type LimitRefusal } from "./limits.ts";
import type { Logger } from "./logger.ts";
import { type PollingOptions, PollingRequests } from "./polling-requests.ts";
import { PollingTransport } from "./transports/polling.ts";
import { InboundLimiter, RATE_LIMIT_REASON, type InboundRateLimit } from "./rate-limit.ts";
import type { UpgradeRequest, RequestInfo } from "./http/request.ts";
import type { ForwardedRequest, ForwardedResponse, MovedSession, SessionOwner, SessionRouter } from "./session-router.ts";
import type { PacketParser } from "./parser.ts";
import { closeInSlices } from "./slices.ts";
import { type EngineLimit, EngineStats, type RefusalCause, type RefusalReason } from "./stats.ts";
import type { WebSocketTransport } from "./transports/websocket.ts";
import { type WebSocketOptions, WebSocketRequests } from "./websocket-requests.ts";

export type { RequestInfo };

export interface EndpointOptions extends PollingOptions, WebSocketOptions {
  /** Largest message (WebSocket frame, polling POST body) a client may send: maxHttpBufferSize. */
  maxPayload: number;
  /** "polling" and/or "websocket". */
  transports: readonly ("polling" | "websocket")[];
  pingInterval: number;
  pingTimeout: number;
  connectTimeout: number;
  /** Share the port with other processes (SO_REUSEPORT); otherwise listen exclusively. */
  reusePort?: boolean;
  /** An allowRequest that has not called back after this many ms is taken as a refusal (503). */
  allowRequestTimeout: number;
  maxConnections: number;
  maxConnectionsPerIp: number;
  inboundRateLimit: InboundRateLimit | null;
  /** A custom Socket.IO parser (parser.ts), or null for the built-in codec. */
  parser?: PacketParser | null;
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
  private readonly websockets: WebSocketRequests;
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
    this.inboundLimiter = opts.inboundRateLimit ? new InboundLimiter(opts.inboundRateLimit) : null;
    this.polling = new PollingRequests(opts, this);
    this.websockets = new WebSocketRequests(opts, this);
    this.routes();
  }

  get maxPayload(): number {
    return this.opts.maxPayload;
  }

  /** Makes each session's inbound budget and keeps the per-address ones; null when off. */
  readonly inboundLimiter: InboundLimiter | null;

  get parser(): PacketParser | null {
    return this.opts.parser ?? null;
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
  listen(port: number, host?: string): Promise<number> {
    if (this.listenSocket) return Promise.reject(new Error("roomgate: server is already listening"));
    const options = this.opts.reusePort ? 0 : 1; // LIBUS_LISTEN_DEFAULT (reuse) / LIBUS_LISTEN_EXCLUSIVE_PORT
    return new Promise((resolve, reject) => {
      const done = (socket: us_listen_socket | false) => {
        if (!socket) {
          const why = this.opts.reusePort
            ? "address in use or not available"
            : "address in use (by another gateway?) or not available; set reusePort to share it on purpose";
          return reject(new Error(`roomgate: cannot listen on ${host ?? "*"}:${port} (${why})`));
        }
        this.listenSocket = socket;
        this.startHeartbeat();
        resolve(uWS.us_socket_local_port(socket));
      };
      // No host: every address, IPv6 and IPv4 alike, as Node's listen does (uSockets binds `::`
      // with IPV6_V6ONLY off, or 0.0.0.0 on a machine without IPv6).
      if (host === undefined) return this.app.listen(port, options, done);
      // uWS takes (host, port, options, callback); its typings list only (port, options, callback).
      const listen = this.app.listen as unknown as (host: string, port: number, options: number, cb: (s: us_listen_socket | false) => void) => void;
      listen.call(this.app, host, port, options, done);
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

  openPollingSession(request: UpgradeRequest): { sid: string; transport: PollingTransport } {
    const compression = this.opts.httpCompression;
    const transport = new PollingTransport(this.app, {
      closeTimeout: POLLING_CLOSE_TIMEOUT,
      maxBuffered: this.opts.maxBackpressure,
      compression: compression === false ? null : { threshold: compression === true ? 1024 : (compression.threshold ?? 1024) },
    });
    const sid = this.generateId(request);
    // Its place in the limits was reserved by the handshake (polling-requests.ts).
    const conn = this.addSession(transport, sid, request, request.remoteAddress);
    transport.session = conn;
    // Known by sid until its close packet is fetched or it has upgraded.
    transport.onFinished = () => {
      if (this.pollingSessions.get(sid) === conn) this.pollingSessions.delete(sid);
      // Closed while probing (connection.ts keeps the probe of a normal close): its close packet is
      // delivered, or given up on, so no upgrade can take the session any more.
      conn.upgrade?.abandon();
    };
    this.pollingSessions.set(sid, conn);
    this.awaitNamespace(conn);
    transport.sendControl(this.openPacket(sid, this.pollingUpgrades));
    return { sid, transport };
  }

  private openPacket(sid: string, upgrades: string[]): string {
    const { pingInterval, pingTimeout, maxPayload } = this.opts;
    return encodeEngineOpen({ sid, upgrades, pingInterval, pingTimeout, maxPayload });
  }

  private routes(): void {
    const pattern = this.opts.path + "/*";
    this.websockets.route(this.app, pattern);
    // Everything else on the path: polling, CORS preflights, and Engine.IO's errors.
    this.app.any(pattern, (res, req) => this.polling.onRequest(res, req));
    this.notFoundRoute();
  }

  /** Any other path: a prompt 404 and the connection closed (uWS would otherwise close it without
   *  a word). Registered as a catch-all, so the endpoint's own routes take precedence. */
  private notFoundRoute(): void {
    this.app.any("/*", (res) => refuse(res, HttpError.NOT_FOUND));
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

  /** WebSocketHost: a new session on its WebSocket. */
  openWebSocketSession(transport: WebSocketTransport, sid: string, request: UpgradeRequest, limitedAs: string | null): Connection {
    const conn = this.addSession(transport, sid, request, limitedAs);
    this.awaitNamespace(conn);
    transport.sendControl(this.openPacket(sid, []));
    return conn;
  }

  /** WebSocketHost: a session moved here from another worker, on its new WebSocket: what the
   *  owner's polling had not delivered goes out first. */
  adoptMovedSession(transport: WebSocketTransport, sid: string, request: UpgradeRequest, limitedAs: string | null, moved: MovedSession): Connection {
    const conn = this.addSession(transport, sid, request, limitedAs, "session moved here at its upgrade");
    this.stats.movedIn++;
    if (moved.frames.length > 0) transport.sendNow(moved.frames);
    if (moved.sockets.length === 0) this.awaitNamespace(conn);
    return conn;
  }

  /** A new session on `transport`: counted, in the heartbeat wheel, its place in the connection
   *  limits held under `limitedAs` until it is forgotten. */
  private addSession(transport: SessionTransport, sid: string, request: UpgradeRequest, limitedAs: string | null, event = "connection opened"): Connection {
    const conn = new Connection(this, transport, sid, request);
    conn.limitedAs = limitedAs;
    this.connections.add(conn);
    this.stats.opened++;
    this.logger.debug({ sid, address: request.remoteAddress, transport: transport.name }, event);
    return conn;
  }

  /** SessionOwner: a polling session held here probes a WebSocket on another worker. */
  prepareMove(sid: string): boolean {
    if (!this.sessionsMovable) return false;
    return this.pollingSessions.get(sid)?.prepareMove(this.opts.upgradeTimeout) ?? false;
  }

  /** SessionOwner: that WebSocket's probe ended before the switch. */
  cancelMove(sid: string): void {
    this.pollingSessions.get(sid)?.cancelMove();
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
      for (const conn of this.connections.peers()) conn.transport.checkBackpressure();
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

/** The limit behind a refusal, for `roomgate_limits_hit_total`. */
const LIMIT_OF_CAUSE: Partial<Record<RefusalCause, EngineLimit>> = {
  max_connections: "maxConnections",
  max_connections_per_ip: "maxConnectionsPerIp",
  allow_request_timeout: "allowRequestTimeout",
};
