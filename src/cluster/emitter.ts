// The emitter: broadcasts and cluster-wide operations from a process that holds no sockets (a price
// feed, a game loop), published on the same subjects, in the same payload format, as a gateway
// worker's (see protocol.ts and README "Cluster").
//
//   const emitter = new Emitter({ servers: "nats://127.0.0.1:4222" });
//   emitter.to("room:1").except("muted").emit("tick", { price: 42 });
//   emitter.of("/admin").socketsJoin("audit");
//   await emitter.close();
import { randomBytes } from "node:crypto";
import type { NatsOptions } from "./nats/nats-options.ts";
import type { Room } from "../rooms/types.ts";
import { assertEmittable, roomList } from "../api/socket-types.ts";
import type { Frame } from "../engine/binary.ts";
import { encodePacket, type Packet, PacketType } from "../engine/codec.ts";
import { type Parser, PacketParser } from "../engine/parser.ts";
import { Link, type LinkCredentials } from "./nats/link.ts";
import { publishRoute } from "./nats/nats-transport.ts";
import { encodeMessage, PROTOCOL_VERSION as V, Subjects, type BroadcastMessage, type ClusterMessage, type RequestMessage } from "./protocol.ts";
import { NAMESPACE, routeBroadcast, type Route } from "./route.ts";

export interface EmitterOptions extends LinkCredentials {
  /** NATS server URL(s): the relay or a nats-server cluster. */
  servers: string | string[];
  /** Subject prefix; must match the workers' `cluster.prefix`. Default "roomgate". */
  prefix?: string;
  /** Same meaning as the workers' `cluster.maxRoomSubjects` (default 16). */
  maxRoomSubjects?: number;
  /** Emits issued before the first connection to the relay are queued, up to this many (default
   *  10000), and sent once connected; later ones, and any during an outage, are dropped. */
  maxQueuedBeforeConnect?: number;
  /** Connection name (default "roomgate-emitter-<pid>"). */
  name?: string;
  nats?: NatsOptions;
  log?: (level: "info" | "warn" | "error", message: string) => void;
  /** The packet format, as the workers' `parser` option (Socket.IO's; e.g. socket.io-msgpack-parser):
   *  the emitter encodes each broadcast once and the workers deliver the bytes as they are, so it
   *  must be the workers' one. Default: the built-in JSON format. */
  parser?: Parser;
}

/** State shared by every view of one emitter: the connection, the origin id, the sequence. */
class EmitterCore {
  readonly origin = randomBytes(8).toString("hex");
  readonly subjects: Subjects;
  readonly link: Link;
  readonly maxRoomSubjects: number;
  /** Null for the built-in codec. */
  readonly parser: PacketParser | null;
  seq = 0;

  constructor(opts: EmitterOptions) {
    this.parser = opts.parser === undefined ? null : new PacketParser(opts.parser);
    this.subjects = new Subjects(opts.prefix);
    this.maxRoomSubjects = opts.maxRoomSubjects ?? 16;
    this.link = new Link(
      {
        servers: opts.servers,
        name: opts.name ?? `roomgate-emitter-${process.pid}`,
        nats: opts.nats,
        log: opts.log,
        token: opts.token,
        user: opts.user,
        pass: opts.pass,
        tls: opts.tls,
        maxQueuedBeforeConnect: opts.maxQueuedBeforeConnect ?? 10_000,
      },
      () => {},
    );
  }

  encode(packet: Packet): Frame[] {
    return this.parser === null ? encodePacket(packet) : this.parser.encode(packet);
  }

  /** Where route.ts sends it (an operation: to the namespace's workers). */
  publish(msg: ClusterMessage, route: Route = NAMESPACE): void {
    publishRoute(this.link, this.subjects, msg, route, encodeMessage(msg));
  }
}

/** An immutable selection (namespace, rooms, except, flags) of sockets anywhere in the cluster. */
export class EmitterBroadcastOperator {
  constructor(
    private readonly core: EmitterCore,
    private readonly nsp: string,
    private readonly rooms: ReadonlySet<Room> = new Set(),
    private readonly exceptRooms: ReadonlySet<Room> = new Set(),
    private readonly volatileFlag = false,
  ) {}

  to(room: Room | Room[]): EmitterBroadcastOperator {
    return new EmitterBroadcastOperator(this.core, this.nsp, new Set([...this.rooms, ...roomList(room)]), this.exceptRooms, this.volatileFlag);
  }

  in(room: Room | Room[]): EmitterBroadcastOperator {
    return this.to(room);
  }

  except(room: Room | Room[]): EmitterBroadcastOperator {
    return new EmitterBroadcastOperator(this.core, this.nsp, this.rooms, new Set([...this.exceptRooms, ...roomList(room)]), this.volatileFlag);
  }

  get volatile(): EmitterBroadcastOperator {
    return new EmitterBroadcastOperator(this.core, this.nsp, this.rooms, this.exceptRooms, true);
  }

  /** Broadcasts; acknowledgements are not supported from an emitter. */
  emit(ev: string, ...args: unknown[]): true {
    assertEmittable(ev);
    if (typeof args[args.length - 1] === "function") throw new Error("roomgate: acknowledgements are not supported by the emitter");
    const core = this.core;
    const msg: BroadcastMessage = {
      v: V,
      type: "broadcast",
      origin: core.origin,
      seq: ++core.seq,
      nsp: this.nsp,
      rooms: [...this.rooms],
      except: [...this.exceptRooms],
      // Encoded here once, as the workers' own broadcasts are: they deliver the bytes as they are.
      frames: core.encode({ type: PacketType.EVENT, nsp: this.nsp, data: [ev, ...args] }),
    };
    if (this.volatileFlag) msg.flags = { volatile: true };
    core.publish(msg, routeBroadcast(this.nsp, msg.rooms, core));
    return true;
  }

  socketsJoin(room: Room | Room[]): void {
    this.request({ type: "addSockets", targets: roomList(room) });
  }

  socketsLeave(room: Room | Room[]): void {
    this.request({ type: "delSockets", targets: roomList(room) });
  }

  disconnectSockets(close = false): void {
    this.request({ type: "disconnectSockets", close });
  }

  private request(op: { type: "addSockets" | "delSockets"; targets: Room[] } | { type: "disconnectSockets"; close: boolean }): void {
    const base = { v: V, origin: this.core.origin, nsp: this.nsp, rooms: [...this.rooms], except: [...this.exceptRooms] };
    const msg: RequestMessage = op.type === "disconnectSockets" ? { ...base, type: op.type, close: op.close } : { ...base, type: op.type, targets: op.targets };
    this.core.publish(msg);
  }
}

export class Emitter {
  private readonly core: EmitterCore;

  constructor(opts: EmitterOptions);
  constructor(
    opts: EmitterOptions | EmitterCore,
    private readonly nsp = "/",
  ) {
    this.core = opts instanceof EmitterCore ? opts : new EmitterCore(opts);
  }

  /** Resolves when connected to the relay for the first time (emits before are queued). */
  get ready(): Promise<void> {
    return this.core.link.ready;
  }

  /** The same emitter for another namespace. */
  of(nsp: string): Emitter {
    if (typeof nsp !== "string") throw new TypeError("namespace name must be a string");
    return new (Emitter as unknown as new (core: EmitterCore, nsp: string) => Emitter)(this.core, nsp.startsWith("/") ? nsp : "/" + nsp);
  }

  to(room: Room | Room[]): EmitterBroadcastOperator {
    return this.operator().to(room);
  }
  in(room: Room | Room[]): EmitterBroadcastOperator {
    return this.operator().in(room);
  }
  except(room: Room | Room[]): EmitterBroadcastOperator {
    return this.operator().except(room);
  }
  get volatile(): EmitterBroadcastOperator {
    return this.operator().volatile;
  }
  emit(ev: string, ...args: unknown[]): true {
    return this.operator().emit(ev, ...args);
  }
  socketsJoin(room: Room | Room[]): void {
    this.operator().socketsJoin(room);
  }
  socketsLeave(room: Room | Room[]): void {
    this.operator().socketsLeave(room);
  }
  disconnectSockets(close = false): void {
    this.operator().disconnectSockets(close);
  }

  /** Emits to every worker's server-side listeners (no acknowledgements from an emitter). */
  serverSideEmit(ev: string, ...args: unknown[]): true {
    if (typeof ev !== "string") throw new TypeError("event name must be a string");
    if (typeof args[args.length - 1] === "function") throw new Error("roomgate: acknowledgements are not supported by the emitter");
    this.core.publish({ v: V, type: "serverSideEmit", origin: this.core.origin, nsp: this.nsp, data: [ev, ...args] });
    return true;
  }

  /** Sends what is queued (waiting up to `timeoutMs` for a first connection), then disconnects. */
  async close(timeoutMs = 2000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.core.link.ready, new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
    await this.core.link.flush(timeoutMs);
    await this.core.link.close();
  }

  private operator(): EmitterBroadcastOperator {
    return new EmitterBroadcastOperator(this.core, this.nsp);
  }
}
