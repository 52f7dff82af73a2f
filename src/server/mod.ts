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
export { closeModels } from "./shutdown.ts";
export * from "./stream.ts";
export * from "./twilio_webhook.ts";
export * from "./ui.ts";
