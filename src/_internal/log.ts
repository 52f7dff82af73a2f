/**
 * Parley's one logger: every layer logs through {@linkcode log}, and
 * `Stream`'s `logger` option (or {@linkcode configureLogger}) sets the level
 * and the sink for the whole process.
 *
 * The default sink is the console (`console.debug/info/warn/error`, looked
 * up at each call), and messages carry a `[parley]` prefix.
 *
 * @module
 */

/** How much is logged: each level includes the ones after it. */
export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

/** Receives every message at or above the level. */
export type LogSink = (
  level: Exclude<LogLevel, "silent">,
  message: string,
  ...data: unknown[]
) => void;

/**
 * Options of {@linkcode configureLogger} and `Stream`'s `logger`.
 *
 * @example Send Parley's warnings and errors to your own logger
 * ```ts
 * import type { LoggerOptions } from "@parley/parley";
 * const logger: LoggerOptions = {
 *   level: "warn",
 *   sink: (level, message) => console.log(JSON.stringify({ level, message })),
 * };
 * ```
 */
export interface LoggerOptions {
  /** Lowest level logged (default "info"). */
  level?: LogLevel;
  /** Where messages go (default: the console). */
  sink?: LogSink;
}

const RANK: Record<LogLevel, number> = {
  debug: 0,
  info: 1,
  warn: 2,
  error: 3,
  silent: 4,
};

const consoleSink: LogSink = (level, message, ...data) => {
  // Looked up per call, so code that replaces console.warn (tests) sees it.
  console[level](message, ...data);
};

let level: LogLevel = "info";
let sink: LogSink = consoleSink;

/**
 * Sets the process-wide level and sink (the last call wins; `Stream`
 * applies its `logger` option here).
 *
 * @example
 * ```ts
 * import { configureLogger, resetLogger } from "@parley/parley/server";
 * const lines: string[] = [];
 * configureLogger({ level: "warn", sink: (_level, message) => lines.push(message) });
 * resetLogger();
 * ```
 *
 * @param options Level and sink; omitted fields keep their value.
 */
export function configureLogger(options: LoggerOptions): void {
  if (options.level !== undefined) {
    if (!(options.level in RANK)) {
      throw new RangeError(
        `Unknown log level "${options.level}"; use debug, info, warn, error or silent`,
      );
    }
    level = options.level;
  }
  if (options.sink !== undefined) sink = options.sink;
}

/**
 * Puts the console sink and the "info" level back (tests).
 *
 * @example
 * ```ts ignore
 * configureLogger({ level: "silent" });
 * resetLogger(); // "info" to the console again
 * ```
 */
export function resetLogger(): void {
  level = "info";
  sink = consoleSink;
}

function emit(
  l: Exclude<LogLevel, "silent">,
  message: string,
  data: unknown[],
): void {
  if (RANK[l] < RANK[level]) return;
  try {
    sink(l, message, ...data);
  } catch {
    // A broken sink must not break a call.
  }
}

/**
 * The logger every layer uses.
 *
 * @example
 * ```ts ignore
 * log.warn("[parley] twilio: media before start ignored");
 * ```
 */
export const log = {
  /** Detail for debugging. */
  debug: (message: string, ...data: unknown[]): void =>
    emit("debug", message, data),
  /** Normal events (calls starting and ending). */
  info: (message: string, ...data: unknown[]): void =>
    emit("info", message, data),
  /** Something was refused or fell back. */
  warn: (message: string, ...data: unknown[]): void =>
    emit("warn", message, data),
  /** Something failed. */
  error: (message: string, ...data: unknown[]): void =>
    emit("error", message, data),
};
