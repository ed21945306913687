#!/usr/bin/env node
// Runnable relay: `npm run relay` (dist/bin/relay.js with plain node; the package's `roomgate-relay` bin).
// Env: RELAY_PORT (default 4222), RELAY_HOST (default 127.0.0.1: bind another address only with
// auth on, see README "Securing a cluster"), RELAY_TOKEN or RELAY_USER + RELAY_PASS (clients must
// present them), RELAY_TLS_CERT + RELAY_TLS_KEY (PEM files: TLS for every client), RELAY_TLS_CA
// (PEM file: also require client certificates signed by it).
import { readFileSync } from "node:fs";
import { Relay, type RelayOptions } from "../cluster/relay/relay.ts";

/** A start-up failure: one line, exit status 2, as the gateway's (README "Configuration"). */
function cannotStart(message: string): never {
  console.error(`relay: cannot start: ${message}`);
  process.exit(2);
}

function read(file: string, setting: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    cannotStart(`${setting}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

const port = Number(process.env.RELAY_PORT ?? 4222);
const host = process.env.RELAY_HOST ?? "127.0.0.1";
if (!Number.isInteger(port) || port < 0 || port > 65535) cannotStart(`invalid RELAY_PORT ${process.env.RELAY_PORT}`);

const env = process.env;
const options: RelayOptions = { token: env.RELAY_TOKEN, user: env.RELAY_USER, pass: env.RELAY_PASS };
if (env.RELAY_TLS_CERT || env.RELAY_TLS_KEY) {
  if (!env.RELAY_TLS_CERT || !env.RELAY_TLS_KEY) cannotStart("RELAY_TLS_CERT and RELAY_TLS_KEY go together");
  options.tls = {
    cert: read(env.RELAY_TLS_CERT, "RELAY_TLS_CERT"),
    key: read(env.RELAY_TLS_KEY, "RELAY_TLS_KEY"),
    ca: env.RELAY_TLS_CA ? read(env.RELAY_TLS_CA, "RELAY_TLS_CA") : undefined,
  };
}
const loopback = host === "127.0.0.1" || host === "::1" || host === "localhost";
const noAuth = !options.token && !options.user;
if (noAuth && !loopback) {
  console.warn(`relay: listening on ${host} without authentication: anyone who reaches this port can publish to every room (set RELAY_TOKEN)`);
}

const relay = new Relay(options);
const bound = await relay.listen(port, host).catch((err: Error) => cannotStart(err.message));
// Said at every start (once listening: a start-up failure stays one line), loopback too: any local
// process (any user of this machine) can then publish to every room. pm2's ecosystem.config.js
// makes and shares a token by default.
if (noAuth && loopback)
  console.warn(
    `relay: no authentication (RELAY_TOKEN unset): any process on this machine can connect to ${host}:${bound} and publish to every room; set RELAY_TOKEN (and the workers' ROOMGATE_CLUSTER_TOKEN)`,
  );
console.log(`relay listening on ${host}:${bound}`);

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await relay.close();
  process.exit(0);
}
process.on("SIGINT", () => void stop());
process.on("SIGTERM", () => void stop());
