// Watches for other processes competing for the CPUs during a run (on a shared 2-core box a
// concurrent test suite can skew a session). Every interval it reads utime+stime of every
// process in /proc; CPU used by processes outside the benchmark's own tree is "foreign".
import fs from "node:fs";
import { CLK_TCK, cpuTicks, isKernelThread, processIds } from "./procfs.ts";

/** Kernel threads (ksoftirqd, kworkers) are left out: they mostly carry the benchmark's own
 * loopback traffic. */
export class ForeignCpuMonitor {
  private last = new Map<string, number>();
  private kthread = new Map<string, boolean>();
  private foreignTicks = 0;
  private timer: NodeJS.Timeout | null = null;
  readonly available: boolean;

  constructor(
    private readonly own: () => Set<number>,
    private readonly intervalMs = 1000,
  ) {
    this.available = fs.existsSync("/proc/self/stat");
  }

  private sample(): void {
    const own = this.own();
    const next = new Map<string, number>();
    for (const pid of processIds()) {
      if (own.has(Number(pid))) continue;
      let k = this.kthread.get(pid);
      if (k === undefined) this.kthread.set(pid, (k = isKernelThread(pid)));
      if (k) continue;
      const t = cpuTicks(pid);
      if (t < 0) continue;
      next.set(pid, t);
      const prev = this.last.get(pid);
      // a process first seen now: count what it used since it started only if it is young
      // (started after the previous sample); otherwise start counting from here
      if (prev !== undefined) this.foreignTicks += Math.max(0, t - prev);
      else if (this.last.size > 0 && t < (this.intervalMs / 1000) * CLK_TCK * 2) this.foreignTicks += t;
    }
    this.last = next;
  }

  start(): void {
    if (!this.available || this.timer) return;
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Foreign CPU seconds so far (sampled now). */
  seconds(): number {
    if (!this.available) return NaN;
    this.sample();
    return this.foreignTicks / CLK_TCK;
  }
}
