// The servers the end-to-end benchmark compares (bench/servers/), the ones it runs by default,
// and the baselines every figure is divided by.

export interface ServerDef {
  name: string;
  /** The server's script, relative to bench/. */
  file: string;
  /** "sio": speaks Engine.IO/Socket.IO to the clients; "raw": plain WebSocket frames. */
  mode: "sio" | "raw";
  label: string;
}
export const SERVER_DEFS: readonly ServerDef[] = [
  { name: "roomgate", file: "servers/roomgate.ts", mode: "sio", label: "roomgate" },
  { name: "uws", file: "servers/uws.ts", mode: "raw", label: "raw uWS pub/sub (floor)" },
  { name: "socketio-ws", file: "servers/socketio-ws.ts", mode: "sio", label: "Socket.IO 4.8 on ws" },
  { name: "socketio-uws", file: "servers/socketio-uws.ts", mode: "sio", label: "Socket.IO 4.8 on uWS" },
  { name: "wrong", file: "servers/wrong.ts", mode: "raw", label: "deliberately wrong (harness check)" },
];
export const DEFAULT_SERVERS = ["roomgate", "uws", "socketio-ws", "socketio-uws"];
export const BASELINES = ["uws", "socketio-ws"] as const;

export function serverDef(name: string): ServerDef {
  const def = SERVER_DEFS.find((d) => d.name === name);
  if (!def) throw new Error(`unknown server ${JSON.stringify(name)}`);
  return def;
}
