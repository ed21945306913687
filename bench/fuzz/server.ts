// The fuzz target: a roomgate server in its own process (so a crash is seen as an exit, not lost
// with the fuzzer), running a small app that reaches the API's paths (join, broadcast, acks,
// binary). Prints "listening <port>"; logs every error-level line as one JSON line on stderr.
import { Server } from "../../src/index.ts";

const line = (level: string) => (fields: object | string, message?: string) => {
  if (level !== "error") return;
  const f = typeof fields === "string" ? {} : (fields as { err?: Error });
  process.stderr.write(
    `${JSON.stringify({ level, message: typeof fields === "string" ? fields : message, err: f.err ? String(f.err.stack ?? f.err) : undefined })}\n`,
  );
};
const logger = { debug: line("debug"), info: line("info"), warn: line("warn"), error: line("error") };

// Small maxPayload: oversize cases stay cheap. The budget is raised: the fuzzer reuses a session
// for many cases and should reach the parser, not the rate limit, most of the time.
const io = new Server({ maxPayload: 64 * 1024, logger, inboundRateLimit: { events: 1_000_000, perAddress: false }, connectTimeout: 5000 });
/** How far the cases got: namespace connections and events that reached the application. */
const reached = { connections: 0, events: 0, binaryEvents: 0 };
for (const nsp of [io.of("/"), io.of("/admin")]) {
  nsp.on("connection", (socket) => {
    reached.connections++;
    socket.join("r");
    socket.onAny((ev: string, ...args: unknown[]) => {
      reached.events++;
      if (args.some((a) => Buffer.isBuffer(a) || (typeof a === "object" && a !== null && Object.values(a).some(Buffer.isBuffer)))) reached.binaryEvents++;
      const ack = typeof args[args.length - 1] === "function" ? (args.pop() as (...a: unknown[]) => void) : null;
      try {
        if (ev === "join") socket.join(args[0] as string);
        else if (ev === "leave") socket.leave(args[0] as string);
        else if (ev === "bcast") socket.to(typeof args[0] === "string" ? args[0] : "r").emit("b", ...args.slice(1));
        else if (ev === "all") nsp.emit("b", ...args);
      } catch (err) {
        // The app's own check (an invalid room name is a TypeError): not a roomgate failure.
        if (!(err instanceof TypeError || err instanceof RangeError)) throw err;
      }
      ack?.(...args);
    });
  });
}
const port = await io.listen(0, "127.0.0.1");
console.log(`listening ${port}`);
process.on("SIGTERM", () => {
  console.log(`reached ${JSON.stringify(reached)}`);
  void io.close().then(() => process.exit(0));
});
