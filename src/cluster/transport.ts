// The transport seam of the cluster (socket.io-adapter's doPublish / doPublishResponse): how encoded
// cluster messages travel between workers and how a worker declares what it wants to receive.
// ClusterNode speaks only to this; NATS (nats/nats-transport.ts) is one transport of it. Knows the
// message shapes (protocol.ts), not how they are encoded, and no adapter.
import type { Room } from "../rooms/types.ts";
import type { ClusterMessage } from "./protocol.ts";
import type { Route } from "./route.ts";

export type LogLevel = "info" | "warn" | "error";

/** Where a message goes besides its natural audience. */
export interface PublishTarget {
  /** Where it goes (route.ts): a namespace's workers, rooms' subjects, or workers by id. A broadcast
   *  always has one; without one, presence and interest go to every worker and an operation to the
   *  namespace's workers. */
  route?: Route;
  /** Answers come back to this worker: they reach its `onMessage` with `replyTo` unset. */
  expectReplies?: boolean;
}

/** What one outage of the transport cost, reported when it is back (the adapter's "cluster-gap"). Messages from other workers in the same
 *  window are lost too; no one here can count those, but the window bounds them. */
export interface ClusterGap {
  /** When the last round trip confirmed everything sent before it (ms since the epoch). */
  from: number;
  /** When the relay was reachable again. */
  to: number;
  /** Messages handed to the connection after that confirmation and before the loss was noticed:
   *  lost, but for those the relay handled in its last instant (at most one probe's worth). */
  unconfirmed: number;
  /** Messages not sent at all because the relay was known to be unreachable. */
  dropped: number;
}

export interface TransportHandlers {
  /** An encoded message; `replyTo` is the opaque return address of a request expecting answers. */
  onMessage(payload: Uint8Array, replyTo: string | undefined): void;
  /** (Re)connected: messages flow again. */
  onConnected(): void;
  /** Cut off: nothing flows until onConnected. */
  onDisconnected(): void;
  /** Back after an outage: what it cost (a transport that cannot tell need not call it). */
  onGap?(gap: ClusterGap): void;
}

export interface ClusterTransport {
  /** True while messages can go out. */
  readonly connected: boolean;
  /** Resolves on the first connection. */
  readonly ready: Promise<void>;
  /** Starts receiving what is aimed at worker `self` and presence. */
  open(self: string, handlers: TransportHandlers): void;
  /** Receive the broadcasts to no room and the requests of namespace `nsp`. */
  serve(nsp: string): void;
  /** Receive broadcasts naming `room` (while this worker has members there). */
  joinRoom(nsp: string, room: Room): void;
  leaveRoom(nsp: string, room: Room): void;
  /** Publishes `msg`, already encoded as `payload`, where `target.route` says, or to its natural
   *  audience (presence and interest: every worker; an operation: the namespace's workers). False
   *  when it could not go out (disconnected). */
  doPublish(msg: ClusterMessage, payload: Uint8Array, target?: PublishTarget): boolean;
  /** Answers a request at the return address it came with. */
  doPublishResponse(replyTo: string, payload: Uint8Array): void;
  /** Waits (at most `timeoutMs`) until what was published has left. */
  flush(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
  /** Transport counters for monitoring (null while never connected). */
  stats(): { inBytes: number; outBytes: number; inMsgs: number; outMsgs: number; dropped?: number } | null;
  log(level: LogLevel, message: string): void;
}
