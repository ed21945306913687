// Issue 22, abuse: a canary's latency while K connections from one address (127.0.0.2) send 900
// broadcasts/s each (each under the per-connection budget of 1,000 frames/s) to a room of L
// listeners (127.0.0.3), next to H honest connections (127.0.0.4) sending 900 plain events/s
// each, near their limit. Reports per phase (K = 0, 4, 8): the canary's acked-ping round trip
// p50 / p99 / max and failed acks (socket.io-client on 127.0.0.1, a ping every 20 ms), how many
// abusers and honest connections were cut and with which close reason, and the server's CPU.
// The server runs in a child process with the default limits, or with the per-address budget and
// the deliveries weight off (--budget per-connection: what roomgate had before issue 22, except
// the counting on arrival).
//   node --import tsx bench/abuse.ts [--listeners 500] [--honest 2] [--seconds 10] [--budget default|per-connection]
import { fork } from "node:child_process";
import { readFileSync } from "node:fs";
import net from "node:net";
import { fileURLToPath } from "node:url";
import { io as connectClient } from "socket.io-client";
import { Server } from "../src/index.ts";
import { textFrame as text } from "./lib/ws-frame.ts";
import { sleep } from "./lib/wait.ts";

if (process.env.ABUSE_SERVER) {
  const perConnection = process.env.ABUSE_SERVER === "per-connection";
  const io = new Server({
    logger: "silent",
    ...(perConnection ? { inboundRateLimit: { deliveries: 1_000_000_000, perAddress: false } } : {}),
  });
  const closes: Record<string, number> = {};
  io.on("connection", (socket) => {
    if (socket.handshake.query.role === "listener" || socket.handshake.query.role === "canary") socket.join("big");
    socket.on("shout", () => io.to("big").emit("s", "x".repeat(20)));
    socket.on("hello", () => {});
    socket.on("ping", (ack?: () => void) => ack?.());
    socket.on("disconnect", (reason) => {
      const key = `${socket.handshake.address} ${reason}`;
      closes[key] = (closes[key] ?? 0) + 1;
    });
  });
  const port = await io.listen(0, "127.0.0.1");
  process.send!({ port });
  process.on("message", (m: string) => {
    if (m === "closes") process.send!({ closes: { ...closes } });
  });
  process.on("disconnect", () => process.exit(0));
} else {
  const arg = (name: string, dflt: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1]! : dflt;
  };
  const listeners = Number(arg("listeners", "500"));
  const honest = Number(arg("honest", "2"));
  const seconds = Number(arg("seconds", "10"));
  const budget = arg("budget", "default");
  const server = fork(fileURLToPath(import.meta.url), [], { execArgv: ["--import", "tsx"], env: { ...process.env, ABUSE_SERVER: budget } });
  process.on("exit", () => server.kill("SIGKILL"));
  const port = await new Promise<number>((r) => server.once("message", (m: { port: number }) => r(m.port)));
  const ask = <T>(what: string) => new Promise<T>((r) => (server.once("message", (m: T) => r(m)), server.send(what)));
  const cpuMs = () => {
    const f = readFileSync(`/proc/${server.pid}/stat`, "latin1").split(") ")[1]!.split(" ");
    return (Number(f[11]) + Number(f[12])) * 10;
  };

  /** A raw WebSocket session from `address` that connects "/" and then reads and drops everything. */
  const raw = (address: string, role: string) =>
    new Promise<{ socket: net.Socket; closed: () => string | null }>((resolve, reject) => {
      const socket = net.connect({ port, host: "127.0.0.1", localAddress: address });
      let open = false;
      let reason: string | null = null;
      let tail = Buffer.alloc(0);
      socket.on("connect", () =>
        socket.write(
          `GET /socket.io/?EIO=4&transport=websocket&role=${role} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        ),
      );
      socket.on("data", (d: Buffer) => {
        if (!open) {
          open = true;
          socket.write(text("40"));
          resolve({ socket, closed: () => reason });
          return;
        }
        // Only the close frame matters (0x88 <len> <code> <reason>): keep the last bytes seen.
        tail = Buffer.concat([tail, d]).subarray(-128);
        const at = tail.lastIndexOf(0x88);
        if (at >= 0 && at + 4 <= tail.length) reason = tail.subarray(at + 4, at + 2 + (tail[at + 1]! & 0x7f)).toString();
      });
      socket.on("close", () => (reason ??= "closed"));
      socket.on("error", (err) => (open ? (reason ??= err.message) : reject(err)));
    });

  const listenerConns = [];
  for (let i = 0; i < listeners; i++) listenerConns.push(await raw("127.0.0.3", "listener"));
  const canary = connectClient(`http://127.0.0.1:${port}`, { transports: ["websocket"], forceNew: true, reconnection: false, query: { role: "canary" } });
  await new Promise<void>((r) => canary.once("connect", () => r()));
  console.log(`# ${listeners} listeners in "big", canary connected; budget: ${budget}`);

  for (const k of [0, 4, 8]) {
    const abusers = await Promise.all(Array.from({ length: k }, () => raw("127.0.0.2", "abuser")));
    const honestConns = await Promise.all(Array.from({ length: honest }, () => raw("127.0.0.4", "honest")));
    const shout = text(`42["shout"]`);
    const hello = text(`42["hello"]`);
    // 900/s each: 9 frames every 10 ms, while the connection is open.
    const send = setInterval(() => {
      for (const a of abusers) if (a.closed() === null) for (let i = 0; i < 9; i++) a.socket.write(shout);
      for (const h of honestConns) if (h.closed() === null) for (let i = 0; i < 9; i++) h.socket.write(hello);
    }, 10);
    const rtts: number[] = [];
    let failed = 0;
    const cpu0 = cpuMs();
    const end = performance.now() + seconds * 1000;
    while (performance.now() < end) {
      const t = performance.now();
      try {
        await canary.timeout(2000).emitWithAck("ping");
        rtts.push(performance.now() - t);
      } catch {
        failed++;
      }
      await sleep(20);
    }
    clearInterval(send);
    const cpu = (cpuMs() - cpu0) / (seconds * 1000);
    rtts.sort((a, b) => a - b);
    const q = (p: number) => Math.round(rtts[Math.min(rtts.length - 1, Math.floor(p * rtts.length))]! * 100) / 100;
    const reasons = (conns: { closed: () => string | null }[]) => {
      const out: Record<string, number> = {};
      for (const c of conns) {
        const r = c.closed() ?? "open";
        out[r] = (out[r] ?? 0) + 1;
      }
      return out;
    };
    console.log(
      JSON.stringify({
        abusers: k,
        canary: { p50: q(0.5), p99: q(0.99), max: q(1), acks: rtts.length, failedAcks: failed },
        abuserEnds: reasons(abusers),
        honestEnds: reasons(honestConns),
        serverCpu: Math.round(cpu * 100) / 100,
      }),
    );
    for (const c of [...abusers, ...honestConns]) c.socket.destroy();
    await sleep(500);
  }
  console.log(JSON.stringify({ serverSideDisconnects: (await ask<{ closes: Record<string, number> }>("closes")).closes }));
  canary.disconnect();
  for (const l of listenerConns) l.socket.destroy();
  process.exit(0);
}
