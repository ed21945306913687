// How long this process's event loop was late: time it was busy or stalled, when what clients sent
// waited unread in the kernel. The inbound budgets (rate-limit.ts) credit it back, so that frames
// read in one go after a stall are judged at the pace they arrived, not at the pace they were
// read. One unref'd timer per process, started by the first budget; knows nothing of connections.

/** The timer's period: lateness below it is not seen (nor needed: a budget's interval is ~1 s). */
const PERIOD_MS = 100;

let total = 0;
let lastTick = 0;
let timer: NodeJS.Timeout | null = null;

function tick(): void {
  const now = performance.now();
  const late = now - lastTick - PERIOD_MS;
  lastTick = now;
  if (late > 0) total += late;
}

/** Starts measuring (once per process; the timer does not keep the process alive). */
export function watchLoopLag(): void {
  if (timer !== null) return;
  lastTick = performance.now();
  timer = setInterval(tick, PERIOD_MS);
  timer.unref();
}

/** Milliseconds the event loop has been late in total, up to `now` (performance.now()): the
 *  current lateness counts too, so a frame read at the end of a long turn, before the timer could
 *  run, is credited for it. */
export function loopLateness(now: number): number {
  if (timer === null) return 0;
  return total + Math.max(0, now - lastTick - PERIOD_MS);
}
