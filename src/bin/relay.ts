#!/usr/bin/env node
// Runnable relay: `npm run relay` (dist/bin/relay.js with plain node; the package's `roomgate-relay` bin).
// Env: RELAY_PORT (default 4222), RELAY_HOST (default 127.0.0.1).
import { Relay } from "../cluster/relay/relay.ts";

const port = Number(process.env.RELAY_PORT ?? 4222);
const host = process.env.RELAY_HOST ?? "127.0.0.1";
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`relay: invalid RELAY_PORT ${process.env.RELAY_PORT}`);
  process.exit(1);
}

const relay = new Relay();
const bound = await relay.listen(port, host);
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
