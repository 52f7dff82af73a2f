/**
 * Moonshine speech-to-text run directly on onnxruntime: the encoder once per
 * utterance, then the merged decoder token by token with its key/value cache,
 * greedy, and the tokens turned into text with Llama's SentencePiece vocabulary
 * (Moonshine's first 32000 tokens are Llama's; the rest are special tokens).
 *
 * `getSttModel` wraps this; use it directly to run your own Moonshine ONNX
 * export (same input and output names as the files in `models/manifest.json`).
 *
 * @module
 */

import { errorText } from "../_internal/errors.ts";
import { lazyImport } from "../_internal/lazy_import.ts";
import {
  loadOrt,
  type OrtModule,
  resolveOrtBackend,
} from "../_internal/ort.ts";
import { untilAborted } from "./_abortable.ts";
import type * as ort from "npm:onnxruntime-node@1.30.0";

/**
 * Which ONNX runtime runs Moonshine: `"node"` (onnxruntime-node, native) or
 * `"wasm"` (onnxruntime-web, no native code).
 *
 * @example
 * ```ts
 * import type { MoonshineBackend } from "@parley/parley/speech";
 * const backend: MoonshineBackend = "wasm";
 * ```
 */
export type MoonshineBackend = "node" | "wasm";

/**
 * Files and runtime settings of {@linkcode MoonshineRunner.load}.
 *
 * @example
 * ```ts
 * import type { MoonshineRunnerOptions } from "@parley/parley/speech";
 * const options: MoonshineRunnerOptions = {
 *   encoderPath: "/models/moonshine/tiny/encoder_model.onnx",
 *   decoderPath: "/models/moonshine/tiny/decoder_model_merged.onnx",
 *   threads: 1,
 * };
 * ```
 */
export interface MoonshineRunnerOptions {
  /** Path of `encoder_model.onnx` (`input_values` → `last_hidden_state`). */
  encoderPath: string;
  /** Path of `decoder_model_merged.onnx` (`use_cache_branch`, `past_key_values.*`). */
  decoderPath: string;
  /**
   * `"node"` (default): onnxruntime-node, falling back to `"wasm"` with a
   * warning when the native addon cannot load. `"wasm"`: onnxruntime-web.
   */
  backend?: MoonshineBackend;
  /**
   * Intra-op threads per session (node backend); default 1, which keeps one
   * caller's transcription from stalling the audio of every other call.
   */
  threads?: number;
}

/**
 * Decoding limits of {@linkcode MoonshineRunner.transcribe}.
 *
 * @example
 * ```ts
 * import type { MoonshineDecodeOptions } from "@parley/parley/speech";
 * const options: MoonshineDecodeOptions = { maxTokens: 30 };
 * ```
 */
export interface MoonshineDecodeOptions {
  /** Upper bound on generated tokens; default {@linkcode moonshineMaxTokens}. */
  maxTokens?: number;
  /** Stops decoding early (the promise rejects with the signal's reason). */
  signal?: AbortSignal;
}

/** Token that starts decoding. */
const DECODER_START = 1;
/** End of transcript. */
const EOS = 2;
/** Llama's vocabulary size; Moonshine's ids above it are special tokens. */
const TEXT_VOCAB = 32000;

/**
 * Token limit for an utterance: Moonshine's authors use 6 tokens per second
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

interface LlamaVocab {
  decode(
    ids: number[],
    addBosToken?: boolean,
    addPrecedingSpace?: boolean,
  ): string;
}

const importVocab = lazyImport<{ default: LlamaVocab }>(
  "npm:llama-tokenizer-js@1.2.2",
  "turning Moonshine's tokens into text",
  { advice: "Check access to the npm registry" },
);

async function loadVocab(): Promise<LlamaVocab> {
  return (await importVocab()).default;
}

/**
 * Turns Moonshine token ids into text: special tokens (start, end, ids ≥
 * 32000) are dropped, SentencePiece word marks become spaces, byte tokens
 * are joined into UTF-8.
 *
 * @example
 * ```ts ignore
 * import { decodeMoonshineTokens } from "@parley/parley/speech";
 * await decodeMoonshineTokens([15043, 3186]); // "Hello world"
 * ```
 *
 * @param ids Token ids as generated.
 * @returns The text, trimmed.
 */
export async function decodeMoonshineTokens(
  ids: readonly number[],
): Promise<string> {
  const text = ids.filter((id) => id > EOS && id < TEXT_VOCAB);
  if (text.length === 0) return "";
  const llama = await loadVocab();
  return llama.decode(text, false, true).trim();
}

interface DecoderShape {
  /** `past_key_values.*` input names, in the session's order. */
  pastNames: string[];
  heads: number;
  headDim: number;
}

function decoderShape(
  session: ort.InferenceSession,
  path: string,
): DecoderShape {
  const pastNames = session.inputNames.filter((n) =>
    n.startsWith("past_key_values.")
  );
  const needed = ["input_ids", "encoder_hidden_states", "use_cache_branch"];
  const missing = needed.filter((n) => !session.inputNames.includes(n));
  if (missing.length > 0 || pastNames.length === 0) {
    throw new Error(
      `${path} is not a Moonshine merged decoder (missing inputs: ${
        [...missing, ...(pastNames.length ? [] : ["past_key_values.*"])].join(
          ", ",
        )
      }); use decoder_model_merged.onnx from the model cache`,
    );
  }
  const meta = (session as unknown as {
    inputMetadata?: readonly { name: string; shape?: readonly unknown[] }[];
  }).inputMetadata;
  const first = meta?.find((m) => m.name === pastNames[0])?.shape;
  const heads = typeof first?.[1] === "number" ? first[1] : NaN;
  const headDim = typeof first?.[3] === "number" ? first[3] : NaN;
  if (!Number.isInteger(heads) || !Number.isInteger(headDim)) {
    throw new Error(
      `Cannot read the key/value cache shape of ${path} (expected ` +
        `[batch, heads, length, headDim] with fixed heads and headDim); ` +
        `export the decoder with fixed head sizes, or use ` +
        `decoder_model_merged.onnx from \`deno task models moonshine/base\``,
    );
  }
  return { pastNames, heads, headDim };
}

/**
 * A loaded Moonshine model: one encoder and one merged decoder session.
 * One utterance runs at a time per runner (calls queue), since the sessions
 * are sized for one stream.
 *
 * @example Transcribe 16 kHz float samples
 * ```ts ignore
 * import { MoonshineRunner } from "@parley/parley/speech";
 * const runner = await MoonshineRunner.load({
 *   encoderPath: "encoder_model.onnx",
 *   decoderPath: "decoder_model_merged.onnx",
 * });
 * const ids = await runner.transcribe(new Float32Array(16000));
 * await runner.close();
 * ```
 */
export class MoonshineRunner {
  #ort: OrtModule;
  #encoder: ort.InferenceSession;
  #decoder: ort.InferenceSession;
  #shape: DecoderShape;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;
  #closing: Promise<void> | undefined;
  /** The runtime actually used. */
  readonly backend: MoonshineBackend;

  private constructor(init: {
    ort: OrtModule;
    encoder: ort.InferenceSession;
    decoder: ort.InferenceSession;
    shape: DecoderShape;
    backend: MoonshineBackend;
  }) {
    this.#ort = init.ort;
    this.#encoder = init.encoder;
    this.#decoder = init.decoder;
    this.#shape = init.shape;
    this.backend = init.backend;
  }

  /**
   * Opens the two sessions.
   *
   * @example
   * ```ts ignore
   * import { MoonshineRunner } from "@parley/parley/speech";
   * const runner = await MoonshineRunner.load({
   *   encoderPath: "encoder_model.onnx",
   *   decoderPath: "decoder_model_merged.onnx",
   * });
   * ```
   *
   * @param options Paths, backend and threads.
   * @returns The runner.
   */
  static async load(options: MoonshineRunnerOptions): Promise<MoonshineRunner> {
    const threads = options.threads ?? 1;
    if (!Number.isInteger(threads) || threads < 1) {
      throw new RangeError(
        `threads must be a whole number ≥ 1 (got ${threads})`,
      );
    }
    const backend = await resolveOrtBackend(
      options.backend ?? "node",
      "Moonshine",
    );
    const m = await loadOrt(backend);
    const sessionOptions: ort.InferenceSession.SessionOptions =
      backend === "node"
        ? {
          executionProviders: ["cpu"],
          intraOpNumThreads: threads,
          interOpNumThreads: 1,
          graphOptimizationLevel: "all",
        }
        : { executionProviders: ["wasm"], graphOptimizationLevel: "all" };
    const open = async (path: string) => {
      try {
        return backend === "node"
          ? await m.InferenceSession.create(path, sessionOptions)
          : await m.InferenceSession.create(
            await Deno.readFile(path),
            sessionOptions,
          );
      } catch (e) {
        throw new Error(
          `Cannot load the Moonshine model file ${path} with onnxruntime-${backend}: ${
            errorText(e)
          }; delete it and run \`deno task models\` for the model again`,
          { cause: e },
        );
      }
    };
    const encoder = await open(options.encoderPath);
    let decoder: ort.InferenceSession | undefined;
    try {
      decoder = await open(options.decoderPath);
      if (!encoder.inputNames.includes("input_values")) {
        throw new Error(
          `${options.encoderPath} is not a Moonshine encoder (no input ` +
            `"input_values"); use encoder_model.onnx from the model cache`,
        );
      }
      const shape = decoderShape(decoder, options.decoderPath);
      return new MoonshineRunner({ ort: m, encoder, decoder, shape, backend });
    } catch (e) {
      await encoder.release();
      await decoder?.release();
      throw e;
    }
  }

  /**
   * Transcribes one utterance to token ids (greedy, with the key/value
   * cache). Turn them into text with {@linkcode decodeMoonshineTokens}.
   *
   * @example
   * ```ts ignore
   * import { decodeMoonshineTokens, MoonshineRunner } from "@parley/parley/speech";
   * declare const runner: MoonshineRunner;
   * const text = await decodeMoonshineTokens(
   *   await runner.transcribe(new Float32Array(16000)),
   * );
   * ```
   *
   * @param audio Mono float32 samples at 16 kHz.
   * @param options Token limit and abort signal.
   * @returns Generated token ids, without start and end tokens.
   */
  transcribe(
    audio: Float32Array,
    options: MoonshineDecodeOptions = {},
  ): Promise<number[]> {
    if (this.#closed) {
      return Promise.reject(
        new Error("This Moonshine model was closed; load it again"),
      );
    }
    if (audio.length === 0) return Promise.resolve([]);
    const run = this.#queue.then(() => this.#generate(audio, options));
    this.#queue = run.catch(() => {});
    // A call still waiting for its turn rejects as soon as it is aborted;
    // its queued run then stops before doing any work.
    return untilAborted(run, options.signal);
  }

  async #generate(
    audio: Float32Array,
    options: MoonshineDecodeOptions,
  ): Promise<number[]> {
    const T = this.#ort.Tensor;
    const signal = options.signal;
    signal?.throwIfAborted();
    // Moonshine's encoder has no padding mask: pad very short input so its
    // convolution stack still yields at least a few frames.
    const input = audio.length >= 1600 ? audio : (() => {
      const padded = new Float32Array(1600);
      padded.set(audio);
      return padded;
    })();
    const enc = await this.#encoder.run({
      input_values: new T("float32", input, [1, input.length]),
    });
    const hidden = enc.last_hidden_state;
    const { pastNames, heads, headDim } = this.#shape;
    const empty = new Float32Array(0);
    let past: Record<string, ort.Tensor> = {};
    for (const name of pastNames) {
      past[name] = new T("float32", empty, [1, heads, 0, headDim]);
    }
    const maxTokens = options.maxTokens ?? moonshineMaxTokens(audio.length);
    const out: number[] = [];
    let token = DECODER_START;
    const ids = new BigInt64Array(1);
    for (let step = 0; step < maxTokens; step++) {
      signal?.throwIfAborted();
      ids[0] = BigInt(token);
      const res = await this.#decoder.run({
        input_ids: new T("int64", ids.slice(), [1, 1]),
        encoder_hidden_states: hidden,
        use_cache_branch: new T("bool", Uint8Array.of(step > 0 ? 1 : 0), [1]),
        ...past,
      });
      const logits = res.logits.data as Float32Array;
      const vocabSize = res.logits.dims[res.logits.dims.length - 1];
      const base = logits.length - vocabSize;
      let best = 0;
      let bestValue = -Infinity;
      for (let k = 0; k < vocabSize; k++) {
        const v = logits[base + k];
        if (v > bestValue) {
          bestValue = v;
          best = k;
        }
      }
      if (best === EOS) break;
      out.push(best);
      token = best;
      const next: Record<string, ort.Tensor> = {};
      for (const name of pastNames) {
        // The encoder half of the cache is computed on the first step only;
        // later steps return a placeholder for it, which must not replace it.
        const present = res[name.replace("past_key_values.", "present.")];
        next[name] = step === 0 || name.includes(".decoder.")
          ? present
          : past[name];
      }
      past = next;
    }
    return out;
  }

  /**
   * Releases both sessions; later `transcribe` calls reject.
   *
   * @example
   * ```ts ignore
   * import type { MoonshineRunner } from "@parley/parley/speech";
   * declare const runner: MoonshineRunner;
   * await runner.close();
   * ```
   */
  close(): Promise<void> {
    this.#closed = true;
    this.#closing ??= this.#release();
    return this.#closing;
  }

  async #release(): Promise<void> {
    await this.#queue;
    await this.#encoder.release();
    await this.#decoder.release();
  }
}
