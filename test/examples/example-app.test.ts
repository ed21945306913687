// `npm start`'s process: the runnable entry with the example app, driven over the wire.
import { test } from "node:test";
import assert from "node:assert/strict";
import { io as connect, type Socket as ClientSocket } from "socket.io-client";
import { signToken } from "../../src/examples/tokens.ts";
import { type Running, startProcess } from "../helpers/process.ts";
import { once } from "../helpers/server.ts";

const SECRET = "example-app-test-secret";

/** Starts `npm start`'s process on an ephemeral port; HOST is left to its default (127.0.0.1). */
async function startGateway(env: Record<string, string> = {}): Promise<Running & { port: number }> {
  const gw = await startProcess(process.execPath, ["--import", "tsx", "src/bin/gateway.ts"], {
    env: { HOST: undefined, PORT: "0", APP_TOKEN_SECRET: SECRET, ...env },
    ready: /listening on 127\.0\.0\.1:(\d+)/,
    what: "the gateway",
  });
  return Object.assign(gw, { port: Number((gw.ready as RegExpExecArray)[1]) });
}

test("the example app: signed tokens, user rooms, authorized project rooms, socket.to, private messages, clean shutdown", async () => {
  const gw = await startGateway();
  assert.match(gw.output(), /listening on 127\.0\.0\.1:/, "loopback unless HOST says otherwise");
  const clients: ClientSocket[] = [];
  const client = (auth: Record<string, unknown>) => {
    const c = connect(`http://127.0.0.1:${gw.port}`, { transports: ["websocket"], forceNew: true, reconnection: false, auth });
    clients.push(c);
    return c;
  };
  const connected = async (auth: Record<string, unknown>) => {
    const c = client(auth);
    await once(c, "connect", 5000);
    return c;
  };
  try {
    const refusal = async (auth: Record<string, unknown>) => {
      const [err] = await once<[Error & { data?: { reason: string } }]>(client(auth), "connect_error", 5000);
      assert.equal(err.message, "unauthorized");
      return err.data!.reason;
    };
    assert.match(await refusal({}), /token/);
    assert.match(await refusal({ userId: "admin" }), /token/, "a claimed userId is not believed");
    assert.equal(await refusal({ token: signToken("admin", "some other secret") }), "bad signature");
    assert.equal(
      await refusal({ token: signToken("alice", SECRET).replace(/^[^.]+/, Buffer.from('{"sub":"admin","exp":9999999999}').toString("base64url")) }),
      "bad signature",
    );
    assert.equal(await refusal({ token: signToken("alice", SECRET, 60, Date.now() - 3_600_000) }), "token expired");

    const aliceLaptop = await connected({ token: signToken("alice", SECRET) });
    const joined = once<[{ socketId: string }]>(aliceLaptop, "device joined", 5000);
    const alicePhone = await connected({ token: signToken("alice", SECRET) });
    assert.equal((await joined)[0].socketId, alicePhone.id);

    const bob = await connected({ token: signToken("bob", SECRET) });
    assert.deepEqual(await bob.emitWithAck("subscribe", "secret-plans"), { ok: false, error: "forbidden" });
    assert.deepEqual(await bob.emitWithAck("subscribe", "bad id!"), { ok: false, error: "invalid project id" });
    const ok = (await bob.emitWithAck("subscribe", "4321")) as { ok: boolean; rooms: string[] };
    assert.equal(ok.ok, true);
    assert.ok(ok.rooms.includes("project:4321") && ok.rooms.includes("user:bob") && ok.rooms.includes(bob.id!));
    await aliceLaptop.emitWithAck("subscribe", "4321");

    const toAlice = once<[{ projectId: string; change: unknown; by: string }]>(aliceLaptop, "project updated", 5000);
    let bobGotOwn = false;
    bob.on("project updated", () => (bobGotOwn = true));
    bob.emit("update project", "4321", { title: "new" });
    assert.deepEqual((await toAlice)[0], { projectId: "4321", change: { title: "new" }, by: "bob" });

    const pm = once<[string, string]>(alicePhone, "private message", 5000);
    bob.emit("private message", alicePhone.id, "hello phone");
    assert.deepEqual(await pm, [bob.id, "hello phone"]);
    await bob.emitWithAck("subscribe", "4321"); // a round trip: anything sent to bob before has arrived
    assert.equal(bobGotOwn, false, "socket.to skips the sender");

    const left = once<[{ socketId: string; rooms: string[] }]>(aliceLaptop, "device left", 5000);
    const phoneId = alicePhone.id;
    alicePhone.disconnect();
    const [info] = await left;
    assert.equal(info.socketId, phoneId);
    assert.ok(info.rooms.includes("user:alice"), "disconnecting still sees the rooms");

    const bye = once<[string]>(bob, "disconnect", 5000);
    assert.equal(await gw.stop(), 0);
    await bye;
    assert.match(gw.output(), /"signal":"SIGTERM","clients":\d+,"msg":"draining/);
  } finally {
    clients.forEach((c) => c.disconnect());
    await gw.stop();
  }
});

test("APP loads a user's application module", async () => {
  const gw = await startGateway({ APP: "test/fixtures/echo-app.ts" });
  try {
    const c = connect(`http://127.0.0.1:${gw.port}`, { transports: ["websocket"], forceNew: true, reconnection: false });
    await once(c, "connect", 5000);
    assert.equal(await c.emitWithAck("echo", "hi"), "hi");
    c.disconnect();
  } finally {
    await gw.stop();
  }
});

test("without APP_TOKEN_SECRET the example logs a demo token that works", async () => {
  const gw = await startGateway({ APP_TOKEN_SECRET: "" });
  try {
    const token = /A token for user \\?"alice\\?", valid 1 h: ([\w.-]+)/.exec(gw.output())?.[1];
    assert.ok(token, gw.output());
    const c = connect(`http://127.0.0.1:${gw.port}`, { transports: ["websocket"], forceNew: true, reconnection: false, auth: { token } });
    await once(c, "connect", 5000);
    c.disconnect();
  } finally {
    await gw.stop();
  }
});
