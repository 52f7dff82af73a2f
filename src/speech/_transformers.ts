// Lazy, offline-only access to @huggingface/transformers and phonemizer.
// Private to the speech layer.
//
// The specifiers are held in variables so that Deno does not put these large
// packages (transformers, its onnxruntime-node 1.21, sharp) into the module
// graph of everything that imports Parley: they are resolved through the
// import map and installed only when TTS or STT is first used.

import { inRootContext } from "../_internal/root_context.ts";
import { lazyImport } from "../_internal/lazy_import.ts";

/** The slice of transformers.js' `env` that Parley sets. */
export interface TransformersEnv {
  allowRemoteModels: boolean;
  allowLocalModels: boolean;
  localModelPath: string;
  useFSCache: boolean;
}

/** A transformers.js tensor, as Parley reads it. */
export interface TfTensor {
  data: ArrayLike<number | bigint>;
  dims: number[];
}

/** transformers.js' `Tensor` constructor. */
export interface TfTensorConstructor {
  new (
    type: "float32",
    data: Float32Array | number[],
    dims: number[],
  ): TfTensor;
}

/** transformers.js' tokenizer, as Parley calls it. */
export interface TfTokenizer {
  (text: string, options: { truncation: boolean }): { input_ids: TfTensor };
}

/** Options Parley passes to `from_pretrained`. */
export interface TfLoadOptions {
  dtype?: string;
  device?: string;
  session_options?: Record<string, unknown>;
}

/** transformers.js' Kokoro model (`StyleTextToSpeech2Model`). */
export interface TfKokoroModel {
  (inputs: Record<string, TfTensor>): Promise<{ waveform: TfTensor }>;
  dispose(): Promise<void>;
}

/** What Parley uses of `@huggingface/transformers`. */
export interface TransformersModule {
  env: TransformersEnv;
  Tensor: TfTensorConstructor;
  AutoTokenizer: {
    from_pretrained(model: string): Promise<TfTokenizer>;
  };
  StyleTextToSpeech2Model: {
    from_pretrained(
      model: string,
      options: TfLoadOptions,
    ): Promise<TfKokoroModel>;
  };
}

/** What Parley uses of the `phonemizer` package (eSpeak NG in WASM). */
export interface PhonemizerModule {
  phonemize(text: string, language?: string): Promise<string[]>;
}

const TRANSFORMERS = "npm:@huggingface/transformers@4.3.1";
const PHONEMIZER = "npm:phonemizer@1.2.1";

const SPEECH_ADVICE = "Check access to the npm registry and allow " +
  "--allow-read, --allow-env and --allow-ffi";

/**
 * Imports `spec` with `location` hidden when its origin is opaque. In a
 * worker, `location` is the entry module's file: URL, whose origin is
 * "null"; transformers.js' bundled onnxruntime-web resolves a URL against
 * `location.origin` while it is imported and throws "Invalid URL … with
 * base 'null'". Without `location` it takes its Node.js path, as on the
 * main thread.
 */
async function importWithoutOpaqueLocation(spec: string): Promise<unknown> {
  const g = globalThis as { location?: { origin: string } };
  const own = Object.getOwnPropertyDescriptor(globalThis, "location");
  if (!own?.configurable || g.location?.origin !== "null") {
    return await inRootContext(() => import(spec));
  }
  Object.defineProperty(globalThis, "location", {
    value: undefined,
    configurable: true,
    writable: true,
  });
  try {
    return await inRootContext(() => import(spec));
  } finally {
    Object.defineProperty(globalThis, "location", own);
  }
}

/** Imports transformers.js on first use. */
export const loadTransformers: () => Promise<TransformersModule> = lazyImport<
  TransformersModule
>(TRANSFORMERS, "Parley's on-device speech", {
  load: importWithoutOpaqueLocation,
  advice: SPEECH_ADVICE,
});

/** Imports phonemizer (eSpeak NG compiled to WASM) on first use. */
export const loadPhonemizer: () => Promise<PhonemizerModule> = lazyImport<
  PhonemizerModule
>(PHONEMIZER, "Parley's on-device speech", { advice: SPEECH_ADVICE });

let queue: Promise<unknown> = Promise.resolve();

/**
 * Runs `load(modelId)` with transformers.js configured to read only the
 * local folder `dir` (never the network). Loads are serialized because
 * transformers.js' `env` is process-wide.
 */
export function loadLocal<T>(
  dir: string,
  load: (modelId: string) => Promise<T>,
): Promise<T> {
  const run = queue.then(async () => {
    const { env } = await loadTransformers();
    const cut = dir.replace(/\/+$/, "").lastIndexOf("/");
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    env.useFSCache = false;
    env.localModelPath = cut > 0 ? `${dir.slice(0, cut)}/` : "./";
    return await load(dir.replace(/\/+$/, "").slice(cut + 1));
  });
  queue = run.catch(() => {});
  return run;
}
