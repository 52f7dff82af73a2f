/**
 * An abortable sleep that never leaves a timer behind.
 *
 * @module
 */

/**
 * Sleeps `ms` milliseconds; resolves early (without error) when `signal`
 * aborts, leaving no timer behind.
 *
 * @example
 * ```ts
 * import { sleep } from "./sleep.ts";
 * await sleep(10);
 * ```
 *
 * @param ms Milliseconds.
 * @param signal Ends the sleep early.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
