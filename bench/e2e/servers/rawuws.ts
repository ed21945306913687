// Raw uWebSockets.js servers: the floor (native pub/sub, no protocol) and the deliberately
// wrong variant used to prove the harness catches broken delivery. BENCH_DEFLATE=1 (--deflate):
// uWS's shared compressor, and frames of 1024 bytes and more (Socket.IO's threshold) compressed.
import uWS from "../../../src/engine/uws.ts";
import {
  FRAME_PREFIX,
  FRAME_SUFFIX,
  SENDER_CID,
  SOCKET_TO_ROOM,
  ONE_ROOM,
  T_EXCEPT,
  T_ONE,
  T_SOCKET_TO,
  T_UNION,
  isMember,
  maskToRooms,
  roomsToMask,
  type TargetId,
} from "../../lib/plan.ts";
import { churnPlan, type Impl } from "./harness.ts";

interface UD {
  cid: number;
  mask: number;
}
interface Entry {
  ws: uWS.WebSocket<UD>;
  cid: number;
  mask: number;
  rooms: string[];
}

const DEFLATE = process.env.BENCH_DEFLATE === "1";
const COMPRESS_FROM = 1024;

// Composite targets are measured as ONE topic that exactly the same sockets subscribe to.
const UNION_TOPIC = "=union4";
const EXCEPT_TOPIC = "=except";

/** Wrong-server faults. Each hits a different socket, so each shows up in its own counter. */
export type Fault = "dup" | "skip" | "wrong" | "reorder";
export const ALL_FAULTS: readonly Fault[] = ["dup", "skip", "wrong", "reorder"];

export function rawImpl(faults: ReadonlySet<Fault> | null): Impl {
  const byCid = new Map<number, Entry>();
  let sorted: Entry[] | null = null; // by cid, for the wrong server's deterministic victims
  let maxCid = 0;
  let token: uWS.us_listen_socket | null = null;
  let held: { ws: uWS.WebSocket<UD>; frame: string } | null = null;

  const app = uWS.App().ws<UD>("/*", {
    compression: DEFLATE ? uWS.SHARED_COMPRESSOR | uWS.SHARED_DECOMPRESSOR : uWS.DISABLED,
    maxPayloadLength: 1 << 20,
    maxBackpressure: 1 << 20, // as Engine.IO's uWS default; bursts stay far below it
    idleTimeout: 0,
    upgrade: (res, req, context) => {
      const rooms = req.getQuery("rooms") ?? "";
      const cid = Number(req.getQuery("cid"));
      let mask: number;
      try {
        mask = roomsToMask(rooms);
      } catch {
        mask = -1;
      }
      if (!Number.isInteger(cid) || cid < 0 || mask < 0) {
        res.writeStatus("400 Bad Request").end();
        return;
      }
      res.upgrade<UD>(
        { cid, mask },
        req.getHeader("sec-websocket-key"),
        req.getHeader("sec-websocket-protocol"),
        req.getHeader("sec-websocket-extensions"),
        context,
      );
    },
    open: (ws) => {
      const { cid, mask } = ws.getUserData();
      const rooms = maskToRooms(mask);
      for (const r of rooms) ws.subscribe(r);
      if (isMember(T_UNION, mask, cid)) ws.subscribe(UNION_TOPIC);
      if (isMember(T_EXCEPT, mask, cid)) ws.subscribe(EXCEPT_TOPIC);
      byCid.set(cid, { ws, cid, mask, rooms });
      sorted = null;
      if (cid >= maxCid) maxCid = cid + 1;
    },
    close: (ws) => {
      const { cid } = ws.getUserData();
      if (byCid.get(cid)?.ws === ws) byCid.delete(cid);
      sorted = null;
    },
  });

  const listen = (): Promise<number> =>
    new Promise((resolve, reject) => {
      app.listen("127.0.0.1", 0, (t) => {
        if (!t) return reject(new Error("uWS listen failed"));
        token = t;
        resolve(uWS.us_socket_local_port(t));
      });
    });
  const close = async (): Promise<void> => {
    if (token) uWS.us_listen_socket_close(token);
    token = null;
    for (const e of [...byCid.values()]) e.ws.end(1001);
  };
  const churn = (ops: number, seed: number): number =>
    churnPlan(
      maxCid,
      ops,
      seed,
      (cid, room, tmp) => {
        const ws = byCid.get(cid)!.ws;
        ws.unsubscribe(room);
        ws.subscribe(room);
        ws.subscribe(tmp);
        ws.unsubscribe(tmp);
      },
      (cid) => byCid.get(cid)?.rooms,
    );

  if (!faults) {
    // ---- the floor: native publish, one topic per target --------------------------------
    return {
      listen,
      close,
      churn,
      joined: () => byCid.size,
      emit(target: TargetId, payload: string): void {
        const frame = FRAME_PREFIX + payload + FRAME_SUFFIX;
        const z = DEFLATE && frame.length >= COMPRESS_FROM;
        switch (target) {
          case T_ONE:
            app.publish(ONE_ROOM, frame, false, z);
            break;
          case T_UNION:
            app.publish(UNION_TOPIC, frame, false, z);
            break;
          case T_EXCEPT:
            app.publish(EXCEPT_TOPIC, frame, false, z);
            break;
          case T_SOCKET_TO: {
            const sender = byCid.get(SENDER_CID);
            if (!sender) throw new Error("socket.to sender (cid 0) is not connected");
            sender.ws.publish(SOCKET_TO_ROOM, frame, false, z); // uWS skips the publishing socket
            break;
          }
        }
      },
    };
  }

  // ---- the wrong server: socket-by-socket sends with deliberate faults --------------------
  // Victims are members of every target (in r0, not in r1, not the sender), chosen by cid:
  // the 1st gets a duplicate, the 2nd misses a message, the 3rd gets two messages swapped.
  const victims = (): Entry[] => {
    if (!sorted) sorted = [...byCid.values()].sort((a, b) => a.cid - b.cid);
    return sorted.filter((e) => (e.mask & 0b11) === 0b01 && e.cid !== SENDER_CID);
  };
  return {
    listen,
    close,
    churn,
    joined: () => byCid.size,
    emit(target: TargetId, payload: string, i: number): void {
      const frame = FRAME_PREFIX + payload + FRAME_SUFFIX;
      const v = victims();
      const dupV = faults.has("dup") && i === 0 ? v[0] : undefined;
      const skipV = faults.has("skip") && i === 1 ? v[1] : undefined;
      const reV = faults.has("reorder") ? v[2] : undefined;
      let wrongSent = !(faults.has("wrong") && i === 2);
      for (const e of sorted!) {
        if (!isMember(target, e.mask, e.cid)) {
          if (!wrongSent) {
            e.ws.send(frame, false); // a socket that is not a recipient
            wrongSent = true;
          }
          continue;
        }
        if (e === skipV) continue;
        if (e === reV && i === 3) {
          held = { ws: e.ws, frame }; // sent after message 4
          continue;
        }
        e.ws.send(frame, false);
        if (e === dupV) e.ws.send(frame, false);
        if (e === reV && i === 4 && held) {
          held.ws.send(held.frame, false);
          held = null;
        }
      }
    },
    endBurst(): void {
      if (held) held.ws.send(held.frame, false);
      held = null;
    },
  };
}
