/**
 * Parley: FastRTC's real-time voice handler API for Deno, telephony first.
 *
 * Write a handler, wrap it in a {@linkcode Stream}, and serve it to browsers
 * (WebSocket, WebRTC) and phones (Twilio, Telnyx, Plivo, Vonage, Exotel,
 * SignalWire).
 *
 * The root holds what a FastRTC user writes: `Stream`, `StreamHandler`,
 * `ReplyOnPause`, `ReplyOnStopWords` and their options, `AdditionalOutputs`,
 * `CloseStream`, `getCurrentContext`, `Warning`, `waitForItem`, the TURN
 * helpers, `createWebRtcEndpoint`, `placeCall` and the audio helpers a
 * handler needs. Everything else lives behind a subpath:
 *
 * - `@parley/parley/audio`: μ-law, A-law, the streaming resampler, WAV.
 * - `@parley/parley/vad`: Silero VAD, the turn detector, pluggable VADs.
 * - `@parley/parley/speech`: TTS (Kokoro, OpenAI-compatible HTTP), STT
 *   (Moonshine, HTTP), wake words and the model cache.
 * - `@parley/parley/transports`: the frame bus, wire codecs, the socket
 *   adapter, the carriers' codecs and signatures, WebRTC pieces.
 * - `@parley/parley/server`: answer documents, webhook signatures, call
 *   control, carrier routes, the handler runner.
 *
 * @example Echo what the caller says after each pause
 * ```ts
 * import { ReplyOnPause, Stream } from "@parley/parley";
 *
 * const stream = new Stream({
 *   handler: new ReplyOnPause(async function* (audio) {
 *     yield audio;
 *   }),
 *   modality: "audio",
 *   mode: "send-receive",
 * });
 * stream.serve({ port: 8000 });
 * ```
 *
 * @module
 */

// Serving.
export {
  type ServeOptions,
  Stream,
  type StreamOptions,
  type TwilioOptions,
  type UiArgs,
  type WebRtcEndpoint,
} from "./src/server/stream.ts";
export { placeCall, type PlaceCallRequest } from "./src/server/place_call.ts";
export {
  createWebRtcEndpoint,
  type WebRtcEndpointOptions,
} from "./src/transports/webrtc.ts";
export {
  type CloudflareTurnOptions,
  getCloudflareTurnCredentials,
  getTwilioTurnCredentials,
  type TwilioTurnOptions,
} from "./src/transports/turn.ts";

// Handlers.
export {
  type EmitType,
  StreamHandler,
  type StreamHandlerOptions,
} from "./src/handlers/stream_handler.ts";
export {
  type ReplyFn,
  type ReplyGenerator,
  ReplyOnPause,
  type ReplyOnPauseOptions,
} from "./src/handlers/reply_on_pause.ts";
export {
  ReplyOnStopWords,
  type ReplyOnStopWordsOptions,
  type Transcriber,
} from "./src/handlers/reply_on_stop_words.ts";
export {
  AdditionalOutputs,
  CloseStream,
  type CloseStreamOptions,
} from "./src/handlers/outputs.ts";
export {
  type CallContext,
  getCurrentContext,
  ParleyError,
  type TransportKind,
  Warning,
} from "./src/handlers/context.ts";
export { waitForItem } from "./src/bus/queue.ts";
export type { TurnMetrics } from "./src/bus/turn_metrics.ts";
export type { LoggerOptions, LogLevel, LogSink } from "./src/_internal/log.ts";

// Turn taking (FastRTC's option names).
export type {
  AlgoOptions,
  SileroVadOptions,
} from "./src/vad/fastrtc_options.ts";

// Audio a handler needs.
export {
  aggregateBytesTo16bit,
  type AudioChunk,
  audioToFloat32,
  audioToInt16,
  type Samples,
} from "./src/audio/frame.ts";
export { resample } from "./src/audio/resampler.ts";
