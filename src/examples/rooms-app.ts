// The example application `npm start` runs: the Socket.IO rooms use cases.
//  - a client proves who it is with a signed token (auth.token, see tokens.ts), verified with the
//    secret in APP_TOKEN_SECRET; without it, a demo secret (APP_DEMO_TOKEN_SECRET, which the pm2
//    ecosystem makes once for all its workers, or a random one for this process) and a demo token
//    are logged;
//  - every device / tab of a user shares a room named after the user (from the verified token);
//  - per-entity rooms ("project:<id>") joined by a `subscribe` event that the app authorizes;
//  - broadcasts to them, and a private message to a socket id.
// Nothing here depends on the packet format: started with ROOMGATE_PARSER=socket.io-msgpack-parser
// the same app speaks MessagePack, and its clients connect with
// `io(url, { parser: require("socket.io-msgpack-parser"), auth: { token } })` (README "Custom parsers").
import { randomBytes } from "node:crypto";
import type { Server } from "../index.ts";
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

export default function roomsApp(io: Server): void {
  const secret = tokenSecret(io);
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
      socket.join(`project:${projectId}`);
      reply({ ok: true, rooms: [...socket.rooms] });
    });

    socket.on("unsubscribe", (projectId: unknown) => {
      if (typeof projectId === "string" && projectId.length > 0 && projectId.length <= 64) socket.leave(`project:${projectId}`);
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

    socket.on("disconnecting", () => {
      if (socket.moved) return; // it goes on on another worker
      io.to(`user:${userId}`)
        .except(socket.id)
        .emit("device left", { socketId: socket.id, rooms: [...socket.rooms] });
    });
  });
}
