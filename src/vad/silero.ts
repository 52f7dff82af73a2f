/**
 * Silero VAD (v5 or v6) on ONNX Runtime, shared by every call in the process.
 *
 * - The model file comes from the installed npm package `@ricky0123/vad-web`
 *   (`dist/silero_vad_v5.onnx` or `dist/silero_vad_v6.onnx`); nothing is
 *   downloaded. When that package cannot be resolved (Parley imported from
 *   JSR, Deno Deploy), the files are extracted once from the package's npm
 *   tarball into the model cache (manifest entry `silero`, see
 *   `deno task models silero`; `PARLEY_OFFLINE=1` turns that off). Pass
 *   `modelPath` to use another file with the same interface.
 * - One ONNX session per process per (backend, model file); the promise is
 *   cached, so concurrent callers share it.
 * - Backend `"node"` (`onnxruntime-node`, default; one intra-op and one
 *   inter-op thread, sequential) or `"wasm"` (`onnxruntime-web`, one thread).
 *   When the native addon cannot be loaded, the WASM backend is used
 *   automatically and a warning is printed.
 * - Windows: 512 samples at 16 kHz or 256 at 8 kHz (32 ms), with the
 *   64 / 32 samples of context and the LSTM state carried per stream. Phone
 *   audio at 8 kHz needs no resampling.
 * - Windows from all streams of one sample rate are batched into one inference
 *   (see `maxBatch`, `maxWaitMs`); results equal unbatched runs.
 *
 * @module
 */

import { createRequire } from "node:module";
import { stat } from "node:fs/promises";
import { ensureModel, type EnsureModelOptions } from "../speech/model_cache.ts";
import type {
  PauseDetectionModel,
  PauseDetectionStream,
} from "./pause_model.ts";
import { type VadWindowResult, WindowFeeder } from "./window_feeder.ts";
import {
  type BatchRunner,
  type BatchSlot,
  VadBatcher,
  VadClosedError,
} from "./batcher.ts";

export { VadClosedError };
export type { VadWindowResult };

/**
 * ONNX Runtime flavour that runs the model.
 *
 * @example
 * ```ts
 * import { getSileroModel, type SileroBackend } from "@parley/parley/vad";
 * const backend: SileroBackend = Deno.env.get("NO_NATIVE") ? "wasm" : "node";
 * const model = await getSileroModel({ backend });
 * ```
 */
export type SileroBackend = "node" | "wasm";
/**
 * Silero VAD model version shipped in `@ricky0123/vad-web`.
 *
 * @example
 * ```ts
 * import { getSileroModel, type SileroVersion } from "@parley/parley/vad";
 * const version: SileroVersion = "v6";
 * const model = await getSileroModel({ version });
 * ```
 */
export type SileroVersion = "v5" | "v6";
/**
 * Sample rates Silero VAD supports.
 *
 * @example
 * ```ts
 * import { getSileroModel, type SileroSampleRate } from "@parley/parley/vad";
 * const rate: SileroSampleRate = 8000; // phone audio, no resampling
 * const stream = (await getSileroModel()).createStream(rate);
 * stream.close();
 * ```
 */
export type SileroSampleRate = 8000 | 16000;

/**
 * Options of {@linkcode getSileroModel}. Calls with equal options share one
 * model object and scheduler; different `maxBatch` / `maxWaitMs` values get
 * separate schedulers that still share the one ONNX session.
 *
 * @example Bigger batches for a busy phone server
 * ```ts
 * import { getSileroModel, type SileroModelOptions } from "@parley/parley/vad";
 * const options: SileroModelOptions = { version: "v6", maxWaitMs: 8 };
 * const model = await getSileroModel(options);
 * ```
 */
export interface SileroModelOptions {
  /**
   * `"node"` (default) uses the native `onnxruntime-node` addon and falls back
   * to `"wasm"` with a warning when the addon cannot be loaded; `"wasm"` uses
   * `onnxruntime-web` (no native code; measured ~4× slower per window
   * unbatched, ~3× batched).
   */
  backend?: SileroBackend;
  /** Model version from `@ricky0123/vad-web` (default `"v5"`). */
  version?: SileroVersion;
  /**
   * Path (or `file:` URL) of a Silero v5/v6-compatible ONNX file to use
   * instead of the packaged one; `version` is then only a label.
   */
  modelPath?: string | URL;
  /** Largest number of windows run as one inference (default 64). */
  maxBatch?: number;
  /**
   * How long a window may wait for windows of other streams before its batch
   * runs, in milliseconds (default 2; 0 disables waiting). A batch runs at
   * once when every open stream has submitted.
   */
  maxWaitMs?: number;
  /**
   * State hygiene, part 1: a window whose samples all lie within
   * ±`digitalSilenceLevel` is digital silence (μ-law `0xFF`/`0x7F`/`0xFE`/
   * `0x7E`, a muted browser track). It scores 0 without running the model
   * and resets the stream's state, so speech after it is heard exactly as
   * at the start of a call. Default `8 / 32768` (−72 dBFS, the two
   * smallest μ-law steps); a negative value turns the guard off.
   */
  digitalSilenceLevel?: number;
  /**
   * State hygiene, part 2: after this much consecutive quiet (windows
   * scored below 0.35), the stream's state is reset, and again after every
   * further `resetAfterQuietMs` of quiet — so the state an utterance meets
   * never carries more than this much history. Default 1000 ms (rounded up
   * to whole 32 ms windows); `Infinity` turns it off. See the `vad` module
   * docs for the measurements behind both defaults.
   */
  resetAfterQuietMs?: number;
}

const WINDOW: Record<SileroSampleRate, number> = { 16000: 512, 8000: 256 };
const CONTEXT: Record<SileroSampleRate, number> = { 16000: 64, 8000: 32 };

/** Minimal surface of `onnxruntime-node` / `onnxruntime-web` we use. */
interface OrtTensor {
  readonly data: unknown;
}
interface OrtSession {
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
  readonly inputNames: readonly string[];
}
interface OrtModule {
  Tensor: new (
    type: string,
    data: Float32Array | BigInt64Array,
    dims: readonly number[],
  ) => OrtTensor;
  InferenceSession: {
    create(path: string, options?: Record<string, unknown>): Promise<unknown>;
  };
  env: { wasm?: { numThreads?: number; wasmPaths?: unknown } };
}

interface LoadedSession {
  backend: SileroBackend;
  ort: OrtModule;
  session: OrtSession;
}

const sessions = new Map<string, Promise<LoadedSession>>();
const models = new Map<string, Promise<SileroModel>>();

/**
 * @internal Loader hooks, replaceable in tests to simulate a broken addon or
 * a missing npm package.
 */
export const loaders: {
  node: () => Promise<OrtModule>;
  wasm: () => Promise<OrtModule>;
  /** Resolves a file of an installed npm package (throws when not installed). */
  packageFile: (specifier: string) => string;
  /** Model cache options for the tarball fallback (manifest entry `silero`). */
  modelCache: EnsureModelOptions;
} = {
  node: async () => (await import("onnxruntime-node")) as unknown as OrtModule,
  wasm: async () => (await import("onnxruntime-web")) as unknown as OrtModule,
  packageFile: (specifier) => createRequire(import.meta.url).resolve(specifier),
  modelCache: {},
};

/**
 * The model file: `modelPath`, else the installed `@ricky0123/vad-web` file
 * (synchronously), else the file extracted from its tarball into the model
 * cache (asynchronously, downloading it on first use).
 */
function resolveModelPath(
  options: SileroModelOptions,
): string | Promise<string> {
  if (options.modelPath !== undefined) {
    const p = options.modelPath;
    if (p instanceof URL) {
      return p.protocol === "file:" ? decodeURIComponent(p.pathname) : p.href;
    }
    return p.startsWith("file:") ? decodeURIComponent(new URL(p).pathname) : p;
  }
  const version = options.version ?? "v5";
  if (version !== "v5" && version !== "v6") {
    throw new RangeError(
      `Unknown Silero version "${version}"; use "v5" or "v6", or pass modelPath`,
    );
  }
  const file = `dist/silero_vad_${version}.onnx`;
  try {
    return loaders.packageFile(`@ricky0123/vad-web/${file}`);
  } catch {
    // Not installed (e.g. imported from JSR): use the model cache instead.
  }
  return ensureModel("silero", loaders.modelCache).then(
    (model) => model.files[file],
  );
}

function configureWasm(ort: OrtModule): void {
  const wasm = ort.env.wasm;
  if (!wasm) return;
  // One thread: no worker threads, and stable cost per call.
  wasm.numThreads = 1;
  if (wasm.wasmPaths !== undefined) return;
  try {
    const require = createRequire(import.meta.url);
    const file = require.resolve("onnxruntime-web/ort-wasm-simd-threaded.wasm");
    const url = new URL(`file://${file}`);
    wasm.wasmPaths = {
      wasm: url.href,
      mjs: new URL("ort-wasm-simd-threaded.mjs", url).href,
    };
  } catch {
    // Leave onnxruntime-web to find its files next to its own module.
  }
}

async function createSession(
  backend: SileroBackend,
  path: string,
): Promise<LoadedSession> {
  try {
    await stat(path);
  } catch (e) {
    throw new Error(
      `Silero model file not found at ${path}; reinstall @ricky0123/vad-web or fix modelPath`,
      { cause: e },
    );
  }
  let ort: OrtModule;
  let used = backend;
  if (backend === "node") {
    try {
      ort = await loaders.node();
    } catch (e) {
      console.warn(
        `Parley: onnxruntime-node could not be loaded (${
          e instanceof Error ? e.message : String(e)
        }); using the slower onnxruntime-web WASM backend for Silero VAD instead`,
      );
      used = "wasm";
      ort = await loaders.wasm();
      configureWasm(ort);
    }
  } else {
    ort = await loaders.wasm();
    configureWasm(ort);
  }
  const options = used === "node"
    ? {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      executionMode: "sequential",
      graphOptimizationLevel: "all",
    }
    : { executionProviders: ["wasm"], graphOptimizationLevel: "all" };
  let session: OrtSession;
  try {
    session = await ort.InferenceSession.create(path, options) as OrtSession;
  } catch (e) {
    throw new Error(
      `Cannot load the Silero model ${path} with onnxruntime-${used}: ${
        e instanceof Error ? e.message : String(e)
      }; check that the file is a Silero v5/v6 ONNX model`,
      { cause: e },
    );
  }
  for (const name of ["input", "state", "sr"]) {
    if (!session.inputNames.includes(name)) {
      await session.release();
      throw new Error(
        `The model ${path} has no input "${name}" (inputs: ${
          session.inputNames.join(", ")
        }); use a Silero v5 or v6 model (the legacy v4 model with h/c inputs is not supported)`,
      );
    }
  }
  // Warm up once (the first run allocates and is several times slower).
  try {
    await session.run({
      input: new ort.Tensor("float32", new Float32Array(576), [1, 576]),
      state: new ort.Tensor("float32", new Float32Array(256), [2, 1, 128]),
      sr: new ort.Tensor("int64", BigInt64Array.from([16000n]), []),
    });
  } catch (e) {
    await session.release();
    throw new Error(
      `The model ${path} failed its first run with onnxruntime-${used}: ${
        e instanceof Error ? e.message : String(e)
      }; use a Silero v5 or v6 model`,
      { cause: e },
    );
  }
  return { backend: used, ort, session };
}

function cacheKey(backend: SileroBackend, path: string): string {
  return `${backend}\u0000${path}`;
}

/**
 * Returns the process-wide Silero model for these options, loading it on
 * first use (later calls with the same options get the same instance).
 *
 * @example Score one 32 ms window of silence
 * ```ts
 * import { getSileroModel } from "@parley/parley/vad";
 * const model = await getSileroModel();
 * const stream = model.createStream(16000);
 * const p = await stream.process(new Float32Array(stream.windowSize));
 * console.log(p < 0.5); // true
 * stream.close();
 * ```
 *
 * @param options Backend, version or file, and batching limits.
 * @returns The shared model.
 */
export function getSileroModel(
  options: SileroModelOptions = {},
): Promise<SileroModel> {
  const backend = options.backend ?? "node";
  if (backend !== "node" && backend !== "wasm") {
    return Promise.reject(
      new RangeError(`Unknown backend "${backend}"; use "node" or "wasm"`),
    );
  }
  let path: string | Promise<string>;
  try {
    path = resolveModelPath(options);
  } catch (e) {
    return Promise.reject(e);
  }
  if (typeof path !== "string") {
    return path.then((p) => modelAt(backend, p, options));
  }
  return modelAt(backend, path, options);
}

function modelAt(
  backend: SileroBackend,
  path: string,
  options: SileroModelOptions,
): Promise<SileroModel> {
  const maxBatch = options.maxBatch ?? 64;
  const maxWaitMs = options.maxWaitMs ?? 2;
  const silenceLevel = options.digitalSilenceLevel ?? DIGITAL_SILENCE;
  const quietMs = options.resetAfterQuietMs ?? RESET_AFTER_QUIET_MS;
  if (typeof silenceLevel !== "number" || Number.isNaN(silenceLevel)) {
    return Promise.reject(
      new RangeError(
        `Invalid digitalSilenceLevel: ${
          String(silenceLevel)
        }; use a sample level such as 8 / 32768, or -1 to turn the guard off`,
      ),
    );
  }
  if (typeof quietMs !== "number" || !(quietMs > 0)) {
    return Promise.reject(
      new RangeError(
        `Invalid resetAfterQuietMs: ${
          String(quietMs)
        }; use a duration in ms above 0 such as 1000, or Infinity to never reset`,
      ),
    );
  }
  const modelKey = `${
    cacheKey(backend, path)
  }\u0000${maxBatch}\u0000${maxWaitMs}\u0000${silenceLevel}\u0000${quietMs}`;
  let model = models.get(modelKey);
  if (!model) {
    const sKey = cacheKey(backend, path);
    let session = sessions.get(sKey);
    if (!session) {
      session = createSession(backend, path);
      sessions.set(sKey, session);
      session.catch(() => sessions.delete(sKey));
    }
    model = session.then((s) =>
      new SileroModel({
        loaded: s,
        path,
        version: options.modelPath === undefined
          ? options.version ?? "v5"
          : options.version ??
            "custom",
        maxBatch,
        maxWaitMs,
        digitalSilenceLevel: silenceLevel,
        resetAfterQuietMs: quietMs,
      })
    );
    models.set(modelKey, model);
    model.catch(() => models.delete(modelKey));
  }
  return model;
}

/**
 * Closes every stream of every model returned by {@linkcode getSileroModel}
 * and releases the ONNX sessions (for graceful shutdown and tests). Later
 * calls to `getSileroModel` load the model again.
 *
 * @example
 * ```ts
 * import { closeSileroModels, getSileroModel } from "@parley/parley/vad";
 * await getSileroModel();
 * await closeSileroModels();
 * ```
 *
 * @returns A promise that settles once all sessions are released.
 */
export async function closeSileroModels(): Promise<void> {
  const all = [...models.values()];
  const ss = [...sessions.values()];
  models.clear();
  sessions.clear();
  for (const m of await Promise.allSettled(all)) {
    if (m.status === "fulfilled") await m.value.closeStreams();
  }
  for (const s of await Promise.allSettled(ss)) {
    if (s.status === "fulfilled") await s.value.session.release();
  }
}

/** @internal Constructor input of {@linkcode SileroModel}. */
interface SileroModelInit {
  loaded: LoadedSession;
  path: string;
  version: string;
  maxBatch: number;
  maxWaitMs: number;
  digitalSilenceLevel: number;
  resetAfterQuietMs: number;
}

/** Default of {@linkcode SileroModelOptions.digitalSilenceLevel}. */
const DIGITAL_SILENCE = 8 / 32768;
/** Default of {@linkcode SileroModelOptions.resetAfterQuietMs}. */
const RESET_AFTER_QUIET_MS = 1000;

/**
 * A loaded Silero VAD model: creates per-call {@linkcode SileroStream}s whose
 * windows are batched together. Get it with {@linkcode getSileroModel}.
 *
 * @example Two calls share one batched model
 * ```ts
 * import { getSileroModel } from "@parley/parley/vad";
 * const model = await getSileroModel();
 * const a = model.createStream(8000); // a phone call
 * const b = model.createStream(8000);
 * const [pa, pb] = await Promise.all([
 *   a.process(new Float32Array(256)),
 *   b.process(new Float32Array(256)),
 * ]);
 * console.log(pa, pb);
 * a.close();
 * b.close();
 * ```
 */
export class SileroModel implements PauseDetectionModel {
  /** Backend actually used (`"wasm"` after a fallback). */
  readonly backend: SileroBackend;
  /** `"v5"`, `"v6"`, or the label given with a custom `modelPath`. */
  readonly version: string;
  /** File the session was loaded from. */
  readonly modelPath: string;
  /** Preferred sample rate: 16000. */
  readonly sampleRate: number = 16000;
  /** Supported sample rates, preferred first. */
  readonly sampleRates: readonly number[] = [16000, 8000];
  /** Window length at 16 kHz: 512 samples (32 ms). */
  readonly windowSize: number = 512;
  #loaded: LoadedSession;
  #batchers = new Map<SileroSampleRate, VadBatcher>();
  #srTensors = new Map<SileroSampleRate, OrtTensor>();
  #maxBatch: number;
  #maxWaitMs: number;
  /** Digital-silence level (negative: guard off). */
  readonly digitalSilenceLevel: number;
  /** Quiet that resets a stream's state, in ms (`Infinity`: never). */
  readonly resetAfterQuietMs: number;

  /** @internal Use {@linkcode getSileroModel}. */
  constructor(init: SileroModelInit) {
    this.#loaded = init.loaded;
    this.backend = init.loaded.backend;
    this.version = init.version;
    this.modelPath = init.path;
    this.#maxBatch = init.maxBatch;
    this.#maxWaitMs = init.maxWaitMs;
    this.digitalSilenceLevel = init.digitalSilenceLevel;
    this.resetAfterQuietMs = init.resetAfterQuietMs;
  }

  /** Number of open streams over all sample rates. */
  get streams(): number {
    let n = 0;
    for (const b of this.#batchers.values()) n += b.size;
    return n;
  }

  /**
   * Inferences run and windows they carried (batching efficiency), windows
   * of digital silence answered without inference, and quiet resets.
   */
  get stats(): {
    batches: number;
    windows: number;
    silentWindows: number;
    quietResets: number;
  } {
    const total = { batches: 0, windows: 0, silentWindows: 0, quietResets: 0 };
    for (const b of this.#batchers.values()) {
      const s = b.stats;
      total.batches += s.batches;
      total.windows += s.windows;
      total.silentWindows += s.silentWindows;
      total.quietResets += s.quietResets;
    }
    return total;
  }

  /**
   * Creates a stream for one call's audio at `sampleRate` (16000 or 8000).
   *
   * @param sampleRate 16000 (512-sample windows) or 8000 (256-sample windows).
   * @returns A new stream with fresh state.
   */
  createStream(sampleRate: number = 16000): SileroStream {
    if (sampleRate !== 16000 && sampleRate !== 8000) {
      throw new RangeError(
        `Silero VAD supports 16000 and 8000 Hz, not ${sampleRate}; resample the audio to 16000 Hz first`,
      );
    }
    return new SileroStream(
      this.#batcher(sampleRate).open(),
      sampleRate,
      this.digitalSilenceLevel,
    );
  }

  /** @internal Closes all streams (pending windows are rejected). */
  async closeStreams(): Promise<void> {
    await Promise.all([...this.#batchers.values()].map((b) => b.closeAll()));
  }

  #batcher(rate: SileroSampleRate): VadBatcher {
    let b = this.#batchers.get(rate);
    if (!b) {
      const { ort, session } = this.#loaded;
      const sr = new ort.Tensor(
        "int64",
        BigInt64Array.from([BigInt(rate)]),
        [],
      );
      this.#srTensors.set(rate, sr);
      const row = WINDOW[rate] + CONTEXT[rate];
      const runner: BatchRunner = async (input, state, batch) => {
        const out = await session.run({
          input: new ort.Tensor("float32", input, [batch, row]),
          state: new ort.Tensor("float32", state, [2, batch, 128]),
          sr,
        });
        return {
          probabilities: out.output.data as Float32Array,
          state: out.stateN.data as Float32Array,
        };
      };
      b = new VadBatcher({
        runner,
        windowSize: WINDOW[rate],
        contextSize: CONTEXT[rate],
        maxBatch: this.#maxBatch,
        maxWaitMs: this.#maxWaitMs,
        quietResetWindows: Number.isFinite(this.resetAfterQuietMs)
          ? Math.max(1, Math.ceil(this.resetAfterQuietMs / 32 - 1e-9))
          : Infinity,
        label: `Silero VAD (${this.backend}, ${rate / 1000} kHz)`,
      });
      this.#batchers.set(rate, b);
    }
    return b;
  }
}

/**
 * One call's Silero state (context + LSTM state). Windows passed to
 * {@linkcode process} must follow each other without gaps; calls may overlap
 * and are processed in order.
 *
 * @example Feed 20 ms phone frames of any size
 * ```ts
 * import { getSileroModel } from "@parley/parley/vad";
 * const model = await getSileroModel();
 * const stream = model.createStream(8000);
 * const results = await stream.feed(new Int16Array(160 * 5)); // 100 ms
 * console.log(results.length); // 3 windows of 32 ms completed
 * stream.close();
 * ```
 */
export class SileroStream implements PauseDetectionStream {
  /** Sample rate in hertz (16000 or 8000). */
  readonly sampleRate: SileroSampleRate;
  /** Samples per window: 512 at 16 kHz, 256 at 8 kHz. */
  readonly windowSize: number;
  #slot: BatchSlot;
  #feeder: WindowFeeder;
  #silenceLevel: number;

  /** @internal Use {@linkcode SileroModel.createStream}. */
  constructor(
    slot: BatchSlot,
    sampleRate: SileroSampleRate,
    digitalSilenceLevel = -1,
  ) {
    this.#slot = slot;
    this.#silenceLevel = digitalSilenceLevel;
    this.sampleRate = sampleRate;
    this.windowSize = WINDOW[sampleRate];
    this.#feeder = new WindowFeeder(this);
  }

  /** Duration of one window in milliseconds (32). */
  get windowMs(): number {
    return (this.windowSize * 1000) / this.sampleRate;
  }

  /** Samples held by {@linkcode feed} until a window is complete. */
  get buffered(): number {
    return this.#feeder.buffered;
  }

  /** Whether {@linkcode close} was called. */
  get closed(): boolean {
    return this.#slot.closed;
  }

  /**
   * Returns the speech probability (0..1) of the next window of exactly
   * {@linkcode windowSize} float32 samples in −1..1. The array is copied, so
   * it may be reused at once. A window of digital silence (see
   * {@linkcode SileroModelOptions.digitalSilenceLevel}) resolves with 0
   * without inference and resets the state, in its turn.
   *
   * @param window Exactly `windowSize` finite samples.
   * @returns The probability; rejects with {@linkcode VadClosedError} if the
   * stream is closed first, or with an error if inference fails.
   */
  process(window: Float32Array): Promise<number> {
    if (
      !(window instanceof Float32Array) || window.length !== this.windowSize
    ) {
      const got = window instanceof Float32Array
        ? `${window.length} samples`
        : (window as unknown as { constructor?: { name?: string } })
          ?.constructor?.name ??
          typeof window;
      return Promise.reject(
        new RangeError(
          `Silero VAD at ${this.sampleRate} Hz needs windows of exactly ${this.windowSize} ` +
            `float32 samples, got ${got}; use feed() for chunks of any length`,
        ),
      );
    }
    let peak = 0;
    for (let i = 0; i < window.length; i++) {
      const v = window[i];
      if (v > peak) peak = v;
      else if (-v > peak) peak = -v;
      if (!Number.isFinite(v)) {
        return Promise.reject(
          new RangeError(
            `Sample ${i} of the VAD window is ${
              window[i]
            }; pass finite float32 samples in −1..1`,
          ),
        );
      }
    }
    return this.#slot.submit(window, peak <= this.#silenceLevel);
  }

  /**
   * Buffers `samples` (any length; Int16 is scaled by 1/32768) and processes
   * every window that becomes complete, in order. Samples left over wait for
   * the next call.
   *
   * @param samples Mono audio at {@linkcode sampleRate}.
   * @returns One result per completed window (possibly none).
   */
  feed(samples: Float32Array | Int16Array): Promise<VadWindowResult[]> {
    return this.#feeder.feed(samples);
  }

  /**
   * Forgets the model state and the samples buffered by {@linkcode feed}, as
   * between two unrelated recordings. Windows already submitted still run.
   */
  reset(): void {
    this.#slot.reset();
    this.#feeder.clear();
  }

  /**
   * Releases the stream. Windows still waiting reject with
   * {@linkcode VadClosedError} (such rejections never count as unhandled).
   */
  close(): void {
    this.#slot.close();
  }
}
