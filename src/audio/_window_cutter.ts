/**
 * Parley's one window cutter: buffers audio chunks of any length and cuts
 * them into fixed windows, optionally led by the tail of the previous
 * window (context) and scaled on the way in. The VAD's `WindowFeeder`, the
 * frame bus's outbound framing and the wake-word detector all cut with it.
 *
 * Private to Parley.
 *
 * @module
 */

/** Options of {@linkcode WindowCutter}. */
export interface WindowCutterOptions {
  /**
   * Samples of the previous window repeated at the start of each window
   * (default 0). The first window starts with that many zeros.
   */
  context?: number;
}

/**
 * Cuts a stream of samples into windows of `context + size` samples that
 * advance by `size`.
 *
 * @example 20 ms phone frames into 32 ms VAD windows
 * ```ts
 * import { WindowCutter } from "./_window_cutter.ts";
 * const cutter = new WindowCutter(256);
 * console.log(cutter.push(new Int16Array(160), 1 / 32768).length); // 0
 * console.log(cutter.push(new Int16Array(160), 1 / 32768).length); // 1
 * console.log(cutter.buffered); // 64
 * ```
 */
export class WindowCutter {
  /** New samples per window (the hop). */
  readonly size: number;
  /** Samples of the previous window each window starts with. */
  readonly context: number;
  #buffer: Float32Array;
  #fill: number;

  /**
   * Makes a cutter.
   *
   * @param size New samples per window.
   * @param options `context`: samples carried over from the previous window.
   */
  constructor(size: number, options: WindowCutterOptions = {}) {
    const context = options.context ?? 0;
    if (!Number.isInteger(size) || size <= 0) {
      throw new RangeError(
        `Invalid window size ${size}; use a positive integer`,
      );
    }
    if (!Number.isInteger(context) || context < 0) {
      throw new RangeError(
        `Invalid window context ${context}; use an integer ≥ 0`,
      );
    }
    this.size = size;
    this.context = context;
    this.#buffer = new Float32Array(context + size);
    this.#fill = context;
  }

  /** New samples held until a window is complete. */
  get buffered(): number {
    return this.#fill - this.context;
  }

  /**
   * Appends `samples × scale` and returns every window completed by them,
   * in order (each a copy, `context + size` samples long).
   *
   * @param samples The audio.
   * @param scale Factor applied on the way in (default 1).
   * @returns The completed windows, possibly none.
   */
  push(samples: ArrayLike<number>, scale = 1): Float32Array[] {
    const windows: Float32Array[] = [];
    this.pushEach(samples, scale, (w) => windows.push(w.slice()));
    return windows;
  }

  /**
   * Like {@linkcode push}, but hands each completed window to `fn` without
   * copying it: the array is the cutter's own buffer, valid only during the
   * call (copy it to keep it).
   *
   * @param samples The audio.
   * @param scale Factor applied on the way in.
   * @param fn Called once per completed window, in order.
   */
  pushEach(
    samples: ArrayLike<number>,
    scale: number,
    fn: (window: Float32Array) => void,
  ): void {
    const buffer = this.#buffer;
    for (let i = 0; i < samples.length;) {
      const take = Math.min(buffer.length - this.#fill, samples.length - i);
      if (scale === 1 && samples instanceof Float32Array) {
        buffer.set(samples.subarray(i, i + take), this.#fill);
      } else {
        for (let k = 0; k < take; k++) {
          buffer[this.#fill + k] = samples[i + k] * scale;
        }
      }
      this.#fill += take;
      i += take;
      if (this.#fill === buffer.length) {
        fn(buffer);
        if (this.context > 0) buffer.copyWithin(0, this.size);
        this.#fill = this.context;
      }
    }
  }

  /**
   * Completes the partial window with zeros and returns it, or null when no
   * new samples are buffered.
   *
   * @returns The padded window, or null.
   */
  flush(): Float32Array | null {
    if (this.buffered === 0) return null;
    this.#buffer.fill(0, this.#fill);
    return this.#take();
  }

  /** Copies out the full buffer and keeps its tail as the next context. */
  #take(): Float32Array {
    const window = this.#buffer.slice();
    if (this.context > 0) this.#buffer.copyWithin(0, this.size);
    this.#fill = this.context;
    return window;
  }

  /** Drops buffered samples; the context starts again from zeros. */
  clear(): void {
    this.#buffer.fill(0);
    this.#fill = this.context;
  }
}
