// Connection-state recovery's options (Socket.IO's `connectionStateRecovery`) and which disconnect
// reasons keep a session. Knows nothing of the log or the parked sessions.

export interface RecoveryOptions {
  /** How long a disconnected session can be restored, in ms (default 120000, Socket.IO's). */
  maxDisconnectionDuration?: number;
  /** A restored socket skips the namespace's middlewares (default true, Socket.IO's). */
  skipMiddlewares?: boolean;
  /** Bytes of recorded events kept per namespace (default 32 MiB). The oldest go first; a session
   *  whose missed events were among them is not recoverable (it gets a new session). */
  maxBufferedBytes?: number;
}

export type ResolvedRecoveryOptions = Required<RecoveryOptions>;

export const RECOVERY_DEFAULTS: ResolvedRecoveryOptions = { maxDisconnectionDuration: 120_000, skipMiddlewares: true, maxBufferedBytes: 32 * 1024 * 1024 };

/** Disconnect reasons after which the session is kept (Socket.IO's list, in roomgate's names):
 *  the client did not choose to leave. */
const RECOVERABLE = new Set(["transport error", "transport close", "ping timeout", "server shutting down"]);

export function isRecoverable(reason: string): boolean {
  return RECOVERABLE.has(reason);
}
