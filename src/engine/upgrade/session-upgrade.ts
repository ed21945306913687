// The upgrade of one polling session held here, owned by that session (connection.ts): its one
// state (upgrade-state.ts), through which every step goes; the polls held or released as the state
// says; the upgradeTimeout; the polling buffer and topics handed over at the switch. Knows the
// polling transport; not the WebSocket (a probe's is closed through the hook it leaves), the
// session's sockets, or the cluster.
import type { Frame } from "../binary.ts";
import type { PollingTransport } from "../transports/polling.ts";
import { nextUpgradeState, releasesPolls, type UpgradeEvent, type UpgradeState } from "./upgrade-state.ts";

/** Steps forward that a closed session does not take (it is on its way out: nothing to upgrade). */
const NEEDS_OPEN_POLLING: ReadonlySet<UpgradeEvent> = new Set(["accept", "open", "5", "prepare move", "hand off"]);

export class SessionUpgrade {
  private current: UpgradeState = "none";
  private timer: NodeJS.Timeout | null = null;
  /** Closes the probe's WebSocket when the upgrade is abandoned (a probe here only). */
  private closeProbe: (() => void) | null = null;

  constructor(private readonly polling: PollingTransport) {}

  get state(): UpgradeState {
    return this.current;
  }

  /** Whether `event` would change the state now. */
  can(event: UpgradeEvent): boolean {
    return this.pollingAllows(event) && nextUpgradeState(this.current, event) !== null;
  }

  /** A WebSocket is accepted to probe the session (no second one is until this one ends). */
  accept(): boolean {
    return this.go("accept");
  }

  /** The probe's WebSocket opened: the probe runs until `5`, abandoned after `timeoutMs` (then
   *  `closeProbe` closes its WebSocket). False, the reservation given back, when the session closed
   *  meanwhile. */
  open(timeoutMs: number, closeProbe: () => void): boolean {
    if (!this.go("open")) {
      this.go("abandon");
      return false;
    }
    this.closeProbe = closeProbe;
    this.timer = setTimeout(() => this.abandon(), timeoutMs);
    return true;
  }

  /** The client's `2probe` (answered `3probe` first): its polls are released. */
  probed(): void {
    this.go("2probe");
  }

  /** The client's `5` on the probe: what polling had not delivered, in order, and the topics, for
   *  the WebSocket (a poll still waiting is released; the polling transport is done); null when the
   *  session closed meanwhile. */
  switchOver(): { frames: Frame[]; topics: Set<string> } | null {
    return this.go("5") ? this.polling.handOver() : null;
  }

  /** A WebSocket on another worker probes the session: its polls are released until handOff, a
   *  cancel or `timeoutMs`. False when the session is closed or an upgrade is under way. */
  prepareMove(timeoutMs: number): boolean {
    if (!this.go("prepare move")) return false;
    this.timer = setTimeout(() => this.abandon(), timeoutMs);
    return true;
  }

  /** That worker's probe ended before the switch: polls are held again (a client that resumes
   *  polling would otherwise be answered at once, with a noop, poll after poll). */
  cancelMove(): void {
    this.go("cancel move");
  }

  /** That worker takes the session: what polling had not delivered goes along (a poll still waiting
   *  is released; the polling transport is done); null when no move was prepared. */
  handOff(): Frame[] | null {
    return this.go("hand off") ? this.polling.handOver().frames : null;
  }

  /** The probe's WebSocket closed: the session stays on polling. */
  probeClosed(): void {
    this.go("close");
  }

  /** Gives the upgrade up (timeout, an unexpected frame, the session closing): the session stays on
   *  polling, a probe's WebSocket is closed. */
  abandon(): void {
    const closeProbe = this.closeProbe;
    if (this.go("abandon")) closeProbe?.();
  }

  /** The one way the state changes: false, and nothing done, when `event` leads nowhere now. */
  private go(event: UpgradeEvent): boolean {
    if (!this.pollingAllows(event)) return false;
    const next = nextUpgradeState(this.current, event);
    if (next === null) return false;
    this.current = next;
    if (releasesPolls(next)) this.polling.release();
    else this.polling.hold();
    if (next === "none" || next === "upgraded" || next === "moved out") {
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      this.closeProbe = null;
    }
    return true;
  }

  /** Whether the session was closed by the server (its close packet not yet fetched): a `5` still
   *  switches it, and the WebSocket then closes (upgrade-probe.ts), as Engine.IO finishes such an
   *  upgrade (connection.ts keeps the upgrade of a normal close). */
  get closing(): boolean {
    return this.polling.closing;
  }

  private pollingAllows(event: UpgradeEvent): boolean {
    if (event === "5" && this.polling.closing) return true;
    return !(this.polling.closed && NEEDS_OPEN_POLLING.has(event));
  }
}
