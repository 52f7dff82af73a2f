/**
 * On-device speech-to-text with Moonshine: FastRTC's
 * `get_stt_model("moonshine/base" | "moonshine/tiny")`.
 *
 * `getSttModel()` loads Moonshine (ONNX) from the model cache — downloading it
 * on first use — and returns `stt([sampleRate, samples])` → text. Audio at
 * any rate is resampled to 16 kHz first. English only, like FastRTC's.
 *
 * Runtime: `@huggingface/transformers` 4.3.1 (imported lazily on the first
 * call), whose ASR pipeline runs Moonshine's encoder and merged decoder with
 * greedy decoding on onnxruntime-node 1.30.0 — the same native runtime as
 * Parley's VAD and wake words, so one copy of it is loaded. See
 * `models/README.md` for why this was chosen over a hand-written decoder.
 *
 * @module
 */

import { type AudioChunk, audioToFloat32 } from "../audio/frame.ts";
import { resample } from "../audio/resampler.ts";
import { ensureModel, type ModelSourceOptions } from "./model_cache.ts";
import {
  type AsrPipeline,
  loadLocal,
  loadTransformers,
} from "./_transformers.ts";

/**
 * Moonshine sizes: `base` (more accurate) or `tiny` (faster).
 *
 * @example
 * ```ts
 * import type { MoonshineModel } from "@parley/parley/speech";
 * const model: MoonshineModel = "moonshine/tiny";
 * ```
 */
export type MoonshineModel = "moonshine/base" | "moonshine/tiny";

/**
 * A speech-to-text model: FastRTC's `STTModel` protocol.
 *
 * @example
 * ```ts ignore
 * import { getSttModel, type SttModel } from "@parley/parley/speech";
 * const stt: SttModel = await getSttModel({ model: "moonshine/tiny" });
 * const text = await stt.stt([16000, new Float32Array(16000)]);
 * ```
 */
export interface SttModel {
  /** The model id. */
  readonly model: MoonshineModel;
  /**
   * Transcribes one utterance.
   *
   * @param audio `[sampleRate, samples]`, int16 or float32, any rate.
   * @returns The text (empty for empty audio).
   */
  stt(audio: AudioChunk): Promise<string>;
}

/**
 * Options of {@linkcode getSttModel}.
 *
 * @example
 * ```ts
 * import type { SttModelOptions } from "@parley/parley/speech";
 * const options: SttModelOptions = { model: "moonshine/base", offline: true };
 * ```
 */
export interface SttModelOptions extends ModelSourceOptions {
  /** Model size; default `"moonshine/base"` (FastRTC's default). */
  model?: MoonshineModel;
}

/**
 * Token limit for an utterance: Moonshine's paper uses 6 tokens per second
 * of audio to stop runaway repetition; a floor keeps sub-second answers
 * ("yes", "no") from being cut to nothing.
 *
 * @example
 * ```ts
 * import { moonshineMaxTokens } from "@parley/parley/speech";
 * moonshineMaxTokens(16000 * 5); // 30
 * ```
 *
 * @param samples Number of 16 kHz samples.
 * @returns Maximum new tokens for generation.
 */
export function moonshineMaxTokens(samples: number): number {
  return Math.max(10, Math.ceil((samples / 16000) * 6));
}

/**
 * Converts an audio chunk to mono float32 at 16 kHz, as Moonshine needs.
 *
 * @example
 * ```ts
 * import { toSttInput } from "@parley/parley/speech";
 * const x = toSttInput([8000, new Int16Array(8000)]);
 * // x.length === 16000
 * ```
 *
 * @param audio `[sampleRate, samples]`.
 * @returns Float32 samples at 16 kHz.
 */
export function toSttInput(audio: AudioChunk): Float32Array {
  if (!Array.isArray(audio) || audio.length !== 2) {
    throw new TypeError(
      "stt() expects an audio chunk [sampleRate, samples], e.g. [16000, new Int16Array(n)]",
    );
  }
  const [rate, samples] = audio;
  const f32 = audioToFloat32(samples);
  return rate === 16000
    ? f32
    : resample(f32, { inputRate: rate, outputRate: 16000 });
}

const models = new Map<string, Promise<SttModel>>();

/**
 * Loads an on-device STT model (FastRTC's `get_stt_model`). The first call
 * downloads the model into the cache if needed; later calls with the same
 * options return the same model.
 *
 * @example Transcribe the caller's turn in a handler
 * ```ts ignore
 * import { getSttModel } from "@parley/parley/speech";
 * const stt = await getSttModel({ model: "moonshine/base" });
 * const text = await stt.stt([8000, new Int16Array(8000)]);
 * ```
 *
 * @param options Model size and cache options.
 * @returns The model.
 */
export function getSttModel(options: SttModelOptions = {}): Promise<SttModel> {
  const model = options.model ?? "moonshine/base";
  if (model !== "moonshine/base" && model !== "moonshine/tiny") {
    throw new RangeError(
      `Unknown STT model "${
        String(model)
      }"; use "moonshine/base" or "moonshine/tiny"`,
    );
  }
  const key = `${model}\0${options.cacheDir ?? ""}\0${options.localDir ?? ""}`;
  let p = models.get(key);
  if (!p) {
    p = loadMoonshine(model, options);
    p.catch(() => models.delete(key));
    models.set(key, p);
  }
  return p;
}

async function loadMoonshine(
  model: MoonshineModel,
  options: SttModelOptions,
): Promise<SttModel> {
  const resolved = await ensureModel(model, {
    cacheDir: options.cacheDir,
    localDir: options.localDir,
    fetch: options.fetch,
    baseUrl: options.baseUrl,
    onProgress: options.onProgress,
    offline: options.offline,
    signal: options.signal,
  });
  const tf = await loadTransformers();
  const asr: AsrPipeline = await loadLocal(
    resolved.dir,
    (id) =>
      tf.pipeline("automatic-speech-recognition", id, {
        dtype: "fp32",
        device: "cpu",
      }),
  );
  let queue: Promise<unknown> = Promise.resolve();
  return {
    model,
    stt(audio) {
      const input = toSttInput(audio);
      if (input.length === 0) return Promise.resolve("");
      // One utterance at a time per model: generation is not re-entrant.
      const run = queue.then(async () => {
        const out = await asr(input, {
          max_new_tokens: moonshineMaxTokens(input.length),
        });
        const first = Array.isArray(out) ? out[0] : out;
        return (first?.text ?? "").trim();
      });
      queue = run.catch(() => {});
      return run;
    },
  };
}
