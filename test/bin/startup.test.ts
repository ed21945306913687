// Start-up: roomgate refuses uWS's JavaScript fallback, loudly, naming this Node's ABI and the fix;
// every other start-up failure (a misspelt ROOMGATE_* variable, an unreadable TLS file, a port in
// use, a missing or throwing APP module) is one line on stderr and exit status 2, no stack trace;
// `npm start` builds dist/ only when a source changed. (A .ts APP under plain node: consumer.test.ts,
// which runs the packed gateway bin.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Server } from "../../src/index.ts";

/** The gateway (from src/, through tsx) with `env`; its exit status and output. */
function gateway(env: Record<string, string>) {
  return spawnSync(process.execPath, ["--import", "tsx", "src/bin/gateway.ts"], {
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

test("the gateway refuses to start on uWS's JavaScript fallback, saying why and what to do", () => {
  const run = spawnSync(process.execPath, ["--import", "tsx", "src/bin/gateway.ts"], {
    env: { ...process.env, UWS_USE_FALLBACK: "1", PORT: "0", HOST: "127.0.0.1" },
    encoding: "utf8",
    timeout: 20000,
  });
  assert.notEqual(run.status, 0);
  assert.match(run.stderr, /native uWebSockets\.js binding did not load for Node v20\.\d+\.\d+ \(ABI 115\)/);
  assert.match(run.stderr, /refusing to run on a JavaScript fallback/);
  assert.match(run.stderr, /do not set UWS_USE_FALLBACK/);
});

test("on a Node ABI the registry build has no binary for, the error names the ABI and the official build to install", () => {
  // As on Node 22 (ABI 127): the registry build finds no binary and falls back to JavaScript.
  const asNode22 =
    'Object.defineProperty(process.versions, "modules", { value: "127" }); Object.defineProperty(process.versions, "node", { value: "22.12.0" });';
  const run = spawnSync(process.execPath, ["--import", `data:text/javascript,${encodeURIComponent(asNode22)}`, "--import", "tsx", "src/bin/gateway.ts"], {
    env: { ...process.env, PORT: "0", HOST: "127.0.0.1" },
    encoding: "utf8",
    timeout: 20000,
  });
  assert.notEqual(run.status, 0);
  assert.match(run.stderr, /binding did not load for Node v\S+ \(ABI 127\)/);
  assert.match(run.stderr, /binaries for Node 16\/18\/20 only \(ABI 93\/108\/115\)/);
  assert.match(run.stderr, /official uWebSockets\.js build for Node 22/);
  assert.match(run.stderr, /"overrides": \{ "uWebSockets\.js": "github:uNetworking\/uWebSockets\.js#v20\.\d+\.\d+" \}/);
});

test("the native binding loads here", async () => {
  const uWS = (await import("../../src/engine/uws.ts")).default;
  assert.match(Function.prototype.toString.call(uWS.App), /\[native code\]/);
});

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
