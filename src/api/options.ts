// The server's options: their names (Socket.IO's where Socket.IO has the option), defaults and
// the checks made at construction. One place, so every option is documented and validated once.
import type { CorsOptions } from "../engine/http/cors.ts";
import type { PerMessageDeflate, TlsOptions } from "../engine/app.ts";
import type { RequestInfo } from "../engine/endpoint.ts";
import { fdBoundedMaxConnections } from "../engine/limits.ts";
import type { LogLevel, Logger } from "../engine/logger.ts";
import { type CookieOptions, resolveCookie } from "../engine/http/session-cookie.ts";
import type { AddressRateLimit, InboundRateLimit } from "../engine/rate-limit.ts";
import { type Parser, PacketParser } from "../engine/parser.ts";
import type { DerivedTopicOptions } from "../rooms/derived-topics.ts";
import type { AdapterConstructor } from "./adapter.ts";
import { RECOVERY_DEFAULTS, type RecoveryOptions, type ResolvedRecoveryOptions } from "./recovery/options.ts";

export interface ServerOptions {
  /** URL path of the endpoint; default "/socket.io". */
  path?: string;
  /** Engine.IO heartbeat: ping every pingInterval ms, drop a client silent for pingTimeout more. */
  pingInterval?: number;
  pingTimeout?: number;
  /** Largest message accepted from a client, in bytes (default 1e6): a WebSocket frame, the
   *  attachments of one packet together, a polling POST body. Larger closes the session. */
  maxHttpBufferSize?: number;
  /** Alias of maxHttpBufferSize (roomgate's earlier name); maxHttpBufferSize wins when both are set. */
  maxPayload?: number;
  /** Transports clients may use, Socket.IO's default ["polling", "websocket"]: polling sessions
   *  upgrade to WebSocket. */
  transports?: ("polling" | "websocket")[];
  /** Whether polling sessions may upgrade to WebSocket (default true). */
  allowUpgrades?: boolean;
  /** Milliseconds an upgrade may take before it is abandoned (default 10000). */
  upgradeTimeout?: number;
  /** CORS for the polling requests, the `cors` package's options (default: none, so browsers
   *  only reach it from the same origin, as with Socket.IO). */
  cors?: CorsOptions;
  /** A session cookie on the handshake, for load balancers that route by cookie: `true` for
   *  Socket.IO's `io` cookie, or its options (default false). */
  cookie?: boolean | CookieOptions;
  /** Compression of polling responses from `threshold` bytes (default 1024) for clients that accept
   *  gzip or deflate; `false` turns it off (default on, as in Socket.IO). */
  httpCompression?: boolean | { threshold?: number };
  /** A connection must connect a namespace within this many ms (default 45000). */
  connectTimeout?: number;
  /** Browser origins allowed to connect (an Origin header not listed is refused); default: any. */
  allowedOrigins?: string[] | ((origin: string) => boolean);
  /** Asynchronous check before the upgrade is accepted (Socket.IO's allowRequest). */
  allowRequest?: (req: RequestInfo, callback: (err: string | null | undefined, success: boolean) => void) => void;
  /** An allowRequest that has not called back within this many ms refuses the upgrade with 503
   *  (default 10000). */
  allowRequestTimeout?: number;
  /** Bytes a slow client may have buffered before it is disconnected (default 4 MiB). */
  maxBackpressure?: number;
  /** Connections the process holds at once; past it, upgrades get 503. Default: the soft
   *  file-descriptor limit less 10 % (at least 256) of headroom, e.g. 18,000 under `ulimit -n 20000`.
   *  A value above that is clamped to it, with a warning at start (more would bring back uWS's
   *  EMFILE accept loop: one core at 100 %, clients left hanging). */
  maxConnections?: number;
  /** Connections one client address may hold at once (default 10,000: NAT-friendly, but one host
   *  cannot take the whole server). */
  maxConnectionsPerIp?: number;
  /** Inbound budgets, per connection and (`perAddress`) shared by the connections of one client
   *  address: more than `events` packets, `bytes` bytes or `deliveries` (the recipients here of the
   *  broadcasts its events cause) within `interval` ms disconnects the client with reason
   *  "rate limit exceeded" (the close reason names the budget). Counted on arrival: time the
   *  server's event loop was late is credited back. Default { events: 1000, bytes: 8 MiB,
   *  deliveries: 500,000, interval: 1000, perAddress: { bytes: 32 MiB, deliveries: 1,000,000 } }
   *  (README "Limits and abuse"); `false` turns it off, `perAddress: false` the shared one. */
  inboundRateLimit?: (Partial<Omit<InboundRateLimit, "perAddress">> & { perAddress?: Partial<AddressRateLimit> | false }) | false;
  /** Rooms one socket may be in (its own id room included); a join past it throws RangeError.
   *  Default 10,000. */
  maxRoomsPerSocket?: number;
  /** Longest room name, in characters (default 1024). */
  maxRoomNameLength?: number;
  /** Off by default. On (`true` or `{ after, max }`), a composite target (union, except) broadcast
   *  to repeatedly gets a maintained native topic: ~10% less CPU on steady streams at the same
   *  latency, but joins/leaves of its rooms cost more (bench/RESULTS.md). */
  derivedTopics?: DerivedTopicOptions | boolean;
  /** The adapter class each namespace uses; a cluster of workers plugs in here with
   *  `createClusterAdapter({ servers })` (see README "Cluster"), as Socket.IO's adapters do. */
  adapter?: AdapterConstructor;
  /** Where roomgate logs: a pino-shaped logger, or a level for the console logger (default "info"). */
  logger?: Logger | LogLevel;
  /** Socket.IO's option: a child of a dynamic namespace (`io.of(/regex/)`) is removed once its
   *  last socket leaves (default false). */
  cleanupEmptyChildNamespaces?: boolean;
  /** Off by default. On (`{}` or with options), a client that lost its connection gets its socket
   *  back (id, rooms, data) and every event it missed, within maxDisconnectionDuration (README,
   *  "Connection-state recovery"). Events then carry their offset as a last argument. */
  connectionStateRecovery?: RecoveryOptions;
  /** Serve wss:// (uWS's SSLApp): `{ key, cert }` PEM file paths, optional `passphrase`, `ca`. */
  tls?: TlsOptions;
  /** Behind a reverse proxy: take the client's address from X-Forwarded-For and `handshake.secure`
   *  from X-Forwarded-Proto (default false: a client could forge them). */
  trustProxy?: boolean;
  /** permessage-deflate, off by default (it costs CPU per delivery, see README "Operations").
   *  `true` or `{ compressor, threshold }`; `compress(false)` on an emit skips it. */
  perMessageDeflate?: PerMessageDeflate;
  /** Share the port with other processes (SO_REUSEPORT), as the cluster's workers do on purpose.
   *  Default false: a second server on the same port fails to listen. */
  reusePort?: boolean;
  /** Health, metrics and dashboard routes (`operations({ ... })` from "roomgate"), or any plugin
   *  attached to the server at construction and closed with it. */
  operations?: ServerPlugin;
  /** Socket.IO's option: the packet format, a parser module of socket.io-parser's shape (e.g.
   *  `import * as msgpackParser from "socket.io-msgpack-parser"`). The clients must use the same
   *  one (socket.io-client's `parser` option), and so must every worker of a cluster and its
   *  emitters. Default: Socket.IO's JSON format (socket.io-parser). */
  parser?: Parser;
}

/** Something attached to a server for its lifetime (the operations routes are one). */
export interface ServerPlugin {
  /** `app`: the server's uWS app, to add HTTP routes to. */
  attach(io: import("./server.ts").Server, app: import("../engine/uws.ts").TemplatedApp): void;
  /** Called by `io.listen()` once the server listens (a plugin's own listener starts here). */
  listen?(): Promise<void>;
  close?(): void | Promise<void>;
}

export type ResolvedOptions = Required<
  Omit<
    ServerOptions,
    | "allowedOrigins"
    | "allowRequest"
    | "adapter"
    | "derivedTopics"
    | "logger"
    | "maxHttpBufferSize"
    | "connectionStateRecovery"
    | "cors"
    | "cookie"
    | "tls"
    | "perMessageDeflate"
    | "operations"
    | "inboundRateLimit"
    | "parser"
  >
> &
  Pick<ServerOptions, "allowedOrigins" | "allowRequest" | "cors" | "tls" | "perMessageDeflate"> & {
    derivedTopics: DerivedTopicOptions;
    connectionStateRecovery: ResolvedRecoveryOptions | null;
    cookie: CookieOptions | null;
    secure: boolean;
    inboundRateLimit: InboundRateLimit | null;
    /** The custom parser, checked; null for the built-in codec. */
    parser: PacketParser | null;
  };

const DEFAULTS = {
  path: "/socket.io",
  pingInterval: 25000,
  pingTimeout: 20000,
  maxPayload: 1e6,
  transports: ["polling", "websocket"] as ("polling" | "websocket")[],
  allowUpgrades: true,
  upgradeTimeout: 10000,
  httpCompression: true as boolean | { threshold?: number },
  connectTimeout: 45000,
  maxBackpressure: 4 * 1024 * 1024,
  allowRequestTimeout: 10_000,
  maxConnectionsPerIp: 10_000,
  maxRoomsPerSocket: 10_000,
  maxRoomNameLength: 1024,
  derivedTopics: { max: 0 },
  cleanupEmptyChildNamespaces: false,
  trustProxy: false,
  reusePort: false,
};

/** Every option of ServerOptions (an option added there must be added here, or construction
 *  refuses it as unknown). */
const SUPPORTED = new Set([
  "path",
  "pingInterval",
  "pingTimeout",
  "maxPayload",
  "maxHttpBufferSize",
  "connectTimeout",
  "allowedOrigins",
  "allowRequest",
  "maxBackpressure",
  "derivedTopics",
  "adapter",
  "logger",
  "cleanupEmptyChildNamespaces",
  "connectionStateRecovery",
  "transports",
  "allowUpgrades",
  "upgradeTimeout",
  "cors",
  "cookie",
  "httpCompression",
  "tls",
  "trustProxy",
  "perMessageDeflate",
  "reusePort",
  "operations",
  "allowRequestTimeout",
  "maxConnections",
  "maxConnectionsPerIp",
  "inboundRateLimit",
  "maxRoomsPerSocket",
  "maxRoomNameLength",
  "parser",
]);

/** Socket.IO / Engine.IO options that change nothing a client sees here: a one-time warning
 *  says so (listed in README "Differences from Socket.IO"). */
export const IGNORED_OPTIONS: Readonly<Record<string, string>> = {
  serveClient: "roomgate serves no client bundle; load socket.io-client from your bundler or a CDN",
  wsEngine: "roomgate always uses uWebSockets.js",
  destroyUpgrade: "roomgate owns its listening socket",
  destroyUpgradeTimeout: "roomgate owns its listening socket",
  addTrailingSlash: "the endpoint is `<path>/`, the URL every Socket.IO client requests",
  initialPacket: "roomgate sends no initial packet",
};

/** Ignored options set to the value that asks for what roomgate does anyway: accepted silently
 *  (`serveClient: false` asks for no client bundle; `addTrailingSlash: true` for `<path>/`). */
const ALREADY_SO: Readonly<Record<string, (v: unknown) => boolean>> = {
  serveClient: (v) => v === false,
  addTrailingSlash: (v) => v === true,
};

/** Options Socket.IO users pass that would change behaviour roomgate does not have: refused,
 *  unless set to the value that means "off". */
const UNSUPPORTED: Readonly<Record<string, { off: (v: unknown) => boolean; why: string }>> = {
  allowEIO3: { off: (v) => v === false, why: "roomgate speaks Engine.IO v4 only (Socket.IO clients 3.x and 4.x; pass false or leave it out)" },
};

const warned = new Set<string>();

/** Throws a TypeError naming an option roomgate does not know or cannot honour; warns (once per
 *  process and option) about harmless Socket.IO options it ignores. */
export function checkOptions(opts: Record<string, unknown>, warn: (msg: string) => void): void {
  if (opts === null || typeof opts !== "object" || Array.isArray(opts)) throw new TypeError("roomgate: options must be an object");
  for (const [name, value] of Object.entries(opts)) {
    if (SUPPORTED.has(name)) continue;
    const unsupported = UNSUPPORTED[name];
    if (unsupported) {
      if (unsupported.off(value)) continue;
      throw new TypeError(`roomgate: option "${name}" is not supported: ${unsupported.why}`);
    }
    const ignored = IGNORED_OPTIONS[name];
    if (ignored !== undefined) {
      if (ALREADY_SO[name]?.(value)) continue;
      if (!warned.has(name)) {
        warned.add(name);
        warn(`roomgate: option "${name}" is ignored: ${ignored}`);
      }
      continue;
    }
    throw new TypeError(`roomgate: unknown option "${name}" (see README "Differences from Socket.IO" for the supported options)`);
  }
}

/** Per connection: 1,000 frames/s as before; 500,000 deliveries/s is ~12 % of a core at the
 *  ~250 µs per 1,000 deliveries bench/RESULTS.md measures. Per address: 4 connections' bytes, 2
 *  connections' deliveries (~25 % of a core), so that a few connections from one address cannot
 *  take the server, while a NAT's many light users stay far below. */
const DEFAULT_INBOUND_RATE_LIMIT: Omit<InboundRateLimit, "perAddress"> = { events: 1000, bytes: 8 * 1024 * 1024, deliveries: 500_000, interval: 1000 };
const DEFAULT_ADDRESS_RATE_LIMIT: AddressRateLimit = { bytes: 32 * 1024 * 1024, deliveries: 1_000_000 };

function resolveInboundRateLimit(opts: ServerOptions["inboundRateLimit"]): InboundRateLimit | null {
  if (opts === false) return null;
  if (opts !== undefined && (opts === null || typeof opts !== "object")) throw new TypeError("roomgate: inboundRateLimit must be an object or false");
  const { perAddress, ...own } = opts ?? {};
  const given = Object.fromEntries(Object.entries(own).filter(([, v]) => v !== undefined));
  const resolved: InboundRateLimit = { ...DEFAULT_INBOUND_RATE_LIMIT, ...given, perAddress: null };
  for (const [k, v] of Object.entries(resolved)) if (k !== "perAddress") positiveInteger(`inboundRateLimit.${k}`, v);
  if (perAddress !== false) {
    if (perAddress !== undefined && (perAddress === null || typeof perAddress !== "object"))
      throw new TypeError("roomgate: inboundRateLimit.perAddress must be an object or false");
    const shared = Object.fromEntries(Object.entries(perAddress ?? {}).filter(([, v]) => v !== undefined));
    resolved.perAddress = { ...DEFAULT_ADDRESS_RATE_LIMIT, ...shared };
    for (const [k, v] of Object.entries(resolved.perAddress)) positiveInteger(`inboundRateLimit.perAddress.${k}`, v);
  }
  return resolved;
}

/** The options with their defaults filled in. */
export function resolveOptions(opts: ServerOptions, warn: (message: string) => void = console.warn): ResolvedOptions {
  const given = Object.fromEntries(Object.entries(opts).filter(([name, v]) => v !== undefined && SUPPORTED.has(name) && name !== "maxHttpBufferSize"));
  // Socket.IO's name wins over roomgate's older one when both are given.
  if (opts.maxHttpBufferSize !== undefined) given.maxPayload = opts.maxHttpBufferSize;
  const resolved = { ...DEFAULTS, ...given } as ResolvedOptions;
  resolved.path = resolved.path.replace(/\/$/, "");
  resolved.connectionStateRecovery = resolveRecovery(opts.connectionStateRecovery);
  resolved.parser = opts.parser === undefined ? null : new PacketParser(opts.parser);
  if (typeof opts.derivedTopics === "boolean") resolved.derivedTopics = opts.derivedTopics ? {} : { max: 0 };
  resolved.cookie = resolveCookie(opts.cookie);
  const transports = resolved.transports;
  if (!Array.isArray(transports) || transports.length === 0 || transports.some((t) => t !== "polling" && t !== "websocket"))
    throw new TypeError(`transports must be a non-empty list of "polling" and "websocket", got ${JSON.stringify(transports)}`);
  resolved.secure = opts.tls !== undefined;
  for (const key of ["pingInterval", "pingTimeout", "maxPayload", "connectTimeout", "maxBackpressure"] as const) {
    const v = resolved[key];
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) throw new TypeError(`roomgate: option ${key} must be a number >= 0, got ${JSON.stringify(v)}`);
  }
  if (typeof resolved.path !== "string" || !resolved.path.startsWith("/"))
    throw new TypeError(`roomgate: option path must start with "/", got ${JSON.stringify(resolved.path)}`);
  // Not above what the fd limit allows; checked (positive integer) first, so a bad value says so.
  if (opts.maxConnections !== undefined) positiveInteger("maxConnections", opts.maxConnections);
  const bounded = fdBoundedMaxConnections(opts.maxConnections);
  resolved.maxConnections = bounded.value;
  if (bounded.clampedFrom !== undefined)
    warn(
      `roomgate: maxConnections=${bounded.clampedFrom} is more than the file-descriptor limit allows (soft limit ${bounded.fdLimit}, less headroom for the process's own descriptors): clamped to ${bounded.value}; raise it with \`ulimit -n\` (or LimitNOFILE=) to allow more`,
    );
  resolved.inboundRateLimit = resolveInboundRateLimit(opts.inboundRateLimit);
  for (const name of ["maxConnections", "maxConnectionsPerIp", "maxRoomsPerSocket", "maxRoomNameLength", "allowRequestTimeout"] as const) {
    positiveInteger(name, resolved[name]);
  }
  return resolved;
}

function resolveRecovery(opts: RecoveryOptions | undefined | false): ResolvedRecoveryOptions | null {
  if (opts === undefined || opts === null || opts === false) return null;
  if (typeof opts !== "object") throw new TypeError("connectionStateRecovery must be an object, e.g. {} or { maxDisconnectionDuration: 120000 }");
  const r = { ...RECOVERY_DEFAULTS, ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) } as ResolvedRecoveryOptions;
  for (const k of ["maxDisconnectionDuration", "maxBufferedBytes"] as const)
    if (!(typeof r[k] === "number" && r[k] >= 0)) throw new TypeError(`connectionStateRecovery.${k} must be a non-negative number, got ${String(r[k])}`);
  r.skipMiddlewares = !!r.skipMiddlewares;
  return r;
}

function positiveInteger(name: string, value: unknown): void {
  if (!Number.isSafeInteger(value) || (value as number) <= 0) throw new TypeError(`roomgate: ${name} must be a positive integer, got ${String(value)}`);
}
