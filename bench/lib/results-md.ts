// bench/RESULTS.md, the one writer of it. The file is a head (the end-to-end report, owned by
// bench/e2e/run.ts) followed by sections that other runners own, each between
// `<!-- name:start -->` and `<!-- name:end -->` (micro, cluster, and kept-by-hand ones such as
// n8000 and derived). A runner rewrites its own part and carries every other part over.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { writeFileAtomic } from "./files.ts";

export const RESULTS_MD = path.join(path.dirname(path.dirname(fileURLToPath(import.meta.url))), "RESULTS.md");

/** The name under which the head (the end-to-end report, unmarked at the top) is written. */
export const HEAD = "head";

const marked = (name: string) => new RegExp(`<!-- ${name}:start -->[\\s\\S]*?<!-- ${name}:end -->`);

/** Rewrites one part of RESULTS.md: the head (`HEAD`), or the section `name` in place (appended
 *  when new). `body` is the part's Markdown without its markers. */
export function writeResultsSection(name: string, body: string, file = RESULTS_MD): void {
  const old = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
  if (name === HEAD) {
    const sections = old.match(/<!-- ([\w-]+):start -->[\s\S]*?<!-- \1:end -->/g) ?? [];
    writeFileAtomic(file, body + sections.map((s) => "\n" + s + "\n").join(""));
    return;
  }
  const block = `<!-- ${name}:start -->\n${body.trim()}\n<!-- ${name}:end -->`;
  const re = marked(name);
  // (a function as replacement: `$` in the body must stay as it is)
  if (re.test(old))
    writeFileAtomic(
      file,
      old.replace(re, () => block),
    );
  else writeFileAtomic(file, old.trim() === "" ? `${block}\n` : `${old.replace(/\n*$/, "\n\n")}${block}\n`);
}
