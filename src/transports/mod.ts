/**
 * Transports: how audio gets from a socket onto a call's frame bus and back.
 *
 * - **The frame bus** ({@linkcode FrameBus}): one per call; every transport
 *   and handler talks to it only. {@linkcode AsyncQueue} is the queue it and
 *   the server use.
 * - **Wire codecs** ({@linkcode WireCodec}): pure `decode`/`encode` of one
 *   carrier's or client's messages — Twilio Media Streams, FastRTC's
 *   `/websocket/offer`, Telnyx, Plivo, Vonage, Exotel and SignalWire — with
 *   their answer documents (TeXML, Plivo XML, NCCO, cXML) and signature
 *   checks.
 * - **The socket adapter** ({@linkcode serveSocket}): the one WebSocket
 *   lifecycle every codec runs under (size limits, start timeout, pacing,
 *   backpressure, clean close).
 * - **WebRTC**: {@linkcode createWebRtcEndpoint} (werift; Opus via WASM,
 *   PCMU fallback), the RTP audio codecs, the TURN helpers.
 *
 * @example Decode one Twilio Media Streams message
 * ```ts
 * import { createTwilioCodec, TWILIO_SAMPLE_RATE } from "@parley/parley/transports";
 *
 * const codec = createTwilioCodec();
 * const decoded = codec.decode(JSON.stringify({ event: "connected" }));
 * console.log(TWILIO_SAMPLE_RATE, decoded.length >= 0); // 8000 true
 * ```
 *
 * @module
 */
export * from "../bus/frame_bus.ts";
export { AsyncQueue, QueueClosedError, waitForItem } from "../bus/queue.ts";
export * from "./base64.ts";
export * from "./call_rejected.ts";
export * from "./codec.ts";
export * from "./socket_adapter.ts";
export * from "./twilio.ts";
export * from "./telnyx.ts";
export * from "./exotel.ts";
export * from "./plivo.ts";
export * from "./vonage.ts";
export * from "./signalwire.ts";
export * from "./websocket.ts";
export {
  createOpusCodec,
  OPUS_SAMPLE_RATE,
  OpusCodec,
  type OpusCodecOptions,
} from "./opus.ts";
export * from "./turn.ts";
export * from "./webrtc.ts";
export {
  createRtpAudioCodec,
  type RtpAudioCodec,
  type WebRtcCodecName,
} from "./webrtc_codec.ts";
export type { ByteOrder } from "./_carrier_wire.ts";
export * from "./rtp_packetizer.ts";
