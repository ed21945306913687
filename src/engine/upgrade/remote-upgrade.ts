// The upgrade of a polling session held by another worker (no sticky sessions: the client's
// WebSocket lands on any worker): the session moves here. Engine.IO's client drives it as a local
// upgrade: `2probe` is answered `3probe` once the owner has released its polls (so the client can
// pause polling); `5` makes the switch: the owner hands off the session (its unsent frames, its
// sockets parked for recovery) and this worker restores the sockets on the WebSocket, without a
// CONNECT (the client is connected already). What the client sends meanwhile waits, in order,
// until the sockets are back. Anything else, the WebSocket closing or upgradeTimeout passing
// before `5` abandons the probe: the session stays on polling with its owner. Its states are the
// "moving in" group of upgrade-state.ts, every step through that table.
// Knows the router port and the WebSocket transport; the endpoint builds the connection.
import type { MovedSession, SessionRouter } from "../session-router.ts";
import type { WebSocketTransport } from "../transports/websocket.ts";
import { nextUpgradeState, type UpgradeEvent, type UpgradeState } from "./upgrade-state.ts";

export class RemoteUpgrade {
  private state: UpgradeState = "moving in";
  private timer: NodeJS.Timeout | null;
  /** Frames the client sent after `5`, before its sockets were restored here. */
  private readonly held: [ArrayBuffer, boolean][] = [];
  /** Called with the messages held meanwhile once the session runs here. */
  onAdopted: ((held: [ArrayBuffer, boolean][]) => void) | null = null;

  constructor(
    private readonly router: SessionRouter,
    private readonly owner: string,
    private readonly sid: string,
    private readonly ws: WebSocketTransport,
    timeoutMs: number,
    /** Builds the connection from the owner's hand-off; calls back false when a socket could not be
     *  restored (the session is then closed: the client reconnects). */
    private readonly adopt: (moved: MovedSession, done: (ok: boolean) => void) => void,
  ) {
    this.timer = setTimeout(() => this.abandon("upgrade timed out"), timeoutMs);
  }

  onMessage(message: ArrayBuffer, isBinary: boolean): void {
    if (this.state === "taking") {
      // Copied: uWS reuses the message's memory once this handler returns.
      this.held.push([message.slice(0), isBinary]);
      return;
    }
    const text = isBinary ? "" : Buffer.from(message).toString();
    if (text === "2probe" && this.go("2probe")) {
      this.router.prepareMove(this.owner, this.sid).then((ok) => {
        if (this.ws.closed || this.state !== "move ready") return;
        if (ok) this.ws.sendControl("3probe");
        else this.abandon("the session cannot move here");
      });
    } else if (text === "5" && this.go("5")) {
      this.router.takeMove(this.owner, this.sid).then((moved) => this.onTaken(moved));
    } else {
      this.abandon("unexpected packet during the upgrade");
    }
  }

  /** The probing WebSocket closed before the move was done. */
  onClose(): void {
    this.ws.closedByPeer();
    // Before the switch, the owner may be releasing its polls for this probe: it stops.
    if (this.state === "move ready") this.router.cancelMove(this.owner, this.sid);
    this.go("close");
  }

  private onTaken(moved: MovedSession | null): void {
    // The owner has let go: from here on the session lives here or nowhere (the client reconnects).
    if (moved === null || this.ws.closed) {
      this.go("fail");
      if (!this.ws.closed) this.ws.close(1011, "the session could not move here");
      return;
    }
    this.adopt(moved, (ok) => {
      // After the `connection` handlers, which run right after the sockets are restored: the
      // client's first events need the listeners they add. Held until then.
      queueMicrotask(() => {
        this.go(ok ? "adopted" : "fail");
        if (ok) this.onAdopted?.(this.held.splice(0));
      });
    });
  }

  private abandon(reason: string): void {
    const wasReady = this.state === "move ready";
    if (!this.go("abandon")) return;
    if (wasReady) this.router.cancelMove(this.owner, this.sid);
    if (!this.ws.closed) this.ws.close(1000, reason);
  }

  /** The one way the state changes (upgrade-state.ts); false, nothing done, when `event` leads nowhere. */
  private go(event: UpgradeEvent): boolean {
    const next = nextUpgradeState(this.state, event);
    if (next === null) return false;
    this.state = next;
    if (next === "none" || next === "moved in") {
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
    }
    return true;
  }
}
