// Start-up: roomgate refuses uWS's JavaScript fallback, loudly.
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
  assert.match(run.stderr, /native uWebSockets\.js binding did not load/);
  assert.match(run.stderr, /refusing to run on its JavaScript fallback/);
  assert.match(run.stderr, /Node 20/);
});

test("the native binding loads here", async () => {
  const uWS = (await import("../src/engine/uws.ts")).default;
  assert.match(Function.prototype.toString.call(uWS.App), /\[native code\]/);
});
