// Test application for the cluster tests: a socket joins the rooms listed in its handshake query
// (`rooms=a,b`), and any socket can ask its worker to run a server-side operation through the
// "op" event (with an ack carrying the result), so a test drives every worker over socket.io.
import type { BroadcastOperator, Server, Socket } from "../../src/index.ts";

interface Target {
  to?: string[];
  except?: string[];
  volatile?: boolean;
  local?: boolean;
  timeout?: number;
}

function select(io: Server, t: Target = {}): BroadcastOperator<any, any> {
  let b = io.to([]);
  if (t.to?.length) b = b.to(t.to);
  if (t.except?.length) b = b.except(t.except);
  if (t.volatile) b = b.volatile;
  if (t.local) b = b.local;
  if (t.timeout !== undefined) b = b.timeout(t.timeout);
  return b;
}

interface SocketLike {
  id: string;
  rooms: Set<string>;
  data: Record<string, unknown>;
  handshake: { query: Record<string, string> };
  emit(ev: string, ...args: unknown[]): unknown;
  join(rooms: string | string[]): Promise<void> | void;
  leave(room: string): void;
  disconnect(close?: boolean): unknown;
}

function describe(s: SocketLike) {
  return { id: s.id, rooms: [...s.rooms].sort(), data: s.data, name: s.handshake.query.name, remote: s.constructor.name === "RemoteSocket" };
}

type Op = (socket: Socket, a: any) => unknown;

export default function clusterApp(io: Server, worker: string): void {
  const ops: Record<string, Op> = {
    broadcast: (_s, a: Target & { ev: string; args?: unknown[] }) => select(io, a).emit(a.ev, ...(a.args ?? [])),
    socketTo: (s, a: { to: string[]; ev: string; args?: unknown[] }) => s.to(a.to).emit(a.ev, ...(a.args ?? [])),
    socketBroadcast: (s, a: { ev: string; args?: unknown[] }) => s.broadcast.emit(a.ev, ...(a.args ?? [])),
    fetch: async (_s, a: Target) =>
      ((await select(io, a).fetchSockets()) as SocketLike[]).map(describe).sort((x, y) => String(x.name).localeCompare(String(y.name))),
    remote: async (_s, a: { id: string; action: "emit" | "join" | "leave" | "disconnect"; args?: unknown[] }) => {
      const [target] = (await io.in(a.id).fetchSockets()) as SocketLike[];
      if (!target) throw new Error(`no socket ${a.id}`);
      (target[a.action] as (...x: unknown[]) => unknown)(...(a.args ?? []));
      return describe(target);
    },
    // RemoteSocket.timeout(ms).emit(ev, ...args, (err, answer) => …): one answer, or the timeout error.
    remoteAsk: async (_s, a: { id: string; timeout: number; ev: string; args?: unknown[] }) => {
      const [target] = await io.in(a.id).fetchSockets();
      if (!target) throw new Error(`no socket ${a.id}`);
      return new Promise((resolve) =>
        target.timeout(a.timeout).emit(a.ev, ...(a.args ?? []), (err: Error | null, answer: unknown) => resolve({ err: err?.message ?? null, answer })),
      );
    },
    // The calling socket joins; answered once join's promise resolved.
    joinSelf: (s, a: { rooms: string[] }) => s.join(a.rooms),
    join: (_s, a: Target & { rooms: string[] }) => select(io, a).socketsJoin(a.rooms),
    leave: (_s, a: Target & { rooms: string[] }) => select(io, a).socketsLeave(a.rooms),
    disconnect: (_s, a: Target & { close?: boolean }) => select(io, a).disconnectSockets(a.close),
    serverSideEmit: (_s, a: { ev: string; args?: unknown[] }) =>
      new Promise((resolve) =>
        io.serverSideEmit(a.ev, ...(a.args ?? []), (err: Error | null, responses: unknown[]) => resolve({ err: err?.message ?? null, responses })),
      ),
    serverSideEmitNoAck: (_s, a: { ev: string; args?: unknown[] }) => io.serverSideEmit(a.ev, ...(a.args ?? [])),
    ackBroadcast: (_s, a: Target & { ev: string }) =>
      new Promise((resolve) => select(io, a).emit(a.ev, (err: Error | null, responses: unknown[]) => resolve({ err: err?.message ?? null, responses }))),
    /** `count` events `ev` (argument: 0, 1, …) to `to`, one every `everyMs`; resolves when all are out. */
    stream: (_s, a: { to: string[]; ev: string; count: number; everyMs: number }) =>
      new Promise<void>((resolve) => {
        let i = 0;
        const timer = setInterval(() => {
          io.to(a.to).emit(a.ev, i++);
          if (i === a.count) {
            clearInterval(timer);
            resolve();
          }
        }, a.everyMs);
      }),
    serverCount: () => io.sockets.adapter.serverCount(),
    /** Only for namespaces this worker already serves (io.of would create it). */
    serverCountOf: (_s, a: { nsp: string }) => io._nsps.get(a.nsp)?.adapter.serverCount() ?? null,
    clusterStats: () => (io.sockets.adapter as unknown as { node?: { stats: unknown } }).node?.stats ?? null,
    rooms: () => [...io.sockets.adapter.rooms.keys()].sort(),
    time: async (s, a: { op: string; args: unknown }) => {
      const t0 = Date.now();
      try {
        return { ok: true, value: await ops[a.op]!(s, a.args), ms: Date.now() - t0 };
      } catch (err) {
        return { ok: false, error: (err as Error).message, ms: Date.now() - t0 };
      }
    },
  };

  // Server-side events from other workers (and the emitter).
  const joins = new WeakMap<Socket, Promise<void> | void>();
  ops.joined = (s) => joins.get(s);
  const serverEvents: unknown[][] = [];
  io.sockets.on("who", (x: unknown, cb?: (r: unknown) => void) => {
    serverEvents.push(["who", x]);
    cb?.({ worker, x });
  });
  io.sockets.on("note", (...args: unknown[]) => serverEvents.push(["note", ...args]));
  ops.serverEvents = () => serverEvents.splice(0);

  // A namespace only worker A serves.
  if (worker === "A") io.of("/admin");

  io.on("connection", (socket) => {
    const q = socket.handshake.query;
    const rooms = (q.rooms ?? "").split(",").filter(Boolean);
    // A recovered socket (connection-state recovery) is back in its rooms with its data.
    // In a cluster, join's promise resolves once every worker routes the rooms here: the test's
    // connect() waits for it (op "joined") before it broadcasts from another worker.
    if (rooms.length && !socket.recovered) joins.set(socket, socket.join(rooms));
    if (!socket.recovered) socket.data = { worker, name: q.name };
    socket.on("op", async (name: string, args: unknown, ack: (r: unknown) => void) => {
      try {
        const op = ops[name];
        if (!op) throw new Error(`unknown op ${name}`);
        ack({ ok: true, value: await op(socket, args) });
      } catch (err) {
        ack({ ok: false, error: (err as Error).message });
      }
    });
  });
}
