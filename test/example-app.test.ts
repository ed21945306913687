// `npm start`'s process: the runnable entry with the example app, driven over the wire.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { io as connect, type Socket as ClientSocket } from "socket.io-client";
import { once } from "./helpers/server.ts";

function startGateway(env: Record<string, string> = {}): Promise<{ port: number; stop: () => Promise<number | null>; output: () => string }> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/bin/gateway.ts"], {
    env: { ...process.env, PORT: "0", HOST: "127.0.0.1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => (child.kill("SIGKILL"), reject(new Error(`gateway did not start:\n${out}`))), 15000);
    child.stdout.on("data", () => {
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      resolve({
        port: Number(m[1]),
        output: () => out,
        stop: async () => {
          if (child.exitCode === null) child.kill("SIGTERM");
          const t = setTimeout(() => child.kill("SIGKILL"), 5000);
          const code = await exited;
          clearTimeout(t);
          return code;
        },
      });
    });
    child.on("exit", () => reject(new Error(`gateway exited:\n${out}`)));
  });
}

test("the example app: user rooms, authorized project rooms, socket.to, private messages, clean shutdown", async () => {
  const gw = await startGateway();
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
    const anonymous = client({});
    const [err] = await once<[Error & { data?: { reason: string } }]>(anonymous, "connect_error", 5000);
    assert.equal(err.message, "unauthorized");
    assert.match(err.data!.reason, /userId/);

    const aliceLaptop = await connected({ userId: "alice" });
    const joined = once<[{ socketId: string }]>(aliceLaptop, "device joined", 5000);
    const alicePhone = await connected({ userId: "alice" });
    assert.equal((await joined)[0].socketId, alicePhone.id);

    const bob = await connected({ userId: "bob" });
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
