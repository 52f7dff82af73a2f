// Moonshine in worker threads: each worker holds its own MoonshineRunner, and
// a transcription goes to the worker with the fewest jobs. The main thread
// only posts audio and receives token ids, so onnxruntime's blocking runs
// never stall the event loop that paces every call's audio, and with
// several workers different callers are transcribed in parallel. Private to
// the speech layer; getSttModel uses it.

import type {
  MoonshineBackend,
  MoonshineDecodeOptions,
  MoonshineRunnerOptions,
} from "./moonshine.ts";
import type { WorkerReply, WorkerRequest } from "./_moonshine_worker.ts";
import { untilAborted } from "./_abortable.ts";

interface Job {
  resolve(ids: number[]): void;
  reject(e: Error): void;
}

interface Slot {
  worker: Worker;
  jobs: Map<number, Job>;
  /** Set when the worker died; its jobs were rejected with it. */
  dead?: Error;
}

function remoteError(reply: { name: string; message: string }): Error {
  const e = new Error(reply.message);
  e.name = reply.name;
  return e;
}

/** Token-id transcription in a pool of worker threads. */
export class MoonshineWorkerPool {
  #slots: Slot[];
  #nextId = 1;
  #closing: Promise<void> | undefined;
  /** The runtime the workers use. */
  readonly backend: MoonshineBackend;

  private constructor(slots: Slot[], backend: MoonshineBackend) {
    this.#slots = slots;
    this.backend = backend;
    for (const slot of slots) {
      slot.worker.onmessage = (e: MessageEvent<WorkerReply>) =>
        this.#reply(slot, e.data);
      slot.worker.onerror = (e: ErrorEvent) => {
        e.preventDefault();
        this.#kill(
          slot,
          new Error(
            `The Moonshine worker stopped (${e.message}); call getSttModel ` +
              `again to load a fresh model`,
          ),
        );
      };
    }
  }

  /** Starts `count` workers and loads the model in each. */
  static async start(
    options: MoonshineRunnerOptions & { count: number },
  ): Promise<MoonshineWorkerPool> {
    const { count, ...runner } = options;
    if (!Number.isInteger(count) || count < 1) {
      throw new RangeError(
        `workers must be a whole number ≥ 1, or 0 to run on the calling ` +
          `thread (got ${count})`,
      );
    }
    const slots: Slot[] = [];
    try {
      for (let i = 0; i < count; i++) {
        slots.push({
          worker: new Worker(
            new URL("./_moonshine_worker.ts", import.meta.url),
            { type: "module" },
          ),
          jobs: new Map(),
        });
      }
      const loaded = await Promise.all(
        slots.map((slot) =>
          new Promise<MoonshineBackend>((resolve, reject) => {
            slot.worker.onmessage = (e: MessageEvent<WorkerReply>) => {
              const r = e.data;
              if (r.op === "loaded") resolve(r.backend);
              else if (r.op === "failed") reject(remoteError(r));
            };
            slot.worker.onerror = (e: ErrorEvent) => {
              e.preventDefault();
              reject(
                new Error(`The Moonshine worker could not start: ${e.message}`),
              );
            };
            slot.worker.postMessage(
              { op: "load", options: runner } satisfies WorkerRequest,
            );
          })
        ),
      );
      return new MoonshineWorkerPool(slots, loaded[0]);
    } catch (e) {
      for (const slot of slots) slot.worker.terminate();
      throw e;
    }
  }

  /** Transcribes one utterance (16 kHz mono) to token ids. */
  transcribe(
    audio: Float32Array,
    options: MoonshineDecodeOptions = {},
  ): Promise<number[]> {
    if (this.#closing) {
      return Promise.reject(
        new Error("This Moonshine model was closed; load it again"),
      );
    }
    if (audio.length === 0) return Promise.resolve([]);
    const slot = this.#pick();
    if (!slot) {
      return Promise.reject(
        this.#slots[0].dead ?? new Error("No Moonshine worker is running"),
      );
    }
    const id = this.#nextId++;
    const copy = audio.slice(); // the caller keeps its buffer
    const work = new Promise<number[]>((resolve, reject) => {
      slot.jobs.set(id, { resolve, reject });
    });
    slot.worker.postMessage(
      {
        op: "run",
        id,
        audio: copy,
        maxTokens: options.maxTokens,
      } satisfies WorkerRequest,
      [copy.buffer],
    );
    const signal = options.signal;
    if (signal) {
      const onAbort = () =>
        slot.worker.postMessage({ op: "abort", id } satisfies WorkerRequest);
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
          this.#kill(slot, new Error("The Moonshine model was closed"));
          resolve();
        };
        // A worker stuck in a run is stopped anyway after 10 s.
        const timer = setTimeout(done, 10_000);
        slot.worker.onmessage = (e: MessageEvent<WorkerReply>) => {
          if (e.data.op === "closed") done();
          else this.#reply(slot, e.data);
        };
        slot.worker.postMessage({ op: "close" } satisfies WorkerRequest);
      });
    })).then(() => {});
    return this.#closing;
  }

  #pick(): Slot | undefined {
    let best: Slot | undefined;
    for (const slot of this.#slots) {
      if (slot.dead) continue;
      if (!best || slot.jobs.size < best.jobs.size) best = slot;
    }
    return best;
  }

  #reply(slot: Slot, reply: WorkerReply): void {
    if (reply.op !== "done" && reply.op !== "failed") return;
    if (reply.id === null) return;
    const job = slot.jobs.get(reply.id);
    if (!job) return;
    slot.jobs.delete(reply.id);
    if (reply.op === "done") job.resolve(reply.ids);
    else job.reject(remoteError(reply));
  }

  #kill(slot: Slot, error: Error): void {
    slot.dead ??= error;
    for (const job of slot.jobs.values()) job.reject(error);
    slot.jobs.clear();
    slot.worker.terminate();
  }
}
