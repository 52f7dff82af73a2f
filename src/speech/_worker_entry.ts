// The worker side of _worker_pool.ts: a worker entry module calls
// serveWorker with how to load its model, and this answers the pool's load /
// run / abort / close messages. Private to the speech layer.

import { errorText } from "../_internal/errors.ts";
import type { WorkerReply, WorkerRequest } from "./_worker_pool.ts";

/** A model loaded inside a worker. */
export interface WorkerModel<Input, Output> {
  /** Runs one job; `signal` aborts when the caller gave up. */
  run(input: Input, signal: AbortSignal): Promise<Output>;
  /** Releases the model after the jobs already running. */
  close(): Promise<void>;
}

/** How a worker entry loads its model and sends results back. */
export interface WorkerService<LoadOptions, Input, Output> {
  /** Loads the model from the pool's load options. */
  load(options: LoadOptions): Promise<WorkerModel<Input, Output>>;
  /** Buffers of an output to move to the main thread instead of copying. */
  transfer?: (output: Output) => Transferable[];
}

// A worker's global scope, typed without the deno.worker lib.
interface WorkerScope<LoadOptions, Input, Output> {
  onmessage:
    | ((e: MessageEvent<WorkerRequest<LoadOptions, Input>>) => void)
    | null;
  postMessage(message: WorkerReply<Output>, transfer?: Transferable[]): void;
}

function failure<Output>(id: number | null, e: unknown): WorkerReply<Output> {
  return {
    op: "failed",
    id,
    name: e instanceof Error ? e.name : "Error",
    message: errorText(e),
  };
}

/** Answers the pool's messages in this worker. */
export function serveWorker<LoadOptions, Input, Output>(
  service: WorkerService<LoadOptions, Input, Output>,
): void {
  const scope = self as unknown as WorkerScope<LoadOptions, Input, Output>;
  let model: WorkerModel<Input, Output> | undefined;
  const running = new Map<number, AbortController>();
  scope.onmessage = async (e) => {
    const msg = e.data;
    switch (msg.op) {
      case "load":
        try {
          model = await service.load(msg.options);
          scope.postMessage({ op: "loaded" });
        } catch (err) {
          scope.postMessage(failure(null, err));
        }
        return;
      case "run": {
        const controller = new AbortController();
        running.set(msg.id, controller);
        try {
          if (!model) throw new Error("This worker has no model loaded");
          const output = await model.run(msg.input, controller.signal);
          scope.postMessage(
            { op: "done", id: msg.id, output },
            service.transfer?.(output) ?? [],
          );
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
        await model?.close(); // after the runs already queued
        scope.postMessage({ op: "closed" });
        scope.onmessage = null;
        return;
    }
  };
}
