// What the benchmark runners read from Linux's /proc: a process's CPU time and parent, its
// ancestors and descendants (to tell the benchmark's own processes from others), other
// benchmarks running at the same time, and the open-file limit. Every reader tolerates a process
// that has just gone, and a system without /proc (answers NaN, -1 or empty).
import fs from "node:fs";

/** Clock ticks per second of /proc/<pid>/stat times (CLK_TCK is 100 on Linux). */
export const CLK_TCK = 100;

/** The fields of /proc/<pid>/stat after the command name (index 0 = state), or null. */
function statFields(pid: number | string): string[] | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "latin1");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return null;
  }
}

/** utime + stime of a process in clock ticks, or -1. */
export function cpuTicks(pid: number | string): number {
  const f = statFields(pid);
  return f ? Number(f[11]) + Number(f[12]) : -1;
}

/** CPU time (user + system) of a process in µs, or NaN. */
export function readProcCpuUs(pid: number): number {
  const t = cpuTicks(pid);
  return t < 0 ? NaN : (t * 1e6) / CLK_TCK;
}

function parentOf(pid: number | string): number {
  const f = statFields(pid);
  return f ? Number(f[1]) : -1;
}

function pids(): string[] {
  try {
    return fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d));
  } catch {
    return [];
  }
}

/** This process and its ancestors (npm, sh). */
export function ancestors(): Set<number> {
  const mine = new Set<number>();
  for (let p = process.pid; p > 1 && !mine.has(p); ) {
    mine.add(p);
    p = parentOf(p);
    if (p < 0) break;
  }
  return mine;
}

/** This process, its ancestors and every descendant (tsx's esbuild helpers included). */
export function ownProcesses(): Set<number> {
  const parent = new Map<number, number>();
  for (const d of pids()) {
    const pp = parentOf(d);
    if (pp >= 0) parent.set(Number(d), pp);
  }
  const own = new Set([process.pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, pp] of parent)
      if (!own.has(pid) && own.has(pp)) {
        own.add(pid);
        grew = true;
      }
  }
  for (const p of ancestors()) own.add(p);
  return own;
}

/** Other benchmark runners alive now (they would skew every figure): "pid: command" each. */
export function otherBenchmarks(): string[] {
  const found: string[] = [];
  const mine = ancestors();
  for (const pid of pids()) {
    if (mine.has(Number(pid))) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
      if (/bench\/\S+\.ts/.test(cmd) && !/bench\/(client|servers\/)|--relay-child/.test(cmd)) found.push(`${pid}: ${cmd.trim().slice(0, 100)}`);
    } catch {
      /* gone */
    }
  }
  return found;
}

/** Whether a process has no command line: a kernel thread (or one already gone). */
export function isKernelThread(pid: string): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`).length === 0;
  } catch {
    return true;
  }
}

/** The most file descriptors one process may hold (Infinity when unknown). */
export function openFileLimit(): number {
  try {
    const m = /Max open files\s+(\d+)/.exec(fs.readFileSync("/proc/self/limits", "utf8"));
    return m ? Number(m[1]) : Infinity;
  } catch {
    return Infinity;
  }
}

/** Numeric directory names under /proc: every process's pid. */
export { pids as processIds };
