// The checks a new session passes on either transport before it exists: the Origin header against
// `allowedOrigins`, then the application's asynchronous `allowRequest`. Knows no transport.
import type { RequestInfo } from "./request.ts";

export interface AdmissionOptions {
  allowedOrigins?: string[] | ((origin: string) => boolean);
  allowRequest?: (req: RequestInfo, callback: (err: string | null | undefined, success: boolean) => void) => void;
}

export function originAllowed(opts: AdmissionOptions, origin: string | undefined): boolean {
  const allowed = opts.allowedOrigins;
  if (!allowed || origin === undefined) return true;
  return typeof allowed === "function" ? allowed(origin) : allowed.includes(origin);
}

/**
 * Calls `done(null)` to admit, `done(reason)` to refuse (Engine.IO answers 403 "Forbidden"); once,
 * and not at all once `isAborted()` (the client is gone). Synchronous unless allowRequest is not.
 */
export function admit(opts: AdmissionOptions, request: RequestInfo, isAborted: () => boolean, done: (refusal: string | null) => void): void {
  if (!originAllowed(opts, request.headers.origin)) return done("origin not allowed");
  const check = opts.allowRequest;
  if (!check) return done(null);
  let answered = false;
  try {
    check(request, (err, success) => {
      if (answered || isAborted()) return;
      answered = true;
      done(success ? null : (err ?? ""));
    });
  } catch (err) {
    if (!answered && !isAborted()) {
      answered = true;
      done(String((err as Error)?.message ?? err));
    }
  }
}
