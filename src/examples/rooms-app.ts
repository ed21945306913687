// The example application `npm start` runs: the Socket.IO rooms use cases.
//  - every device / tab of a user shares a room named after the user (from the handshake);
//  - per-entity rooms ("project:<id>") joined by a `subscribe` event that the app authorizes;
//  - broadcasts to them, and a private message to a socket id.
import type { Server, Socket } from "../index.ts";

/** Stand-in for a real lookup: which projects may this user see? */
function canSee(userId: string, projectId: string): boolean {
  return userId === "admin" || !projectId.startsWith("secret-");
}

function userIdOf(socket: Socket): string | undefined {
  const fromAuth = socket.handshake.auth.userId;
  const id = typeof fromAuth === "string" ? fromAuth : socket.handshake.query.userId;
  return typeof id === "string" && /^[\w-]{1,64}$/.test(id) ? id : undefined;
}

export default function roomsApp(io: Server): void {
  io.use((socket, next) => {
    const userId = userIdOf(socket);
    if (!userId) return next(Object.assign(new Error("unauthorized"), { data: { reason: "a userId (auth or query) is required" } }));
    socket.data.userId = userId;
    next();
  });

  io.on("connection", (socket) => {
    const userId = socket.data.userId as string;
    socket.join(`user:${userId}`);
    io.to(`user:${userId}`).except(socket.id).emit("device joined", { socketId: socket.id });

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
      io.to(`user:${userId}`)
        .except(socket.id)
        .emit("device left", { socketId: socket.id, rooms: [...socket.rooms] });
    });
  });
}
