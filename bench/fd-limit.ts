// The descriptor-limit reproduction of issue #13: a server under `ulimit -n 512` is flooded with
// 900 connection attempts; we count upgrades accepted (101), refused (503) and left hanging, and
// the server's CPU time in the 5 s after the flood (from /proc). Run once with the default
// maxConnections (fd limit less headroom) and once asking for 1,000,000 (before issue 22 that was the
// old behaviour, the accept busy loop; now it is clamped to the fd limit, with a warning).
//   flock /tmp/roomgate-bench.lock node --import tsx bench/fd-limit.ts
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import net from "node:net";
import { fileURLToPath } from "node:url";

const FD_LIMIT = 512;
const ATTEMPTS = 900;

if (process.env.FD_LIMIT_SERVER) {
  const { Server } = await import("../src/index.ts");
  const io = new Server({ logger: "warn", ...(process.env.NO_LIMIT ? { maxConnections: 1_000_000 } : {}) });
  const port = await io.listen(0, "127.0.0.1");
  console.log(`listening ${port} maxConnections ${io.opts.maxConnections}`);
} else {
  for (const mode of ["default maxConnections", "no limit (old behaviour)"])
    console.log(JSON.stringify({ mode, ...(await run(mode !== "default maxConnections")) }));
}

function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, "latin1").split(") ")[1].split(" ");
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime + stime, in clock ticks of 10 ms
}

async function run(noLimit: boolean) {
  const self = fileURLToPath(import.meta.url);
  const child = spawn("bash", ["-c", `ulimit -n ${FD_LIMIT} && exec "${process.execPath}" --import tsx "${self}"`], {
    env: { ...process.env, FD_LIMIT_SERVER: "1", ...(noLimit ? { NO_LIMIT: "1" } : {}) },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const header = await new Promise<string>((resolve) => {
    let out = "";
    child.stdout!.on("data", (d: Buffer) => {
      out += d;
      if (out.includes("\n")) resolve(out.trim());
    });
  });
  const port = Number(/listening (\d+)/.exec(header)![1]);
  const sockets: net.Socket[] = [];
  const outcome = { accepted: 0, refused503: 0, otherStatus: 0, resetOrError: 0, hanging: 0 };
  const results = Array.from(
    { length: ATTEMPTS },
    () =>
      new Promise<void>((resolve) => {
        const s = net.connect(port, "127.0.0.1");
        sockets.push(s);
        let answered = false;
        const timer = setTimeout(() => {
          if (!answered) outcome.hanging++;
          answered = true;
          resolve();
        }, 5000);
        s.on("connect", () =>
          s.write(
            "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
          ),
        );
        s.on("data", (d: Buffer) => {
          if (answered) return;
          answered = true;
          clearTimeout(timer);
          const status = d.toString("latin1", 9, 12);
          if (status === "101") outcome.accepted++;
          else if (status === "503") outcome.refused503++;
          else outcome.otherStatus++;
          resolve();
        });
        s.on("error", () => {
          if (!answered) outcome.resetOrError++;
          answered = true;
          clearTimeout(timer);
          resolve();
        });
      }),
  );
  const cpuBefore = cpuMs(child.pid!);
  await Promise.all(results);
  const cpuAfterFlood = cpuMs(child.pid!);
  await new Promise((r) => setTimeout(r, 5000));
  const cpuIdle5s = cpuMs(child.pid!) - cpuAfterFlood;
  for (const s of sockets) s.destroy();
  child.kill();
  return { fdLimit: FD_LIMIT, attempts: ATTEMPTS, server: header, ...outcome, serverCpuMsDuringFlood: cpuAfterFlood - cpuBefore, serverCpuMsNext5s: cpuIdle5s };
}
