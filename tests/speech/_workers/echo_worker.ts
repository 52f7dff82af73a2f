// Test worker entry for tests/speech/worker_pool_test.ts: each worker takes
// the next id from a shared counter, and a run answers with that id and its
// input's samples after a delay, or hangs, spins, or crashes on request.

import { serveWorker } from "../../../src/speech/_worker_entry.ts";

/** What every worker of a pool loads. */
export interface EchoLoad {
  /** An Int32Array's buffer whose element 0 hands out worker ids. */
  ids: SharedArrayBuffer;
  /** This worker id throws an uncaught error right after it loaded. */
  crashAfterLoad?: number;
  /** The other workers wait this long before they report loaded. */
  loadDelayMs?: number;
}

/** One job. */
export interface EchoInput {
  /** Samples sent back (moved both ways when the pool transfers them). */
  data?: Float32Array<ArrayBuffer>;
  /** Waits this long before answering. */
  delayMs?: number;
  /** Never answers; ends only when the caller aborts. */
  hang?: boolean;
  /** Blocks the worker's thread for good. */
  spin?: boolean;
  /** Throws an uncaught error from a timer after this long, killing the worker. */
  crashAfterMs?: number;
}

/** One answer. */
export interface EchoOutput {
  /** The id of the worker that ran the job. */
  worker: number;
  /** The input's samples. */
  data?: Float32Array<ArrayBuffer>;
  /** Runs this worker received so far, this one included. */
  runs: number;
  /** Aborts this worker's runs saw so far. */
  aborts: number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

serveWorker<EchoLoad, EchoInput, EchoOutput>({
  async load(options) {
    const worker = Atomics.add(new Int32Array(options.ids), 0, 1);
    if (worker === options.crashAfterLoad) {
      setTimeout(() => {
        throw new Error(`Worker ${worker} crashed after loading on purpose`);
      }, 0);
    } else if (options.loadDelayMs) {
      await sleep(options.loadDelayMs);
    }
    let runs = 0;
    let aborts = 0;
    const running = new Set<Promise<unknown>>();
    const run = async (
      input: EchoInput,
      signal: AbortSignal,
    ): Promise<EchoOutput> => {
      runs++;
      signal.addEventListener("abort", () => aborts++, { once: true });
      if (input.crashAfterMs !== undefined) {
        setTimeout(() => {
          throw new Error(`Worker ${worker} crashed on purpose`);
        }, input.crashAfterMs);
        await new Promise(() => {});
      }
      if (input.spin) { for (;;) { /* blocks the thread */ } }
      if (input.hang) {
        await new Promise((_, reject) =>
          signal.addEventListener(
            "abort",
            () => reject(new Error("The worker saw the abort")),
            { once: true },
          )
        );
      }
      if (input.delayMs) await sleep(input.delayMs);
      return { worker, data: input.data, runs, aborts };
    };
    return {
      run(input, signal) {
        const work = run(input, signal);
        const settled = work.catch(() => {});
        running.add(settled);
        settled.then(() => running.delete(settled));
        return work;
      },
      // Like the real models: releases after the runs already going.
      async close() {
        await Promise.all(running);
      },
    };
  },
  transfer: (output) => output.data ? [output.data.buffer] : [],
});
