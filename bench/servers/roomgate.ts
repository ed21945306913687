// roomgate, through its public (Socket.IO-compatible) API: the same server body as Socket.IO.
// BENCH_ROOMGATE_DIST=1 (`npm run bench -- --dist`, this file compiled and run by plain node): the
// built package, dist/ through the package's own exports ("roomgate" resolves to itself), as users
// run it; otherwise the TypeScript source.
import { serve } from "./harness.ts";
import { sioImpl, type SioServer } from "./sioapi.ts";

const entry = process.env.BENCH_ROOMGATE_DIST === "1" ? "roomgate" : "../../src/index.ts";
const { Server } = (await import(entry)) as typeof import("../../src/index.ts");

// ROOMGATE_DERIVED_TOPICS=on measures the planner with derived topics (off by default);
// ROOMGATE_RECOVERY=on measures with connection-state recovery on (events recorded, offsets appended).
const io = new Server({
  pingInterval: 25000,
  pingTimeout: 20000,
  maxPayload: 1e6,
  derivedTopics: process.env.ROOMGATE_DERIVED_TOPICS === "on",
  ...(process.env.ROOMGATE_RECOVERY === "on" ? { connectionStateRecovery: {} } : {}),
});

await serve(
  sioImpl(
    io as unknown as SioServer,
    () => io.listen(0, "127.0.0.1"),
    () => io.close(),
  ),
);
