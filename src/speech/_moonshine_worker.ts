// Worker entry: runs one MoonshineRunner off the main thread, so onnxruntime's
// blocking session runs (the encoder takes tens to hundreds of milliseconds)
// never stall the event loop that paces every call's audio. Private to the
// speech layer; started by _moonshine_pool.ts.

import { MoonshineRunner, type MoonshineRunnerOptions } from "./moonshine.ts";

/** Messages the pool sends. */
export type WorkerRequest =
  | { op: "load"; options: MoonshineRunnerOptions }
  | { op: "run"; id: number; audio: Float32Array; maxTokens?: number }
  | { op: "abort"; id: number }
  | { op: "close" };

/** Messages the worker answers with. */
export type WorkerReply =
  | { op: "loaded"; backend: "node" | "wasm" }
  | { op: "done"; id: number; ids: number[] }
  | { op: "failed"; id: number | null; name: string; message: string }
  | { op: "closed" };

// A worker's global scope, typed without the deno.worker lib.
const scope = self as unknown as {
  onmessage: ((e: MessageEvent<WorkerRequest>) => void) | null;
  postMessage(message: WorkerReply): void;
};

let runner: MoonshineRunner | undefined;
const running = new Map<number, AbortController>();

function failure(id: number | null, e: unknown): WorkerReply {
  return {
    op: "failed",
    id,
    name: e instanceof Error ? e.name : "Error",
    message: e instanceof Error ? e.message : String(e),
  };
}

scope.onmessage = async (e) => {
  const msg = e.data;
  switch (msg.op) {
    case "load":
      try {
        runner = await MoonshineRunner.load(msg.options);
        scope.postMessage({ op: "loaded", backend: runner.backend });
      } catch (err) {
        scope.postMessage(failure(null, err));
      }
      return;
    case "run": {
      const controller = new AbortController();
      running.set(msg.id, controller);
      try {
        if (!runner) throw new Error("The Moonshine worker has no model");
        const ids = await runner.transcribe(msg.audio, {
          maxTokens: msg.maxTokens,
          signal: controller.signal,
        });
        scope.postMessage({ op: "done", id: msg.id, ids });
      } catch (err) {
        scope.postMessage(failure(msg.id, err));
      } finally {
        running.delete(msg.id);
      }
      return;
    }
    case "abort":
      running.get(msg.id)?.abort(new Error("aborted"));
      return;
    case "close":
      await runner?.close(); // after the runs already queued

      scope.postMessage({ op: "closed" });
      scope.onmessage = null;
      return;
  }
};
