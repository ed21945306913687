// The live dashboard: one self-contained HTML page (no external assets) that polls
// `<path>.json` every second, and the JSON itself. Aggregates only (counts, the largest rooms,
// counters the page turns into rates), never per-socket lists: Socket.IO's admin UI stalls past
// ~1k sockets because it ships every socket. Room names are user input: the page sets them as
// text, never as HTML.
import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";
import type { Server } from "../api/server.ts";
import { clusterView, limitsHit, topRooms } from "./snapshot.ts";

const TOP_ROOMS = 20;
/** Sampling period of the event-loop delay histogram, in ms; Node's samples include it. */
const RESOLUTION_MS = 10;
let loopDelay: IntervalHistogram | null = null;

/** What the page polls. Counters are totals since start; the page derives rates. */
export function dashboardData(io: Server, search: string) {
  if (!loopDelay) {
    loopDelay = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
    loopDelay.enable();
  }
  const summary = io.engineEndpoint.sessionSummary();
  const d = io.delivery.stats;
  const path = (c: { broadcasts: number; deliveries: number; bytes: number }) => ({ broadcasts: c.broadcasts, deliveries: c.deliveries, bytes: c.bytes });
  const data = {
    time: Date.now(),
    pid: process.pid,
    uptime: Math.round(process.uptime()),
    connections: { total: io.engineEndpoint.clientsCount, byTransport: Object.fromEntries(summary.byTransport), congested: summary.congested },
    namespaces: [...io._nsps].map(([name, nsp]) => ({ name, sockets: nsp.sockets.size })),
    rooms: topRooms(io, TOP_ROOMS, search),
    delivery: { native: path(d.native), derived: path(d.derived), per_socket: path(d.per_socket), direct: path(d.direct) },
    backpressureDropped: d.volatileDropped,
    disconnects: Object.fromEntries(io.engineEndpoint.stats.disconnects),
    refused: Object.fromEntries(
      [...io.engineEndpoint.stats.refused].flatMap(([reason, causes]) => [...causes].map(([cause, n]) => [`${reason} (${cause})`, n])),
    ),
    limitsHit: Object.fromEntries(limitsHit(io).filter(([, n]) => n > 0)),
    eventLoop: { p50Ms: delayMs(loopDelay.percentile(50)), p99Ms: delayMs(loopDelay.percentile(99)), maxMs: delayMs(loopDelay.max) },
    memory: { rss: process.memoryUsage.rss() },
    cluster: clusterView(io),
  };
  loopDelay.reset();
  return data;
}

/** A sample (ns, the sampling period included) as the delay beyond the period, in ms. */
function delayMs(ns: number): number {
  return Number.isFinite(ns) ? Math.max(0, ns / 1e6 - RESOLUTION_MS) : 0;
}

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>roomgate</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px system-ui,sans-serif;margin:0;background:#0f1419;color:#e6e6e6}
header{padding:12px 20px;background:#1a2330;display:flex;gap:16px;align-items:baseline}
h1{font-size:18px;margin:0} #status{color:#8a9}
main{padding:16px 20px;display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:16px}
section{background:#1a2330;border-radius:8px;padding:12px 16px}
h2{font-size:13px;text-transform:uppercase;letter-spacing:.05em;color:#9ab;margin:0 0 8px}
.big{font-size:32px;font-weight:600} table{width:100%;border-collapse:collapse}
td,th{padding:3px 6px;text-align:left;border-bottom:1px solid #263241} td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
input{width:100%;box-sizing:border-box;padding:6px;background:#0f1419;color:#e6e6e6;border:1px solid #334;border-radius:4px;margin-bottom:8px}
.bar{height:6px;background:#3b82f6;border-radius:3px}
</style></head><body>
<header><h1>roomgate</h1><span id="status">connecting…</span></header>
<main>
<section><h2>Connections</h2><div class="big" id="connections">–</div><table id="transports"></table></section>
<section><h2>Delivery rates (per second)</h2><table id="rates"></table></section>
<section><h2>Latency and backpressure</h2><table id="latency"></table></section>
<section><h2>Cluster</h2><table id="cluster"></table></section>
<section style="grid-column:1/-1"><h2>Rooms <span id="roomcount"></span></h2>
<input id="search" placeholder="search rooms by name" autocomplete="off"><table id="rooms"></table></section>
<section><h2>Disconnects, refusals, limits</h2><table id="events"></table></section>
</main>
<script>
"use strict";
const token = new URLSearchParams(location.search).get("token");
const url = location.pathname.replace(/\\/$/, "") + ".json";
let last = null;
function rows(id, header, list) {
  const t = document.getElementById(id);
  t.replaceChildren();
  const add = (cells, tag) => {
    const tr = document.createElement("tr");
    cells.forEach((c, i) => { const td = document.createElement(tag); td.textContent = String(c); if (i > 0) td.className = "n"; tr.append(td); });
    t.append(tr);
  };
  if (header) add(header, "th");
  list.forEach((r) => add(r, "td"));
}
const fmt = (n) => (n >= 1e6 ? (n / 1e6).toFixed(1) + "M" : n >= 1e4 ? (n / 1e3).toFixed(1) + "k" : String(Math.round(n * 10) / 10));
function render(d) {
  document.getElementById("connections").textContent = fmt(d.connections.total);
  rows("transports", null, Object.entries(d.connections.byTransport).concat(d.namespaces.map((n) => ["namespace " + n.name, n.sockets])));
  const dt = last ? (d.time - last.time) / 1000 : 0;
  rows("rates", ["path", "broadcasts", "deliveries", "bytes"], Object.keys(d.delivery).map((p) => {
    const c = d.delivery[p], o = last ? last.delivery[p] : c;
    return [p, fmt(dt ? (c.broadcasts - o.broadcasts) / dt : 0), fmt(dt ? (c.deliveries - o.deliveries) / dt : 0), fmt(dt ? (c.bytes - o.bytes) / dt : 0)];
  }));
  rows("latency", null, [
    ["event-loop delay p50 (ms)", d.eventLoop.p50Ms.toFixed(2)], ["event-loop delay p99 (ms)", d.eventLoop.p99Ms.toFixed(2)],
    ["congested connections", d.connections.congested], ["backpressure drops", d.backpressureDropped], ["RSS (MB)", (d.memory.rss / 1048576).toFixed(0)]]);
  const c = d.cluster;
  rows("cluster", null, c ? [["this worker", c.id], ["link", c.linkUp ? "up" : "DOWN"], ["workers", c.peers.length + 1],
    ["broadcasts in / out", c.broadcastsIn + " / " + c.broadcastsOut], ["dropped (unreachable)", c.unreachableDropped]] : [["mode", "standalone (pid " + d.pid + ")"]]);
  document.getElementById("roomcount").textContent = "(" + d.rooms.total + (d.rooms.matched !== d.rooms.total ? ", " + d.rooms.matched + " match" : "") + ")";
  rows("rooms", ["namespace", "room", "sockets"], d.rooms.top.map((r) => [r.nsp, r.room, r.size]));
  rows("events", ["event", "reason", "count"], Object.entries(d.disconnects).map(([k, v]) => ["disconnect", k, v]).concat(Object.entries(d.refused).map(([k, v]) => ["refused", k, v]), Object.entries(d.limitsHit).map(([k, v]) => ["limit hit", k, v])));
  document.getElementById("status").textContent = "live, updated " + new Date(d.time).toLocaleTimeString() + ", up " + d.uptime + " s";
  last = d;
}
async function poll() {
  try {
    const q = new URLSearchParams();
    if (token) q.set("token", token);
    const s = document.getElementById("search").value;
    if (s) q.set("q", s);
    const r = await fetch(url + "?" + q, { cache: "no-store" });
    if (!r.ok) throw new Error("HTTP " + r.status);
    render(await r.json());
  } catch (e) { document.getElementById("status").textContent = "error: " + e.message; }
  setTimeout(poll, 1000);
}
poll();
</script></body></html>`;
