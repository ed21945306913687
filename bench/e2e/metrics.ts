// What the end-to-end benchmark measures: one rep's figures of one scenario on one server, the
// catalogue of metrics (label, unit, which way is better) and which scenario reports which, and
// reading a server's CPU time (its own process.cpuUsage(), all threads).
import type { Errors } from "./delivery-errors.ts";
import type { Peer } from "../lib/peer.ts";

export type Metrics = Record<string, number>;
export interface RepResult {
  rep: number;
  metrics: Metrics;
  errors: Errors;
  incomplete: boolean;
  examples: string[];
}
export interface Failure {
  server: string;
  scenario: string;
  rep: number;
  message: string;
}

/** metric key -> [label, unit, lower-is-better] */
export const METRICS: Record<string, [string, string, boolean]> = {
  cpuPer1k: ["server CPU per 1k deliveries", "µs", true],
  deliveriesPerSec: ["deliveries/s (wall)", "/s", false],
  clientUtil: ["client CPU (of 1 core)", "%", true],
  serverUtil: ["server CPU busy (of 1 core)", "%", true],
  p50: ["latency p50", "ms", true],
  p99: ["latency p99", "ms", true],
  p999: ["latency p999", "ms", true],
  latCpuPer1k: ["server CPU per 1k deliveries, steady rate", "µs", true],
  cpuPer1kOps: ["server CPU per 1k join/leave ops", "µs", true],
  opsPerSec: ["join/leave ops/s", "/s", false],
  timeToN: ["time to N connections", "ms", true],
  connsPerSec: ["connections/s", "/s", false],
  cpuPerConn: ["server CPU per connection", "µs", true],
  rssPerConn: ["RSS per connection", "KB", true],
  heapPerConn: ["JS heap per connection", "KB", true],
};
export const SCENARIO_METRICS: Record<string, string[]> = {
  "one-room": ["cpuPer1k", "deliveriesPerSec", "clientUtil"],
  union4: ["cpuPer1k", "deliveriesPerSec", "clientUtil"],
  except: ["cpuPer1k", "deliveriesPerSec", "clientUtil"],
  "socket-to": ["cpuPer1k", "deliveriesPerSec", "clientUtil"],
  mixed: ["cpuPer1k", "deliveriesPerSec", "clientUtil"],
  latency: ["p50", "p99", "p999", "cpuPer1k", "serverUtil"],
  churn: ["cpuPer1kOps", "opsPerSec"],
  ramp: ["timeToN", "connsPerSec", "cpuPerConn"],
  memory: ["rssPerConn", "heapPerConn"],
  reconnect: ["timeToN", "cpuPerConn"],
  polling: ["cpuPer1k", "deliveriesPerSec", "clientUtil", "p50", "p99", "latCpuPer1k"],
};

/** Client CPU (% of one core) from which a wall-clock figure is marked as client-bound. */
export const CLIENT_BOUND_PCT = 75;

/** The server's own CPU time so far (user + system, µs), as it reports it over IPC. */
export async function readServerCpuUs(srv: Peer): Promise<number> {
  return (await srv.request({ cmd: "cpu" })).us as number;
}
