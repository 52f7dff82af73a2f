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
 * the first `getTtsModel()` call.
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

import { untilAborted } from "./_abortable.ts";
import {
  ensureModel,
  type EnsureModelOptions,
  type ModelSourceOptions,
} from "./model_cache.ts";
import { splitForTts, splitSentences } from "./text.ts";
import {
  loadLocal,
  loadPhonemizer,
  loadTransformers,
} from "./_transformers.ts";

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
 * FastRTC's `KokoroTTSOptions`, plus an abort signal.
 *
 * @example
 * ```ts
 * import type { KokoroTTSOptions } from "@parley/parley/speech";
 * const options: KokoroTTSOptions = { voice: "bf_emma", speed: 1.1, lang: "en-gb" };
 * ```
 */
export interface KokoroTTSOptions {
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
 * {@linkcode KokoroTTSOptions} after validation and defaults.
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
  options: KokoroTTSOptions = {},
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
 * A text-to-speech model: FastRTC's `TTSModel` protocol.
 *
 * @example
 * ```ts ignore
 * import { getTtsModel, type TtsModel } from "@parley/parley/speech";
 * const tts: TtsModel = await getTtsModel();
 * const [rate, audio] = await tts.tts("Good morning.");
 * ```
 */
export interface TtsModel {
  /** Native output rate (24000 for Kokoro). */
  readonly sampleRate: number;
  /**
   * Synthesizes all of `text`.
   *
   * @returns `[sampleRate, samples]`, float32 in −1..1.
   */
  tts(
    text: string,
    options?: KokoroTTSOptions,
  ): Promise<[number, Float32Array]>;
  /**
   * Synthesizes `text` chunk by chunk (a short first clause, then sentence
   * by sentence, with a 1/7 s pause before each new sentence as FastRTC
   * does) and yields each chunk's audio as soon as it is ready.
   */
  streamTts(
    text: string,
    options?: KokoroTTSOptions,
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
  /** Synthesizes one chunk (a sentence or clause) to float32 samples. */
  synthesize(
    text: string,
    options: ResolvedKokoroOptions,
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
    options: KokoroTTSOptions = {},
  ): AsyncGenerator<[number, Float32Array]> {
    const resolved = resolveKokoroOptions(options);
    for (const chunk of plan(text)) {
      options.signal?.throwIfAborted();
      const audio = await engine.synthesize(chunk.text, resolved);
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
 * Converts English text to phonemes in the form Kokoro's tokenizer expects:
 * eSpeak NG (npm `phonemizer`) for the words, punctuation kept, plus
 * Kokoro's conventions (`r` → `ɹ`, …).
 *
 * @example
 * ```ts ignore
 * import { phonemizeForKokoro } from "@parley/parley/speech";
 * await phonemizeForKokoro("Hello world!", "en-us"); // "həlˈoʊ wˈɜːld!"
 * ```
 *
 * @param text English text.
 * @param lang `"en-us"` or `"en-gb"`.
 * @returns The phoneme string.
 */
export async function phonemizeForKokoro(
  text: string,
  lang: "en-us" | "en-gb",
): Promise<string> {
  const { phonemize } = await loadPhonemizer();
  const normalized = normalizeText(text);
  // Runs of punctuation (with their spaces) are kept verbatim: they are
  // tokens of Kokoro's vocabulary and shape its prosody.
  const punct = /(\s*[;:,.!?¡¿—…"«»“”()]+\s*)+/g;
  const parts: string[] = [];
  let last = 0;
  const espeakLang = lang === "en-us" ? "en-us" : "en";
  for (const m of normalized.matchAll(punct)) {
    const words = normalized.slice(last, m.index);
    if (words.trim()) {
      parts.push((await phonemize(words, espeakLang)).join(" "));
    }
    parts.push(m[0]);
    last = m.index + m[0].length;
  }
  const tail = normalized.slice(last);
  if (tail.trim()) parts.push((await phonemize(tail, espeakLang)).join(" "));
  let ph = parts.join("")
    .replace(/kəkˈoːɹoʊ/g, "kˈoʊkəɹoʊ")
    .replace(/kəkˈɔːɹəʊ/g, "kˈəʊkəɹəʊ")
    .replace(/ʲ/g, "j")
    .replace(/r/g, "ɹ")
    .replace(/x/g, "k")
    .replace(/ɬ/g, "l")
    .replace(/ z(?=[;:,.!?¡¿—…"«»“” ]|$)/g, "z");
  if (lang === "en-us") ph = ph.replace(/(?<=nˈaɪn)ti(?!ː)/g, "di");
  return ph.trim();
}

function normalizeText(text: string): string {
  return text
    .replace(/[‘’]/g, "'")
    .replace(/[“”]/g, '"')
    .replace(/\bDr\.(?= [A-Z])/g, "Doctor")
    .replace(/\bMr\.(?= [A-Z])/g, "Mister")
    .replace(/\bMrs\.(?= [A-Z])/g, "Missus")
    .replace(/\bMs\.(?= [A-Z])/g, "Miss")
    .replace(/\be\.g\./gi, "for example")
    .replace(/\bi\.e\./gi, "that is")
    .replace(/(?<=\d),(?=\d{3}\b)/g, "") // 1,000 → 1000
    .replace(
      /\$(\d+)(?:\.(\d\d))?\b/g,
      (_m, d: string, c?: string) =>
        `${d} dollar${d === "1" ? "" : "s"}${
          c && c !== "00"
            ? ` and ${Number(c)} cent${c === "01" ? "" : "s"}`
            : ""
        }`,
    )
    .replace(
      /(\d+)\.(\d+)/g,
      (_m, a: string, b: string) => `${a} point ${b.split("").join(" ")}`,
    )
    .replace(/[^\S\n]+/g, " ")
    .trim();
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
}

const models = new Map<string, Promise<TtsModel>>();

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
 * @param options Model and cache options.
 * @returns The model.
 */
export function getTtsModel(options: TtsModelOptions = {}): Promise<TtsModel> {
  const model = options.model ?? "kokoro";
  if (model !== "kokoro") {
    throw new RangeError(
      `Unknown TTS model "${String(model)}"; the on-device model is "kokoro"`,
    );
  }
  const key = `${model}\0${options.cacheDir ?? ""}\0${options.localDir ?? ""}`;
  let p = models.get(key);
  if (!p) {
    // Shared by every caller with these options, so no caller's signal may
    // cancel it: each signal only stops its own caller's wait.
    p = loadKokoro({ ...options, signal: undefined });
    p.catch(() => models.delete(key));
    models.set(key, p);
  }
  return untilAborted(p, options.signal);
}

async function loadKokoro(options: TtsModelOptions): Promise<TtsModel> {
  const cacheOptions: EnsureModelOptions = {
    cacheDir: options.cacheDir,
    localDir: options.localDir,
    fetch: options.fetch,
    baseUrl: options.baseUrl,
    onProgress: options.onProgress,
    offline: options.offline,
    signal: options.signal,
  };
  const resolved = await ensureModel("kokoro", cacheOptions);
  const tf = await loadTransformers();
  // Model first, then tokenizer (sequential, so a broken folder always
  // reports the same file first).
  const [model, tokenizer] = await loadLocal(resolved.dir, async (id) => {
    const m = await tf.StyleTextToSpeech2Model.from_pretrained(id, {
      dtype: "q8",
      device: "cpu",
    });
    try {
      return [m, await tf.AutoTokenizer.from_pretrained(id)] as const;
    } catch (e) {
      await m.dispose();
      throw e;
    }
  });
  const voices = new Map<string, Promise<Float32Array>>();
  const voiceStyles = (voice: KokoroVoice): Promise<Float32Array> => {
    let v = voices.get(voice);
    if (!v) {
      const name = `voices/${voice}.bin`;
      v = ensureModel("kokoro", { ...cacheOptions, files: [name] }).then(
        async (m) => {
          const bytes = await Deno.readFile(m.files[name]);
          return new Float32Array(
            bytes.buffer,
            bytes.byteOffset,
            bytes.byteLength >> 2,
          );
        },
      );
      v.catch(() => voices.delete(voice));
      voices.set(voice, v);
    }
    return v;
  };
  const STYLE = 256;
  // One model run takes at most 510 phonemes (512 ids with the two ends).
  // Text chunks are capped in characters, but digits and abbreviations can
  // phonemize to several times their length: such a chunk is halved at the
  // space nearest its middle until every piece fits, so nothing is cut off.
  const speak = async (
    text: string,
    o: ResolvedKokoroOptions,
  ): Promise<Float32Array> => {
    const phonemes = await phonemizeForKokoro(text, o.lang);
    const halves = phonemes.length > MAX_PHONEMES ? halve(text) : undefined;
    if (halves) {
      const a = await speak(halves[0], o);
      const b = await speak(halves[1], o);
      const out = new Float32Array(a.length + b.length);
      out.set(a);
      out.set(b, a.length);
      return out;
    }
    return await run(phonemes, o);
  };
  const run = async (
    phonemes: string,
    o: ResolvedKokoroOptions,
  ): Promise<Float32Array> => {
    const { input_ids } = tokenizer(phonemes, { truncation: true });
    const n = input_ids.dims[input_ids.dims.length - 1];
    const styles = await voiceStyles(o.voice);
    const rows = styles.length / STYLE;
    const row = Math.min(Math.max(n - 2, 0), rows - 1);
    const style = styles.slice(row * STYLE, (row + 1) * STYLE);
    const { waveform } = await model({
      input_ids,
      style: new tf.Tensor("float32", style, [1, STYLE]),
      speed: new tf.Tensor("float32", [o.speed], [1]),
    });
    return Float32Array.from(waveform.data as ArrayLike<number>);
  };
  return createTtsModel({ sampleRate: 24000, synthesize: speak });
}

/** Kokoro's phoneme limit per model run (512 token ids minus the two ends). */
const MAX_PHONEMES = 510;

/** Splits text in two at the space nearest its middle (else the middle). */
function halve(text: string): [string, string] | undefined {
  const t = text.trim();
  if (t.length < 2) return undefined;
  const mid = t.length >> 1;
  let cut = -1;
  for (let d = 0; d < mid; d++) {
    if (t[mid + d] === " ") {
      cut = mid + d;
      break;
    }
    if (t[mid - d] === " ") {
      cut = mid - d;
      break;
    }
  }
  if (cut <= 0) cut = mid;
  return [t.slice(0, cut).trim(), t.slice(cut).trim()];
}
