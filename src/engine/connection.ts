// One Engine.IO session over its transport (a WebSocket, or HTTP long-polling until it upgrades):
// protocol state (pong, connect timeout, binary attachments in flight), the namespace sockets
// multiplexed over it, the switch of transport at the upgrade and its move to another worker, both
// stepped through the upgrade it owns (upgrade/session-upgrade.ts). Knows no rooms and no Socket
// class: it talks to the ports it declares here (SessionHost, SessionNamespace, SessionSocket),
// which the endpoint and the API layer implement; nothing of HTTP.
import { reconstruct, type Frame } from "./binary.ts";
import { decodeEngine, decodePacket, encodePacket, PacketType, type Packet } from "./codec.ts";
import type { PacketDecoder, PacketParser } from "./parser.ts";
import { ProtocolError } from "./protocol-error.ts";
import { SocketHandshake, type Handshake } from "./handshake.ts";
import type { Logger } from "./logger.ts";
import { chargeTo, type InboundBudget, type InboundLimiter, type OverBudget, RATE_LIMIT_REASON } from "./rate-limit.ts";
import type { UpgradeRequest } from "./http/request.ts";
import { decodePayload } from "./payload.ts";
import type { PollingSession, PollingTransport } from "./transports/polling.ts";
import type { MovedSession, MovedSocket } from "./session-router.ts";
import type { WebSocketTransport } from "./transports/websocket.ts";
import { SessionUpgrade } from "./upgrade/session-upgrade.ts";
import type { UpgradingSession } from "./upgrade/upgrade-probe.ts";

/** A session's transport: which one it is, told by `name`. */
export type SessionTransport = WebSocketTransport | PollingTransport;

/** WebSocket close codes roomgate uses when it ends a session. */
export const CloseCode = { NORMAL: 1000, GOING_AWAY: 1001, PROTOCOL_ERROR: 1002, POLICY: 1008, INTERNAL_ERROR: 1011 } as const;

export type DisconnectReason =
  | "client namespace disconnect"
  | "server namespace disconnect"
  | "transport close"
  | "transport error"
  | "ping timeout"
  | "parse error"
  | "server shutting down"
  | typeof RATE_LIMIT_REASON;

/** What a session needs of the server that hosts it (the API's Server implements it). */
export interface SessionHost {
  /** Largest message a client may send, attachments of one packet counted together. */
  readonly maxPayload: number;
  readonly logger: Logger;
  /** Makes each client's inbound budget; null for none. */
  readonly inboundLimiter?: InboundLimiter | null;
  /** The server's custom parser (Socket.IO's `parser` option), or null for the built-in codec. */
  readonly parser?: PacketParser | null;
  /** The namespace a client asks for, or undefined when there is none. */
  namespaceFor(name: string): SessionNamespace | undefined;
  /** The session has connected its first namespace (its connect timeout no longer applies). */
  namespaceConnected(conn: Connection): void;
  /** The session is gone, for `reason`. */
  forgetConnection(conn: Connection, reason: DisconnectReason | "moved"): void;
}

/** A namespace as a session sees it: somewhere to connect a socket. */
export interface SessionNamespace {
  connect(conn: Connection, handshake: Handshake, done: (socket: SessionSocket | null) => void): void;
  /** Restores here the socket of a session that moved from another worker (its client is connected
   *  already: no CONNECT is answered); null when its recovery session cannot be found. */
  adopt(conn: Connection, handshake: Handshake, pid: string, done: (socket: SessionSocket | null) => void): void;
}

/** A namespace socket as a session sees it: packets in, close. */
export interface SessionSocket {
  readonly nsp: { readonly name: string };
  onpacket(packet: Packet): void;
  onclose(reason: DisconnectReason): void;
  /** The connection now runs over another transport (the upgrade from polling). `unsent`: the
   *  frames polling had not delivered, sent first on the new transport; the client had received
   *  everything else (it sends `5` only once the poll in flight is answered). */
  ontransportchange(unsent: readonly Frame[]): void;
  /** Whether the socket can move to another worker (its session is recoverable there). */
  readonly movable: boolean;
  /** The session moves to another worker: the socket is parked for it there and disconnects here
   *  ("transport close"). Everything sent before reached the client or goes with the session. */
  handOff(): MovedSocket;
}

/** Seconds since this module loaded: a small integer V8 stores in place (a Date.now() field would
 *  be a boxed double per connection). */
const T0 = Date.now();
const nowSecond = () => Math.floor((Date.now() - T0) / 1000);

export class Connection implements PollingSession, UpgradingSession {
  /** The socket of the first namespace connected: nearly every connection holds only one, so
   *  the rest, by namespace name, get a map only when a second one connects. */
  private first: SessionSocket | null = null;
  private others: Map<string, SessionSocket> | null = null;
  /** Number of namespaces connected. */
  socketCount = 0;
  /** Namespaces whose CONNECT is waiting on middlewares. */
  private connecting: Set<string> | null = null;
  private binaryInFlight: { packet: Packet; buffers: Buffer[]; bytes: number } | null = null;
  awaitingPong = false;
  /** When the client last answered a ping (connection-state recovery reads it: see lastPongAt). */
  private pongSecond = nowSecond();
  /** Kept by the endpoint's heartbeat wheel. */
  heartbeatBucket = -1;
  /** The upgrade of a polling session (its probe here, or its move to another worker); null on a
   *  WebSocket (opened there, upgraded, or moved in). */
  private pollingUpgrade: SessionUpgrade | null;
  private readonly budget: InboundBudget | null;
  /** This client's decoder when the server has a custom parser; null on the built-in codec's path. */
  private readonly decoder: PacketDecoder | null;
  /** The client address this session's place in the connection limits is counted under, until
   *  the endpoint gives it back. */
  limitedAs: string | null = null;

  constructor(
    readonly server: SessionHost,
    /** Changes once, at the upgrade from polling to WebSocket (upgradeTo). */
    public transport: SessionTransport,
    readonly sid: string,
    private readonly request: UpgradeRequest,
  ) {
    this.budget = server.inboundLimiter ? server.inboundLimiter.budgetFor(request.remoteAddress) : null;
    this.pollingUpgrade = transport.name === "polling" ? new SessionUpgrade(transport) : null;
    const parser = server.parser;
    this.decoder = parser
      ? parser.decoder(
          (packet) => this.onDecoded(packet),
          (err) => this.onError(err),
          server.maxPayload,
        )
      : null;
  }

  /** The upgrade of this polling session; null on a WebSocket. */
  get upgrade(): SessionUpgrade | null {
    return this.pollingUpgrade;
  }

  /** Time (ms, at most a second early) the client last answered a ping, or connected. */
  get lastPongAt(): number {
    return T0 + this.pongSecond * 1000;
  }

  onMessage(message: ArrayBuffer, isBinary: boolean): void {
    const budget = this.budget;
    if (budget !== null && this.overBudget(budget.spend(message.byteLength))) return;
    // The deliveries this frame's handling causes are charged to this client (rate-limit.ts).
    const outer = chargeTo(budget);
    try {
      if (isBinary) this.onAttachment(Buffer.from(message.slice(0)));
      // uWS has already rejected text frames that are not valid UTF-8.
      else this.onText(Buffer.from(message).toString());
      // Replies to this client (CONNECT, acks, emits to itself) leave now, inside the write uWS
      // has corked for this message, instead of in a corked write of their own at the end of the tick.
      this.transport.flush();
    } catch (err) {
      this.onError(err);
    } finally {
      chargeTo(outer);
    }
    if (budget !== null && !this.transport.closed) this.overBudget(budget.verdict());
  }

  /** Past its inbound budget (`over`), closes the session and says which budget; whether it did. */
  private overBudget(over: OverBudget | null): boolean {
    if (over === null) return false;
    this.server.logger.warn(
      { sid: this.sid, address: this.request.remoteAddress, budget: over },
      `client over its inbound rate limit (${over}); disconnecting`,
    );
    this.close(RATE_LIMIT_REASON, CloseCode.POLICY, `${RATE_LIMIT_REASON}: ${over}`);
    return true;
  }

  /** A polling POST's body: its packets in order, text ones as over a WebSocket, binary ones as
   *  attachments. Returns false when they broke the protocol (the session is then closed). */
  receivePayload(body: string): boolean {
    const budget = this.budget;
    const outer = chargeTo(budget);
    try {
      for (const packet of decodePayload(body)) {
        if (this.transport.closed) break;
        if (budget !== null && this.overBudget(budget.spend(packet.length))) return false;
        if (typeof packet === "string") this.onText(packet);
        else this.onAttachment(packet);
        if (budget !== null && !this.transport.closed && this.overBudget(budget.verdict())) return false;
      }
      this.transport.flush();
      return true;
    } catch (err) {
      this.onError(err);
      return !(err instanceof ProtocolError);
    } finally {
      chargeTo(outer);
    }
  }

  onTransportError(reason: string): void {
    this.server.logger.debug({ sid: this.sid, reason }, "polling transport error");
    this.close("transport error", CloseCode.PROTOCOL_ERROR, reason);
  }

  private onError(err: unknown): void {
    if (err instanceof ProtocolError) {
      this.close("parse error", CloseCode.PROTOCOL_ERROR, `parse error: ${err.message}`);
    } else {
      // A bug of ours (a TypeError included) must cost this one connection, never the process,
      // and must be logged, not answered as the client's parse error.
      this.server.logger.error({ sid: this.sid, err }, "closing a session after an unexpected error");
      this.close("transport error", CloseCode.INTERNAL_ERROR, "internal error");
    }
  }

  /**
   * The upgrade from polling (the client sent `5` on the probed WebSocket): what the polling buffer
   * holds goes out first on the WebSocket, then it subscribes to the session's topics, and the
   * sockets are told (their rooms deliver natively from now on). All in one go: no broadcast can
   * come in between, so nothing is lost, duplicated or reordered.
   */
  upgradeTo(ws: WebSocketTransport): void {
    const handed = this.pollingUpgrade?.switchOver();
    if (!handed) return;
    this.pollingUpgrade = null;
    const { frames, topics } = handed;
    this.transport = ws;
    if (frames.length > 0) ws.sendNow(frames);
    for (const topic of topics) ws.subscribe(topic);
    for (const socket of this.sockets()) socket.ontransportchange(frames);
  }

  /**
   * The client probes a WebSocket on another worker: if every socket can move, polls are released
   * so the client can pause polling, until handOff or `timeoutMs`. Returns whether it can move.
   */
  prepareMove(timeoutMs: number): boolean {
    const upgrade = this.pollingUpgrade;
    if (upgrade === null || !upgrade.can("prepare move")) return false;
    // Its CONNECT may still be on its way (the client probes as soon as it opens): checked at handOff.
    if (!this.sockets().every((s) => s.movable)) return false;
    return upgrade.prepareMove(timeoutMs);
  }

  /** The probe on the other worker ended before the switch: polls are held again. */
  cancelMove(): void {
    this.pollingUpgrade?.cancelMove();
  }

  /** The session leaves for another worker (prepareMove succeeded, the client sent `5` there): its
   *  polling buffer goes along, its sockets are parked for the new worker and disconnect here. */
  handOff(): MovedSession | null {
    const upgrade = this.pollingUpgrade;
    if (upgrade === null || !upgrade.can("hand off")) return null;
    // Half done (a CONNECT waiting on middlewares, attachments in flight): the client has left this
    // transport already (it sent `5` there), so the session ends here as if its transport closed;
    // its sockets are parked and the client's reconnect recovers them.
    if (this.connecting !== null || this.binaryInFlight !== null || !this.sockets().every((s) => s.movable)) {
      this.close("transport close");
      return null;
    }
    const frames = upgrade.handOff();
    if (frames === null) return null;
    this.pollingUpgrade = null;
    const sockets = this.sockets().map((s) => s.handOff());
    this.binaryInFlight = null;
    this.budget?.release();
    this.server.forgetConnection(this, "moved");
    return { sockets, frames };
  }

  /** This worker's end of a move (upgrade/remote-upgrade.ts): restores the sockets `moved` lists, then
   *  `done(true)`; `done(false)` when one cannot be (the caller closes the session: the client
   *  reconnects, and recovers what it can). */
  adopt(moved: readonly MovedSocket[], done: (ok: boolean) => void): void {
    let left = moved.length;
    let ok = true;
    if (left === 0) return done(true);
    for (const m of moved) {
      const nsp = this.server.namespaceFor(m.nsp);
      const auth = typeof m.auth === "object" && m.auth !== null ? (m.auth as Record<string, unknown>) : null;
      const finish = (socket: SessionSocket | null) => {
        if (socket) this.attach(m.nsp, socket);
        else ok = false;
        if (--left === 0) done(ok);
      };
      if (nsp) nsp.adopt(this, new SocketHandshake(this.request, auth, Date.now()), m.pid, finish);
      else finish(null);
    }
  }

  private onText(text: string): void {
    const engine = decodeEngine(text);
    // A client that asked for base64 (forceBase64) sends its binary messages as `b<base64>` text.
    if (engine.type === "binary") return this.onAttachment(engine.data);
    if (this.binaryInFlight) throw new ProtocolError("text frame while binary attachments are pending");
    switch (engine.type) {
      case "pong":
        this.awaitingPong = false;
        this.pongSecond = nowSecond();
        return;
      case "ping":
        this.transport.sendControl("3");
        return;
      case "close":
        this.close("transport close");
        return;
      case "noop":
        return;
      case "upgrade":
        throw new ProtocolError("unexpected upgrade packet outside an upgrade probe");
      case "message":
        if (this.decoder !== null) this.decoder.add(engine.body);
        else this.onPacket(decodePacket(engine.body));
    }
  }

  private onAttachment(buffer: Buffer): void {
    // With a custom parser a binary message is one of its chunks (msgpack: a whole packet).
    if (this.decoder !== null) return this.decoder.add(buffer);
    const inFlight = this.binaryInFlight;
    if (!inFlight) throw new ProtocolError("binary frame without a pending binary packet");
    // One packet's attachments together stay within maxPayload, like a single frame.
    inFlight.bytes += buffer.length;
    if (inFlight.bytes > this.server.maxPayload) throw new ProtocolError("binary attachments exceed maxPayload");
    inFlight.buffers.push(buffer);
    if (inFlight.buffers.length === inFlight.packet.attachments) {
      this.binaryInFlight = null;
      this.dispatch(inFlight.packet, inFlight.buffers);
    }
  }

  private onPacket(packet: Packet): void {
    if (packet.type === PacketType.CONNECT) return this.onConnect(packet);
    const socket = this.socketOf(packet.nsp);
    if (packet.type === PacketType.DISCONNECT) {
      if (socket) socket.onclose("client namespace disconnect");
      return;
    }
    if (!socket) throw new ProtocolError(`packet for namespace ${packet.nsp} before CONNECT`);
    if (packet.attachments) {
      this.binaryInFlight = { packet, buffers: [], bytes: 0 };
      return;
    }
    this.dispatch(packet, []);
  }

  /** A packet from the custom parser: its binary values are in place already. */
  private onDecoded(packet: Packet): void {
    if (this.transport.closed) return;
    if (packet.type === PacketType.CONNECT) return this.onConnect(packet);
    const socket = this.socketOf(packet.nsp);
    if (packet.type === PacketType.DISCONNECT) {
      if (socket) socket.onclose("client namespace disconnect");
      return;
    }
    if (!socket) throw new ProtocolError(`packet for namespace ${packet.nsp} before CONNECT`);
    socket.onpacket(packet);
  }

  /** A packet of this session's format (the custom parser's, or the built-in codec's). */
  encode(packet: Packet): Frame[] {
    const parser = this.server.parser;
    return parser ? parser.encode(packet) : encodePacket(packet);
  }

  private dispatch(packet: Packet, buffers: Buffer[]): void {
    if (packet.type === PacketType.BINARY_EVENT || packet.type === PacketType.BINARY_ACK) packet.data = reconstruct(packet.data, buffers);
    this.socketOf(packet.nsp)?.onpacket(packet);
  }

  private onConnect(packet: Packet): void {
    const nsp = this.server.namespaceFor(packet.nsp);
    if (!nsp) {
      this.sendConnectError(packet.nsp, { message: "Invalid namespace" });
      return;
    }
    // A repeated CONNECT (socket.io-client sends one when connect() is called on a socket that is
    // already connecting) is ignored, as Socket.IO 4.8 tolerates it: the first one is answered.
    if (this.socketOf(packet.nsp) || this.connecting?.has(packet.nsp)) return;
    (this.connecting ??= new Set()).add(packet.nsp);
    const handshake = new SocketHandshake(this.request, (packet.data as Record<string, unknown> | undefined) ?? null, Date.now());
    nsp.connect(this, handshake, (socket) => {
      this.connecting!.delete(packet.nsp);
      if (this.connecting!.size === 0) this.connecting = null;
      if (socket) this.attach(packet.nsp, socket);
    });
  }

  private attach(nsp: string, socket: SessionSocket): void {
    if (this.first === null) this.first = socket;
    else (this.others ??= new Map()).set(nsp, socket);
    this.socketCount++;
    this.server.namespaceConnected(this);
  }

  private socketOf(nsp: string): SessionSocket | undefined {
    const first = this.first;
    return first !== null && first.nsp.name === nsp ? first : this.others?.get(nsp);
  }

  sendConnectError(nsp: string, data: { message: string; data?: unknown }): void {
    this.transport.sendNow(this.encode({ type: PacketType.CONNECT_ERROR, nsp, data }));
  }

  removeSocket(socket: SessionSocket): void {
    if (this.first === socket) this.first = null;
    else if (this.others?.get(socket.nsp.name) === socket) this.others.delete(socket.nsp.name);
    else return;
    this.socketCount--;
  }

  /** Ends the session: every namespace socket disconnects with `reason`, then the WebSocket closes. */
  close(reason: DisconnectReason, code: number = CloseCode.NORMAL, message: string = reason): void {
    // Sockets first, so `disconnect` carries this reason and anything they queue still goes out.
    // A normal close keeps an upgrade probe going, as Engine.IO does: its client may have switched
    // to the WebSocket already (sent `5`), and then what is queued here (a DISCONNECT, say) reaches
    // it there before that closes too (upgrade/upgrade-probe.ts); otherwise its next poll takes it.
    this.teardown(reason, code !== CloseCode.NORMAL);
    this.transport.close(code, message);
  }

  /** The transport is gone (closed by either side): tear the sockets down. Idempotent. */
  onTransportClosed(reason: DisconnectReason): void {
    // Told by the WebSocket's close only (a polling transport ends through the session).
    if (this.transport.name === "websocket") this.transport.closedByPeer();
    this.teardown(reason);
  }

  private teardown(reason: DisconnectReason, abandonProbe = true): void {
    this.binaryInFlight = null;
    this.decoder?.destroy();
    if (abandonProbe) this.pollingUpgrade?.abandon();
    for (const socket of this.sockets()) socket.onclose(reason);
    this.budget?.release();
    this.server.forgetConnection(this, reason);
  }

  private sockets(): SessionSocket[] {
    const sockets = this.others ? [...this.others.values()] : [];
    if (this.first) sockets.unshift(this.first);
    return sockets;
  }
}
