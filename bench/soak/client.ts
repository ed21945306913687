// One soak client process: holds `count` raw WebSocket sessions from one 127.0.0.x source address,
// each connected to "/" and in one room, answering the server's pings; churns `churn` sessions per
// second (close one, open a new one) until told to stop; reports its counters over IPC.
import net from "node:net";
import { newFrameHeader, newKey, readFrame, textFrame, upgradeRequest } from "../lib/ws-frame.ts";

const port = Number(process.env.PORT);
const localAddress = process.env.LOCAL_ADDRESS!;
const count = Number(process.env.COUNT);
const churn = Number(process.env.CHURN);
const counters = { open: 0, opened: 0, closed: 0, failed: 0, unexpectedClose: 0, frames: 0 };
const sessions = new Set<net.Socket>();
let stopping = false;
const h = newFrameHeader();

function open(): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: "127.0.0.1", localAddress });
    let upgraded = false;
    let buf: Buffer = Buffer.alloc(0);
    let settled = false;
    const settle = () => {
      if (!settled) (settled = true), resolve();
    };
    socket.on("connect", () => socket.write(upgradeRequest("/socket.io/?EIO=4&transport=websocket", "127.0.0.1", newKey())));
    socket.on("data", (d: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      if (!upgraded) {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) return;
        if (!buf.subarray(0, 12).toString().includes("101")) {
          counters.failed++;
          socket.destroy();
          return settle();
        }
        upgraded = true;
        buf = buf.subarray(end + 4);
      }
      // Server frames: unmasked; only small text frames matter (open, ping), the rest is skipped.
      let off = 0;
      while (readFrame(buf, off, h)) {
        const data = buf.subarray(h.start, h.end);
        off = h.end;
        counters.frames++;
        if (h.opcode !== 1) continue;
        if (data[0] === 0x30 /* "0" open */) {
          socket.write(Buffer.concat([textFrame("40"), textFrame(`42["join","room-${Math.floor(Math.random() * 50)}"]`)]));
          sessions.add(socket);
          counters.open++;
          counters.opened++;
          settle();
        } else if (data.length === 1 && data[0] === 0x32 /* "2" ping */) socket.write(textFrame("3"));
      }
      buf = buf.subarray(off);
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      if (sessions.delete(socket)) {
        counters.open--;
        counters.closed++;
        if (!stopping) counters.unexpectedClose++;
      } else if (!settled) counters.failed++;
      settle();
    });
  });
}

async function ramp(): Promise<void> {
  // 50 handshakes in flight at a time: a ramp, not a flood.
  for (let i = 0; i < count; i += 50) await Promise.all(Array.from({ length: Math.min(50, count - i) }, open));
}

let churner: NodeJS.Timeout | null = null;
function startChurn(): void {
  churner = setInterval(() => {
    for (let i = 0; i < churn / 10; i++) {
      const victim = sessions.values().next().value as net.Socket | undefined;
      if (!victim) break;
      sessions.delete(victim);
      counters.open--;
      counters.closed++;
      victim.destroy();
      void open();
    }
  }, 100);
}

process.on("message", async (m: { type: string }) => {
  if (m.type === "ramp") {
    await ramp();
    process.send!({ type: "ramped", counters });
  } else if (m.type === "churn") startChurn();
  else if (m.type === "counters") process.send!({ type: "counters", counters });
  else if (m.type === "stop") {
    stopping = true;
    if (churner) clearInterval(churner);
    for (const s of sessions) s.destroy();
    setTimeout(() => {
      process.send!({ type: "stopped", counters });
      process.exit(0);
    }, 500);
  }
});
process.send!({ type: "ready" });
