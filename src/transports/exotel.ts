/**
 * Exotel's Voicebot (bidirectional AgentStream) WebSocket protocol, written
 * from Exotel's published docs ("Working with the Stream and Voicebot
 * Applet", the AgentStream "WebSocket protocol" page and the extension
 * guide).
 *
 * Inbound JSON text frames: `connected`, `start` (`stream_sid`;
 * `start.call_sid`, `account_sid`, `from`, `to`, `custom_parameters`,
 * `media_format` `{encoding, sample_rate, bit_rate}`), `media` (base64 audio
 * in `media.payload`), `dtmf` (`dtmf.digit`, `dtmf.duration`), `mark` (audio
 * sent before a mark has finished playing) and `stop` (`stop.reason`).
 * Outbound, each carrying `stream_sid`: `media` (`media.payload`), `mark`
 * (`mark.name`) and `clear` (drop the audio queued for playback).
 *
 * Audio: the Voicebot applet streams raw/slin — 16-bit linear PCM,
 * little-endian, mono — at 8000 Hz by default, 16000 or 24000 Hz when the
 * stream URL carries `?sample-rate=16000` (see
 * {@linkcode buildExotelStreamUrl}). Exotel's newer media format setting
 * (`audio/x-mulaw;rate=8000`) streams G.711 μ-law instead; the codec reads
 * `start.media_format` and answers in the same format and rate, as Exotel
 * plays back what the stream carries.
 *
 * Exotel asks for outbound chunks that are multiples of 320 bytes (every
 * 20 ms frame at 8, 16 or 24 kHz is) and recommends at least 100 ms
 * (3.2 KB at 8 kHz) per message, which this codec leaves to the adapter's
 * pacing: it encodes whatever length it is given.
 *
 * Authentication: Exotel does not sign stream connections or their
 * messages. It offers IP allow-listing (arranged with Exotel support) or
 * HTTP Basic credentials written into the stream URL
 * (`wss://KEY:TOKEN@host/path`), sent as an `Authorization: Basic` header
 * on the WebSocket upgrade; {@linkcode checkExotelBasicAuth} checks that
 * header.
 *
 * @module
 */

import { errorText } from "../_internal/errors.ts";
import { decodeMulaw, encodeMulaw } from "../audio/mulaw.ts";
import { decodeBase64, encodeBase64 } from "./base64.ts";
import type { CallStart, Decoded, WireCodec, WireMessage } from "./codec.ts";
import {
  checkId,
  checkOptionalId,
  decodeDtmfField,
  decodeMarkField,
  decodePcm16,
  describe,
  encodePcm16,
  isRecord,
  parseJsonFrame,
  preview,
  readCustomParameters,
  readInteger,
} from "./_carrier_wire.ts";

export type { CallStart, Decoded, WireCodec, WireMessage } from "./codec.ts";
export type { ClientMessage } from "../bus/frame_bus.ts";

/** Audio formats of an Exotel stream the codec understands. */
export type ExotelEncoding = "slin" | "mulaw";

/** Rates Exotel streams raw/slin audio at, in Hz. */
export const EXOTEL_SAMPLE_RATES: readonly number[] = Object.freeze([
  8000,
  16000,
  24000,
]);

/** Media format names meaning 16-bit linear PCM (lower case, no params). */
const SLIN_NAMES = new Set([
  "audio/x-raw",
  "raw",
  "slin",
  "audio/l16",
  "l16",
  "pcm",
  "linear16",
  "audio/x-l16",
]);
/** Media format names meaning G.711 μ-law. */
const MULAW_NAMES = new Set([
  "audio/x-mulaw",
  "audio/mulaw",
  "mulaw",
  "ulaw",
  "pcmu",
  "audio/pcmu",
]);

/**
 * Makes a pure codec for one Exotel Voicebot connection, for the socket
 * adapter to drive. Make one per connection: it remembers the `stream_sid`
 * every outbound message must carry, and the stream's audio format.
 *
 * @example Decode a start and 20 ms of slin audio, answer with audio
 * ```ts
 * import { createExotelCodec } from "@parley/parley/transports";
 *
 * const codec = createExotelCodec();
 * const [start] = codec.decode(JSON.stringify({
 *   event: "start",
 *   stream_sid: "MZ0123456789abcdef",
 *   start: {
 *     call_sid: "CA0123456789abcdef",
 *     media_format: { encoding: "audio/x-raw", sample_rate: "8000", bit_rate: "16" },
 *   },
 * }));
 * // start.kind === "start", start.call.inputRate === 8000
 * const silence = new Uint8Array(320); // 160 samples of 16-bit PCM
 * const [audio] = codec.decode(JSON.stringify({
 *   event: "media",
 *   stream_sid: "MZ0123456789abcdef",
 *   media: { chunk: "1", timestamp: "20", payload: btoa(String.fromCharCode(...silence)) },
 * }));
 * // audio.kind === "audio", 160 samples
 * const reply = codec.encodeAudio(new Int16Array(160));
 * // '{"event":"media","stream_sid":"MZ0123456789abcdef","media":{"payload":"AAAA…"}}'
 * ```
 *
 * @returns A new codec.
 */
export function createExotelCodec(): WireCodec {
  return new ExotelCodec();
}

class ExotelCodec implements WireCodec {
  readonly protocol = "exotel";
  #encoding: ExotelEncoding | null = null;
  #streamSid = "";
  #stopped = false;
  /** An odd slin byte left over from the previous media payload. */
  #carry: Uint8Array | null = null;

  get started(): boolean {
    return this.#encoding !== null;
  }

  decode(message: WireMessage): Decoded[] {
    try {
      return this.#decode(message);
    } catch (e) {
      // Nothing above should throw; this keeps the "never throws" promise
      // even if a check was missed.
      return [{
        kind: "error",
        reason: `Exotel message could not be decoded: ${errorText(e)}`,
      }];
    }
  }

  #decode(message: WireMessage): Decoded[] {
    const parsed = parseJsonFrame(message, "Exotel");
    if (!parsed.ok) return [{ kind: "error", reason: parsed.reason }];
    const { msg, event } = parsed;
    switch (event) {
      case "connected":
        return [];
      case "start":
        return this.#start(msg);
      case "media":
        return this.#media(msg);
      case "dtmf": {
        if (!this.started) return [notStarted("dtmf")];
        return [decodeDtmfField(msg)];
      }
      case "mark": {
        if (!this.started) return [notStarted("mark")];
        return [decodeMarkField(msg)];
      }
      case "stop": {
        if (!this.started) return [notStarted("stop")];
        if (this.#stopped) {
          return [{ kind: "error", reason: "second stop message ignored" }];
        }
        this.#stopped = true;
        const why = isRecord(msg.stop) ? msg.stop.reason : undefined;
        return [{
          kind: "stop",
          reason: typeof why === "string" && why.length > 0
            ? `Exotel sent stop (${why.slice(0, 64)})`
            : "Exotel sent stop",
        }];
      }
      default:
        return [{
          kind: "error",
          reason: `unknown Exotel event ${
            preview(event)
          } ignored; expected connected, start, media, dtmf, mark or stop`,
        }];
    }
  }

  #start(msg: Record<string, unknown>): Decoded[] {
    if (this.started) {
      return [{
        kind: "error",
        reason: "second start message ignored; one connection carries one " +
          "stream",
      }];
    }
    const start = msg.start;
    if (!isRecord(start)) {
      return [{
        kind: "error",
        reason: `start message without a start object (got ${describe(start)})`,
      }];
    }
    const fail = (reason: string): Decoded[] => [{
      kind: "error",
      reason: `start message rejected: ${reason}`,
    }];
    const sid = checkId(
      msg.stream_sid ?? start.stream_sid,
      msg.stream_sid === undefined ? "start.stream_sid" : "stream_sid",
    );
    if (!sid.ok) return fail(sid.reason);
    const callSid = checkOptionalId(start.call_sid, "start.call_sid");
    if (!callSid.ok) return fail(callSid.reason);
    const accountSid = checkOptionalId(start.account_sid, "start.account_sid");
    if (!accountSid.ok) return fail(accountSid.reason);
    const from = checkOptionalId(start.from, "start.from");
    if (!from.ok) return fail(from.reason);
    const to = checkOptionalId(start.to, "start.to");
    if (!to.ok) return fail(to.reason);

    const format = start.media_format === undefined ? {} : start.media_format;
    if (!isRecord(format)) {
      return fail(
        `start.media_format is ${describe(format)}; expected an object`,
      );
    }
    const media = readMediaFormat(format);
    if (typeof media === "string") return fail(media);

    const custom = readCustomParameters(start.custom_parameters);
    const call: CallStart = {
      callId: sid.value,
      customParameters: custom.params,
      inputRate: media.rate,
      outputRate: media.rate,
      extra: { encoding: media.encoding },
    };
    if (callSid.value) call.carrierCallId = callSid.value;
    if (accountSid.value) call.accountId = accountSid.value;
    if (from.value) call.from = from.value;
    if (to.value) call.to = to.value;

    this.#encoding = media.encoding;
    this.#streamSid = sid.value;
    const out: Decoded[] = [{ kind: "start", call }];
    if (custom.dropped.length > 0) {
      out.push({
        kind: "error",
        reason:
          `start.custom_parameters: dropped ${
            custom.dropped.slice(0, 8).join(", ")
          } (values must be strings, keys up to 128 and values up to 1024 ` +
          `chars, at most 64 entries)`,
      });
    }
    return out;
  }

  #media(msg: Record<string, unknown>): Decoded[] {
    if (!this.started) return [notStarted("media")];
    if (this.#stopped) {
      return [{ kind: "error", reason: "media after stop ignored" }];
    }
    const media = msg.media;
    if (!isRecord(media)) {
      return [{
        kind: "error",
        reason: `media message without a media object (got ${describe(media)})`,
      }];
    }
    // With both tracks streamed (extension guide), outbound is what the
    // caller hears: Parley's own audio, not caller input.
    const track = media.track ?? msg.track;
    if (track === "outbound") return [];
    if (track !== undefined && track !== "inbound") {
      return [{
        kind: "error",
        reason: `media.track is ${
          describe(track)
        }; expected "inbound" or "outbound"`,
      }];
    }
    if (msg.stream_sid !== undefined && msg.stream_sid !== this.#streamSid) {
      return [{
        kind: "error",
        reason: `media for another stream_sid (${
          typeof msg.stream_sid === "string"
            ? preview(msg.stream_sid)
            : describe(msg.stream_sid)
        }) ignored`,
      }];
    }
    if (typeof media.payload !== "string") {
      return [{
        kind: "error",
        reason: `media.payload is ${describe(media.payload)}; expected base64`,
      }];
    }
    let bytes: Uint8Array;
    try {
      bytes = decodeBase64(media.payload);
    } catch (e) {
      return [{
        kind: "error",
        reason: errorText(e),
      }];
    }
    let samples: Int16Array;
    if (this.#encoding === "mulaw") {
      samples = decodeMulaw(bytes);
    } else {
      if (this.#carry) {
        const joined = new Uint8Array(bytes.length + 1);
        joined[0] = this.#carry[0];
        joined.set(bytes, 1);
        bytes = joined;
        this.#carry = null;
      }
      const pcm = decodePcm16(bytes, true);
      this.#carry = pcm.rest;
      samples = pcm.samples;
    }
    if (samples.length === 0) return [];
    return [{ kind: "audio", samples }];
  }

  encodeAudio(samples: Int16Array): WireMessage {
    const bytes = this.#encoding === "mulaw"
      ? encodeMulaw(samples)
      : encodePcm16(samples, true);
    return JSON.stringify({
      event: "media",
      stream_sid: this.#streamSid,
      media: { payload: encodeBase64(bytes) },
    });
  }

  encodeMark(name: string): WireMessage {
    return JSON.stringify({
      event: "mark",
      stream_sid: this.#streamSid,
      mark: { name },
    });
  }

  encodeClear(): WireMessage {
    return JSON.stringify({ event: "clear", stream_sid: this.#streamSid });
  }
}

/** Reads `start.media_format`, or returns why it cannot be streamed. */
function readMediaFormat(
  format: Record<string, unknown>,
): { encoding: ExotelEncoding; rate: number } | string {
  // The encoding may carry parameters: "audio/x-mulaw;rate=8000".
  let name = "audio/x-raw";
  let paramRate: number | undefined;
  if (format.encoding !== undefined) {
    if (typeof format.encoding !== "string") {
      return `start.media_format.encoding is ${
        describe(format.encoding)
      }; expected a string such as "audio/x-raw"`;
    }
    const [base, ...params] = format.encoding.split(";");
    name = base.trim().toLowerCase();
    for (const p of params) {
      const [k, v] = p.split("=").map((s) => s.trim().toLowerCase());
      if (k === "rate") paramRate = readInteger(v);
    }
  }
  let encoding: ExotelEncoding;
  if (SLIN_NAMES.has(name)) encoding = "slin";
  else if (MULAW_NAMES.has(name)) encoding = "mulaw";
  else {
    return `the stream's audio is ${
      preview(String(format.encoding))
    }, which Parley does not decode; use the Voicebot applet's raw/slin ` +
      `(audio/x-raw) or audio/x-mulaw`;
  }
  const rate = format.sample_rate === undefined
    ? paramRate ?? 8000
    : readInteger(format.sample_rate);
  if (encoding === "mulaw") {
    if (rate !== 8000) {
      return `μ-law is 8000 Hz audio, but start.media_format.sample_rate is ${
        describe(format.sample_rate)
      }`;
    }
  } else if (rate === undefined || !EXOTEL_SAMPLE_RATES.includes(rate)) {
    return `start.media_format.sample_rate is ${
      describe(format.sample_rate)
    }; Exotel streams slin at 8000, 16000 or 24000 Hz`;
  }
  if (encoding === "slin" && format.bit_rate !== undefined) {
    // Exotel calls the bits per sample "bit_rate" ("16").
    if (readInteger(format.bit_rate) !== 16) {
      return `start.media_format.bit_rate is ${
        describe(format.bit_rate)
      }; Parley takes 16-bit samples`;
    }
  }
  return { encoding, rate: rate as number };
}

function notStarted(event: string): Decoded {
  return {
    kind: "error",
    reason: `${event} before start ignored; Exotel sends start first`,
  };
}

/** Options of {@linkcode buildExotelStreamUrl}. */
export interface ExotelStreamUrlOptions {
  /** The media socket, `wss://HOST/telephone/exotel/handler` (ws:// too). */
  url: string;
  /** Rate Exotel streams at: 8000 (default, left out of the URL), 16000 or 24000. */
  sampleRate?: number;
  /**
   * Custom parameters (Exotel passes them on in `start.custom_parameters`):
   * at most 3, and at most 256 characters of query string in all.
   */
  parameters?: Record<string, string>;
  /** Basic-auth user name (API key) Exotel sends on the upgrade. */
  username?: string;
  /** Basic-auth password (API token), with `username`. */
  password?: string;
}

/**
 * Builds the URL to paste into the Voicebot applet (or pass as
 * `streamurl`), with the `sample-rate`, custom parameters and Basic-auth
 * credentials the way Exotel's docs place them.
 *
 * @example
 * ```ts
 * import { buildExotelStreamUrl } from "@parley/parley/transports";
 * buildExotelStreamUrl({
 *   url: "wss://bot.example.com/telephone/exotel/handler",
 *   sampleRate: 16000,
 *   parameters: { lang: "hi" },
 * });
 * // "wss://bot.example.com/telephone/exotel/handler?sample-rate=16000&lang=hi"
 * ```
 *
 * @param options The socket URL, rate, parameters and credentials.
 * @returns The stream URL.
 * @throws {TypeError} If the URL is not ws:// or wss://, or an option breaks
 *   one of Exotel's limits.
 */
export function buildExotelStreamUrl(options: ExotelStreamUrlOptions): string {
  if (!isRecord(options) || typeof options.url !== "string") {
    throw new TypeError(
      "buildExotelStreamUrl() expects { url: 'wss://…' } at least",
    );
  }
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    throw new TypeError(
      `buildExotelStreamUrl(): url ${preview(options.url)} is not an ` +
        `absolute URL`,
    );
  }
  if (url.protocol !== "ws:" && url.protocol !== "wss:") {
    throw new TypeError(
      `buildExotelStreamUrl(): url must use ws or wss, got ` +
        `${url.protocol.slice(0, -1)}`,
    );
  }
  const rate = options.sampleRate ?? 8000;
  if (!EXOTEL_SAMPLE_RATES.includes(rate)) {
    throw new TypeError(
      `buildExotelStreamUrl(): sampleRate must be 8000, 16000 or 24000, ` +
        `got ${describe(rate)}`,
    );
  }
  const params = Object.entries(options.parameters ?? {});
  if (params.length > 3) {
    throw new TypeError(
      `buildExotelStreamUrl(): Exotel passes at most 3 custom parameters, ` +
        `got ${params.length}`,
    );
  }
  if (rate !== 8000) url.searchParams.set("sample-rate", String(rate));
  for (const [k, v] of params) url.searchParams.set(k, String(v));
  if (url.search.length - 1 > 256) {
    throw new TypeError(
      `buildExotelStreamUrl(): the query string is ${
        url.search.length - 1
      } characters; Exotel takes at most 256`,
    );
  }
  if (options.username !== undefined || options.password !== undefined) {
    if (!options.username || !options.password) {
      throw new TypeError(
        "buildExotelStreamUrl(): pass both username and password for Basic " +
          "auth, or neither",
      );
    }
    url.username = options.username;
    url.password = options.password;
  }
  return url.toString();
}

/** What {@linkcode checkExotelBasicAuth} compares. */
export interface ExotelBasicAuthCheck {
  /** The upgrade request's `Authorization` header, or null if absent. */
  authorization: string | null | undefined;
  /** The expected user name (the one in the stream URL). */
  username: string;
  /** The expected password. */
  password: string;
}

/** The outcome of {@linkcode checkExotelBasicAuth}. */
export type ExotelAuthResult =
  | {
    /** The credentials match. */
    valid: true;
  }
  | {
    /** The upgrade must be refused (HTTP 401). */
    valid: false;
    /** Why, for the server's log. */
    reason: string;
  };

/**
 * Checks the `Authorization: Basic` header Exotel sends on the WebSocket
 * upgrade when the stream URL carries credentials. The comparison takes the
 * same time wherever the first difference is.
 *
 * @example Refuse upgrades without the stream URL's credentials
 * ```ts
 * import { checkExotelBasicAuth } from "@parley/parley/transports";
 * function guard(request: Request): Response | null {
 *   const check = checkExotelBasicAuth({
 *     authorization: request.headers.get("authorization"),
 *     username: "bot",
 *     password: Deno.env.get("EXOTEL_STREAM_PASSWORD") ?? "",
 *   });
 *   return check.valid ? null : new Response("unauthorized", { status: 401 });
 * }
 * ```
 *
 * @param check The header and the expected credentials.
 * @returns Whether they match, and if not, why.
 * @throws {TypeError} If the expected username or password is empty.
 */
export function checkExotelBasicAuth(
  check: ExotelBasicAuthCheck,
): ExotelAuthResult {
  if (!check.username || !check.password) {
    throw new TypeError(
      "checkExotelBasicAuth(): username and password must be non-empty; " +
        "set them to the credentials written into the Exotel stream URL",
    );
  }
  const header = check.authorization;
  if (typeof header !== "string" || header.length === 0) {
    return { valid: false, reason: "the Authorization header is missing" };
  }
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!match) {
    return {
      valid: false,
      reason: "the Authorization header is not Basic credentials",
    };
  }
  let given: Uint8Array;
  try {
    given = decodeBase64(match[1]);
  } catch {
    return { valid: false, reason: "the Basic credentials are not base64" };
  }
  const expected = new TextEncoder().encode(
    `${check.username}:${check.password}`,
  );
  let diff = given.length ^ expected.length;
  for (let i = 0; i < expected.length; i++) {
    diff |= expected[i] ^ (given[i] ?? 0);
  }
  return diff === 0
    ? { valid: true }
    : { valid: false, reason: "the Basic credentials do not match" };
}
