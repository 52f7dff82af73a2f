/**
 * Parley: FastRTC's real-time voice handler API for Deno, telephony first.
 *
 * Write a handler, wrap it in a `Stream`, and serve it to browsers
 * (WebSocket, WebRTC) and phones (Twilio Media Streams).
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
export * from "./src/audio/mod.ts";
export * from "./src/bus/mod.ts";
export * from "./src/handlers/mod.ts";
export * from "./src/transports/mod.ts";
export * from "./src/server/mod.ts";
export * from "./src/vad/mod.ts";
