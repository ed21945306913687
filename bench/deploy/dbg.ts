import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ecosystem } from "./ecosystem.ts";
import { ReloadMonitor } from "./reload-monitor.ts";
const nats = process.argv.includes("--nats");
const pm2Home = mkdtempSync(join(tmpdir(), "roomgate-dbg-"));
const eco = await ecosystem({ pm2Home, workers: 2, recovery: true, tokenSecret: "x", app: fileURLToPath(new URL("./monitor-app.mjs", import.meta.url)), natsServer: nats, logLevel: process.env.LL ?? "info" });
try {
  await eco.start();
  const m = await ReloadMonitor.start({ port: eco.port, kinds: ["default", "polling", "websocket"], everyMs: 50, retries: 3 });
  for (let i = 0; i < Number(process.env.N ?? 2); i++) { const t = Date.now(); await eco.pm2Async("reload", "gateway"); console.log("reload", Date.now() - t); await m.settled("r"); }
  const r = await m.finish();
  console.log(JSON.stringify(r), m.details());
  for (const l of eco.gatewayLog()) if (!/connection (opened|closed)/.test(String(l.msg))) console.log(l.time, l.pid, l.worker, l.level, l.msg, l.drainMs ?? "");
  m.close();
} finally { eco.kill(); console.log(pm2Home); }
process.exit(0);
