/**
 * Voice activity detection and turn taking.
 *
 * - {@linkcode getSileroModel}: Silero VAD v5/v6 on ONNX Runtime (native
 *   `onnxruntime-node`, or `onnxruntime-web` WASM) or on Parley's own
 *   TypeScript forward pass (`backend: "js"`, no dependencies), one model
 *   per process, with windows of all live calls batched into single
 *   inferences.
 * - {@linkcode TurnDetector}: streaming end-of-turn and barge-in detection
 *   over the per-window probabilities.
 * - {@linkcode turnOptionsFromFastRtc}: FastRTC's `AlgoOptions` and
 *   `SileroVadOptions` expressed as turn detector options.
 * - {@linkcode PauseDetectionModel}: the interface to plug in another VAD;
 *   {@linkcode WindowFeeder} cuts chunks of any length into its windows.
 *
 * @example One call: 8 kHz phone audio in, turn events out
 * ```ts
 * import { getSileroModel, TurnDetector } from "@parley/parley/vad";
 *
 * const model = await getSileroModel(); // shared by all calls
 * const vad = model.createStream(8000);
 * const turns = new TurnDetector({ sampleRate: 8000 });
 *
 * async function onAudio(frame: Int16Array): Promise<void> {
 *   for (const { probability, samples } of await vad.feed(frame)) {
 *     for (const event of turns.push(probability, samples)) {
 *       if (event.type === "interrupt_confirmed") console.log("barge-in");
 *       if (event.type === "pause_detected") {
 *         console.log("turn ended", event.utterance.audio?.length);
 *       }
 *     }
 *   }
 * }
 * await onAudio(new Int16Array(160));
 * vad.close();
 * ```
 *
 * @module
 */

export {
  closeSileroModels,
  getSileroModel,
  type SileroBackend,
  SileroModel,
  type SileroModelOptions,
  type SileroSampleRate,
  SileroStream,
  type SileroVersion,
  VadClosedError,
} from "./silero.ts";
export { type VadWindowResult, WindowFeeder } from "./window_feeder.ts";
export {
  type InterruptConfirmedEvent,
  type PauseDetectedEvent,
  type SpeechDiscardedEvent,
  type SpeechOnsetEvent,
  type StartedTalkingEvent,
  TurnDetector,
  type TurnDetectorOptions,
  type TurnEvent,
  type TurnState,
  type Utterance,
} from "./turn.ts";
export {
  type AlgoOptions,
  type FastRtcVadOptions,
  type SileroVadOptions,
  turnOptionsFromFastRtc,
} from "./fastrtc_options.ts";
export type {
  PauseDetectionModel,
  PauseDetectionStream,
} from "./pause_model.ts";
