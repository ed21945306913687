// A namespace: its sockets, middlewares, adapter, and the io.to/emit/... entry points. To a session
// (engine/) it is a SessionNamespace: somewhere to connect a socket. Knows no cluster: a cluster
// adapter comes in through the `adapter` option.
import { EventEmitter } from "node:events";
import type { Adapter } from "./adapter.ts";
import { BroadcastOperator } from "./broadcast.ts";
import { encodeConnectAck } from "../engine/codec.ts";
import type { Room, SocketId } from "../rooms/types.ts";
import type { Server } from "./server.ts";
import { Socket } from "./socket.ts";
import type { Handshake } from "./socket-types.ts";
import type { Connection } from "../engine/connection.ts";

export type Middleware = (socket: Socket, next: (err?: Error & { data?: unknown }) => void) => void;

export class Namespace extends EventEmitter {
  readonly sockets = new Map<SocketId, Socket>();
  readonly adapter: Adapter;
  private readonly middlewares: Middleware[] = [];
  private ackIds = 0;

  constructor(
    readonly server: Server,
    readonly name: string,
  ) {
    super();
    this.adapter = new server.adapterConstructor(this);
  }

  use(fn: Middleware): this {
    this.middlewares.push(fn);
    return this;
  }

  to(room: Room | Room[]): BroadcastOperator {
    return new BroadcastOperator(this.adapter).to(room);
  }
  in(room: Room | Room[]): BroadcastOperator {
    return this.to(room);
  }
  except(room: Room | Room[]): BroadcastOperator {
    return new BroadcastOperator(this.adapter).except(room);
  }
  get volatile(): BroadcastOperator {
    return new BroadcastOperator(this.adapter).volatile;
  }
  get local(): BroadcastOperator {
    return new BroadcastOperator(this.adapter).local;
  }
  timeout(ms: number): BroadcastOperator {
    return new BroadcastOperator(this.adapter).timeout(ms);
  }
  compress(_compress: boolean): BroadcastOperator {
    return new BroadcastOperator(this.adapter);
  }

  /** Broadcasts to every socket of the namespace (Socket.IO's `io.emit`). */
  override emit(ev: string, ...args: unknown[]): boolean {
    return new BroadcastOperator(this.adapter).emit(ev, ...args);
  }
  emitWithAck(ev: string, ...args: unknown[]): Promise<unknown[]> {
    return new BroadcastOperator(this.adapter).emitWithAck(ev, ...args);
  }
  fetchSockets(): Promise<unknown[]> {
    return new BroadcastOperator(this.adapter).fetchSockets();
  }
  allSockets(): Promise<Set<SocketId>> {
    return new BroadcastOperator(this.adapter).allSockets();
  }
  socketsJoin(room: Room | Room[]): void {
    new BroadcastOperator(this.adapter).socketsJoin(room);
  }
  socketsLeave(room: Room | Room[]): void {
    new BroadcastOperator(this.adapter).socketsLeave(room);
  }
  disconnectSockets(close = false): void {
    new BroadcastOperator(this.adapter).disconnectSockets(close);
  }

  /** Emits to the other servers of a cluster (none without one); a trailing function collects acks. */
  serverSideEmit(ev: string, ...args: unknown[]): boolean {
    if (typeof ev !== "string") throw new TypeError("event name must be a string");
    const ack = typeof args[args.length - 1] === "function" ? (args.pop() as (err: Error | null, responses: unknown[]) => void) : undefined;
    this.adapter.serverSideEmit([ev, ...args], ack);
    return true;
  }

  serverSideEmitWithAck(ev: string, ...args: unknown[]): Promise<unknown[]> {
    return new Promise((resolve, reject) => this.serverSideEmit(ev, ...args, (err: Error | null, r: unknown[]) => (err ? reject(err) : resolve(r))));
  }

  /** @internal Delivers a server-side event from another server to this server's listeners. */
  onServerSideEmit(args: unknown[]): void {
    super.emit(String(args[0]), ...args.slice(1));
  }

  /** @internal */
  nextAckId(): number {
    return this.ackIds++;
  }

  // ---------- internal: called by the connection and socket (not public API) ----------

  /** @internal Runs the middlewares, then connects the socket (or answers CONNECT_ERROR). */
  connect(conn: Connection, handshake: Handshake, done: (socket: Socket | null) => void): void {
    const socket = new Socket(this, conn, handshake);
    this.runMiddlewares(socket, (err) => {
      if (conn.transport.closed) return done(null);
      if (err) {
        conn.sendConnectError(this.name, { message: err.message, data: err.data });
        return done(null);
      }
      socket.connected = true;
      this.sockets.set(socket.id, socket);
      this.adapter.addMember(socket);
      // Straight out, not queued: nothing of this socket can be waiting before it.
      conn.transport.sendTextNow(encodeConnectAck(this.name, socket.id));
      done(socket);
      socket.guard(() => super.emit("connection", socket));
      if (socket.connected) socket.guard(() => super.emit("connect", socket));
    });
  }

  /** @internal */
  removeSocket(socket: Socket): void {
    this.sockets.delete(socket.id);
  }

  private runMiddlewares(socket: Socket, done: (err?: Error & { data?: unknown }) => void): void {
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
