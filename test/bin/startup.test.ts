// Start-up: which uWebSockets.js binding loads on this runtime, and roomgate's refusal, loudly and
// first, when none does (JavaScript fallback, a Node ABI no build has, a forced module), naming
// Node, ABI, platform, glibc and the fix; every other start-up failure (a misspelt ROOMGATE_*
// variable, an unreadable TLS file, a port in use, a missing or throwing APP module) is one line on
// stderr and exit status 2, no stack trace; `npm start` builds dist/ only when a source changed.
// (A .ts APP under plain node: consumer.test.ts, which runs the packed gateway bin.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Server } from "../../src/index.ts";

/** The gateway (from src/, through tsx, after `preload`) with `env`; its exit status and output. */
function gateway(env: NodeJS.ProcessEnv, preload: string[] = []) {
  return spawnSync(process.execPath, [...preload, "--import", "tsx", "src/bin/gateway.ts"], {
    env: { ...process.env, PORT: "0", HOST: "127.0.0.1", APP_TOKEN_SECRET: "s", ...env },
    encoding: "utf8",
    timeout: 20000,
  });
}

/** Exit status 2 and exactly one line on stderr (no stack trace), matching `line`. */
function failsWithOneLine(run: ReturnType<typeof gateway>, line: RegExp): void {
  assert.equal(run.status, 2, run.stdout + run.stderr);
  const lines = run.stderr.trim().split("\n");
  assert.equal(lines.length, 1, run.stderr);
  assert.match(lines[0], line);
}

const tmp = () => mkdtempSync(join(tmpdir(), "roomgate-startup-"));

const glibc = (process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header.glibcVersionRuntime ?? "";
const glibcAtLeast = (want: number): boolean => Number(glibc.split(".")[1] ?? 0) >= want && glibc.startsWith("2.");

/** The thrown error's message: roomgate's own text must come first in it. */
function refusal(stderr: string): string {
  const m = /Error: (roomgate: .*)/.exec(stderr);
  assert.ok(m, stderr);
  return m[1]!;
}

test("the binding the stated order picks loads natively here: 20.57 where glibc >= 2.38, else 20.30 on Node 20", async () => {
  const { default: uWS, binding } = await import("../../src/engine/uws.ts");
  assert.match(Function.prototype.toString.call(uWS.App), /\[native code\]/);
  const expected =
    glibcAtLeast(38) || process.versions.modules !== "115"
      ? { name: "@btc-vision/uwebsockets.js", version: "20.57.0" }
      : { name: "@trufflesuite/uws-js-unofficial", version: "20.30.0-unofficial.0" };
  assert.deepEqual({ name: binding.name, version: binding.version }, expected);
});

test("the gateway refuses to start on uWS's JavaScript fallback, saying why and what to do", () => {
  const run = gateway({ UWS_USE_FALLBACK: "1" });
  assert.notEqual(run.status, 0);
  const message = refusal(run.stderr);
  const where = `Node ${process.version} (ABI ${process.versions.modules}) on ${process.platform}-${process.arch}${glibc ? `, glibc ${glibc}` : ""}`;
  assert.ok(message.startsWith(`roomgate: no native uWebSockets.js binding loads for ${where}; refusing to run on a JavaScript fallback.`), message);
  assert.match(message, /Unset UWS_USE_FALLBACK/);
});

test("on a Node ABI no build has (as Node 23, ABI 131), the error names it, each candidate's reason, and the runtimes to use", () => {
  const asNode23 =
    'Object.defineProperty(process.versions, "modules", { value: "131" }); Object.defineProperty(process.versions, "node", { value: "23.11.0" });';
  const run = gateway({}, ["--import", `data:text/javascript,${encodeURIComponent(asNode23)}`]);
  assert.notEqual(run.status, 0);
  const message = refusal(run.stderr);
  assert.match(message, /^roomgate: no native uWebSockets\.js binding loads for Node v\S+ \(ABI 131\) on linux-x64, glibc 2\.\d+;/);
  assert.match(message, /Use Node 20, 22 or 24/);
  assert.match(message, /@btc-vision\/uwebsockets\.js: no binary for ABI 131 \(it has Node 20\/22\/24\/25\)/);
  assert.match(message, /@trufflesuite\/uws-js-unofficial: no binary for ABI 131 \(it has Node 16\/18\/20\)/);
});

test("ROOMGATE_UWS names the only module tried: one that is not installed is refused, not replaced by a registry build", () => {
  // (Each refusal here happens at import: the gateway never starts, so nothing waits on a signal.)
  const run = gateway({ ROOMGATE_UWS: "uWebSockets.js" });
  assert.notEqual(run.status, 0);
  const message = refusal(run.stderr);
  assert.match(message, /ROOMGATE_UWS=uWebSockets\.js names the only binding to try/);
  assert.match(message, /Tried: uWebSockets\.js \(ROOMGATE_UWS\): Cannot find module 'uWebSockets\.js'/);
});

const bothLoad = process.versions.modules === "115" && glibcAtLeast(38);
test(
  "ROOMGATE_UWS picks the named build where the order would pick another (Node 20 on glibc >= 2.38 loads both)",
  { skip: bothLoad ? false : `only Node 20 on glibc >= 2.38 loads both builds (this is ABI ${process.versions.modules}, glibc ${glibc})` },
  () => {
    const probe = 'const { binding } = await import("./src/engine/uws.ts"); console.log(binding.name + " " + binding.version);';
    const run = (env: NodeJS.ProcessEnv) =>
      spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", probe], {
        env: { ...process.env, ...env },
        encoding: "utf8",
        timeout: 20000,
      });
    assert.equal(run({}).stdout.trim(), "@btc-vision/uwebsockets.js 20.57.0");
    const forced = run({ ROOMGATE_UWS: "@trufflesuite/uws-js-unofficial" });
    assert.equal(forced.stdout.trim(), "@trufflesuite/uws-js-unofficial 20.30.0-unofficial.0", forced.stderr);
  },
);

test("a misspelt ROOMGATE_* variable is an error with a 'did you mean'", () => {
  const run = gateway({ ROOMGATE_MATRICS: "on" });
  assert.equal(run.status, 2);
  assert.match(run.stderr, /unknown environment variable ROOMGATE_MATRICS \(did you mean "ROOMGATE_METRICS"\?\)/);
  // Far from every name: no guess.
  assert.match(gateway({ ROOMGATE_XYZ: "1" }).stderr, /unknown environment variable ROOMGATE_XYZ\n/);
});

test("an unreadable TLS file: one line, exit 2", () => {
  const missing = join(tmp(), "missing.pem");
  failsWithOneLine(gateway({ ROOMGATE_TLS_KEY: missing, ROOMGATE_TLS_CERT: missing }), /^roomgate: cannot start: tls\.key file .*missing\.pem cannot be read$/);
  failsWithOneLine(
    gateway({ ROOMGATE_CLUSTER: "nats://127.0.0.1:9", ROOMGATE_CLUSTER_TLS_CA: missing }),
    /^roomgate: cannot start: ROOMGATE_CLUSTER_TLS_CA: cannot read .*missing\.pem \(ENOENT\)$/,
  );
});

test("a port in use: one line naming ROOMGATE_REUSE_PORT=on, exit 2", async () => {
  const io = new Server({ logger: "silent" });
  try {
    const port = await io.listen(0, "127.0.0.1");
    failsWithOneLine(
      gateway({ PORT: String(port) }),
      new RegExp(`^roomgate: cannot start: cannot listen on 127\\.0\\.0\\.1:${port} \\(address in use .*set ROOMGATE_REUSE_PORT=on to share it on purpose`),
    );
  } finally {
    await io.close();
  }
});

test("a missing APP module, one without a default function, one that throws: one line each, exit 2", () => {
  const dir = tmp();
  failsWithOneLine(gateway({ APP: join(dir, "nope.mjs") }), /^roomgate: cannot start: APP .*nope\.mjs: no such module/);
  writeFileSync(join(dir, "nodefault.mjs"), "export const x = 1;\n");
  failsWithOneLine(gateway({ APP: join(dir, "nodefault.mjs") }), /^roomgate: cannot start: APP .*nodefault\.mjs must export a default function/);
  writeFileSync(join(dir, "throws.mjs"), 'export default () => { throw new Error("no database"); };\n');
  failsWithOneLine(gateway({ APP: join(dir, "throws.mjs") }), /^roomgate: cannot start: no database$/);
  writeFileSync(join(dir, "broken.mjs"), "export default (io) => {\n");
  failsWithOneLine(gateway({ APP: join(dir, "broken.mjs") }), /^roomgate: cannot start: APP .*broken\.mjs failed to load: /);
});

test("a ROOMGATE_PARSER package that cannot be loaded: one line naming it, exit 2", () => {
  failsWithOneLine(gateway({ ROOMGATE_PARSER: "no-such-parser-package" }), /^roomgate: cannot start: ROOMGATE_PARSER no-such-parser-package: cannot load it/);
});

test("npm start and npm run relay build dist/ only when a source changed", () => {
  const pkg = JSON.parse(readFileSync("package.json", "utf8")) as { scripts: Record<string, string> };
  assert.equal(pkg.scripts.prestart, "npm run -s build:fresh");
  assert.equal(pkg.scripts.prerelay, "npm run -s build:fresh");
  const fresh = () => {
    const r = spawnSync("npm", ["run", "-s", "build:fresh"], { encoding: "utf8", timeout: 120_000 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  };
  fresh(); // builds what is missing or stale
  // An output gone (as after a source change): built again.
  rmSync("dist/examples/tokens.js");
  fresh();
  assert.ok(existsSync("dist/examples/tokens.js"), "the missing output was built");
  const outputs = ["dist/index.js", "dist/bin/gateway.js", "dist/examples/tokens.js", "dist/roomgate.tsbuildinfo"];
  const before = outputs.map((f) => statSync(f).mtimeMs);
  fresh(); // up to date: writes nothing
  assert.deepEqual(
    outputs.map((f) => statSync(f).mtimeMs),
    before,
  );
});

test("the relay's start-up failures too: one line, exit 2", async () => {
  const relay = (env: Record<string, string>) =>
    spawnSync(process.execPath, ["--import", "tsx", "src/bin/relay.ts"], {
      env: { ...process.env, RELAY_HOST: "127.0.0.1", ...env },
      encoding: "utf8",
      timeout: 20000,
    });
  const missing = join(tmp(), "missing.pem");
  failsWithOneLine(
    relay({ RELAY_PORT: "0", RELAY_TLS_CERT: missing, RELAY_TLS_KEY: missing }),
    /^relay: cannot start: RELAY_TLS_CERT: cannot read .*missing\.pem \(ENOENT\)$/,
  );
  failsWithOneLine(relay({ RELAY_PORT: "http" }), /^relay: cannot start: invalid RELAY_PORT http$/);
  const io = new Server({ logger: "silent" });
  try {
    const port = await io.listen(0, "127.0.0.1");
    failsWithOneLine(relay({ RELAY_PORT: String(port) }), /^relay: cannot start: .*EADDRINUSE/);
  } finally {
    await io.close();
  }
});
