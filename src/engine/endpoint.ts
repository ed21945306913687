// The Engine.IO endpoint on a uWS app: the HTTP upgrade (checks, allowRequest, origins, refusals
// with Engine.IO's error codes), one session per accepted WebSocket, the heartbeat, the connect
// timeout sweep, and listen/close. Knows no rooms and no Socket class: namespaces are reached
// through the SessionHost's `namespaceFor`.
import uWS, { type HttpRequest, type HttpResponse, type TemplatedApp, type WebSocket, type us_listen_socket } from "./uws.ts";
import { encodeEngineOpen, ENGINE_PING } from "./codec.ts";
import { CloseCode, Connection, type SessionHost, type SessionNamespace } from "./connection.ts";
import { Heartbeat } from "./heartbeat.ts";
import { randomId } from "./ids.ts";
import type { Logger } from "./logger.ts";
import { shared, UpgradeRequest, type RequestInfo } from "./request.ts";
import { WebSocketTransport } from "./transport.ts";

export type { RequestInfo };

export interface EndpointOptions {
  /** URL path of the endpoint, without a trailing slash. */
  path: string;
  pingInterval: number;
  pingTimeout: number;
  maxPayload: number;
  connectTimeout: number;
  maxBackpressure: number;
  allowedOrigins?: string[] | ((origin: string) => boolean);
  allowRequest?: (req: RequestInfo, callback: (err: string | null | undefined, success: boolean) => void) => void;
}

interface UpgradeData {
  /** From upgrade to open only: then the connection holds it. */
  request: UpgradeRequest | null;
  connection?: Connection;
}

/** Engine.IO's HTTP error codes. */
const HttpError = {
  UNKNOWN_TRANSPORT: { status: "400 Bad Request", code: 0, message: "Transport unknown" },
  BAD_REQUEST: { status: "400 Bad Request", code: 3, message: "Bad request" },
  FORBIDDEN: { status: "403 Forbidden", code: 4, message: "Forbidden" },
  UNSUPPORTED_PROTOCOL: { status: "400 Bad Request", code: 5, message: "Unsupported protocol version" },
} as const;

/** A refused upgrade, as Engine.IO's `connection_error` event gives it. */
export interface ConnectionErrorInfo {
  req: RequestInfo | null;
  code: number;
  message: string;
  context: Record<string, unknown>;
}

export class Endpoint implements SessionHost {
  /** Makes session ids (Engine.IO's `generateId`); must return a url-safe string. */
  generateId: (req: RequestInfo) => string = () => randomId();
  /** Told of every refused upgrade (Engine.IO's `connection_error`). */
  onConnectionError: ((err: ConnectionErrorInfo) => void) | null = null;
  /** Every open session, in its heartbeat bucket. */
  private readonly connections: Heartbeat<Connection>;
  /** Sessions with no namespace connected yet, with when they opened (kept here, not on every
   *  connection: it matters only until the first CONNECT). */
  private readonly awaitingNamespace = new Map<Connection, number>();
  private connectSweep: NodeJS.Timeout | null = null;
  private listenSocket: us_listen_socket | null = null;

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
    this.routes();
  }

  get maxPayload(): number {
    return this.opts.maxPayload;
  }

  /** Number of open sessions. */
  get clientsCount(): number {
    return this.connections.size;
  }

  /** Starts listening; resolves to the bound port (0 picks a free one). */
  listen(port: number, host: string): Promise<number> {
    if (this.listenSocket) return Promise.reject(new Error("roomgate: server is already listening"));
    return new Promise((resolve, reject) => {
      this.app.listen(host, port, (socket) => {
        if (!socket) return reject(new Error(`roomgate: cannot listen on ${host}:${port} (address in use or not available)`));
        this.listenSocket = socket;
        this.connections.start();
        resolve(uWS.us_socket_local_port(socket));
      });
    });
  }

  /** Ends every session with `reason` and stops listening. */
  close(reason: "server shutting down"): void {
    this.stopHeartbeat();
    for (const conn of [...this.connections.peers()]) conn.close(reason, CloseCode.GOING_AWAY);
    if (this.listenSocket) {
      uWS.us_listen_socket_close(this.listenSocket);
      this.listenSocket = null;
    }
  }

  forgetConnection(conn: Connection): void {
    this.connections.remove(conn);
    this.awaitingNamespace.delete(conn);
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

  private routes(): void {
    const pattern = this.opts.path + "/*";
    this.app.ws<UpgradeData>(pattern, {
      maxPayloadLength: this.opts.maxPayload,
      maxBackpressure: this.opts.maxBackpressure,
      closeOnBackpressureLimit: 1,
      idleTimeout: 0, // the Engine.IO heartbeat detects dead peers
      sendPingsAutomatically: false,
      upgrade: (res, req, context) => this.onUpgrade(res, req, context),
      open: (ws) => this.onOpen(ws),
      message: (ws, message, isBinary) => ws.getUserData().connection?.onMessage(message, isBinary),
      close: (ws) => ws.getUserData().connection?.onTransportClosed("transport close"),
    });
    // Anything else on the path (a polling request, a plain GET) is refused with Engine.IO's error.
    this.app.any(pattern, (res, req) => {
      const query = new URLSearchParams(req.getQuery() ?? "");
      if (query.get("EIO") !== "4") return this.refuse(res, null, HttpError.UNSUPPORTED_PROTOCOL);
      this.refuse(res, null, HttpError.UNKNOWN_TRANSPORT, 'roomgate serves the websocket transport only: connect with { transports: ["websocket"] }');
    });
  }

  private onUpgrade(res: HttpResponse, req: HttpRequest, context: uWS.us_socket_context_t): void {
    const headers: Record<string, string> = {};
    // Interned, but for the WebSocket key: unique per connection, it would only churn the table.
    req.forEach((k, v) => (headers[k] = k === "sec-websocket-key" ? v : shared(v)));
    const request = new UpgradeRequest(
      shared(req.getMethod().toUpperCase()),
      shared(req.getUrl()),
      shared(req.getQuery() ?? ""), // usually "EIO=4&transport=websocket", the same for everyone
      headers,
      shared(Buffer.from(res.getRemoteAddressAsText()).toString()),
    );
    const query = request.query;
    if (query.EIO !== "4") return this.refuse(res, request, HttpError.UNSUPPORTED_PROTOCOL);
    if (query.transport !== "websocket")
      return this.refuse(res, request, HttpError.UNKNOWN_TRANSPORT, 'roomgate serves the websocket transport only: connect with { transports: ["websocket"] }');
    if (query.sid !== undefined) return this.refuse(res, request, HttpError.BAD_REQUEST, "upgrading an existing polling session is not supported");
    if (!this.originAllowed(headers.origin)) return this.refuse(res, request, HttpError.FORBIDDEN, "origin not allowed");

    const key = headers["sec-websocket-key"] ?? "";
    const protocol = headers["sec-websocket-protocol"] ?? "";
    const extensions = headers["sec-websocket-extensions"] ?? "";
    const accept = () => res.upgrade<UpgradeData>({ request }, key, protocol, extensions, context);
    const check = this.opts.allowRequest;
    if (!check) return accept();

    let aborted = false;
    res.onAborted(() => (aborted = true));
    let answered = false;
    try {
      check(request, (err, success) => {
        if (answered || aborted) return;
        answered = true;
        res.cork(() => (success ? accept() : this.refuse(res, request, HttpError.FORBIDDEN, err ?? undefined)));
      });
    } catch (err) {
      if (!answered && !aborted) {
        answered = true;
        res.cork(() => this.refuse(res, request, HttpError.FORBIDDEN, String((err as Error)?.message ?? err)));
      }
    }
  }

  private refuse(res: HttpResponse, req: RequestInfo | null, error: { status: string; code: number; message: string }, detail?: string): void {
    this.onConnectionError?.({ req, code: error.code, message: error.message, context: detail ? { detail } : {} });
    refuse(res, error, detail);
  }

  private originAllowed(origin: string | undefined): boolean {
    const allowed = this.opts.allowedOrigins;
    if (!allowed || origin === undefined) return true;
    return typeof allowed === "function" ? allowed(origin) : allowed.includes(origin);
  }

  private onOpen(ws: WebSocket<UpgradeData>): void {
    const data = ws.getUserData();
    const transport = new WebSocketTransport(ws);
    const sid = this.generateId(data.request!);
    const conn = new Connection(this, transport, sid, data.request!);
    this.awaitNamespace(conn);
    data.request = null;
    data.connection = conn;
    this.connections.add(conn);
    transport.sendControl(
      encodeEngineOpen({ sid, pingInterval: this.opts.pingInterval, pingTimeout: this.opts.pingTimeout, maxPayload: this.opts.maxPayload }),
    );
  }

  /** Starts the heartbeat without listening: the API calls it when the app is the user's, who
   *  listens on it (io.attachApp). listen() starts it too. */
  startHeartbeat(): void {
    this.connections.start();
  }

  private stopHeartbeat(): void {
    if (this.connectSweep) clearInterval(this.connectSweep);
    this.connectSweep = null;
    this.connections.stop();
  }
}

function refuse(res: HttpResponse, error: { status: string; code: number; message: string }, detail?: string): void {
  const body = JSON.stringify(detail ? { code: error.code, message: error.message, detail } : { code: error.code, message: error.message });
  res.writeStatus(error.status).writeHeader("Content-Type", "application/json").end(body);
}
