/**
 * Twilio Media Streams over a WebSocket (`WS /telephone/handler`), as a pure
 * wire codec plus the shared socket adapter.
 *
 * Inbound: `connected`, `start` (call ids, custom parameters), `media`
 * (base64 μ-law 8 kHz, any size), `dtmf`, `mark` (playback reached a mark),
 * `stop`. Outbound: `media` in 20 ms frames paced slightly ahead of real
 * time, a `mark` after each reply, and `clear` on barge-in — every message
 * carries the `streamSid`.
 *
 * {@linkcode createTwilioCodec} is the protocol alone (values in, values
 * out); {@linkcode runTwilioMediaStream} serves one socket with it through
 * {@linkcode serveSocket}.
 *
 * @module
 */

import { errorText } from "../_internal/errors.ts";
import { decodeMulaw, encodeMulaw } from "../audio/mulaw.ts";
import type { FrameBus } from "../bus/frame_bus.ts";
import { decodeBase64, encodeBase64 } from "./base64.ts";
import type { Decoded, WireCodec, WireMessage } from "./codec.ts";
import {
  checkId,
  isDtmfDigit,
  isRecord,
  parseJsonFrame,
  readCustomParameters,
} from "./_carrier_wire.ts";
import { type PreparedCall, serveSocket } from "./socket_adapter.ts";

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
  /** Receives protocol problems (default: console.warn, rate-limited). */
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

/** The call details a Twilio codec keeps from `start`. */
export interface TwilioCodec extends WireCodec {
  /** The `streamSid` from `start` ("" before it). */
  readonly streamSid: string;
  /** The tracks `start` listed. */
  readonly tracks: readonly string[];
}

/**
 * Makes the Twilio Media Streams codec for one connection.
 *
 * @example Decode a start and a media message, encode a reply frame
 * ```ts
 * import { createTwilioCodec } from "@parley/parley/transports";
 * const codec = createTwilioCodec();
 * const [start] = codec.decode(JSON.stringify({
 *   event: "start",
 *   streamSid: "MZ1",
 *   start: { streamSid: "MZ1", callSid: "CA1", accountSid: "AC1" },
 * }));
 * console.log(start.kind); // "start"
 * const out = codec.encodeAudio(new Int16Array(160));
 * console.log(JSON.parse(out as string).event); // "media"
 * ```
 *
 * @returns A fresh codec.
 */
export function createTwilioCodec(): TwilioCodec {
  let streamSid = "";
  let stopped = false;
  let tracks: string[] = [];
  const error = (reason: string): Decoded[] => [{ kind: "error", reason }];
  const json = (value: unknown): WireMessage => JSON.stringify(value);

  return {
    protocol: "twilio",
    get started() {
      return streamSid !== "";
    },
    get streamSid() {
      return streamSid;
    },
    get tracks() {
      return tracks;
    },
    decode(message: WireMessage): Decoded[] {
      const parsed = parseJsonFrame(message, "Twilio");
      if (!parsed.ok) return error(parsed.reason);
      const { msg } = parsed;
      switch (parsed.event) {
        case "connected":
          return [];
        case "start": {
          if (streamSid) return error("second start message ignored");
          const start = isRecord(msg.start) ? msg.start : {};
          const sid = checkId(msg.streamSid ?? start.streamSid, "streamSid");
          if (!sid.ok) {
            return error(`start message without streamSid: ${sid.reason}`);
          }
          const callSid = optionalId(start.callSid);
          const accountSid = optionalId(start.accountSid);
          streamSid = sid.value;
          tracks = Array.isArray(start.tracks)
            ? start.tracks.filter((t): t is string =>
              typeof t === "string" && t.length <= 32
            ).slice(0, 4)
            : [];
          return [{
            kind: "start",
            call: {
              callId: sid.value,
              carrierCallId: callSid,
              accountId: accountSid,
              customParameters:
                readCustomParameters(start.customParameters).params,
              inputRate: TWILIO_SAMPLE_RATE,
              outputRate: TWILIO_SAMPLE_RATE,
              extra: { tracks },
            },
          }];
        }
        case "media": {
          if (!streamSid) return error("media before start ignored");
          if (stopped) return error("media after stop ignored");
          const media = isRecord(msg.media) ? msg.media : undefined;
          if (!media || typeof media.payload !== "string") {
            return error("media message without media.payload");
          }
          if (media.track !== undefined && media.track !== "inbound") return [];
          let bytes: Uint8Array;
          try {
            bytes = decodeBase64(media.payload);
          } catch (e) {
            return error(errorText(e));
          }
          if (bytes.length === 0) return [];
          return [{ kind: "audio", samples: decodeMulaw(bytes) }];
        }
        case "dtmf": {
          const digit = isRecord(msg.dtmf) ? msg.dtmf.digit : undefined;
          if (!isDtmfDigit(digit)) {
            return error(
              `dtmf message with invalid digit ${
                JSON.stringify(digit)?.slice(0, 40)
              }`,
            );
          }
          return streamSid ? [{ kind: "dtmf", digit }] : [];
        }
        case "mark": {
          const name = isRecord(msg.mark) ? msg.mark.name : undefined;
          if (typeof name !== "string" || name.length > 256) {
            return error("mark message without mark.name");
          }
          return streamSid ? [{ kind: "played", name }] : [];
        }
        case "stop":
          stopped = true;
          return [{ kind: "stop", reason: "caller hung up (stop)" }];
        default:
          return error(
            `unknown event ${
              JSON.stringify(parsed.event.slice(0, 40))
            } ignored`,
          );
      }
    },
    encodeAudio(samples: Int16Array): WireMessage {
      return json({
        event: "media",
        streamSid,
        media: { payload: encodeBase64(encodeMulaw(samples)) },
      });
    },
    encodeMark(name: string): WireMessage {
      return json({ event: "mark", streamSid, mark: { name } });
    },
    encodeClear(): WireMessage {
      return json({ event: "clear", streamSid });
    },
  };
}

function optionalId(value: unknown): string | undefined {
  const id = checkId(value, "id");
  return id.ok ? id.value : undefined;
}

/**
 * Serves one Twilio Media Stream until it stops or the socket closes.
 * Resolves with the connection's counters.
 *
 * @example
 * ```ts
 * import { FrameBus, runTwilioMediaStream } from "@parley/parley/transports";
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
export async function runTwilioMediaStream(
  options: TwilioTransportOptions,
): Promise<TwilioStats> {
  const codec = createTwilioCodec();
  const stats = await serveSocket({
    socket: options.socket,
    codec,
    maxMessageBytes: options.maxMessageBytes,
    leadMs: options.leadMs,
    onProblem: options.onProblem,
    startCall: async (call): Promise<PreparedCall> => ({
      bus: await options.startCall({
        streamSid: call.callId,
        callSid: call.carrierCallId ?? "",
        accountSid: call.accountId ?? "",
        customParameters: call.customParameters,
        tracks: [...codec.tracks],
      }),
    }),
  });
  return {
    mediaIn: stats.audioIn,
    mediaOut: stats.audioOut,
    marksOut: stats.marksOut,
    clears: stats.clears,
    rejected: stats.rejected,
  };
}
