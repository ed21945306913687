// Socket.IO's StrictEventEmitter: an EventEmitter whose on/once/emit/listeners are typed by event
// maps (listened events, emitted events, reserved events), as in socket.io 4.8's
// lib/typed-events.ts. The API's Namespace and Socket extend it; at run time it only forwards.
import { EventEmitter } from "node:events";
import type { EventNames, EventParams, EventsMap, ReservedOrUserEventNames, ReservedOrUserListener, TypedEventBroadcaster } from "./typed-events.ts";

export abstract class StrictEventEmitter<ListenEvents extends EventsMap, EmitEvents extends EventsMap, ReservedEvents extends EventsMap = {}>
  extends EventEmitter
  implements TypedEventBroadcaster<EmitEvents>
{
  override on<Ev extends ReservedOrUserEventNames<ReservedEvents, ListenEvents>>(
    ev: Ev,
    listener: ReservedOrUserListener<ReservedEvents, ListenEvents, Ev>,
  ): this {
    return super.on(ev, listener);
  }

  override once<Ev extends ReservedOrUserEventNames<ReservedEvents, ListenEvents>>(
    ev: Ev,
    listener: ReservedOrUserListener<ReservedEvents, ListenEvents, Ev>,
  ): this {
    return super.once(ev, listener);
  }

  override emit<Ev extends EventNames<EmitEvents>>(ev: Ev, ...args: EventParams<EmitEvents, Ev>): boolean {
    return super.emit(ev, ...args);
  }

  /** Runs this emitter's own listeners for a reserved event (connect, disconnect, ...). */
  protected emitReserved<Ev extends EventNames<ReservedEvents>>(ev: Ev, ...args: EventParams<ReservedEvents, Ev>): boolean {
    return super.emit(ev, ...args);
  }

  /** Runs this emitter's own listeners for any event, untyped (a client's event, say). */
  protected emitUntyped(ev: string, ...args: any[]): boolean {
    return super.emit(ev, ...args);
  }

  override listeners<Ev extends ReservedOrUserEventNames<ReservedEvents, ListenEvents>>(event: Ev): ReservedOrUserListener<ReservedEvents, ListenEvents, Ev>[] {
    return super.listeners(event) as ReservedOrUserListener<ReservedEvents, ListenEvents, Ev>[];
  }
}
