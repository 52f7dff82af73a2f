// A model in worker threads: each worker loads its own copy, and a job goes
// to the worker with the fewest jobs. The main thread only posts inputs and
// receives outputs, so onnxruntime's blocking runs never stall the event loop
// that paces every call's audio, and with several workers different callers
// are served in parallel. The pool knows only load / run / abort / close;
// what a model loads and runs lives in its worker entry (see
// _worker_entry.ts). Private to the speech layer.

import { untilAborted } from "./_abortable.ts";

/** Messages the pool sends to a worker. */
export type WorkerRequest<LoadOptions, Input> =
  | { op: "load"; options: LoadOptions }
  | { op: "run"; id: number; input: Input }
  | { op: "abort"; id: number }
  | { op: "close" };

/** Messages a worker answers with. */
export type WorkerReply<Output> =
  | { op: "loaded" }
  | { op: "done"; id: number; output: Output }
  | { op: "failed"; id: number | null; name: string; message: string }
  | { op: "closed" };

/** Options of {@linkcode WorkerPool.start}. */
export interface WorkerPoolOptions<LoadOptions, Input> {
  /** The worker entry module (it calls `serveWorker`). */
  url: URL;
  /** How many workers; a whole number ≥ 1. */
  count: number;
  /** What each worker loads (structured-cloneable). */
  load: LoadOptions;
  /** Model name for error messages, e.g. "Moonshine". */
  label: string;
  /** The function that loads a fresh model, for error messages. */
  loader: string;
  /** Buffers of an input to move to the worker instead of copying them. */
  transfer?: (input: Input) => Transferable[];
  /**
   * How long {@linkcode WorkerPool.close} waits for a worker's jobs before
   * stopping it anyway, in milliseconds (default 10 000).
   */
  closeTimeoutMs?: number;
}

interface Job<Output> {
  resolve(output: Output): void;
  reject(e: Error): void;
}

interface Slot<Output> {
  worker: Worker;
  jobs: Map<number, Job<Output>>;
  /** Set when the worker died; its jobs were rejected with it. */
  dead?: Error;
}

function stoppedError(
  options: { label: string; loader: string },
  message: string,
): Error {
  return new Error(
    `The ${options.label} worker stopped (${message}); call ` +
      `${options.loader} again to load a fresh model`,
  );
}

function remoteError(reply: { name: string; message: string }): Error {
  const e = new Error(reply.message);
  e.name = reply.name;
  return e;
}

/** Checks a worker count; 0 (the calling thread) is the caller's business. */
export function assertWorkerCount(count: number, min: 0 | 1): void {
  if (!Number.isInteger(count) || count < min) {
    throw new RangeError(
      `workers must be a whole number ≥ 1, or 0 to run on the calling ` +
        `thread (got ${count})`,
    );
  }
}

/** Jobs of one model in a pool of worker threads. */
export class WorkerPool<LoadOptions, Input, Output> {
  #slots: Slot<Output>[];
  #options: WorkerPoolOptions<LoadOptions, Input>;
  #nextId = 1;
  #closing: Promise<void> | undefined;

  private constructor(
    slots: Slot<Output>[],
    options: WorkerPoolOptions<LoadOptions, Input>,
  ) {
    this.#slots = slots;
    this.#options = options;
    for (const slot of slots) {
      // Died after it loaded, while another worker was still loading.
      if (slot.dead) {
        slot.worker.terminate();
        continue;
      }
      slot.worker.onmessage = (e: MessageEvent<WorkerReply<Output>>) =>
        this.#reply(slot, e.data);
      slot.worker.onerror = (e: ErrorEvent) => {
        e.preventDefault();
        this.#kill(slot, stoppedError(options, e.message));
      };
    }
  }

  /** Starts `options.count` workers and loads the model in each. */
  static async start<LoadOptions, Input, Output>(
    options: WorkerPoolOptions<LoadOptions, Input>,
  ): Promise<WorkerPool<LoadOptions, Input, Output>> {
    assertWorkerCount(options.count, 1);
    const slots: Slot<Output>[] = [];
    try {
      for (let i = 0; i < options.count; i++) {
        slots.push({
          worker: new Worker(options.url, { type: "module" }),
          jobs: new Map(),
        });
      }
      await Promise.all(
        slots.map((slot) =>
          new Promise<void>((resolve, reject) => {
            slot.worker.onmessage = (e: MessageEvent<WorkerReply<Output>>) => {
              const r = e.data;
              if (r.op === "loaded") resolve();
              else if (r.op === "failed") reject(remoteError(r));
            };
            slot.worker.onerror = (e: ErrorEvent) => {
              e.preventDefault();
              // Ignored by a load that already succeeded, so remembered.
              slot.dead ??= stoppedError(options, e.message);
              reject(
                new Error(
                  `The ${options.label} worker could not start: ${e.message}`,
                ),
              );
            };
            slot.worker.postMessage(
              {
                op: "load",
                options: options.load,
              } satisfies WorkerRequest<LoadOptions, Input>,
            );
          })
        ),
      );
      return new WorkerPool(slots, options);
    } catch (e) {
      for (const slot of slots) slot.worker.terminate();
      throw e;
    }
  }

  /**
   * Runs one job on the least busy worker. `signal` stops this caller's
   * wait at once (rejecting with its reason) and tells the worker to abort.
   */
  run(input: Input, signal?: AbortSignal): Promise<Output> {
    const { label } = this.#options;
    if (this.#closing) {
      return Promise.reject(
        new Error(`This ${label} model was closed; load it again`),
      );
    }
    // Already aborted: the job is not sent at all.
    if (signal?.aborted) return Promise.reject(signal.reason);
    const slot = this.#pick();
    if (!slot) {
      return Promise.reject(
        new Error(
          `Every ${label} worker stopped; call ${this.#options.loader} ` +
            `again to load a fresh model`,
          { cause: this.#slots[0].dead },
        ),
      );
    }
    const id = this.#nextId++;
    const work = new Promise<Output>((resolve, reject) => {
      slot.jobs.set(id, { resolve, reject });
    });
    slot.worker.postMessage(
      { op: "run", id, input } satisfies WorkerRequest<LoadOptions, Input>,
      this.#options.transfer?.(input) ?? [],
    );
    if (signal) {
      const onAbort = () =>
        slot.worker.postMessage(
          { op: "abort", id } satisfies WorkerRequest<LoadOptions, Input>,
        );
      signal.addEventListener("abort", onAbort, { once: true });
      work.catch(() => {}).finally(() =>
        signal.removeEventListener("abort", onAbort)
      );
    }
    return untilAborted(work, signal);
  }

  /** Lets running jobs finish, then stops every worker. */
  close(): Promise<void> {
    this.#closing ??= Promise.all(this.#slots.map((slot) => {
      if (slot.dead) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          slot.worker.terminate();
          this.#kill(
            slot,
            new Error(`The ${this.#options.label} model was closed`),
          );
          resolve();
        };
        // A worker stuck in a run is stopped anyway after the cap (10 s).
        const timer = setTimeout(done, this.#options.closeTimeoutMs ?? 10_000);
        slot.worker.onmessage = (e: MessageEvent<WorkerReply<Output>>) => {
          if (e.data.op === "closed") done();
          else this.#reply(slot, e.data);
        };
        // Crashed while closing: its jobs get the crash, close goes on.
        slot.worker.onerror = (e: ErrorEvent) => {
          e.preventDefault();
          this.#kill(slot, stoppedError(this.#options, e.message));
          done();
        };
        slot.worker.postMessage(
          { op: "close" } satisfies WorkerRequest<LoadOptions, Input>,
        );
      });
    })).then(() => {});
    return this.#closing;
  }

  #pick(): Slot<Output> | undefined {
    let best: Slot<Output> | undefined;
    for (const slot of this.#slots) {
      if (slot.dead) continue;
      if (!best || slot.jobs.size < best.jobs.size) best = slot;
    }
    return best;
  }

  #reply(slot: Slot<Output>, reply: WorkerReply<Output>): void {
    if (reply.op !== "done" && reply.op !== "failed") return;
    if (reply.id === null) return;
    const job = slot.jobs.get(reply.id);
    if (!job) return;
    slot.jobs.delete(reply.id);
    if (reply.op === "done") job.resolve(reply.output);
    else job.reject(remoteError(reply));
  }

  #kill(slot: Slot<Output>, error: Error): void {
    slot.dead ??= error;
    for (const job of slot.jobs.values()) job.reject(error);
    slot.jobs.clear();
    slot.worker.terminate();
  }
}
