/**
 * Twilio Media Streams over a WebSocket (`WS /telephone/handler`).
 *
 * Inbound: `connected`, `start` (call ids, custom parameters), `media`
 * (base64 μ-law 8 kHz, any size), `dtmf`, `mark` (playback reached a mark),
 * `stop`. Outbound: `media` in 20 ms frames paced slightly ahead of real
 * time, a `mark` after each reply, and `clear` on barge-in — every message
 * carries the `streamSid`.
 *
 * @module
 */

import { decodeMulaw, encodeMulaw } from "../audio/mulaw.ts";
import type { FrameBus } from "../bus/frame_bus.ts";
import { decodeBase64, encodeBase64 } from "./base64.ts";
import { pumpOutput } from "./output_pump.ts";

/** What Twilio's `start` message says about the call. */
export interface TwilioStartInfo {
  /** The Media Stream's sid (the call id in Parley). */
  streamSid: string;
  /** The call's sid. */
  callSid: string;
  /** The account's sid. */
  accountSid: string;
  /** `<Parameter>` values from the TwiML. */
  customParameters: Record<string, string>;
  /** Tracks being streamed. */
  tracks: string[];
}

/** Options of {@linkcode runTwilioMediaStream}. */
export interface TwilioTransportOptions {
  /** An open (or opening) WebSocket from `Deno.upgradeWebSocket`. */
  socket: WebSocket;
  /**
   * Called on `start`: returns the call's bus (transport rates 8000/8000).
   * Throwing rejects the call: the socket is closed with the error.
   */
  startCall: (info: TwilioStartInfo) => FrameBus | Promise<FrameBus>;
  /** Largest accepted message in bytes (default 1 MiB). */
  maxMessageBytes?: number;
  /** Lead of outbound audio over real time in ms (default 80). */
  leadMs?: number;
  /** Receives protocol problems (default: console.warn). */
  onProblem?: (message: string) => void;
}

/** Counters of one Twilio connection. */
export interface TwilioStats {
  /** Media messages received. */
  mediaIn: number;
  /** Media messages sent. */
  mediaOut: number;
  /** Marks sent. */
  marksOut: number;
  /** `clear` messages sent. */
  clears: number;
  /** Messages rejected as malformed. */
  rejected: number;
}

/** Sample rate of Twilio Media Streams audio. */
export const TWILIO_SAMPLE_RATE = 8000;

/**
 * Serves one Twilio Media Stream until it stops or the socket closes.
 * Resolves with the connection's counters.
 *
 * @example
 * ```ts
 * import { FrameBus, runTwilioMediaStream } from "@parley/parley";
 * Deno.serve((req) => {
 *   const { socket, response } = Deno.upgradeWebSocket(req);
 *   runTwilioMediaStream({
 *     socket,
 *     startCall: (info) =>
 *       new FrameBus({
 *         callId: info.streamSid,
 *         transportInputRate: 8000,
 *         transportOutputRate: 8000,
 *         handlerInputRate: 16000,
 *       }),
 *   });
 *   return response;
 * });
 * ```
 *
 * @param options The socket and the call factory.
 * @returns The counters.
 */
export function runTwilioMediaStream(
  options: TwilioTransportOptions,
): Promise<TwilioStats> {
  const { socket } = options;
  const maxBytes = options.maxMessageBytes ?? 1 << 20;
  const problem = options.onProblem ??
    ((m: string) => console.warn(`[parley] twilio: ${m}`));
  const stats: TwilioStats = {
    mediaIn: 0,
    mediaOut: 0,
    marksOut: 0,
    clears: 0,
    rejected: 0,
  };
  let bus: FrameBus | null = null;
  let streamSid = "";
  let starting = false;
  let socketClosed = false;
  let pump: Promise<void> | null = null;
  let pcm = new Int16Array(160);

  const send = (msg: unknown) => {
    if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(msg));
  };
  const reject = (why: string) => {
    stats.rejected++;
    problem(why);
  };

  return new Promise<TwilioStats>((resolve) => {
    const finish = async () => {
      socketClosed = true;
      bus?.close("caller hung up");
      if (pump) await pump.catch(() => {});
      resolve(stats);
    };

    const onMessage = async (ev: MessageEvent) => {
      if (typeof ev.data !== "string") {
        return reject("binary message ignored; Twilio sends JSON text");
      }
      if (ev.data.length > maxBytes) {
        return reject(
          `message of ${ev.data.length} bytes exceeds the ${maxBytes}-byte limit`,
        );
      }
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(ev.data);
        if (typeof msg !== "object" || msg === null) {
          throw new Error("not an object");
        }
      } catch {
        return reject(`invalid JSON message: ${ev.data.slice(0, 80)}`);
      }
      switch (msg.event) {
        case "connected":
          return;
        case "start": {
          if (bus || starting) return reject("second start message ignored");
          const start = (msg.start ?? {}) as Record<string, unknown>;
          const sid = str(msg.streamSid) || str(start.streamSid);
          if (!sid) return reject("start message without streamSid");
          starting = true;
          try {
            bus = await options.startCall({
              streamSid: sid,
              callSid: str(start.callSid),
              accountSid: str(start.accountSid),
              customParameters: isStringRecord(start.customParameters)
                ? start.customParameters
                : {},
              tracks: Array.isArray(start.tracks)
                ? start.tracks.filter((t): t is string => typeof t === "string")
                : [],
            });
          } catch (e) {
            problem(`call rejected: ${errorMessage(e)}`);
            socket.close(1008, "call rejected");
            return;
          }
          if (socketClosed) {
            bus.close("caller hung up");
            return;
          }
          streamSid = sid;
          bus.on("interrupt", () => {
            send({ event: "clear", streamSid });
            stats.clears++;
          });
          bus.on("close", () => {
            if (socket.readyState === WebSocket.OPEN) {
              socket.close(1000, "call ended");
            }
          });
          bus.on("message", (e) => {
            if (e.message.type === "error") {
              problem(`handler error: ${e.message.message}`);
            }
          });
          pump = pumpOutput({
            bus,
            leadMs: options.leadMs,
            sendAudio: (samples) => {
              send({
                event: "media",
                streamSid,
                media: { payload: encodeBase64(encodeMulaw(samples)) },
              });
              stats.mediaOut++;
            },
            sendMark: (name) => {
              send({ event: "mark", streamSid, mark: { name } });
              stats.marksOut++;
            },
          });
          return;
        }
        case "media": {
          if (!bus) return reject("media before start ignored");
          const media = msg.media as Record<string, unknown> | undefined;
          if (!media || typeof media.payload !== "string") {
            return reject("media message without media.payload");
          }
          if (media.track !== undefined && media.track !== "inbound") return;
          let bytes: Uint8Array;
          try {
            bytes = decodeBase64(media.payload);
          } catch (e) {
            return reject(errorMessage(e));
          }
          if (bytes.length === 0) return;
          if (pcm.length !== bytes.length) pcm = new Int16Array(bytes.length);
          const samples = decodeMulaw(bytes, pcm).slice();
          stats.mediaIn++;
          bus.sendInput([TWILIO_SAMPLE_RATE, samples]);
          return;
        }
        case "dtmf": {
          const digit = (msg.dtmf as Record<string, unknown> | undefined)
            ?.digit;
          if (typeof digit !== "string" || !/^[0-9*#A-D]$/.test(digit)) {
            return reject(
              `dtmf message with invalid digit ${JSON.stringify(digit)}`,
            );
          }
          bus?.emit({ type: "dtmf", digit });
          return;
        }
        case "mark": {
          const name = (msg.mark as Record<string, unknown> | undefined)?.name;
          if (typeof name !== "string") {
            return reject("mark message without mark.name");
          }
          bus?.emit({ type: "played", name });
          return;
        }
        case "stop":
          bus?.close("caller hung up (stop)");
          if (socket.readyState === WebSocket.OPEN) {
            socket.close(1000, "stopped");
          }
          return;
        default:
          return reject(`unknown event ${JSON.stringify(msg.event)} ignored`);
      }
    };
    socket.onmessage = (ev) => {
      // Whatever a client sends, it must not take the server down.
      onMessage(ev).catch((e) =>
        reject(`message could not be handled: ${errorMessage(e)}`)
      );
    };
    socket.onclose = () => void finish();
    socket.onerror = () => {};
  });
}

function isStringRecord(v: unknown): v is Record<string, string> {
  return typeof v === "object" && v !== null && !Array.isArray(v) &&
    Object.values(v).every((x) => typeof x === "string");
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function str(v: unknown): string {
  return typeof v === "string" ? v : "";
}
