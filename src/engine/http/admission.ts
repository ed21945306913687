// The checks a new session passes on either transport before it exists: the Origin header against
// `allowedOrigins`, then the application's asynchronous `allowRequest` (with a deadline; what it
// throws is logged, never echoed). Knows no transport.
import type { Logger } from "../logger.ts";
import type { RequestInfo } from "./request.ts";

export interface AdmissionOptions {
  allowedOrigins?: string[] | ((origin: string) => boolean);
  allowRequest?: (req: RequestInfo, callback: (err: string | null | undefined, success: boolean) => void) => void;
  /** An allowRequest that has not called back after this many ms refuses (default 10000). */
  allowRequestTimeout?: number;
}

/** Why admission refused: the origin or allowRequest's answer (403), or allowRequest's silence
 *  (503, `timedOut`); `cause` as the endpoint counts it (engine/stats.ts). */
export type Refusal =
  | { timedOut: false; cause: "origin" | "allow_request"; reason: string }
  | { timedOut: true; cause: "allow_request_timeout"; reason: string };

export function originAllowed(opts: AdmissionOptions, origin: string | undefined): boolean {
  const allowed = opts.allowedOrigins;
  if (!allowed || origin === undefined) return true;
  return typeof allowed === "function" ? allowed(origin) : allowed.includes(origin);
}

/**
 * Calls `done(null)` to admit, `done(refusal)` to refuse; once, and not at all once `isAborted()`
 * (the client is gone). A refusal's reason is allowRequest's callback message (sent to the client);
 * what allowRequest throws may carry internals: logged, and the reason is empty. An allowRequest
 * that has not called back within allowRequestTimeout is a refusal too (`timedOut`).
 * Synchronous unless allowRequest is not.
 */
export function admit(opts: AdmissionOptions, request: RequestInfo, isAborted: () => boolean, done: (refusal: Refusal | null) => void, logger?: Logger): void {
  if (!originAllowed(opts, request.headers.origin)) return done({ timedOut: false, cause: "origin", reason: "origin not allowed" });
  const check = opts.allowRequest;
  if (!check) return done(null);
  let answered = false;
  const answer = (refusal: Refusal | null) => {
    if (answered) return;
    answered = true;
    clearTimeout(timer);
    if (!isAborted()) done(refusal);
  };
  const timeout = opts.allowRequestTimeout ?? 10_000;
  const timer = setTimeout(() => {
    logger?.warn({ url: request.url, address: request.remoteAddress, timeout }, "allowRequest did not call back in time; refusing");
    answer({ timedOut: true, cause: "allow_request_timeout", reason: "request check timed out" });
  }, timeout);
  try {
    check(request, (err, success) => answer(success ? null : { timedOut: false, cause: "allow_request", reason: err ?? "" }));
  } catch (err) {
    logger?.error({ err, url: request.url, address: request.remoteAddress }, "allowRequest threw; refusing");
    answer({ timedOut: false, cause: "allow_request", reason: "" });
  }
}
