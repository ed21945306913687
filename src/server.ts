// The Socket.IO-compatible server on uWebSockets.js: HTTP upgrade and refusal, Engine.IO
// sessions and heartbeat, namespaces, listen/close. `io.emit/to/...` act on the main namespace.
import { randomId } from "./ids.ts";
import uWS, { type HttpRequest, type HttpResponse, type TemplatedApp, type WebSocket, type us_listen_socket } from "./uws.ts";
import { Adapter, type AdapterConstructor } from "./adapter.ts";
import { createClusterAdapter, type ClusterOptions } from "./cluster/cluster-adapter.ts";
import type { BroadcastOperator } from "./broadcast.ts";
import { encodeEngineOpen, ENGINE_PING } from "./codec.ts";
import { CloseCode, Connection } from "./connection.ts";
import { Delivery } from "./delivery.ts";
import type { Room, SocketId } from "./membership.ts";
import type { DerivedTopicOptions } from "./derived-topics.ts";
import { Namespace, type Middleware } from "./namespace.ts";
import { Planner } from "./planner.ts";
import type { Handshake, Socket } from "./socket.ts";
import { WebSocketTransport } from "./transport.ts";
import { shared, UpgradeRequest, type RequestInfo } from "./request.ts";

export type { RequestInfo };

export interface ServerOptions {
  /** URL path of the endpoint; default "/socket.io". */
  path?: string;
  /** Engine.IO heartbeat: ping every pingInterval ms, drop a client silent for pingTimeout more. */
  pingInterval?: number;
  pingTimeout?: number;
  /** Largest frame accepted from a client, in bytes (default 1e6); larger closes the connection. */
  maxPayload?: number;
  /** A connection must connect a namespace within this many ms (default 45000). */
  connectTimeout?: number;
  /** Browser origins allowed to connect (an Origin header not listed is refused); default: any. */
  allowedOrigins?: string[] | ((origin: string) => boolean);
  /** Asynchronous check before the upgrade is accepted (Socket.IO's allowRequest). */
  allowRequest?: (req: RequestInfo, callback: (err: string | null | undefined, success: boolean) => void) => void;
  /** Bytes a slow client may have buffered before it is disconnected (default 4 MiB). */
  maxBackpressure?: number;
  /** Off by default. On (`true` or `{ after, max }`), a composite target (union, except) broadcast
   *  to repeatedly gets a maintained native topic: ~10% less CPU on steady streams at the same
   *  latency, but joins/leaves of its rooms cost more (bench/RESULTS.md). */
  derivedTopics?: DerivedTopicOptions | boolean;
  /** The adapter class each namespace uses (the cluster adapter plugs in here). */
  adapter?: AdapterConstructor;
  /** Joins a cluster of workers through a NATS relay (see README "Cluster"); ignored with `adapter`. */
  cluster?: ClusterOptions;
}

type ResolvedOptions = Required<Omit<ServerOptions, "allowedOrigins" | "allowRequest" | "adapter" | "cluster" | "derivedTopics">> &
  Pick<ServerOptions, "allowedOrigins" | "allowRequest"> & { derivedTopics: DerivedTopicOptions };

const DEFAULTS = {
  path: "/socket.io",
  pingInterval: 25000,
  pingTimeout: 20000,
  maxPayload: 1e6,
  connectTimeout: 45000,
  maxBackpressure: 4 * 1024 * 1024,
  derivedTopics: { max: 0 },
};

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

export class Server {
  readonly opts: ResolvedOptions;
  readonly app: TemplatedApp;
  readonly delivery: Delivery;
  readonly planner = new Planner();
  readonly adapterConstructor: AdapterConstructor;
  private readonly namespaces = new Map<string, Namespace>();
  private readonly connections = new Set<Connection>();
  /** Connections that have not connected a namespace yet (checked by one sweep, not a timer each). */
  /** Sessions with no namespace connected yet, with when they opened (kept here, not on every
   *  connection: it matters only until the first CONNECT). */
  private readonly awaitingNamespace = new Map<Connection, number>();
  private connectSweep: NodeJS.Timeout | null = null;
  private listenSocket: us_listen_socket | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private pongDeadline: NodeJS.Timeout | null = null;

  constructor(opts: ServerOptions = {}) {
    this.opts = {
      ...DEFAULTS,
      ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)),
    } as ResolvedOptions;
    this.opts.path = this.opts.path.replace(/\/$/, "");
    if (typeof opts.derivedTopics === "boolean") this.opts.derivedTopics = opts.derivedTopics ? {} : { max: 0 };
    this.adapterConstructor = opts.adapter ?? (opts.cluster ? createClusterAdapter(opts.cluster) : Adapter);
    this.app = uWS.App();
    this.delivery = new Delivery(this.app);
    this.routes();
    this.of("/");
  }

  // ---------- Socket.IO API ----------

  /** The namespace `name`, created on first use. */
  of(name: string): Namespace {
    if (typeof name !== "string") throw new TypeError("namespace name must be a string");
    if (!name.startsWith("/")) name = "/" + name;
    if (/[,\x1f]/.test(name)) throw new TypeError(`invalid namespace name ${JSON.stringify(name)}`);
    let nsp = this.namespaces.get(name);
    if (!nsp) {
      nsp = new Namespace(this, name);
      this.namespaces.set(name, nsp);
    }
    return nsp;
  }

  get sockets(): Namespace {
    return this.of("/");
  }

  on(ev: "connection" | "connect", listener: (socket: Socket) => void): this {
    this.sockets.on(ev, listener);
    return this;
  }
  once(ev: "connection" | "connect", listener: (socket: Socket) => void): this {
    this.sockets.once(ev, listener);
    return this;
  }
  off(ev: "connection" | "connect", listener: (socket: Socket) => void): this {
    this.sockets.off(ev, listener);
    return this;
  }
  use(fn: Middleware): this {
    this.sockets.use(fn);
    return this;
  }
  to(room: Room | Room[]): BroadcastOperator {
    return this.sockets.to(room);
  }
  in(room: Room | Room[]): BroadcastOperator {
    return this.sockets.in(room);
  }
  except(room: Room | Room[]): BroadcastOperator {
    return this.sockets.except(room);
  }
  get volatile(): BroadcastOperator {
    return this.sockets.volatile;
  }
  get local(): BroadcastOperator {
    return this.sockets.local;
  }
  timeout(ms: number): BroadcastOperator {
    return this.sockets.timeout(ms);
  }
  emit(ev: string, ...args: unknown[]): boolean {
    return this.sockets.emit(ev, ...args);
  }
  emitWithAck(ev: string, ...args: unknown[]): Promise<unknown[]> {
    return this.sockets.emitWithAck(ev, ...args);
  }
  send(...args: unknown[]): boolean {
    return this.sockets.emit("message", ...args);
  }
  fetchSockets(): Promise<unknown[]> {
    return this.sockets.fetchSockets();
  }
  allSockets(): Promise<Set<SocketId>> {
    return this.sockets.allSockets();
  }
  socketsJoin(room: Room | Room[]): void {
    this.sockets.socketsJoin(room);
  }
  socketsLeave(room: Room | Room[]): void {
    this.sockets.socketsLeave(room);
  }
  disconnectSockets(close = false): void {
    this.sockets.disconnectSockets(close);
  }
  serverSideEmit(ev: string, ...args: unknown[]): boolean {
    return this.sockets.serverSideEmit(ev, ...args);
  }
  serverSideEmitWithAck(ev: string, ...args: unknown[]): Promise<unknown[]> {
    return this.sockets.serverSideEmitWithAck(ev, ...args);
  }

  /** Starts listening; resolves to the bound port (0 picks a free one). Linux shares the port
   *  between processes (SO_REUSEPORT), so several workers can listen on the same one. */
  listen(port = 3000, host = "0.0.0.0"): Promise<number> {
    if (this.listenSocket) return Promise.reject(new Error("roomgate: server is already listening"));
    return new Promise((resolve, reject) => {
      this.app.listen(host, port, (socket) => {
        if (!socket) return reject(new Error(`roomgate: cannot listen on ${host}:${port} (address in use or not available)`));
        this.listenSocket = socket;
        this.startHeartbeat();
        resolve(uWS.us_socket_local_port(socket));
      });
    });
  }

  /** Disconnects every client ("server shutting down"), stops listening and releases the app. */
  async close(): Promise<void> {
    this.stopHeartbeat();
    for (const conn of [...this.connections]) conn.close("server shutting down", CloseCode.GOING_AWAY);
    this.delivery.flush();
    if (this.listenSocket) {
      uWS.us_listen_socket_close(this.listenSocket);
      this.listenSocket = null;
    }
    await Promise.all([...this.namespaces.values()].map((nsp) => (nsp.adapter as { close?: () => Promise<void> }).close?.()));
  }

  // ---------- internal ----------

  /** The namespace a client asks for, or undefined when it does not exist. */
  namespaceFor(name: string): Namespace | undefined {
    return this.namespaces.get(name);
  }

  forgetConnection(conn: Connection): void {
    this.connections.delete(conn);
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
      if (query.get("EIO") !== "4") return refuse(res, HttpError.UNSUPPORTED_PROTOCOL);
      refuse(res, HttpError.UNKNOWN_TRANSPORT, 'roomgate serves the websocket transport only: connect with { transports: ["websocket"] }');
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
    if (query.EIO !== "4") return refuse(res, HttpError.UNSUPPORTED_PROTOCOL);
    if (query.transport !== "websocket")
      return refuse(res, HttpError.UNKNOWN_TRANSPORT, 'roomgate serves the websocket transport only: connect with { transports: ["websocket"] }');
    if (query.sid !== undefined) return refuse(res, HttpError.BAD_REQUEST, "upgrading an existing polling session is not supported");
    if (!this.originAllowed(headers.origin)) return refuse(res, HttpError.FORBIDDEN, "origin not allowed");

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
        res.cork(() => (success ? accept() : refuse(res, HttpError.FORBIDDEN, err ?? undefined)));
      });
    } catch (err) {
      if (!answered && !aborted) {
        answered = true;
        res.cork(() => refuse(res, HttpError.FORBIDDEN, String((err as Error)?.message ?? err)));
      }
    }
  }

  private originAllowed(origin: string | undefined): boolean {
    const allowed = this.opts.allowedOrigins;
    if (!allowed || origin === undefined) return true;
    return typeof allowed === "function" ? allowed(origin) : allowed.includes(origin);
  }

  private onOpen(ws: WebSocket<UpgradeData>): void {
    const data = ws.getUserData();
    const transport = new WebSocketTransport(ws);
    const sid = randomId();
    const conn = new Connection(this, transport, sid, data.request!);
    data.request = null;
    data.connection = conn;
    this.connections.add(conn);
    transport.sendControl(
      encodeEngineOpen({ sid, pingInterval: this.opts.pingInterval, pingTimeout: this.opts.pingTimeout, maxPayload: this.opts.maxPayload }),
    );
  }

  /** One timer for all connections: ping everyone, then drop whoever has not answered in time. */
  private startHeartbeat(): void {
    this.heartbeat = setInterval(() => {
      for (const conn of this.connections) {
        conn.awaitingPong = true;
        conn.transport.sendControl(ENGINE_PING);
      }
      if (this.pongDeadline) clearTimeout(this.pongDeadline);
      this.pongDeadline = setTimeout(() => {
        this.pongDeadline = null;
        for (const conn of [...this.connections]) if (conn.awaitingPong) conn.close("ping timeout", CloseCode.POLICY, "ping timeout");
      }, this.opts.pingTimeout);
    }, this.opts.pingInterval);
  }

  private stopHeartbeat(): void {
    if (this.connectSweep) clearInterval(this.connectSweep);
    this.connectSweep = null;
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.pongDeadline) clearTimeout(this.pongDeadline);
    this.heartbeat = this.pongDeadline = null;
  }
}

function refuse(res: HttpResponse, error: { status: string; code: number; message: string }, detail?: string): void {
  const body = JSON.stringify(detail ? { code: error.code, message: error.message, detail } : { code: error.code, message: error.message });
  res.writeStatus(error.status).writeHeader("Content-Type", "application/json").end(body);
}

export type { Handshake };
