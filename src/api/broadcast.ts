// The immutable broadcast operator behind io.to/in/except/volatile/local/timeout and
// socket.to/broadcast: every modifier returns a new operator; emit hands one packet to the adapter.
import type { Adapter, BroadcastFlags, BroadcastOptions } from "./adapter.ts";
import { PacketType } from "../engine/codec.ts";
import type { Room, SocketId } from "../rooms/types.ts";
import { assertEmittable, assertTimeout, roomList } from "./socket-types.ts";
import type { Socket } from "./socket.ts";

type AckCallback = (err: Error | null, responses: unknown[]) => void;

export class BroadcastOperator {
  constructor(
    private readonly adapter: Adapter,
    private readonly rooms: Set<Room> = new Set(),
    private readonly exceptRooms: Set<Room> = new Set(),
    private readonly flags: BroadcastFlags = {},
    private readonly sender?: Socket,
  ) {}

  /** Targets a room (or rooms); chained targets are a union where each socket gets the event once. */
  to(room: Room | Room[]): BroadcastOperator {
    return new BroadcastOperator(this.adapter, new Set([...this.rooms, ...roomList(room)]), this.exceptRooms, this.flags, this.sender);
  }

  in(room: Room | Room[]): BroadcastOperator {
    return this.to(room);
  }

  except(room: Room | Room[]): BroadcastOperator {
    return new BroadcastOperator(this.adapter, this.rooms, new Set([...this.exceptRooms, ...roomList(room)]), this.flags, this.sender);
  }

  get volatile(): BroadcastOperator {
    return this.withFlags({ volatile: true });
  }

  get local(): BroadcastOperator {
    return this.withFlags({ local: true });
  }

  /** Accepted for Socket.IO compatibility; per-message compression is not enabled in roomgate. */
  compress(_compress: boolean): BroadcastOperator {
    return this;
  }

  timeout(ms: number): BroadcastOperator {
    assertTimeout(ms);
    return this.withFlags({ timeout: ms });
  }

  emit(ev: string, ...args: unknown[]): boolean {
    assertEmittable(ev);
    const ack = typeof args[args.length - 1] === "function" ? (args.pop() as AckCallback) : undefined;
    const packet = { type: PacketType.EVENT, data: [ev, ...args] };
    if (!ack) {
      this.adapter.broadcast(packet, this.options());
      return true;
    }
    this.emitWithAckCallback(packet, ack);
    return true;
  }

  emitWithAck(ev: string, ...args: unknown[]): Promise<unknown[]> {
    return new Promise((resolve, reject) => {
      this.emit(ev, ...args, (err: Error | null, responses: unknown[]) => (err ? reject(err) : resolve(responses)));
    });
  }

  fetchSockets(): Promise<unknown[]> {
    return this.adapter.fetchSockets(this.options());
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

  private withFlags(flags: BroadcastFlags): BroadcastOperator {
    return new BroadcastOperator(this.adapter, this.rooms, this.exceptRooms, { ...this.flags, ...flags }, this.sender);
  }

  /** Socket.IO's semantics: one callback, with every response or with a timeout error and the partial list. */
  private emitWithAckCallback(packet: { type: 2; data: unknown[] }, ack: AckCallback): void {
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
            ack(new Error("operation has timed out"), responses);
          }, this.flags.timeout);
    const check = () => {
      if (done || expectedServers !== answeredServers || responses.length !== expectedClients) return;
      done = true;
      clearTimeout(timer);
      ack(null, responses);
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
