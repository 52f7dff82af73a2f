/**
 * `SmartTurnAnalyser`: an {@linkcode EndOfTurnAnalyser} for ONNX models of
 * the Smart Turn v3 kind (pipecat-ai/smart-turn-v3, BSD-2-Clause): Whisper
 * log-mel features of the turn's last 8 s at 16 kHz (80 bins × 800 frames,
 * audio normalised to zero mean and unit variance, shorter turns padded with
 * zeros at the start) in, one probability that the turn is complete out.
 *
 * The model is loaded from a path you give (Parley does not download it).
 * Cost per pause: the features (~800 400-point FFTs) plus one inference;
 * `analyse` reports both in {@linkcode SmartTurnAnalyser.lastCostMs}.
 *
 * @module
 */

import type * as ort from "onnxruntime-node";
import { whisperLogMel } from "../audio/log_mel.ts";
import type {
  EndOfTurnAnalyser,
  EndOfTurnInput,
  EndOfTurnResult,
} from "../vad/end_of_turn.ts";
import { loadOrt, type OrtBackend, resolveOrtBackend } from "./_ort.ts";

/**
 * Options of {@linkcode SmartTurnAnalyser.load}.
 *
 * @example
 * ```ts
 * import type { SmartTurnOptions } from "@parley/parley/speech";
 * const options: SmartTurnOptions = {
 *   modelPath: "/srv/models/smart-turn-v3.onnx",
 *   threshold: 0.5,
 * };
 * ```
 */
export interface SmartTurnOptions {
  /** Path (or `file:` URL) of the ONNX model. */
  modelPath: string | URL;
  /** Probability at or above which the turn is complete. Default 0.5. */
  threshold?: number;
  /** ONNX runtime: `"node"` (default, falls back to WASM) or `"wasm"`. */
  backend?: "node" | "wasm";
  /** Seconds of audio the model sees. Default 8 (Smart Turn v3). */
  seconds?: number;
  /** Mel bins. Default 80. */
  melBins?: number;
}

/**
 * End-of-turn analyser running a Smart-Turn-v3-style ONNX model.
 *
 * @example Wait for the caller to finish their thought
 * ```ts
 * import { ReplyOnPause } from "@parley/parley";
 * import { SmartTurnAnalyser } from "@parley/parley/speech";
 * export async function patientEcho(modelPath: string): Promise<ReplyOnPause> {
 *   const turnAnalyser = await SmartTurnAnalyser.load({ modelPath });
 *   return new ReplyOnPause(async function* (audio) {
 *     yield audio;
 *   }, { turnAnalyser, maxEndpointingMs: 2000 });
 * }
 * ```
 */
export class SmartTurnAnalyser implements EndOfTurnAnalyser {
  /** Probability threshold for "complete". */
  readonly threshold: number;
  /** Samples of 16 kHz audio the model sees. */
  readonly samples: number;
  /** Mel bins. */
  readonly melBins: number;
  /** Runtime actually used. */
  readonly backend: "node" | "wasm";
  /** Milliseconds of the last `analyse`: features, inference. */
  lastCostMs: { features: number; inference: number } = {
    features: 0,
    inference: 0,
  };
  #ort: typeof ort;
  #session: ort.InferenceSession;
  #input: string;
  #output: string;

  private constructor(
    o: typeof ort,
    session: ort.InferenceSession,
    backend: OrtBackend,
    options: SmartTurnOptions,
  ) {
    this.#ort = o;
    this.#session = session;
    this.backend = backend;
    this.threshold = options.threshold ?? 0.5;
    this.samples = Math.round((options.seconds ?? 8) * 16000);
    this.melBins = options.melBins ?? 80;
    this.#input = session.inputNames[0];
    this.#output = session.outputNames[0];
  }

  /**
   * Loads the model.
   *
   * @param options Model path, threshold, runtime.
   * @returns The analyser.
   */
  static async load(options: SmartTurnOptions): Promise<SmartTurnAnalyser> {
    const t = options.threshold ?? 0.5;
    if (typeof t !== "number" || !(t >= 0 && t <= 1)) {
      throw new RangeError(
        `Invalid threshold ${
          String(t)
        }; use a probability from 0 to 1 (0.5 is usual)`,
      );
    }
    const p = options.modelPath;
    const path = p instanceof URL
      ? decodeURIComponent(p.pathname)
      : p.startsWith("file:")
      ? decodeURIComponent(new URL(p).pathname)
      : p;
    try {
      await Deno.stat(path);
    } catch (e) {
      throw new Error(
        `Smart Turn model not found at ${path}; download an ONNX model of ` +
          `the Smart Turn v3 kind (e.g. pipecat-ai/smart-turn-v3) and pass its path`,
        { cause: e },
      );
    }
    const backend = await resolveOrtBackend(
      options.backend ?? "node",
      "Smart Turn",
    );
    const o = await loadOrt(backend);
    let session: ort.InferenceSession;
    try {
      session = await o.InferenceSession.create(path, {
        intraOpNumThreads: 1,
        interOpNumThreads: 1,
        graphOptimizationLevel: "all",
      });
    } catch (e) {
      throw new Error(
        `Cannot load the Smart Turn model ${path}: ${
          e instanceof Error ? e.message : String(e)
        }; check that it is an ONNX model taking [1, 80, 800] log-mel features`,
        { cause: e },
      );
    }
    return new SmartTurnAnalyser(o, session, backend, options);
  }

  /**
   * The model's input for a turn: Whisper log-mel features of its last
   * `seconds`, normalised, zero-padded at the start.
   *
   * @param audio 16 kHz mono float32.
   * @returns `[melBins, samples / 160]` row-major.
   */
  features(audio: Float32Array): Float32Array {
    const tail = audio.subarray(Math.max(0, audio.length - this.samples));
    let mean = 0;
    for (const x of tail) mean += x;
    mean /= tail.length || 1;
    let v = 0;
    for (const x of tail) v += (x - mean) * (x - mean);
    const scale = 1 / Math.sqrt(v / (tail.length || 1) + 1e-7);
    const input = new Float32Array(this.samples);
    const off = this.samples - tail.length;
    for (let i = 0; i < tail.length; i++) {
      input[off + i] = (tail[i] - mean) * scale;
    }
    return whisperLogMel(input, this.melBins);
  }

  /**
   * Scores the end of a turn.
   *
   * @param input The turn's audio at 16 kHz (the last `seconds` are used).
   * @returns Complete when the probability reaches `threshold`.
   */
  async analyse(input: EndOfTurnInput): Promise<EndOfTurnResult> {
    if (input.sampleRate !== 16000) {
      throw new RangeError(
        `Smart Turn needs 16 kHz audio, got ${input.sampleRate} Hz; resample it first`,
      );
    }
    const t0 = performance.now();
    const features = this.features(input.audio);
    const t1 = performance.now();
    input.signal?.throwIfAborted();
    const frames = this.samples / 160;
    const out = await this.#session.run({
      [this.#input]: new this.#ort.Tensor("float32", features, [
        1,
        this.melBins,
        frames,
      ]),
    });
    const t2 = performance.now();
    this.lastCostMs = { features: t1 - t0, inference: t2 - t1 };
    const probability = Number((out[this.#output].data as Float32Array)[0]);
    if (!Number.isFinite(probability)) {
      throw new Error(
        `The Smart Turn model returned ${probability}; use a model whose first output is one probability`,
      );
    }
    return { complete: probability >= this.threshold, probability };
  }

  /** Releases the ONNX session. */
  async close(): Promise<void> {
    await this.#session.release();
  }
}
