// roomgate's public API.
export { Server, type ServerOptions, type RequestInfo } from "./server.ts";
export { Namespace, type Middleware } from "./namespace.ts";
export { Socket, type Handshake, type DisconnectReason } from "./socket.ts";
export { BroadcastOperator } from "./broadcast.ts";
export { Adapter, type AdapterConstructor, type BroadcastOptions, type BroadcastFlags } from "./adapter.ts";
export type { Room, SocketId } from "./membership.ts";
export { Relay, type RelayOptions, type RelayStats } from "./cluster/relay.ts";
export { ClusterAdapter, ClusterNode, RemoteSocket, createClusterAdapter, type ClusterOptions } from "./cluster/cluster-adapter.ts";
export { Emitter, type EmitterOptions } from "./cluster/emitter.ts";
