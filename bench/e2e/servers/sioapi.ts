// Shared server body for every server that offers Socket.IO's server API (Socket.IO 4.8 on ws,
// Socket.IO 4.8 on uWS, and roomgate): the same calls, only the Server class differs.
import {
  EXCEPT_EXCLUDED,
  EXCEPT_ROOM,
  ONE_ROOM,
  SENDER_CID,
  SOCKET_TO_ROOM,
  T_EXCEPT,
  T_ONE,
  T_SOCKET_TO,
  T_UNION,
  UNION_ROOMS,
  type TargetId,
} from "../../lib/plan.ts";
import { churnPlan, type Impl } from "./harness.ts";

/** The one configuration both Socket.IO peers run with (websocket only, no compression, the
 *  same heartbeat and payload limit as roomgate's bench server). BENCH_POLLING=1 (the polling
 *  scenario's server process): both transports, Socket.IO's default, as roomgate serves them.
 *  BENCH_DEFLATE=1 (--deflate): `perMessageDeflate: true` (frames of 1024 bytes and more). */
export const BENCH_DEFLATE = process.env.BENCH_DEFLATE === "1";
export const SOCKET_IO_OPTIONS = {
  transports: process.env.BENCH_POLLING === "1" ? ["polling" as const, "websocket" as const] : ["websocket" as const],
  serveClient: false,
  perMessageDeflate: BENCH_DEFLATE,
  pingInterval: 25000,
  pingTimeout: 20000,
  maxHttpBufferSize: 1e6,
};

export interface SioOp {
  to(room: string): SioOp;
  except(room: string): SioOp;
  emit(ev: string, ...args: unknown[]): unknown;
}
export interface SioSocket {
  id: string;
  handshake: { query: Record<string, unknown> };
  join(rooms: string | string[]): unknown;
  leave(room: string): unknown;
  to(room: string): SioOp;
  on(ev: "disconnect", fn: (...args: unknown[]) => void): unknown;
}
export interface SioServer {
  on(ev: "connection", fn: (socket: SioSocket) => void): unknown;
  to(room: string): SioOp;
}

interface Entry {
  socket: SioSocket;
  rooms: string[];
}

function queryString(q: Record<string, unknown>, key: string): string {
  const v = q[key];
  if (typeof v === "string") return v;
  if (Array.isArray(v) && typeof v[0] === "string") return v[0];
  return "";
}

export function sioImpl(io: SioServer, listen: () => Promise<number>, close: () => Promise<void>): Impl {
  const byCid = new Map<number, Entry>();
  let maxCid = 0;
  io.on("connection", (socket) => {
    const q = socket.handshake.query;
    const rooms = queryString(q, "rooms").split(",").filter(Boolean);
    const cid = Number(queryString(q, "cid"));
    if (!Number.isInteger(cid) || cid < 0) throw new Error(`bad cid in query: ${JSON.stringify(q)}`);
    socket.join(rooms);
    byCid.set(cid, { socket, rooms });
    if (cid >= maxCid) maxCid = cid + 1;
    socket.on("disconnect", () => {
      if (byCid.get(cid)?.socket === socket) byCid.delete(cid);
    });
  });
  const [u0, u1, u2, u3] = UNION_ROOMS;
  return {
    listen,
    close,
    joined: () => byCid.size,
    emit(target: TargetId, payload: string): void {
      switch (target) {
        case T_ONE:
          io.to(ONE_ROOM).emit("m", payload);
          break;
        case T_UNION:
          io.to(u0).to(u1).to(u2).to(u3).emit("m", payload);
          break;
        case T_EXCEPT:
          io.to(EXCEPT_ROOM).except(EXCEPT_EXCLUDED).emit("m", payload);
          break;
        case T_SOCKET_TO: {
          const sender = byCid.get(SENDER_CID);
          if (!sender) throw new Error("socket.to sender (cid 0) is not connected");
          sender.socket.to(SOCKET_TO_ROOM).emit("m", payload);
          break;
        }
      }
    },
    churn(ops: number, seed: number): number {
      return churnPlan(
        maxCid,
        ops,
        seed,
        (cid, room, tmp) => {
          const s = byCid.get(cid)!.socket;
          s.leave(room);
          s.join(room);
          s.join(tmp);
          s.leave(tmp);
        },
        (cid) => byCid.get(cid)?.rooms,
      );
    },
  };
}
