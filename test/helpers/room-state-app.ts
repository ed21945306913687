// Test application for the room sizes and presence tests: a client says who it is in
// `auth.user` (the presence key), and asks its worker to join or leave a room with the "join" /
// "leave" events (acked once done). Presence is on for rooms named "p:…" only; every worker
// records the presence events it fires, per room, to check that they fire once per member.
import { ClusterAdapter, type Room, type RoomPresence, type Server } from "../../src/index.ts";

export interface PresenceLog {
  presence: RoomPresence;
  /** Members per room as the events say (join adds, leave removes). */
  members: Map<Room, Set<string>>;
  /** Events that contradict the ones before (a join of a member present, a leave of one absent). */
  errors: string[];
}

export default function roomStateApp(io: Server): PresenceLog {
  const adapter = io.of("/").adapter;
  if (!(adapter instanceof ClusterAdapter)) throw new TypeError("room-state-app needs the cluster adapter");
  const presence = adapter.presence({ key: (socket) => socket.data.user, rooms: /^p:/ });
  const log: PresenceLog = { presence, members: new Map(), errors: [] };
  presence.on("join", (room, member) => {
    let set = log.members.get(room);
    if (!set) log.members.set(room, (set = new Set()));
    if (set.has(member)) log.errors.push(`join of ${member} in ${String(room)} twice`);
    set.add(member);
  });
  presence.on("leave", (room, member) => {
    const set = log.members.get(room);
    if (!set?.delete(member)) log.errors.push(`leave of ${member} from ${String(room)} not present`);
    if (set?.size === 0) log.members.delete(room);
  });
  io.use((socket, next) => {
    socket.data.user = socket.handshake.auth.user;
    next();
  });
  io.on("connection", (socket) => {
    socket.on("join", async (room: string, ack: () => void) => {
      await socket.join(room);
      ack();
    });
    socket.on("leave", (room: string, ack: () => void) => {
      socket.leave(room);
      ack();
    });
  });
  return log;
}
