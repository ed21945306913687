// The Socket.IO-compatible server: options, namespaces (static and dynamic), the io.* shortcuts to
// the main namespace, listen/attachApp/close, io.engine. The Engine.IO endpoint (upgrade,
// sessions, heartbeat) lives in engine/endpoint.ts; delivery in rooms/. Typed by Socket.IO's
// event maps: Server<ListenEvents, EmitEvents, ServerSideEvents, SocketData>.
import type { SessionNamespace } from "../engine/connection.ts";
import { compressThreshold, createApp } from "../engine/app.ts";
import type { Frame } from "../engine/binary.ts";
import { Endpoint, type RequestInfo } from "../engine/endpoint.ts";
import type { SessionRouter } from "../engine/session-router.ts";
import type { RemoteSessions } from "./recovery/session-recovery.ts";
import { randomId } from "../engine/ids.ts";
import { type Logger, resolveLogger } from "../engine/logger.ts";
import type { TemplatedApp } from "../engine/uws.ts";
import { Delivery } from "../rooms/delivery.ts";
import { Planner } from "../rooms/planner.ts";
import type { Room, SocketId } from "../rooms/types.ts";
import { Adapter, type AdapterConstructor } from "./adapter.ts";
import type { BroadcastOperator } from "./broadcast.ts";
import { engineClosed, engineSocketOf, EngineView } from "./engine-socket.ts";
import { Namespace, type Middleware } from "./namespace.ts";
import { checkOptions, resolveOptions, type ResolvedOptions, type ServerOptions, type ServerPlugin } from "./options.ts";
import { ParentNamespace, type ParentNspNameMatchFn } from "./parent-namespace.ts";
import type { RemoteSocket, ServerReservedEventsMap } from "./socket-types.ts";
import type { Socket } from "./socket.ts";
import type {
  AllButLast,
  DecorateAcknowledgements,
  DecorateAcknowledgementsWithMultipleResponses,
  DecorateAcknowledgementsWithTimeoutAndMultipleResponses,
  DefaultEventsMap,
  EventNames,
  EventNamesWithAck,
  EventNamesWithoutAck,
  EventParams,
  EventsMap,
  FirstNonErrorArg,
  Last,
  ReservedOrUserEventNames,
  ReservedOrUserListener,
} from "./typed-events.ts";

export type { RequestInfo, ServerOptions, ParentNspNameMatchFn, ServerPlugin };

type Operator<EmitEvents extends EventsMap, SocketData> = BroadcastOperator<DecorateAcknowledgementsWithMultipleResponses<EmitEvents>, SocketData>;
type Untyped = (ev: string, ...args: unknown[]) => any;

const NODE_SERVER_ERROR =
  "roomgate serves Socket.IO from its own uWebSockets.js listening socket and cannot attach to a Node http.Server: " +
  "call io.listen(port) instead, and serve your other routes on the same port through io.app (a uWS TemplatedApp), " +
  'or create your own uWS app, pass it to io.attachApp(app) and listen on it yourself (README "Differences from Socket.IO")';

export class Server<
  ListenEvents extends EventsMap = DefaultEventsMap,
  EmitEvents extends EventsMap = ListenEvents,
  ServerSideEvents extends EventsMap = DefaultEventsMap,
  SocketData = any,
> {
  // Internals the other classes of api/ (and the cluster adapter) reach; not public API
  // (stripped from the published .d.ts).
  /** @internal */
  readonly opts: ResolvedOptions;
  /** The uWS app that serves the endpoint: add other routes to it (`io.app.get("/health", …)`). */
  app: TemplatedApp;
  /** @internal */
  delivery: Delivery;
  /** @internal */
  readonly planner = new Planner();
  /** @internal */
  readonly adapterConstructor: AdapterConstructor;
  /** @internal Socket.IO's name for the namespaces by name. */
  readonly _nsps = new Map<string, Namespace<ListenEvents, EmitEvents, ServerSideEvents, SocketData>>();
  /** Socket.IO's `io.engine`: clientsCount, the `connection_error` event, generateId. */
  readonly engine: EngineView;
  /** @internal */
  readonly logger: Logger;
  private endpoint: Endpoint;
  /** In a cluster: where other workers' sessions are, for the engine (polling requests, moves at
   *  the upgrade) and for connection-state recovery (installed once by the cluster: session-mobility.ts). */
  private sessionRouter: SessionRouter | null = null;
  private remote: RemoteSessions | null = null;
  private readonly parentNsps = new Map<ParentNspNameMatchFn, ParentNamespace<ListenEvents, EmitEvents, ServerSideEvents, SocketData>>();
  private readonly parentNamespacesFromRegExp = new Map<RegExp, ParentNamespace<ListenEvents, EmitEvents, ServerSideEvents, SocketData>>();
  private ownApp = true;
  private readonly plugin: ServerPlugin | undefined;
  /** @internal API-level counters for monitoring (read by ops/metrics.ts): acks timed out, and
   *  joins refused by maxRoomsPerSocket / maxRoomNameLength. */
  readonly stats = { acksTimedOut: 0, limitsHit: { maxRoomsPerSocket: 0, maxRoomNameLength: 0 } };
  /** Frames from this many bytes up are compressed (Infinity: permessage-deflate off). */
  private readonly compressFrom: number;

  constructor(opts?: ServerOptions);
  constructor(port: number, opts?: ServerOptions);
  constructor(portOrOpts: number | ServerOptions = {}, maybeOpts: ServerOptions = {}) {
    if (portOrOpts !== null && typeof portOrOpts === "object" && typeof (portOrOpts as { listen?: unknown }).listen === "function")
      throw new TypeError(NODE_SERVER_ERROR);
    const port = typeof portOrOpts === "number" ? portOrOpts : undefined;
    const opts = typeof portOrOpts === "number" ? maybeOpts : (portOrOpts ?? {});
    this.logger = resolveLogger(opts.logger);
    checkOptions(opts as Record<string, unknown>, (msg) => this.logger.warn(msg));
    this.opts = resolveOptions(opts, (msg) => this.logger.warn(msg));
    this.adapterConstructor = opts.adapter ?? Adapter;
    this.compressFrom = compressThreshold(opts.perMessageDeflate);
    this.app = createApp(opts.tls);
    this.delivery = new Delivery(this.app);
    this.engine = new EngineView(
      () => this.endpoint,
      (fn) => checkedIdMaker(fn, this.logger),
    );
    this.endpoint = this.makeEndpoint(this.app);
    this.of("/");
    this.plugin = opts.operations;
    this.plugin?.attach(this, this.app);
    // Socket.IO's `new Server(3000)` listens at once; a failure is logged (there is no promise to reject).
    if (port !== undefined) this.listen(port).catch((err) => this.logger.error({ err }, "roomgate: could not listen"));
  }

  private makeEndpoint(app: TemplatedApp): Endpoint {
    const endpoint = new Endpoint(app, this.opts, this.logger, (name) => this.namespaceFor(name));
    endpoint.onConnectionError = (err) => this.engine.emit("connection_error", err);
    // A session's view (socket.conn) is made only for a listener of io.engine's `connection`.
    endpoint.onSessionOpened = (conn) => {
      if (this.engine.listenerCount("connection") > 0) this.engine.emit("connection", engineSocketOf(conn));
    };
    endpoint.onSessionClosed = engineClosed;
    // In a cluster a session id starts with its worker's id, so that any worker can find it.
    endpoint.generateId = checkedIdMaker(() => (this.sessionRouter?.idPrefix ?? "") + randomId(), this.logger);
    endpoint.sessionRouter = this.sessionRouter;
    // A polling session moves to the worker its WebSocket lands on only if it can be restored there.
    endpoint.sessionsMovable = this.opts.connectionStateRecovery !== null;
    return endpoint;
  }

  /** @internal The cluster's session mobility: forwarding for the engine (engine/session-router.ts),
   *  kept across attachApp, and the handover of parked sessions for connection-state recovery. */
  routeSessions(router: SessionRouter, remote: RemoteSessions): void {
    this.sessionRouter = router;
    this.remote = remote;
    this.endpoint.sessionRouter = router;
  }

  /** @internal Where connection-state recovery asks for a session parked on another worker. */
  get remoteSessions(): RemoteSessions | null {
    return this.remote;
  }

  /** @internal The installed session router, if any. */
  get sessionRoutes(): SessionRouter | null {
    return this.sessionRouter;
  }

  /** @internal The Engine.IO endpoint itself, for ops/: counters, sessions, listening state. */
  get engineEndpoint(): Endpoint {
    return this.endpoint;
  }

  /** @internal Marks a packet's frames for permessage-deflate when it is on, the frame is large
   *  enough and the emit did not say compress(false). A no-op when compression is off. */
  markCompressed(frames: readonly Frame[], compress: boolean | undefined): readonly Frame[] {
    if (this.compressFrom === Number.POSITIVE_INFINITY || compress === false) return frames;
    for (const f of frames) if (f.data.byteLength >= this.compressFrom) f.compress = true;
    return frames;
  }

  // ---------- Socket.IO API ----------

  /** The namespace `name`, created on first use; a RegExp or a function makes a parent of dynamic
   *  namespaces. `fn` listens to the namespace's `connect`. */
  of(
    name: string | RegExp | ParentNspNameMatchFn,
    fn?: (socket: Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData>) => void,
  ): Namespace<ListenEvents, EmitEvents, ServerSideEvents, SocketData> {
    if (typeof name === "function" || name instanceof RegExp) return this.parentOf(name, fn);
    if (typeof name !== "string") throw new TypeError("namespace name must be a string, a RegExp or a function");
    if (!name.startsWith("/")) name = "/" + name;
    if (/[,\x1f]/.test(name)) throw new TypeError(`invalid namespace name ${JSON.stringify(name)}`);
    let nsp = this._nsps.get(name);
    if (!nsp) {
      for (const [regex, parent] of this.parentNamespacesFromRegExp) if (regex.test(name)) return withListener(parent.createChild(name), fn);
      nsp = new Namespace(this, name);
      this._nsps.set(name, nsp);
      if (name !== "/") this.sockets.emitLocal("new_namespace", nsp);
    }
    return withListener(nsp, fn);
  }

  private parentOf(
    name: RegExp | ParentNspNameMatchFn,
    fn?: (socket: Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData>) => void,
  ): ParentNamespace<ListenEvents, EmitEvents, ServerSideEvents, SocketData> {
    if (name instanceof RegExp && (name.global || name.sticky)) throw new Error("stateful regular expressions are not supported");
    const parent = new ParentNamespace(this);
    if (typeof name === "function") this.parentNsps.set(name, parent);
    else {
      this.parentNsps.set((nsp, _auth, next) => next(null, name.test(nsp)), parent);
      this.parentNamespacesFromRegExp.set(name, parent);
    }
    return withListener(parent, fn);
  }

  /** What the engine connects a client's CONNECT to: an existing namespace, or, when dynamic
   *  namespaces exist, one whose matchers (asynchronous, given the client's auth) decide. */
  private namespaceFor(name: string): SessionNamespace | undefined {
    const nsp = this._nsps.get(name);
    if (nsp) return nsp;
    if (this.parentNsps.size === 0 || name.includes("\x1f")) return undefined;
    return {
      connect: (conn, handshake, done) =>
        this.checkNamespace(name, handshake.auth, (child) => {
          if (child) return child.connect(conn, handshake, done);
          conn.sendConnectError(name, { message: "Invalid namespace" });
          done(null);
        }),
      adopt: (conn, handshake, pid, done) =>
        this.checkNamespace(name, handshake.auth, (child) => (child ? child.adopt(conn, handshake, pid, done) : done(null))),
    };
  }

  /** Socket.IO's `_checkNamespace`: the parents' matchers in order; the first to allow makes the child. */
  private checkNamespace(
    name: string,
    auth: Record<string, unknown>,
    fn: (nsp: Namespace<ListenEvents, EmitEvents, ServerSideEvents, SocketData> | false) => void,
  ): void {
    const matchers = this.parentNsps.keys();
    const run = (): void => {
      const next = matchers.next();
      if (next.done) return fn(false);
      let answered = false;
      const answer = (err: Error | null, allow: boolean) => {
        if (answered) return;
        answered = true;
        if (err || !allow) return run();
        const existing = this._nsps.get(name); // made in the meantime
        if (existing) return fn(existing);
        const parent = this.parentNsps.get(next.value);
        fn(parent ? parent.createChild(name) : false);
      };
      try {
        next.value(name, auth, answer);
      } catch (err) {
        this.logger.error({ err, nsp: name }, "a dynamic namespace matcher threw");
        answer(err as Error, false);
      }
    };
    run();
  }

  get sockets(): Namespace<ListenEvents, EmitEvents, ServerSideEvents, SocketData> {
    return this.of("/");
  }

  // Socket.IO forwards every EventEmitter method of the server to the main namespace.
  on<Ev extends ReservedOrUserEventNames<ServerReservedEventsMap<ListenEvents, EmitEvents, ServerSideEvents, SocketData>, ServerSideEvents>>(
    ev: Ev,
    listener: ReservedOrUserListener<ServerReservedEventsMap<ListenEvents, EmitEvents, ServerSideEvents, SocketData>, ServerSideEvents, Ev>,
  ): this {
    this.sockets.on(ev as any, listener as any);
    return this;
  }
  once<Ev extends ReservedOrUserEventNames<ServerReservedEventsMap<ListenEvents, EmitEvents, ServerSideEvents, SocketData>, ServerSideEvents>>(
    ev: Ev,
    listener: ReservedOrUserListener<ServerReservedEventsMap<ListenEvents, EmitEvents, ServerSideEvents, SocketData>, ServerSideEvents, Ev>,
  ): this {
    this.sockets.once(ev as any, listener as any);
    return this;
  }
  off(ev: string, listener: (...args: any[]) => void): this {
    this.sockets.off(ev, listener);
    return this;
  }
  addListener(ev: string, listener: (...args: any[]) => void): this {
    this.sockets.addListener(ev, listener);
    return this;
  }
  removeListener(ev: string, listener: (...args: any[]) => void): this {
    this.sockets.removeListener(ev, listener);
    return this;
  }
  removeAllListeners(ev?: string): this {
    this.sockets.removeAllListeners(ev);
    return this;
  }
  listeners(ev: string): Function[] {
    return this.sockets.listeners(ev as any);
  }
  listenerCount(ev: string): number {
    return this.sockets.listenerCount(ev);
  }

  use(fn: Middleware<ListenEvents, EmitEvents, ServerSideEvents, SocketData>): this {
    this.sockets.use(fn);
    return this;
  }
  to(room: Room | Room[]): Operator<EmitEvents, SocketData> {
    return this.sockets.to(room);
  }
  in(room: Room | Room[]): Operator<EmitEvents, SocketData> {
    return this.sockets.in(room);
  }
  except(room: Room | Room[]): Operator<EmitEvents, SocketData> {
    return this.sockets.except(room);
  }
  get volatile(): Operator<EmitEvents, SocketData> {
    return this.sockets.volatile;
  }
  get local(): Operator<EmitEvents, SocketData> {
    return this.sockets.local;
  }
  compress(compress: boolean): Operator<EmitEvents, SocketData> {
    return this.sockets.compress(compress);
  }
  timeout(ms: number): BroadcastOperator<DecorateAcknowledgements<DecorateAcknowledgementsWithMultipleResponses<EmitEvents>>, SocketData> {
    return this.sockets.timeout(ms);
  }
  emit<Ev extends EventNamesWithoutAck<EmitEvents>>(ev: Ev, ...args: EventParams<EmitEvents, Ev>): boolean {
    return this.sockets.emit(ev, ...args);
  }
  emitWithAck<Ev extends EventNamesWithAck<EmitEvents>>(
    ev: Ev,
    ...args: AllButLast<EventParams<EmitEvents, Ev>>
  ): Promise<FirstNonErrorArg<Last<EventParams<EmitEvents, Ev>>>[]> {
    return this.sockets.emitWithAck(ev, ...args);
  }
  send(...args: EventParams<EmitEvents, "message">): this {
    this.sockets.send(...args);
    return this;
  }
  write(...args: EventParams<EmitEvents, "message">): this {
    return this.send(...args);
  }
  fetchSockets(): Promise<RemoteSocket<EmitEvents, SocketData>[]> {
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
  serverSideEmit<Ev extends EventNames<ServerSideEvents>>(
    ev: Ev,
    ...args: EventParams<DecorateAcknowledgementsWithTimeoutAndMultipleResponses<ServerSideEvents>, Ev>
  ): boolean {
    return this.sockets.serverSideEmit(ev, ...args);
  }
  serverSideEmitWithAck<Ev extends EventNamesWithAck<ServerSideEvents>>(
    ev: Ev,
    ...args: AllButLast<EventParams<ServerSideEvents, Ev>>
  ): Promise<FirstNonErrorArg<Last<EventParams<ServerSideEvents, Ev>>>[]> {
    return (this.sockets.serverSideEmitWithAck as Untyped)(ev as string, ...args);
  }

  /** Starts listening; resolves to the bound port (0 picks a free one). Without `host`, on every
   *  address, IPv6 and IPv4 (as Node's listen); with one, on that one only. Linux shares the port
   *  between processes (SO_REUSEPORT), so several workers can listen on the same one. A Node
   *  http.Server is refused with a TypeError saying what to do instead. */
  listen(port: number = 3000, host?: string): Promise<number> {
    if (typeof port !== "number") throw new TypeError(NODE_SERVER_ERROR);
    if (!this.ownApp) return Promise.reject(new Error("roomgate: io.attachApp(app) was called: listen on your app instead"));
    return this.endpoint.listen(port, host).then(async (bound) => {
      await this.plugin?.listen?.();
      return bound;
    });
  }

  /** Socket.IO's other name for listen (attaching to a Node http.Server is refused). */
  attach(port: number, host?: string): Promise<number> {
    return this.listen(port, host);
  }

  /** Serves the endpoint on a uWS app you made and listen on yourself (Socket.IO's attachApp):
   *  call it before any client connects, then `app.listen(port, cb)`. */
  attachApp(app: TemplatedApp): this {
    if (app === null || typeof app !== "object" || typeof (app as { ws?: unknown }).ws !== "function" || typeof app.publish !== "function")
      throw new TypeError("roomgate: attachApp expects a uWebSockets.js app (uWS.App() or uWS.SSLApp())");
    if (!this.ownApp || this.endpoint.clientsCount > 0) throw new Error("roomgate: attachApp must be called once, before any client connects");
    void this.endpoint.close("server shutting down"); // no client yet: nothing to wait for
    this.ownApp = false;
    this.app = app;
    this.delivery = new Delivery(app);
    this.endpoint = this.makeEndpoint(app);
    this.endpoint.startHeartbeat();
    return this;
  }

  /** Disconnects every client ("server shutting down"), stops listening and releases the app;
   *  `fn` is called when done (with the error, if closing an adapter failed). */
  async close(fn?: (err?: Error) => void): Promise<void> {
    // Peers first learn where the sessions about to be parked are (a cluster's drain), then the
    // clients are cut off.
    await Promise.allSettled([...this._nsps.values()].map(async (nsp) => nsp.adapter.drain()));
    await this.endpoint.close("server shutting down");
    this.delivery.flush();
    for (const nsp of this._nsps.values()) nsp.adapter.recovery?.close();
    const results = await Promise.allSettled([...this._nsps.values()].map(async (nsp) => nsp.adapter.close()));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (fn) fn(failed ? (failed.reason as Error) : undefined);
    else if (failed) throw failed.reason;
    await this.plugin?.close?.();
  }
}

function withListener<N extends { on(ev: "connect", fn: (socket: any) => void): unknown }>(nsp: N, fn: ((socket: any) => void) | undefined): N {
  if (fn) nsp.on("connect", fn);
  return nsp;
}

/** The session id maker io.engine.generateId installs: the engine writes the id into JSON
 *  unescaped, so an id that is not url-safe is replaced (and logged), never sent. */
export function checkedIdMaker(fn: (req: RequestInfo) => string, logger: Logger): (req: RequestInfo) => string {
  return (req) => {
    try {
      const id = fn(req);
      if (typeof id === "string" && /^[\w-]{1,128}$/.test(id)) return id;
      logger.error({ id }, "io.engine.generateId returned an id that is not 1-128 characters of [A-Za-z0-9_-]; using a random one");
    } catch (err) {
      logger.error({ err }, "io.engine.generateId threw; using a random id");
    }
    return randomId();
  };
}
