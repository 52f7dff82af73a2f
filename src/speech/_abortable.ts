// Waiting on shared work with a caller's own AbortSignal. Private to the
// speech layer.

/**
 * Resolves or rejects like `work`, or rejects with `signal.reason` as soon
 * as `signal` aborts. The work itself is not cancelled: other callers may be
 * waiting on it (a shared model load, a queued transcription).
 */
export function untilAborted<T>(
  work: Promise<T>,
  signal: AbortSignal | undefined,
): Promise<T> {
  if (!signal) return work;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() =>
      signal.removeEventListener("abort", onAbort)
    );
  });
}
