// Test worker entry for tests/speech/worker_pool_test.ts: worker 0's load
// fails; the others never finish loading and tick a shared counter until
// they are terminated.

import { serveWorker } from "../../../src/speech/_worker_entry.ts";

/** What every worker of a pool loads. */
export interface FailingLoad {
  /** An Int32Array's buffer: [0] hands out worker ids, [1] counts ticks. */
  shared: SharedArrayBuffer;
}

serveWorker<FailingLoad, unknown, unknown>({
  load(options) {
    const shared = new Int32Array(options.shared);
    const worker = Atomics.add(shared, 0, 1);
    if (worker === 0) {
      return Promise.reject(
        new Error("No model file in /nowhere; download it first"),
      );
    }
    setInterval(() => Atomics.add(shared, 1, 1), 5);
    return new Promise(() => {});
  },
});
