/**
 * Stateful streaming sample-rate conversion: a polyphase windowed-sinc
 * (Kaiser) filter for arbitrary integer rates, plus a one-shot helper.
 *
 * The filter is designed relative to the lower of the two Nyquist
 * frequencies: with the default `"standard"` quality the passband is flat
 * within ±0.1 dB up to 0.9 × the lower Nyquist and everything above the lower
 * Nyquist (aliases when downsampling, images when upsampling) is attenuated
 * by at least 70 dB (about 74 dB by design). `"high"` quality gives about
 * 105 dB with a filter half as long again.
 *
 * @module
 */

import { RESAMPLER_KERNEL_WASM } from "./resampler_kernel_wasm.ts";

/** Filter quality of a {@linkcode StreamResampler}. */
export type ResamplerQuality = "standard" | "high";

/** Options of a {@linkcode StreamResampler} and of {@linkcode resample}. */
export interface ResamplerOptions {
  /** Rate of the input samples in hertz (a positive integer). */
  inputRate: number;
  /** Rate of the output samples in hertz (a positive integer). */
  outputRate: number;
  /**
   * `"standard"` (default): ≥70 dB stopband, ±0.1 dB passband up to 0.9 ×
   * the lower Nyquist, 42 taps each side at the lower rate (5.25 ms group
   * delay when 8 kHz is one of the rates). `"high"`: ≈105 dB, 64 taps each
   * side (8 ms at 8 kHz).
   */
  quality?: ResamplerQuality;
}

interface Design {
  /** Half-width of the window in samples of the lower rate. */
  halfWidth: number;
  /** Kaiser β. */
  beta: number;
  /** Cutoff in cycles per sample of the lower rate (Nyquist = 0.5). */
  cutoff: number;
}

const DESIGNS: Record<ResamplerQuality, Design> = {
  // Found by search: the shortest Kaiser design meeting ±0.1 dB at 0.45 and
  // ≥70 dB from 0.5 (cycles/sample of the lower rate), with margin.
  standard: { halfWidth: 42, beta: 7.25, cutoff: 0.4725 },
  high: { halfWidth: 64, beta: 10.5, cutoff: 0.47 },
};

/**
 * The second stage of a two-stage resampler, between twice the lower rate
 * (2r) and the higher rate, in samples of 2r: passband to 0.45 r (0.225 of
 * 2r), stopband from 1.5 r (0.75 of 2r; lower frequencies fold or image
 * only onto 0.5 r … r, which the r ↔ 2r stage removes). The Kaiser
 * transition width (A − 7.95) / (14.36 · 2 · halfWidth) fits between the two
 * edges around the cutoff with margin.
 */
const RELAXED: Record<ResamplerQuality, Design> = {
  standard: { halfWidth: 5, beta: 7.25, cutoff: 0.4875 },
  high: { halfWidth: 8, beta: 10.5, cutoff: 0.4875 },
};

/** Largest L (output phases) for which every phase is precomputed exactly. */
const MAX_EXACT_PHASES = 1024;
/** Largest exact table, in coefficients. */
const MAX_EXACT_TABLE = 1 << 21;
/** Phase resolution of the interpolated table used for awkward ratios. */
const INTERP_PHASES = 1024;

interface Kernel {
  memory: WebAssembly.Memory;
  run(
    tab: number,
    x: number,
    out: number,
    count: number,
    p: number,
    stepI: number,
    stepP: number,
    L: number,
    k: number,
    P?: number,
  ): void;
  runInterp(
    tab: number,
    x: number,
    out: number,
    count: number,
    p: number,
    stepI: number,
    stepP: number,
    L: number,
    k: number,
    P: number,
  ): void;
  /** PCM16 at byte `src` to floats × 2⁻¹⁵ at byte `dst`. */
  i16ToF32(src: number, dst: number, n: number): void;
  /** Floats at byte `src` to PCM16 (rounded, clipped) at `dst` (may be src). */
  f32ToI16(src: number, dst: number, n: number): void;
}

/**
 * The one kernel instance every resampler shares. Its memory holds a scratch
 * region (history + input block at 0, outputs after it) and, behind that, an
 * arena of the phase tables in use. Resamplers keep only their own short
 * history in JS and stage it into the scratch for each block, so a resampler
 * costs a few KiB instead of its own WebAssembly memory.
 */
interface Shared {
  kernel: Kernel;
  heap: Float32Array;
  /** The same memory as PCM16. */
  heap16: Int16Array;
  /** Offset (floats) of the PCM16 staging region, BLOCK samples. */
  i16Off: number;
  /** Scratch capacity in floats: x region, then out region. */
  xCap: number;
  outCap: number;
  /** Where the table arena starts and where its next table goes (floats). */
  arenaStart: number;
  arenaEnd: number;
  tables: Map<Float32Array, number>;
}

/** Input samples staged per kernel run (bounds the scratch region). */
const BLOCK = 4096;
/** Floats of tables kept resident before the arena starts over (4 MiB). */
const ARENA_FLOATS = 1 << 20;

let kernelModule: WebAssembly.Module | undefined;
/** Output of a two-stage resampler's first stage, per block (shared). */
let midBuffer = new Float32Array(0);
let shared: Shared | undefined;

function sharedKernel(): Shared {
  if (shared) return shared;
  kernelModule ??= new WebAssembly.Module(
    Uint8Array.from(atob(RESAMPLER_KERNEL_WASM), (c) => c.charCodeAt(0)),
  );
  const kernel = new WebAssembly.Instance(kernelModule)
    .exports as unknown as Kernel;
  shared = {
    kernel,
    heap: new Float32Array(kernel.memory.buffer),
    heap16: new Int16Array(kernel.memory.buffer),
    i16Off: 0,
    xCap: 0,
    outCap: 0,
    arenaStart: 0,
    arenaEnd: 0,
    tables: new Map(),
  };
  return shared;
}

/** Makes the shared memory at least `floats` long. */
function growShared(sh: Shared, floats: number): void {
  const memory = sh.kernel.memory;
  const need = floats * 4;
  if (memory.buffer.byteLength < need) {
    memory.grow(Math.ceil((need - memory.buffer.byteLength) / 65536));
  }
  if (sh.heap.buffer !== memory.buffer) {
    sh.heap = new Float32Array(memory.buffer);
    sh.heap16 = new Int16Array(memory.buffer);
  }
}

/** Ensures scratch room for `x` staged inputs and `out` outputs. */
function reserveScratch(sh: Shared, x: number, out: number): void {
  if (x <= sh.xCap && out <= sh.outCap) return;
  // Round up (16-byte alignment for the SIMD loads) and leave headroom.
  sh.xCap = Math.max(sh.xCap, (x + 1024 + 3) & ~3);
  sh.outCap = Math.max(sh.outCap, (out + 1024 + 3) & ~3);
  sh.i16Off = sh.xCap + sh.outCap;
  sh.arenaStart = sh.i16Off + BLOCK / 2;
  sh.arenaEnd = sh.arenaStart;
  sh.tables.clear(); // the arena moved: tables are reloaded on first use
  growShared(sh, sh.arenaStart);
}

/** Offset (floats) of `table` in the shared memory, loading it if needed. */
function tableOffset(sh: Shared, table: Float32Array): number {
  const known = sh.tables.get(table);
  if (known !== undefined) return known;
  if (
    sh.arenaEnd - sh.arenaStart + table.length > ARENA_FLOATS &&
    sh.tables.size > 0
  ) {
    sh.tables.clear();
    sh.arenaEnd = sh.arenaStart;
  }
  const off = sh.arenaEnd;
  growShared(sh, off + table.length);
  sh.heap.set(table, off);
  sh.arenaEnd = (off + table.length + 3) & ~3;
  sh.tables.set(table, off);
  return off;
}

/**
 * A stateful streaming resampler for one mono stream (one per call and
 * direction). Chunks may have any length, including 0 and 1; the output of
 * many `process()` calls followed by `flush()` is exactly the output of one
 * call with all the input (no clicks at chunk edges).
 *
 * Output sample `n` is the input signal evaluated at time
 * `n / outputRate` — the output is time-aligned with the input, so after
 * `flush()` a stream of `N` input samples has produced exactly
 * `ceil(N * outputRate / inputRate)` output samples. To produce a sample the
 * filter needs {@linkcode StreamResampler.delay} seconds of input after it:
 * that look-ahead is the resampler's latency (group delay). With the default
 * quality it is 42 samples of the lower rate: 5.25 ms for 8 kHz ↔ 16 kHz,
 * 2.625 ms for 48 kHz ↔ 16 kHz, 1.75 ms for 48 kHz ↔ 24 kHz; 8 kHz ↔ 48 kHz
 * runs as two stages through 16 kHz (5.56 ms, about half the work of one).
 * Equal rates pass samples through unchanged with no delay.
 *
 * Design: gcd-reduced ratio L/M; when L is small enough every one of the L
 * filter phases is precomputed, otherwise a 1024-phase table is used with
 * linear interpolation between neighbouring phases. Each phase is
 * normalised to unit DC gain. The dot products run in a small WebAssembly
 * SIMD kernel (f32x4, source in `resampler_kernel.wat`); every resampler
 * shares one kernel instance and stages its short history (about one filter
 * length) into its memory per block, so an instance costs a few KiB.
 *
 * @example Upsample Twilio's 8 kHz audio to 16 kHz chunk by chunk
 * ```ts
 * import { StreamResampler } from "@parley/parley/audio";
 * const rs = new StreamResampler({ inputRate: 8000, outputRate: 16000 });
 * const a = rs.process(new Float32Array(160)); // 20 ms in
 * const b = rs.process(new Float32Array(160));
 * const tail = rs.flush(); // end of stream: the last 5.25 ms
 * // a.length + b.length + tail.length === 640
 * ```
 */
export class StreamResampler {
  #inputRate: number;
  #outputRate: number;
  #stages: Stage[];

  /**
   * Creates a resampler from `inputRate` to `outputRate`.
   *
   * @example
   * ```ts
   * import { StreamResampler } from "@parley/parley/audio";
   * const rs = new StreamResampler({ inputRate: 24000, outputRate: 8000 });
   * ```
   *
   * @param options Rates and quality.
   * @throws {RangeError} If a rate is not a positive integer (≤ 384 kHz) or
   *   the quality is unknown.
   */
  constructor(options: ResamplerOptions) {
    if (typeof options !== "object" || options === null) {
      throw new TypeError(
        "StreamResampler needs an options object such as " +
          "{ inputRate: 8000, outputRate: 16000 }",
      );
    }
    this.#inputRate = checkRate(options.inputRate, "inputRate");
    this.#outputRate = checkRate(options.outputRate, "outputRate");
    const quality = options.quality ?? "standard";
    const design = DESIGNS[quality];
    if (!Object.hasOwn(DESIGNS, quality) || design === undefined) {
      throw new RangeError(
        `Unknown resampler quality ${
          JSON.stringify(quality)
        }; use "standard" or "high"`,
      );
    }
    this.#stages = planStages(this.#inputRate, this.#outputRate, quality);
  }
  /**
   * Input rate in hertz.
   *
   * @example
   * ```ts
   * import { StreamResampler } from "@parley/parley/audio";
   * new StreamResampler({ inputRate: 8000, outputRate: 16000 }).inputRate; // 8000
   * ```
   */
  get inputRate(): number {
    return this.#inputRate;
  }

  /**
   * Output rate in hertz.
   *
   * @example
   * ```ts
   * import { StreamResampler } from "@parley/parley/audio";
   * new StreamResampler({ inputRate: 8000, outputRate: 16000 }).outputRate; // 16000
   * ```
   */
  get outputRate(): number {
    return this.#outputRate;
  }

  /**
   * Group delay (latency) in seconds: how much input after an output
   * sample's time the filter needs before it can emit that sample. 0 for
   * equal rates.
   *
   * @example
   * ```ts
   * import { StreamResampler } from "@parley/parley/audio";
   * new StreamResampler({ inputRate: 8000, outputRate: 16000 }).delay; // 0.00525
   * ```
   */
  get delay(): number {
    let d = 0;
    for (const s of this.#stages) d += s.lookAhead / s.inputRate;
    return d;
  }

  /**
   * The group delay expressed in samples at the output rate (may be
   * fractional).
   *
   * @example
   * ```ts
   * import { StreamResampler } from "@parley/parley/audio";
   * new StreamResampler({ inputRate: 8000, outputRate: 16000 }).delaySamples; // 84
   * ```
   */
  get delaySamples(): number {
    return this.delay * this.#outputRate;
  }
  /**
   * Resamples the next chunk of the stream and returns every output sample
   * whose input is now available (possibly none). The input is not modified
   * or retained.
   *
   * @example
   * ```ts
   * import { StreamResampler } from "@parley/parley/audio";
   * const rs = new StreamResampler({ inputRate: 16000, outputRate: 8000 });
   * const out = rs.process(new Float32Array(320)); // ≈ 160 − 42 samples at first
   * ```
   *
   * @param input Float32 samples at the input rate (any length).
   * @param out Optional buffer for the output: when it is long enough, the
   *   result is a view of it (`out.subarray(0, count)`) and nothing is
   *   allocated for the samples; otherwise a new array is returned.
   * @returns Float32 samples at the output rate.
   * @throws {TypeError} If `input` is not a Float32Array.
   * @throws {RangeError} If a sample is NaN or infinite (the index is named);
   *   the stream state is left unchanged.
   */
  process(input: Float32Array, out?: Float32Array): Float32Array;
  /**
   * Resamples PCM16: the same filter, with the input scaled by 2⁻¹⁵ on the
   * way in and the output rounded and clipped as
   * `audioToInt16()` does, without float copies of the audio.
   *
   * @example
   * ```ts
   * import { StreamResampler } from "@parley/parley/audio";
   * const rs = new StreamResampler({ inputRate: 48000, outputRate: 8000 });
   * const pcm: Int16Array = rs.process(new Int16Array(960)); // 20 ms in
   * ```
   *
   * @param input PCM16 samples at the input rate (any length).
   * @param out Optional buffer for the output, as for float input.
   * @returns PCM16 samples at the output rate.
   */
  process(input: Int16Array, out?: Int16Array): Int16Array;
  /**
   * Either kind of samples (e.g. an `AudioChunk`'s): the result has the
   * input's type.
   *
   * @example
   * ```ts
   * import { StreamResampler } from "@parley/parley/audio";
   * const chunk: Float32Array | Int16Array = new Int16Array(320);
   * const out = new StreamResampler({ inputRate: 16000, outputRate: 8000 })
   *   .process(chunk); // an Int16Array here
   * ```
   *
   * @param input Float32 or PCM16 samples at the input rate.
   * @param out Optional buffer of the input's type.
   * @returns Samples at the output rate, of the input's type.
   */
  process(
    input: Float32Array | Int16Array,
    out?: Float32Array | Int16Array,
  ): Float32Array | Int16Array;
  process(
    input: Float32Array | Int16Array,
    out?: Float32Array | Int16Array,
  ): Float32Array | Int16Array {
    checkInput(input);
    const int16 = input instanceof Int16Array;
    if (out !== undefined && out instanceof Int16Array !== int16) {
      throw new TypeError(
        `StreamResampler.process(): out must be ${
          int16 ? "an Int16Array" : "a Float32Array"
        } like the input`,
      );
    }
    const stages = this.#stages;
    if (stages.length === 0) {
      if (out && out.length >= input.length) {
        const view = out.subarray(0, input.length);
        view.set(input);
        return view;
      }
      return input.slice();
    }
    if (stages.length === 1) return stages[0].process(input, out, int16);
    const [a, b] = stages;
    const total = b.outputsFor(a.outputsFor(input.length));
    const result = out && out.length >= total
      ? out.subarray(0, total)
      : int16
      ? new Int16Array(total)
      : new Float32Array(total);
    let written = 0;
    for (let off = 0; off < input.length; off += BLOCK) {
      const block = input.subarray(off, Math.min(input.length, off + BLOCK));
      const need = a.outputsFor(block.length);
      // One buffer between the stages for every resampler: the second stage
      // has copied a block into the kernel memory before the next is cut.
      if (midBuffer.length < need) midBuffer = new Float32Array(need + 64);
      const mid = a.process(block, midBuffer, false);
      written += b.process(mid, result.subarray(written), int16).length;
    }
    return result;
  }

  /**
   * Ends the stream: emits the remaining output as if the input were
   * followed by silence, then resets the resampler so it can start a new
   * stream. The tail is always float32 (a few ms); convert it with
   * `audioToInt16()` after PCM16 input.
   *
   * @example
   * ```ts
   * import { StreamResampler } from "@parley/parley/audio";
   * const rs = new StreamResampler({ inputRate: 8000, outputRate: 16000 });
   * const head = rs.process(new Float32Array(8000));
   * const tail = rs.flush();
   * // head.length + tail.length === 16000
   * ```
   *
   * @returns The tail of the output.
   */
  flush(): Float32Array {
    const stages = this.#stages;
    if (stages.length === 0) return new Float32Array(0);
    if (stages.length === 1) return stages[0].flush();
    const [a, b] = stages;
    const head = b.process(a.flush(), undefined, false);
    const tail = b.flush();
    const out = new Float32Array(head.length + tail.length);
    out.set(head);
    out.set(tail, head.length);
    return out;
  }

  /**
   * Forgets all buffered input and starts a new stream (as after
   * construction).
   *
   * @example
   * ```ts
   * import { StreamResampler } from "@parley/parley/audio";
   * const rs = new StreamResampler({ inputRate: 8000, outputRate: 16000 });
   * rs.process(new Float32Array(100));
   * rs.reset(); // e.g. on barge-in: drop the queued audio
   * ```
   */
  reset(): void {
    for (const s of this.#stages) s.reset();
  }
}

/**
 * The filter stages for a rate pair. A large integer ratio whose higher rate
 * is a multiple of twice the lower one (8 ↔ 48 kHz, 8 ↔ 32 kHz, 16 ↔ 96 kHz)
 * runs as two stages through twice the lower rate: the usual design between
 * the lower rate and its double, and a short relaxed filter (its transition
 * band may reach up to 1.5 × the lower rate, which folds or images only onto
 * frequencies the other stage removes) for the rest. Same passband and
 * stopband specification, about a quarter of the multiply-adds of one stage.
 */
function planStages(
  inputRate: number,
  outputRate: number,
  quality: ResamplerQuality,
): Stage[] {
  if (inputRate === outputRate) return [];
  const design = DESIGNS[quality];
  const low = Math.min(inputRate, outputRate);
  const high = Math.max(inputRate, outputRate);
  if (high / low < 4 || high % (2 * low) !== 0) {
    return [new Stage(inputRate, outputRate, design)];
  }
  const mid = 2 * low;
  const relaxed = RELAXED[quality];
  return inputRate < outputRate
    ? [
      new Stage(inputRate, mid, design),
      new Stage(mid, outputRate, relaxed),
    ]
    : [
      new Stage(inputRate, mid, relaxed),
      new Stage(mid, outputRate, design),
    ];
}

/**
 * One polyphase filter stage from `inputRate` to `outputRate`. A
 * {@linkcode StreamResampler} runs one stage, or two when a short relaxed
 * stage can do most of a large integer ratio (see `planStages`).
 */
class Stage {
  readonly inputRate: number;
  readonly outputRate: number;
  /** Reduced ratio: output/input = L/M. */
  #L: number;
  #M: number;
  /** Taps per output (multiple of 8). */
  #K = 0;
  /** Look-ahead in input samples. */
  #R = 0;
  /** Table rows minus one when interpolating between phases; 0 if exact. */
  #interp = 0;
  /** Phase table (shared by every stage of the same design). */
  #table: Float32Array = new Float32Array(0);
  /** Input history still needed: `#hist[0]` is absolute index `#bufStart`. */
  #hist: Float32Array = new Float32Array(0);
  #bufLen = 0;
  #bufStart = 0;
  /** Position of the next output: input index `#i` plus `#p / L`. */
  #i = 0;
  #p = 0;
  #totalIn = 0;

  constructor(inputRate: number, outputRate: number, design: Design) {
    this.inputRate = inputRate;
    this.outputRate = outputRate;
    const g = gcd(inputRate, outputRate);
    this.#L = outputRate / g;
    this.#M = inputRate / g;
    this.#design(design);
    this.reset();
  }

  /** Look-ahead in input samples. */
  get lookAhead(): number {
    return this.#R;
  }

  /** Outputs that `process` of `n` more inputs would return. */
  outputsFor(n: number): number {
    return this.#count(this.#bufStart + this.#bufLen + n, Infinity);
  }

  process<T extends Float32Array | Int16Array>(
    input: Float32Array | Int16Array,
    out: T | undefined,
    int16: boolean,
  ): T {
    this.#totalIn += input.length;
    return this.#feed(input, Infinity, out, int16);
  }

  flush(): Float32Array {
    const out = this.#feed<Float32Array>(
      new Float32Array(this.#R + 1),
      this.#totalIn,
      undefined,
      false,
    );
    this.reset();
    return out;
  }

  reset(): void {
    // History before the first sample is silence: the first output's window
    // starts K − R − 1 samples before input 0.
    const lead = this.#K - this.#R - 1;
    this.#hist.fill(0, 0, lead);
    this.#bufLen = lead;
    this.#bufStart = -lead;
    this.#i = 0;
    this.#p = 0;
    this.#totalIn = 0;
  }

  #design(d: Design): void {
    const up = this.outputRate >= this.inputRate;
    // Filter expressed in input samples.
    const stretch = up ? 1 : this.inputRate / this.outputRate;
    const fc = d.cutoff / stretch;
    const halfWidth = d.halfWidth * stretch;
    const R = Math.ceil(halfWidth - 1e-9);
    const K = (2 * R + 7) & ~7;
    this.#R = R;
    this.#K = K;
    const L = this.#L;
    let rows: number;
    if (L <= MAX_EXACT_PHASES && L * K <= MAX_EXACT_TABLE) {
      rows = L;
      this.#interp = 0;
    } else {
      rows = INTERP_PHASES + 1;
      this.#interp = INTERP_PHASES;
    }
    const key =
      `${this.inputRate}:${this.outputRate}:${d.beta}:${d.halfWidth}:${d.cutoff}`;
    let table = TABLES.get(key);
    if (!table) {
      table = buildTable(d, rows, K, R, L, this.#interp, fc, halfWidth);
      if (TABLES.size >= 32) TABLES.delete(TABLES.keys().next().value!);
      TABLES.set(key, table);
    }
    this.#table = table;
    // After each block the history keeps at most K + ceil(M / L) samples.
    this.#hist = new Float32Array(K + Math.ceil(this.#M / L) + 8);
  }

  /** Number of outputs emitted once input up to `available` is known. */
  #count(available: number, limit: number): number {
    // Output n (from the next) sits at input i + floor((p + n·M) / L); it is
    // emitted while that index is below both available − R and limit, so
    // count = ceil(((end − i)·L − p) / M) in exact integer arithmetic.
    const end = Math.ceil(Math.min(available - this.#R, limit));
    if (end <= this.#i) return 0;
    const room = (end - this.#i) * this.#L - this.#p;
    return room > 0 ? Math.ceil(room / this.#M) : 0;
  }

  /**
   * Appends `input` to the stream and emits every output whose window ends
   * before the end of the input and, when given, whose position is before
   * `limit` (absolute input index). Works in blocks of {@linkcode BLOCK}
   * inputs staged into the shared kernel memory.
   */
  #feed<T extends Float32Array | Int16Array>(
    input: Float32Array | Int16Array,
    limit: number,
    out: T | undefined,
    int16: boolean,
  ): T {
    const L = this.#L;
    const M = this.#M;
    const R = this.#R;
    const K = this.#K;
    const n = input.length;
    const total = this.#count(this.#bufStart + this.#bufLen + n, limit);
    const result =
      (out && out.length >= total
        ? out.subarray(0, total)
        : int16
        ? new Int16Array(total)
        : new Float32Array(total)) as T;
    const stepI = Math.floor(M / L);
    const stepP = M - stepI * L;
    let written = 0;
    for (let off = 0; off < n; off += BLOCK) {
      const take = Math.min(BLOCK, n - off);
      const sh = sharedKernel();
      const staged = this.#bufLen + take;
      const count = this.#count(this.#bufStart + staged, limit);
      reserveScratch(sh, staged, count);
      const tab = tableOffset(sh, this.#table);
      const heap = sh.heap;
      const outOff = sh.xCap;
      heap.set(this.#hist.subarray(0, this.#bufLen), 0);
      if (input instanceof Float32Array) {
        heap.set(input.subarray(off, off + take), this.#bufLen);
      } else {
        // PCM16 in: staged as is, scaled by 2^-15 (exact) in the kernel.
        sh.heap16.set(input.subarray(off, off + take), sh.i16Off * 2);
        sh.kernel.i16ToF32(sh.i16Off * 4, this.#bufLen * 4, take);
      }
      if (count > 0) {
        const first = this.#i + R - K + 1 - this.#bufStart;
        // Exact tables use `run`; interpolated ones `runInterp`, which also
        // takes the number of table phases (`run` ignores the extra argument).
        const run = this.#interp === 0 ? sh.kernel.run : sh.kernel.runInterp;
        run(
          tab * 4,
          first * 4,
          outOff * 4,
          count,
          this.#p,
          stepI,
          stepP,
          L,
          K,
          this.#interp,
        );
        if (int16) {
          // PCM16 out, rounded and clipped as audioToInt16 does (in place).
          sh.kernel.f32ToI16(outOff * 4, outOff * 4, count);
          result.set(
            sh.heap16.subarray(outOff * 2, outOff * 2 + count),
            written,
          );
        } else {
          result.set(heap.subarray(outOff, outOff + count), written);
        }
        written += count;
        const pos = this.#p + count * M;
        this.#i += Math.floor(pos / L);
        this.#p = pos % L;
      }
      // Keep only the history the next output's window still needs.
      const keepFrom = Math.max(this.#bufStart, this.#i + R - K + 1);
      const drop = keepFrom - this.#bufStart;
      const keep = staged - drop;
      if (keep > this.#hist.length) {
        this.#hist = new Float32Array(Math.max(keep, this.#hist.length * 2));
      }
      this.#hist.set(heap.subarray(drop, staged), 0);
      this.#bufLen = keep;
      this.#bufStart = keepFrom;
    }
    return result;
  }
}

/**
 * Resamples a whole signal in one call (a {@linkcode StreamResampler} run
 * over all of it and flushed). The result has exactly
 * `ceil(samples.length * outputRate / inputRate)` samples and is
 * time-aligned with the input (no delay).
 *
 * @example Resample a 48 kHz clip for a 16 kHz speech model
 * ```ts
 * import { resample } from "@parley/parley/audio";
 * const clip = new Float32Array(48000);
 * const out = resample(clip, { inputRate: 48000, outputRate: 16000 });
 * // out.length === 16000
 * ```
 *
 * @param samples Float32 samples at `inputRate`.
 * @param options Rates and quality.
 * @returns Float32 samples at `outputRate`.
 * @throws {RangeError} On bad rates or NaN/infinite samples.
 */
export function resample(
  samples: Float32Array,
  options: ResamplerOptions,
): Float32Array;
/**
 * Resamples a whole PCM16 signal in one call, without float copies of it
 * (rounded and clipped as `audioToInt16()` does).
 *
 * @example Hand a phone utterance to a 48 kHz reply function
 * ```ts
 * import { resample } from "@parley/parley/audio";
 * const utterance = new Int16Array(8000); // 1 s at 8 kHz
 * const out = resample(utterance, { inputRate: 8000, outputRate: 48000 });
 * // out is an Int16Array of 48000 samples
 * ```
 *
 * @param samples PCM16 samples at `inputRate`.
 * @param options Rates and quality.
 * @returns PCM16 samples at `outputRate`.
 */
export function resample(
  samples: Int16Array,
  options: ResamplerOptions,
): Int16Array;
/**
 * Resamples either kind of samples; the result has the input's type.
 *
 * @example
 * ```ts
 * import { resample } from "@parley/parley/audio";
 * const samples: Float32Array | Int16Array = new Float32Array(160);
 * resample(samples, { inputRate: 8000, outputRate: 16000 }); // 320 samples
 * ```
 *
 * @param samples Float32 or PCM16 samples at `inputRate`.
 * @param options Rates and quality.
 * @returns Samples at `outputRate`, of the input's type.
 */
export function resample(
  samples: Float32Array | Int16Array,
  options: ResamplerOptions,
): Float32Array | Int16Array;
export function resample(
  samples: Float32Array | Int16Array,
  options: ResamplerOptions,
): Float32Array | Int16Array {
  const rs = new StreamResampler(options);
  checkInput(samples);
  // The length is known up front: one allocation, head and tail written
  // into it (no concatenated copy of a long clip).
  const total = Math.ceil(samples.length * rs.outputRate / rs.inputRate);
  const out = samples instanceof Int16Array
    ? new Int16Array(total)
    : new Float32Array(total);
  const head = samples instanceof Int16Array
    ? rs.process(samples, out as Int16Array)
    : rs.process(samples, out as Float32Array);
  const tail = rs.flush();
  const at = head.length;
  if (out instanceof Int16Array) {
    for (let k = 0; k < tail.length && at + k < total; k++) {
      const v = Math.round(tail[k] * 32767);
      out[at + k] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
    }
  } else {
    out.set(tail.subarray(0, total - at), at);
  }
  return out;
}

/** Phase tables by rates and design, shared by all instances (max 32). */
const TABLES = new Map<string, Float32Array>();

function buildTable(
  d: Design,
  rows: number,
  K: number,
  R: number,
  L: number,
  interp: number,
  fc: number,
  halfWidth: number,
): Float32Array {
  const table = new Float32Array(rows * K);
  const i0beta = besselI0(d.beta);
  const row = new Float64Array(K);
  for (let r = 0; r < rows; r++) {
    const phi = interp === 0 ? r / L : r / interp;
    let sum = 0;
    for (let j = 0; j < K; j++) {
      // Tap j multiplies input index i + R − K + 1 + j; time distance:
      const t = phi + K - R - 1 - j;
      const x = t / halfWidth;
      let v = 0;
      if (x > -1 && x < 1) {
        const a = 2 * fc * t;
        const sinc = a === 0 ? 1 : Math.sin(Math.PI * a) / (Math.PI * a);
        v = 2 * fc * sinc * besselI0(d.beta * Math.sqrt(1 - x * x)) / i0beta;
      }
      row[j] = v;
      sum += v;
    }
    for (let j = 0; j < K; j++) table[r * K + j] = row[j] / sum;
  }
  return table;
}

function checkRate(rate: unknown, what: string): number {
  if (
    typeof rate !== "number" || !Number.isInteger(rate) || rate <= 0 ||
    rate > 384_000
  ) {
    throw new RangeError(
      `Invalid ${what}: ${String(rate)}; use a positive whole number of ` +
        `hertz up to 384000, such as 8000, 16000, 24000 or 48000`,
    );
  }
  return rate;
}

function checkInput(
  input: unknown,
): asserts input is Float32Array | Int16Array {
  if (input instanceof Int16Array) return;
  if (!(input instanceof Float32Array)) {
    const got = input === null
      ? "null"
      : typeof input === "object"
      ? (input as object).constructor?.name ?? "object"
      : typeof input;
    throw new TypeError(
      `StreamResampler.process() expects a Float32Array or an Int16Array, ` +
        `got ${got}; convert other audio with audioToFloat32() first`,
    );
  }
  // v - v is 0 for finite v and NaN otherwise: sum first, locate on failure.
  let bad = 0;
  for (let i = 0; i < input.length; i++) {
    const v = input[i];
    bad += v - v;
  }
  if (bad === 0) return;
  for (let i = 0; i < input.length; i++) {
    const v = input[i];
    if (v - v !== 0) {
      throw new RangeError(
        `Sample ${i} is ${v}; the resampler needs finite samples (check ` +
          `the step that produced the audio)`,
      );
    }
  }
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  const q = (x / 2) * (x / 2);
  for (let k = 1; k < 200; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < 1e-17 * sum) break;
  }
  return sum;
}
