// A socket on another worker, as `fetchSockets()` returns it (Socket.IO's RemoteSocket): a
// snapshot (id, handshake, rooms, data) plus operations that the owning worker carries out. Emits,
// with or without an acknowledgement, are broadcasts to the socket's own room. Knows its adapter
// through the RemoteSocketHost port (and as the Adapter a broadcast operator works on).
import type { Adapter } from "../api/adapter.ts";
import { BroadcastOperator } from "../api/broadcast.ts";
import type { Handshake, RemoteSocket as RemoteSocketType } from "../api/socket-types.ts";
import type { DecorateAcknowledgements, DefaultEventsMap, EventNames, EventParams, EventsMap } from "../api/typed-events.ts";
import type { Room, SocketId } from "../rooms/types.ts";
import type { SerializedSocket } from "./protocol.ts";

/** An operation on one remote socket, sent to the worker that owns it. */
export type RemoteSocketOp = { type: "addSockets" | "delSockets"; targets: Room[]; id: SocketId } | { type: "disconnectSockets"; close: boolean; id: SocketId };

/** What a remote socket needs of its adapter besides broadcasting through it. */
export interface RemoteSocketHost {
  remoteSocketRequest(owner: string, op: RemoteSocketOp): void;
}

export class RemoteSocket<EmitEvents extends EventsMap = DefaultEventsMap, SocketData = any> implements RemoteSocketType<EmitEvents, SocketData> {
  readonly id: SocketId;
  readonly handshake: Handshake;
  readonly rooms: Set<Room>;
  readonly data: SocketData;

  constructor(
    private readonly adapter: Adapter & RemoteSocketHost,
    private readonly owner: string,
    s: SerializedSocket,
  ) {
    this.id = s.id;
    this.handshake = s.handshake as Handshake;
    this.rooms = new Set(s.rooms);
    this.data = (s.data ?? {}) as SocketData;
  }

  /** An operator on this socket alone whose acknowledgement callback gets one response. */
  private operator(): BroadcastOperator<EmitEvents, SocketData> {
    return new BroadcastOperator(this.adapter, new Set([this.id]), new Set(), { expectSingleResponse: true });
  }

  /** The next emit's acknowledgement fails after `ms`: its callback is `(err, response)`. */
  timeout(ms: number): BroadcastOperator<DecorateAcknowledgements<EmitEvents>, SocketData> {
    return this.operator().timeout(ms);
  }

  emit<Ev extends EventNames<EmitEvents>>(ev: Ev, ...args: EventParams<EmitEvents, Ev>): boolean {
    return this.operator().emit(ev, ...args);
  }

  join(rooms: Room | Room[]): void {
    this.adapter.remoteSocketRequest(this.owner, { type: "addSockets", targets: Array.isArray(rooms) ? rooms : [rooms], id: this.id });
  }

  leave(room: Room): void {
    this.adapter.remoteSocketRequest(this.owner, { type: "delSockets", targets: [room], id: this.id });
  }

  disconnect(close = false): this {
    this.adapter.remoteSocketRequest(this.owner, { type: "disconnectSockets", close, id: this.id });
    return this;
  }
}
