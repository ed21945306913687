// The "Compression" section of bench/RESULTS.md (issue #14): what permessage-deflate costs each
// server per delivery, from two runs of the same command, one with --deflate and one without
// (what bench/e2e/run.ts writes as results.json). Written by bench/e2e/compression-md.ts.
import { interferenceLine } from "./e2e-report.ts";
import type { RunJson } from "./polling-report.ts";
import { fmt, fmtRatio, markdownTable } from "./report.ts";
import { serverDef } from "./servers.ts";

/** RESULTS.md's name of the section. */
export const COMPRESSION_SECTION = "compression";

/** The WebSocket burst scenarios the section reports (those both runs have). */
const SCENARIOS = ["one-room", "union4", "except", "socket-to", "mixed"];

/** What each server negotiates and compresses with --deflate (bench/e2e/servers/). */
const HOW: Record<string, string> = {
  roomgate: "`perMessageDeflate: true`: uWS's shared compressor, no context takeover, frames ≥ 1024 B",
  uws: "`compression: SHARED_COMPRESSOR`, publish(…, compress) for frames ≥ 1024 B",
  "socketio-ws": "`perMessageDeflate: true` (ws: context takeover, per-connection zlib, frames > 1024 B)",
  "socketio-uws":
    "`perMessageDeflate: true` + attachApp `compression: SHARED_COMPRESSOR` (no takeover); its single-room fast path `app.publish` passes no compress flag, so one-room goes out uncompressed",
};

export function compressionSection(on: RunJson, off: RunJson): string {
  if (!on.options.deflate || off.options.deflate) throw new Error("compressionSection(on, off): the first run needs --deflate, the second must not have it");
  const o = on.options;
  const servers = o.servers.filter((s) => on.results[s] && off.results[s]);
  const scenarios = SCENARIOS.filter((sc) => servers.some((s) => on.results[s]![sc] && off.results[s]![sc]));
  const L: string[] = ["## Compression (issue #14)", ""];
  L.push(
    `permessage-deflate's CPU cost per delivery: the same run twice, with \`--deflate\` (the load clients offer`,
    "`permessage-deflate; client_max_window_bits` and inflate every compressed message before checking it; every server",
    "turns compression on as below) and without. Every delivery is verified exactly once and in order in both runs.",
    `N = ${o.n}, M = ${o.m} messages of ${o.size} bytes per burst (frames of ~${o.size + 10} B: above the 1024-byte threshold`,
    "of roomgate, Socket.IO and the raw uWS server here; the bench's default 100-byte payload would not be compressed at all),",
    `${o.reps} rep(s), medians. The payload's pad reads like JSON text and deflates ~2:1 per message on its own.`,
    "",
  );
  L.push(`Commands: \`${on.command}\` and \`${off.command}\`  `, `Dates: ${on.date}, ${off.date}  `);
  L.push(`Interference: with --deflate ${interferenceLine(on.interference)}; without ${interferenceLine(off.interference)}`, "");
  L.push("Servers with --deflate:", "", ...servers.map((s) => `- ${serverDef(s).label}: ${HOW[s] ?? "?"}`), "");

  const rows: string[][] = [
    ["scenario", "server", "CPU/1k off (µs)", "CPU/1k on (µs)", "on ÷ off", "+µs per delivery", "compressed", "wire ratio", "deliveries/s off → on"],
  ];
  for (const sc of scenarios) {
    for (const s of servers) {
      const a = off.results[s]![sc]?.median;
      const b = on.results[s]![sc]?.median;
      if (!a || !b) continue;
      const offCpu = a.cpuPer1k ?? NaN;
      const onCpu = b.cpuPer1k ?? NaN;
      rows.push([
        sc,
        s,
        fmt(offCpu),
        fmt(onCpu),
        fmtRatio(onCpu / offCpu),
        fmt((onCpu - offCpu) / 1000),
        `${fmt(b.compressedPct ?? NaN)} %`,
        (b.compressedPct ?? 0) > 0 ? `${fmt(b.deflateRatio ?? NaN)}:1` : "–",
        `${fmt(a.deliveriesPerSec ?? NaN)} → ${fmt(b.deliveriesPerSec ?? NaN)}`,
      ]);
    }
  }
  L.push(
    "CPU/1k = the server's process.cpuUsage() over the bursts ÷ verified deliveries × 1000; compressed = messages that",
    "arrived with RSV1 ÷ deliveries; wire ratio = inflated ÷ compressed bytes of those messages.",
    "",
  );
  L.push(markdownTable(rows), "");
  const spread = (run: RunJson, s: string, sc: string): string => {
    const xs = (run.results[s]?.[sc]?.reps ?? []).map((r) => r.metrics.cpuPer1k ?? NaN).filter(Number.isFinite);
    return xs.length ? `${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))}` : "–";
  };
  L.push(
    "Range over the reps (CPU/1k, mixed): " + servers.map((s) => `${s} off ${spread(off, s, "mixed")}, on ${spread(on, s, "mixed")}`).join("; ") + ".",
    "",
  );
  const bad = [...on.failures, ...off.failures];
  if (bad.length === 0 && on.fatal === null && off.fatal === null)
    L.push("Correctness: no duplicate, missing, wrong-recipient or out-of-order delivery in either run.", "");
  else {
    L.push("**FAILED**:", "");
    for (const f of bad) L.push(`- ${f.server} / ${f.scenario} / rep ${f.rep + 1}: ${f.message}`);
    L.push("");
  }
  return L.join("\n");
}
