// The gateway binary (`npm start`) as an operator runs it: configuration from the environment and
// a JSON file, validated with clear errors; exclusive listening; JSON log lines at the chosen
// level; the "ready" message pm2's wait_ready waits for; draining on SIGINT; a custom parser by name.
import { signToken } from "../../src/examples/tokens.ts";
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { io as connectClient, type Socket as ClientSocket } from "socket.io-client";
import { freePort, type Running, startProcess } from "../helpers/process.ts";
import { once } from "../helpers/server.ts";
import { until } from "../helpers/wait.ts";
import { msgpackParser, SKIP_MSGPACK } from "../helpers/msgpack.ts";

const ENTRY = ["--import", "tsx", "src/bin/gateway.ts"];
/** The example app verifies signed tokens (src/examples/tokens.ts). */
const SECRET = "gateway-test-secret";

function runSync(env: Record<string, string>) {
  return spawnSync(process.execPath, ENTRY, { env: { ...process.env, HOST: "127.0.0.1", APP_TOKEN_SECRET: SECRET, ...env }, encoding: "utf8", timeout: 20000 });
}

/** Starts a gateway with an IPC channel; resolves once it sent "ready" (pm2's wait_ready). */
function start(env: Record<string, string>): Promise<Running> {
  return startProcess(process.execPath, ENTRY, {
    env: { HOST: "127.0.0.1", APP_TOKEN_SECRET: SECRET, ...env },
    ready: (m) => m === "ready",
    what: "the gateway",
  });
}

/** A socket.io-client connected to the gateway on `port` over WebSocket, with a token the example app admits. */
async function connectedClient(port: number): Promise<ClientSocket> {
  const client = connectClient(`http://127.0.0.1:${port}`, {
    transports: ["websocket"],
    reconnection: false,
    forceNew: true,
    auth: { token: signToken("op", SECRET) },
  });
  await once(client, "connect", 5000);
  return client;
}

test("invalid settings stop the gateway with a clear message and a non-zero status", () => {
  const bad = runSync({ PORT: "abc", ROOMGATE_PING_TIMEOUT: "soon", ROOMGATE_LOG_LEVEL: "chatty" });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /invalid configuration/);
  assert.match(bad.stderr, /PORT="abc" must be a port number 0-65535/);
  assert.match(bad.stderr, /ROOMGATE_PING_TIMEOUT="soon" must be an integer >= 0/);
  assert.match(bad.stderr, /ROOMGATE_LOG_LEVEL="chatty" must be one of debug, info, warn, error, silent/);

  const dir = mkdtempSync(join(tmpdir(), "roomgate-config-"));
  const file = join(dir, "gateway.json");
  writeFileSync(file, JSON.stringify({ port: 0, server: { pingIntervall: 5 } }));
  const typo = runSync({ ROOMGATE_CONFIG: file });
  assert.equal(typo.status, 2);
  assert.match(typo.stderr, /unknown setting "server\.pingIntervall" \(did you mean "server\.pingInterval"\?\)/);
});

test("a config file and the environment configure the server; the environment wins; logs are pino JSON lines", async () => {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "roomgate-config-"));
  const file = join(dir, "gateway.json");
  writeFileSync(file, JSON.stringify({ port, server: { pingInterval: 7000, pingTimeout: 1000 }, operations: { metrics: true, token: "t" } }));
  const gw = await start({
    ROOMGATE_CONFIG: file,
    ROOMGATE_PING_TIMEOUT: "3000",
    ROOMGATE_LOG_LEVEL: "debug",
    ROOMGATE_RECOVERY: "60000",
    PORT: "",
  });
  try {
    const client = await connectedClient(port);
    // The Engine.IO client keeps the open packet's heartbeat settings.
    const engine = (client.io as unknown as { engine: { _pingInterval: number; _pingTimeout: number } }).engine;
    assert.deepEqual([engine._pingInterval, engine._pingTimeout], [7000, 3000]);
    // ROOMGATE_RECOVERY turns connection-state recovery on: the CONNECT reply carries a session pid.
    assert.equal(typeof (client as unknown as { _pid?: string })._pid, "string");
    const metrics = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { Authorization: "Bearer t" } });
    assert.match(await metrics.text(), /roomgate_connections\{transport="websocket"\} 1/);
    client.disconnect();

    // A second gateway on the same port fails, saying why.
    const second = runSync({ PORT: String(port) });
    assert.equal(second.status, 2);
    assert.match(second.stderr, /^roomgate: cannot start: cannot listen on 127\.0\.0\.1:\d+ \(address in use \(by another gateway\?\)/);

    // The gateway logs the client's close once it saw it: waited for, not slept on.
    await until(() => gw.stdoutLines().some((l) => l.includes('"connection closed"')), "the close to be logged");
    const lines = gw.stdoutLines().map((l) => JSON.parse(l) as { level: number; msg: string; sid?: string; reason?: string });
    assert.ok(lines.some((l) => l.level === 30 && /^listening on 127\.0\.0\.1:/.test(l.msg)));
    assert.ok(lines.some((l) => l.level === 20 && l.msg === "connection opened" && typeof l.sid === "string"));
    assert.ok(lines.some((l) => l.level === 20 && l.msg === "connection closed" && l.reason === "transport close"));
  } finally {
    assert.equal(await gw.stop("SIGINT"), 0);
  }
});

test("SIGINT drains: /readyz stops answering ready, clients are told to go, the process exits 0", async () => {
  const port = await freePort();
  const gw = await start({ PORT: String(port) });
  const client = await connectedClient(port);
  assert.equal((await fetch(`http://127.0.0.1:${port}/readyz`)).status, 200);
  const gone = once<[string]>(client, "disconnect", 5000);
  const code = await gw.stop("SIGINT");
  assert.equal(code, 0);
  assert.equal((await gone)[0], "transport close"); // socket.io-client reconnects after this one
  assert.ok(gw.stdoutLines().some((l) => /"msg":"draining/.test(l)));
});

test("ROOMGATE_PARSER=socket.io-msgpack-parser: the example app speaks MessagePack to a client given the same parser", { skip: SKIP_MSGPACK }, async () => {
  const port = await freePort();
  const gw = await start({ PORT: String(port), ROOMGATE_PARSER: "socket.io-msgpack-parser" });
  const client = connectClient(`http://127.0.0.1:${port}`, {
    parser: msgpackParser,
    transports: ["websocket"],
    reconnection: false,
    forceNew: true,
    auth: { token: signToken("op", SECRET) },
  });
  try {
    await once(client, "connect", 5000);
    const reply = await client.timeout(3000).emitWithAck("subscribe", "p1");
    assert.deepEqual(reply.ok, true);
  } finally {
    client.disconnect();
    await gw.stop("SIGINT");
  }
});
