// test:runtimes' done-when check, run by the Node under test (first in PATH, so `npm` runs on it):
// `npm pack` the package, `npm install` the tarball into a fresh project (from the registry, through
// npm's cache, as a user would, no overrides), and a plain `node app.mjs` serves a broadcast to the
// official socket.io-client over WebSocket and over polling. Prints one summary line last.
// Knows nothing of roomgate's source: only the tarball and the installed tree.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { io as connect, type Socket } from "socket.io-client";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** stdout, or stdout + stderr with `all`. */
function run(cmd: string, args: string[], cwd: string, all = false): string {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", timeout: 300_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
  return all ? r.stdout + r.stderr : r.stdout;
}

const APP_MJS = `import { Server } from "roomgate";
const io = new Server();
io.on("connection", (socket) => {
  socket.join("room");
  socket.on("go", (text) => io.to("room").emit("news", text, socket.conn.transport.name));
});
process.on("SIGTERM", () => io.close().then(() => process.exit(0)));
const port = await io.listen(0, "127.0.0.1");
console.log("listening " + port);
`;

function onceEvent<T extends unknown[]>(socket: Socket, event: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within 10 s`)), 10_000);
    socket.once(event, (...args: unknown[]) => (clearTimeout(timer), resolve(args as T)));
  });
}

const dir = mkdtempSync(path.join(tmpdir(), "roomgate-runtime-consumer-"));
try {
  const [packed] = JSON.parse(run("npm", ["pack", "--json", "--pack-destination", dir], ROOT)) as [{ filename: string }];
  writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
  const install = run("npm", ["install", "--no-audit", "--no-fund", `./${packed!.filename}`], dir, true);
  assert.doesNotMatch(install, /EBADENGINE/, "roomgate's engines cover this Node");
  const npmVersion = run("npm", ["-v"], dir).trim();
  writeFileSync(path.join(dir, "app.mjs"), APP_MJS);
  const child = spawn("node", ["app.mjs"], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`app.mjs did not start:\n${out}`)), 15_000);
      child.stdout.on("data", () => {
        const m = /listening (\d+)/.exec(out);
        if (m) clearTimeout(timer), resolve(Number(m[1]));
      });
      child.on("exit", () => (clearTimeout(timer), reject(new Error(`app.mjs exited:\n${out}`))));
    });
    const url = `http://127.0.0.1:${port}`;
    const ws = connect(url, { transports: ["websocket"], forceNew: true, reconnection: false });
    const polling = connect(url, { transports: ["polling"], forceNew: true, reconnection: false });
    try {
      await Promise.all([onceEvent(ws, "connect"), onceEvent(polling, "connect")]);
      const got = Promise.all([onceEvent<[string, string]>(ws, "news"), onceEvent<[string, string]>(polling, "news")]);
      ws.emit("go", "hello");
      const [[a, viaWs], [b]] = await got;
      assert.deepEqual([a, b, viaWs], ["hello", "hello", "websocket"]);
      assert.equal(ws.io.engine.transport.name, "websocket");
      assert.equal(polling.io.engine.transport.name, "polling");
    } finally {
      ws.close();
      polling.close();
    }
  } finally {
    if (child.exitCode === null) child.kill("SIGTERM");
  }
  assert.equal(await exited, 0, out);
  const probe = `import("roomgate").then(async () => { const r = process.report.getReport().header; console.log(process.version + " glibc " + r.glibcVersionRuntime); })`;
  const where = run("node", ["-e", probe], dir).trim();
  const tree = run("npm", ["ls", "--all", "--parseable"], dir);
  const builds = ["@btc-vision/uwebsockets.js", "@trufflesuite/uws-js-unofficial"].filter((b) => tree.includes(`node_modules/${b}`));
  console.log(
    `ok: ${where}, npm ${npmVersion}: ${packed!.filename} installed (no overrides; ${builds.join(" + ")}), plain node app.mjs broadcast reached socket.io-client over websocket and polling`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
