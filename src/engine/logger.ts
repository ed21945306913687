// One logger for the whole gateway: the `logger` server option. Its shape is pino's (a fields
// object, then a message; or a message alone), so a pino logger plugs in as it is; the default
// writes to the console. Lowest layer, so every other one may log through it; knows none of them.

export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

export interface LogFn {
  (fields: object, message?: string): void;
  (message: string): void;
}

export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };
const NOOP: LogFn = () => {};

/** A console logger that writes `roomgate <level>: <message>` and the fields, from `level` up. */
export function consoleLogger(level: LogLevel = "info"): Logger {
  const make = (at: Exclude<LogLevel, "silent">, write: (...args: unknown[]) => void): LogFn => {
    if (RANK[at] < RANK[level]) return NOOP;
    return (fieldsOrMessage: object | string, message?: string) => {
      if (typeof fieldsOrMessage === "string") write(`roomgate ${at}: ${fieldsOrMessage}`);
      else if (message === undefined) write(`roomgate ${at}:`, fieldsOrMessage);
      else write(`roomgate ${at}: ${message}`, fieldsOrMessage);
    };
  };
  return {
    debug: make("debug", console.debug),
    info: make("info", console.info),
    warn: make("warn", console.warn),
    error: make("error", console.error),
  };
}

/** The `logger` option: a Logger, a level for the console logger, or nothing (console, "info"). */
export function resolveLogger(option: Logger | LogLevel | undefined): Logger {
  if (option === undefined) return consoleLogger();
  if (typeof option === "string") {
    if (!(option in RANK)) throw new TypeError(`roomgate: logger level must be one of ${Object.keys(RANK).join(", ")}, got ${JSON.stringify(option)}`);
    return consoleLogger(option);
  }
  for (const m of ["debug", "info", "warn", "error"] as const) {
    if (typeof option[m] !== "function") throw new TypeError(`roomgate: logger must have a ${m}() method (pino's shape), or be a level name`);
  }
  return option;
}
