// Process-wide registry of "release every loaded model" functions. Speech
// and VAD modules register theirs when they are loaded, so the server can
// release models at shutdown without importing the TTS/STT stack (a phone
// bot's import graph stays free of it).

const closers = new Map<string, () => Promise<void>>();

/**
 * Registers the function that releases every model of one kind (its ONNX
 * sessions, worker threads). Registering a name again replaces it.
 */
export function registerModelCloser(
  name: string,
  close: () => Promise<void>,
): void {
  closers.set(name, close);
}

/** Names of the registered closers, for tests and logs. */
export function modelCloserNames(): string[] {
  return [...closers.keys()];
}

/**
 * Runs every registered closer at once; resolves when all settled. Returns
 * the names of the closers that failed, with their errors.
 */
export async function runModelClosers(): Promise<
  { name: string; error: unknown }[]
> {
  const entries = [...closers.entries()];
  const results = await Promise.allSettled(entries.map(([, f]) => f()));
  return results.flatMap((r, i) =>
    r.status === "rejected" ? [{ name: entries[i][0], error: r.reason }] : []
  );
}
