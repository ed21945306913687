// Issue #13: connection limits at the upgrade, the per-connection inbound budget, rooms per socket
// and room-name length, and the HTTP edge (unknown paths, allowRequest deadline and errors,
// duplicate Origin, backpressure close frame, disconnecting many sockets in slices).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import net from "node:net";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { defaultMaxConnections, type Logger, Server, type Socket, softFdLimit } from "../../src/internal.ts";
import { rawHttp, upgradeRequest } from "../helpers/raw-http.ts";
import { EIO_PATH, RawWebSocket } from "../helpers/raw-ws.ts";
import { once, startServer, withServer } from "../helpers/server.ts";
import { until } from "../helpers/wait.ts";

/** A logger that records what it is given, by level. */
function recordingLogger(): Logger & { lines: Array<[string, object | string, string | undefined]> } {
  const lines: Array<[string, object | string, string | undefined]> = [];
  const at = (level: string) => (fields: object | string, message?: string) => void lines.push([level, fields, message]);
  return { lines, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/** A raw session that has connected the main namespace. */
async function rawConnected(port: number, localAddress?: string): Promise<RawWebSocket> {
  const ws = await RawWebSocket.open(port, EIO_PATH, {}, localAddress);
  await ws.waitText((t) => t.startsWith("0{"));
  ws.sendText("40");
  await ws.waitText((t) => t.startsWith("40{"));
  return ws;
}

describe("connection limits", () => {
  test("the default global limit leaves headroom under the soft fd limit", () => {
    const line = readFileSync("/proc/self/limits", "latin1")
      .split("\n")
      .find((l) => l.startsWith("Max open files"))!;
    const soft = line.split(/\s+/)[3];
    assert.equal(softFdLimit(), soft === "unlimited" ? Infinity : Number(soft));
    assert.equal(defaultMaxConnections(20_000), 18_000);
    assert.equal(defaultMaxConnections(1024), 768);
    assert.ok(defaultMaxConnections() < softFdLimit());
  });

  test("past maxConnections an upgrade gets a 503 with an Engine.IO-style body, and the place comes back on close", async () => {
    const logger = recordingLogger();
    await withServer({ maxConnections: 2, logger }, async (h) => {
      const a = await rawConnected(h.port);
      await rawConnected(h.port);
      const refused = await rawHttp(h.port, upgradeRequest(h.port));
      assert.match(refused.response, /^HTTP\/1\.1 503 /);
      assert.match(refused.response, /\{"code":3,"message":"Service unavailable","detail":"server is at its connection limit"\}/);
      assert.ok(refused.closed, "the refused connection is closed, freeing its descriptor");
      for (let i = 0; i < 5; i++) assert.match((await rawHttp(h.port, upgradeRequest(h.port))).response, /503/);
      const warnings = logger.lines.filter(([level, , m]) => level === "warn" && m?.includes("connection limit reached"));
      assert.equal(warnings.length, 1, "one log line for the whole burst");
      a.destroy();
      await until(() => h.io.sockets.sockets.size === 1, "the closed session to be forgotten");
      await rawConnected(h.port);
    });
  });

  test("the limit counts polling sessions too: a polling handshake past it gets the same 503", async () => {
    await withServer({ maxConnections: 1, logger: "silent" }, async (h) => {
      const poll = await rawHttp(h.port, "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n", 500);
      assert.match(poll.response, /^HTTP\/1\.1 200 [\s\S]*0\{"sid"/);
      const refused = await rawHttp(h.port, "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n");
      assert.match(refused.response, /^HTTP\/1\.1 503 [\s\S]*server is at its connection limit/);
      await assert.rejects(RawWebSocket.open(h.port, EIO_PATH), /503/);
    });
  });

  test("maxConnectionsPerIp refuses a second connection from one address, not from another", async () => {
    await withServer({ maxConnectionsPerIp: 1, logger: "silent" }, async (h) => {
      await rawConnected(h.port, "127.0.0.1");
      await assert.rejects(RawWebSocket.open(h.port, EIO_PATH, {}, "127.0.0.1"), /503[\s\S]*too many connections from this address/);
      await rawConnected(h.port, "127.0.0.2");
    });
  });

  test("the limits are validated", () => {
    assert.throws(() => new Server({ maxConnections: 0 }), /maxConnections must be a positive integer/);
    assert.throws(() => new Server({ inboundRateLimit: { events: -1 } }), /inboundRateLimit.events/);
  });

  test("maxConnections above the fd limit is clamped to it, said at start, and a flood is answered, not spun on", { timeout: 60_000 }, async () => {
    // Under `ulimit -n 512` the fd limit allows 256 (512 less 256 of headroom); 1,000,000 is asked.
    const script = fileURLToPath(new URL("../helpers/fd-limited-server.ts", import.meta.url));
    const child = spawn("bash", ["-c", `ulimit -n 512 && exec "${process.execPath}" --import tsx "${script}"`], {
      env: { ...process.env, MAX_CONNECTIONS: "1000000" },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => (stderr += d));
    const sockets: net.Socket[] = [];
    try {
      const header = await new Promise<string>((resolve, reject) => {
        let out = "";
        child.stdout!.on("data", (d: Buffer) => {
          out += d;
          if (out.includes("\n")) resolve(out.trim());
        });
        child.once("exit", (code) => reject(new Error(`server exited with ${code}: ${stderr}`)));
      });
      assert.match(header, /maxConnections 256$/);
      assert.match(stderr, /maxConnections=1000000 is more than the file-descriptor limit allows \(soft limit 512.*clamped to 256/);
      const port = Number(/listening (\d+)/.exec(header)![1]);
      // More attempts than the clamped limit: each is answered, 101 or 503; none hangs (the bound
      // below only turns a hang into a failure: uWS's EMFILE loop would leave clients unanswered).
      const outcome = { accepted: 0, refused: 0, other: 0, hanging: 0 };
      await Promise.all(
        Array.from(
          { length: 300 },
          () =>
            new Promise<void>((resolve) => {
              const s = net.connect(port, "127.0.0.1");
              sockets.push(s);
              let done = false;
              const end = (kind: keyof typeof outcome) => {
                if (done) return;
                done = true;
                clearTimeout(timer);
                outcome[kind]++;
                resolve();
              };
              const timer = setTimeout(() => end("hanging"), 20_000);
              s.on("connect", () => s.write(upgradeRequest(port)));
              s.on("data", (d: Buffer) => {
                const status = d.toString("latin1", 9, 12);
                end(status === "101" ? "accepted" : status === "503" ? "refused" : "other");
              });
              s.on("error", () => end("other"));
              s.on("close", () => end("other"));
            }),
        ),
      );
      assert.deepEqual(outcome, { accepted: 256, refused: 44, other: 0, hanging: 0 });
    } finally {
      for (const s of sockets) s.destroy();
      child.kill();
    }
  });
});

describe("inbound budget and room limits", () => {
  test("a client over its event budget is disconnected with a clear reason", async () => {
    await withServer({ inboundRateLimit: { events: 20, interval: 60_000 }, logger: "silent" }, async (h) => {
      const reason = new Promise<string>((resolve) => h.io.on("connection", (s) => s.on("disconnect", resolve)));
      const ws = await rawConnected(h.port);
      // 2 frames spent on the handshake (40); 30 events take it over 20.
      for (let i = 0; i < 30; i++) ws.sendText(`42["flood",${i}]`);
      assert.equal(await reason, "rate limit exceeded");
      await ws.waitClosed();
      assert.equal(ws.closeCode, 1008);
      assert.equal(ws.closeReason, "rate limit exceeded: events");
    });
  });

  test("a client over its byte budget is disconnected; one within both budgets is not", async () => {
    await withServer({ inboundRateLimit: { bytes: 10_000, interval: 60_000 }, logger: "silent" }, async (h) => {
      const calm = await h.connected();
      const ws = await rawConnected(h.port);
      for (let i = 0; i < 3; i++) ws.sendText(`42["big","${"x".repeat(4000)}"]`);
      await ws.waitClosed();
      assert.equal(ws.closeReason, "rate limit exceeded: bytes");
      const echoed = once(calm, "echo");
      h.io.sockets.sockets.forEach((s) => s.emit("echo", "still served"));
      assert.deepEqual(await echoed, ["still served"]);
    });
  });

  test("a broadcast weighs its recipients: a client whose events reach many is cut on deliveries, not on events", async () => {
    const h = await startServer({ inboundRateLimit: { deliveries: 100, interval: 60_000, perAddress: false }, logger: "silent" });
    try {
      h.io.on("connection", (s) => {
        s.join("r");
        s.on("shout", () => h.io.to("r").emit("x"));
      });
      const members = await Promise.all(Array.from({ length: 10 }, () => h.connected()));
      const got = members.map(() => 0);
      members.forEach((m, i) => m.on("x", () => got[i]!++));
      const ws = await rawConnected(h.port);
      // 11 recipients each (10 members and the shouter): the 10th shout takes it to 110 > 100.
      for (let i = 0; i < 20; i++) ws.sendText(`42["shout"]`);
      await ws.waitClosed();
      assert.equal(ws.closeCode, 1008);
      assert.equal(ws.closeReason, "rate limit exceeded: deliveries");
      // Barrier: what the server sent before this reached every member first.
      await Promise.all(members.map((m) => new Promise((r) => (m.once("end", r), h.io.to(m.id!).emit("end")))));
      assert.deepEqual(
        got,
        members.map(() => 10),
        "10 shouts handled, far under the events budget (1000)",
      );
    } finally {
      await h.close();
    }
  });

  test("per address: connections of one address that flood share its budget and are cut; a light one there and other addresses are not", async () => {
    const h = await startServer({
      inboundRateLimit: { interval: 60_000, perAddress: { deliveries: 200 } },
      logger: "silent",
    });
    try {
      h.io.on("connection", (s) => {
        if (s.handshake.address === "127.0.0.1") s.join("r");
        s.on("shout", (ack?: () => void) => {
          h.io.to("r").emit("x");
          ack?.();
        });
      });
      // 4 listeners on 127.0.0.1: a shout costs 4 deliveries.
      const listeners = await Promise.all(Array.from({ length: 4 }, () => h.connected()));
      // 127.0.0.2: 4 flooding connections and a light one; its share is 200 / 5 = 40 deliveries.
      const flooders = await Promise.all(Array.from({ length: 4 }, () => rawConnected(h.port, "127.0.0.2")));
      const light = await rawConnected(h.port, "127.0.0.2");
      // Each alone would cost 400, the whole address budget twice over.
      for (let i = 0; i < 100; i++) for (const f of flooders) f.sendText(`42["shout"]`);
      await Promise.all(flooders.map((f) => f.waitClosed()));
      for (const f of flooders) assert.equal(f.closeReason, "rate limit exceeded: address deliveries");
      // The address is still over its budget; the light connection used less than its share.
      light.sendText(`421["shout"]`);
      await light.waitText((t) => t === "431[]");
      assert.equal(light.closed, false);
      const shouted = once(listeners[1]!, "x");
      listeners[0]!.emit("shout");
      await shouted;
      assert.ok(listeners.every((l) => l.connected));
    } finally {
      await h.close();
    }
  });

  test("counted on arrival: a backlog read at once after the server's event loop stalled is judged at the pace it came", async () => {
    const h = await startServer({ inboundRateLimit: { events: 50, interval: 1000, perAddress: false }, logger: "silent" });
    try {
      let ticks = 0;
      h.io.on("connection", (s) =>
        s.on("tick", (ack?: () => void) => {
          ticks++;
          ack?.();
        }),
      );
      const ws = await rawConnected(h.port);
      // 40 frames, then this process (the server's) stalls for a little more than the interval,
      // then 40 more: 40 per interval as sent, 80 at once as read. Nothing is read meanwhile.
      for (let i = 0; i < 40; i++) ws.sendText(`42["tick"]`);
      const until = Date.now() + 1200;
      while (Date.now() < until);
      for (let i = 0; i < 40; i++) ws.sendText(`42["tick"]`);
      ws.sendText(`421["tick"]`);
      await ws.waitText((t) => t === "431[]");
      assert.equal(ws.closed, false);
      assert.equal(ticks, 81);
    } finally {
      await h.close();
    }
  });

  test("maxRoomsPerSocket bounds a socket's rooms; maxRoomNameLength bounds names", async () => {
    await withServer({ maxRoomsPerSocket: 3, maxRoomNameLength: 16 }, async (h) => {
      const joined = new Promise<Socket>((resolve) => h.io.on("connection", resolve));
      await h.connected();
      const s = await joined;
      s.join(["a", "b"]); // with its own room: 3
      assert.throws(() => s.join("c"), RangeError);
      assert.throws(() => s.join(["a", "c"]), /maxRoomsPerSocket is 3/);
      s.join(["a", "b"]); // already in both: no change, no error
      s.leave("a");
      s.join("x".repeat(16));
      assert.throws(() => s.join("y".repeat(17)), /at most 16 characters/);
      assert.deepEqual([...s.rooms].sort(), [s.id, "b", "x".repeat(16)].sort());
    });
  });
});

describe("HTTP edge", () => {
  test("an unknown path gets a prompt 404 and the connection closes", async () => {
    await withServer({}, async (h) => {
      const r = await rawHttp(h.port, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
      assert.match(r.response, /^HTTP\/1\.1 404 /);
      assert.ok(r.closed);
    });
  });

  test("an allowRequest that never calls back is refused after allowRequestTimeout", async () => {
    const logger = recordingLogger();
    await withServer({ allowRequest: () => {}, allowRequestTimeout: 200, logger }, async (h) => {
      const r = await rawHttp(h.port, upgradeRequest(h.port));
      assert.match(r.response, /^HTTP\/1\.1 503 [\s\S]*request check timed out/);
      assert.ok(r.closed);
      assert.ok(logger.lines.some(([level, , m]) => level === "warn" && m?.includes("allowRequest did not call back")));
    });
  });

  test("what allowRequest throws is logged, not echoed; its callback's reason is sent", async () => {
    const logger = recordingLogger();
    const h = await startServer({
      logger,
      allowRequest: (req, cb) => {
        if (req.query.mode === "throw") throw new Error("db password hunter2 rejected");
        cb("come back later", false);
      },
    });
    try {
      const thrown = await rawHttp(h.port, upgradeRequest(h.port, [], EIO_PATH + "&mode=throw"));
      assert.match(thrown.response, /^HTTP\/1\.1 403 /);
      assert.doesNotMatch(thrown.response, /hunter2/);
      assert.match(thrown.response, /\{"code":4,"message":"Forbidden"\}/);
      const logged = logger.lines.find(([level]) => level === "error");
      assert.match(String((logged?.[1] as { err: Error }).err.message), /hunter2/);
      const refused = await rawHttp(h.port, upgradeRequest(h.port));
      assert.match(refused.response, /403[\s\S]*"detail":"come back later"/);
    } finally {
      await h.close();
    }
  });

  test("two Origin headers are refused as ambiguous, even when each alone would pass", async () => {
    await withServer({ allowedOrigins: ["https://app.example", "https://other.example"] }, async (h) => {
      const r = await rawHttp(h.port, upgradeRequest(h.port, ["Origin: https://app.example", "Origin: https://other.example"]));
      assert.match(r.response, /^HTTP\/1\.1 400 [\s\S]*more than one Origin header/);
      const one = await rawHttp(h.port, upgradeRequest(h.port, ["Origin: https://app.example"]), 300);
      assert.match(one.response, /^HTTP\/1\.1 101 /);
    });
  });

  test("a client cut for backpressure gets a close frame with the reason", async () => {
    await withServer({ maxBackpressure: 64 * 1024, logger: "silent" }, async (h) => {
      const sockets: Socket[] = [];
      h.io.on("connection", (s) => sockets.push(s));
      const ws = await rawConnected(h.port);
      await until(() => sockets.length === 1, "one socket");
      ws.pause();
      const chunk = "y".repeat(16 * 1024);
      const disconnected = once(sockets[0], "disconnect", 10_000);
      // Bounded: the kernel's socket buffers take a few MB before uWS buffers anything.
      for (let i = 0; i < 4000 && sockets[0].connected; i++) {
        sockets[0].emit("bulk", chunk);
        if (i % 50 === 49) await new Promise((r) => setImmediate(r));
      }
      await disconnected;
      ws.resume();
      await ws.waitClosed(10_000);
      assert.equal(ws.closeCode, 1008);
      assert.equal(ws.closeReason, "backpressure limit exceeded");
    });
  });

  test("disconnectSockets over many sockets closes them a slice at a time", async () => {
    await withServer({ logger: "silent" }, async (h) => {
      const clients = await Promise.all(Array.from({ length: 300 }, () => rawConnected(h.port)));
      assert.equal(h.io.sockets.sockets.size, 300);
      h.io.disconnectSockets(true);
      const afterFirstSlice = h.io.sockets.sockets.size;
      assert.ok(afterFirstSlice > 0 && afterFirstSlice < 300, `some closed now, the rest later (${afterFirstSlice} left)`);
      await until(() => h.io.sockets.sockets.size === 0, "every session closed");
      await Promise.all(clients.map((c) => c.waitClosed()));
    });
  });
});
