/// <reference types="node" preserve="true" />
// roomgate's public API: what `import … from "roomgate"` gives. Internals that the benchmarks and
// tests reach into are in internal.ts, not here.
export { Server, type ServerOptions, type ServerPlugin, type RequestInfo, type ParentNspNameMatchFn } from "./api/server.ts";
export { Namespace, type Middleware } from "./api/namespace.ts";
export { ParentNamespace } from "./api/parent-namespace.ts";
export { Socket } from "./api/socket.ts";
export type { Handshake, DisconnectReason, ExtendedError, Event, RemoteSocket } from "./api/socket-types.ts";
export { EngineSocket, EngineView, type ConnectionError } from "./api/engine-socket.ts";
export type { EventsMap, DefaultEventsMap, EventNames, EventParams, TypedEventBroadcaster } from "./api/typed-events.ts";
export { BroadcastOperator } from "./api/broadcast.ts";
export { Adapter, type AdapterConstructor, type BroadcastOptions, type BroadcastFlags } from "./api/adapter.ts";
export type { Room, SocketId } from "./rooms/types.ts";
export { Relay, type RelayOptions, type RelayStats } from "./cluster/relay/relay.ts";
export { ClusterAdapter, createClusterAdapter } from "./cluster/cluster-adapter.ts";
export { ClusterNode, type ClusterOptions } from "./cluster/node.ts";
export { RoomPresence, type RoomPresenceEvents, type RoomPresenceOptions } from "./cluster/room-presence.ts";
// The class behind a socket of another worker; its type, for users, is RemoteSocket (api/socket-types.ts).
export { RemoteSocket as ClusterRemoteSocket } from "./cluster/remote-socket.ts";
export type { ClusterGap, ClusterTransport, PublishTarget, TransportHandlers } from "./cluster/transport.ts";
export { Emitter, type EmitterOptions } from "./cluster/emitter.ts";
export type { NatsOptions, NatsTlsOptions } from "./cluster/nats/nats-options.ts";
export { operations, type Operations, type OperationsOptions } from "./ops/operations.ts";
export type { TlsOptions, PerMessageDeflate } from "./engine/app.ts";
export type { Parser, ParserDecoder, ParserEncoder, ParserPacket } from "./engine/parser.ts";
