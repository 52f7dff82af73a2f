/**
 * The `Stream` server and the Twilio webhook helpers.
 *
 * @example
 * ```ts
 * import { buildConnectTwiml } from "@parley/parley";
 * buildConnectTwiml({ streamUrl: "wss://example.com/telephone/handler" });
 * ```
 *
 * @module
 */
export * from "./carrier_routes.ts";
export { closeModels } from "./shutdown.ts";
export * from "./stream.ts";
export * from "./twilio_webhook.ts";
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
export * from "./ui.ts";
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
