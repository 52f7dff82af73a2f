/**
 * On-device speech-to-text with Moonshine: FastRTC's
 * `get_stt_model("moonshine/base" | "moonshine/tiny")`.
 *
 * `getSttModel()` loads Moonshine (ONNX) from the model cache — downloading it
 * on first use — and returns `stt([sampleRate, samples])` → text. Audio at
 * any rate is resampled to 16 kHz first. English only, like FastRTC's.
 *
 * Runtime: Parley's own {@linkcode MoonshineRunner} — the encoder and the
 * merged key/value-cache decoder run directly on onnxruntime-node 1.30 (the
 * runtime Parley's VAD and wake words already load), greedy decoding, and
 * Llama's vocabulary (`llama-tokenizer-js`) for the text. The weights are
 * Moonshine AI's 8-bit quantized exports, fetched from their npm package
 * tarballs into the model cache. See `models/README.md` for the decision.
 *
 * @module
 */

import { type AudioChunk, audioToFloat32 } from "../audio/frame.ts";
import { resample } from "../audio/resampler.ts";
import { ensureModel, type ModelSourceOptions } from "./model_cache.ts";
import { type LoadedModel, SharedModels } from "./_shared_models.ts";
import { assertWorkerCount, WorkerPool } from "./_worker_pool.ts";
import { registerModelCloser } from "../_internal/model_closers.ts";
import type { MoonshineJob } from "./_moonshine_worker.ts";
import {
  decodeMoonshineTokens,
  moonshineMaxTokens,
  MoonshineRunner,
  type MoonshineRunnerOptions,
} from "./moonshine.ts";

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
  /**
   * The model id: a {@linkcode MoonshineModel} for `getSttModel`, the
   * server's model name (e.g. `"whisper-1"`) for `openAiStt`.
   */
  readonly model: string;
  /**
   * Transcribes one utterance.
   *
   * @param audio `[sampleRate, samples]`, int16 or float32, any rate.
   * @param options `signal` gives up on this utterance (e.g. the caller
   *   hung up): the promise rejects with its reason and decoding stops.
   * @returns The text (empty for empty audio).
   */
  stt(audio: AudioChunk, options?: { signal?: AbortSignal }): Promise<string>;
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
export interface SttModelOptions
  extends
    ModelSourceOptions,
    Pick<MoonshineRunnerOptions, "backend" | "threads"> {
  /** Model size; default `"moonshine/base"` (FastRTC's default). */
  model?: MoonshineModel;
  /**
   * Worker threads that run Moonshine, each with its own copy of the model;
   * a transcription goes to the least busy one. Default 1: onnxruntime's
   * runs block their thread (the encoder alone takes tens to hundreds of
   * milliseconds), and off the main thread they never stall the audio of
   * the calls this process serves. More workers transcribe several callers
   * in parallel (one core each). `0` runs on the calling thread.
   */
  workers?: number;
}

/**
 * Converts an audio chunk to mono float32 at 16 kHz, as Moonshine needs.
 *
 * @example
 * ```ts
 * import { toSttInput } from "./stt.ts";
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

const models = new SharedModels<SttModel>();
/** What runs Moonshine: on this thread, or in worker threads. */
type TokenRunner = Pick<MoonshineRunner, "transcribe" | "close">;

/**
 * Loads an on-device STT model (FastRTC's `get_stt_model`). The first call
 * downloads the model into the cache if needed; later calls with the same
 * options return the same model. Callers with the same options share one
 * load: `options.signal` stops only this caller's wait (rejecting with its
 * reason) while the load goes on for the others.
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
  const workers = options.workers ?? 1;
  assertWorkerCount(workers, 0);
  return models.get(
    [
      model,
      options.cacheDir ?? "",
      options.localDir ?? "",
      options.backend ?? "node",
      options.threads ?? 1,
      workers,
    ],
    () => loadMoonshine(model, { ...options, signal: undefined }, workers),
    options.signal,
  );
}

async function loadMoonshine(
  model: MoonshineModel,
  options: SttModelOptions,
  workers: number,
): Promise<LoadedModel<SttModel>> {
  // Everything but the model and runtime settings says where files come from.
  const { model: _model, backend, threads, workers: _workers, ...source } =
    options;
  const resolved = await ensureModel(model, source);
  const files = {
    encoderPath: resolved.files["encoder_model.onnx"],
    decoderPath: resolved.files["decoder_model_merged.onnx"],
    backend,
    threads,
  };
  const runner: TokenRunner = workers === 0
    ? await MoonshineRunner.load(files)
    : await startMoonshineWorkers(files, workers);
  const stt: SttModel = {
    model,
    async stt(audio, options) {
      const input = toSttInput(audio);
      if (input.length === 0) return "";
      const ids = await runner.transcribe(input, {
        maxTokens: moonshineMaxTokens(input.length),
        signal: options?.signal,
      });
      return await decodeMoonshineTokens(ids);
    },
  };
  return { model: stt, close: () => runner.close() };
}

/** Moonshine in `count` worker threads, behind MoonshineRunner's interface. */
async function startMoonshineWorkers(
  load: MoonshineRunnerOptions,
  count: number,
): Promise<TokenRunner> {
  const pool = await WorkerPool.start<
    MoonshineRunnerOptions,
    MoonshineJob,
    number[]
  >({
    url: new URL("./_moonshine_worker.ts", import.meta.url),
    count,
    load,
    label: "Moonshine",
    loader: "getSttModel",
    transfer: (job) => [job.audio.buffer],
  });
  return {
    transcribe: (audio, options = {}) =>
      // A copy moves to the worker; the caller keeps its buffer.
      pool.run(
        { audio: audio.slice(), maxTokens: options.maxTokens },
        options.signal,
      ),
    close: () => pool.close(),
  };
}

/**
 * Releases every model {@linkcode getSttModel} loaded (their ONNX sessions),
 * after the transcriptions already running finish; for graceful shutdown and
 * tests. Models handed out before reject later `stt()` calls; the next
 * `getSttModel` loads again.
 *
 * @example
 * ```ts ignore
 * import { closeSttModels, getSttModel } from "@parley/parley/speech";
 * const stt = await getSttModel({ model: "moonshine/tiny" });
 * await closeSttModels();
 * ```
 *
 * @returns A promise that settles once all sessions are released.
 */
export function closeSttModels(): Promise<void> {
  return models.closeAll();
}

// Shutdown (Stream.serve, closeModels) releases these without importing
// this module itself.
registerModelCloser("stt", closeSttModels);
