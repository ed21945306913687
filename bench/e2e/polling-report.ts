// The "Long-polling" section of bench/RESULTS.md (issue #10): the polling scenario's table, ratios
// and method, from one run's JSON (what bench/e2e/run.ts writes). Written by bench/e2e/run.ts when it
// rewrites RESULTS.md, or from a saved JSON by bench/e2e/polling-md.ts (for a run with --no-md).
import { interferenceLine } from "./e2e-report.ts";
import type { Failure } from "./metrics.ts";
import type { Opts } from "./options.ts";
import { fmt, fmtRatio, markdownTable } from "./report.ts";
import type { Interference } from "./session.ts";
import { ratioOf, tableRows, type Summary } from "./summary.ts";

/** RESULTS.md's name of the section. */
export const POLLING_SECTION = "polling";

/** The parts of a run's JSON the section reads. */
export interface RunJson {
  command: string;
  date: string;
  options: Opts;
  failures: Failure[];
  fatal: string | null;
  interference: Interference[];
  results: Summary;
}

export function hasPolling(run: RunJson): boolean {
  return Object.values(run.results).some((scs) => scs["polling"] !== undefined);
}

export function pollingSection(run: RunJson): string {
  const o = run.options;
  const sum = run.results;
  const L: string[] = ["## Long-polling (issue #10)", ""];
  L.push(
    `Engine.IO long-polling clients only, never upgraded: ${o.pollingN} of them (client ids 0–${o.pollingN - 1} of the N = ${o.n} plan,`,
    "each in 3 of 8 rooms), each server in a fresh process of its own for this scenario. Per rep: a verified warm-up burst,",
    `then mixed bursts (one-room, union4, except interleaved; M = ${o.m} messages of ${o.size} bytes, at least ${o.bursts} bursts` +
      (o.minMs > 0 ? ` and ${o.minMs} ms` : "") +
      "), then the steady-rate run",
    `(${o.rate} bursts/s × ${o.latencyM} messages for ${o.latencySeconds} s to \`${o.latencyTarget}\`), latency sampled on every polling connection.`,
    `Every delivery is checked exactly once and in order, as in the WebSocket scenarios. ${o.reps} rep(s), medians.`,
    "Raw uWS has no long-polling, so it is not in this scenario.",
    "",
  );
  L.push(`Command: \`${run.command}\`  `, `Date: ${run.date}  `, `Interference: ${interferenceLine(run.interference)}`, "");
  L.push("Cell = median (ratio to Socket.IO on ws, same run). ↓ lower is better, ↑ higher is better.", "");
  L.push(markdownTable(tableRows({ ...o, scenarios: ["polling"] }, sum)), "");
  if (sum["roomgate"]?.["polling"]) {
    const vs = (base: string, label: string): string | null =>
      sum[base]?.["polling"]
        ? `vs ${label}: server CPU per delivery ${fmtRatio(ratioOf(sum, "roomgate", "polling", "cpuPer1k", base))} in bursts, ` +
          `${fmtRatio(ratioOf(sum, "roomgate", "polling", "latCpuPer1k", base))} at the steady rate; ` +
          `latency p50 ${fmtRatio(ratioOf(sum, "roomgate", "polling", "p50", base))}, p99 ${fmtRatio(ratioOf(sum, "roomgate", "polling", "p99", base))}`
        : null;
    const lines = [vs("socketio-ws", "Socket.IO on ws"), vs("socketio-uws", "Socket.IO on uWS")].filter((x) => x !== null);
    if (lines.length) L.push("roomgate on the same polling load:", "", ...lines.map((x) => `- ${x}`), "");
  }
  // the tail moves most with the other work on a shared machine: show each rep's
  const spread = (metric: string): string =>
    Object.entries(sum)
      .filter(([, scs]) => scs["polling"])
      .map(([s, scs]) => {
        const xs = scs["polling"]!.reps.map((r) => r.metrics[metric] ?? NaN).filter(Number.isFinite);
        return `${s} ${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))}`;
      })
      .join(", ");
  L.push(`Range over the reps: CPU per 1k deliveries (bursts) ${spread("cpuPer1k")} µs; latency p99 ${spread("p99")} ms.`, "");
  const failed = run.failures;
  if (failed.length === 0 && run.fatal === null) L.push("Correctness: no duplicate, missing, wrong-recipient or out-of-order delivery.", "");
  else {
    L.push("**FAILED**:", "");
    if (run.fatal) L.push(`- fatal: ${run.fatal}`);
    for (const f of failed) L.push(`- ${f.server} / ${f.scenario} / rep ${f.rep + 1}: ${f.message}`);
    L.push("");
  }
  L.push(
    "Method: the load client (bench/e2e/polling-link.ts, inside bench/e2e/client.ts) speaks raw HTTP/1.1 keep-alive over",
    "`node:net`, two connections per client as a browser uses them: one carries the handshake GET and then one long-poll",
    "GET after another (the next sent as soon as an answer is read), the other the POSTs (`40`, pongs), never two at",
    "once. It sends no Accept-Encoding, so no server compresses its answers. Socket.IO runs with both transports (its",
    'default, `transports: ["polling", "websocket"]`) in this scenario; roomgate with its defaults (both). Server CPU per',
    "1k deliveries = the server's process.cpuUsage() over the bursts (or the steady-rate run) ÷ verified deliveries × 1000;",
    "latency = the emit timestamp carried in the payload to the client's read of the poll answer holding it, so it",
    "includes the wait for the next poll after the previous answer.",
  );
  return L.join("\n");
}
