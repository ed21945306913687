// A socket on another worker, as `fetchSockets()` returns it: a snapshot (id, handshake, rooms,
// data) plus operations that the owning worker carries out. Knows its adapter only through the
// RemoteSocketHost port.
import type { BroadcastOptions } from "../api/adapter.ts";
import type { Handshake } from "../api/socket-types.ts";
import { PacketType, type Packet } from "../engine/codec.ts";
import type { Room, SocketId } from "../rooms/types.ts";
import type { SerializedSocket } from "./protocol.ts";

/** An operation on one remote socket, sent to the worker that owns it. */
export type RemoteSocketOp = { type: "addSockets" | "delSockets"; targets: Room[]; id: SocketId } | { type: "disconnectSockets"; close: boolean; id: SocketId };

/** What a remote socket needs of its adapter. */
export interface RemoteSocketHost {
  broadcast(packet: Omit<Packet, "nsp">, opts: BroadcastOptions): void;
  remoteSocketRequest(owner: string, op: RemoteSocketOp): void;
}

export class RemoteSocket {
  readonly id: SocketId;
  readonly handshake: Handshake;
  readonly rooms: Set<Room>;
  readonly data: Record<string, unknown>;

  constructor(
    private readonly adapter: RemoteSocketHost,
    private readonly owner: string,
    s: SerializedSocket,
  ) {
    this.id = s.id;
    this.handshake = s.handshake as Handshake;
    this.rooms = new Set(s.rooms);
    this.data = (s.data ?? {}) as Record<string, unknown>;
  }

  emit(ev: string, ...args: unknown[]): boolean {
    if (typeof args[args.length - 1] === "function") throw new Error("roomgate: acknowledgements are not supported on a remote socket");
    this.adapter.broadcast({ type: PacketType.EVENT, data: [ev, ...args] }, { rooms: new Set([this.id]) });
    return true;
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
