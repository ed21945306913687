// The NATS transport of the cluster: subjects by interest (protocol.ts's Subjects) over one Link. A
// message goes where its route says (route.ts decides; publishRoute here turns a route into
// subjects, for the emitter too): the namespace's subject, rooms' subjects (a worker subscribes
// there while it holds members of the room), or workers' own subjects. Requests carry this worker's
// own subject as the NATS reply subject. Knows no adapter and no message encoding.
import type { Room } from "../../rooms/types.ts";
import type { NatsOptions } from "./nats-options.ts";
import { Link, type LinkCredentials } from "./link.ts";
import { isResponse, Subjects, type ClusterMessage } from "../protocol.ts";
import type { Route } from "../route.ts";
import type { ClusterTransport, LogLevel, PublishTarget, TransportHandlers } from "../transport.ts";

export interface NatsTransportOptions extends LinkCredentials {
  servers: string | string[];
  prefix?: string;
  name?: string;
  nats?: NatsOptions;
  log?: (level: LogLevel, message: string) => void;
}

export class NatsTransport implements ClusterTransport {
  readonly subjects: Subjects;
  private readonly link: Link;
  private self = "";
  private handlers: TransportHandlers | null = null;

  constructor(opts: NatsTransportOptions) {
    this.subjects = new Subjects(opts.prefix);
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
    if (target?.route) return publishRoute(this.link, this.subjects, msg, target.route, payload, reply);
    if (isResponse(msg)) throw new TypeError(`cluster: a ${msg.type} answer goes out through doPublishResponse`);
    switch (msg.type) {
      case "heartbeat":
      case "hello":
      case "bye":
      case "interest":
      case "roomState":
      case "roomStateAsk":
        return this.link.publish(this.subjects.heartbeat, payload);
      case "broadcast":
      case "httpRequest":
      case "httpAbort":
      case "sessionMove":
        throw new TypeError(`cluster: a ${msg.type} message needs a route (route.ts)`);
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

/** Publishes `payload` (message `msg`) along `route`: the namespace's broadcast subject (a
 *  broadcast) or its requests subject (an operation); rooms' subjects; workers' own subjects. False
 *  when one of the publishes could not go out. */
export function publishRoute(link: Link, subjects: Subjects, msg: ClusterMessage, route: Route, payload: Uint8Array, reply?: string): boolean {
  const nsp = "nsp" in msg ? msg.nsp : "/";
  let sent = true;
  switch (route.to) {
    case "namespace":
      return link.publish(msg.type === "broadcast" ? subjects.all(nsp) : subjects.requests(nsp), payload, reply);
    case "rooms":
      for (const room of route.rooms) sent = link.publish(subjects.room(nsp, room), payload, reply) && sent;
      for (const owner of route.owners) sent = link.publish(subjects.node(owner), payload, reply) && sent;
      return sent;
    case "workers":
      for (const worker of route.workers) sent = link.publish(subjects.node(worker), payload, reply) && sent;
      return sent;
  }
}
