/** Records the URL of every fetch made while `fn` runs (and still lets it through). */
export async function withFetchSpy<T>(
  fn: (calls: string[]) => Promise<T>,
): Promise<T> {
  const calls: string[] = [];
  const orig = globalThis.fetch;
  globalThis.fetch = (input, init) => {
    calls.push(String(input instanceof Request ? input.url : input));
    return orig(input, init);
  };
  try {
    return await fn(calls);
  } finally {
    globalThis.fetch = orig;
  }
}
