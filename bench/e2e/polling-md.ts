// Writes the "Long-polling" section of bench/RESULTS.md from a saved run's JSON, for a run made with
// --no-md (which leaves the end-to-end report at the top of RESULTS.md as it is):
//   node --import tsx bench/e2e/polling-md.ts /tmp/pollbench/results.json
import fs from "node:fs";
import { hasPolling, POLLING_SECTION, pollingSection, type RunJson } from "./polling-report.ts";
import { writeResultsSection } from "../lib/results-md.ts";

const file = process.argv[2];
if (!file) {
  console.error("usage: node --import tsx bench/e2e/polling-md.ts <results.json of a run with the polling scenario>");
  process.exit(2);
}
const run = JSON.parse(fs.readFileSync(file, "utf8")) as RunJson;
if (!hasPolling(run)) {
  console.error(`${file}: no polling results`);
  process.exit(1);
}
writeResultsSection(POLLING_SECTION, pollingSection(run));
console.log("wrote the Long-polling section of bench/RESULTS.md");
