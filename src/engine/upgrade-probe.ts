// The upgrade of a polling session to a WebSocket, as Engine.IO's client drives it: the new
// WebSocket (opened with `?sid=`) sends `2probe`, gets `3probe`; polls are then released at once
// (a noop when nothing waits) so the client can pause polling; its `5` makes the switch. Anything
// else, the WebSocket closing or upgradeTimeout passing ends the probe and the session stays on
// polling. Knows the connection and the two transports, nothing of rooms.
import type { Connection } from "./connection.ts";
import type { PollingTransport } from "./polling-transport.ts";
import type { WebSocketTransport } from "./transport.ts";

export class UpgradeProbe {
  private timer: NodeJS.Timeout | null;
  private ended = false;

  constructor(
    private readonly conn: Connection,
    private readonly polling: PollingTransport,
    private readonly ws: WebSocketTransport,
    timeoutMs: number,
    /** Called after the switch: the WebSocket now carries the session. */
    private readonly onUpgraded: () => void,
  ) {
    polling.probing = true;
    conn.probe = this;
    this.timer = setTimeout(() => this.abandon(), timeoutMs);
  }

  /** A frame on the probing WebSocket. */
  onMessage(message: ArrayBuffer, isBinary: boolean): void {
    if (this.ended) return;
    const text = isBinary ? "" : Buffer.from(message).toString();
    if (text === "2probe") {
      this.ws.sendControl("3probe");
      this.polling.releasePolls(true);
    } else if (text === "5" && (!this.polling.closed || this.polling.closing)) {
      // Closed by the server while the client switched: what polling still held goes out on the
      // WebSocket, then that closes (Engine.IO finishes such an upgrade, then closes).
      const closing = this.polling.closed;
      this.end();
      this.conn.upgradeTo(this.ws);
      this.onUpgraded();
      if (closing) this.ws.close(1000, "session closed");
    } else {
      this.abandon();
    }
  }

  /** Ends the probe and closes its WebSocket; the session stays on polling. */
  abandon(): void {
    if (this.ended) return;
    this.end();
    this.ws.close(1000, "upgrade abandoned");
  }

  /** The probing WebSocket closed. */
  onClose(): void {
    this.ws.closed = true;
    this.end();
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.polling.probing = false;
    this.polling.releasePolls(false);
    if (this.conn.probe === this) this.conn.probe = null;
  }
}
