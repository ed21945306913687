// test:runtimes' API check of the two registry builds, run on a Node both load (Node 20, ABI 115,
// glibc >= 2.38): each build in its own process prints the method sets of its exports, an App, a
// WebSocket, an HttpResponse and an HttpRequest (live objects from one request and one upgrade);
// this process compares them. It fails when 20.57 lacks a method 20.30 has (roomgate's code was
// written against 20.30); what only 20.57 has is listed (roomgate must not call it: 20.30 lacks it).
// Prints one summary line last. Knows nothing of roomgate beyond the two package names.
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { connect } from "node:net";

type Sets = Record<"exports" | "app" | "ws" | "res" | "req", string[]>;
const BUILDS = ["@btc-vision/uwebsockets.js", "@trufflesuite/uws-js-unofficial"];

function names(o: object): string[] {
  const s = new Set<string>();
  for (let p: object | null = o; p && p !== Object.prototype; p = Object.getPrototypeOf(p)) for (const k of Object.getOwnPropertyNames(p)) s.add(k);
  return [...s].sort();
}

/** In a child: load `build`, collect the sets from live objects, print them as JSON. */
function collect(build: string): void {
  const uWS = createRequire(import.meta.url)(build) as any;
  const out: Partial<Sets> = { exports: Object.keys(uWS).sort() };
  const app = uWS.App();
  out.app = names(app);
  app.ws("/*", { open: (ws: object) => ((out.ws = names(ws)), (ws as { end(): void }).end()) });
  app.get("/*", (res: { end(s: string): void }, req: object) => ((out.res = names(res)), (out.req = names(req)), res.end("x")));
  app.listen("127.0.0.1", 0, (ls: unknown) => {
    const port = uWS.us_socket_local_port(ls);
    const send = (text: string, then: () => void) => {
      const s = connect(port, "127.0.0.1", () => s.write(text));
      s.once("data", () => (s.destroy(), then()));
    };
    send("GET / HTTP/1.1\r\nHost: x\r\n\r\n", () =>
      send(
        "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        () => (console.log(JSON.stringify(out)), process.exit(0)),
      ),
    );
  });
}

if (process.argv[2]) collect(process.argv[2]);
else {
  const sets = BUILDS.map((b) => {
    const r = spawnSync(process.execPath, ["--import", "tsx", import.meta.filename, b], { encoding: "utf8", timeout: 20000 });
    if (r.status !== 0) throw new Error(`${b} did not load on ${process.version}: ${r.stderr}`);
    return JSON.parse(r.stdout) as Sets;
  });
  const lines: string[] = [];
  let differs = false;
  for (const k of Object.keys(sets[0]!) as (keyof Sets)[]) {
    const [a, b] = [new Set(sets[0]![k]), new Set(sets[1]![k])];
    const onlyA = [...a].filter((x) => !b.has(x));
    const onlyB = [...b].filter((x) => !a.has(x));
    if (onlyB.length) differs = true;
    lines.push(`${k} ${a.size}/${b.size}${onlyA.length ? ` only 20.57: ${onlyA.join(",")}` : ""}${onlyB.length ? ` only 20.30: ${onlyB.join(",")}` : ""}`);
  }
  console.log(`${differs ? "MISSING IN 20.57" : "ok"}: method sets 20.57/20.30 on ${process.version}: ${lines.join("; ")}`);
  process.exit(differs ? 1 : 0);
}
