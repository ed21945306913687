// The cluster's port into the engine for sessions that live in another worker (no sticky sessions:
// pm2 on one SO_REUSEPORT port spreads each new TCP connection to any worker). A worker's session
// ids start with its `idPrefix`, so any worker can tell a session's owner from its id; a polling
// request for a session held elsewhere is forwarded to its owner, handled there as a local request
// (Endpoint.handleForwarded) and answered back on the original response. A WebSocket upgrade that
// lands on another worker moves the session there (upgrade/remote-upgrade.ts): the owner hands off its
// namespace sockets (prepareMove, then handOff), the new worker restores them. Knows no cluster: the
// cluster layer implements this (cluster/session-forwarding.ts) and installs it through the Server.
import type { Frame } from "./binary.ts";
import type { BodyError } from "./http/exchange.ts";

/** A polling request as it travels to the session's owner. */
export interface ForwardedRequest {
  method: "GET" | "POST";
  /** The query string, without `?` (carries EIO, transport and sid). */
  query: string;
  /** The headers the owner uses: accept-encoding (poll compression). */
  headers: Record<string, string>;
  remoteAddress: string;
  /** A POST's body as read (within maxHttpBufferSize), or why it was refused. */
  body?: Uint8Array | BodyError;
}

/** The owner's answer, written back as it is (after the receiving worker's CORS headers). */
export interface ForwardedResponse {
  status: string;
  headers: [string, string][];
  body: Uint8Array;
  /** The owner closed the connection after it (a refusal): so does the receiving worker. */
  close?: boolean;
}

/** A namespace socket of a session moving to another worker: what restores it there. */
export interface MovedSocket {
  nsp: string;
  /** Its connection-state recovery session (parked by the owner at the hand-off). */
  pid: string;
  /** The CONNECT's auth, for the restored socket's handshake. */
  auth: unknown;
}

/** A session handed off by its owner: its sockets, and what its polling buffer had not delivered
 *  (sent first on the new transport; every event before it reached the client). */
export interface MovedSession {
  sockets: MovedSocket[];
  frames: Frame[];
}

/** The owner's side of the sessions held here, as the cluster asks for it (the Endpoint). */
export interface SessionOwner {
  handleForwarded(request: ForwardedRequest, aborted: AbortSignal): Promise<ForwardedResponse>;
  /** Session `sid`'s client probes a WebSocket on another worker: true when the session can move
   *  (then its polls are released so the client can pause, until handOff or upgradeTimeout). */
  prepareMove(sid: string): boolean;
  /** The client switched to that WebSocket: the session leaves this worker (its sockets are parked
   *  for the new worker to restore), or null when it cannot. */
  handOff(sid: string): MovedSession | null;
  /** The probe on the other worker ended before the switch: polls are held again. */
  cancelMove(sid: string): void;
}

export interface SessionRouter {
  /** The first characters of the session ids this worker makes (its worker id). */
  readonly idPrefix: string;
  /** The live worker other than this one that made session `sid`, or null (then `sid` is unknown). */
  ownerOf(sid: string): string | null;
  /** Has worker `owner` handle `request`; resolves to its answer, or to null when none came (the
   *  owner is gone) or `aborted` fired (the client went away: the owner is told, as its own
   *  aborted request would). The owner may hold a long-poll for `holdMs` before it answers. */
  forward(owner: string, request: ForwardedRequest, holdMs: number, aborted: AbortSignal): Promise<ForwardedResponse | null>;
  /** Asks `owner` to prepare session `sid` for a move here (SessionOwner.prepareMove); false when it
   *  cannot or does not answer. */
  prepareMove(owner: string, sid: string): Promise<boolean>;
  /** Takes session `sid` from `owner` (SessionOwner.handOff); null when it cannot or does not answer. */
  takeMove(owner: string, sid: string): Promise<MovedSession | null>;
  /** Tells `owner` the probe ended before the switch (SessionOwner.cancelMove); no answer. */
  cancelMove(owner: string, sid: string): void;
}
