/**
 * Cross-stream batch scheduler for Silero-style recurrent VAD models.
 *
 * Every live stream (one per call) submits one window at a time. Windows of
 * all streams that arrive close together run as ONE inference of shape
 * `[N, context + window]` with state `[2, N, 128]`; each stream's state row
 * and context are scattered back afterwards. Because every batch row is an
 * independent stream, the results equal unbatched runs.
 *
 * A batch is flushed when every open stream that is not already waiting for
 * a result has submitted, when `maxBatch` windows are waiting, or after
 * `maxWaitMs` — whichever comes first. While `maxInflight` inferences
 * (default 1) are running, partial batches wait for one to return instead
 * (then the same rules apply, the wait counted from the oldest window):
 * windows that arrive during an inference go into the next one together,
 * so batches grow with load on their own (group commit) and a busy core runs
 * fewer, larger inferences instead of many small ones competing with each
 * other.
 *
 * Internal to the `vad` layer: {@linkcode SileroModel} owns one batcher per
 * sample rate.
 *
 * @module
 */

import { errorText } from "../_internal/errors.ts";

/** Number of state values per stream in one of the two state planes. */
export const STATE_WIDTH = 128;

/** What a {@linkcode BatchRunner} returns. */
export interface BatchRunResult {
  /** One speech probability per batch row (`output`, shape `[N, 1]`). */
  probabilities: Float32Array;
  /** The new state, shape `[2, N, 128]` (`stateN`). */
  state: Float32Array;
}

/**
 * Runs one inference: `input` is `[batch, rowLength]` row-major, `state` is
 * `[2, batch, 128]`.
 */
export type BatchRunner = (
  input: Float32Array,
  state: Float32Array,
  batch: number,
) => Promise<BatchRunResult>;

/** Options of {@linkcode VadBatcher}. */
export interface VadBatcherOptions {
  /** Runs one batched inference. */
  runner: BatchRunner;
  /** Samples per window (512 at 16 kHz, 256 at 8 kHz). */
  windowSize: number;
  /** Context samples prepended to each window (64 at 16 kHz, 32 at 8 kHz). */
  contextSize: number;
  /** Largest batch; more waiting windows go into the next one. Default 64. */
  maxBatch?: number;
  /** Longest time a window waits for others, in milliseconds. Default 2. */
  maxWaitMs?: number;
  /**
   * Most inferences running at once (default 1); further partial batches
   * wait for one to return and then go as one. Full batches (`maxBatch`)
   * always start.
   */
  maxInflight?: number;
  /** Words used in error messages, e.g. "Silero VAD (node, 16 kHz)". */
  label?: string;
  /**
   * State hygiene: after this many consecutive windows scored below
   * `quietThreshold`, a slot's state and context are zeroed (and again after
   * each further run of that length). Default `Infinity` (never).
   */
  quietResetWindows?: number;
  /** Probability below which a window counts as quiet. Default 0.35. */
  quietThreshold?: number;
}

/**
 * Error with which a window is rejected when its stream is closed before the
 * window was processed (usually harmless: the call ended).
 *
 * @example Ignore windows cut off by the end of a call
 * ```ts
 * import { VadClosedError } from "@parley/parley/vad";
 * function onVadError(error: unknown): void {
 *   if (error instanceof VadClosedError) return;
 *   throw error;
 * }
 * onVadError(new VadClosedError("VAD stream was closed"));
 * ```
 */
export class VadClosedError extends Error {
  /**
   * Creates the error.
   *
   * @param message What was closed and what to do.
   */
  constructor(message: string) {
    super(message);
    this.name = "VadClosedError";
  }
}

interface Job {
  /** Digital silence: scored 0 and resets the state, without inference. */
  silent: boolean;
  window: Float32Array;
  promise: Promise<number>;
  resolve: (p: number) => void;
  reject: (e: unknown) => void;
}

type Status = "idle" | "pending" | "inflight";

interface BatchBuffers {
  capacity: number;
  input: Float32Array;
  state: Float32Array;
}

/** One stream's slot in a {@linkcode VadBatcher}. */
export class BatchSlot {
  #batcher: VadBatcher;
  /** @internal */
  context: Float32Array;
  /** @internal State `[2, 128]` of this stream. */
  state: Float32Array = new Float32Array(2 * STATE_WIDTH);
  /** @internal */
  queue: Job[] = [];
  /** @internal */
  status: Status = "idle";
  /** @internal */
  closed = false;
  /** @internal Bumped by reset so a late result does not restore old state. */
  epoch = 0;
  /** @internal Consecutive quiet windows (for the quiet reset). */
  quiet = 0;

  /** @internal */
  constructor(batcher: VadBatcher, contextSize: number) {
    this.#batcher = batcher;
    this.context = new Float32Array(contextSize);
  }

  /** Windows submitted and not yet settled. */
  get waiting(): number {
    return this.queue.length;
  }

  /**
   * Queues one window (copied); resolves with its speech probability. A
   * `silent` window (digital silence) is not run: in its turn it resolves
   * with 0 and zeroes the state and context, as at the start of a stream.
   */
  submit(window: Float32Array, silent = false): Promise<number> {
    return this.#batcher.submit(this, window, silent);
  }

  /** Zeroes state and context; windows already submitted still run. */
  reset(): void {
    this.clearState();
    this.epoch++;
  }

  /** @internal Zeroes state, context and the quiet count. */
  clearState(): void {
    this.state.fill(0);
    this.context.fill(0);
    this.quiet = 0;
  }

  /** Unregisters the slot and rejects its waiting windows. */
  close(): void {
    this.#batcher.close(this);
  }
}

/** Batches windows of many streams into single inferences. */
export class VadBatcher {
  #runner: BatchRunner;
  #windowSize: number;
  #contextSize: number;
  #maxBatch: number;
  #maxWaitMs: number;
  #maxInflight: number;
  #label: string;
  #open = new Set<BatchSlot>();
  /** Open slots whose head window is in an inference. */
  #inflightSlots = 0;
  /** Inferences started and not yet settled. */
  #running = 0;
  /** Whether windows are held back until a running inference returns. */
  #held = false;
  /** Whether the held windows met the flush rules (only the limit held them). */
  #heldReady = false;
  /** When the oldest pending window was queued (performance.now()). */
  #pendingSince = 0;
  #pending: BatchSlot[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #inflightBatches = new Set<Promise<void>>();
  /** Buffers of settled batches, ready for reuse (a few per power of two). */
  #freeBuffers: BatchBuffers[] = [];
  #batches = 0;
  #windows = 0;
  #silentWindows = 0;
  #quietResets = 0;
  #quietResetWindows: number;
  #quietThreshold: number;

  /** Creates a batcher around one inference function. */
  constructor(options: VadBatcherOptions) {
    this.#runner = options.runner;
    this.#windowSize = options.windowSize;
    this.#contextSize = options.contextSize;
    this.#maxBatch = Math.max(1, Math.floor(options.maxBatch ?? 64));
    this.#maxWaitMs = Math.max(0, options.maxWaitMs ?? 2);
    this.#maxInflight = Math.max(1, Math.floor(options.maxInflight ?? 1));
    this.#label = options.label ?? "VAD";
    this.#quietResetWindows = options.quietResetWindows ?? Infinity;
    this.#quietThreshold = options.quietThreshold ?? 0.35;
    if (!(this.#quietResetWindows >= 1)) {
      throw new RangeError(
        `Invalid quietResetWindows: ${options.quietResetWindows}; use a whole number from 1 up, or Infinity to never reset`,
      );
    }
    if (!Number.isFinite(this.#maxBatch)) {
      throw new RangeError(
        `Invalid maxBatch: ${options.maxBatch}; use a whole number from 1 up`,
      );
    }
    if (!Number.isFinite(this.#maxWaitMs)) {
      throw new RangeError(
        `Invalid maxWaitMs: ${options.maxWaitMs}; use a finite number of milliseconds such as 2`,
      );
    }
    if (!Number.isFinite(this.#maxInflight)) {
      throw new RangeError(
        `Invalid maxInflight: ${options.maxInflight}; use a whole number from 1 up`,
      );
    }
  }

  /** Number of open slots. */
  get size(): number {
    return this.#open.size;
  }

  /**
   * Inferences run so far and windows they carried, windows of digital
   * silence answered without inference, and quiet resets (for metrics).
   */
  get stats(): {
    batches: number;
    windows: number;
    silentWindows: number;
    quietResets: number;
  } {
    return {
      batches: this.#batches,
      windows: this.#windows,
      silentWindows: this.#silentWindows,
      quietResets: this.#quietResets,
    };
  }

  /** Registers a new stream. */
  open(): BatchSlot {
    const slot = new BatchSlot(this, this.#contextSize);
    this.#open.add(slot);
    return slot;
  }

  /** @internal Use {@linkcode BatchSlot.submit}. */
  submit(
    slot: BatchSlot,
    window: Float32Array,
    silent = false,
  ): Promise<number> {
    if (slot.closed) {
      return Promise.reject(
        new VadClosedError(
          `${this.#label} stream is closed; create a new stream to process more audio`,
        ),
      );
    }
    const copy = silent ? window : new Float32Array(window);
    const { promise, resolve, reject } = Promise.withResolvers<number>();
    slot.queue.push({ silent, window: copy, promise, resolve, reject });
    if (slot.status === "idle") {
      this.#answerSilent(slot);
      if (slot.queue.length > 0) this.#enqueue(slot);
    }
    return promise;
  }

  /** @internal Use {@linkcode BatchSlot.close}. */
  close(slot: BatchSlot): void {
    if (slot.closed) return;
    slot.closed = true;
    this.#open.delete(slot);
    if (slot.status === "inflight") this.#inflightSlots--;
    if (slot.status === "pending") {
      this.#pending.splice(this.#pending.indexOf(slot), 1);
      slot.status = "idle";
    }
    // The head of an in-flight slot is settled when its batch returns.
    const keep = slot.status === "inflight" ? 1 : 0;
    const dropped = slot.queue.splice(keep);
    for (const job of dropped) {
      // A window cut off by close() is expected; do not let it become an
      // unhandled rejection (which ends a Deno process) if nobody awaits it.
      job.promise.catch(() => {});
      job.reject(
        new VadClosedError(
          `${this.#label} stream was closed before its window was processed; ` +
            `ignore this error if the call has ended`,
        ),
      );
    }
    this.#schedule();
  }

  /** Closes every slot and waits for inferences still running. */
  async closeAll(): Promise<void> {
    for (const slot of [...this.#open]) this.close(slot);
    await Promise.allSettled([...this.#inflightBatches]);
  }

  /** Answers the silent windows at the head of an idle slot's queue. */
  #answerSilent(slot: BatchSlot): void {
    while (slot.queue.length > 0 && slot.queue[0].silent) {
      const job = slot.queue.shift()!;
      slot.clearState();
      this.#silentWindows++;
      job.resolve(0);
    }
  }

  #enqueue(slot: BatchSlot): void {
    slot.status = "pending";
    if (this.#pending.length === 0) this.#pendingSince = performance.now();
    this.#pending.push(slot);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#pending.length === 0) {
      this.#clearTimer();
      return;
    }
    if (this.#pending.length >= this.#maxBatch) {
      this.#flush();
      return;
    }
    const ready = this.#open.size - this.#inflightSlots;
    const due = this.#pending.length >= ready || this.#maxWaitMs === 0;
    if (this.#running >= this.#maxInflight) {
      // Group commit: windows wait for the running inference to return.
      this.#clearTimer();
      this.#held = true;
      if (due) this.#heldReady = true;
      return;
    }
    if (due) {
      this.#flush();
    } else if (this.#timer === undefined) {
      // The wait counts from the oldest window, held time included.
      const left = this.#pendingSince + this.#maxWaitMs - performance.now();
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#flush();
      }, Math.max(0, left));
    }
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  #flush(): void {
    this.#clearTimer();
    while (this.#pending.length > 0) {
      const slots = this.#pending.splice(0, this.#maxBatch);
      this.#run(slots);
      if (this.#pending.length > 0 && this.#pending.length < this.#maxBatch) {
        this.#schedule();
        return;
      }
    }
  }

  #run(slots: BatchSlot[]): void {
    const n = slots.length;
    const ctx = this.#contextSize;
    const row = ctx + this.#windowSize;
    const buffers = this.#takeBuffers(n, row);
    const input = buffers.input.subarray(0, n * row);
    const state = buffers.state.subarray(0, 2 * n * STATE_WIDTH);
    const epochs: number[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const slot = slots[i];
      slot.status = "inflight";
      this.#inflightSlots++;
      epochs[i] = slot.epoch;
      input.set(slot.context, i * row);
      input.set(slot.queue[0].window, i * row + ctx);
      state.set(slot.state.subarray(0, STATE_WIDTH), i * STATE_WIDTH);
      state.set(
        slot.state.subarray(STATE_WIDTH),
        (n + i) * STATE_WIDTH,
      );
    }
    this.#batches++;
    this.#windows += n;
    this.#running++;
    let started: Promise<BatchRunResult>;
    try {
      started = this.#runner(input, state, n);
    } catch (e) {
      started = Promise.reject(e);
    }
    const done = started.then(
      (result) => this.#settle(slots, epochs, result, undefined),
      (error) => this.#settle(slots, epochs, undefined, error),
    ).finally(() => {
      this.#inflightBatches.delete(done);
      this.#freeBuffers.push(buffers);
    });
    this.#inflightBatches.add(done);
  }

  /**
   * Input and state buffers for a batch of `n` (capacity a power of two),
   * reused across inferences: a busy server runs hundreds of batches a
   * second and would otherwise allocate tens of MB of them.
   */
  #takeBuffers(n: number, row: number): BatchBuffers {
    let cap = 1;
    while (cap < n) cap *= 2;
    const free = this.#freeBuffers;
    for (let i = free.length - 1; i >= 0; i--) {
      if (free[i].capacity === cap) {
        const b = free[i];
        free.splice(i, 1);
        return b;
      }
    }
    return {
      capacity: cap,
      input: new Float32Array(cap * row),
      state: new Float32Array(2 * cap * STATE_WIDTH),
    };
  }

  #settle(
    slots: BatchSlot[],
    epochs: number[],
    result: BatchRunResult | undefined,
    error: unknown,
  ): void {
    this.#running--;
    const n = slots.length;
    if (
      result &&
      (result.probabilities.length < n ||
        result.state.length !== 2 * n * STATE_WIDTH)
    ) {
      error = new Error(
        `output shapes do not match a batch of ${n} (got ${result.probabilities.length} ` +
          `probabilities and ${result.state.length} state values)`,
      );
      result = undefined;
    }
    for (let i = 0; i < n; i++) {
      const slot = slots[i];
      const job = slot.queue.shift();
      // A slot closed meanwhile was already taken off the in-flight count.
      if (slot.status === "inflight" && !slot.closed) this.#inflightSlots--;
      slot.status = "idle";
      if (!job) continue;
      if (slot.closed) {
        job.promise.catch(() => {});
        job.reject(
          new VadClosedError(
            `${this.#label} stream was closed while its window was being processed; ` +
              `ignore this error if the call has ended`,
          ),
        );
        continue;
      }
      if (result) {
        const p = result.probabilities[i];
        if (slot.epoch === epochs[i]) {
          slot.quiet = p < this.#quietThreshold ? slot.quiet + 1 : 0;
        }
        if (
          slot.epoch === epochs[i] && slot.quiet >= this.#quietResetWindows
        ) {
          // Sustained quiet: start over from the stream's initial state.
          slot.clearState();
          this.#quietResets++;
        } else if (slot.epoch === epochs[i]) {
          const ctx = this.#contextSize;
          slot.context.set(job.window.subarray(job.window.length - ctx));
          slot.state.set(
            result.state.subarray(i * STATE_WIDTH, (i + 1) * STATE_WIDTH),
            0,
          );
          slot.state.set(
            result.state.subarray(
              (n + i) * STATE_WIDTH,
              (n + i + 1) * STATE_WIDTH,
            ),
            STATE_WIDTH,
          );
        }
        job.resolve(p);
      } else {
        const msg = errorText(error);
        job.reject(
          new Error(
            `${this.#label} inference failed for a batch of ${n} windows: ${msg}; ` +
              `this window's state was left unchanged, later windows still run`,
            { cause: error },
          ),
        );
      }
      this.#answerSilent(slot);
      if (slot.queue.length > 0) {
        slot.status = "pending";
        if (this.#pending.length === 0) this.#pendingSince = performance.now();
        this.#pending.push(slot);
      }
    }
    if (this.#held) {
      this.#held = false;
      if (this.#heldReady && this.#pending.length > 0) {
        // They were ready to go when the limit held them back.
        this.#heldReady = false;
        return this.#flush();
      }
      this.#heldReady = false;
    }
    this.#schedule();
  }
}
