// End-to-end fan-out benchmark (issue #4): roomgate side by side with raw uWS native pub/sub
// (the floor), Socket.IO 4.8 on ws, and Socket.IO 4.8 on uWS, in one run, same clients, same
// seeded room assignment; ratios against raw uWS and against Socket.IO (ws).
//
//   npm run bench                      full run (~ a few minutes), rewrites bench/RESULTS.md
//   npm run bench -- --quick           < 1 minute, for development (no RESULTS.md unless --md)
//   npm run bench -- --help            all flags
//
// Each server runs as its own child process (pinned to CPU 0 with taskset when there is more
// than one CPU); load clients are separate processes pinned to the other CPUs. Every delivery
// is checked: duplicates, missing, wrong-recipient and out-of-order deliveries make the run
// FAIL (non-zero exit) with a message naming server, scenario and connections.
//
// The parts live in bench/lib/: options.ts (flags), servers.ts (what is compared), clients.ts
// (load-client processes), scenarios.ts (what is measured), session.ts (one server at a time),
// summary.ts (medians, ratios, table), e2e-report.ts, polling-report.ts and results-md.ts
// (bench/RESULTS.md).
import path from "node:path";
import { writeFileAtomic, writeJson } from "../lib/files.ts";
import { interferenceLine, machine, resultsMd } from "./e2e-report.ts";
import { CLIENT_BOUND_PCT } from "./metrics.ts";
import { parseOpts, type Opts } from "./options.ts";
import { hasPolling, POLLING_SECTION, pollingSection } from "./polling-report.ts";
import { HAS_TASKSET, killChildren, NCPU, runMain } from "../lib/peer.ts";
import { openFileLimit } from "../lib/procfs.ts";
import { HEAD, writeResultsSection } from "../lib/results-md.ts";
import { compileServers } from "./servers.ts";
import { E2eBench } from "./session.ts";
import { chart, runtimeComparison, summarise, tableRows } from "./summary.ts";
import { markdownTable } from "./report.ts";

async function main(): Promise<number> {
  let o: Opts;
  try {
    o = parseOpts(process.argv.slice(2));
  } catch (err) {
    console.error(`bench: ${(err as Error).message}`);
    return 2;
  }
  const nofile = openFileLimit();
  if (o.n + 200 > nofile) {
    console.error(`bench: --n ${o.n} needs more than the ${nofile} file descriptors one (server) process may hold`);
    return 2;
  }
  while (Math.ceil(o.n / o.clients) + 200 > nofile) o.clients++;
  const cmd = process.argv.length > 2 ? `npm run bench -- ${process.argv.slice(2).join(" ")}` : "npm run bench";
  if (o.dist) {
    console.error("bench: --dist: building dist/ and compiling the servers (plain node, no loader)");
    compileServers();
  }
  const t0 = Date.now();
  const b = new E2eBench(o);
  console.error(
    `bench: N=${o.n} M=${o.m} size=${o.size} bursts=${o.bursts} reps=${o.reps} clients=${o.clients} ` +
      `servers=${o.servers.join(",")} scenarios=${o.scenarios.join(",")}` +
      (HAS_TASKSET && o.pin && NCPU >= 2 ? " (server pinned to CPU 0)" : ""),
  );
  console.error(
    `bench: recipients per message: one-room ${b.expectedPerTarget[0]}, union4 ${b.expectedPerTarget[1]}, except ${b.expectedPerTarget[2]}, socket-to ${b.expectedPerTarget[3]}`,
  );
  const estBuffered = o.m * (o.size + 14);
  if (estBuffered > 512 * 1024)
    console.error(`bench: warning: one burst queues ~${Math.round(estBuffered / 1024)} KB per socket; servers with a small backpressure limit may drop`);
  let fatal: string | null = null;
  try {
    await b.run();
  } catch (err) {
    fatal = err instanceof Error ? err.message : String(err);
  } finally {
    killChildren();
  }
  const wallS = (Date.now() - t0) / 1000;
  const sum = summarise(b.results);
  const rows = tableRows(o, sum);
  const mach = machine(o.pin, o.runtimes);
  const ok = b.failures.length === 0 && fatal === null;

  console.log("");
  console.log(markdownTable(rows));
  console.log("");
  console.log(`cell = median (ratio to raw uWS, ratio to Socket.IO on ws); ${o.reps} rep(s); ${wallS.toFixed(0)} s`);
  console.log(`† client CPU ≥ ${CLIENT_BOUND_PCT}% of its core: the load clients, not the server, bound this wall-clock figure`);
  console.log(`interference: ${interferenceLine(b.interference)}`);
  if (o.scenarios.includes("polling")) console.log("polling: Engine.IO long-polling clients only, never upgraded; raw uWS has no polling");
  const acrossRuntimes = runtimeComparison(o, sum);
  if (o.runtimes.length) {
    console.log(`runtimes: ${mach.uWS}`);
    for (const line of acrossRuntimes) console.log(line);
  }

  const json = {
    ok,
    command: cmd,
    date: new Date().toISOString(),
    wallSeconds: wallS,
    machine: mach,
    options: o,
    recipientsPerMessage: {
      "one-room": b.expectedPerTarget[0],
      union4: b.expectedPerTarget[1],
      except: b.expectedPerTarget[2],
      "socket-to": b.expectedPerTarget[3],
    },
    failures: b.failures,
    fatal,
    interference: b.interference,
    results: sum,
    ...(o.runtimes.length ? { acrossRuntimes } : {}),
  };
  const jsonFile = path.join(o.out, o.quick ? "quick.json" : o.runtimes.length ? "runtimes.json" : "results.json");
  writeJson(jsonFile, json);
  console.log(`JSON: ${path.relative(process.cwd(), jsonFile) || jsonFile}`);
  if (o.json) console.log(JSON.stringify(json));
  if (o.md) {
    writeFileAtomic(path.join(o.out, "ratios.svg"), chart(o, sum));
    writeResultsSection(HEAD, resultsMd(o, cmd, mach, rows, b.failures, sum, wallS, b));
    if (hasPolling(json)) writeResultsSection(POLLING_SECTION, pollingSection(json));
    console.log(`wrote bench/RESULTS.md and ${path.relative(process.cwd(), path.join(o.out, "ratios.svg"))}`);
  }
  if (!ok) {
    console.error("");
    console.error("=".repeat(78));
    console.error("FAIL: the benchmark found errors");
    if (fatal) console.error(`  fatal: ${fatal}`);
    for (const f of b.failures) console.error(`  FAIL ${f.server} / ${f.scenario} / rep ${f.rep + 1}: ${f.message}`);
    console.error("=".repeat(78));
    return 1;
  }
  return 0;
}

runMain("bench", main, 60);
