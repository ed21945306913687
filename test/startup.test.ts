// Start-up: which uWebSockets.js binding loads on this runtime, and roomgate's refusal, loudly and
// first, when none does (JavaScript fallback, a Node ABI no build has, a forced module), naming
// Node, ABI, platform, glibc and the fix.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";

const glibc = (process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header.glibcVersionRuntime ?? "";
const glibcAtLeast = (want: number): boolean => Number(glibc.split(".")[1] ?? 0) >= want && glibc.startsWith("2.");

function gateway(env: NodeJS.ProcessEnv, preload: string[] = []) {
  return spawnSync(process.execPath, [...preload, "--import", "tsx", "src/bin/gateway.ts"], {
    env: { ...process.env, PORT: "0", HOST: "127.0.0.1", ...env },
    encoding: "utf8",
    timeout: 20000,
  });
}

/** The thrown error's message: roomgate's own text must come first in it. */
function refusal(stderr: string): string {
  const m = /Error: (roomgate: .*)/.exec(stderr);
  assert.ok(m, stderr);
  return m[1]!;
}

test("the binding the stated order picks loads natively here: 20.57 where glibc >= 2.38, else 20.30 on Node 20", async () => {
  const { default: uWS, binding } = await import("../src/engine/uws.ts");
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
