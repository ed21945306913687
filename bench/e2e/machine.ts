// What machine a benchmark ran on, for its report: the fields every runner shares.
import { spawnSync } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { NCPU } from "../lib/peer.ts";

const ROOT = path.dirname(path.dirname(path.dirname(fileURLToPath(import.meta.url))));

export function machineBasics(): { cpu: string; os: string; node: string; roomgate: string } {
  const git = (args: string[]): string => {
    const r = spawnSync("git", args, { cwd: ROOT, encoding: "utf8" });
    return r.status === 0 ? r.stdout.trim() : "?";
  };
  const dirty = git(["status", "--porcelain", "--", "src"]);
  return {
    cpu: `${os.cpus()[0]?.model ?? "?"} × ${NCPU}`,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    roomgate: `${git(["rev-parse", "--short", "HEAD"])}${dirty && dirty !== "?" ? " + uncommitted changes in src/" : ""}`,
  };
}
