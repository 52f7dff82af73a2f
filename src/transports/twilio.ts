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
import { decodeBase64, decodeBase64Into, encodeBase64 } from "./base64.ts";
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
  const scan: MediaScan = { payload: "", track: undefined };
  // Payloads of a usual size decode here; the μ-law decoder copies out.
  const scratch = new Uint8Array(1024);
  // Decoded frames are views of a shared 0.5 s slab (one buffer per 25
  // frames instead of one per frame); each frame is still the
  // receiver's to keep.
  let slab = new Int16Array(0);
  let slabUsed = 0;
  const frameBuffer = (n: number): Int16Array => {
    if (slabUsed + n > slab.length) {
      slab = new Int16Array(Math.max(n, 4000));
      slabUsed = 0;
    }
    const view = slab.subarray(slabUsed, slabUsed + n);
    slabUsed += (n + 1) & ~1; // keep views 4-byte aligned (fast decoder)
    return view;
  };

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
      // Fast path: a media message in Twilio's compact shape, read without
      // JSON.parse. Anything else (or any failure) takes the general path,
      // which produces the same results and the error messages.
      if (
        streamSid && !stopped && typeof message === "string" &&
        scanMedia(message, scan)
      ) {
        if (scan.track !== undefined && scan.track !== "inbound") return [];
        let n = -1;
        try {
          n = decodeBase64Into(scan.payload, scratch);
        } catch {
          // Invalid base64: the general path reports it.
        }
        if (n === 0) return [];
        if (n > 0) {
          return [{
            kind: "audio",
            samples: decodeMulaw(scratch.subarray(0, n), frameBuffer(n)),
          }];
        }
      }
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

/** What {@linkcode scanMedia} reads from a media message. */
interface MediaScan {
  /** `media.payload` (not yet validated as base64). */
  payload: string;
  /** `media.track`, if present. */
  track: string | undefined;
}

const QUOTE = 34;
const COMMA = 44;
const COLON = 58;
const OPEN = 123;
const CLOSE = 125;
const BACKSLASH = 92;

/** Whether `text[from, to)` needs no JSON unescaping (no `\`, no control characters). */
function plain(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === BACKSLASH) return false;
  }
  return true;
}

function keyIs(text: string, from: number, to: number, key: string): boolean {
  return to - from === key.length && text.startsWith(key, from);
}

/**
 * Reads a Twilio `media` message in the compact shape Twilio sends — one
 * object of string values plus a `media` object of string values, no
 * whitespace, no escapes — without `JSON.parse`. Returns false for any other
 * shape, which then goes through `JSON.parse`; when it returns true, the
 * event is `"media"` and `payload`/`track` are what `JSON.parse` would give
 * (the last of duplicate keys wins, as there). The payload itself is not
 * scanned: base64 validation rejects anything a JSON string could hide.
 */
function scanMedia(text: string, out: MediaScan): boolean {
  const n = text.length;
  if (
    n < 20 || text.charCodeAt(0) !== OPEN || text.charCodeAt(n - 1) !== CLOSE
  ) {
    return false;
  }
  let isMedia = false;
  let hasMedia = false;
  let payload: string | undefined;
  let track: string | undefined;
  let i = 1;
  while (true) {
    if (text.charCodeAt(i) !== QUOTE) return false;
    const keyEnd = text.indexOf('"', i + 1);
    if (keyEnd < 0 || !plain(text, i + 1, keyEnd)) return false;
    const keyFrom = i + 1;
    i = keyEnd + 1;
    if (text.charCodeAt(i) !== COLON) return false;
    i++;
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const end = text.indexOf('"', i + 1);
      if (end < 0 || !plain(text, i + 1, end)) return false;
      if (keyIs(text, keyFrom, keyEnd, "event")) {
        isMedia = keyIs(text, i + 1, end, "media");
      } else if (keyIs(text, keyFrom, keyEnd, "media")) {
        hasMedia = false; // a string "media" replaces an earlier object
      }
      i = end + 1;
    } else if (c === OPEN && keyIs(text, keyFrom, keyEnd, "media")) {
      // A later "media" object replaces an earlier one entirely.
      hasMedia = true;
      payload = undefined;
      track = undefined;
      i++;
      if (text.charCodeAt(i) === CLOSE) {
        i++;
      } else {
        while (true) {
          if (text.charCodeAt(i) !== QUOTE) return false;
          const kEnd = text.indexOf('"', i + 1);
          if (kEnd < 0 || !plain(text, i + 1, kEnd)) return false;
          const kFrom = i + 1;
          i = kEnd + 1;
          if (text.charCodeAt(i) !== COLON) return false;
          i++;
          if (text.charCodeAt(i) !== QUOTE) return false;
          const vEnd = text.indexOf('"', i + 1);
          if (vEnd < 0) return false;
          if (keyIs(text, kFrom, kEnd, "payload")) {
            payload = text.slice(i + 1, vEnd);
          } else {
            if (!plain(text, i + 1, vEnd)) return false;
            if (keyIs(text, kFrom, kEnd, "track")) {
              track = text.slice(i + 1, vEnd);
            }
          }
          i = vEnd + 1;
          const d = text.charCodeAt(i);
          if (d === COMMA) {
            i++;
            continue;
          }
          if (d === CLOSE) {
            i++;
            break;
          }
          return false;
        }
      }
    } else {
      return false;
    }
    const d = text.charCodeAt(i);
    if (d === COMMA) {
      i++;
      continue;
    }
    if (d === CLOSE && i === n - 1) break;
    return false;
  }
  if (!isMedia || !hasMedia || payload === undefined) return false;
  out.payload = payload;
  out.track = track;
  return true;
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
