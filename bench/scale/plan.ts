// The shared plan of bench:scale (bench/scale/run.ts): which 3 of the 100 rooms a connection joins, which
// rooms broadcast number `seq` targets, the payload format, and the latency histogram. The runner, the
// worker processes and the client processes import this one module, so "who must receive seq s" has
// exactly one definition.
import { mulberry32 } from "../lib/plan.ts";

export const SCALE_ROOMS = 100;
export const SCALE_ROOMS_PER_CONN = 3;

/** The rooms (0..99) of connection `cid`: 3 distinct, seeded by the connection id. */
export function roomsOf(cid: number, seed: number): number[] {
  const rng = mulberry32((seed ^ Math.imul(cid + 1, 0x9e3779b1)) >>> 0);
  const out: number[] = [];
  while (out.length < SCALE_ROOMS_PER_CONN) {
    const r = Math.floor(rng() * SCALE_ROOMS);
    if (!out.includes(r)) out.push(r);
  }
  return out;
}

export type Kind = "one" | "union4" | "all";
export const KINDS: Kind[] = ["one", "union4", "all"];

/** Per 10 broadcasts: 8 to one room, 1 to a union of 4 rooms, and 1 to the whole namespace every
 *  5th time (another one-room otherwise), so a rate of 10/s is ~60,000 deliveries/s at 100k. */
export function kindOf(seq: number): Kind {
  const i = seq % 10;
  if (i === 8) return "union4";
  if (i === 9 && Math.floor(seq / 10) % 5 === 0) return "all";
  return "one";
}

/** Target rooms of broadcast `seq` (null: the whole namespace). */
export function targetsOf(seq: number): number[] | null {
  const k = kindOf(seq);
  if (k === "all") return null;
  const first = (seq * 37) % SCALE_ROOMS;
  if (k === "one") return [first];
  return [first, (first + 25) % SCALE_ROOMS, (first + 50) % SCALE_ROOMS, (first + 75) % SCALE_ROOMS];
}

export const roomName = (r: number): string => `r${r}`;

/** The event payload: `<seq>|<emit time, µs of the monotonic clock>`. */
export function payloadOf(seq: number, tUs: number): string {
  return `${seq}|${tUs}`;
}

// ---- latency histogram: log bins, ~2% wide, up to 10^7 µs ----
export const BINS = 820;
export function binOf(us: number): number {
  return Math.min(BINS - 1, Math.max(0, Math.floor(Math.log(Math.max(us, 1)) * 50)));
}
export function binValueUs(bin: number): number {
  return Math.exp((bin + 0.5) / 50);
}
/** The p-quantile (0..1) of a histogram, in ms. */
export function quantileMs(h: ArrayLike<number>, p: number): number {
  let total = 0;
  for (let i = 0; i < h.length; i++) total += h[i]!;
  if (total === 0) return Number.NaN;
  const want = Math.max(1, Math.ceil(total * p));
  let seen = 0;
  for (let i = 0; i < h.length; i++) {
    seen += h[i]!;
    if (seen >= want) return binValueUs(i) / 1000;
  }
  return Number.NaN;
}
