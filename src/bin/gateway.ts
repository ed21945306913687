#!/usr/bin/env node
// Runnable gateway: `npm start` (dist/bin/gateway.js with plain node; the package's `roomgate` bin).
// Configured by the environment or a JSON file (bin/config.ts; README "Operations"); logs JSON
// lines through pino at ROOMGATE_LOG_LEVEL. An application module is
// `export default (io: Server) => void | Promise<void>`: a .js/.mjs file for plain node; a .ts one
// needs a loader (`node --import tsx dist/bin/gateway.js`).
// Under pm2 it says "ready" once it listens (wait_ready), and on SIGINT/SIGTERM it drains: stops
// accepting, tells its clients to reconnect (they land on the other workers), flushes and leaves
// the cluster.
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { resolve } from "node:path";
import { pino } from "pino";
import { createClusterAdapter, operations, Server } from "../index.ts";
import { binding } from "../engine/uws.ts";
import { ConfigError, loadConfig, type GatewayConfig } from "./config.ts";

type App = (io: Server) => void | Promise<void>;

let config: GatewayConfig;
try {
  config = loadConfig();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.error(`roomgate: ${err.message}`);
  process.exit(2);
}
const log = pino({ level: config.logLevel, base: { pid: process.pid, ...(process.env.WORKER_ID ? { worker: process.env.WORKER_ID } : {}) } });
// The example next to this file: rooms-app.js in dist/, rooms-app.ts when run from src/ through tsx.
const ownExt = import.meta.url.endsWith(".ts") ? ".ts" : ".js";
const appPath = config.app ? pathToFileURL(resolve(config.app)).href : new URL(`../examples/rooms-app${ownExt}`, import.meta.url).href;

const mod = (await import(appPath)) as { default?: App };
if (typeof mod.default !== "function") {
  log.fatal(`${appPath} must export a default function (io) => { ... }`);
  process.exit(1);
}

const ops = operations(config.operations);
let io: Server | undefined;

// Handlers first: whoever waits for the "listening" line may signal at once.
let closing = false;
async function shutdown(signal: string): Promise<void> {
  if (closing) return;
  closing = true;
  log.info({ signal, clients: io?.engine.clientsCount ?? 0 }, "draining: closing the listener and the clients");
  ops.drain();
  await io?.close();
  log.info("closed");
  process.exit(0);
}
process.on("SIGINT", () => void shutdown("SIGINT"));
process.on("SIGTERM", () => void shutdown("SIGTERM"));

let bound: number;
try {
  const auth = config.clusterAuth ?? {};
  const tls = auth.tlsCa ? { ca: readFileSync(auth.tlsCa, "utf8") } : undefined;
  const adapter = config.cluster ? createClusterAdapter({ servers: config.cluster, token: auth.token, user: auth.user, pass: auth.pass, tls }) : undefined;
  io = new Server({ ...config.server, logger: log, adapter, operations: ops });
  await mod.default(io);
  bound = await io.listen(config.port, config.host);
} catch (err) {
  log.fatal({ err }, `cannot start: ${(err as Error).message}`);
  process.exit(1);
}
log.info(
  {
    host: config.host,
    port: bound,
    app: appPath,
    ops: ops.port,
    maxConnections: io.opts.maxConnections,
    uws: `${binding.name} ${binding.version}`,
    node: process.version,
  },
  `listening on ${config.host}:${bound}`,
);

// pm2 (wait_ready) starts stopping the previous worker only now: when clustered, once the
// relay link is up too (bounded: a worker without its relay still serves its own clients).
if (config.cluster) await until(() => ops.ready(), 5000);
process.send?.("ready");

function until(predicate: () => boolean, ms: number): Promise<void> {
  return new Promise((done) => {
    const deadline = Date.now() + ms;
    const check = () => (predicate() || Date.now() > deadline ? done() : setTimeout(check, 20));
    check();
  });
}
