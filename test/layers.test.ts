// The floor plan of src/, checked on the import graph: the layers engine < rooms < api < cluster
// import only downwards, and no import cycle crosses a layer folder (the cycle Socket.IO's own
// classes make, server <-> namespace <-> socket, stays inside api/). bin/, examples/, index.ts and
// internal.ts sit above every layer and may import anything. Inside engine/, the same for its
// floors: http/ and the plain modules (codec, ids, logger, ...) < transports/ < upgrade/ < the
// session modules (connection, endpoint and its two request routes).
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), "../src");
const LAYERS = ["engine", "rooms", "api", "cluster", "ops"];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

/** Relative specifiers of `import … from`, `export … from`, side-effect and dynamic imports (type-only included). */
function importsOf(code: string): string[] {
  const out: string[] = [];
  for (const m of code.matchAll(/(?:^|\n)\s*(?:import|export)\s(?:[^"';]*?\sfrom\s)?["'](\.[^"']+)["']|\bimport\(\s*["'](\.[^"']+)["']\s*\)/g))
    out.push(m[1] ?? m[2]!);
  return out;
}

/** The module graph of src/, paths relative to src/. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(SRC)) {
    const from = relative(SRC, file);
    const targets = importsOf(readFileSync(file, "utf8")).map((spec) => relative(SRC, resolve(dirname(file), spec)));
    graph.set(from, targets);
  }
  return graph;
}

/** engine 0 … cluster 3; undefined for what sits above the layers (bin, examples, index, internal). */
function layerOf(path: string): number | undefined {
  const i = LAYERS.indexOf(path.split("/")[0]!);
  return i < 0 ? undefined : i;
}

/** Strongly connected components with more than one module (Tarjan). */
function cycles(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  let next = 0;
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) out.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return out;
}

const graph = importGraph();

test("layers: the import graph is read (every import resolves to a file of src/)", () => {
  assert.ok(graph.size > 30, `only ${graph.size} files under src/`);
  assert.ok(graph.get("api/server.ts")?.includes("engine/endpoint.ts"), "api/server.ts -> engine/endpoint.ts not seen");
  assert.ok(graph.get("index.ts")?.includes("api/server.ts"), "index.ts -> api/server.ts not seen");
  for (const [from, targets] of graph) for (const to of targets) assert.ok(graph.has(to), `${from} imports ${to}, which is not a file of src/`);
});

/** `from -> to` for every import from a ranked file to a higher rank or to an unranked file. */
function upwardImports(rank: (path: string) => number | undefined): string[] {
  const upward: string[] = [];
  for (const [from, targets] of graph) {
    const own = rank(from);
    if (own === undefined) continue;
    for (const to of targets) {
      const target = rank(to);
      if (target === undefined || target > own) upward.push(`${from} -> ${to}`);
    }
  }
  return upward;
}

test("layers: a lower layer never imports a higher one (engine < rooms < api < cluster)", () => {
  assert.deepEqual(upwardImports(layerOf), []);
});

/** The engine's session modules: what ties transports, upgrades and HTTP together, on top. */
const ENGINE_SESSION = ["engine/connection.ts", "engine/endpoint.ts", "engine/polling-requests.ts", "engine/websocket-requests.ts"];

/** An engine file's floor: 0 for http/ and the plain modules at engine/'s root, 1 transports/,
 *  2 upgrade/, 3 the session modules; undefined outside engine/. */
function engineFloor(path: string): number | undefined {
  if (!path.startsWith("engine/")) return undefined;
  if (ENGINE_SESSION.includes(path)) return 3;
  const sub = path.split("/").length > 2 ? path.split("/")[1] : "";
  return sub === "transports" ? 1 : sub === "upgrade" ? 2 : 0;
}

/** The folder a file counts in for cycles: engine's sub-folders apart, every other file by layer. */
function folderOf(path: string): string {
  const parts = path.split("/");
  return parts[0] === "engine" && parts.length > 2 ? `engine/${parts[1]}` : parts[0]!;
}

test("layers: engine's floors are populated (http/, transports/, upgrade/, the session modules)", () => {
  const files = [...graph.keys()];
  for (const sub of ["engine/http/", "engine/transports/", "engine/upgrade/"])
    assert.ok(files.filter((f) => f.startsWith(sub)).length >= 3, `${sub} has fewer than 3 files`);
  for (const f of ENGINE_SESSION) assert.ok(graph.has(f), `${f} is not a file of src/`);
});

test("layers: inside engine/, http/ < transports/ < upgrade/ < the session modules, and plain modules import none of them but http/", () => {
  assert.deepEqual(upwardImports(engineFloor), []);
});

test("layers: the upgrade knows no HTTP", () => {
  const crossing: string[] = [];
  for (const [from, targets] of graph)
    for (const to of targets) {
      if (from.startsWith("engine/upgrade/") && to.startsWith("engine/http/")) crossing.push(`${from} -> ${to}`);
    }
  assert.deepEqual(crossing, []);
});

test("layers: no import cycle crosses a layer folder or an engine sub-folder", () => {
  const crossing = cycles(graph).filter((scc) => new Set(scc.map(folderOf)).size > 1);
  assert.deepEqual(crossing, []);
});

test("layers: the cycle finder sees a cycle that crosses folders", () => {
  const g = new Map([
    ["engine/a.ts", ["rooms/b.ts"]],
    ["rooms/b.ts", ["engine/a.ts"]],
    ["api/c.ts", ["api/d.ts"]],
    ["api/d.ts", ["api/c.ts", "engine/a.ts"]],
  ]);
  assert.deepEqual(cycles(g), [
    ["engine/a.ts", "rooms/b.ts"],
    ["api/c.ts", "api/d.ts"],
  ]);
});

test("layers: connection-state recovery's log and parked sessions are reached only through SessionRecovery", () => {
  const behind = ["api/recovery/recording-log.ts", "api/recovery/parked-sessions.ts"];
  const reaching: string[] = [];
  for (const [from, targets] of graph)
    if (!from.startsWith("api/recovery/")) for (const to of targets) if (behind.includes(to)) reaching.push(`${from} -> ${to}`);
  assert.deepEqual(reaching, []);
  assert.ok(graph.get("api/recovery/session-recovery.ts")?.includes(behind[0]!), "session-recovery.ts -> recording-log.ts not seen");
});

/** Files of src/ (relative paths) that import the NATS client package, statically or dynamically. */
function natsImporters(): string[] {
  const pattern = /(?:^|\n)\s*(?:import|export)\s(?:[^"';]*?\sfrom\s)?["']nats(?:\/[^"']*)?["']|\bimport\(\s*["']nats(?:\/[^"']*)?["']\s*\)/;
  return sourceFiles(SRC)
    .filter((file) => pattern.test(readFileSync(file, "utf8")))
    .map((file) => relative(SRC, file))
    .sort();
}

test("layers: only cluster/nats/ imports the NATS client package (the rest of the cluster speaks to the transport seam)", () => {
  const importers = natsImporters();
  assert.ok(importers.includes("cluster/nats/link.ts"), `the NATS client is not seen imported: ${importers.join(", ")}`);
  assert.deepEqual(
    importers.filter((p) => !p.startsWith("cluster/nats/")),
    [],
  );
});
