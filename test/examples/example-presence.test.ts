// The example app's live "who is here" per project room, through `npm start`'s process: on a lone
// gateway, and over two clustered gateways (the embedded relay) where a user with a tab on each
// worker is listed once and leaves with the last tab. Decided on the events the clients receive.
// Run: node --import tsx --test test/examples/example-presence.test.ts
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { io as connect, type Socket as ClientSocket } from "socket.io-client";
import { Relay } from "../../src/index.ts";
import { signToken } from "../../src/examples/tokens.ts";
import { freePort, type Running, startProcess } from "../helpers/process.ts";
import { once } from "../helpers/server.ts";
import { until } from "../helpers/wait.ts";

const SECRET = "example-presence-test-secret";
const gateways: Running[] = [];
const clients: ClientSocket[] = [];

after(async () => {
  for (const c of clients) c.disconnect();
  await Promise.all(gateways.map((gw) => gw.stop("SIGKILL")));
});

/** `npm start`'s process on an ephemeral port; resolves to its port once it listens. */
async function startGateway(env: Record<string, string> = {}): Promise<number> {
  const gw = await startProcess(process.execPath, ["--import", "tsx", "src/bin/gateway.ts"], {
    env: { HOST: undefined, PORT: "0", APP_TOKEN_SECRET: SECRET, ...env },
    ready: /listening on 127\.0\.0\.1:(\d+)/,
    what: "the gateway",
  });
  gateways.push(gw);
  return Number((gw.ready as RegExpExecArray)[1]);
}

async function tab(port: number, user: string, project: string): Promise<ClientSocket & { heard: string[][] }> {
  const c = connect(`http://127.0.0.1:${port}`, { transports: ["websocket"], forceNew: true, reconnection: false, auth: { token: signToken(user, SECRET) } });
  clients.push(c);
  const heard: string[][] = [];
  c.on("who is here", (m: { members: string[] }) => heard.push(m.members));
  await once(c, "connect", 5000);
  assert.deepEqual((await c.emitWithAck("subscribe", project)).ok, true);
  return Object.assign(c, { heard });
}

const last = (c: { heard: string[][] }) => (c.heard.at(-1) ?? []).join(",");

test("who is here, on a lone gateway: the distinct users of a project room", async () => {
  const port = await startGateway();
  const alice1 = await tab(port, "alice", "p1");
  const alice2 = await tab(port, "alice", "p1");
  const bob = await tab(port, "bob", "p1");
  assert.deepEqual(await bob.emitWithAck("who is here", "p1"), { ok: true, projectId: "p1", members: ["alice", "bob"] });
  assert.deepEqual(await bob.emitWithAck("who is here", "p2"), { ok: false, error: "not subscribed" });
  alice1.disconnect();
  alice2.disconnect();
  await until(() => last(bob) === "bob", "bob to hear that alice left");
});

test("who is here, over two clustered gateways: a user with a tab on each is listed once, and leaves with the last tab", async () => {
  const relayPort = await freePort();
  const relay = new Relay();
  await relay.listen(relayPort, "127.0.0.1");
  try {
    const env = { ROOMGATE_CLUSTER: `nats://127.0.0.1:${relayPort}` };
    const [a, b] = await Promise.all([startGateway(env), startGateway(env)]);
    const bob = await tab(b, "bob", "p1");
    const aliceOnA = await tab(a, "alice", "p1");
    await until(() => last(bob) === "alice,bob", "bob (worker B) to hear alice (worker A) join");
    const aliceOnB = await tab(b, "alice", "p1");
    await until(async () => (await aliceOnA.emitWithAck("who is here", "p1")).members.join(",") === "alice,bob", "worker A to list alice and bob");
    const heardBefore = bob.heard.length;
    aliceOnA.disconnect(); // alice still has a tab on B: she stays
    await until(async () => (await aliceOnB.emitWithAck("who is here", "p1")).members.join(",") === "alice,bob", "alice to stay listed");
    aliceOnB.disconnect(); // her last tab
    await until(() => last(bob) === "bob", "bob to hear that alice left");
    assert.deepEqual(
      bob.heard.slice(heardBefore).map((m) => m.join(",")),
      ["bob"],
      "one change told: alice left once, with her last tab (her first tab leaving told nothing)",
    );
  } finally {
    await relay.close();
  }
});
