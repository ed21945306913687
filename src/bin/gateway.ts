#!/usr/bin/env node
// Runnable gateway: `npm start` (dist/bin/gateway.js with plain node; the package's `roomgate` bin).
// Configured by environment:
//   PORT (default 3000), HOST (default 0.0.0.0), APP (application module, default the example),
//   ROOMGATE_CLUSTER (NATS server URL(s), comma-separated; unset = standalone), WORKER_ID (logs).
// An application module is `export default (io: Server) => void | Promise<void>`: a .js/.mjs file for
// plain node; a .ts one needs a loader (`node --import tsx dist/bin/gateway.js`).
import { pathToFileURL } from "node:url";
import { resolve } from "node:path";
import { createClusterAdapter, Server, type ServerOptions } from "../index.ts";

type App = (io: Server) => void | Promise<void>;

const port = Number(process.env.PORT ?? 3000);
const host = process.env.HOST ?? "0.0.0.0";
// The example next to this file: rooms-app.js in dist/, rooms-app.ts when run from src/ through tsx.
const ownExt = import.meta.url.endsWith(".ts") ? ".ts" : ".js";
const appPath = process.env.APP ? pathToFileURL(resolve(process.env.APP)).href : new URL(`../examples/rooms-app${ownExt}`, import.meta.url).href;
const worker = process.env.WORKER_ID ? `worker ${process.env.WORKER_ID}` : `pid ${process.pid}`;

const options: ServerOptions = {};
if (process.env.ROOMGATE_CLUSTER) options.adapter = createClusterAdapter({ servers: process.env.ROOMGATE_CLUSTER.split(",") });

const mod = (await import(appPath)) as { default?: App };
if (typeof mod.default !== "function") {
  console.error(`roomgate: ${appPath} must export a default function (io) => { ... }`);
  process.exit(1);
}

const io = new Server(options);
await mod.default(io);
// Handlers first: whoever waits for the "listening" line may signal at once.
let closing = false;
async function shutdown(signal: string): Promise<void> {
  if (closing) return;
  closing = true;
  console.log(`roomgate (${worker}): ${signal}, closing`);
  await io.close();
  process.exit(0);
}
process.on("SIGINT", () => void shutdown("SIGINT"));
process.on("SIGTERM", () => void shutdown("SIGTERM"));

const bound = await io.listen(port, host);
console.log(`roomgate (${worker}) listening on ${host}:${bound}, app ${appPath}`);
