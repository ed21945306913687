// The operations routes of a gateway, attached as a server plugin (`operations: operations({...})`):
// /healthz (the process is alive), /readyz (listening, and the cluster link up when clustered),
// and, opt-in, /metrics (Prometheus text) and the live dashboard, protected by a bearer token
// and/or served on their own address (e.g. 127.0.0.1:9100, away from the clients' port).
// Knows the HTTP side only: figures come from ops/metrics.ts and ops/snapshot.ts.
import { timingSafeEqual } from "node:crypto";
import type { Server } from "../api/server.ts";
import type { ServerPlugin } from "../api/options.ts";
import uWS, { type HttpRequest, type HttpResponse, type TemplatedApp, type us_listen_socket } from "../engine/uws.ts";
import { DASHBOARD_HTML, dashboardData } from "./dashboard.ts";
import { createMetrics, type Metrics } from "./metrics.ts";
import { clusterNodeOf } from "./snapshot.ts";

export interface OperationsOptions {
  /** /healthz and /readyz on the clients' port (default true): load balancers and pm2 probe them. */
  health?: boolean;
  /** Prometheus text, off by default. `true` or `{ path }` (default "/metrics"). */
  metrics?: boolean | { path?: string; defaultMetrics?: boolean };
  /** The live dashboard page, off by default. `true` or `{ path }` (default "/dashboard"); its
   *  data is at `<path>.json`. */
  dashboard?: boolean | { path?: string };
  /** Required (as `Authorization: Bearer <token>` or `?token=`) for metrics and dashboard. */
  token?: string;
  /** Serve metrics and dashboard on this port instead of the clients' one (0 picks one). */
  port?: number;
  /** Address of that listener (default "127.0.0.1"). */
  host?: string;
}

export interface Operations extends ServerPlugin {
  /** The port of the separate metrics/dashboard listener, once listening (else undefined). */
  readonly port: number | undefined;
  /** Whether /readyz answers 200 now. */
  ready(): boolean;
  /** /readyz answers 503 from now on (a draining worker). */
  drain(): void;
}

export function operations(opts: OperationsOptions = {}): Operations {
  validate(opts);
  let io!: Server;
  let draining = false;
  let metrics: Promise<Metrics> | null = null;
  let ownApp: TemplatedApp | null = null;
  let ownSocket: us_listen_socket | null = null;
  let ownPort: number | undefined;
  const metricsPath = pathOf(opts.metrics, "/metrics");
  const dashboardPath = pathOf(opts.dashboard, "/dashboard");

  const ready = () => !draining && io.engineEndpoint.listening && (clusterNodeOf(io)?.link.connected ?? true);

  const protectedRoutes = (app: TemplatedApp) => {
    if (metricsPath) {
      app.get(metricsPath, (res, req) => {
        if (!authorized(req, opts.token)) return unauthorized(res);
        let aborted = false;
        res.onAborted(() => (aborted = true));
        const m = typeof opts.metrics === "object" ? opts.metrics : {};
        metrics ??= createMetrics(io, { defaultMetrics: m.defaultMetrics });
        metrics
          .then(async (mt) => {
            const text = await mt.text();
            if (!aborted) res.cork(() => res.writeStatus("200 OK").writeHeader("Content-Type", mt.contentType).end(text));
          })
          .catch((err) => {
            io.logger.error({ err }, "metrics failed");
            if (!aborted) res.cork(() => res.writeStatus("500 Internal Server Error").end("metrics failed"));
          });
      });
    }
    if (dashboardPath) {
      app.get(dashboardPath, (res, req) => {
        if (!authorized(req, opts.token)) return unauthorized(res);
        res.writeHeader("Content-Type", "text/html; charset=utf-8").writeHeader("Cache-Control", "no-store").end(DASHBOARD_HTML);
      });
      app.get(dashboardPath + ".json", (res, req) => {
        if (!authorized(req, opts.token)) return unauthorized(res);
        const search = new URLSearchParams(req.getQuery() ?? "").get("q") ?? "";
        const body = JSON.stringify(dashboardData(io, search.slice(0, 200)));
        res.writeHeader("Content-Type", "application/json").writeHeader("Cache-Control", "no-store").end(body);
      });
    }
  };

  return {
    get port() {
      return ownPort;
    },
    ready,
    drain() {
      draining = true;
    },
    attach(server, app) {
      io = server;
      if (opts.health !== false) {
        app.get("/healthz", (res) => void res.writeHeader("Content-Type", "application/json").end('{"status":"ok"}'));
        app.get("/readyz", (res) => {
          const ok = ready();
          res
            .writeStatus(ok ? "200 OK" : "503 Service Unavailable")
            .writeHeader("Content-Type", "application/json")
            .end(JSON.stringify(readiness(io, draining)));
        });
      }
      if (opts.port === undefined) protectedRoutes(app);
      // No notFound(app) here: the engine's endpoint already answers unrouted paths on the clients'
      // app with a 404 (and uWS aborts the process when "/*" is registered twice).
    },
    listen() {
      if (opts.port === undefined || ownSocket) return Promise.resolve();
      const host = opts.host ?? "127.0.0.1";
      const port = opts.port;
      ownApp = uWS.App();
      protectedRoutes(ownApp);
      notFound(ownApp);
      return new Promise<void>((resolve, reject) => {
        ownApp!.listen(host, port, (socket) => {
          if (!socket) return reject(new Error(`roomgate: cannot listen for metrics/dashboard on ${host}:${port} (address in use or not available)`));
          ownSocket = socket;
          ownPort = uWS.us_socket_local_port(socket);
          resolve();
        });
      });
    },
    close() {
      draining = true;
      if (ownSocket) uWS.us_listen_socket_close(ownSocket);
      ownSocket = null;
    },
  };
}

function readiness(io: Server, draining: boolean): Record<string, unknown> {
  const node = clusterNodeOf(io);
  return { listening: io.engineEndpoint.listening, draining, ...(node ? { cluster: { linkUp: node.link.connected } } : {}) };
}

function pathOf(option: boolean | { path?: string } | undefined, fallback: string): string | null {
  if (!option) return null;
  return (option === true ? undefined : option.path) ?? fallback;
}

function validate(opts: OperationsOptions): void {
  for (const [name, option] of [
    ["metrics", opts.metrics],
    ["dashboard", opts.dashboard],
  ] as const) {
    const path = typeof option === "object" ? option.path : undefined;
    if (path !== undefined && (typeof path !== "string" || !path.startsWith("/")))
      throw new TypeError(`roomgate: ${name}.path must start with "/", got ${JSON.stringify(path)}`);
  }
  if (opts.token !== undefined && (typeof opts.token !== "string" || opts.token.length === 0))
    throw new TypeError("roomgate: operations token must be a non-empty string");
  if (opts.port !== undefined && (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535))
    throw new TypeError(`roomgate: operations port must be an integer 0-65535, got ${JSON.stringify(opts.port)}`);
}

function authorized(req: HttpRequest, token: string | undefined): boolean {
  if (token === undefined) return true;
  const header = req.getHeader("authorization");
  const given = header.startsWith("Bearer ") ? header.slice(7) : (new URLSearchParams(req.getQuery() ?? "").get("token") ?? "");
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Anything unrouted gets a 404 (uWS alone closes the connection without a reply). Least
 *  specific pattern, so every other route wins over it. */
function notFound(app: TemplatedApp): void {
  app.any("/*", (res) => void res.writeStatus("404 Not Found").end("not found"));
}

function unauthorized(res: HttpResponse): void {
  res.writeStatus("401 Unauthorized").writeHeader("WWW-Authenticate", "Bearer").end("unauthorized");
}
