// Prometheus metrics of one gateway through prom-client (loaded only when metrics are on). Every
// roomgate metric is read from the plain counters the engine, delivery, API and cluster layers
// keep (bumped once per broadcast or per connection event) when Prometheus scrapes, so metrics
// cost the hot path nothing beyond those integers. Process and event-loop metrics are
// prom-client's defaults. Knows no HTTP routes (ops/operations.ts serves the text).
import type { Server } from "../api/server.ts";
import type { PathCounters } from "../rooms/delivery-stats.ts";
import { clusterNodeOf, clusterView, forEachRoom, limitsHit } from "./snapshot.ts";

type PromClient = typeof import("prom-client");

/** Upper bounds of the sockets-per-room histogram: a fixed, small set whatever the room count. */
export const ROOM_SIZE_BUCKETS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

const PATHS = ["native", "derived", "per_socket", "direct"] as const;

export interface Metrics {
  contentType: string;
  text(): Promise<string>;
}

export async function createMetrics(io: Server, opts: { defaultMetrics?: boolean } = {}): Promise<Metrics> {
  const prom: PromClient = await import("prom-client");
  const registry = new prom.Registry();
  if (opts.defaultMetrics !== false) prom.collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const engine = io.engineEndpoint;
  const delivery = io.delivery.stats;

  /** A counter whose value is read from our own integers at scrape time. */
  const counter = (name: string, help: string, labelNames: string[], read: () => Iterable<[Record<string, string>, number]>) =>
    new prom.Counter({
      name,
      help,
      labelNames,
      registers,
      collect() {
        this.reset();
        for (const [labels, value] of read()) this.inc(labels, value);
      },
    });
  const gauge = (name: string, help: string, labelNames: string[], read: () => Iterable<[Record<string, string>, number]>) =>
    new prom.Gauge({
      name,
      help,
      labelNames,
      registers,
      collect() {
        this.reset();
        for (const [labels, value] of read()) this.set(labels, value);
      },
    });
  const byPath = (pick: (c: PathCounters) => number) => () => PATHS.map((path) => [{ path }, pick(delivery[path])] as [Record<string, string>, number]);
  const byKey = (label: string, map: Map<string, number>) => () => [...map].map(([k, v]) => [{ [label]: k }, v] as [Record<string, string>, number]);

  gauge("roomgate_connections", "Open client sessions, by transport.", ["transport"], () => {
    const { byTransport } = engine.sessionSummary();
    if (!byTransport.has("websocket")) byTransport.set("websocket", 0);
    return [...byTransport].map(([transport, n]) => [{ transport }, n]);
  });
  counter("roomgate_connections_opened_total", "Client sessions opened since start.", [], () => [[{}, engine.stats.opened]]);
  counter(
    "roomgate_sessions_moved_total",
    "Polling sessions moved between workers at their WebSocket upgrade (cluster, connection-state recovery).",
    ["direction"],
    () => [
      [{ direction: "in" }, engine.stats.movedIn],
      [{ direction: "out" }, engine.stats.movedOut],
    ],
  );
  gauge("roomgate_namespaces", "Namespaces.", [], () => [[{}, io._nsps.size]]);
  gauge("roomgate_rooms", "Application rooms (a socket's own room excluded), by namespace.", ["namespace"], () =>
    [...io._nsps].map(([name, nsp]) => {
      let n = 0;
      for (const _ of nsp.adapter.rooms.applicationRooms()) n++;
      return [{ namespace: name }, n];
    }),
  );
  new prom.Histogram({
    name: "roomgate_room_sockets",
    help: "Sockets per application room (a snapshot at scrape time, not a history).",
    buckets: ROOM_SIZE_BUCKETS,
    registers,
    collect() {
      this.reset();
      forEachRoom(io, (_nsp, _room, size) => this.observe(size));
    },
  });
  counter(
    "roomgate_broadcasts_total",
    "Broadcasts by delivery path (a broadcast split over two paths counts on both).",
    ["path"],
    byPath((c) => c.broadcasts),
  );
  counter(
    "roomgate_deliveries_total",
    "Messages delivered to sockets, by delivery path.",
    ["path"],
    byPath((c) => c.deliveries),
  );
  counter(
    "roomgate_bytes_out_total",
    "Frame bytes written to sockets (before compression and WebSocket framing), by path.",
    ["path"],
    byPath((c) => c.bytes),
  );
  counter("roomgate_backpressure_dropped_total", "Volatile messages skipped because the recipient was congested.", [], () => [[{}, delivery.volatileDropped]]);
  gauge("roomgate_congested_connections", "Sessions with unsent bytes buffered at scrape time.", [], () => [[{}, engine.sessionSummary().congested]]);
  counter("roomgate_disconnects_total", "Sessions ended, by reason.", ["reason"], byKey("reason", engine.stats.disconnects));
  counter(
    "roomgate_handshakes_refused_total",
    "Requests refused, by Engine.IO error (reason) and by what the endpoint knows of it (cause: protocol, origin, ambiguous_origin, allow_request, allow_request_timeout, max_connections, max_connections_per_ip).",
    ["reason", "cause"],
    () => [...engine.stats.refused].flatMap(([reason, causes]) => [...causes].map(([cause, n]) => [{ reason, cause }, n] as [Record<string, string>, number])),
  );
  counter("roomgate_limits_hit_total", "Connections refused or cut, and joins refused, by the limit that did it.", ["limit"], () =>
    limitsHit(io).map(([limit, n]) => [{ limit }, n] as [Record<string, string>, number]),
  );
  counter("roomgate_backpressure_cut_total", "Clients disconnected because they fell more than maxBackpressure behind (close 1008).", [], () => [
    [{}, engine.stats.limitsHit.get("maxBackpressure") ?? 0],
  ]);
  counter("roomgate_acks_timed_out_total", "Acknowledgements that timed out (emit with timeout()).", [], () => [[{}, io.stats.acksTimedOut]]);

  if (clusterNodeOf(io)) {
    const view = () => clusterView(io)!;
    gauge("roomgate_cluster_link_up", "1 while connected to the relay / NATS.", [], () => [[{}, view().linkUp ? 1 : 0]]);
    gauge("roomgate_cluster_workers", "Workers in the cluster as seen from here (this one included).", [], () => [[{}, view().peers.length + 1]]);
    counter("roomgate_cluster_broadcasts_total", "Broadcasts exchanged with other workers.", ["direction"], () => {
      const v = view();
      return [
        [{ direction: "in" }, v.broadcastsIn],
        [{ direction: "out" }, v.broadcastsOut],
      ];
    });
    counter("roomgate_cluster_messages_total", "NATS messages exchanged with the relay.", ["direction"], () => {
      const v = view();
      return [
        [{ direction: "in" }, v.msgsIn],
        [{ direction: "out" }, v.msgsOut],
      ];
    });
    counter("roomgate_cluster_bytes_total", "NATS payload bytes exchanged with the relay.", ["direction"], () => {
      const v = view();
      return [
        [{ direction: "in" }, v.bytesIn],
        [{ direction: "out" }, v.bytesOut],
      ];
    });
    counter("roomgate_cluster_gaps_total", 'Relay outages reported to the application as "cluster-gap".', [], () => [[{}, view().gaps]]);
    counter(
      "roomgate_cluster_gap_lost_total",
      'Messages to other workers lost in "cluster-gap" outages: sent but unconfirmed, or dropped while the relay was unreachable.',
      ["kind"],
      () => {
        const v = view();
        return [
          [{ kind: "unconfirmed" }, v.gapUnconfirmed],
          [{ kind: "dropped" }, v.gapDropped],
        ];
      },
    );
    counter("roomgate_cluster_gap_seconds_total", 'Length of the "cluster-gap" outages, summed.', [], () => [[{}, view().gapMs / 1000]]);
    counter(
      "roomgate_cluster_dropped_total",
      "Cross-worker messages dropped: relay unreachable, duplicates filtered, or payloads that do not decode.",
      ["reason"],
      () => {
        const v = view();
        return [
          [{ reason: "unreachable" }, v.unreachableDropped],
          [{ reason: "duplicate" }, v.duplicatesDropped],
          [{ reason: "undecodable" }, v.undecodable],
        ];
      },
    );
  }
  return { contentType: registry.contentType, text: () => registry.metrics() };
}
