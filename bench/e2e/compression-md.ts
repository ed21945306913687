// Writes the "Compression" section of bench/RESULTS.md from two saved runs of the same command,
// one with --deflate and one without (both with --no-md, which leaves the rest of RESULTS.md as it is):
//   node --import tsx bench/e2e/compression-md.ts /tmp/deflate-on/results.json /tmp/deflate-off/results.json [notes.md]
// notes.md (optional): Markdown appended to the section (the reading of the figures).
import fs from "node:fs";
import { COMPRESSION_SECTION, compressionSection } from "./compression-report.ts";
import type { RunJson } from "./polling-report.ts";
import { writeResultsSection } from "../lib/results-md.ts";

const [onFile, offFile, notesFile] = process.argv.slice(2);
if (!onFile || !offFile) {
  console.error("usage: node --import tsx bench/e2e/compression-md.ts <results.json with --deflate> <results.json without> [notes.md]");
  process.exit(2);
}
const read = (f: string) => JSON.parse(fs.readFileSync(f, "utf8")) as RunJson;
let body: string;
try {
  body = compressionSection(read(onFile), read(offFile));
} catch (err) {
  console.error(`compression-md: ${(err as Error).message}`);
  process.exit(1);
}
if (notesFile) body += "\n\n" + fs.readFileSync(notesFile, "utf8").trim();
writeResultsSection(COMPRESSION_SECTION, body);
console.log("wrote the Compression section of bench/RESULTS.md");
