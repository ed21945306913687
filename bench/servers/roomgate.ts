// roomgate, through its public (Socket.IO-compatible) API: the same server body as Socket.IO.
import { Server } from "../../src/index.ts";
import { serve } from "./harness.ts";
import { sioImpl, type SioServer } from "./sioapi.ts";

// ROOMGATE_DERIVED_TOPICS=on measures the planner with derived topics (off by default).
const io = new Server({
  pingInterval: 25000,
  pingTimeout: 20000,
  maxPayload: 1e6,
  derivedTopics: process.env.ROOMGATE_DERIVED_TOPICS === "on",
});

await serve(
  sioImpl(
    io as unknown as SioServer,
    () => io.listen(0, "127.0.0.1"),
    () => io.close(),
  ),
);
