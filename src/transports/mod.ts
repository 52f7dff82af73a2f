/**
 * Transports: Twilio Media Streams, FastRTC's WebSocket protocol and WebRTC
 * (werift; Opus or PCMU). Each
 * turns a socket into frames on a call's bus.
 *
 * @example
 * ```ts
 * import { TWILIO_SAMPLE_RATE } from "@parley/parley";
 * console.log(TWILIO_SAMPLE_RATE); // 8000
 * ```
 *
 * @module
 */
export * from "./base64.ts";
export * from "./call_rejected.ts";
export * from "./codec.ts";
export * from "./socket_adapter.ts";
export * from "./output_pump.ts";
export * from "./pacer.ts";
export * from "./twilio.ts";
export * from "./telnyx.ts";
export * from "./exotel.ts";
export * from "./plivo.ts";
export * from "./vonage.ts";
export * from "./signalwire.ts";
export * from "./websocket.ts";
export * from "./opus.ts";
export * from "./turn.ts";
export * from "./webrtc.ts";
export * from "./webrtc_codec.ts";
export * from "./rtp_packetizer.ts";
export type { ByteOrder } from "./wire_checks.ts";
