// Default clients (long-polling, then the upgrade) against the pm2 ecosystem (relay + 2 gateway
// workers on one SO_REUSEPORT port, no sticky sessions), while an emitter broadcasts to all of them.
// Reports how many end on WebSocket, how long their upgrade took (the engine's "open", the polling
// handshake, to its "upgrade"), the round trip of the first ack after it (a moved session answers once its sockets
// are restored on the new worker), and broadcasts lost, doubled or out of order per client.
//   node --import tsx bench/deploy/upgrade.ts [--clients 200] [--rate-ms 20] [--recovery]
// --recovery turns connection-state recovery on (ROOMGATE_RECOVERY): sessions whose WebSocket lands
// on the other worker then move there; without it they stay on polling.
// Bounded: the clients connect, a few seconds of broadcasts, then everything stops. Its own pm2
// daemon (PM2_HOME=/tmp/pm2-upgrade unless set), killed at the end.
import { execFileSync } from "node:child_process";
import http from "node:http";
import { io as connectClient, type Socket } from "socket.io-client";
import { signToken } from "../../src/examples/tokens.ts";
import { Emitter } from "../../src/index.ts";
import { ecosystem } from "./ecosystem.ts";
import { sleep } from "../lib/wait.ts";

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const CLIENTS = arg("clients", 200);
const RATE_MS = arg("rate-ms", 20);
const RECOVERY = process.argv.includes("--recovery");
const PM2_HOME = process.env.PM2_HOME ?? "/tmp/pm2-upgrade";

const { port, relayPort, pm2, kill, tokenSecret } = await ecosystem({ pm2Home: PM2_HOME, workers: 2, recovery: RECOVERY, tokenSecret: "bench-upgrade-secret" });

function healthy(): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/healthz", agent: false, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("error", () => resolve(false));
    req.on("timeout", () => req.destroy());
  });
}

interface Tracked {
  socket: Socket;
  got: number[];
  connects: number;
  openedAt: number;
  upgradeMs: number | null;
  firstAckMs: number | null;
}

const percentile = (xs: number[], p: number) => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return Number(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!.toFixed(2));
};

try {
  execFileSync("npm", ["run", "build"], { stdio: "ignore", timeout: 120_000 });
  pm2("start", "ecosystem.config.js");
  for (let i = 0; i < 200 && !(await healthy()); i++) await sleep(100);
  const emitter = new Emitter({ servers: `nats://127.0.0.1:${relayPort}` });
  await emitter.ready;
  let seq = 0;
  // Broadcasts run from the first connection on, so upgrades and moves happen under them.
  const ticker = setInterval(() => emitter.to("user:feed").emit("tick", ++seq), RATE_MS);

  const clients: Tracked[] = [];
  for (let i = 0; i < CLIENTS; i++) {
    const socket = connectClient(`http://127.0.0.1:${port}`, {
      forceNew: true,
      reconnection: false,
      auth: { token: signToken("feed", tokenSecret) }, // the example app joins user:feed
    });
    const t: Tracked = { socket, got: [], connects: 0, openedAt: 0, upgradeMs: null, firstAckMs: null };
    socket.on("connect", () => t.connects++);
    socket.on("tick", (n: number) => t.got.push(n));
    socket.io.on("open", () => {
      t.openedAt = performance.now();
      socket.io.engine.once("upgrade", () => {
        t.upgradeMs = performance.now() - t.openedAt;
        const sent = performance.now();
        // The example app answers "subscribe"; right after the switch, on the new worker if it moved.
        socket
          .timeout(5000)
          .emitWithAck("subscribe", "p1")
          .then(
            () => (t.firstAckMs = performance.now() - sent),
            () => {},
          );
      });
    });
    clients.push(t);
    if (i % 20 === 19) await sleep(10);
  }
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && clients.some((c) => !c.socket.connected || (c.upgradeMs !== null && c.firstAckMs === null))) await sleep(50);
  await sleep(2000); // upgrades still possible are done well within it (upgradeTimeout applies)
  clearInterval(ticker);
  await sleep(500);
  const last = ++seq;
  emitter.to("user:feed").emit("tick", last);
  for (let i = 0; i < 100 && clients.some((c) => c.socket.connected && !c.got.includes(last)); i++) await sleep(50);
  await emitter.close();

  let lost = 0;
  let duplicates = 0;
  let outOfOrder = 0;
  for (const c of clients) {
    for (let i = 1; i < c.got.length; i++) if (c.got[i]! <= c.got[i - 1]!) outOfOrder++;
    const seen = new Set(c.got);
    duplicates += c.got.length - seen.size;
    if (c.got.length > 0) for (let n = c.got[0]!; n <= last; n++) if (!seen.has(n)) lost++;
  }
  const transport = (c: Tracked) => (c.socket.io.engine as unknown as { transport?: { name: string } } | undefined)?.transport?.name;
  const upgrades = clients.flatMap((c) => (c.upgradeMs === null ? [] : [c.upgradeMs]));
  const acks = clients.flatMap((c) => (c.firstAckMs === null ? [] : [c.firstAckMs]));
  const result = {
    workers: 2,
    clients: CLIENTS,
    recovery: RECOVERY,
    broadcasts: last,
    broadcastEveryMs: RATE_MS,
    connected: clients.filter((c) => c.socket.connected).length,
    connectedOnce: clients.filter((c) => c.connects === 1).length,
    onWebSocket: clients.filter((c) => transport(c) === "websocket").length,
    onPolling: clients.filter((c) => transport(c) === "polling").length,
    upgradeMs: { p50: percentile(upgrades, 50), p90: percentile(upgrades, 90), p99: percentile(upgrades, 99), max: percentile(upgrades, 100) },
    firstAckAfterUpgradeMs: { n: acks.length, p50: percentile(acks, 50), p90: percentile(acks, 90), p99: percentile(acks, 99), max: percentile(acks, 100) },
    lost,
    duplicates,
    outOfOrder,
  };
  for (const c of clients) c.socket.disconnect();
  console.log(JSON.stringify(result, null, 1));
} finally {
  kill();
}
process.exit(0);
