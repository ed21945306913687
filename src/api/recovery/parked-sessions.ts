// The sessions of disconnected sockets waiting to be restored (for maxDisconnectionDuration), and
// the rooms they hold: a cluster keeps routing a room here while a parked session (or a session on
// its way from another worker) holds it, and learns through `onRoomReleased` when none does.
// Knows no log and no timer: SessionRecovery (session-recovery.ts) drives it.
import type { Room, SocketId } from "../../rooms/types.ts";
import type { Absence } from "./recording-log.ts";

/** What a disconnected socket leaves behind. */
export interface SessionState {
  id: SocketId;
  pid: string;
  rooms: Room[];
  data: unknown;
}

export interface ParkedSession extends SessionState, Absence {
  rooms: Room[];
  disconnectedAt: number;
  /** When it was parked, on the monotonic clock (set by `park`): see parkMark. */
  parkMark?: bigint;
}

/** Now on the monotonic clock (ns): sessions parked after a mark are told apart from those parked
 *  before it, even within one millisecond (a draining worker waits only for the former). */
export function parkMark(): bigint {
  return process.hrtime.bigint();
}

export class ParkedSessions {
  private readonly sessions = new Map<string, ParkedSession>();
  /** Rooms held, with how many holders each. */
  private readonly holds = new Map<Room, number>();
  /** Called when nothing holds `room` any more. */
  onRoomReleased: (room: Room) => void = () => {};

  constructor(
    private readonly maxDisconnectionDuration: number,
    private readonly stats: { expired: number },
  ) {}

  get count(): number {
    return this.sessions.size;
  }

  /** How many sessions parked after `mark` (a parkMark()) are still here. */
  countSince(mark: bigint): number {
    let n = 0;
    for (const s of this.sessions.values()) if (s.parkMark! > mark) n++;
    return n;
  }

  holdsRoom(room: Room): boolean {
    return this.holds.has(room);
  }

  park(session: ParkedSession): void {
    session.parkMark = parkMark();
    this.sessions.set(session.pid, session);
    this.hold(session.rooms);
  }

  /** Takes session `pid` out (expired or not: see isExpired); it still holds its rooms until `release`. */
  take(pid: string): ParkedSession | null {
    const session = this.sessions.get(pid);
    if (!session) return null;
    this.sessions.delete(pid);
    return session;
  }

  /** The session `pid` without taking it; null when it is unknown or expired at `now`. */
  peek(pid: string, now: number): ParkedSession | null {
    const session = this.sessions.get(pid);
    return session && !this.isExpired(session, now) ? session : null;
  }

  isExpired(session: ParkedSession, now: number): boolean {
    return session.disconnectedAt + this.maxDisconnectionDuration < now;
  }

  hold(rooms: readonly Room[]): void {
    for (const room of rooms) this.holds.set(room, (this.holds.get(room) ?? 0) + 1);
  }

  release(rooms: readonly Room[]): void {
    for (const room of rooms) {
      const n = this.holds.get(room)! - 1;
      if (n > 0) this.holds.set(room, n);
      else {
        this.holds.delete(room);
        this.onRoomReleased(room);
      }
    }
  }

  /** Drops the sessions disconnected before `threshold`. */
  expire(threshold: number): void {
    for (const s of this.sessions.values()) {
      if (s.disconnectedAt < threshold) {
        this.sessions.delete(s.pid);
        this.release(s.rooms);
        this.stats.expired++;
      }
    }
  }
}
