// The cluster bus of one worker: the registry features plug their handlers into (one per message
// type; per namespace for a namespace's operations), the dispatch of what arrives, and publishing.
// A payload is decoded once; one that does not decode (corrupt, or not a message of this protocol)
// is counted and logged, never dropped silently, and never takes the worker down. A worker's own
// messages are not delivered back to it. Knows the message shapes (protocol.ts) and the transport
// seam (transport.ts); no feature: presence, interest, requests, session mobility and the
// adapters' operations register their handlers (node.ts wires them).
import {
  decodeMessage,
  encodeMessage,
  isResponse,
  senderOf,
  type ClusterMessage,
  type MessageOf,
  type MessageType,
  type RequestMessage,
  type ResponseMessage,
} from "./protocol.ts";
import type { ClusterTransport, LogLevel, PublishTarget } from "./transport.ts";

export type Handler<M> = (msg: M, replyTo: string | undefined) => void;

/** A namespace's operations: delivered to the handler its adapter registered for that namespace. */
export type NamespaceOperation = Exclude<RequestMessage["type"], "interestCheck">;

/** The counters of ClusterNode.stats kept here (see there). */
export interface BusStats {
  requestsIn: number;
  undecodable: number;
}

/** An undecodable payload is logged at most this often (a bad publisher must not flood the log). */
const LOG_UNDECODABLE_EVERY_MS = 10_000;

export class Bus {
  private readonly handlers = new Map<string, Handler<ClusterMessage>>();
  /** Per operation type, its handler per namespace. */
  private readonly operations = new Map<string, Map<string, Handler<ClusterMessage>>>();
  private undecodableLoggedAt = Number.NEGATIVE_INFINITY;
  private undecodableUnlogged = 0;

  constructor(
    /** This worker's id (also the first characters of its socket ids: protocol.ts's ownerOf). */
    readonly id: string,
    /** The worker's link to the others. */
    readonly link: ClusterTransport,
    private readonly counters: BusStats,
  ) {}

  /** @internal Messages of `type` from other workers go to `handler` (a later one replaces it). */
  handle<T extends MessageType>(type: T, handler: Handler<MessageOf<T>>): void {
    this.handlers.set(type, handler as Handler<ClusterMessage>);
  }

  /** @internal Operations of `type` on namespace `nsp` go to `handler` (counted in requestsIn,
   *  also when no namespace here handles them). */
  handleIn<T extends NamespaceOperation>(nsp: string, type: T, handler: Handler<MessageOf<T>>): void {
    let byNsp = this.operations.get(type);
    if (!byNsp) {
      const table = (byNsp = new Map());
      this.operations.set(type, table);
      this.handle(type, (msg, replyTo) => {
        this.counters.requestsIn++;
        table.get((msg as MessageOf<NamespaceOperation>).nsp)?.(msg, replyTo);
      });
    }
    byNsp.set(nsp, handler as Handler<ClusterMessage>);
  }

  /** @internal Encodes and publishes (see PublishTarget); false when it could not go out (not
   *  serializable, or not sent). */
  publish(msg: ClusterMessage, target?: PublishTarget): boolean {
    const payload = this.encode(msg);
    return payload !== null && this.link.doPublish(msg, payload, target);
  }

  /** @internal Answers a request at its return address (none: nobody awaits an answer). */
  respond(replyTo: string | undefined, msg: ResponseMessage): void {
    if (!replyTo) return;
    const payload = this.encode(msg);
    if (payload) this.link.doPublishResponse(replyTo, payload);
  }

  /** @internal */
  log(level: LogLevel, message: string): void {
    this.link.log(level, message);
  }

  /** @internal What the transport received: decoded, then to the handler of its type. */
  receive(payload: Uint8Array, replyTo: string | undefined): void {
    let msg: ClusterMessage;
    try {
      msg = decodeMessage(payload);
    } catch (err) {
      return this.undecodable(payload, err as Error);
    }
    if (!isResponse(msg) && senderOf(msg) === this.id) return;
    this.handlers.get(msg.type)?.(msg, replyTo);
  }

  /** @internal Encodes `msg`; null (logged) when it cannot be serialized. */
  encode(msg: ClusterMessage): Uint8Array | null {
    try {
      return encodeMessage(msg);
    } catch (err) {
      this.log("error", `cluster: cannot serialize a ${msg.type} message: ${(err as Error).message}`);
      return null;
    }
  }

  private undecodable(payload: Uint8Array, err: Error): void {
    this.counters.undecodable++;
    this.undecodableUnlogged++;
    const now = Date.now();
    if (now - this.undecodableLoggedAt < LOG_UNDECODABLE_EVERY_MS) return;
    const more = this.undecodableUnlogged > 1 ? ` (${this.undecodableUnlogged - 1} more since the last one logged)` : "";
    this.log("warn", `cluster: dropped a payload that does not decode (${payload.length} bytes: ${err.message})${more}`);
    this.undecodableLoggedAt = now;
    this.undecodableUnlogged = 0;
  }
}
