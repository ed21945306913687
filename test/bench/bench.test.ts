// The end-to-end benchmark harness (bench/e2e/run.ts) in quick mode on 20 connections:
// every server's counters must be exactly right, a deliberately wrong server must be caught, and --runtimes
// names each server by its runtime and compares it with raw uWS on the same one.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { assignRooms, isMember, T_EXCEPT, T_ONE, T_SOCKET_TO, T_UNION, DEFAULT_SEED } from "../../bench/lib/plan.ts";

const ROOT = path.dirname(path.dirname(path.dirname(fileURLToPath(import.meta.url))));
const N = 20;
const M = 10;
const BURSTS = 2;

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  json: BenchJson;
}
interface BenchJson {
  ok: boolean;
  failures: { server: string; scenario: string; rep: number; message: string }[];
  fatal: string | null;
  results: Record<string, Record<string, { median: Record<string, number | null>; reps: { metrics: Record<string, number | null> }[] }>>;
}

function runBench(servers: string, extra: string[] = []): Promise<RunResult> {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "roomgate-bench-test-"));
  const args = [
    "--import",
    "tsx",
    path.join(ROOT, "bench/e2e/run.ts"),
    "--quick",
    "--n",
    String(N),
    "--m",
    String(M),
    "--bursts",
    String(BURSTS),
    "--servers",
    servers,
    "--latency-seconds",
    "0.3",
    "--churn-ops",
    "400",
    "--stall-ms",
    "400",
    "--out",
    out,
    "--no-md",
    ...extra,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      if (child.pid) process.kill(child.pid, "SIGKILL");
      reject(new Error(`bench run did not finish in 60 s\n${stdout}\n${stderr}`));
    }, 60000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      try {
        const json = JSON.parse(fs.readFileSync(path.join(out, "quick.json"), "utf8")) as BenchJson;
        fs.rmSync(out, { recursive: true, force: true });
        resolve({ code, stdout, stderr, json });
      } catch (err) {
        reject(new Error(`no JSON result (exit ${code}): ${String(err)}\n${stdout}\n${stderr}`));
      }
    });
  });
}

function recipients(target: number): number {
  const masks = assignRooms(N, DEFAULT_SEED);
  let c = 0;
  for (let cid = 0; cid < N; cid++) if (isMember(target, masks[cid]!, cid)) c++;
  return c;
}

test("bench: quick run on 20 clients, every delivery accounted for on every server", { timeout: 90000 }, async () => {
  const servers = ["roomgate", "uws", "socketio-ws", "socketio-uws"];
  const r = await runBench(servers.join(","));
  assert.equal(r.json.fatal, null, r.stderr);
  assert.deepEqual(r.json.failures, [], r.stderr);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.json.ok);
  assert.match(r.stdout, /\| scenario +\| metric/); // the table
  const perMessage: Record<string, number> = {
    "one-room": recipients(T_ONE),
    union4: recipients(T_UNION),
    except: recipients(T_EXCEPT),
    "socket-to": recipients(T_SOCKET_TO),
  };
  assert.ok(perMessage["one-room"]! > 0 && perMessage["except"]! > 0 && perMessage["socket-to"]! > 0);
  for (const s of servers) {
    const res = r.json.results[s];
    assert.ok(res, `no results for ${s}`);
    for (const [sc, want] of Object.entries(perMessage)) {
      const m = res[sc]!.reps[0]!.metrics;
      assert.equal(m.expected, want * M * BURSTS, `${s} ${sc}: expected deliveries`);
      assert.equal(m.deliveries, m.expected, `${s} ${sc}: deliveries`);
      assert.ok((m.serverCpuUs ?? 0) > 0, `${s} ${sc}: server CPU measured`);
      assert.equal(m.compressedPct, 0, `${s} ${sc}: nothing compressed without --deflate`);
    }
    const mixed = res["mixed"]!.reps[0]!.metrics;
    assert.ok((mixed.deliveries ?? 0) > 0 && mixed.deliveries === mixed.expected, `${s} mixed`);
    const lat = res["latency"]!.reps[0]!.metrics;
    assert.equal(lat.deliveries, lat.expected, `${s} latency deliveries`);
    assert.ok((lat.samples ?? 0) > 0 && (lat.p50 ?? 0) > 0, `${s} latency samples`);
    const churn = res["churn"]!.reps[0]!.metrics;
    assert.ok((churn.ops ?? 0) >= 400 && (churn.verifyDeliveries ?? 0) > 0, `${s} churn`);
    assert.ok((res["memory"]!.median.rssPerConn ?? NaN) > -1000, `${s} memory measured`);
    assert.ok((res["ramp"]!.median.connsPerSec ?? 0) > 0, `${s} ramp measured`);
    if (s === "uws") {
      assert.equal(res["polling"], undefined, "raw uWS has no polling");
      continue;
    }
    // the long-polling clients (N/10, at least 10 here): mixed bursts and the steady-rate run, verified
    const poll = res["polling"]!.reps[0]!.metrics;
    assert.ok((poll.expected ?? 0) > 0 && poll.deliveries === poll.expected, `${s} polling bursts: ${poll.deliveries} of ${poll.expected}`);
    assert.ok((poll.latExpected ?? 0) > 0 && poll.latDeliveries === poll.latExpected, `${s} polling steady rate`);
    assert.ok((poll.samples ?? 0) > 0 && (poll.p99 ?? 0) > 0 && (poll.serverCpuUs ?? 0) > 0, `${s} polling measured`);
  }
  assert.match(r.stdout, /\| polling +\| server CPU per 1k deliveries .*n\/a: no polling/);
});

test("bench --deflate: compressed deliveries inflated and verified on every server (context takeover on ws, none on uWS)", { timeout: 90000 }, async () => {
  const servers = ["roomgate", "uws", "socketio-ws", "socketio-uws"];
  const r = await runBench(servers.join(","), ["--deflate", "--size", "2048", "--scenarios", "one-room,union4"]);
  assert.equal(r.json.fatal, null, r.stderr);
  assert.deepEqual(r.json.failures, [], r.stderr);
  assert.equal(r.code, 0, r.stderr);
  for (const s of servers) {
    for (const [sc, target] of [
      ["one-room", T_ONE],
      ["union4", T_UNION],
    ] as const) {
      const m = r.json.results[s]![sc]!.reps[0]!.metrics;
      assert.equal(m.deliveries, recipients(target) * M * BURSTS, `${s} ${sc}: deliveries`);
      assert.equal(m.deliveries, m.expected, `${s} ${sc}`);
      // Socket.IO on uWS publishes single-room broadcasts natively without the compress flag
      const want = s === "socketio-uws" && sc === "one-room" ? 0 : 100;
      assert.equal(m.compressedPct, want, `${s} ${sc}: share of messages compressed`);
      if (want > 0) assert.ok((m.deflateRatio ?? 0) > 1.5, `${s} ${sc}: deflate ratio ${m.deflateRatio}`);
    }
  }
  // ws keeps its window across messages (context takeover): the repeated pad shrinks far more
  assert.ok(r.json.results["socketio-ws"]!["union4"]!.reps[0]!.metrics.deflateRatio! > 10);
  assert.ok(r.json.results["roomgate"]!["union4"]!.reps[0]!.metrics.deflateRatio! < 4);
});

test("bench: a deliberately wrong server is caught and fails the run", { timeout: 90000 }, async () => {
  const r = await runBench("uws,wrong", ["--scenarios", "one-room,except,mixed"]);
  assert.notEqual(r.code, 0, "the run must fail");
  assert.match(r.stderr, /FAIL wrong/);
  assert.ok(r.json.failures.length > 0);
  assert.ok(
    r.json.failures.every((f) => f.server === "wrong"),
    JSON.stringify(r.json.failures),
  );
  const all = r.json.failures.map((f) => f.message).join("\n");
  for (const kind of ["duplicates=", "missing=", "wrong-recipient=", "out-of-order="]) assert.ok(all.includes(kind), `${kind} not reported:\n${all}`);
  // the floor in the same run is clean
  const one = r.json.results["uws"]!["one-room"]!.reps[0]!.metrics;
  assert.equal(one.deliveries, recipients(T_ONE) * M * BURSTS);
});

test("bench --runtimes: each server once per runtime (server@runtime), compared with raw uWS on its own runtime", { timeout: 90000 }, async () => {
  // "host" is this test's own node; the patched runtimes (node20/22/24) need test:runtimes' cache.
  const r = await runBench("roomgate,uws", ["--runtimes", "host", "--scenarios", "one-room"]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(Object.keys(r.json.results).sort(), ["roomgate@host", "uws@host"]);
  const one = r.json.results["roomgate@host"]!["one-room"]!.reps[0]!.metrics;
  assert.equal(one.deliveries, recipients(T_ONE) * M * BURSTS);
  const row = r.stdout.split("\n").find((l) => l.startsWith("| one-room") && l.includes("server CPU"));
  assert.match(row ?? "", /^\| one-room \| [^|]+\| [\d,.]+ \([\d.]+× uWS\) +\| [\d,.]+ +\|$/);
  assert.match(r.stdout, new RegExp(`runtimes: host: ${process.version.replace(/\./g, "\\.")}, glibc [\\d.]+, @\\S+ [\\d.]+`));
});
