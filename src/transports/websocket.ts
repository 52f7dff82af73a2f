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
 * Server → client: `{"event":"started","format":{"encoding","inputSampleRate",
 * "outputSampleRate"}}` once the call starts (Parley extension),
 * `{"event":"media","media":{"payload": …}}` at the
 * handler's `outputSampleRate` in 20 ms frames, `{"event":"clear"}` on
 * barge-in (Parley extension: drop buffered playback), and FastRTC messages
 * as text frames: `{"type":"log","data":…}`, `send_input`, `fetch_output`,
 * `end_stream`, and `{"type":"error"|"warning","message":…}`. Malformed
 * input gets an `error` message and the call goes on.
 *
 * @module
 */

import { decodeMulaw, encodeMulaw } from "../audio/mulaw.ts";
import type { FrameBus } from "../bus/frame_bus.ts";
import { decodeBase64, encodeBase64 } from "./base64.ts";
import { CallRejectedError } from "./call_rejected.ts";
import { pumpOutput } from "./output_pump.ts";

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

/**
 * Serves one FastRTC WebSocket call until it stops or the socket closes.
 *
 * @example
 * ```ts
 * import { FrameBus, runFastRtcWebSocket } from "@parley/parley";
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
export function runFastRtcWebSocket(
  options: WebSocketTransportOptions,
): Promise<void> {
  const { socket } = options;
  const maxBytes = options.maxMessageBytes ?? 1 << 20;
  let bus: FrameBus | null = null;
  let encoding: WebSocketEncoding = "mulaw";
  let starting = false;
  let socketClosed = false;
  let pump: Promise<void> | null = null;

  const send = (msg: unknown) => {
    if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(msg));
  };
  const error = (message: string) => send({ type: "error", message });

  return new Promise<void>((resolve) => {
    const finish = async () => {
      socketClosed = true;
      bus?.close("client disconnected");
      if (pump) await pump.catch(() => {});
      resolve();
    };

    const onMessage = async (ev: MessageEvent) => {
      if (typeof ev.data !== "string") {
        return error("Binary frames are not supported; send JSON text frames");
      }
      if (ev.data.length > maxBytes) {
        return error(
          `Message of ${ev.data.length} bytes exceeds the ${maxBytes}-byte ` +
            `limit; send audio in smaller chunks (20-100 ms)`,
        );
      }
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(ev.data);
        if (typeof msg !== "object" || msg === null || Array.isArray(msg)) {
          throw new Error("not an object");
        }
      } catch {
        return error(
          `Invalid JSON message: ${ev.data.slice(0, 60)}; send objects such ` +
            `as {"event":"media","media":{"payload":"…"}}`,
        );
      }
      switch (msg.event) {
        case "ping":
          return send({ event: "pong" });
        case "start": {
          if (bus || starting) return error("The call has already started");
          const id = msg.websocket_id;
          if (typeof id !== "string" || id.length === 0 || id.length > 256) {
            return error(
              "start needs a websocket_id string (1-256 characters)",
            );
          }
          const format = (msg.format ?? {}) as Record<string, unknown>;
          const enc = format.encoding ?? "mulaw";
          if (enc !== "mulaw" && enc !== "pcm16") {
            return error(
              `Unknown encoding ${JSON.stringify(enc)}; use "mulaw" or "pcm16"`,
            );
          }
          const rate = format.sampleRate;
          if (
            rate !== undefined &&
            (typeof rate !== "number" || !Number.isInteger(rate) ||
              rate < 8000 ||
              rate > 192000)
          ) {
            return error(
              `Invalid format.sampleRate ${
                JSON.stringify(rate)
              }; use a whole ` +
                `number of hertz from 8000 to 192000`,
            );
          }
          starting = true;
          try {
            bus = await options.startCall({
              websocketId: id,
              encoding: enc,
              sampleRate: rate as number | undefined,
            });
          } catch (e) {
            starting = false;
            if (e instanceof CallRejectedError) {
              send({ status: "failed", meta: e.meta });
            } else {
              error(`The call could not start: ${errorMessage(e)}`);
            }
            socket.close(1008, "call rejected");
            return;
          }
          if (socketClosed) {
            bus.close("client disconnected");
            return;
          }
          encoding = enc;
          // Parley extension (FastRTC clients ignore unknown events): tell the
          // client the negotiated encoding and both rates.
          send({
            event: "started",
            format: {
              encoding: enc,
              inputSampleRate: bus.transportInputRate,
              outputSampleRate: bus.transportOutputRate,
            },
          });
          const b = bus;
          b.on("log", (e) => send({ type: "log", data: e.data }));
          b.on("message", (e) => send(e.message));
          b.on("interrupt", () => send({ event: "clear" }));
          b.on("close", () => {
            if (socket.readyState === WebSocket.OPEN) {
              socket.close(1000, "call ended");
            }
          });
          pump = pumpOutput({
            bus: b,
            leadMs: options.leadMs,
            sendAudio: (samples) =>
              send({
                event: "media",
                media: {
                  payload: encodeBase64(encodeAudio(samples, encoding)),
                },
              }),
          });
          return;
        }
        case "media": {
          if (!bus) {
            return error("Media before start was dropped; send start first");
          }
          const media = msg.media as Record<string, unknown> | undefined;
          if (!media || typeof media.payload !== "string") {
            return error("media needs media.payload (a base64 string)");
          }
          let bytes: Uint8Array;
          try {
            bytes = decodeBase64(media.payload);
          } catch (e) {
            return error(errorMessage(e));
          }
          if (encoding === "pcm16" && bytes.length % 2 !== 0) {
            return error(
              `PCM16 payload has an odd byte count (${bytes.length}); send ` +
                `whole 16-bit samples`,
            );
          }
          if (bytes.length === 0) return;
          bus.sendInput([bus.transportInputRate, decodeAudio(bytes, encoding)]);
          return;
        }
        case "stop":
          bus?.close("client stopped");
          if (socket.readyState === WebSocket.OPEN) {
            socket.close(1000, "stopped");
          }
          return;
        default:
          return error(
            `Unknown event ${JSON.stringify(msg.event)}; expected start, ` +
              `media, stop or ping`,
          );
      }
    };
    socket.onmessage = (ev) => {
      // Whatever a client sends, it must not take the server down.
      onMessage(ev).catch((e) =>
        error(`The message could not be handled: ${errorMessage(e)}`)
      );
    };
    socket.onclose = () => void finish();
    socket.onerror = () => {};
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

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
