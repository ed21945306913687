// The immutable broadcast operator behind io.to/in/except/volatile/local/timeout and
// socket.to/broadcast: every modifier returns a new operator; emit hands one packet to the adapter.
// Typed by Socket.IO's event maps (EmitEvents, SocketData).
import type { Adapter, BroadcastFlags, BroadcastOptions } from "./adapter.ts";
import { PacketType } from "../engine/codec.ts";
import type { Room, SocketId } from "../rooms/types.ts";
import { assertEmittable, assertTimeout, roomList, type RemoteSocket } from "./socket-types.ts";
import type { Socket } from "./socket.ts";
import type {
  AllButLast,
  DecorateAcknowledgements,
  EventNames,
  EventNamesWithError,
  EventParams,
  EventsMap,
  FirstNonErrorArg,
  Last,
  TypedEventBroadcaster,
} from "./typed-events.ts";

type AckCallback = (err: Error | null, responses: unknown) => void;

/** `expectSingleResponse`: a RemoteSocket's emit, whose callback gets one response, not a list. */
export type OperatorFlags = BroadcastFlags & { expectSingleResponse?: boolean };

export class BroadcastOperator<EmitEvents extends EventsMap, SocketData> implements TypedEventBroadcaster<EmitEvents> {
  constructor(
    private readonly adapter: Adapter,
    private readonly rooms: Set<Room> = new Set(),
    private readonly exceptRooms: Set<Room> = new Set(),
    private readonly flags: OperatorFlags = {},
    private readonly sender?: Socket,
  ) {}

  /** Targets a room (or rooms); chained targets are a union where each socket gets the event once. */
  to(room: Room | Room[]): BroadcastOperator<EmitEvents, SocketData> {
    return new BroadcastOperator(this.adapter, new Set([...this.rooms, ...roomList(room)]), this.exceptRooms, this.flags, this.sender);
  }

  in(room: Room | Room[]): BroadcastOperator<EmitEvents, SocketData> {
    return this.to(room);
  }

  except(room: Room | Room[]): BroadcastOperator<EmitEvents, SocketData> {
    return new BroadcastOperator(this.adapter, this.rooms, new Set([...this.exceptRooms, ...roomList(room)]), this.flags, this.sender);
  }

  get volatile(): BroadcastOperator<EmitEvents, SocketData> {
    return this.withFlags({ volatile: true });
  }

  get local(): BroadcastOperator<EmitEvents, SocketData> {
    return this.withFlags({ local: true });
  }

  /** compress(false): this broadcast goes uncompressed even when permessage-deflate is on. */
  compress(compress: boolean): BroadcastOperator<EmitEvents, SocketData> {
    return this.withFlags({ compress });
  }

  timeout(ms: number): BroadcastOperator<DecorateAcknowledgements<EmitEvents>, SocketData> {
    assertTimeout(ms);
    return this.withFlags({ timeout: ms }) as BroadcastOperator<any, SocketData>;
  }

  emit<Ev extends EventNames<EmitEvents>>(ev: Ev, ...args: EventParams<EmitEvents, Ev>): boolean {
    assertEmittable(ev);
    const data: unknown[] = [ev, ...args];
    const ack = typeof data[data.length - 1] === "function" ? (data.pop() as AckCallback) : undefined;
    const packet = { type: PacketType.EVENT, data };
    // Socket.IO calls each recipient's onAnyOutgoing listeners for a broadcast too (local sockets).
    this.adapter.nsp.notifyOutgoing(this.options(), data);
    if (!ack) {
      this.adapter.broadcast(packet, this.options());
      return true;
    }
    this.emitWithAckCallback(packet, ack);
    return true;
  }

  emitWithAck<Ev extends EventNamesWithError<EmitEvents>>(
    ev: Ev,
    ...args: AllButLast<EventParams<EmitEvents, Ev>>
  ): Promise<FirstNonErrorArg<Last<EventParams<EmitEvents, Ev>>>> {
    return new Promise((resolve, reject) => {
      // As in Socket.IO, a timeout's error carries the responses that did come (`err.responses`).
      const ack = (err: Error | null, responses: any) => (err ? reject(Object.assign(err, { responses })) : resolve(responses));
      (this.emit as (ev: string, ...a: unknown[]) => boolean)(ev as string, ...args, ack);
    });
  }

  fetchSockets(): Promise<RemoteSocket<EmitEvents, SocketData>[]> {
    return this.adapter.fetchSockets(this.options()) as Promise<RemoteSocket<EmitEvents, SocketData>[]>;
  }

  async allSockets(): Promise<Set<SocketId>> {
    return new Set((await this.adapter.fetchSockets(this.options())).map((s) => (s as { id: SocketId }).id));
  }

  socketsJoin(room: Room | Room[]): void {
    this.adapter.addSockets(this.options(), roomList(room));
  }

  socketsLeave(room: Room | Room[]): void {
    this.adapter.delSockets(this.options(), roomList(room));
  }

  disconnectSockets(close = false): void {
    this.adapter.disconnectSockets(this.options(), close);
  }

  private cachedOptions: BroadcastOptions | undefined;

  /** The operator is immutable, so its adapter options are made once. */
  private options(): BroadcastOptions {
    return (this.cachedOptions ??= { rooms: this.rooms, except: this.exceptRooms, flags: this.flags, sender: this.sender });
  }

  private withFlags(flags: OperatorFlags): BroadcastOperator<EmitEvents, SocketData> {
    return new BroadcastOperator(this.adapter, this.rooms, this.exceptRooms, { ...this.flags, ...flags }, this.sender);
  }

  /** Socket.IO's semantics: one callback, with every response or with a timeout error and the
   *  partial list (with expectSingleResponse: the one response, or the error alone). */
  private emitWithAckCallback(packet: { type: 2; data: unknown[] }, ack: AckCallback): void {
    const single = !!this.flags.expectSingleResponse;
    const responses: unknown[] = [];
    let expectedServers = -1;
    let answeredServers = 0;
    let expectedClients = 0;
    let done = false;
    const timer =
      this.flags.timeout === undefined
        ? undefined
        : setTimeout(() => {
            done = true;
            this.adapter.nsp.server.stats.acksTimedOut++;
            if (single) ack(new Error("operation has timed out"), null);
            else ack(new Error("operation has timed out"), responses);
          }, this.flags.timeout);
    const check = () => {
      if (done || expectedServers !== answeredServers || responses.length !== expectedClients) return;
      done = true;
      clearTimeout(timer);
      if (!single) ack(null, responses);
      else if (responses.length > 0) ack(null, responses[0]);
      // A remote socket that has gone answers nobody: its callback waits for the timeout, as in Socket.IO.
    };
    this.adapter.broadcastWithAck(
      packet,
      this.options(),
      (clients) => {
        expectedClients += clients;
        answeredServers++;
        check();
      },
      (response) => {
        responses.push(response);
        check();
      },
    );
    this.adapter.serverCount().then((n) => {
      expectedServers = this.flags.local ? 1 : n;
      check();
    });
  }
}
