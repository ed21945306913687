// A namespace: its sockets, middlewares, adapter, and the io.to/emit/... entry points, typed by
// Socket.IO's event maps. To a session (engine/) it is a SessionNamespace: somewhere to connect a
// socket. Knows no cluster: a cluster adapter comes in through the `adapter` option.
import type { Adapter } from "./adapter.ts";
import { BroadcastOperator } from "./broadcast.ts";
import { encodeConnectAck, PacketType } from "../engine/codec.ts";
import type { Room, SocketId } from "../rooms/types.ts";
import type { Server } from "./server.ts";
import { Socket } from "./socket.ts";
import type { ExtendedError, Handshake, NamespaceReservedEventsMap, RemoteSocket } from "./socket-types.ts";
import type { Connection } from "../engine/connection.ts";
import type { RestoredSession } from "./recovery/session-recovery.ts";
import { StrictEventEmitter } from "./strict-event-emitter.ts";
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
  RemoveAcknowledgements,
} from "./typed-events.ts";

export type Middleware<
  ListenEvents extends EventsMap = DefaultEventsMap,
  EmitEvents extends EventsMap = ListenEvents,
  ServerSideEvents extends EventsMap = DefaultEventsMap,
  SocketData = any,
> = (socket: Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData>, next: (err?: ExtendedError) => void) => void;

type Operator<EmitEvents extends EventsMap, SocketData> = BroadcastOperator<DecorateAcknowledgementsWithMultipleResponses<EmitEvents>, SocketData>;
type Untyped = (ev: string, ...args: unknown[]) => boolean;

export class Namespace<
  ListenEvents extends EventsMap = DefaultEventsMap,
  EmitEvents extends EventsMap = ListenEvents,
  ServerSideEvents extends EventsMap = DefaultEventsMap,
  SocketData = any,
> extends StrictEventEmitter<
  ServerSideEvents,
  RemoveAcknowledgements<EmitEvents>,
  NamespaceReservedEventsMap<ListenEvents, EmitEvents, ServerSideEvents, SocketData>
> {
  readonly sockets = new Map<SocketId, Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData>>();
  readonly adapter: Adapter;
  protected readonly middlewares: Middleware<ListenEvents, EmitEvents, ServerSideEvents, SocketData>[] = [];
  private ackIds = 0;

  constructor(
    readonly server: Server<ListenEvents, EmitEvents, ServerSideEvents, SocketData>,
    readonly name: string,
  ) {
    super();
    this.adapter = this.createAdapter();
  }

  /** The server's adapter class makes this namespace's adapter (a parent namespace has its own). */
  protected createAdapter(): Adapter {
    return new this.server.adapterConstructor(this as Namespace);
  }

  use(fn: Middleware<ListenEvents, EmitEvents, ServerSideEvents, SocketData>): this {
    this.middlewares.push(fn);
    return this;
  }

  protected operator(): Operator<EmitEvents, SocketData> {
    return new BroadcastOperator(this.adapter);
  }

  to(room: Room | Room[]): Operator<EmitEvents, SocketData> {
    return this.operator().to(room);
  }
  in(room: Room | Room[]): Operator<EmitEvents, SocketData> {
    return this.to(room);
  }
  except(room: Room | Room[]): Operator<EmitEvents, SocketData> {
    return this.operator().except(room);
  }
  get volatile(): Operator<EmitEvents, SocketData> {
    return this.operator().volatile;
  }
  get local(): Operator<EmitEvents, SocketData> {
    return this.operator().local;
  }
  timeout(ms: number): BroadcastOperator<DecorateAcknowledgements<DecorateAcknowledgementsWithMultipleResponses<EmitEvents>>, SocketData> {
    return this.operator().timeout(ms);
  }
  /** compress(false): this broadcast goes uncompressed even when permessage-deflate is on. */
  compress(compress: boolean): Operator<EmitEvents, SocketData> {
    return this.operator().compress(compress);
  }

  /** Broadcasts to every socket of the namespace (Socket.IO's `io.emit`). */
  override emit<Ev extends EventNamesWithoutAck<EmitEvents>>(ev: Ev, ...args: EventParams<EmitEvents, Ev>): boolean {
    return (this.operator().emit as Untyped)(ev as string, ...args);
  }
  emitWithAck<Ev extends EventNamesWithAck<EmitEvents>>(
    ev: Ev,
    ...args: AllButLast<EventParams<EmitEvents, Ev>>
  ): Promise<FirstNonErrorArg<Last<EventParams<EmitEvents, Ev>>>[]> {
    return (this.operator().emitWithAck as (ev: string, ...a: unknown[]) => Promise<any>)(ev as string, ...args);
  }
  /** Sends a `message` event to every socket of the namespace. */
  send(...args: EventParams<EmitEvents, "message">): this {
    (this.operator().emit as Untyped)("message", ...args);
    return this;
  }
  write(...args: EventParams<EmitEvents, "message">): this {
    return this.send(...args);
  }
  fetchSockets(): Promise<RemoteSocket<EmitEvents, SocketData>[]> {
    return this.operator().fetchSockets() as Promise<RemoteSocket<any, SocketData>[]>;
  }
  allSockets(): Promise<Set<SocketId>> {
    return this.operator().allSockets();
  }
  socketsJoin(room: Room | Room[]): void {
    this.operator().socketsJoin(room);
  }
  socketsLeave(room: Room | Room[]): void {
    this.operator().socketsLeave(room);
  }
  disconnectSockets(close = false): void {
    this.operator().disconnectSockets(close);
  }

  /** Emits to the other servers of a cluster (none without one); a trailing function collects acks. */
  serverSideEmit<Ev extends EventNames<ServerSideEvents>>(
    ev: Ev,
    ...args: EventParams<DecorateAcknowledgementsWithTimeoutAndMultipleResponses<ServerSideEvents>, Ev>
  ): boolean {
    if (typeof ev !== "string") throw new TypeError("event name must be a string");
    const data: unknown[] = args;
    const ack = typeof data[data.length - 1] === "function" ? (data.pop() as (err: Error | null, responses: unknown[]) => void) : undefined;
    this.adapter.serverSideEmit([ev, ...data], ack);
    return true;
  }

  serverSideEmitWithAck<Ev extends EventNamesWithAck<ServerSideEvents>>(
    ev: Ev,
    ...args: AllButLast<EventParams<ServerSideEvents, Ev>>
  ): Promise<FirstNonErrorArg<Last<EventParams<ServerSideEvents, Ev>>>[]> {
    return new Promise((resolve, reject) =>
      (this.serverSideEmit as Untyped)(ev as string, ...args, (err: Error | null, r: any) => (err ? reject(err) : resolve(r))),
    );
  }

  /** @internal Delivers a server-side event from another server to this server's listeners. */
  onServerSideEmit(args: unknown[]): void {
    this.emitUntyped(String(args[0]), ...args.slice(1));
  }

  /** @internal */
  nextAckId(): number {
    return this.ackIds++;
  }

  // ---------- internal: called by the server, the connection and the socket (not public API) ----------

  /** @internal Emits one of the namespace's reserved events (the server's `new_namespace` goes through "/"). */
  emitLocal(ev: string, ...args: unknown[]): void {
    this.emitUntyped(ev, ...args);
  }

  /** @internal Runs the middlewares, then connects the socket (or answers CONNECT_ERROR). With
   *  connection-state recovery, a CONNECT bringing a known `pid` and `offset` restores its session
   *  (see Adapter.restoreSession). */
  connect(conn: Connection, handshake: Handshake, done: (socket: Socket | null) => void): void {
    type S = Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData>;
    const make = (r: RestoredSession | null): S => new Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData>(this, conn, handshake, r);
    if (this.adapter.recovery === null) return this.connectSocket(conn, make(null), null, done);
    const restored = this.adapter.restoreSession(handshake.auth.pid, handshake.auth.offset);
    if (!(restored instanceof Promise)) return this.connectSocket(conn, make(restored), restored, done);
    restored.then(
      (r) => this.connectSocket(conn, make(r), r, done),
      () => this.connectSocket(conn, make(null), null, done),
    );
  }

  /** @internal A socket whose session moved here from another worker at its upgrade (engine's
   *  remote-upgrade.ts): restored from its parked session like a recovery, without middlewares
   *  (its client connected through them on the other worker) and without a CONNECT answer (its
   *  client is connected); `connection` fires with `socket.recovered === true`. */
  adopt(conn: Connection, handshake: Handshake, pid: string, done: (socket: Socket | null) => void): void {
    if (this.adapter.recovery === null) return done(null);
    const restored = this.adapter.restoreSession(pid, undefined);
    const go = (r: RestoredSession | null) => {
      if (r === null) return done(null);
      this.connected(conn, new Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData>(this, conn, handshake, r), r, done, false);
    };
    if (!(restored instanceof Promise)) return go(restored);
    restored.then(go, () => done(null));
  }

  private connectSocket(
    conn: Connection,
    socket: Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData>,
    restored: RestoredSession | null,
    done: (socket: Socket | null) => void,
  ): void {
    if (restored && this.server.opts.connectionStateRecovery!.skipMiddlewares) return this.connected(conn, socket, restored, done);
    this.runMiddlewares(socket, (err) => {
      if (err && !conn.transport.closed) conn.sendConnectError(this.name, { message: err.message, data: err.data });
      if (err || conn.transport.closed) {
        if (restored) this.adapter.recovery!.release(restored);
        return done(null);
      }
      this.connected(conn, socket, restored, done);
    });
  }

  private connected(
    conn: Connection,
    socket: Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData>,
    restored: RestoredSession | null,
    done: (socket: Socket | null) => void,
    answerConnect = true,
  ): void {
    if (conn.transport.closed) {
      if (restored) this.adapter.recovery!.release(restored);
      return done(null);
    }
    socket.connected = true;
    this.sockets.set(socket.id, socket);
    this.adapter.addMember(socket as Socket);
    if (restored) {
      this.adapter.addAll(socket.id, restored.rooms);
      if (!restored.rooms.includes(socket.id)) this.adapter.del(socket.id, socket.id);
    }
    socket.markRecoveryPoint();
    // Straight out, not queued: nothing of this socket can be waiting before it.
    if (answerConnect) {
      const parser = this.adapter.parser;
      if (parser === null) conn.transport.sendTextNow(encodeConnectAck(this.name, socket.id, socket.pid));
      else {
        const data = socket.pid === undefined ? { sid: socket.id } : { sid: socket.id, pid: socket.pid };
        conn.transport.sendNow(parser.encode({ type: PacketType.CONNECT, nsp: this.name, data }));
      }
    }
    // Then what it missed, queued before anything sent to it from now on.
    if (restored) this.replay(socket as Socket, restored);
    done(socket as Socket);
    socket.guard(() => this.emitReserved("connection", socket));
    if (socket.connected) socket.guard(() => this.emitReserved("connect", socket));
  }

  /** Sends a restored socket the events it missed, each recorded again under a new offset. */
  private replay(socket: Socket, restored: RestoredSession): void {
    const delivery = this.server.delivery;
    this.adapter.recovery!.replay(restored, (frames) => delivery.enqueue(this.adapter, socket, frames));
  }

  /** @internal */
  removeSocket(socket: Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData>): void {
    this.sockets.delete(socket.id);
  }

  private runMiddlewares(socket: Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData>, done: (err?: ExtendedError) => void): void {
    if (this.middlewares.length === 0) return done();
    const run = (i: number) => {
      if (i === this.middlewares.length) return done();
      let called = false;
      try {
        this.middlewares[i](socket, (err) => {
          if (called) return;
          called = true;
          if (err) done(err instanceof Error ? err : new Error(String(err)));
          else run(i + 1);
        });
      } catch (err) {
        if (!called) {
          called = true;
          done(err instanceof Error ? err : new Error(String(err)));
        }
      }
    };
    run(0);
  }
}
