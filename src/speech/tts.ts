/**
 * On-device text-to-speech with Kokoro-82M: FastRTC's `get_tts_model("kokoro")`.
 *
 * `getTtsModel()` loads Kokoro (ONNX, 8-bit) from the model cache — downloading
 * it on first use — and returns `tts(text)` → `[24000, Float32Array]` and
 * `streamTts(text)`, an async generator that yields audio sentence by sentence
 * with a short first chunk, so the caller hears the reply sooner.
 *
 * How it runs: text → phonemes with eSpeak NG (npm `phonemizer`, WASM) plus
 * Kokoro's phoneme conventions → token ids (the model's tokenizer) → the ONNX
 * model via `@huggingface/transformers` on onnxruntime-node, with a voice
 * style vector picked by input length. Both packages are imported lazily, on
 * the first `getTtsModel()` call. By default all of this runs in a worker
 * thread (`workers` option), because onnxruntime blocks the thread it runs
 * on; the model files are found or downloaded on the calling thread.
 *
 * Why not `kokoro-js`: it works under Deno, but it depends on transformers.js
 * 3.x, which pins onnxruntime-node 1.21; that native library cannot be loaded
 * into a process that already runs Parley's onnxruntime-node 1.30 (VAD, wake
 * words): `libonnxruntime.so.1: version VERS_1.21.0 not found`. transformers.js
 * 4.3.1 uses onnxruntime-node 1.30.0 itself, so Parley runs Kokoro on it
 * directly and writes the (small) phonemization step itself.
 *
 * No blocking `stream_tts_sync` twin is offered: JavaScript cannot wait for
 * inference without blocking the event loop that carries every call's audio.
 * Iterate `streamTts` with `for await`.
 *
 * @module
 */

import { type LoadedModel, SharedModels } from "./_shared_models.ts";
import { ensureModel, type ModelSourceOptions } from "./model_cache.ts";
import { splitForTts, splitSentences } from "./text.ts";
import {
  KOKORO_SAMPLE_RATE,
  type KokoroJob,
  type KokoroSynth,
  loadKokoro,
} from "./_kokoro.ts";
import { assertWorkerCount, WorkerPool } from "./_worker_pool.ts";
import { registerModelCloser } from "../_internal/model_closers.ts";

export { phonemizeForKokoro } from "./_kokoro.ts";

/**
 * Description of one Kokoro voice.
 *
 * @example
 * ```ts
 * import { KOKORO_VOICES, type KokoroVoiceInfo } from "@parley/parley/speech";
 * const info: KokoroVoiceInfo = KOKORO_VOICES.bf_emma; // British English, female
 * ```
 */
export interface KokoroVoiceInfo {
  /** Display name. */
  name: string;
  /** Accent the voice was trained on. */
  language: "en-us" | "en-gb";
  /** Voice gender as labelled upstream. */
  gender: "female" | "male";
  /** Overall quality grade from the Kokoro voice list (A best … F worst). */
  grade: string;
}

/**
 * The English Kokoro v1.0 voices (hexgrad/Kokoro-82M `VOICES.md`): `a…`
 * voices are American English, `b…` British English; `f`/`m` is the gender.
 *
 * @example
 * ```ts
 * import { KOKORO_VOICES } from "@parley/parley/speech";
 * console.log(KOKORO_VOICES.af_heart.grade); // "A"
 * ```
 */
export const KOKORO_VOICES = {
  af_heart: { name: "Heart", language: "en-us", gender: "female", grade: "A" },
  af_alloy: { name: "Alloy", language: "en-us", gender: "female", grade: "C" },
  af_aoede: { name: "Aoede", language: "en-us", gender: "female", grade: "C+" },
  af_bella: { name: "Bella", language: "en-us", gender: "female", grade: "A-" },
  af_jessica: {
    name: "Jessica",
    language: "en-us",
    gender: "female",
    grade: "D",
  },
  af_kore: { name: "Kore", language: "en-us", gender: "female", grade: "C+" },
  af_nicole: {
    name: "Nicole",
    language: "en-us",
    gender: "female",
    grade: "B-",
  },
  af_nova: { name: "Nova", language: "en-us", gender: "female", grade: "C" },
  af_river: { name: "River", language: "en-us", gender: "female", grade: "D" },
  af_sarah: { name: "Sarah", language: "en-us", gender: "female", grade: "C+" },
  af_sky: { name: "Sky", language: "en-us", gender: "female", grade: "C-" },
  am_adam: { name: "Adam", language: "en-us", gender: "male", grade: "F+" },
  am_echo: { name: "Echo", language: "en-us", gender: "male", grade: "D" },
  am_eric: { name: "Eric", language: "en-us", gender: "male", grade: "D" },
  am_fenrir: { name: "Fenrir", language: "en-us", gender: "male", grade: "C+" },
  am_liam: { name: "Liam", language: "en-us", gender: "male", grade: "D" },
  am_michael: {
    name: "Michael",
    language: "en-us",
    gender: "male",
    grade: "C+",
  },
  am_onyx: { name: "Onyx", language: "en-us", gender: "male", grade: "D" },
  am_puck: { name: "Puck", language: "en-us", gender: "male", grade: "C+" },
  am_santa: { name: "Santa", language: "en-us", gender: "male", grade: "D-" },
  bf_emma: { name: "Emma", language: "en-gb", gender: "female", grade: "B-" },
  bf_isabella: {
    name: "Isabella",
    language: "en-gb",
    gender: "female",
    grade: "C",
  },
  bf_alice: { name: "Alice", language: "en-gb", gender: "female", grade: "D" },
  bf_lily: { name: "Lily", language: "en-gb", gender: "female", grade: "D" },
  bm_george: { name: "George", language: "en-gb", gender: "male", grade: "C" },
  bm_lewis: { name: "Lewis", language: "en-gb", gender: "male", grade: "D+" },
  bm_daniel: { name: "Daniel", language: "en-gb", gender: "male", grade: "D" },
  bm_fable: { name: "Fable", language: "en-gb", gender: "male", grade: "C" },
} as const satisfies Record<string, KokoroVoiceInfo>;

/**
 * Id of a Kokoro voice, e.g. `"af_heart"`.
 *
 * @example
 * ```ts
 * import type { KokoroVoice } from "@parley/parley/speech";
 * const voice: KokoroVoice = "am_michael";
 * ```
 */
export type KokoroVoice = keyof typeof KOKORO_VOICES;

/**
 * FastRTC's `KokoroTtsOptions`, plus an abort signal.
 *
 * @example
 * ```ts
 * import type { KokoroTtsOptions } from "@parley/parley/speech";
 * const options: KokoroTtsOptions = { voice: "bf_emma", speed: 1.1, lang: "en-gb" };
 * ```
 */
export interface KokoroTtsOptions {
  /** Voice id; default `"af_heart"` (or `"bf_emma"` when `lang` is `"en-gb"`). */
  voice?: KokoroVoice;
  /** Speaking rate, 0.5–2; default 1. */
  speed?: number;
  /** Accent, which must match the voice; default the voice's. */
  lang?: "en-us" | "en-gb";
  /** Stops synthesis between chunks (e.g. on barge-in). */
  signal?: AbortSignal;
}

/**
 * {@linkcode KokoroTtsOptions} after validation and defaults.
 *
 * @example
 * ```ts
 * import { type ResolvedKokoroOptions, resolveKokoroOptions } from "@parley/parley/speech";
 * const o: ResolvedKokoroOptions = resolveKokoroOptions({ speed: 1.2 });
 * // { voice: "af_heart", speed: 1.2, lang: "en-us" }
 * ```
 */
export interface ResolvedKokoroOptions {
  /** Voice id. */
  voice: KokoroVoice;
  /** Speaking rate. */
  speed: number;
  /** Accent. */
  lang: "en-us" | "en-gb";
}

/**
 * Checks Kokoro options and fills in defaults; throws a `RangeError` that
 * says what to use instead.
 *
 * @example
 * ```ts
 * import { resolveKokoroOptions } from "@parley/parley/speech";
 * resolveKokoroOptions({ lang: "en-gb" });
 * // { voice: "bf_emma", speed: 1, lang: "en-gb" }
 * ```
 *
 * @param options User options.
 * @returns Voice, speed and accent.
 */
export function resolveKokoroOptions(
  options: KokoroTtsOptions = {},
): ResolvedKokoroOptions {
  const { lang, voice, speed = 1 } = options;
  if (lang !== undefined && lang !== "en-us" && lang !== "en-gb") {
    throw new RangeError(
      `Unsupported Kokoro lang "${String(lang)}"; use "en-us" or "en-gb"`,
    );
  }
  if (voice !== undefined && !Object.hasOwn(KOKORO_VOICES, voice)) {
    throw new RangeError(
      `Unknown Kokoro voice "${String(voice)}"; use one of ${
        Object.keys(KOKORO_VOICES).join(", ")
      }`,
    );
  }
  const v: KokoroVoice = voice ?? (lang === "en-gb" ? "bf_emma" : "af_heart");
  const voiceLang = KOKORO_VOICES[v].language;
  if (lang !== undefined && lang !== voiceLang) {
    throw new RangeError(
      `Kokoro voice "${v}" speaks ${voiceLang}, not ${lang}; pick a ` +
        `${lang === "en-gb" ? "bf_/bm_" : "af_/am_"} voice or leave lang unset`,
    );
  }
  if (typeof speed !== "number" || !(speed >= 0.5 && speed <= 2)) {
    throw new RangeError(
      `Invalid Kokoro speed ${String(speed)}; use a number from 0.5 to 2 ` +
        `(1 is normal)`,
    );
  }
  return { voice: v, speed, lang: voiceLang };
}

/**
 * A text-to-speech model: FastRTC's `TTSModel` protocol. `Options` are the
 * per-call options: {@linkcode KokoroTtsOptions} for the on-device Kokoro
 * (the default), `OpenAiSpeechOptions` for `openAiTts`. Every provider takes
 * at least `signal`, so handler code that passes only that (or nothing)
 * works with any of them: write it against plain `TtsModel`.
 *
 * @example
 * ```ts ignore
 * import { getTtsModel, type TtsModel } from "@parley/parley/speech";
 * const tts: TtsModel = await getTtsModel();
 * const [rate, audio] = await tts.tts("Good morning.");
 * ```
 */
export interface TtsModel<
  Options extends { signal?: AbortSignal } = KokoroTtsOptions,
> {
  /** Rate of the audio it yields (24000 for Kokoro). */
  readonly sampleRate: number;
  /**
   * Synthesizes all of `text`.
   *
   * @returns `[sampleRate, samples]`, float32 in −1..1.
   */
  tts(
    text: string,
    options?: Options,
  ): Promise<[number, Float32Array]>;
  /**
   * Synthesizes `text` chunk by chunk (a short first clause, then sentence
   * by sentence, with a 1/7 s pause before each new sentence as FastRTC
   * does) and yields each chunk's audio as soon as it is ready.
   */
  streamTts(
    text: string,
    options?: Options,
  ): AsyncGenerator<[number, Float32Array]>;
}

/**
 * What {@linkcode createTtsModel} needs from a synthesizer.
 *
 * @example
 * ```ts
 * import type { TtsEngine } from "@parley/parley/speech";
 * const silent: TtsEngine = {
 *   sampleRate: 16000,
 *   synthesize: (text) => Promise.resolve(new Float32Array(text.length * 800)),
 * };
 * ```
 */
export interface TtsEngine {
  /** Output rate of `synthesize`. */
  sampleRate: number;
  /**
   * Synthesizes one chunk (a sentence or clause) to float32 samples.
   * `options.signal` is the caller's: when it aborts, stop early if you can
   * (the chunk's result is dropped either way).
   */
  synthesize(
    text: string,
    options: ResolvedKokoroOptions & { signal?: AbortSignal },
  ): Promise<Float32Array>;
}

/** Longest chunk handed to the synthesizer (Kokoro takes ≤ 510 phonemes). */
const MAX_CHUNK_CHARS = 300;

function limitLength(chunk: string): string[] {
  const out: string[] = [];
  let rest = chunk;
  while (rest.length > MAX_CHUNK_CHARS) {
    const window = rest.slice(0, MAX_CHUNK_CHARS);
    let cut = Math.max(
      window.lastIndexOf(", "),
      window.lastIndexOf("; "),
      window.lastIndexOf(": "),
    );
    if (cut < MAX_CHUNK_CHARS / 3) cut = window.lastIndexOf(" ");
    if (cut <= 0) cut = MAX_CHUNK_CHARS - 1;
    out.push(rest.slice(0, cut + 1).trim());
    rest = rest.slice(cut + 1).trimStart();
  }
  if (rest.trim()) out.push(rest.trim());
  return out;
}

/** Chunks to synthesize, each flagged when it starts a new sentence. */
function plan(text: string): { text: string; newSentence: boolean }[] {
  const chunks = splitForTts(text);
  const firstWasCut = chunks.length > splitSentences(text).length;
  const out: { text: string; newSentence: boolean }[] = [];
  chunks.forEach((chunk, i) => {
    const newSentence = i > 0 && !(firstWasCut && i === 1);
    limitLength(chunk).forEach((piece, j) =>
      out.push({ text: piece, newSentence: newSentence && j === 0 })
    );
  });
  return out;
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/**
 * Wraps any synthesizer in Parley's `tts` / `streamTts` behaviour: option
 * validation, sentence chunking with a short first chunk, pauses between
 * sentences, abort between chunks. `getTtsModel` uses it for Kokoro; use it
 * to put a cloud TTS behind the same interface.
 *
 * @example A fake engine that returns 10 ms of silence per chunk
 * ```ts
 * import { createTtsModel } from "@parley/parley/speech";
 * const model = createTtsModel({
 *   sampleRate: 24000,
 *   synthesize: () => Promise.resolve(new Float32Array(240)),
 * });
 * for await (const [rate, audio] of model.streamTts("Hi. Bye.")) {
 *   console.log(rate, audio.length);
 * }
 * ```
 *
 * @param engine The synthesizer.
 * @returns The TTS model.
 */
export function createTtsModel(engine: TtsEngine): TtsModel {
  const sr = engine.sampleRate;
  const pause = Math.floor(sr / 7);
  async function* streamTts(
    text: string,
    options: KokoroTtsOptions = {},
  ): AsyncGenerator<[number, Float32Array]> {
    const resolved = resolveKokoroOptions(options);
    for (const chunk of plan(text)) {
      options.signal?.throwIfAborted();
      const audio = await engine.synthesize(
        chunk.text,
        options.signal ? { ...resolved, signal: options.signal } : resolved,
      );
      options.signal?.throwIfAborted();
      yield [
        sr,
        chunk.newSentence ? concat([new Float32Array(pause), audio]) : audio,
      ];
    }
  }
  return {
    sampleRate: sr,
    streamTts,
    async tts(text, options) {
      const parts: Float32Array[] = [];
      for await (const [, audio] of streamTts(text, options)) parts.push(audio);
      return [sr, concat(parts)];
    },
  };
}

/**
 * Options of {@linkcode getTtsModel}.
 *
 * @example
 * ```ts
 * import type { TtsModelOptions } from "@parley/parley/speech";
 * const options: TtsModelOptions = { model: "kokoro", cacheDir: "/srv/models" };
 * ```
 */
export interface TtsModelOptions extends ModelSourceOptions {
  /** The model; only `"kokoro"` (FastRTC's default) is on-device. */
  model?: "kokoro";
  /**
   * Worker threads that run Kokoro, each with its own copy of the model; a
   * chunk goes to the least busy one. Default 1: onnxruntime's runs block
   * their thread (a sentence takes hundreds of milliseconds on a CPU), and
   * off the main thread they never stall the audio of the calls this
   * process serves. More workers synthesize for several callers in
   * parallel (one core each). `0` runs on the calling thread.
   */
  workers?: number;
}

const models = new SharedModels<TtsModel>();

/**
 * Loads an on-device TTS model (FastRTC's `get_tts_model`). The first call
 * downloads Kokoro into the model cache if needed (the 8-bit model, on the
 * order of 100 MB) and takes a
 * few seconds; later calls with the same options return the same model.
 * Callers with the same options share one load: `options.signal` stops only
 * this caller's wait (rejecting with its reason) while the load goes on for
 * the others.
 *
 * @example Speak a reply in a handler
 * ```ts ignore
 * import { getTtsModel } from "@parley/parley/speech";
 * const tts = await getTtsModel();
 * for await (const chunk of tts.streamTts("Hello! How can I help?", { voice: "af_heart" })) {
 *   // yield chunk from your handler: [24000, Float32Array]
 * }
 * ```
 *
 * @param options Model, cache and worker options.
 * @returns The model.
 */
export function getTtsModel(options: TtsModelOptions = {}): Promise<TtsModel> {
  const model = options.model ?? "kokoro";
  if (model !== "kokoro") {
    throw new RangeError(
      `Unknown TTS model "${String(model)}"; the on-device model is "kokoro"`,
    );
  }
  const workers = options.workers ?? 1;
  assertWorkerCount(workers, 0);
  return models.get(
    [model, options.cacheDir ?? "", options.localDir ?? "", workers],
    () => loadKokoroModel({ ...options, signal: undefined }, workers),
    options.signal,
  );
}

async function loadKokoroModel(
  options: TtsModelOptions,
  workers: number,
): Promise<LoadedModel<TtsModel>> {
  // Everything but the model and worker count says where files come from.
  // Files are resolved here, on the calling thread: a download may report
  // progress or use the caller's fetch, which cannot cross to a worker.
  const { model: _model, workers: _workers, ...source } = options;
  const resolved = await ensureModel("kokoro", source);
  const synth: KokoroSynth = workers === 0
    ? await loadKokoro(resolved.dir)
    : await WorkerPool.start<string, KokoroJob, Float32Array<ArrayBuffer>>({
      url: new URL("./_kokoro_worker.ts", import.meta.url),
      count: workers,
      load: resolved.dir,
      label: "Kokoro",
      loader: "getTtsModel",
    });
  // Voices are fetched (or found in the cache) on first use.
  const voices = new Map<KokoroVoice, Promise<string>>();
  const voicePath = (voice: KokoroVoice): Promise<string> => {
    let v = voices.get(voice);
    if (!v) {
      const name = `voices/${voice}.bin`;
      v = ensureModel("kokoro", { ...source, files: [name] })
        .then((m) => m.files[name]);
      v.catch(() => voices.delete(voice));
      voices.set(voice, v);
    }
    return v;
  };
  const tts = createTtsModel({
    sampleRate: KOKORO_SAMPLE_RATE,
    synthesize: async (text, { voice, speed, lang, signal }) =>
      await synth.run(
        {
          text,
          options: { voice, speed, lang },
          voicePath: await voicePath(voice),
        },
        signal,
      ),
  });
  return { model: tts, close: () => synth.close() };
}

/**
 * Releases every model {@linkcode getTtsModel} loaded (their ONNX sessions
 * and worker threads), after the chunks already being synthesized finish;
 * for graceful shutdown and tests. Models handed out before reject later
 * `tts()` / `streamTts()` calls; the next `getTtsModel` loads again.
 *
 * @example
 * ```ts ignore
 * import { closeTtsModels, getTtsModel } from "@parley/parley/speech";
 * const tts = await getTtsModel();
 * await closeTtsModels();
 * ```
 *
 * @returns A promise that settles once all models are released.
 */
export function closeTtsModels(): Promise<void> {
  return models.closeAll();
}

// Shutdown (Stream.serve, closeModels) releases these without importing
// this module itself.
registerModelCloser("tts", closeTtsModels);
