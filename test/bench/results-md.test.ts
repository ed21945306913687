// The one writer of bench/RESULTS.md (bench/lib/results-md.ts): the end-to-end head is replaced
// with every marked section carried over; a named section is replaced in place, or appended.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { HEAD, writeResultsSection } from "../../bench/lib/results-md.ts";

function withFile(text: string | null, fn: (file: string) => void): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "roomgate-results-md-"));
  const file = path.join(dir, "RESULTS.md");
  if (text !== null) fs.writeFileSync(file, text);
  try {
    fn(file);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const FILE =
  "# old head\n\nold table\n\n<!-- micro:start -->\n## micro\nold micro\n<!-- micro:end -->\n\n<!-- n8000:start -->\nkept $1 by hand\n<!-- n8000:end -->\n";

test("results-md: the head is replaced and every marked section carried over", () => {
  withFile(FILE, (file) => {
    writeResultsSection(HEAD, "# new head\n", file);
    assert.equal(
      fs.readFileSync(file, "utf8"),
      "# new head\n\n<!-- micro:start -->\n## micro\nold micro\n<!-- micro:end -->\n\n<!-- n8000:start -->\nkept $1 by hand\n<!-- n8000:end -->\n",
    );
  });
});

test("results-md: a named section is replaced in place, the rest untouched ($ in a body kept as is)", () => {
  withFile(FILE, (file) => {
    writeResultsSection("micro", "## micro\nnew $& micro\n", file);
    assert.equal(
      fs.readFileSync(file, "utf8"),
      FILE.replace("old micro", () => "new $& micro"),
    );
  });
});

test("results-md: a new section is appended after one blank line; a missing file is created", () => {
  withFile(FILE, (file) => {
    writeResultsSection("cluster", "## cluster\nfigures", file);
    assert.equal(fs.readFileSync(file, "utf8"), FILE + "\n<!-- cluster:start -->\n## cluster\nfigures\n<!-- cluster:end -->\n");
  });
  withFile(null, (file) => {
    writeResultsSection("cluster", "x", file);
    assert.equal(fs.readFileSync(file, "utf8"), "<!-- cluster:start -->\nx\n<!-- cluster:end -->\n");
  });
});
