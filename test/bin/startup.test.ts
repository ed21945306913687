// Start-up: roomgate refuses uWS's JavaScript fallback, loudly, naming this Node's ABI and the fix.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";

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
