/**
 * Silero VAD (v5 or v6) on ONNX Runtime, shared by every call in the process.
 *
 * - The model files ship inside Parley (`src/vad/models/silero_vad_v5.onnx`
 *   and `silero_vad_v6.onnx`, MIT, the official exports as distributed in
 *   `@ricky0123/vad-web@0.0.31`) and are read into memory next to this
 *   module, wherever it was loaded from: a checkout or local path (`file:`,
 *   needs `--allow-read`), JSR or a URL import (`https:`/`http:`, needs
 *   `--allow-net`). Nothing is written to disk and no `node_modules` is
 *   needed. Pass `modelPath` to use another file with the same interface.
 * - One ONNX session per process per (backend, model file); the promise is
 *   cached, so concurrent callers share it.
 * - Backend `"node"` (`onnxruntime-node`, default; one intra-op and one
 *   inter-op thread, sequential), `"wasm"` (`onnxruntime-web`, one thread) or
 *   `"js"` (Parley's own TypeScript forward pass, `silero_js.ts`: no ONNX
 *   Runtime, no FFI, no WebAssembly, the same `.onnx` file read into
 *   memory; within 2.5e-6 of onnxruntime-node, 2.4× cheaper per window than
 *   onnxruntime-web unbatched, see bench/README.md).
 * - Without `--allow-ffi` (Deno Deploy) the native addon is not even
 *   downloaded: `"node"` becomes `"js"` and one line says so. When the addon
 *   is allowed but fails to load, `"js"` is used as well, with a warning
 *   that says why. So a phone bot needs no ONNX Runtime at all where native
 *   code is not allowed.
 * - Windows: 512 samples at 16 kHz or 256 at 8 kHz (32 ms), with the
 *   64 / 32 samples of context and the LSTM state carried per stream. Phone
 *   audio at 8 kHz needs no resampling.
 * - Windows from all streams of one sample rate are batched into one inference
 *   (see `maxBatch`, `maxWaitMs`); results equal unbatched runs.
 *
 * @module
 */

import { errorText } from "../_internal/errors.ts";
import { loadOrt, ortLoaders } from "../_internal/ort.ts";
import { readAsset } from "../_internal/read_asset.ts";
import { registerModelCloser } from "../_internal/model_closers.ts";
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
import { SileroJsModel, sileroJsOrtShim } from "./silero_js.ts";

export { VadClosedError };
export type { VadWindowResult };

/**
 * What runs the model: `"node"` (onnxruntime-node), `"wasm"`
 * (onnxruntime-web) or `"js"` (plain TypeScript, no dependencies).
 *
 * @example
 * ```ts
 * import { getSileroModel, type SileroBackend } from "@parley/parley/vad";
 * const backend: SileroBackend = Deno.env.get("NO_NATIVE") ? "wasm" : "node";
 * const model = await getSileroModel({ backend });
 * ```
 */
export type SileroBackend = "node" | "wasm" | "js";
/**
 * Silero VAD model version shipped with Parley.
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
   * unbatched, ~3× batched); `"js"` runs Parley's TypeScript implementation
   * of the same network (no ONNX Runtime is loaded, no FFI, no WebAssembly:
   * for Deno Deploy; probabilities within 3e-6 of onnxruntime-node's, CPU
   * per window about half of onnxruntime-web's unbatched, 1.5× less at
   * batch 64, ~3× more than onnxruntime-node batched).
   */
  backend?: SileroBackend;
  /** Model version shipped with Parley (default `"v5"`). */
  version?: SileroVersion;
  /**
   * Path or URL (`file:`, `https:`) of a Silero v5/v6-compatible ONNX file
   * to use instead of the one shipped with Parley; `version` is then only a
   * label.
   */
  modelPath?: string | URL;
  /** Largest number of windows run as one inference (default 64). */
  maxBatch?: number;
  /**
   * How long a window may wait for windows of other streams before its batch
   * runs, in milliseconds (default 6; 0 disables waiting). A batch runs at
   * once when every open stream has submitted, so one call never waits; under
   * load the wait buys larger, cheaper inferences (bench/README, capacity)
   * for at most this much added turn latency.
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
    create(
      model: Uint8Array,
      options?: Record<string, unknown>,
    ): Promise<unknown>;
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

/** The model files that ship next to this module. */
const SHIPPED: Record<SileroVersion, URL> = {
  v5: new URL("./models/silero_vad_v5.onnx", import.meta.url),
  v6: new URL("./models/silero_vad_v6.onnx", import.meta.url),
};

/**
 * @internal Loader hooks, replaceable in tests to simulate an unreadable
 * model. The ONNX runtimes come from the shared loader (`ortLoaders`).
 */
export const loaders: {
  /** Reads a model file into memory. */
  readModel: (url: URL, what: string) => Promise<Uint8Array>;
} = { readModel: readAsset };

/** The model's URL: `modelPath`, else the file shipped with Parley. */
function resolveModelUrl(options: SileroModelOptions): URL {
  if (options.modelPath !== undefined) {
    const p = options.modelPath;
    if (p instanceof URL) return p;
    if (/^(file|https?):/i.test(p)) return new URL(p);
    const abs = p.startsWith("/") ? p : `${Deno.cwd()}/${p}`;
    return new URL(
      `file://${abs.split("/").map(encodeURIComponent).join("/")}`,
    );
  }
  const version = options.version ?? "v5";
  if (version !== "v5" && version !== "v6") {
    throw new RangeError(
      `Unknown Silero version "${version}"; use "v5" or "v6", or pass modelPath`,
    );
  }
  return SHIPPED[version];
}

const told = new Set<string>();

/** Logs a backend choice once per process (through the shared ORT log). */
function tellOnce(message: string): void {
  if (told.has(message)) return;
  told.add(message);
  ortLoaders.log(message);
}

/** A path for messages: the file path for `file:` URLs, else the URL. */
function displayPath(url: URL): string {
  return url.protocol === "file:" ? decodeURIComponent(url.pathname) : url.href;
}

async function createSession(
  backend: SileroBackend,
  url: URL,
): Promise<LoadedSession> {
  const path = displayPath(url);
  let bytes: Uint8Array;
  try {
    bytes = await loaders.readModel(url, "the Silero VAD model");
  } catch (e) {
    throw new Error(
      `Silero model not found: ${errorText(e)}. Parley ships ` +
        `silero_vad_v5.onnx and silero_vad_v6.onnx in src/vad/models/; ` +
        `grant the permission named above, or pass modelPath to a ` +
        `Silero v5/v6 ONNX file you can read`,
      { cause: e },
    );
  }
  let used: SileroBackend = backend;
  let ort: OrtModule | undefined;
  if (backend === "node" && !ortLoaders.ffiAllowed()) {
    tellOnce(
      "[parley] Silero VAD: no --allow-ffi (as on Deno Deploy), so the " +
        "native onnxruntime-node backend is off; using Parley's TypeScript " +
        'backend ("js": no ONNX Runtime needed)',
    );
    used = "js";
  } else if (backend === "node") {
    try {
      ort = await loadOrt("node") as unknown as OrtModule;
    } catch (e) {
      tellOnce(
        `[parley] Silero VAD: onnxruntime-node could not be loaded (${
          errorText(e)
        }); using Parley's TypeScript backend ("js") instead`,
      );
      used = "js";
    }
  }
  // --- backend "js": Parley's own forward pass behind an ORT-shaped shim.
  if (used === "js") {
    try {
      return {
        backend: "js",
        ...sileroJsOrtShim(SileroJsModel.fromBytes(bytes)),
      };
    } catch (e) {
      throw new Error(
        `Cannot load the Silero model ${path} with the js backend: ${
          errorText(e)
        }`,
        { cause: e },
      );
    }
  }
  // --- end backend "js".
  ort ??= await loadOrt(used) as unknown as OrtModule;
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
    session = await ort.InferenceSession.create(bytes, options) as OrtSession;
  } catch (e) {
    throw new Error(
      `Cannot load the Silero model ${path} with onnxruntime-${used}: ${
        errorText(e)
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
        errorText(e)
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
  if (backend !== "node" && backend !== "wasm" && backend !== "js") {
    return Promise.reject(
      new RangeError(
        `Unknown backend "${backend}"; use "node", "wasm" or "js"`,
      ),
    );
  }
  let url: URL;
  try {
    url = resolveModelUrl(options);
  } catch (e) {
    return Promise.reject(e);
  }
  return modelAt(backend, url, options);
}

function modelAt(
  backend: SileroBackend,
  url: URL,
  options: SileroModelOptions,
): Promise<SileroModel> {
  const maxBatch = options.maxBatch ?? 64;
  const maxWaitMs = options.maxWaitMs ?? 6;
  const path = displayPath(url);
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
    cacheKey(backend, url.href)
  }\u0000${maxBatch}\u0000${maxWaitMs}\u0000${silenceLevel}\u0000${quietMs}`;
  let model = models.get(modelKey);
  if (!model) {
    const sKey = cacheKey(backend, url.href);
    let session = sessions.get(sKey);
    if (!session) {
      session = createSession(backend, url);
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
  live.clear();
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

const live = new Set<SileroModel>();

/**
 * Inferences run and windows they carried, over every Silero model of the
 * process (the mean batch size is `windows / batches`): what `/metrics`
 * reports.
 *
 * @example
 * ```ts
 * import { sileroStats } from "@parley/parley/vad";
 * const { batches, windows } = sileroStats();
 * console.log(batches ? windows / batches : 0);
 * ```
 *
 * @returns The totals since the models loaded.
 */
export function sileroStats(): { batches: number; windows: number } {
  let batches = 0, windows = 0;
  for (const m of live) {
    const s = m.stats;
    batches += s.batches;
    windows += s.windows;
  }
  return { batches, windows };
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
    live.add(this);
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

// Shutdown (Stream.serve, closeModels) releases these without importing
// this module itself.
registerModelCloser("silero", closeSileroModels);
