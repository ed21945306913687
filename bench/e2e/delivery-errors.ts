// The delivery errors the load clients count (bench/e2e/client.ts), named once for every runner:
// any one of them above zero fails a run.

export const ERROR_KEYS = ["dup", "missing", "wrong", "ooo", "stray", "proto", "closed"] as const;
export type ErrorKey = (typeof ERROR_KEYS)[number];
export type Errors = Record<ErrorKey, number>;

export const ERROR_NAMES: Record<ErrorKey, string> = {
  dup: "duplicates",
  missing: "missing",
  wrong: "wrong-recipient",
  ooo: "out-of-order",
  stray: "stray (outside the scenario)",
  proto: "protocol errors",
  closed: "connections closed",
};

export const zeroErrors = (): Errors => ({ dup: 0, missing: 0, wrong: 0, ooo: 0, stray: 0, proto: 0, closed: 0 });

/** The error counts of several client reports (or rows) added up. */
export function sumErrors(parts: readonly Record<string, unknown>[]): Errors {
  const out = zeroErrors();
  for (const p of parts) for (const k of ERROR_KEYS) out[k] += p[k] as number;
  return out;
}

export const hasErrors = (e: Errors): boolean => ERROR_KEYS.some((k) => e[k] > 0);
