#!/usr/bin/env node
// Runnable gateway: `npm start` (dist/bin/gateway.js with plain node; the package's `roomgate` bin).
// Configured by the environment or a JSON file (bin/config.ts; README "Operations"); logs JSON
// lines through pino at ROOMGATE_LOG_LEVEL. An application module is
// `export default (io: Server) => void | Promise<void>`: a .js/.mjs file for plain node; a .ts one
// needs a loader (`node --import tsx dist/bin/gateway.js`).
// Under pm2 it says "ready" once it listens (wait_ready), and on SIGINT/SIGTERM it drains: tells
// its peers it is leaving, stops accepting, tells its clients to reconnect (they land on the other
// workers), hands over the sessions it parked as they ask for them, flushes and leaves the cluster.
import { readFileSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { extname, resolve } from "node:path";
import { pino } from "pino";
import { createClusterAdapter, operations, type Parser, Server } from "../index.ts";
import { binding } from "../engine/uws.ts";
import { joinCluster } from "../cluster/cluster-join.ts";
import { clusterNodeOf } from "../ops/snapshot.ts";
import { ConfigError, loadConfig, type GatewayConfig } from "./config.ts";

type App = (io: Server) => void | Promise<void>;

/** A start-up failure: one line on stderr, exit status 2 (README "Configuration"), no stack trace
 *  (but under ROOMGATE_LOG_LEVEL=debug, where one helps find a bug in the application module). */
function cannotStart(message: string, err?: unknown): never {
  console.error(`roomgate: cannot start: ${message}`);
  if (err instanceof Error && process.env.ROOMGATE_LOG_LEVEL === "debug") console.error(err.stack);
  process.exit(2);
}

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
const appName = config.app ?? appPath;

const mod = (await import(appPath).catch((err: NodeJS.ErrnoException) => {
  if (err.code === "ERR_MODULE_NOT_FOUND" && err.message.includes(fileURLToPath(appPath)))
    cannotStart(`APP ${appName}: no such module (${fileURLToPath(appPath)})`);
  if (err.code === "ERR_UNKNOWN_FILE_EXTENSION")
    cannotStart(
      `APP ${appName}: plain node cannot run a ${extname(appName)} module: compile it to .js, or run with a loader (node --import tsx dist/bin/gateway.js)`,
    );
  cannotStart(`APP ${appName} failed to load: ${err.message}`, err);
})) as { default?: App };
if (typeof mod.default !== "function") cannotStart(`APP ${appName} must export a default function (io) => { ... }`);

// Socket.IO's `parser` option, by package name (an optional dependency the deployment installs).
const parser = config.parser
  ? ((await import(config.parser).then(
      (m: { default?: Parser } & Parser) => m.default ?? m,
      (err: Error) => cannotStart(`ROOMGATE_PARSER ${config.parser}: cannot load it (npm install ${config.parser}?): ${err.message}`, err),
    )) as Parser)
  : undefined;

const ops = operations(config.operations);
let io: Server | undefined;

// Handlers first: whoever waits for the "listening" line may signal at once.
let closing = false;
async function shutdown(signal: string): Promise<void> {
  if (closing) return;
  closing = true;
  const start = Date.now();
  log.info({ signal, clients: io?.engine.clientsCount ?? 0 }, "draining: closing the listener and the clients");
  ops.drain();
  await io?.close();
  // With recovery on and clustered, the cluster logged how many sessions moved ("drain done").
  log.info({ drainMs: Date.now() - start }, `closed: drained in ${Date.now() - start} ms`);
  // The last lines out before exiting (under pm2 stdout is a pipe); bounded.
  setTimeout(() => process.exit(0), 500).unref();
  log.flush(() => process.exit(0));
}
process.on("SIGINT", () => void shutdown("SIGINT"));
process.on("SIGTERM", () => void shutdown("SIGTERM"));

let bound: number;
try {
  const auth = config.clusterAuth ?? {};
  const tls = auth.tlsCa ? { ca: readOrFail(auth.tlsCa, "ROOMGATE_CLUSTER_TLS_CA") } : undefined;
  const adapter = config.cluster ? createClusterAdapter({ servers: config.cluster, token: auth.token, user: auth.user, pass: auth.pass, tls }) : undefined;
  io = new Server({ ...config.server, logger: log, adapter, operations: ops, parser });
  await mod.default(io);
  // Clients only once this worker knows the others (cluster-join.ts): during a deploy, its first
  // clients are often those of the worker it replaces, whose sessions it must ask that worker for.
  const node = clusterNodeOf(io);
  if (node) {
    const joined = await joinCluster(node, 5000);
    if (joined.joined) log.info({ peers: joined.peers, ms: joined.ms }, `joined the cluster: ${joined.peers} peer(s) in ${joined.ms} ms`);
    else log.warn("the cluster link is not up after 5 s: listening all the same (this worker serves its own clients)");
  }
  bound = await io.listen(config.port, config.host);
} catch (err) {
  const message = (err as Error).message.replace(/^roomgate: /, "");
  // The library's hint names its option; the gateway's is the variable (README "Configuration").
  cannotStart(message.replace("set reusePort to share it on purpose", "set ROOMGATE_REUSE_PORT=on to share it on purpose (every worker)"), err);
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
if (config.cluster && !config.clusterAuth?.token && !config.clusterAuth?.user)
  log.warn(
    { cluster: config.cluster },
    'cluster: joining without credentials (ROOMGATE_CLUSTER_TOKEN unset): whoever reaches the relay can publish to every room; set a token on both sides (README "Securing a cluster")',
  );

// A shared port (SO_REUSEPORT): when a worker closes its listener (a deploy), Linux resets the
// connections still queued on it unless net.ipv4.tcp_migrate_req=1 (Linux >= 5.14) hands them to
// another worker (measured: about 1 fresh connection reset per 6 drains at one every 20 ms).
if (config.server.reusePort && readSysctl("/proc/sys/net/ipv4/tcp_migrate_req") === "0")
  log.info(
    "net.ipv4.tcp_migrate_req is 0: connections queued on this worker's listener when it closes (a deploy) are reset; `sysctl -w net.ipv4.tcp_migrate_req=1` hands them to the other workers",
  );

// pm2 (wait_ready) starts stopping the previous worker only now: when clustered, once the relay
// link is up too (bounded: a worker without its relay still serves its own clients).
if (config.cluster) await until(() => ops.ready(), 5000);
process.send?.("ready");

function readSysctl(file: string): string | null {
  try {
    return readFileSync(file, "utf8").trim();
  } catch {
    return null; // not Linux, or an older kernel
  }
}

function readOrFail(file: string, setting: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    cannotStart(`${setting}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

function until(predicate: () => boolean, ms: number): Promise<void> {
  return new Promise((done) => {
    const deadline = Date.now() + ms;
    const check = () => (predicate() || Date.now() > deadline ? done() : setTimeout(check, 20));
    check();
  });
}
