// The NATS transport of the cluster: subjects by interest (protocol.ts's Subjects) over one Link.
// A broadcast without a target goes out once per target room subject, so it reaches only workers
// holding members of those rooms, or once on the namespace subject when it names no room or more
// than `maxRoomSubjects` (one publish then costs less than many); the node sends unions and
// private messages to workers' own subjects instead (node.ts). Requests carry this worker's own
// subject as the NATS reply subject. Knows no adapter and no message encoding.
import type { Room } from "../../rooms/types.ts";
import type { NatsOptions } from "./nats-options.ts";
import { Link, type LinkCredentials } from "./link.ts";
import { isResponse, Subjects, type ClusterMessage } from "../protocol.ts";
import type { ClusterTransport, LogLevel, PublishTarget, TransportHandlers } from "../transport.ts";

export interface NatsTransportOptions extends LinkCredentials {
  servers: string | string[];
  prefix?: string;
  maxRoomSubjects?: number;
  name?: string;
  nats?: NatsOptions;
  log?: (level: LogLevel, message: string) => void;
}

export class NatsTransport implements ClusterTransport {
  readonly subjects: Subjects;
  readonly maxRoomSubjects: number;
  private readonly link: Link;
  private self = "";
  private handlers: TransportHandlers | null = null;

  constructor(opts: NatsTransportOptions) {
    this.subjects = new Subjects(opts.prefix);
    this.maxRoomSubjects = opts.maxRoomSubjects ?? 16;
    const { token, user, pass, tls } = opts;
    this.link = new Link(
      { servers: opts.servers, name: opts.name ?? `roomgate-${process.pid}`, nats: opts.nats, log: opts.log, token, user, pass, tls },
      (data, reply) => this.handlers?.onMessage(data, reply),
    );
  }

  get connected(): boolean {
    return this.link.connected;
  }

  get ready(): Promise<void> {
    return this.link.ready;
  }

  open(self: string, handlers: TransportHandlers): void {
    this.self = self;
    this.handlers = handlers;
    this.link.subscribe(this.subjects.heartbeat);
    this.link.subscribe(this.subjects.node(self));
    this.link.onConnected(() => handlers.onConnected());
    this.link.onDisconnected(() => handlers.onDisconnected());
    this.link.onGap((gap) => handlers.onGap?.(gap));
  }

  serve(nsp: string): void {
    this.link.subscribe(this.subjects.all(nsp));
    this.link.subscribe(this.subjects.requests(nsp));
  }

  joinRoom(nsp: string, room: Room): void {
    this.link.subscribe(this.subjects.room(nsp, room));
  }

  leaveRoom(nsp: string, room: Room): void {
    this.link.unsubscribe(this.subjects.room(nsp, room));
  }

  doPublish(msg: ClusterMessage, payload: Uint8Array, target?: PublishTarget): boolean {
    const reply = target?.expectReplies ? this.subjects.node(this.self) : undefined;
    if (target?.node !== undefined) return this.link.publish(this.subjects.node(target.node), payload, reply);
    if (target?.all && msg.type === "broadcast") return this.link.publish(this.subjects.all(msg.nsp), payload);
    if (isResponse(msg) || msg.type === "httpResponse") throw new TypeError(`cluster: a ${msg.type} answer goes out through doPublishResponse`);
    switch (msg.type) {
      case "broadcast": {
        const rooms = msg.rooms;
        if (rooms.length === 0 || rooms.length > this.maxRoomSubjects) return this.link.publish(this.subjects.all(msg.nsp), payload);
        let sent = true;
        for (const room of rooms) sent = this.link.publish(this.subjects.room(msg.nsp, room), payload) && sent;
        return sent;
      }
      case "heartbeat":
      case "hello":
      case "bye":
      case "interest":
        return this.link.publish(this.subjects.heartbeat, payload);
      case "httpRequest":
      case "httpAbort":
      case "sessionMove":
        throw new TypeError("cluster: a forwarded HTTP request goes to its session's worker (target.node)");
      default:
        return this.link.publish(this.subjects.requests(msg.nsp), payload, reply);
    }
  }

  doPublishResponse(replyTo: string, payload: Uint8Array): void {
    this.link.publish(replyTo, payload);
  }

  flush(timeoutMs: number): Promise<void> {
    return this.link.flush(timeoutMs);
  }

  close(): Promise<void> {
    return this.link.close();
  }

  /** The client's counters, and the publishes dropped while the relay was unreachable. */
  stats(): (NonNullable<ReturnType<Link["stats"]>> & { dropped: number }) | null {
    const s = this.link.stats();
    return s && { ...s, dropped: this.link.droppedTotal };
  }

  log(level: LogLevel, message: string): void {
    this.link.log(level, message);
  }
}
