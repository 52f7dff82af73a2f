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
 * ## State hygiene
 *
 * Silero is recurrent: its LSTM state carries the whole history of a call.
 * Left alone, that history changes how later speech is heard. Measured with
 * `bench/vad_hygiene.ts` (JFK's sentence 5 times in one call, each copy
 * meeting the same window phase): with v5 at 8 kHz, after one sentence and
 * 3.5 s of digital silence (μ-law `0xFF`) the first two of its four phrases
 * — about 5 s of speech — are never detected, in every later copy; under
 * continuous −50 dBFS line noise the same happens. v6 does not go deaf, but
 * its turns still move by up to 0.4–0.6 s with what came before, and it
 * ends turns later (mean end-of-turn 566–582 ms after the speech on the
 * fixtures vs 464–502 ms for v5: one JFK phrase ends 1074 ms after the
 * words with v6, 562 ms with v5).
 *
 * So every {@linkcode SileroStream} resets itself to the state of a fresh
 * call in two cases (both on by default, see {@linkcode SileroModelOptions}):
 *
 * 1. **Digital silence guard** — a window whose samples all lie within
 *    ±8/32768 is scored 0 without inference and zeroes the state. After
 *    digital silence an utterance is heard *bit for bit* as at the start of
 *    the call: identical turns for v5 and v6 at 8 and 16 kHz after 3.5 s,
 *    5 s or 120 s of it (and the muted part of a call costs no inference).
 * 2. **Quiet reset** — after every 1 s of consecutive windows below 0.35
 *    the state is zeroed, so the state an utterance meets never carries
 *    more than 1 s of (quiet) history. Under continuous line noise this
 *    keeps every copy's turns: v5 same turn count, largest shift 96–128 ms
 *    at 8 kHz and 32–64 ms at 16 kHz (without it, v5 at 8 kHz loses turns).
 *    Shorter (0.5 s) was worse under noise at 8 kHz (shifts up to 448 ms),
 *    2 s was worse too (288 ms).
 *
 * v5 stays the default: with the two resets it is as repeatable as v6 and
 * ends turns ~80 ms sooner. The numbers for every policy, version and rate
 * are in `bench/README.md` ("VAD state hygiene"); `tests/vad/state_hygiene_test.ts`
 * holds the guarantees.
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
  sileroStats,
  SileroStream,
  type SileroVersion,
  VadClosedError,
} from "./silero.ts";
export {
  type VadWindowResult,
  WindowFeeder,
  type WindowFeederOptions,
} from "./window_feeder.ts";
export {
  type InterruptConfirmedEvent,
  type PauseDetectedEvent,
  type PauseTentativeEvent,
  type SpeechDiscardedEvent,
  type SpeechOnsetEvent,
  type SpeechResumedEvent,
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
export type {
  EndOfTurnAnalyser,
  EndOfTurnInput,
  EndOfTurnResult,
} from "./end_of_turn.ts";
