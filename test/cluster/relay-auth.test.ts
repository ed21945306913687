// Issue #13: the relay authenticates (token, user/password, as nats-server spells them in CONNECT),
// speaks TLS, and the workers' and emitters' credentials reach the NATS client unchanged, so a
// forged publish without them reaches no one. Also run against a real nats-server when installed.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { connect, type ConnectionOptions, type NatsConnection, StringCodec } from "nats";
import { createClusterAdapter, Emitter, Relay, type RelayOptions, Server } from "../../src/index.ts";
import { natsServerAvailable } from "../helpers/cluster.ts";
import { freePort, startProcess } from "../helpers/process.ts";
import { rawHttp } from "../helpers/raw-http.ts";
import { once } from "../helpers/server.ts";
import { sleep } from "../helpers/wait.ts";

const sc = StringCodec();
const relays: Relay[] = [];
const clients: NatsConnection[] = [];
after(async () => {
  for (const nc of clients) await nc.close().catch(() => {});
  for (const r of relays) await r.close();
});

async function relayWith(opts: RelayOptions): Promise<string> {
  const relay = new Relay(opts);
  relays.push(relay);
  return `nats://127.0.0.1:${await relay.listen(0, "127.0.0.1")}`;
}

async function natsClient(url: string, opts: ConnectionOptions = {}): Promise<NatsConnection> {
  const nc = await connect({ servers: url, reconnect: false, timeout: 3000, ...opts });
  clients.push(nc);
  return nc;
}

/** A raw TCP exchange: sends `lines` after INFO, returns all the relay sent until it closed. */
async function raw(url: string, lines: string, ms = 3000): Promise<{ text: string; closed: boolean }> {
  const { response, closed } = await rawHttp(Number(new URL(url).port), lines, ms, true);
  return { text: response, closed };
}

/** Subscribes through an authorized client: `got` collects what arrives; `settled()` resolves once
 *  everything the relay routed to it before the call has arrived (a PING/PONG on its connection:
 *  the relay answers in order, after the messages it queued for it). */
async function listen(url: string, opts: ConnectionOptions, subject: string): Promise<{ got: string[]; settled: () => Promise<void> }> {
  const nc = await natsClient(url, opts);
  const got: string[] = [];
  nc.subscribe(subject, { callback: (_e, m) => got.push(sc.decode(m.data)) });
  await nc.flush();
  return { got, settled: () => nc.flush() };
}

describe("relay authentication", () => {
  test("token: INFO says auth_required; a wrong or missing token is refused, the right one works", async () => {
    const url = await relayWith({ token: "s3cret" });
    const info = await raw(url, "", 300);
    assert.match(info.text, /"auth_required":true/);
    await assert.rejects(natsClient(url, { token: "wrong" }), /AUTHORIZATION_VIOLATION|Authorization Violation/i);
    await assert.rejects(natsClient(url), /AUTHORIZATION_VIOLATION|Authorization Violation/i);
    const { got, settled } = await listen(url, { token: "s3cret" }, "room.a");
    const pub = await natsClient(url, { token: "s3cret" });
    pub.publish("room.a", sc.encode("hello"));
    await pub.flush();
    await settled();
    assert.deepEqual(got, ["hello"]);
  });

  test("user/password: wrong credentials refused, right ones work", async () => {
    const url = await relayWith({ user: "worker", pass: "p4ss" });
    await assert.rejects(natsClient(url, { user: "worker", pass: "nope" }), /AUTHORIZATION_VIOLATION|Authorization Violation/i);
    await assert.rejects(natsClient(url, { user: "other", pass: "p4ss" }), /AUTHORIZATION_VIOLATION|Authorization Violation/i);
    const nc = await natsClient(url, { user: "worker", pass: "p4ss" });
    assert.equal(nc.isClosed(), false);
  });

  test("a forged PUB, before CONNECT or after a wrong one, is refused and reaches no subscriber", async () => {
    const url = await relayWith({ token: "s3cret" });
    const { got, settled } = await listen(url, { token: "s3cret" }, "roomgate.>");
    const before = await raw(url, "PUB roomgate.b.x 6\r\nforged\r\n");
    assert.match(before.text, /-ERR 'Authorization Violation'\r\n$/);
    assert.ok(before.closed);
    const wrong = await raw(url, 'CONNECT {"auth_token":"guess"}\r\nPUB roomgate.b.x 6\r\nforged\r\n');
    assert.match(wrong.text, /-ERR 'Authorization Violation'\r\n$/);
    assert.ok(wrong.closed);
    const sub = await raw(url, "SUB roomgate.> 1\r\n");
    assert.match(sub.text, /-ERR 'Authorization Violation'/);
    await settled(); // the refused PUBs were read before their connections closed
    assert.deepEqual(got, []);
  });

  test("a client that never authenticates is closed after authTimeout", async () => {
    const url = await relayWith({ token: "s3cret", authTimeout: 200 });
    const silent = await raw(url, "", 3000);
    assert.match(silent.text, /-ERR 'Authentication Timeout'/);
    assert.ok(silent.closed);
  });

  test("invalid auth options are refused at construction", () => {
    assert.throws(() => new Relay({ user: "a" }), /go together/);
    assert.throws(() => new Relay({ token: "" }), /non-empty/);
    assert.throws(() => new Relay({ token: "t", user: "u", pass: "p" }), /either/);
  });

  test("workers and emitters pass their credentials: a forged emit reaches no client, an authorized one does", async () => {
    const url = await relayWith({ token: "s3cret" });
    const io = new Server({ adapter: createClusterAdapter({ servers: url, token: "s3cret", log: () => {} }), logger: "silent" });
    const port = await io.listen(0, "127.0.0.1");
    const { io: connectClient } = await import("socket.io-client");
    const client = connectClient(`http://127.0.0.1:${port}`, { transports: ["websocket"], forceNew: true, reconnection: false });
    let joined: Promise<void> | void = Promise.resolve();
    io.on("connection", (s) => {
      joined = s.join("vip");
    });
    const forged = new Emitter({ servers: url, token: "guess", log: () => {} });
    const honest = new Emitter({ servers: url, token: "s3cret", log: () => {} });
    try {
      await once(client, "connect");
      await (io.of("/").adapter as unknown as { node: { ready: Promise<void> } }).node.ready;
      const got: string[] = [];
      client.on("news", (m: string) => got.push(m));
      forged.to("vip").emit("news", "forged");
      await honest.ready;
      // Interest for "vip" reaches the relay: the join made its subscription, and a PING/PONG on the
      // worker's connection returns once the relay has read it.
      await joined;
      await (io.of("/").adapter as unknown as { node: { link: { flush(): Promise<void> } } }).node.link.flush();
      honest.to("vip").emit("news", "real");
      await once(client, "news");
      await sleep(100);
      assert.deepEqual(got, ["real"]);
    } finally {
      client.disconnect();
      await forged.close();
      await honest.close();
      await io.close();
    }
  });
});

const opensslAvailable = spawnSync("openssl", ["version"], { stdio: "ignore" }).status === 0;

/** A self-signed certificate for 127.0.0.1, made with the openssl CLI in a temp directory. */
function selfSigned(): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), "roomgate-tls-"));
  try {
    const r = spawnSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1,DNS:localhost",
        "-keyout",
        join(dir, "key.pem"),
        "-out",
        join(dir, "cert.pem"),
      ],
      { stdio: "pipe" },
    );
    assert.equal(r.status, 0, r.stderr.toString());
    return { cert: readFileSync(join(dir, "cert.pem"), "utf8"), key: readFileSync(join(dir, "key.pem"), "utf8") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("relay TLS", { skip: !opensslAvailable && "the openssl CLI is not installed" }, () => {
  test("a client that trusts the certificate connects over TLS; one that does not is refused", async () => {
    const { cert, key } = selfSigned();
    const url = await relayWith({ tls: { cert, key }, token: "s3cret" });
    assert.match((await raw(url, "", 300)).text, /"tls_required":true/);
    const { got, settled } = await listen(url, { token: "s3cret", tls: { ca: cert } }, "t.x");
    const pub = await natsClient(url, { token: "s3cret", tls: { ca: cert } });
    pub.publish("t.x", sc.encode("over tls"));
    await pub.flush();
    await settled();
    assert.deepEqual(got, ["over tls"]);
    await assert.rejects(natsClient(url, { token: "s3cret" }), /certificate|TLS|self.signed/i);
    // Plain text after INFO is not a TLS handshake: nothing gets through.
    const plain = await raw(url, "CONNECT {}\r\nPUB t.x 1\r\nz\r\n", 1000);
    assert.doesNotMatch(plain.text, /\+OK|PONG/);
    assert.deepEqual(got, ["over tls"]);
  });
});

describe("the same settings against a real nats-server", { skip: !natsServerAvailable() && "nats-server is not installed" }, () => {
  test("token auth: the worker's ClusterOptions token reaches nats-server", async () => {
    const port = await freePort();
    const server = await startProcess("nats-server", ["-a", "127.0.0.1", "-p", String(port), "--auth", "s3cret"], { ready: /Server is ready/ });
    try {
      const url = `nats://127.0.0.1:${port}`;
      const nc = await natsClient(url, { token: "s3cret" });
      assert.ok(nc, "the right token is accepted");
      await assert.rejects(natsClient(url, { token: "wrong" }), /AUTHORIZATION_VIOLATION|Authorization Violation/i);
      const io = new Server({ adapter: createClusterAdapter({ servers: url, token: "s3cret", log: () => {} }), logger: "silent" });
      await (io.of("/").adapter as unknown as { node: { ready: Promise<void> } }).node.ready;
      await io.close();
    } finally {
      await server.stop("SIGKILL");
    }
  });
});

test("the runnable relay says at start when it requires no authentication, loopback included", async () => {
  const script = new URL("../../src/bin/relay.ts", import.meta.url).pathname;
  const start = (env: Record<string, string>) =>
    new Promise<string>((resolve, reject) => {
      const base = { ...process.env };
      delete base.RELAY_TOKEN;
      delete base.RELAY_USER;
      delete base.RELAY_PASS;
      const proc = spawn(process.execPath, ["--import", "tsx", script], { env: { ...base, RELAY_PORT: "0", ...env }, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      const take = (d: Buffer) => {
        out += d;
        if (out.includes("relay listening")) proc.kill();
      };
      proc.stdout!.on("data", take);
      proc.stderr!.on("data", take);
      proc.on("close", () => (out.includes("relay listening") ? resolve(out) : reject(new Error(`relay did not start: ${out}`))));
    });
  assert.match(await start({}), /relay: no authentication \(RELAY_TOKEN unset\): any process on this machine can connect/);
  assert.doesNotMatch(await start({ RELAY_TOKEN: "s3cret" }), /no authentication/);
});
