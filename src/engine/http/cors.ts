// CORS for the polling requests, with the `cors` package's options and answers (Socket.IO passes
// its `cors` option to that package): which Access-Control-* headers a request gets, and the
// preflight answer. Pure over the request's Origin and Access-Control-Request-Headers.
import type { HeaderList } from "./errors.ts";

type StaticOrigin = boolean | string | RegExp | (string | RegExp)[];

export interface CorsOptions {
  /** `true` reflects the request's origin; a string is sent as it is; a RegExp or a list allows the
   *  origins it matches (others get no Access-Control-Allow-Origin); a function decides per
   *  request. Default "*". */
  origin?: StaticOrigin | ((origin: string | undefined, callback: (err: Error | null, origin?: StaticOrigin) => void) => void);
  /** Methods a preflight allows; default "GET,HEAD,PUT,PATCH,POST,DELETE". */
  methods?: string | string[];
  /** Request headers a preflight allows; default: those the preflight asks for. */
  allowedHeaders?: string | string[];
  exposedHeaders?: string | string[];
  credentials?: boolean;
  /** Seconds a browser may cache a preflight answer. */
  maxAge?: number;
  /** Status of a preflight answer; default 204. */
  optionsSuccessStatus?: number;
}

export interface CorsRequest {
  origin: string | undefined;
  /** The preflight's Access-Control-Request-Headers. */
  requestHeaders: string | undefined;
}

const DEFAULT_METHODS = "GET,HEAD,PUT,PATCH,POST,DELETE";

function list(x: string | string[]): string {
  return Array.isArray(x) ? x.join(",") : x;
}

function originAllowed(origin: string, allowed: StaticOrigin): boolean {
  if (Array.isArray(allowed)) return allowed.some((a) => originAllowed(origin, a));
  if (typeof allowed === "string") return origin === allowed;
  if (allowed instanceof RegExp) return allowed.test(origin);
  return !!allowed;
}

function headersFor(opts: CorsOptions, origin: StaticOrigin | undefined, req: CorsRequest, preflight: boolean): [string, string][] {
  const out: [string, string][] = [];
  const vary: string[] = [];
  if (origin === undefined || origin === "*") out.push(["Access-Control-Allow-Origin", "*"]);
  else if (typeof origin === "string") {
    out.push(["Access-Control-Allow-Origin", origin]);
    vary.push("Origin");
  } else {
    if (req.origin !== undefined && originAllowed(req.origin, origin)) out.push(["Access-Control-Allow-Origin", req.origin]);
    vary.push("Origin");
  }
  if (opts.credentials === true) out.push(["Access-Control-Allow-Credentials", "true"]);
  if (opts.exposedHeaders !== undefined && list(opts.exposedHeaders)) out.push(["Access-Control-Expose-Headers", list(opts.exposedHeaders)]);
  if (preflight) {
    out.push(["Access-Control-Allow-Methods", list(opts.methods ?? DEFAULT_METHODS)]);
    if (opts.allowedHeaders !== undefined) {
      if (list(opts.allowedHeaders)) out.push(["Access-Control-Allow-Headers", list(opts.allowedHeaders)]);
    } else {
      if (req.requestHeaders) out.push(["Access-Control-Allow-Headers", req.requestHeaders]);
      vary.push("Access-Control-Request-Headers");
    }
    if (opts.maxAge !== undefined) out.push(["Access-Control-Max-Age", String(opts.maxAge)]);
  }
  if (vary.length > 0) out.push(["Vary", vary.join(", ")]);
  return out;
}

/**
 * The CORS headers of a request (a preflight's included). `done` gets null when a function origin
 * declines (no CORS headers at all, as the `cors` package does), an Error when it fails. Called
 * synchronously unless the origin function answers later.
 */
export function resolveCors(opts: CorsOptions, req: CorsRequest, preflight: boolean, done: (headers: HeaderList | null | Error) => void): void {
  const origin = opts.origin;
  if (typeof origin !== "function") return done(headersFor(opts, origin, req, preflight));
  let answered = false;
  try {
    origin(req.origin, (err, allowed) => {
      if (answered) return;
      answered = true;
      if (err) done(err);
      else done(allowed ? headersFor(opts, allowed, req, preflight) : null);
    });
  } catch (err) {
    if (!answered) {
      answered = true;
      done(err instanceof Error ? err : new Error(String(err)));
    }
  }
}
