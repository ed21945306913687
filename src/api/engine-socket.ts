// `socket.conn` and `io.engine`: the Engine.IO objects Socket.IO exposes, as thin views over the
// engine's session (Connection) and endpoint. They read the engine's state; they hold none.
// Knows no rooms.
import { EventEmitter } from "node:events";
import type { Connection } from "../engine/connection.ts";
import type { Endpoint, RequestInfo } from "../engine/endpoint.ts";

/** Socket.IO's `socket.conn` (an Engine.IO socket): the session under every namespace socket of
 *  one client. It emits `upgrade` (with the new transport) when a polling session upgrades to
 *  WebSocket (a session opened on a WebSocket never does), and `close` (with the reason) when the
 *  session ends. */
export class EngineSocket extends EventEmitter {
  readonly protocol = 4;
  /** @internal Set once `upgrade` was emitted (each namespace socket of the session reports it). */
  upgraded = false;

  constructor(private readonly session: Connection) {
    super();
  }

  /** The Engine.IO session id (not a namespace socket's id). */
  get id(): string {
    return this.session.sid;
  }

  /** The transport in use: `transport.name` is "websocket" (or another the engine serves). */
  get transport(): Connection["transport"] {
    return this.session.transport;
  }

  /** The request that opened the session (method, url, headers, query, remoteAddress). */
  get request(): RequestInfo {
    return this.session.request;
  }

  get remoteAddress(): string {
    return this.session.request.remoteAddress;
  }

  get readyState(): "open" | "closed" {
    return this.session.transport.closed ? "closed" : "open";
  }

  /** Closes the whole session: every namespace socket of the client disconnects ("transport close"). */
  close(): this {
    this.session.close("transport close");
    return this;
  }
}

const views = new WeakMap<Connection, EngineSocket>();

/** The one view of a session (made when first asked for: most applications never read it). */
export function engineSocketOf(session: Connection): EngineSocket {
  let view = views.get(session);
  if (!view) views.set(session, (view = new EngineSocket(session)));
  return view;
}

/** The session switched to WebSocket: its view (if anyone asked for one) emits `upgrade`, once. */
export function engineUpgraded(session: Connection): void {
  const view = views.get(session);
  if (view === undefined || view.upgraded) return;
  view.upgraded = true;
  view.emit("upgrade", session.transport);
}

/** The session ended: its view (if anyone asked for one) emits `close`. */
export function engineClosed(session: Connection, reason: string): void {
  views.get(session)?.emit("close", reason);
}

/** An upgrade request the engine refused, as Engine.IO's `connection_error` event gives it. */
export interface ConnectionError {
  req: RequestInfo | null;
  code: number;
  message: string;
  context: Record<string, unknown>;
}

/** Socket.IO's `io.engine`: the number of open sessions, the `connection_error` event (a refused
 *  handshake), and `generateId` (the session id maker; a function of the upgrade request). */
export class EngineView extends EventEmitter {
  constructor(
    private readonly endpoint: () => Endpoint,
    private readonly checked: (fn: (req: RequestInfo) => string) => (req: RequestInfo) => string,
  ) {
    super();
  }

  get clientsCount(): number {
    return this.endpoint().clientsCount;
  }

  get generateId(): (req: RequestInfo) => string {
    return this.endpoint().generateId;
  }

  /** Ids that are not url-safe are replaced by random ones (see checkedIdMaker in server.ts). */
  set generateId(fn: (req: RequestInfo) => string) {
    if (typeof fn !== "function") throw new TypeError("io.engine.generateId must be a function");
    this.endpoint().generateId = this.checked(fn);
  }
}
