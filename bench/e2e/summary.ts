// The end-to-end benchmark's figures summed up: the median of the reps per server and scenario,
// ratios to the baselines, the results table (stdout and RESULTS.md) and the ratio chart's rows.
import type { Opts } from "./options.ts";
import { CLIENT_BOUND_PCT, METRICS, SCENARIO_METRICS, type Metrics, type RepResult } from "./metrics.ts";
import { SCENARIOS } from "../lib/plan.ts";
import { fmt, fmtRatio, median, ratioSvg, type ChartPanel } from "./report.ts";
import { BASELINES, baselineFor, serverDef } from "./servers.ts";

/** The cell of a server that cannot take part in a scenario (raw uWS has no long-polling). */
export const NO_POLLING = "n/a: no polling";

export interface Summary {
  [server: string]: { [scenario: string]: { median: Metrics; reps: RepResult[] } };
}

export function summarise(results: Map<string, Map<string, RepResult[]>>): Summary {
  const out: Summary = {};
  for (const [server, scs] of results) {
    out[server] = {};
    for (const [scenario, reps] of scs) {
      const keys = new Set(reps.flatMap((r) => Object.keys(r.metrics)));
      const med: Metrics = {};
      for (const k of keys) med[k] = median(reps.map((r) => r.metrics[k] ?? NaN));
      out[server]![scenario] = { median: med, reps };
    }
  }
  return out;
}

export function ratioOf(sum: Summary, server: string, scenario: string, metric: string, base: string): number {
  const v = sum[server]?.[scenario]?.median[metric];
  const w = sum[base]?.[scenario]?.median[metric];
  if (v === undefined || w === undefined || !(w > 0)) return NaN;
  return v / w;
}

export function tableRows(o: Opts, sum: Summary): string[][] {
  // a server without polling keeps its column when the polling scenario is all there is, to say so
  const servers = o.servers.filter((s) => sum[s] || (o.scenarios.includes("polling") && serverDef(s).mode === "raw"));
  const rows: string[][] = [["scenario", "metric", ...servers]];
  for (const sc of SCENARIOS) {
    if (!o.scenarios.includes(sc.name)) continue;
    for (const metric of SCENARIO_METRICS[sc.name]!) {
      const [label, unit, lower] = METRICS[metric]!;
      const row = [sc.name, `${label} (${unit}) ${lower ? "↓" : "↑"}`];
      for (const s of servers) {
        const v = sum[s]?.[sc.name]?.median[metric];
        if (v === undefined) {
          row.push(sc.kind === "polling" && serverDef(s).mode === "raw" ? NO_POLLING : "–");
          continue;
        }
        const rs =
          metric === "clientUtil" || metric === "serverUtil"
            ? []
            : BASELINES.map((b) => [b, baselineFor(b, s)] as const)
                .filter(([, bs]) => bs !== s && servers.includes(bs) && sum[bs]?.[sc.name])
                .map(([b, bs]) => `${fmtRatio(ratioOf(sum, s, sc.name, metric, bs))} ${b === "uws" ? "uWS" : "SIO-ws"}`);
        const clientBound = metric === "deliveriesPerSec" && (sum[s]?.[sc.name]?.median.clientUtil ?? 0) >= CLIENT_BOUND_PCT;
        const cell = fmt(v) + (clientBound ? "†" : "");
        row.push(rs.length ? `${cell} (${rs.join(", ")})` : cell);
      }
      rows.push(row);
    }
  }
  return rows;
}

export function chart(o: Opts, sum: Summary): string {
  const servers = o.servers.filter((s) => sum[s] && s !== "wrong");
  const rowsFor = (base: string): ChartPanel["rows"] => {
    const rows: ChartPanel["rows"] = [];
    const add = (label: string, scenario: string, metric: string): void => {
      if (!o.scenarios.includes(scenario)) return;
      const values: Record<string, number> = {};
      for (const s of servers) values[s] = ratioOf(sum, s, scenario, metric, baselineFor(base, s));
      rows.push({ label, values });
    };
    for (const sc of ["one-room", "union4", "except", "socket-to", "mixed"]) add(`${sc} CPU/delivery`, sc, "cpuPer1k");
    add("latency p99", "latency", "p99");
    add("churn CPU/op", "churn", "cpuPer1kOps");
    add("ramp time to N", "ramp", "timeToN");
    add("RSS/connection", "memory", "rssPerConn");
    add("polling CPU/delivery", "polling", "cpuPer1k");
    add("polling latency p99", "polling", "p99");
    return rows;
  };
  const panels: ChartPanel[] = [];
  const has = (base: string) => servers.some((s) => baselineFor(base, s) === s && s.split("@")[0] === base);
  if (has("uws")) panels.push({ title: "÷ raw uWS pub/sub (the floor, same runtime)", rows: rowsFor("uws") });
  if (has("socketio-ws")) panels.push({ title: "÷ Socket.IO 4.8 on ws (same runtime)", rows: rowsFor("socketio-ws") });
  return ratioSvg(
    "roomgate end-to-end fan-out: ratios (median of reps)",
    `N=${o.n} connections, M=${o.m} messages/burst, ${o.size} B payload, ${o.reps} reps · ${new Date().toISOString().slice(0, 10)}`,
    panels,
    servers,
  );
}

/** --runtimes: each server on each later runtime ÷ the same server on the first one (CPU per delivery
 *  and latency p99), e.g. "roomgate@node24 ÷ roomgate@host: one-room 0.93×, …". */
export function runtimeComparison(o: Opts, sum: Summary): string[] {
  const [first, ...rest] = o.runtimes;
  if (!first) return [];
  const lines: string[] = [];
  const bases = [...new Set(o.servers.map((s) => s.split("@")[0]!))];
  for (const r of rest)
    for (const b of bases) {
      const [s, ref] = [`${b}@${r}`, `${b}@${first}`];
      if (!sum[s] || !sum[ref]) continue;
      const parts: string[] = [];
      for (const sc of ["one-room", "union4", "except", "socket-to", "mixed", "polling"])
        if (sum[s][sc]?.median.cpuPer1k !== undefined) parts.push(`${sc} CPU ${fmtRatio(ratioOf(sum, s, sc, "cpuPer1k", ref))}`);
      if (sum[s]["latency"]) parts.push(`latency p99 ${fmtRatio(ratioOf(sum, s, "latency", "p99", ref))}`);
      if (sum[s]["churn"]) parts.push(`churn CPU ${fmtRatio(ratioOf(sum, s, "churn", "cpuPer1kOps", ref))}`);
      lines.push(`${s} ÷ ${ref}: ${parts.join(", ")}`);
    }
  return lines;
}
