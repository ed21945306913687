// Waiting, for every benchmark runner and every test (test/helpers/wait.ts re-exports it): a sleep,
// and one bounded poll of a condition. Knows nothing of what is waited for.

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `f` every `everyMs` until it returns a truthy value, and resolves to it; a throw counts as
 * "not yet". After `ms` it throws, naming `what` and the last value or error seen.
 */
export async function until<T>(f: () => T | Promise<T>, what: string, ms = 5000, everyMs = 10): Promise<T> {
  const deadline = performance.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await f();
      if (v) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await sleep(everyMs);
  }
}
