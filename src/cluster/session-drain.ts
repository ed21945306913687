// The leaving worker's half of a deploy (`pm2 reload`, SIGINT/SIGTERM): with connection-state
// recovery, its clients are parked as they are cut off and reconnect to the other workers, which
// ask this one for their sessions (session-handover.ts). The drain
//   1. begins before any client is cut off: a heartbeat to every peer, flushed through the relay,
//      so a worker started for this deploy knows this one serves its namespaces before any of its
//      clients can reach it (it would otherwise give them new sessions);
//   2. ends as soon as every session parked since it began has been asked for (handed over, or
//      refused when too old), or after handoverTimeout, or when the relay link is lost: not a fixed
//      wait. Sessions parked before the drain (clients gone earlier) are not waited for.
// It logs how many sessions moved and how long it took. Knows the node through a small port only:
// not how sessions are taken nor how presence travels.
import { parkMark } from "../api/recovery/session-recovery.ts";
import type { LogLevel } from "./transport.ts";

export interface DrainPort {
  /** Sessions parked here after `mark` (a parkMark), in every namespace. */
  parkedSince(mark: bigint): number;
  /** Tells every peer this worker is here, through the relay; resolves once the relay has it. */
  announce(): Promise<void>;
  connected(): boolean;
  log(level: LogLevel, message: string): void;
}

/** Counters, for tests and monitoring. */
export interface DrainStats {
  /** Sessions parked by a drain and taken by another worker. */
  handedOver: number;
  /** Sessions parked by a drain that nobody asked for within handoverTimeout (or the link was lost). */
  unclaimed: number;
  /** How long the last drain's handover took (ms), -1 before any. */
  lastMs: number;
  /** How the last drain ended. */
  lastEnd: DrainEnd | null;
}

export type DrainEnd = "nothing parked" | "all asked for" | "timeout" | "link down";

/** A link loss ends the wait too: it is looked at this often (ms), besides every session taken. */
const LINK_CHECK_MS = 100;

export class SessionDrain {
  readonly stats: DrainStats = { handedOver: 0, unclaimed: 0, lastMs: -1, lastEnd: null };
  private startedAt: bigint | null = null;
  private wake: (() => void) | null = null;

  constructor(
    private readonly port: DrainPort,
    private readonly timeout: number,
  ) {}

  /** Before the clients are cut off (io.close() → adapter.drain()). Idempotent. */
  async begin(): Promise<void> {
    if (this.startedAt !== null) return;
    this.startedAt = parkMark();
    if (this.port.connected()) await this.port.announce();
  }

  /** A session parked here was asked for (taken, or refused): maybe the last one. */
  noteTaken(handedOver: boolean): void {
    if (handedOver) this.stats.handedOver++;
    this.wake?.();
  }

  /** Waits until the sessions parked since `begin` are gone (see the header); logs the outcome.
   *  Without `begin` (an adapter closed on its own), every parked session counts. */
  async finish(): Promise<void> {
    const since = this.startedAt ?? 0n;
    const start = Date.now();
    const parked = this.port.parkedSince(since);
    this.stats.lastEnd = "nothing parked";
    if (parked === 0) return;
    if (!this.port.connected()) {
      this.stats.lastEnd = "link down";
      this.stats.unclaimed += parked;
      this.port.log("warn", `cluster: drain: ${parked} parked session(s) dropped: the relay link is down`);
      return;
    }
    const handedBefore = this.stats.handedOver;
    this.port.log("info", `cluster: drain: handing over ${parked} parked session(s) (up to ${this.timeout} ms)`);
    await new Promise<void>((resolve) => {
      const done = (end: DrainEnd) => {
        this.stats.lastEnd = end;
        clearTimeout(deadline);
        clearInterval(linkCheck);
        this.wake = null;
        resolve();
      };
      const check = () => {
        if (this.port.parkedSince(since) === 0) done("all asked for");
        else if (!this.port.connected()) done("link down");
      };
      const deadline = setTimeout(() => done("timeout"), this.timeout);
      const linkCheck = setInterval(check, LINK_CHECK_MS);
      this.wake = check;
      check();
    });
    const ms = Date.now() - start;
    const moved = this.stats.handedOver - handedBefore;
    const left = this.port.parkedSince(since);
    this.stats.unclaimed += left;
    this.stats.lastMs = ms;
    this.port.log(
      left > 0 ? "warn" : "info",
      `cluster: drain done in ${ms} ms: ${moved} session(s) handed over (${parked} parked at close)` +
        (left > 0 ? `, ${left} not asked for within ${this.timeout} ms (dropped)` : ""),
    );
  }
}
