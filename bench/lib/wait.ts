// Waiting, for every benchmark runner: a sleep, and a bounded poll of a condition.

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `f` every `everyMs` until it holds; throws naming `what` after `timeoutMs`. */
export async function until(f: () => Promise<boolean>, what: string, timeoutMs: number, everyMs = 20): Promise<void> {
  const t0 = performance.now();
  while (!(await f())) {
    if (performance.now() - t0 > timeoutMs) throw new Error(`timeout waiting for ${what}`);
    await sleep(everyMs);
  }
}
