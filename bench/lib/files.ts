// Writing a benchmark's outputs: atomically (a reader never sees half a file), JSON with
// non-finite numbers as null. Shared by every runner.
import fs from "node:fs";
import path from "node:path";

export function writeFileAtomic(file: string, text: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = file + ".tmp";
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

/** One-space indented JSON; NaN and ±Infinity (a metric with nothing to divide by) become null. */
export function writeJson(file: string, value: unknown): void {
  writeFileAtomic(file, JSON.stringify(value, (_k, v: unknown) => (typeof v === "number" && !Number.isFinite(v) ? null : v), 1) + "\n");
}
