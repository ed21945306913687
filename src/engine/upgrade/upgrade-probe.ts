// The upgrade of a polling session held here, as Engine.IO's client drives it over the new
// WebSocket (opened with `?sid=`): `2probe` is answered `3probe` and the session's polls are
// released (a noop when nothing waits) so the client can pause polling; its `5` makes the switch.
// Anything else, the WebSocket closing or upgradeTimeout passing ends the probe and the session
// stays on polling. The frames on the probing WebSocket in, steps of the session's upgrade
// (session-upgrade.ts) out. Knows the WebSocket transport and a one-method port of the session;
// nothing of HTTP or rooms.
import type { WebSocketTransport } from "../transports/websocket.ts";
import type { SessionUpgrade } from "./session-upgrade.ts";

/** What the probe needs of the session it upgrades (the Connection). */
export interface UpgradingSession {
  /** The client sent `5` (and the session's upgrade can take it): the session switches to `ws`. */
  upgradeTo(ws: WebSocketTransport): void;
}

export class UpgradeProbe {
  private ended = false;

  /** Starts the probe on `ws`, whose session's upgrade is reserved for it; false, having done
   *  nothing, when the session closed meanwhile. */
  static start(session: UpgradingSession, upgrade: SessionUpgrade, ws: WebSocketTransport, timeoutMs: number, onUpgraded: () => void): UpgradeProbe | null {
    const probe = new UpgradeProbe(session, upgrade, ws, onUpgraded);
    return upgrade.open(timeoutMs, () => probe.closeAbandoned()) ? probe : null;
  }

  private constructor(
    private readonly session: UpgradingSession,
    private readonly upgrade: SessionUpgrade,
    private readonly ws: WebSocketTransport,
    /** Called after the switch: the WebSocket now carries the session. */
    private readonly onUpgraded: () => void,
  ) {}

  /** A frame on the probing WebSocket. */
  onMessage(message: ArrayBuffer, isBinary: boolean): void {
    if (this.ended) return;
    const text = isBinary ? "" : Buffer.from(message).toString();
    if (text === "2probe") {
      this.ws.sendControl("3probe");
      this.upgrade.probed();
    } else if (text === "5" && this.upgrade.can("5")) {
      // Closed by the server while the client switched: what polling still held goes out on the
      // WebSocket, then that closes (Engine.IO finishes such an upgrade, then closes).
      const closing = this.upgrade.closing;
      this.ended = true;
      this.session.upgradeTo(this.ws);
      this.onUpgraded();
      if (closing) this.ws.close(1000, "session closed");
    } else {
      this.upgrade.abandon();
    }
  }

  /** The probing WebSocket closed. */
  onClose(): void {
    this.ws.closedByPeer();
    this.ended = true;
    this.upgrade.probeClosed();
  }

  /** The session's upgrade was abandoned (timeout, an unexpected frame, the session closing): the
   *  WebSocket closes, the session stays on polling. */
  private closeAbandoned(): void {
    this.ended = true;
    this.ws.close(1000, "upgrade abandoned");
  }
}
