// The Socket.IO-compatible server: options, namespaces, the io.* shortcuts to the main namespace,
// listen/close. The Engine.IO endpoint (upgrade, sessions, heartbeat) lives in engine/endpoint.ts;
// delivery in rooms/. `io.emit/to/...` act on the main namespace.
import { Endpoint, type RequestInfo } from "../engine/endpoint.ts";
import { type Logger, resolveLogger } from "../engine/logger.ts";
import uWS, { type TemplatedApp } from "../engine/uws.ts";
import { Delivery } from "../rooms/delivery.ts";
import { Planner } from "../rooms/planner.ts";
import type { Room, SocketId } from "../rooms/types.ts";
import { Adapter, type AdapterConstructor } from "./adapter.ts";
import { resolveOptions, type ResolvedOptions, type ServerOptions } from "./options.ts";
import type { BroadcastOperator } from "./broadcast.ts";
import { Namespace, type Middleware } from "./namespace.ts";
import type { Socket } from "./socket.ts";

export type { RequestInfo, ServerOptions };

export class Server {
  // Internals the other classes of api/ (and the cluster adapter) reach; not public API
  // (stripped from the published .d.ts).
  /** @internal */
  readonly opts: ResolvedOptions;
  /** @internal */
  readonly delivery: Delivery;
  /** @internal */
  readonly planner = new Planner();
  /** @internal */
  readonly adapterConstructor: AdapterConstructor;
  /** @internal Socket.IO's name for the namespaces by name. */
  readonly _nsps = new Map<string, Namespace>();
  /** @internal */
  readonly logger: Logger;
  private readonly app: TemplatedApp;
  private readonly endpoint: Endpoint;

  constructor(opts: ServerOptions = {}) {
    this.opts = resolveOptions(opts);
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
