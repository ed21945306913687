// Dynamic namespaces (Socket.IO's `io.of(/regex/)` and `io.of((name, auth, next) => …)`): a parent
// namespace whose children are created when a client first asks for a matching name. A child
// inherits the parent's middlewares and connection listeners; the parent's emit reaches every
// child. Knows nothing of the engine beyond the child it hands back.
import { Adapter, type BroadcastOptions } from "./adapter.ts";
import type { Packet } from "../engine/codec.ts";
import { Namespace } from "./namespace.ts";
import type { Server } from "./server.ts";
import type { DefaultEventsMap, EventNamesWithoutAck, EventParams, EventsMap } from "./typed-events.ts";

/** Decides whether a namespace `name` asked for by a client (with its `auth`) is a child. */
export type ParentNspNameMatchFn = (name: string, auth: { [key: string]: any }, fn: (err: Error | null, success: boolean) => void) => void;

export class ParentNamespace<
  ListenEvents extends EventsMap = DefaultEventsMap,
  EmitEvents extends EventsMap = ListenEvents,
  ServerSideEvents extends EventsMap = DefaultEventsMap,
  SocketData = any,
> extends Namespace<ListenEvents, EmitEvents, ServerSideEvents, SocketData> {
  private static count = 0;
  readonly children = new Set<Namespace<ListenEvents, EmitEvents, ServerSideEvents, SocketData>>();

  constructor(server: Server<ListenEvents, EmitEvents, ServerSideEvents, SocketData>) {
    super(server, "/_" + ParentNamespace.count++);
  }

  protected override createAdapter(): Adapter {
    return new ParentBroadcastAdapter(this as unknown as ParentNamespace);
  }

  /** Emits to every child namespace. */
  override emit<Ev extends EventNamesWithoutAck<EmitEvents>>(ev: Ev, ...args: EventParams<EmitEvents, Ev>): boolean {
    for (const nsp of this.children) nsp.emit(ev, ...args);
    return true;
  }

  /** As in Socket.IO: the children differ from server to server, so there is no answer to give. */
  override fetchSockets(): never {
    throw new Error("fetchSockets() is not supported on parent namespaces");
  }

  /** The child namespace `name`, made now: it inherits middlewares and connection listeners. */
  createChild(name: string): Namespace<ListenEvents, EmitEvents, ServerSideEvents, SocketData> {
    const server = this.server;
    const child = new Namespace<ListenEvents, EmitEvents, ServerSideEvents, SocketData>(server, name);
    for (const fn of this.middlewares) child.use(fn);
    for (const l of this.listeners("connect")) child.on("connect", l);
    for (const l of this.listeners("connection")) child.on("connection", l);
    this.children.add(child);
    if (server.opts.cleanupEmptyChildNamespaces) {
      const remove = child.removeSocket.bind(child);
      child.removeSocket = (socket) => {
        remove(socket);
        if (child.sockets.size > 0) return;
        child.adapter.close();
        server._nsps.delete(child.name);
        this.children.delete(child);
      };
    }
    server._nsps.set(name, child);
    server.sockets.emitLocal("new_namespace", child);
    return child;
  }
}

/** The parent's adapter: holds no socket; a broadcast goes to every child's adapter. */
class ParentBroadcastAdapter extends Adapter {
  override broadcast(packet: Omit<Packet, "nsp">, opts: BroadcastOptions): void {
    for (const child of (this.nsp as ParentNamespace).children) child.adapter.broadcast(packet, opts);
  }
}
