// The server's options: their names (Socket.IO's where Socket.IO has the option), defaults and
// the checks made at construction. One place, so every option is documented and validated once.
import type { RequestInfo } from "../engine/endpoint.ts";
import type { LogLevel, Logger } from "../engine/logger.ts";
import type { DerivedTopicOptions } from "../rooms/derived-topics.ts";
import type { AdapterConstructor } from "./adapter.ts";

export interface ServerOptions {
  /** URL path of the endpoint; default "/socket.io". */
  path?: string;
  /** Engine.IO heartbeat: ping every pingInterval ms, drop a client silent for pingTimeout more. */
  pingInterval?: number;
  pingTimeout?: number;
  /** Largest frame accepted from a client, in bytes (default 1e6); larger closes the connection. */
  maxPayload?: number;
  /** A connection must connect a namespace within this many ms (default 45000). */
  connectTimeout?: number;
  /** Browser origins allowed to connect (an Origin header not listed is refused); default: any. */
  allowedOrigins?: string[] | ((origin: string) => boolean);
  /** Asynchronous check before the upgrade is accepted (Socket.IO's allowRequest). */
  allowRequest?: (req: RequestInfo, callback: (err: string | null | undefined, success: boolean) => void) => void;
  /** Bytes a slow client may have buffered before it is disconnected (default 4 MiB). */
  maxBackpressure?: number;
  /** Off by default. On (`true` or `{ after, max }`), a composite target (union, except) broadcast
   *  to repeatedly gets a maintained native topic: ~10% less CPU on steady streams at the same
   *  latency, but joins/leaves of its rooms cost more (bench/RESULTS.md). */
  derivedTopics?: DerivedTopicOptions | boolean;
  /** The adapter class each namespace uses; a cluster of workers plugs in here with
   *  `createClusterAdapter({ servers })` (see README "Cluster"), as Socket.IO's adapters do. */
  adapter?: AdapterConstructor;
  /** Where roomgate logs: a pino-shaped logger, or a level for the console logger (default "info"). */
  logger?: Logger | LogLevel;
}

export type ResolvedOptions = Required<Omit<ServerOptions, "allowedOrigins" | "allowRequest" | "adapter" | "derivedTopics" | "logger">> &
  Pick<ServerOptions, "allowedOrigins" | "allowRequest"> & { derivedTopics: DerivedTopicOptions };

const DEFAULTS = {
  path: "/socket.io",
  pingInterval: 25000,
  pingTimeout: 20000,
  maxPayload: 1e6,
  connectTimeout: 45000,
  maxBackpressure: 4 * 1024 * 1024,
  derivedTopics: { max: 0 },
};

/** The options with their defaults filled in. */
export function resolveOptions(opts: ServerOptions): ResolvedOptions {
  const resolved = {
    ...DEFAULTS,
    ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)),
  } as ResolvedOptions;
  resolved.path = resolved.path.replace(/\/$/, "");
  if (typeof opts.derivedTopics === "boolean") resolved.derivedTopics = opts.derivedTopics ? {} : { max: 0 };
  return resolved;
}
