// The example application `npm start` runs: the Socket.IO rooms use cases.
//  - a client proves who it is with a signed token (auth.token, see tokens.ts), verified with the
//    secret in APP_TOKEN_SECRET; without it, a demo secret (APP_DEMO_TOKEN_SECRET, which the pm2
//    ecosystem makes once for all its workers, or a random one for this process) and a demo token
//    are logged;
//  - every device / tab of a user shares a room named after the user (from the verified token);
//  - per-entity rooms ("project:<id>") joined by a `subscribe` event that the app authorizes;
//  - broadcasts to them, and a private message to a socket id;
//  - a live "who is here" per project room: the distinct users in it (not tabs), sent to the room
//    as "who is here" {projectId, members} when it changes, and asked for with the "who is here"
//    event. In a cluster that is presence (README "Room sizes and presence"): a user with tabs on
//    two workers is listed once, and leaves with the last tab; a lone server reads its own rooms.
// Nothing here depends on the packet format: started with ROOMGATE_PARSER=socket.io-msgpack-parser
// the same app speaks MessagePack, and its clients connect with
// `io(url, { parser: require("socket.io-msgpack-parser"), auth: { token } })` (README "Custom parsers").
import { randomBytes } from "node:crypto";
import { ClusterAdapter, type Room, type Server } from "../index.ts";
import { signToken, verifyToken } from "./tokens.ts";

/** Stand-in for a real lookup: which projects may this user see? */
function canSee(userId: string, projectId: string): boolean {
  return userId === "admin" || !projectId.startsWith("secret-");
}

/** The secret tokens are signed with: APP_TOKEN_SECRET; or a demo one, the pm2 ecosystem's (the
 *  same for all its workers, so a token works on any) or a random one for this process (tokens then
 *  die with it); the log shows a token to try the app with. */
function tokenSecret(io: Server): string {
  const configured = process.env.APP_TOKEN_SECRET;
  if (configured) return configured;
  const shared = process.env.APP_DEMO_TOKEN_SECRET;
  const secret = shared || randomBytes(32).toString("hex");
  const which = shared ? "the demo secret every worker of this pm2 start shares" : "a random secret";
  io.logger.warn(`example app: APP_TOKEN_SECRET is not set; signing with ${which}. A token for user "alice", valid 1 h: ${signToken("alice", secret)}`);
  return secret;
}

const PROJECT = /^project:/;

/** "Who is here" per project room: presence across the cluster, or a lone server's own rooms. */
function whoIsHere(io: Server): { members(room: Room): string[]; changed(rooms: Iterable<Room>): void } {
  const nsp = io.of("/");
  const tell = (room: Room, members: string[]) => io.local.to(room).emit("who is here", { projectId: String(room).slice("project:".length), members });
  const adapter = nsp.adapter;
  if (adapter instanceof ClusterAdapter) {
    const presence = adapter.presence({ key: (socket) => socket.data.userId, rooms: PROJECT });
    const members = (room: Room) => presence.members(room).sort();
    // Every worker tells its own clients in the room, once per user that comes or goes.
    presence.on("join", (room) => tell(room, members(room)));
    presence.on("leave", (room) => tell(room, members(room)));
    return { members, changed: () => {} };
  }
  const members = (room: Room) => {
    const users = new Set<string>();
    for (const id of adapter.rooms.get(room) ?? []) {
      const userId = nsp.sockets.get(id)?.data.userId;
      if (typeof userId === "string") users.add(userId);
    }
    return [...users].sort();
  };
  return { members, changed: (rooms) => [...rooms].filter((r) => PROJECT.test(String(r))).forEach((r) => tell(r, members(r))) };
}

export default function roomsApp(io: Server): void {
  const secret = tokenSecret(io);
  const here = whoIsHere(io);
  io.use((socket, next) => {
    const verified = verifyToken(socket.handshake.auth.token, secret);
    if ("error" in verified) return next(Object.assign(new Error("unauthorized"), { data: { reason: verified.error } }));
    socket.data.userId = verified.userId;
    next();
  });

  io.on("connection", (socket) => {
    const userId = socket.data.userId as string;
    socket.join(`user:${userId}`);
    // A recovered socket (a reconnect, or a session moved from another worker) never left.
    if (!socket.recovered) io.to(`user:${userId}`).except(socket.id).emit("device joined", { socketId: socket.id });

    socket.on("subscribe", (projectId: unknown, ack?: (r: unknown) => void) => {
      const reply = typeof ack === "function" ? ack : () => {};
      if (typeof projectId !== "string" || !/^[\w-]{1,64}$/.test(projectId)) return reply({ ok: false, error: "invalid project id" });
      if (!canSee(userId, projectId)) return reply({ ok: false, error: "forbidden" });
      const room = `project:${projectId}`;
      socket.join(room);
      here.changed([room]);
      reply({ ok: true, rooms: [...socket.rooms] });
    });

    socket.on("unsubscribe", (projectId: unknown) => {
      if (typeof projectId !== "string" || projectId.length === 0 || projectId.length > 64) return;
      socket.leave(`project:${projectId}`);
      here.changed([`project:${projectId}`]);
    });

    socket.on("who is here", (projectId: unknown, ack?: (r: unknown) => void) => {
      if (typeof ack !== "function") return;
      if (typeof projectId !== "string" || !socket.rooms.has(`project:${projectId}`)) return ack({ ok: false, error: "not subscribed" });
      ack({ ok: true, projectId, members: here.members(`project:${projectId}`) });
    });

    // Anyone subscribed to a project may post an update; everyone else in the room gets it.
    socket.on("update project", (projectId: unknown, change: unknown) => {
      if (typeof projectId !== "string" || !socket.rooms.has(`project:${projectId}`)) return;
      socket.to(`project:${projectId}`).emit("project updated", { projectId, change, by: userId });
    });

    socket.on("private message", (toSocketId: unknown, msg: unknown) => {
      if (typeof toSocketId !== "string" || toSocketId.length === 0 || toSocketId.length > 64) return;
      socket.to(toSocketId).emit("private message", socket.id, msg);
    });

    let left: Room[] = [];
    socket.on("disconnect", () => {
      if (!socket.moved) here.changed(left);
    });
    socket.on("disconnecting", () => {
      if (socket.moved) return; // it goes on on another worker
      left = [...socket.rooms];
      io.to(`user:${userId}`)
        .except(socket.id)
        .emit("device left", { socketId: socket.id, rooms: [...socket.rooms] });
    });
  });
}
