// Presence on the bus: this worker's heartbeats, hello (on connecting) and bye (on leaving), each
// carrying the namespaces it serves and the version of its room interest; and what it hears of the
// others' (heartbeat, hello, bye handlers), kept by peers.ts. A newcomer gets this worker's whole
// interest and a heartbeat at once. A worker that speaks another packet format (Socket.IO's
// `parser` option) is never taken as a peer (the node decides who leaves). Knows the presence messages and the interest sync it announces;
// not how messages travel (the bus), nor any adapter (the node says which namespaces it serves).
import { DEFAULT_PARSER_ID } from "../engine/parser.ts";
import type { Bus } from "./bus.ts";
import type { InterestSync } from "./interest-sync.ts";
import type { Peers } from "./peers.ts";
import { PROTOCOL_VERSION as V, type PresenceMessage } from "./protocol.ts";
import { toWorker } from "./route.ts";

export interface PresenceDeps {
  readonly peers: Peers;
  readonly interest: InterestSync;
  /** The namespaces this worker serves. */
  nsps(): string[];
  /** A peer said bye (after it is forgotten here). */
  onBye(id: string): void;
  /** This worker's parser id (engine/parser.ts) and its node's start time. */
  readonly parserId: string;
  readonly up: number;
  /** A peer speaks another packet format: it is not taken as a peer. `joinedFirst`: it was in the
   *  cluster before this worker (which then refuses to join). */
  onForeignParser(peer: string, theirs: string, joinedFirst: boolean): void;
}

export class Presence {
  constructor(
    private readonly bus: Bus,
    private readonly deps: PresenceDeps,
  ) {
    bus.handle("heartbeat", (msg) => this.heard(msg));
    bus.handle("hello", (msg) => this.heard(msg));
    bus.handle("bye", (msg) => {
      this.forget(msg.from);
      deps.onBye(msg.from);
    });
  }

  /** Announces this worker: to every worker, or to worker `to` alone. */
  send(type: PresenceMessage["type"], to?: string): void {
    const interest = this.deps.interest;
    interest.flush(); // the version announced is the one sent
    const msg: PresenceMessage = { v: V, type, from: this.bus.id, nsps: this.deps.nsps(), iv: interest.ver, up: this.deps.up };
    if (this.deps.parserId !== DEFAULT_PARSER_ID) msg.parser = this.deps.parserId;
    this.bus.publish(msg, to === undefined ? undefined : { route: toWorker(to) });
  }

  /** (Re)connected: the whole interest first, then the hello, so a peer that learns of this worker
   *  knows its rooms. */
  connected(): void {
    this.deps.interest.flush();
    this.deps.interest.sendSnapshot();
    this.send("hello");
  }

  /** Cut off: the peers and their interest are learned anew on reconnection. */
  disconnected(): void {
    this.deps.peers.clear();
    this.deps.interest.clearPeers();
  }

  /** Every judge interval; `beat`: once per heartbeat period, a heartbeat goes out too. */
  tick(now: number, beat: boolean): void {
    if (beat) this.send("heartbeat");
    this.deps.peers.judge(now);
  }

  /** A peer left or was forgotten: everything known of it goes. */
  forget(id: string): void {
    this.deps.peers.forget(id);
    this.deps.interest.forget(id);
  }

  private heard(msg: PresenceMessage): void {
    const theirs = msg.parser ?? DEFAULT_PARSER_ID;
    if (theirs !== this.deps.parserId) {
      // A worker without `up` predates it: it was there first.
      const up = typeof msg.up === "number" ? msg.up : 0;
      this.deps.onForeignParser(msg.from, theirs, up < this.deps.up || (up === this.deps.up && msg.from < this.bus.id));
      // A newcomer learns at once (from this heartbeat's parser) that it must not join.
      if (msg.type === "hello") this.send("heartbeat", msg.from);
      return;
    }
    const known = this.deps.peers.heard(msg.from, msg.nsps);
    // A newcomer (or a worker back from an outage) learns about this one at once: its rooms,
    // then a heartbeat carrying their version.
    if (msg.type === "hello") this.deps.interest.sendSnapshot(msg.from);
    if (msg.type === "hello" || !known) this.send("heartbeat", msg.from);
    this.deps.interest.onPresence(msg.from, msg.iv);
  }
}
