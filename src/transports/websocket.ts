/**
 * FastRTC's browser WebSocket protocol (`WS /websocket/offer`).
 *
 * Client → server (JSON text frames):
 * - `{"event":"start","websocket_id": ID}` — starts the call. Parley extension:
 *   `"format": {"encoding": "pcm16", "sampleRate": 16000}` switches both
 *   directions to base64 little-endian PCM16 (better than μ-law); inbound
 *   audio is then at `sampleRate` (default: the handler's input rate).
 * - `{"event":"media","media":{"payload": BASE64}}` — μ-law at the handler's
 *   `inputSampleRate` (FastRTC does not resample browser audio), or PCM16.
 * - `{"event":"stop"}` ends the call; `{"event":"ping"}` → `{"event":"pong"}`.
 *
 * Server → client: `{"event":"started","websocket_id","token","format":
 * {"encoding","inputSampleRate","outputSampleRate"}}` once the call starts
 * (Parley extension: `websocket_id` is the call's id — the asked one unless
 * a live call had it — and `token` the key `/input_hook` and `/outputs`
 * need),
 * `{"event":"media","media":{"payload": …}}` at the
 * handler's `outputSampleRate` in 20 ms frames, `{"event":"clear"}` on
 * barge-in (Parley extension: drop buffered playback), and FastRTC messages
 * as text frames: `{"type":"log","data":…}`, `send_input`, `fetch_output`,
 * `end_stream`, and `{"type":"error"|"warning","message":…}`. Malformed
 * input gets an `error` message and the call goes on.
 *
 * @module
 */

import { errorText } from "../_internal/errors.ts";
import { decodeMulaw, encodeMulaw } from "../audio/mulaw.ts";
import type { FrameBus } from "../bus/frame_bus.ts";
import type { ClientMessage } from "../bus/frame_bus.ts";
import { decodeBase64, encodeBase64 } from "./base64.ts";
import type { Decoded, WireCodec, WireMessage } from "./codec.ts";
import { type PreparedCall, serveSocket } from "./socket_adapter.ts";

/** Audio encoding on the socket. */
export type WebSocketEncoding = "mulaw" | "pcm16";

/** What the client's `start` asks for. */
export interface WebSocketStartInfo {
  /** The client's id for the call. */
  websocketId: string;
  /** Audio encoding of both directions. */
  encoding: WebSocketEncoding;
  /** Inbound sample rate the client declared (pcm16 only), if any. */
  sampleRate?: number;
}

/** Options of {@linkcode runFastRtcWebSocket}. */
export interface WebSocketTransportOptions {
  /** An open (or opening) WebSocket from `Deno.upgradeWebSocket`. */
  socket: WebSocket;
  /** Called on `start`: returns the call's bus, or throws to refuse it. */
  startCall: (info: WebSocketStartInfo) => FrameBus | Promise<FrameBus>;
  /** Largest accepted message in bytes (default 1 MiB). */
  maxMessageBytes?: number;
  /** Lead of outbound audio over real time in ms (default 80). */
  leadMs?: number;
}

/** The FastRTC WebSocket codec, with what the client's start chose. */
export interface FastRtcWebSocketCodec extends WireCodec {
  /** The encoding `start` chose (`mulaw` until then). */
  readonly encoding: WebSocketEncoding;
}

/**
 * Makes the FastRTC WebSocket codec for one connection.
 *
 * @example
 * ```ts
 * import { createFastRtcWebSocketCodec } from "@parley/parley/transports";
 * const codec = createFastRtcWebSocketCodec();
 * const [pong] = codec.decode('{"event":"ping"}');
 * console.log(pong.kind); // "reply"
 * ```
 *
 * @returns A fresh codec.
 */
export function createFastRtcWebSocketCodec(): FastRtcWebSocketCodec {
  let started = false;
  let encoding: WebSocketEncoding = "mulaw";
  const json = (value: unknown): WireMessage => JSON.stringify(value);
  const error = (message: string): Decoded[] => [{
    kind: "error",
    reason: message,
    reply: json({ type: "error", message }),
  }];
  return {
    protocol: "websocket",
    get started() {
      return started;
    },
    get encoding() {
      return encoding;
    },
    decode(data: WireMessage): Decoded[] {
      if (typeof data !== "string") {
        return error("Binary frames are not supported; send JSON text frames");
      }
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(data);
        if (typeof msg !== "object" || msg === null || Array.isArray(msg)) {
          throw new Error("not an object");
        }
      } catch {
        return error(
          `Invalid JSON message: ${JSON.stringify(data.slice(0, 60))}; send ` +
            `objects such as {"event":"media","media":{"payload":"…"}}`,
        );
      }
      switch (msg.event) {
        case "ping":
          return [{ kind: "reply", message: json({ event: "pong" }) }];
        case "start": {
          if (started) return error("The call has already started");
          const id = msg.websocket_id;
          if (typeof id !== "string" || id.length === 0 || id.length > 256) {
            return error(
              "start needs a websocket_id string (1-256 characters)",
            );
          }
          const format =
            (typeof msg.format === "object" && msg.format !== null
              ? msg.format
              : {}) as Record<string, unknown>;
          const enc = format.encoding ?? "mulaw";
          if (enc !== "mulaw" && enc !== "pcm16") {
            return error(
              `Unknown encoding ${
                JSON.stringify(enc)?.slice(0, 40)
              }; use "mulaw" or "pcm16"`,
            );
          }
          const rate = format.sampleRate;
          if (
            rate !== undefined &&
            (typeof rate !== "number" || !Number.isInteger(rate) ||
              rate < 8000 || rate > 192000)
          ) {
            return error(
              `Invalid format.sampleRate ${
                JSON.stringify(rate)?.slice(0, 40)
              }; use a whole number of hertz from 8000 to 192000`,
            );
          }
          started = true;
          encoding = enc;
          return [{
            kind: "start",
            call: {
              callId: id,
              customParameters: {},
              inputRate: rate as number | undefined,
              extra: { encoding: enc },
            },
          }];
        }
        case "media": {
          if (!started) {
            return error("Media before start was dropped; send start first");
          }
          const media = msg.media as Record<string, unknown> | undefined;
          if (
            !media || typeof media !== "object" ||
            typeof media.payload !== "string"
          ) {
            return error("media needs media.payload (a base64 string)");
          }
          let bytes: Uint8Array;
          try {
            bytes = decodeBase64(media.payload);
          } catch (e) {
            return error(errorText(e));
          }
          if (encoding === "pcm16" && bytes.length % 2 !== 0) {
            return error(
              `PCM16 payload has an odd byte count (${bytes.length}); send ` +
                `whole 16-bit samples`,
            );
          }
          if (bytes.length === 0) return [];
          return [{ kind: "audio", samples: decodeAudio(bytes, encoding) }];
        }
        case "stop":
          return [{ kind: "stop", reason: "client stopped" }];
        default:
          return error(
            `Unknown event ${
              JSON.stringify(msg.event)?.slice(0, 40)
            }; expected start, media, stop or ping`,
          );
      }
    },
    encodeAudio(samples: Int16Array): WireMessage {
      return json({
        event: "media",
        media: { payload: encodeBase64(encodeAudio(samples, encoding)) },
      });
    },
    encodeMark: () => null,
    encodeClear: () => json({ event: "clear" }),
    encodeClientMessage: (message: ClientMessage) => json(message),
    // Parley extension (FastRTC clients ignore unknown events): tell the
    // client the negotiated encoding and both rates.
    encodeStarted: ({ inputRate, outputRate, callId, token }) =>
      json({
        event: "started",
        ...(callId === undefined ? {} : { websocket_id: callId }),
        ...(token === undefined ? {} : { token }),
        format: {
          encoding,
          inputSampleRate: inputRate,
          outputSampleRate: outputRate,
        },
      }),
    encodeRejected: (meta) => json({ status: "failed", meta }),
  };
}

/**
 * Serves one FastRTC WebSocket call until it stops or the socket closes.
 *
 * @example
 * ```ts
 * import { FrameBus, runFastRtcWebSocket } from "@parley/parley/transports";
 * Deno.serve((req) => {
 *   const { socket, response } = Deno.upgradeWebSocket(req);
 *   runFastRtcWebSocket({
 *     socket,
 *     startCall: (info) =>
 *       new FrameBus({
 *         callId: info.websocketId,
 *         transportInputRate: 48000,
 *         transportOutputRate: 24000,
 *         handlerInputRate: 48000,
 *       }),
 *   });
 *   return response;
 * });
 * ```
 *
 * @param options The socket and the call factory.
 */
export async function runFastRtcWebSocket(
  options: WebSocketTransportOptions,
): Promise<void> {
  const codec = createFastRtcWebSocketCodec();
  await serveSocket({
    socket: options.socket,
    codec,
    maxMessageBytes: options.maxMessageBytes,
    leadMs: options.leadMs,
    startCall: async (call): Promise<PreparedCall> => ({
      bus: await options.startCall({
        websocketId: call.callId,
        encoding: codec.encoding,
        sampleRate: call.inputRate,
      }),
    }),
  });
}

function encodeAudio(
  samples: Int16Array,
  encoding: WebSocketEncoding,
): Uint8Array {
  if (encoding === "mulaw") return encodeMulaw(samples);
  const bytes = new Uint8Array(samples.length * 2);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < samples.length; i++) {
    view.setInt16(i * 2, samples[i], true);
  }
  return bytes;
}

function decodeAudio(
  bytes: Uint8Array,
  encoding: WebSocketEncoding,
): Int16Array {
  if (encoding === "mulaw") return decodeMulaw(bytes);
  const out = new Int16Array(bytes.length / 2);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = view.getInt16(i * 2, true);
  return out;
}
