/**
 * Audio chunk types shared by every Parley layer, and the int16 ↔ float32
 * conversions FastRTC users know as `audio_to_int16` / `audio_to_float32`.
 *
 * @module
 */

/** Samples of one mono audio chunk: PCM16 or float32 in −1..1. */
export type Samples = Int16Array | Float32Array;

/**
 * One mono audio chunk as used throughout the public API:
 * `[sampleRate, samples]`, exactly FastRTC's `(sample_rate, ndarray)` tuple.
 *
 * @example Make one 20 ms chunk of silence at 8 kHz
 * ```ts
 * import type { AudioChunk } from "@parley/parley/audio";
 * const chunk: AudioChunk = [8000, new Int16Array(160)];
 * ```
 */
export type AudioChunk = [sampleRate: number, samples: Samples];

/**
 * Checks that `rate` is a usable sample rate (a finite integer from 1 Hz to
 * 384 kHz) and returns it; throws a `RangeError` that names `what` otherwise.
 *
 * @example
 * ```ts
 * import { assertSampleRate } from "@parley/parley/audio";
 * assertSampleRate(16000, "inputSampleRate"); // 16000
 * ```
 *
 * @param rate The sample rate to check.
 * @param what Name used in the error message (an option or argument name).
 * @returns The same rate.
 */
export function assertSampleRate(rate: number, what = "sample rate"): number {
  if (
    typeof rate !== "number" || !Number.isInteger(rate) || rate <= 0 ||
    rate > 384_000
  ) {
    throw new RangeError(
      `Invalid ${what}: ${
        String(rate)
      }; use a positive whole number of hertz ` +
        `such as 8000, 16000, 24000 or 48000`,
    );
  }
  return rate;
}

/**
 * Converts samples to float32 in −1..1. Int16 input is divided by 32768
 * (FastRTC's `audio_to_float32`); float32 input is returned as is.
 *
 * @example
 * ```ts
 * import { audioToFloat32 } from "@parley/parley/audio";
 * const f = audioToFloat32(new Int16Array([16384, -32768]));
 * // f is Float32Array [0.5, -1]
 * ```
 *
 * @param samples PCM16 or float32 samples.
 * @param out Optional destination of the same length (avoids allocation).
 * @returns Float32 samples.
 */
export function audioToFloat32(
  samples: Samples,
  out?: Float32Array,
): Float32Array {
  if (samples instanceof Float32Array) {
    if (!out) return samples;
    checkOut(out.length, samples.length);
    out.set(samples);
    return out;
  }
  assertSamples(samples);
  const n = samples.length;
  const dst = out ?? new Float32Array(n);
  checkOut(dst.length, n);
  // Multiplying by 2^-15 is exact, so this equals dividing by 32768.
  const scale = 1 / 32768;
  for (let i = 0; i < n; i++) dst[i] = samples[i] * scale;
  return dst;
}

/**
 * Converts samples to PCM16. Float32 input is multiplied by 32767, rounded
 * and clipped to the int16 range (FastRTC's `audio_to_int16` scales by 32767
 * too); int16 input is returned as is. NaN or infinite samples throw.
 *
 * @example
 * ```ts
 * import { audioToInt16 } from "@parley/parley/audio";
 * const s = audioToInt16(new Float32Array([0.5, -1, 2]));
 * // s is Int16Array [16384, -32767, 32767]
 * ```
 *
 * @param samples PCM16 or float32 samples.
 * @param out Optional destination of the same length (avoids allocation).
 * @returns PCM16 samples.
 */
export function audioToInt16(samples: Samples, out?: Int16Array): Int16Array {
  if (samples instanceof Int16Array) {
    if (!out) return samples;
    checkOut(out.length, samples.length);
    out.set(samples);
    return out;
  }
  assertSamples(samples);
  const n = samples.length;
  const dst = out ?? new Int16Array(n);
  checkOut(dst.length, n);
  // x - x is 0 for finite x and NaN otherwise: one check after the loop.
  let bad = 0;
  for (let i = 0; i < n; i++) {
    const x = samples[i];
    bad += x - x;
    const v = Math.round(x * 32767);
    dst[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
  }
  if (bad !== 0) {
    for (let i = 0; i < n; i++) {
      const x = samples[i];
      if (!Number.isFinite(x)) {
        throw new RangeError(
          `Sample ${i} is ${x}; audio must hold finite numbers (check the ` +
            `model or DSP step that produced it)`,
        );
      }
    }
  }
  return dst;
}

/**
 * Throws a `TypeError` unless `samples` is an `Int16Array` or `Float32Array`.
 *
 * @example
 * ```ts
 * import { assertSamples } from "@parley/parley/audio";
 * assertSamples(new Int16Array(4));
 * ```
 *
 * @param samples The value to check.
 * @param what Name used in the error message.
 */
export function assertSamples(
  samples: unknown,
  what = "samples",
): asserts samples is Samples {
  if (!(samples instanceof Int16Array) && !(samples instanceof Float32Array)) {
    const got = samples === null
      ? "null"
      : typeof samples === "object"
      ? (samples as object).constructor?.name ?? "object"
      : typeof samples;
    throw new TypeError(
      `Expected ${what} to be an Int16Array or Float32Array, got ${got}; ` +
        `yield audio as [sampleRate, samples]`,
    );
  }
}

/**
 * Checks an audio chunk `[sampleRate, samples]` and returns it typed.
 * Throws an error that names what is wrong (and `what` produced it).
 *
 * @example
 * ```ts
 * import { assertAudioChunk } from "@parley/parley/audio";
 * const [rate, samples] = assertAudioChunk([16000, new Float32Array(320)]);
 * ```
 *
 * @param value The value to check.
 * @param what Who produced the value, for the error message.
 * @returns The chunk.
 */
export function assertAudioChunk(
  value: unknown,
  what = "audio chunk",
): AudioChunk {
  if (!Array.isArray(value) || value.length < 2) {
    throw new TypeError(
      `Expected ${what} to be [sampleRate, Int16Array | Float32Array], got ` +
        describe(value),
    );
  }
  assertSampleRate(value[0], `sample rate of ${what}`);
  assertSamples(value[1], `samples of ${what}`);
  return [value[0], value[1]];
}

/**
 * Describes a value for an error message: its type and, for arrays, length
 * and the types of the first elements.
 *
 * @example
 * ```ts
 * import { describe } from "./frame.ts";
 * describe([16000, new Int16Array(4)]);
 * // "an array of length 2 [number, Int16Array]"
 * describe(null); // "null"
 * ```
 *
 * @param value Any value.
 * @returns A short human-readable description.
 */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "undefined";
  if (Array.isArray(value)) {
    return `an array of length ${value.length} [${
      value.slice(0, 3).map((v) =>
        typeof v === "object" && v !== null
          ? v.constructor?.name ?? "object"
          : typeof v
      ).join(", ")
    }]`;
  }
  if (typeof value === "object") {
    return `a ${(value as object).constructor?.name ?? "object"}`;
  }
  return `a ${typeof value} (${String(value).slice(0, 40)})`;
}

/**
 * Concatenates byte chunks (for example PCM16 streamed by a TTS API) into
 * Int16Array chunks, carrying an odd trailing byte to the next chunk, as
 * FastRTC's `aggregate_bytes_to_16bit` does. Bytes are little-endian.
 * A dangling byte at the very end is dropped with no output (half a sample).
 *
 * @example
 * ```ts
 * import { aggregateBytesTo16bit } from "@parley/parley/audio";
 * async function* bytes() {
 *   yield new Uint8Array([1, 0, 2]);
 *   yield new Uint8Array([0]);
 * }
 * for await (const pcm of aggregateBytesTo16bit(bytes())) console.log(pcm);
 * // Int16Array [1], then Int16Array [2]
 * ```
 *
 * @param chunks Sync or async iterable of byte chunks.
 * @returns Async iterator of PCM16 chunks (empty results are skipped).
 */
export async function* aggregateBytesTo16bit(
  chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
): AsyncGenerator<Int16Array> {
  let carry = -1;
  for await (const chunk of chunks) {
    if (!(chunk instanceof Uint8Array)) {
      throw new TypeError(
        `aggregateBytesTo16bit() expects Uint8Array chunks, got ${
          describe(chunk)
        }`,
      );
    }
    const total = chunk.length + (carry >= 0 ? 1 : 0);
    const n = total >> 1;
    if (n === 0) {
      if (chunk.length === 1) carry = chunk[0];
      continue;
    }
    const out = new Int16Array(n);
    let j = 0;
    let i = 0;
    if (carry >= 0) {
      out[0] = ((chunk[0] << 8) | carry) << 16 >> 16;
      j = 1;
      i = 1;
    }
    for (; j < n; j++, i += 2) {
      out[j] = ((chunk[i + 1] << 8) | chunk[i]) << 16 >> 16;
    }
    carry = i < chunk.length ? chunk[i] : -1;
    yield out;
  }
}

function checkOut(have: number, need: number): void {
  if (have < need) {
    throw new RangeError(
      `Output buffer holds ${have} samples but ${need} are needed; pass a ` +
        `buffer at least as long as the input`,
    );
  }
}
