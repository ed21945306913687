// Engine.IO's HTTP error answers (`{"code","message"}` with its status), shared by the WebSocket
// upgrade and the polling requests, and the header writing both use. Knows no sessions.
import type { ResponseSink } from "./exchange.ts";

export interface HttpErrorKind {
  readonly status: string;
  readonly code: number;
  readonly message: string;
}

/** Engine.IO's error codes and messages (engine.io's `Server.errors`). */
export const HttpError = {
  UNKNOWN_TRANSPORT: { status: "400 Bad Request", code: 0, message: "Transport unknown" },
  UNKNOWN_SID: { status: "400 Bad Request", code: 1, message: "Session ID unknown" },
  BAD_HANDSHAKE_METHOD: { status: "400 Bad Request", code: 2, message: "Bad handshake method" },
  BAD_REQUEST: { status: "400 Bad Request", code: 3, message: "Bad request" },
  FORBIDDEN: { status: "403 Forbidden", code: 4, message: "Forbidden" },
  UNSUPPORTED_PROTOCOL: { status: "400 Bad Request", code: 5, message: "Unsupported protocol version" },
  // Not Engine.IO's (it has no such refusals); same body shape, code of its "bad request" family.
  SERVICE_UNAVAILABLE: { status: "503 Service Unavailable", code: 3, message: "Service unavailable" },
  NOT_FOUND: { status: "404 Not Found", code: 3, message: "Not found" },
} as const satisfies Record<string, HttpErrorKind>;

/** Response headers as name/value pairs (a name may repeat). */
export type HeaderList = readonly (readonly [string, string])[];

export function writeHeaders(res: ResponseSink, headers: HeaderList): void {
  for (let i = 0; i < headers.length; i++) res.writeHeader(headers[i][0], headers[i][1]);
}

/** Answers with Engine.IO's error JSON; `detail` says more than the fixed message. The connection
 *  closes after it: a refused client has no business keeping a descriptor (a limit refusal must
 *  free one). */
export function refuse(res: ResponseSink, error: HttpErrorKind, detail?: string, headers: HeaderList = []): void {
  const body = JSON.stringify(detail ? { code: error.code, message: error.message, detail } : { code: error.code, message: error.message });
  res.writeStatus(error.status);
  writeHeaders(res, headers);
  res.writeHeader("Content-Type", "application/json").end(body, true);
}
