// The published package as a user gets it: `npm pack`, the tarball installed into a fresh project
// (offline: the dependency tarballs come from the npm cache, pinned by the repo's lockfile), then
// plain `node` with no loader (ESM, and require(esm)), the package's gateway bin, and a strict
// TypeScript project (tsc --init defaults, skipLibCheck false) against the published declarations.
// Knows nothing of roomgate's source: only what the tarball ships.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { io as connect } from "socket.io-client";
import { startProcess } from "../helpers/process.ts";
import { once } from "../helpers/server.ts";

const ROOT = path.dirname(path.dirname(path.dirname(fileURLToPath(import.meta.url))));
const TSC = path.join(ROOT, "node_modules", "typescript", "bin", "tsc");
/** The oldest TypeScript the published declarations support (README "Install"); the newest tested
 *  is the repo's own (TSC). */
const OLDEST_TS = "5.0.4";
let dir = "";
let packedFiles: string[] = [];

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): string {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", env: { ...process.env, ...env }, timeout: 120_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

type LockEntry = { name?: string; version: string; dev?: boolean; [k: string]: unknown };

/** The consumer's lockfile: roomgate from the tarball, its runtime dependencies (and @types/node for
 *  the TypeScript check) exactly as the repo's lockfile pins them, with registry URLs so that
 *  `npm ci --offline` takes them from the cache without asking the registry for any metadata. */
function consumerLock(tarball: string, devTypes: string[]): object {
  const repo = JSON.parse(readFileSync(path.join(ROOT, "package-lock.json"), "utf8")) as { packages: Record<string, LockEntry> };
  const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8"));
  const packages: Record<string, unknown> = {
    "": { name: "consumer", dependencies: { roomgate: `file:${tarball}` }, devDependencies: { "@types/node": pkg.devDependencies["@types/node"] } },
    "node_modules/roomgate": {
      version: pkg.version,
      resolved: `file:${tarball}`,
      license: pkg.license,
      bin: pkg.bin,
      dependencies: pkg.dependencies,
      optionalDependencies: pkg.optionalDependencies,
      engines: pkg.engines,
    },
  };
  for (const [where, entry] of Object.entries(repo.packages)) {
    if (where === "" || (entry.dev && !devTypes.includes(where))) continue;
    const name = entry.name ?? where.slice(where.lastIndexOf("node_modules/") + "node_modules/".length);
    packages[where] = { ...entry, resolved: `https://registry.npmjs.org/${name}/-/${name.split("/").pop()}-${entry.version}.tgz` };
  }
  return { name: "consumer", lockfileVersion: 3, requires: true, packages };
}

// Fails any import of the NATS client: a process without a cluster must never load it.
const FORBID_NATS = `import { register } from "node:module";
register("data:text/javascript," + encodeURIComponent(\`export async function resolve(specifier, context, next) {
  if (specifier === "nats" || specifier.startsWith("nats/")) throw new Error("nats was loaded");
  return next(specifier, context);
}\`));
`;

const APP_MJS = `import { Server } from "roomgate";
const io = new Server();
io.on("connection", (socket) => {
  socket.join("room");
  socket.on("go", (text) => io.to("room").except("nobody").emit("news", text, Buffer.from([1, 2, 3])));
});
process.on("SIGTERM", () => io.close().then(() => process.exit(0)));
const port = await io.listen(0, "127.0.0.1");
console.log("listening " + port);
`;

// The control for FORBID_NATS: with a cluster configured the client is loaded (and here refused).
const CLUSTER_MJS = `import { Server, createClusterAdapter } from "roomgate";
const io = new Server({ adapter: createClusterAdapter({ servers: "nats://127.0.0.1:9", log: (level, msg) => {
  console.log(level + ": " + msg);
  if (/NATS client/.test(msg)) io.close().then(() => process.exit(0));
} }) });
setTimeout(() => process.exit(3), 10000).unref();
`;

const APP_CJS = `const roomgate = require("roomgate");
const { Server, Emitter, createClusterAdapter } = roomgate;
if (typeof Server !== "function" || typeof Emitter !== "function" || typeof createClusterAdapter !== "function") throw new Error("missing exports");
const io = new Server();
io.listen(0, "127.0.0.1").then((port) => io.close().then(() => console.log("required, listened on " + port + ", closed")));
`;

const INDEX_TS = `import { Server, Emitter, createClusterAdapter, type Socket, type ServerOptions, type ClusterOptions } from "roomgate";

const options: ServerOptions = { pingInterval: 25000, maxPayload: 1e6, allowedOrigins: ["https://example.com"] };
const io = new Server(options);
io.use((socket, next) => (socket.handshake.auth["token"] ? next() : next(new Error("unauthorized"))));
io.on("connection", (socket: Socket) => {
  socket.join(["lobby", "user:" + socket.id]);
  socket.on("chat", (text: unknown, ack?: (ok: boolean) => void) => {
    socket.to("lobby").emit("chat", socket.id, text);
    ack?.(true);
  });
  socket.on("disconnect", (reason) => console.log(reason, socket.rooms.size));
});
io.to("a").to("b").except("c").emit("tick", { at: Date.now() });
const port: number = await io.listen(0, "127.0.0.1");
const rooms: number = io.of("/").adapter.rooms.size;
console.log(port, rooms);
await io.close();

// Typed events (Socket.IO's generics): listeners and emits are checked against the maps.
interface ClientToServer {
  move: (x: number, y: number) => void;
}
interface ServerToClient {
  moved: (id: string, x: number, y: number) => void;
}
const typed = new Server<ClientToServer, ServerToClient>();
typed.on("connection", (socket) => {
  socket.on("move", (x, y) => typed.to("map").emit("moved", socket.id, x + 0, y + 0));
  // @ts-expect-error "moved" takes (id: string, x: number, y: number)
  socket.emit("moved", 1, 2, 3);
});

const cluster: ClusterOptions = { servers: ["nats://127.0.0.1:4222"], prefix: "app", nats: { user: "u", pass: "p", tls: null } };
new Server({ adapter: createClusterAdapter(cluster) });
const emitter = new Emitter({ servers: "nats://127.0.0.1:4222" });
emitter.to("room:1").emit("price", 42);
await emitter.close();

// The declarations are real types, not any: each of these must be an error.
// @ts-expect-error pingInterval is a number
new Server({ pingInterval: "25s" });
// @ts-expect-error listen's port is a number
await io.listen("3000");
// @ts-expect-error there is no such option
createClusterAdapter({ servers: "nats://127.0.0.1:4222", nats: { notAnOption: true } });
`;

before(
  () => {
    dir = mkdtempSync(path.join(tmpdir(), "roomgate-consumer-"));
    // npm pack runs `prepare`, which builds dist/.
    const [packed] = JSON.parse(run("npm", ["pack", "--json", "--pack-destination", dir], ROOT)) as [{ filename: string; files: { path: string }[] }];
    packedFiles = packed.files.map((f) => f.path);
    const devTypes = ["node_modules/@types/node", "node_modules/undici-types"];
    writeFileSync(
      path.join(dir, "package.json"),
      JSON.stringify({ name: "consumer", private: true, type: "module", dependencies: { roomgate: `file:${packed.filename}` } }),
    );
    const lock = consumerLock(packed.filename, devTypes) as { packages: Record<string, { devDependencies?: object }> };
    const manifest = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8"));
    manifest.devDependencies = lock.packages[""]!.devDependencies;
    writeFileSync(path.join(dir, "package.json"), JSON.stringify(manifest, null, 2));
    writeFileSync(path.join(dir, "package-lock.json"), JSON.stringify(lock, null, 2));
    run("npm", ["ci", "--offline", "--no-audit", "--no-fund", "--loglevel=error"], dir);
    writeFileSync(path.join(dir, "forbid-nats.mjs"), FORBID_NATS);
    writeFileSync(path.join(dir, "app.mjs"), APP_MJS);
    writeFileSync(path.join(dir, "cluster.mjs"), CLUSTER_MJS);
    writeFileSync(path.join(dir, "app.cjs"), APP_CJS);
    writeFileSync(path.join(dir, "index.ts"), INDEX_TS);
  },
  { timeout: 180_000 },
);

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("the tarball ships dist/ (no internals), README, LICENSE and package.json only", () => {
  for (const f of packedFiles) assert.match(f, /^(dist\/.+\.(js|d\.ts|js\.map)|README\.md|LICENSE|package\.json)$/, f);
  for (const f of ["dist/index.js", "dist/index.d.ts", "dist/bin/gateway.js", "dist/examples/rooms-app.js", "LICENSE", "README.md"])
    assert.ok(packedFiles.includes(f), f);
  assert.ok(!packedFiles.some((f) => f.startsWith("dist/internal")), "internal.ts is for tests and benchmarks");
});

test("the installed runtime tree holds no build, test or process-manager tooling", () => {
  const tree = run("npm", ["ls", "--omit=dev", "--all", "--parseable"], dir);
  const names = tree
    .trim()
    .split("\n")
    .slice(1)
    .map((p) => p.slice(p.lastIndexOf("node_modules/") + "node_modules/".length));
  for (const dep of ["roomgate", "nats", "@btc-vision/uwebsockets.js", "@trufflesuite/uws-js-unofficial"])
    assert.ok(names.includes(dep), `${dep}: ${names.join(", ")}`);
  for (const tool of ["tsx", "typescript", "esbuild", "pm2", "mitata", "socket.io", "socket.io-client", "@biomejs/biome"])
    assert.ok(!names.includes(tool), tool);
});

test("plain node (ESM, no loader): a broadcast reaches socket.io-client, and a process without a cluster never loads nats", async () => {
  const app = await startProcess(process.execPath, ["--import", "./forbid-nats.mjs", "app.mjs"], { cwd: dir, ready: /listening (\d+)/, what: "app.mjs" });
  try {
    const port = Number((app.ready as RegExpExecArray)[1]);
    const client = connect(`http://127.0.0.1:${port}`, { transports: ["websocket"], forceNew: true, reconnection: false });
    try {
      await once(client, "connect", 5000);
      const news = once<[string, Buffer]>(client, "news", 5000);
      client.emit("go", "hello");
      const [text, bytes] = await news;
      assert.equal(text, "hello");
      assert.deepEqual([...bytes], [1, 2, 3]);
    } finally {
      client.close();
    }
  } finally {
    await app.stop("SIGTERM");
  }
  assert.equal(await app.exited, 0, app.output());
  assert.doesNotMatch(app.output(), /nats was loaded|Error/);
});

test("the nats guard works: with a cluster configured the client is loaded (and here refused, with a clear log line)", () => {
  const r = spawnSync(process.execPath, ["--import", "./forbid-nats.mjs", "cluster.mjs"], { cwd: dir, encoding: "utf8", timeout: 20000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /error: cluster: cannot load the NATS client \("nats" package\): nats was loaded/);
});

test("require('roomgate') works from CommonJS (Node 20.19+ require(esm))", () => {
  const r = spawnSync(process.execPath, ["app.cjs"], { cwd: dir, encoding: "utf8", timeout: 20000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /required, listened on \d+, closed/);
});

test("the package's gateway bin serves the bundled example app with plain node", async () => {
  const gw = await startProcess(path.join(dir, "node_modules", ".bin", "roomgate"), [], {
    cwd: dir,
    env: { PORT: "0", HOST: "127.0.0.1" },
    ready: /listening on/,
    what: "the gateway bin",
  });
  assert.equal(await gw.stop("SIGTERM"), 0, gw.output());
  const out = gw.output();
  assert.match(out, /node_modules\/roomgate\/dist\/examples\/rooms-app\.js/);
});

test("a strict TypeScript project (tsc --init defaults, skipLibCheck false) compiles against the published declarations", () => {
  run(process.execPath, [TSC, "--init"], dir);
  const config = path.join(dir, "tsconfig.json");
  const text = readFileSync(config, "utf8");
  assert.match(text, /"skipLibCheck": true/);
  assert.match(text, /"strict": true/);
  writeFileSync(config, text.replace(/"skipLibCheck": true/, '"skipLibCheck": false'));
  const r = spawnSync(process.execPath, [TSC, "-p", ".", "--noEmit"], { cwd: dir, encoding: "utf8", timeout: 60000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

/** tsc of OLDEST_TS: the devDependency `typescript-oldest` if installed, else installed from the
 *  registry into the consumer folder (one package, about a second); null when neither works. */
function oldestTsc(): string | null {
  const version = (root: string) => {
    try {
      return (JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as { version: string }).version;
    } catch {
      return null;
    }
  };
  const dev = path.join(ROOT, "node_modules", "typescript-oldest");
  if (version(dev) === OLDEST_TS) return path.join(dev, "bin", "tsc");
  const prefix = path.join(dir, "ts-oldest");
  const r = spawnSync("npm", ["install", "--no-save", "--no-audit", "--no-fund", "--loglevel=error", "--prefix", prefix, `typescript@${OLDEST_TS}`], {
    encoding: "utf8",
    timeout: 60_000,
  });
  const installed = path.join(prefix, "node_modules", "typescript");
  return r.status === 0 && version(installed) === OLDEST_TS ? path.join(installed, "bin", "tsc") : null;
}

test(`the oldest supported TypeScript (${OLDEST_TS}) compiles the same strict project against the published declarations`, (t) => {
  const tsc = oldestTsc();
  if (tsc === null) {
    t.skip(`typescript ${OLDEST_TS} is not installed and the registry is unreachable: npm install -D typescript-oldest@npm:typescript@${OLDEST_TS}`);
    return;
  }
  // tsc --init of the newest, less what the oldest does not know (noUncheckedSideEffectImports: 5.6).
  const config = path.join(dir, "tsconfig.oldest.json");
  const compilerOptions = {
    module: "nodenext",
    target: "es2022",
    types: [],
    strict: true,
    noUncheckedIndexedAccess: true,
    exactOptionalPropertyTypes: true,
    verbatimModuleSyntax: true,
    isolatedModules: true,
    moduleDetection: "force",
    skipLibCheck: false,
    noEmit: true,
  };
  writeFileSync(config, JSON.stringify({ compilerOptions, files: ["index.ts"] }));
  const r = spawnSync(process.execPath, [tsc, "-p", config], { cwd: dir, encoding: "utf8", timeout: 60000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

// Node 22.18+ and 24 strip TypeScript types themselves (process.features.typescript): there plain
// node runs a .ts APP with erasable syntax; Node 20 refuses it, and the gateway says what to do.
const stripsTypes = Boolean((process.features as { typescript?: unknown }).typescript);
test(`the gateway bin and a .ts APP under plain node: ${stripsTypes ? "served (this Node strips types)" : "refused in one line saying what to do, exit 2"}`, async () => {
  writeFileSync(path.join(dir, "my-app.ts"), "export default (io: unknown) => {};\n");
  if (stripsTypes) {
    // (Not spawnSync with a timeout: a gateway still running when it fires cannot log its drain.)
    const { out, code } = await gatewayRun({ APP: "my-app.ts" });
    assert.equal(code, 0, out);
    assert.match(out, /my-app\.ts/);
    return;
  }
  const r = spawnSync(path.join(dir, "node_modules", ".bin", "roomgate"), [], {
    cwd: dir,
    env: { ...process.env, PORT: "0", HOST: "127.0.0.1", APP: "my-app.ts" },
    encoding: "utf8",
    timeout: 20000,
  });
  assert.equal(r.status, 2, r.stdout + r.stderr);
  assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  assert.match(r.stderr, /^roomgate: cannot start: APP my-app\.ts: plain node cannot run a \.ts module: compile it to \.js, or run with a loader/);
});

test("the README's Install section names the oldest TypeScript and every runtime dependency", () => {
  const readme = readFileSync(path.join(ROOT, "README.md"), "utf8");
  const install = readme.slice(readme.indexOf("\n## Install"), readme.indexOf("\n## ", readme.indexOf("\n## Install") + 1));
  const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
    dependencies: Record<string, string>;
    optionalDependencies?: Record<string, string>;
  };
  for (const name of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies }))
    assert.ok(install.includes(`\`${name}\``), `the Install section names ${name}`);
  assert.ok(install.includes(`TypeScript ${OLDEST_TS.replace(/\.\d+$/, "")}`), `the Install section names TypeScript ${OLDEST_TS}`);
});

/** Runs the package's gateway bin until it logs "listening" (then SIGTERM) or exits; its output and exit code. */
async function gatewayRun(env: NodeJS.ProcessEnv = {}): Promise<{ out: string; code: number | null }> {
  const child = spawn(path.join(dir, "node_modules", ".bin", "roomgate"), [], {
    cwd: dir,
    env: { ...process.env, PORT: "0", HOST: "127.0.0.1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
  const onData = (d: Buffer) => {
    out += d;
    if (/listening on/.test(out) && child.exitCode === null) child.kill("SIGTERM");
  };
  child.stdout.on("data", onData);
  child.stderr.on("data", onData);
  const timer = setTimeout(() => child.kill("SIGKILL"), 15000);
  const code = await exited;
  clearTimeout(timer);
  return { out, code };
}

test("the application's own uWebSockets.js wins over roomgate's registry builds, and alone is tried", async () => {
  // Stand-in for the official build (published on GitHub only): a copy of the registry build that loads here.
  const own = path.join(dir, "node_modules", "uWebSockets.js");
  const { out: before } = await gatewayRun();
  const used = /"uws":"(\S+) [^"]+"/.exec(before)?.[1];
  assert.ok(used === "@btc-vision/uwebsockets.js" || used === "@trufflesuite/uws-js-unofficial", before);
  try {
    cpSync(path.join(dir, "node_modules", used), own, { recursive: true, dereference: true });
    const { out, code } = await gatewayRun();
    assert.equal(code, 0, out);
    assert.match(out, /"uws":"uWebSockets\.js \d+\.\d+\.\d+[^"]*"/);
    // One that does not load (as the official v20.52 build on Node 20 with glibc < 2.38): refused, with roomgate's message first.
    rmSync(own, { recursive: true, force: true });
    mkdirSync(own);
    writeFileSync(path.join(own, "package.json"), JSON.stringify({ name: "uWebSockets.js", version: "20.52.0", main: "uws.js" }));
    writeFileSync(
      path.join(own, "uws.js"),
      `throw new Error("This version of uWS.js supports only Node.js LTS versions 18, 20 and 22.\\n\\nError: Cannot find module './uws_linux_x64_" + process.versions.modules + ".node'");`,
    );
    const refused = await gatewayRun();
    assert.notEqual(refused.code, 0, refused.out);
    assert.match(refused.out, /Error: roomgate: no native uWebSockets\.js binding loads for Node v\S+ \(ABI \d+\)/);
    assert.match(refused.out, /own uWebSockets\.js is used exclusively when it is installed/);
    assert.match(refused.out, /Tried: your uWebSockets\.js: Error: Cannot find module '\.\/uws_linux_x64_\d+\.node'\.$/m);
  } finally {
    rmSync(own, { recursive: true, force: true });
  }
});
