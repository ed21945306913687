// Work over many connections at once (closing them all), spread over event-loop turns so timers,
// heartbeats and other clients' I/O keep running meanwhile. Knows nothing of what it closes.

/** Items per event-loop turn. Measured (bench/close-slices.ts, 5,000 sessions, load average ~11 on
 *  2 cores): closed at once, the loop stalled 144-502 ms; 128 per turn, the longest stall was 24-67 ms
 *  (a slice takes 12-15 ms; the rest is uWS's close callbacks when the peers' FINs arrive together). */
const CLOSE_SLICE = 128;

/** Runs `close` over `items`, CLOSE_SLICE per event-loop turn, so timers and I/O run in between. */
export async function closeInSlices<T>(items: readonly T[], close: (item: T) => void): Promise<void> {
  for (let i = 0; i < items.length; i += CLOSE_SLICE) {
    if (i > 0) await new Promise((r) => setImmediate(r));
    for (const item of items.slice(i, i + CLOSE_SLICE)) close(item);
  }
}
