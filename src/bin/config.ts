// The gateway's configuration: every server option from the environment (ROOMGATE_* names) or a
// JSON file (ROOMGATE_CONFIG), the environment winning, validated before anything starts. One
// table lists each setting once (its environment name, its place in the file, its type), so a
// new option is one row. Knows no uWS and starts nothing: gateway.ts turns the result into a Server.
import { readFileSync } from "node:fs";
import type { ServerOptions } from "../api/options.ts";
import type { LogLevel } from "../engine/logger.ts";
import type { OperationsOptions } from "../ops/operations.ts";

type Kind = "port" | "uint" | "bool" | "string" | "list" | "level" | "path" | "boolOrPath";

interface Setting {
  /** Environment variable (aliases after the first). */
  env: string[];
  /** Dotted key in the config file and in the parsed result. */
  key: string;
  kind: Kind;
  help: string;
}

export const SETTINGS: Setting[] = [
  { env: ["PORT", "ROOMGATE_PORT"], key: "port", kind: "port", help: "port to listen on (default 3000)" },
  { env: ["HOST", "ROOMGATE_HOST"], key: "host", kind: "string", help: "address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)" },
  { env: ["APP", "ROOMGATE_APP"], key: "app", kind: "string", help: "application module (default: the example rooms app)" },
  {
    env: ["ROOMGATE_PARSER"],
    key: "parser",
    kind: "string",
    help: "packet format: a Socket.IO parser package, e.g. socket.io-msgpack-parser (clients, workers and emitters must all use it; default: Socket.IO's JSON)",
  },
  { env: ["ROOMGATE_CLUSTER"], key: "cluster", kind: "list", help: "NATS URL(s) of the relay; unset = standalone" },
  { env: ["ROOMGATE_CLUSTER_TOKEN"], key: "clusterAuth.token", kind: "string", help: "relay / nats-server token" },
  { env: ["ROOMGATE_CLUSTER_USER"], key: "clusterAuth.user", kind: "string", help: "relay / nats-server user" },
  { env: ["ROOMGATE_CLUSTER_PASS"], key: "clusterAuth.pass", kind: "string", help: "relay / nats-server password" },
  { env: ["ROOMGATE_CLUSTER_TLS_CA"], key: "clusterAuth.tlsCa", kind: "string", help: "PEM CA file: TLS to the relay, trusting it" },
  { env: ["ROOMGATE_LOG_LEVEL"], key: "logLevel", kind: "level", help: "debug, info, warn, error or silent (default info)" },
  { env: ["ROOMGATE_PATH"], key: "server.path", kind: "path", help: "endpoint path (default /socket.io)" },
  { env: ["ROOMGATE_PING_INTERVAL"], key: "server.pingInterval", kind: "uint", help: "ms (default 25000)" },
  { env: ["ROOMGATE_PING_TIMEOUT"], key: "server.pingTimeout", kind: "uint", help: "ms (default 20000)" },
  { env: ["ROOMGATE_MAX_PAYLOAD", "ROOMGATE_MAX_HTTP_BUFFER_SIZE"], key: "server.maxPayload", kind: "uint", help: "bytes (default 1e6)" },
  { env: ["ROOMGATE_CONNECT_TIMEOUT"], key: "server.connectTimeout", kind: "uint", help: "ms (default 45000)" },
  { env: ["ROOMGATE_ALLOWED_ORIGINS"], key: "server.allowedOrigins", kind: "list", help: "comma-separated origins (default any)" },
  { env: ["ROOMGATE_MAX_BACKPRESSURE"], key: "server.maxBackpressure", kind: "uint", help: "bytes (default 4 MiB)" },
  { env: ["ROOMGATE_MAX_CONNECTIONS"], key: "server.maxConnections", kind: "uint", help: "connections (default: fd limit less 10 %)" },
  { env: ["ROOMGATE_MAX_CONNECTIONS_PER_IP"], key: "server.maxConnectionsPerIp", kind: "uint", help: "connections per client address (default 10000)" },
  { env: ["ROOMGATE_DERIVED_TOPICS"], key: "server.derivedTopics", kind: "bool", help: "on/off (default off)" },
  {
    env: ["ROOMGATE_RECOVERY"],
    key: "server.connectionStateRecovery.maxDisconnectionDuration",
    kind: "uint",
    help: "ms a dropped client's session is kept: connection-state recovery (default off)",
  },
  { env: ["ROOMGATE_TRUST_PROXY"], key: "server.trustProxy", kind: "bool", help: "trust X-Forwarded-For/-Proto (default off)" },
  { env: ["ROOMGATE_PER_MESSAGE_DEFLATE"], key: "server.perMessageDeflate", kind: "bool", help: "permessage-deflate (default off)" },
  { env: ["ROOMGATE_REUSE_PORT"], key: "server.reusePort", kind: "bool", help: "share the port (set by the pm2 ecosystem)" },
  { env: ["ROOMGATE_TLS_KEY"], key: "server.tls.key", kind: "string", help: "PEM key file" },
  { env: ["ROOMGATE_TLS_CERT"], key: "server.tls.cert", kind: "string", help: "PEM certificate file" },
  { env: ["ROOMGATE_TLS_PASSPHRASE"], key: "server.tls.passphrase", kind: "string", help: "key passphrase" },
  { env: ["ROOMGATE_TLS_CA"], key: "server.tls.ca", kind: "string", help: "PEM CA file" },
  { env: ["ROOMGATE_HEALTH"], key: "operations.health", kind: "bool", help: "/healthz and /readyz (default on)" },
  { env: ["ROOMGATE_METRICS"], key: "operations.metrics", kind: "boolOrPath", help: "on or a path: Prometheus metrics (default off)" },
  { env: ["ROOMGATE_DASHBOARD"], key: "operations.dashboard", kind: "boolOrPath", help: "on or a path: live dashboard (default off)" },
  { env: ["ROOMGATE_OPS_TOKEN", "ROOMGATE_METRICS_TOKEN"], key: "operations.token", kind: "string", help: "bearer token for metrics and dashboard" },
  { env: ["ROOMGATE_OPS_PORT"], key: "operations.port", kind: "port", help: "own port for metrics and dashboard" },
  { env: ["ROOMGATE_OPS_HOST"], key: "operations.host", kind: "string", help: "its address (default 127.0.0.1)" },
];

export interface GatewayConfig {
  port: number;
  host: string;
  app?: string;
  /** Package name of a Socket.IO parser module (Socket.IO's `parser` option). */
  parser?: string;
  cluster?: string[];
  /** Credentials and TLS for the relay or nats-server (README "Securing a cluster"). */
  clusterAuth?: { token?: string; user?: string; pass?: string; tlsCa?: string };
  logLevel: LogLevel;
  server: Omit<ServerOptions, "logger" | "adapter" | "operations">;
  operations: OperationsOptions;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join("\n  ")}`);
  }
}

const LEVELS = ["debug", "info", "warn", "error", "silent"];
const TRUE = /^(1|true|on|yes)$/i;
const FALSE = /^(0|false|off|no)$/i;

/** Parses one value (a string from the environment, or any JSON value from the file). */
function parse(kind: Kind, raw: unknown): { value?: unknown; error?: string } {
  const fromEnv = typeof raw === "string";
  switch (kind) {
    case "port":
    case "uint": {
      const n = fromEnv ? (/^\s*\d+(\.\d+)?(e\d+)?\s*$/i.test(raw) ? Number(raw) : Number.NaN) : raw;
      const max = kind === "port" ? 65535 : Number.MAX_SAFE_INTEGER;
      if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > max)
        return { error: kind === "port" ? "must be a port number 0-65535" : "must be an integer >= 0" };
      return { value: n };
    }
    case "bool":
      if (typeof raw === "boolean") return { value: raw };
      if (fromEnv && TRUE.test(raw)) return { value: true };
      if (fromEnv && FALSE.test(raw)) return { value: false };
      return { error: "must be on/off (true/false, 1/0)" };
    case "boolOrPath":
      if (fromEnv && raw.startsWith("/")) return { value: { path: raw } };
      if (!fromEnv && typeof raw === "object" && raw !== null) return { value: raw };
      return parse("bool", raw);
    case "string":
      return typeof raw === "string" && raw.length > 0 ? { value: raw } : { error: "must be a non-empty string" };
    case "path":
      return typeof raw === "string" && raw.startsWith("/") ? { value: raw } : { error: 'must start with "/"' };
    case "level":
      return typeof raw === "string" && LEVELS.includes(raw) ? { value: raw } : { error: `must be one of ${LEVELS.join(", ")}` };
    case "list": {
      const list = fromEnv ? raw.split(",").map((s) => s.trim()) : raw;
      if (!Array.isArray(list) || list.length === 0 || list.some((s) => typeof s !== "string" || s.length === 0))
        return { error: "must be a comma-separated list (an array of strings in the file)" };
      return { value: list };
    }
  }
}

function getPath(obj: Record<string, unknown>, key: string): unknown {
  return key.split(".").reduce<unknown>((o, k) => (o && typeof o === "object" ? (o as Record<string, unknown>)[k] : undefined), obj);
}

function setPath(obj: Record<string, unknown>, key: string, value: unknown): void {
  const parts = key.split(".");
  let o = obj;
  for (const k of parts.slice(0, -1)) o = (o[k] ??= {}) as Record<string, unknown>;
  o[parts[parts.length - 1]] = value;
}

/** Levenshtein distance (names are short: a full table is fine). */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length];
}

/** ` (did you mean "X"?)` for the nearest of `known` (a third of the name's letters off at most,
 *  `prefix` left out of the count), or "". */
function didYouMean(name: string, known: readonly string[], prefix = ""): string {
  const bare = (n: string) => (n.startsWith(prefix) ? n.slice(prefix.length) : n).toUpperCase();
  let best = "";
  let bestDistance = Math.max(2, Math.floor(bare(name).length / 3)) + 1;
  for (const k of known) {
    const d = distance(bare(name), bare(k));
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best ? ` (did you mean "${best}"?)` : "";
}

/** Every environment name the gateway reads in its prefix (ROOMGATE_BENCH_* belong to bench/):
 *  the settings', ROOMGATE_CONFIG, and ROOMGATE_UWS (the uWS binding to load, read by engine/uws.ts
 *  at import). */
const ENV_NAMES = ["ROOMGATE_CONFIG", "ROOMGATE_UWS", ...SETTINGS.flatMap((s) => s.env).filter((n) => n.startsWith("ROOMGATE_"))];
const isOurs = (name: string) => name.startsWith("ROOMGATE_") && !name.startsWith("ROOMGATE_BENCH_");

/** Keys present in the file that no setting knows (a typo would otherwise be ignored silently). */
function unknownKeys(file: Record<string, unknown>, prefix = ""): string[] {
  const known = new Set(SETTINGS.map((s) => s.key));
  const out: string[] = [];
  for (const [k, v] of Object.entries(file)) {
    const key = prefix + k;
    if (known.has(key)) continue;
    const isParent = SETTINGS.some((s) => s.key.startsWith(key + "."));
    if (isParent && v && typeof v === "object" && !Array.isArray(v)) out.push(...unknownKeys(v as Record<string, unknown>, key + "."));
    else out.push(key);
  }
  return out;
}

/** The configuration from `env` (and the JSON file it names in ROOMGATE_CONFIG); throws a
 *  ConfigError listing every problem. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const problems: string[] = [];
  // A misspelt variable in our prefix would otherwise be ignored silently, like a file key.
  for (const name of Object.keys(env).sort())
    if (isOurs(name) && !ENV_NAMES.includes(name)) problems.push(`unknown environment variable ${name}${didYouMean(name, ENV_NAMES, "ROOMGATE_")}`);
  let file: Record<string, unknown> = {};
  if (env.ROOMGATE_CONFIG) {
    try {
      const parsed: unknown = JSON.parse(readFileSync(env.ROOMGATE_CONFIG, "utf8"));
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("not a JSON object");
      file = parsed as Record<string, unknown>;
      const keys = SETTINGS.map((s) => s.key);
      for (const key of unknownKeys(file)) problems.push(`${env.ROOMGATE_CONFIG}: unknown setting "${key}"${didYouMean(key, keys)}`);
    } catch (err) {
      problems.push(`ROOMGATE_CONFIG: cannot read ${env.ROOMGATE_CONFIG}: ${(err as Error).message}`);
    }
  }
  // Loopback unless asked: a gateway started to try it out should not be reachable from the network.
  const out: Record<string, unknown> = { port: 3000, host: "127.0.0.1", logLevel: "info", server: {}, operations: {} };
  for (const s of SETTINGS) {
    const envName = s.env.find((name) => env[name] !== undefined && env[name] !== "");
    const raw = envName ? env[envName] : getPath(file, s.key);
    if (raw === undefined) continue;
    const { value, error } = parse(s.kind, raw);
    const where = envName ?? `${env.ROOMGATE_CONFIG}: ${s.key}`;
    if (error) problems.push(`${where}=${JSON.stringify(raw)} ${error} (${s.help})`);
    else setPath(out, s.key, value);
  }
  const tls = getPath(out, "server.tls") as Record<string, unknown> | undefined;
  if (tls && (!tls.key || !tls.cert)) problems.push("TLS needs both ROOMGATE_TLS_KEY and ROOMGATE_TLS_CERT (tls.key and tls.cert)");
  if (problems.length > 0) throw new ConfigError(problems);
  return out as unknown as GatewayConfig;
}
