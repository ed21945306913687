// The Socket.IO-compatible server: options, namespaces, the io.* shortcuts to the main namespace,
// listen/close. The Engine.IO endpoint (upgrade, sessions, heartbeat) lives in engine/endpoint.ts;
// delivery in rooms/. `io.emit/to/...` act on the main namespace.
import { Endpoint, type RequestInfo } from "../engine/endpoint.ts";
import { type LogLevel, type Logger, resolveLogger } from "../engine/logger.ts";
import uWS, { type TemplatedApp } from "../engine/uws.ts";
import type { DerivedTopicOptions } from "../rooms/derived-topics.ts";
import { Delivery } from "../rooms/delivery.ts";
import { Planner } from "../rooms/planner.ts";
import type { Room, SocketId } from "../rooms/types.ts";
import { Adapter, type AdapterConstructor } from "./adapter.ts";
import type { BroadcastOperator } from "./broadcast.ts";
import { Namespace, type Middleware } from "./namespace.ts";
import type { Socket } from "./socket.ts";

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
  /** The adapter class each namespace uses; a cluster of workers plugs in here with
   *  `createClusterAdapter({ servers })` (see README "Cluster"), as Socket.IO's adapters do. */
  adapter?: AdapterConstructor;
  /** Where roomgate logs: a pino-shaped logger, or a level for the console logger (default "info"). */
  logger?: Logger | LogLevel;
}

type ResolvedOptions = Required<Omit<ServerOptions, "allowedOrigins" | "allowRequest" | "adapter" | "derivedTopics" | "logger">> &
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

export class Server {
  readonly opts: ResolvedOptions;
  readonly app: TemplatedApp;
  readonly delivery: Delivery;
  readonly planner = new Planner();
  readonly adapterConstructor: AdapterConstructor;
  /** Socket.IO's name for the namespaces by name. */
  readonly _nsps = new Map<string, Namespace>();
  private readonly endpoint: Endpoint;
  readonly logger: Logger;

  constructor(opts: ServerOptions = {}) {
    this.opts = {
      ...DEFAULTS,
      ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)),
    } as ResolvedOptions;
    this.opts.path = this.opts.path.replace(/\/$/, "");
    if (typeof opts.derivedTopics === "boolean") this.opts.derivedTopics = opts.derivedTopics ? {} : { max: 0 };
    this.adapterConstructor = opts.adapter ?? Adapter;
    this.app = uWS.App();
    this.delivery = new Delivery(this.app);
    this.logger = resolveLogger(opts.logger);
    this.endpoint = new Endpoint(this.app, this.opts, this.logger, (name) => this._nsps.get(name));
    this.of("/");
  }

  // ---------- Socket.IO API ----------

  /** The namespace `name`, created on first use. */
  of(name: string): Namespace {
    if (typeof name !== "string") throw new TypeError("namespace name must be a string");
    if (!name.startsWith("/")) name = "/" + name;
    if (/[,\x1f]/.test(name)) throw new TypeError(`invalid namespace name ${JSON.stringify(name)}`);
    let nsp = this._nsps.get(name);
    if (!nsp) {
      nsp = new Namespace(this, name);
      this._nsps.set(name, nsp);
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
    return this.endpoint.listen(port, host);
  }

  /** Disconnects every client ("server shutting down"), stops listening and releases the app. */
  async close(): Promise<void> {
    this.endpoint.close("server shutting down");
    this.delivery.flush();
    await Promise.all([...this._nsps.values()].map((nsp) => nsp.adapter.close()));
  }
}
