// roomgate, through its public (Socket.IO-compatible) API: the same server body as Socket.IO.
// BENCH_ROOMGATE_DIST=1 (`npm run bench -- --dist`, this file compiled and run by plain node): the
// built package, dist/ through the package's own exports ("roomgate" resolves to itself), as users
// run it; otherwise the TypeScript source.
import { spawn } from "node:child_process";
import { serve } from "./harness.ts";
import { sioImpl, type SioServer } from "./sioapi.ts";

const entry = process.env.BENCH_ROOMGATE_DIST === "1" ? "roomgate" : "../../../src/index.ts";
const { Server, operations } = (await import(entry)) as typeof import("../../../src/index.ts");

// Both transports are served (the default), so the polling scenario needs no switch here (the load
// clients send no Accept-Encoding: poll answers go uncompressed, as Socket.IO's do).
// ROOMGATE_DERIVED_TOPICS=on measures the planner with derived topics (off by default);
// ROOMGATE_RECOVERY=on measures with connection-state recovery on (events recorded, offsets appended).
// ROOMGATE_BENCH_METRICS=on serves /metrics and has a separate process scrape it every
// ROOMGATE_BENCH_SCRAPE_MS (default 1000; Prometheus' default is 15 s), so the server's CPU
// includes building the text. BENCH_DEFLATE=1 (`npm run bench -- --deflate`, which also makes the
// load clients offer the extension) turns permessage-deflate on as `perMessageDeflate: true` does:
// uWS's shared compressor, frames of 1024 bytes and more, as Socket.IO's.
const metrics = process.env.ROOMGATE_BENCH_METRICS === "on";
const io = new Server({
  pingInterval: 25000,
  pingTimeout: 20000,
  maxPayload: 1e6,
  derivedTopics: process.env.ROOMGATE_DERIVED_TOPICS === "on",
  ...(process.env.ROOMGATE_RECOVERY === "on" ? { connectionStateRecovery: {} } : {}),
  ...(metrics ? { operations: operations({ metrics: true }) } : {}),
  ...(process.env.BENCH_DEFLATE === "1" ? { perMessageDeflate: true } : {}),
});

/** A scraper in its own process (its CPU is not the server's), ending with this one. */
function scrapeEvery(port: number, ms: number): void {
  const code = `setInterval(() => fetch("http://127.0.0.1:${port}/metrics").then((r) => r.text()).catch(() => process.exit(0)), ${ms});
process.on("disconnect", () => process.exit(0));`;
  spawn(process.execPath, ["-e", code], { stdio: ["ignore", "ignore", "ignore", "ipc"] }).unref();
}

await serve(
  sioImpl(
    io as unknown as SioServer,
    async () => {
      const port = await io.listen(0, "127.0.0.1");
      if (metrics) scrapeEvery(port, Number(process.env.ROOMGATE_BENCH_SCRAPE_MS ?? 1000));
      return port;
    },
    () => io.close(),
  ),
);
