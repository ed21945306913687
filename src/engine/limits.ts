// Admission limits at the HTTP upgrade: how many connections the process holds (globally and per
// client address), the default global limit derived from the process's file-descriptor limit, and
// a refusal log that speaks once per burst instead of once per refused client. Knows nothing of
// sessions or namespaces: the endpoint asks `admit` before an upgrade and calls `release` after.
import { readFileSync } from "node:fs";
import type { Logger } from "./logger.ts";

export interface ConnectionLimitOptions {
  /** Connections (upgrades in progress included) the process accepts at once. */
  maxConnections: number;
  /** Connections one client address may hold at once. */
  maxConnectionsPerIp: number;
}

/** Descriptors kept free for what is not a client: the relay link, log files, the listen socket,
 *  Node's own handles, and the refused HTTP connections themselves (each holds a descriptor until
 *  its 503 is written). uWS's accept loop retries forever when accept4 fails with EMFILE (one core
 *  at 100 %, measured: 48,617 failed calls in 3 s), so the limit must bite well before the fd limit. */
export function defaultMaxConnections(fdLimit = softFdLimit()): number {
  if (!Number.isFinite(fdLimit)) return 1_000_000;
  const headroom = Math.max(256, Math.ceil(fdLimit * 0.1));
  return Math.max(1, fdLimit - headroom);
}

/** maxConnections as asked, bounded by what the fd limit allows (defaultMaxConnections): a value
 *  above it would bring back the EMFILE accept loop. `clampedFrom`: what was asked, when it was
 *  lowered (the server says so at start). */
export function fdBoundedMaxConnections(asked: number | undefined, fdLimit = softFdLimit()): { value: number; clampedFrom?: number; fdLimit: number } {
  const bound = defaultMaxConnections(fdLimit);
  if (asked === undefined) return { value: bound, fdLimit };
  return asked > bound ? { value: bound, clampedFrom: asked, fdLimit } : { value: asked, fdLimit };
}

/** The soft RLIMIT_NOFILE of this process (Linux: /proc/self/limits), or Infinity if unknown. */
export function softFdLimit(): number {
  try {
    const line = readFileSync("/proc/self/limits", "latin1")
      .split("\n")
      .find((l) => l.startsWith("Max open files"));
    const soft = line?.slice("Max open files".length).trim().split(/\s+/)[0];
    const n = Number(soft);
    return soft === "unlimited" || !Number.isFinite(n) || n <= 0 ? Infinity : n;
  } catch {
    return Infinity; // not Linux: no way to read it without a native module
  }
}

/** Why an upgrade was refused, for the log and the client. */
export type Refusal = "maxConnections" | "maxConnectionsPerIp";

/** A refusal as the endpoint reports it: the cause it counts (engine/stats.ts) and the detail the
 *  client reads. */
export interface LimitRefusal {
  cause: "max_connections" | "max_connections_per_ip";
  detail: string;
}

/** A burst ends after this long without refusals; while it lasts, one summary per window. */
const BURST_WINDOW_MS = 5000;

export class ConnectionLimits {
  private total = 0;
  private readonly perIp = new Map<string, number>();
  private burst: { refused: number; inWindow: number; timer: NodeJS.Timeout } | null = null;

  constructor(
    readonly opts: ConnectionLimitOptions,
    private readonly logger: Logger,
  ) {}

  /** Connections currently counted. */
  get count(): number {
    return this.total;
  }

  /** Reserves a place for a connection from `ip`, or says which limit refuses it. */
  admit(ip: string): Refusal | null {
    const refusal =
      this.total >= this.opts.maxConnections ? "maxConnections" : (this.perIp.get(ip) ?? 0) >= this.opts.maxConnectionsPerIp ? "maxConnectionsPerIp" : null;
    if (refusal) {
      this.noteRefusal(refusal, ip);
      return refusal;
    }
    this.total++;
    this.perIp.set(ip, (this.perIp.get(ip) ?? 0) + 1);
    return null;
  }

  /** Gives back the place `admit` reserved for `ip`. */
  release(ip: string): void {
    const n = this.perIp.get(ip);
    if (n === undefined) return;
    this.total--;
    if (n <= 1) this.perIp.delete(ip);
    else this.perIp.set(ip, n - 1);
  }

  /** Stops the burst timer (server close). */
  close(): void {
    if (this.burst) clearTimeout(this.burst.timer);
    this.burst = null;
  }

  private noteRefusal(refusal: Refusal, ip: string): void {
    if (this.burst) {
      this.burst.refused++;
      this.burst.inWindow++;
      return;
    }
    const limit = refusal === "maxConnections" ? `maxConnections=${this.opts.maxConnections}` : `maxConnectionsPerIp=${this.opts.maxConnectionsPerIp} (${ip})`;
    this.logger.warn(
      { limit: refusal, connections: this.total, maxConnections: this.opts.maxConnections },
      `connection limit reached: ${limit}; refusing new connections with 503`,
    );
    this.burst = { refused: 1, inWindow: 0, timer: this.burstTimer() };
  }

  private burstTimer(): NodeJS.Timeout {
    const timer = setTimeout(() => {
      const burst = this.burst!;
      if (burst.inWindow > 0) {
        burst.inWindow = 0;
        burst.timer = this.burstTimer();
        return;
      }
      this.burst = null;
      this.logger.warn({ refused: burst.refused, connections: this.total }, `connection limit: burst over, ${burst.refused} connection(s) refused`);
    }, BURST_WINDOW_MS);
    timer.unref();
    return timer;
  }
}
