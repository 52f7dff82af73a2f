/** Test helpers: serve a Stream on a random loopback port. */
import type { Stream } from "../../mod.ts";

export interface TestServer {
  url: string;
  wsUrl: string;
  close(): Promise<void>;
}

export function serveStream(stream: Stream): TestServer {
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen: () => {} },
    stream.fetch,
  );
  const { port } = server.addr;
  return {
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}`,
    async close() {
      await stream.close();
      await server.shutdown();
    },
  };
}

/** Waits until `predicate` holds (polling every 10 ms) or throws. */
export async function until(
  predicate: () => boolean,
  timeoutMs = 5000,
  what = "condition",
): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!predicate()) {
    if (performance.now() > end) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}
