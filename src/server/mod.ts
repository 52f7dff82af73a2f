/**
 * The server layer beyond `Stream`: the carriers' answer documents (TwiML,
 * TeXML, Plivo XML, NCCO, cXML), webhook signature checks, the carrier
 * routes, REST call control (hang up, transfer, place calls) for Twilio,
 * Telnyx, Plivo, Vonage and SignalWire, the built-in page, and the handler
 * runner that drives one handler on one call's bus.
 *
 * `Stream`, `placeCall` and their options are on the root,
 * `@parley/parley`.
 *
 * @example Answer a Twilio call with a Media Stream
 * ```ts
 * import { buildConnectTwiml } from "@parley/parley/server";
 *
 * const twiml = buildConnectTwiml({
 *   streamUrl: "wss://example.com/telephone/handler",
 * });
 * console.log(twiml.includes("<Stream")); // true
 * ```
 *
 * @module
 */
export * from "./carrier_routes.ts";
export { closeModels } from "./shutdown.ts";
export * from "./stream.ts";
export {
  buildBusyTwiml,
  buildConnectTwiml,
  type ConnectTwimlOptions,
  isValidTwilioSignature,
  publicUrl,
  type PublicUrlOptions,
} from "./twilio_webhook.ts";
export {
  type IndexPageOptions,
  parleyClientScript,
  renderIndexPage,
} from "./ui.ts";
export {
  DEFAULT_MAX_BODY_BYTES,
  readBodyCapped,
  readTextCapped,
  RequestBodyTooLargeError,
  tooLargeResponse,
} from "./body.ts";
export {
  checkTwilioStreamToken,
  createTwilioStreamToken,
  DEFAULT_STREAM_TOKEN_TTL_S,
  newCallToken,
  sameToken,
  TWILIO_STREAM_TOKEN_PARAMETER,
} from "./call_tokens.ts";
// Call control through the carriers' REST APIs, and the answer documents.
export * from "./answer_documents.ts";
export * from "./auto_hang_up.ts";
export * from "./call_control.ts";
export * from "./call_control_plivo.ts";
export * from "./call_control_signalwire.ts";
export * from "./call_control_telnyx.ts";
export * from "./call_control_twilio.ts";
export * from "./call_control_vonage.ts";
export * from "./place_call.ts";
export * from "./control_channel.ts";
export * from "./metrics.ts";
// The handler runner, for servers other than `Stream`.
export {
  HandlerTimeoutError,
  runHandler,
  type RunHandlerOptions,
  sendClientMessage,
} from "../handlers/runner.ts";
export {
  type ReplyItem,
  type TurnTiming,
  type UtteranceSpan,
} from "../handlers/reply_on_pause.ts";
export type { SttCacheOptions } from "../handlers/reply_on_stop_words.ts";
export { WEBRTC_VALUE } from "../handlers/stream_handler.ts";
// Per-turn metrics, for servers that hang their own hooks and counters on.
export {
  emitTurnMetrics,
  isTurnMetricsMessage,
  onTurnMetrics,
  TurnCounters,
  type TurnMetricsMessage,
} from "../handlers/turn_metrics.ts";
// The process-wide logger (what Stream's `logger` option sets).
export { configureLogger, resetLogger } from "../_internal/log.ts";
