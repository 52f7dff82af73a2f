/**
 * Plivo Audio Streams: the wire codec, the Plivo XML answer and the
 * `X-Plivo-Signature-V3` check.
 *
 * Written from Plivo's published docs:
 * - Stream Event Protocol and Audio Streaming Protocol Reference
 *   (plivo.com/docs/voice/audio-streaming/audio-streaming,
 *   plivo.com/docs/voice-agents/audio-streaming/concepts/audio-streaming-reference)
 * - the `<Stream>` XML element (plivo.com/docs/voice/xml/audiostream)
 * - Signature validation V3 (plivo.com/docs/voice/concepts/signature-validation)
 *
 * Inbound (Plivo → Parley), JSON text messages:
 * - `start` `{sequenceNumber, start: {callId, streamId, accountId, tracks,
 *   mediaFormat: {encoding, sampleRate}}, extra_headers}`
 * - `media` `{streamId, media: {track, timestamp, chunk, payload}}` —
 *   base64 audio in the start's encoding, any size
 * - `dtmf` `{streamId, dtmf: {track, digit, timestamp}}`
 * - `playedStream` `{streamId, name}` — playback reached a `checkpoint`
 * - `clearedAudio` `{streamId}` — the queue was cleared
 *
 * Outbound (Parley → Plivo): `playAudio` `{media: {contentType, sampleRate,
 * payload}}`, `checkpoint` `{streamId, name}`, `clearAudio` `{streamId}`.
 *
 * Where the docs are ambiguous, this codec decides as follows:
 * - Plivo's protocol pages list no `stop` message (the call's end is the
 *   socket closing, and stream status goes to `statusCallbackUrl`). A `stop`
 *   message is still accepted and ends the call, for clients modelled on
 *   Twilio.
 * - A Plivo support article names the checkpoint reply `played`; the
 *   protocol pages say `playedStream`. Both are accepted.
 * - `extra_headers` is documented as `test1=12,test2=123` on the XML page
 *   and shown as `userId=12345;sessionId=abc-xyz` in the protocol example;
 *   both separators are parsed into `customParameters`.
 * - The byte order of `audio/x-l16` is not documented. Little-endian is the
 *   default (the platform's native order); `l16ByteOrder` changes it.
 * - The XML page gives `audio/x-l16;rate=8000` as the default content type,
 *   the overview gives `audio/x-mulaw;rate=8000`; {@linkcode buildPlivoXml}
 *   always writes the attribute, so the default never matters.
 *
 * @module
 */

import { decodeMulaw, encodeMulaw } from "../audio/mulaw.ts";
import { decodeBase64, encodeBase64 } from "./base64.ts";
import type { CallStart, Decoded, WireCodec, WireMessage } from "./codec.ts";
import {
  boundedId,
  boundedText,
  type ByteOrder,
  constantTimeEqual,
  decodeL16,
  encodeL16,
  escapeXml,
  hmac,
  isDtmfKey,
  MAX_MARK_NAME_LENGTH,
  parseJsonObject,
  previewValue,
} from "./_carrier_wire.ts";

/** Audio encodings of a bidirectional Plivo stream. */
export type PlivoEncoding = "audio/x-mulaw" | "audio/x-l16";

/** Options of {@linkcode createPlivoCodec}. */
export interface PlivoCodecOptions {
  /**
   * Encoding of outbound `playAudio` (default: the inbound encoding of the
   * `start` message; Plivo advises against switching codecs mid-stream).
   */
  outputEncoding?: PlivoEncoding;
  /**
   * Rate of outbound audio: 8000 for μ-law, 8000 or 16000 for L16 (default:
   * the inbound rate when the encodings match, else 8000).
   */
  outputRate?: 8000 | 16000;
  /** Byte order of `audio/x-l16` samples (default `"little"`). */
  l16ByteOrder?: "little" | "big";
}

/** Rates Plivo accepts per encoding. */
const PLIVO_RATES: Record<PlivoEncoding, readonly number[]> = {
  "audio/x-mulaw": [8000],
  "audio/x-l16": [8000, 16000],
};

/**
 * Creates a codec for one Plivo Audio Stream connection.
 *
 * @example
 * ```ts
 * import { createPlivoCodec } from "./plivo.ts";
 * const codec = createPlivoCodec();
 * const [start] = codec.decode(JSON.stringify({
 *   event: "start",
 *   sequenceNumber: 1,
 *   start: {
 *     callId: "c0a8-01",
 *     streamId: "5b1e-02",
 *     accountId: "MA123",
 *     tracks: ["inbound"],
 *     mediaFormat: { encoding: "audio/x-mulaw", sampleRate: 8000 },
 *   },
 *   extra_headers: "",
 * }));
 * console.log(start.kind); // "start"
 * const reply = codec.encodeAudio(new Int16Array(160));
 * ```
 *
 * @param options Outbound encoding and L16 byte order.
 * @returns A fresh codec.
 */
export function createPlivoCodec(options: PlivoCodecOptions = {}): WireCodec {
  return new PlivoCodec(options);
}

class PlivoCodec implements WireCodec {
  readonly protocol = "plivo";
  #options: PlivoCodecOptions;
  #order: ByteOrder;
  #started = false;
  #streamId = "";
  #inEncoding: PlivoEncoding = "audio/x-mulaw";
  #outEncoding: PlivoEncoding = "audio/x-mulaw";
  #outRate = 8000;

  constructor(options: PlivoCodecOptions) {
    this.#options = options;
    this.#order = options.l16ByteOrder ?? "little";
    if (this.#order !== "little" && this.#order !== "big") {
      throw new TypeError(
        `l16ByteOrder must be "little" or "big", got ${
          previewValue(this.#order)
        }`,
      );
    }
    const { outputEncoding, outputRate } = options;
    if (outputEncoding !== undefined && !(outputEncoding in PLIVO_RATES)) {
      throw new TypeError(
        `outputEncoding must be "audio/x-mulaw" or "audio/x-l16", got ` +
          previewValue(outputEncoding),
      );
    }
    if (
      outputRate !== undefined &&
      !PLIVO_RATES[outputEncoding ?? "audio/x-l16"].includes(outputRate)
    ) {
      throw new RangeError(
        `outputRate ${outputRate} is not one Plivo plays for ` +
          `${outputEncoding ?? "audio/x-l16"}; use 8000 (μ-law or L16) or ` +
          `16000 (L16)`,
      );
    }
  }

  get started(): boolean {
    return this.#started;
  }

  decode(message: WireMessage): Decoded[] {
    const parsed = parseJsonObject(message, "Plivo");
    if (!parsed.ok) return [{ kind: "error", reason: parsed.reason }];
    const msg = parsed.value;
    const event = msg.event;
    if (event === "start") return this.#decodeStart(msg);
    if (typeof event !== "string") {
      return [{
        kind: "error",
        reason:
          `message without a string "event" (got ${
            previewValue(event)
          }); Plivo messages carry event start, media, dtmf, playedStream ` +
          `or clearedAudio`,
      }];
    }
    if (!this.#started) {
      return [{
        kind: "error",
        reason: `${previewValue(event)} before start ignored; send the start ` +
          `message first`,
      }];
    }
    switch (event) {
      case "media":
        return this.#decodeMedia(msg);
      case "dtmf": {
        const dtmf = record(msg.dtmf);
        const digit = dtmf?.digit;
        if (!isDtmfKey(digit)) {
          return [{
            kind: "error",
            reason: `dtmf message with invalid dtmf.digit ${
              previewValue(digit)
            }; expected one of 0-9 * # A-D`,
          }];
        }
        return [{ kind: "dtmf", digit }];
      }
      case "playedStream":
      case "played": {
        const name = boundedText(msg.name, MAX_MARK_NAME_LENGTH);
        if (name === undefined) {
          return [{
            kind: "error",
            reason:
              `${event} message with invalid name ${
                previewValue(msg.name)
              }; expected the checkpoint name Parley sent (1-` +
              `${MAX_MARK_NAME_LENGTH} chars)`,
          }];
        }
        return [{ kind: "played", name }];
      }
      case "clearedAudio":
        return [];
      case "stop":
        return [{ kind: "stop", reason: "Plivo sent stop" }];
      default:
        return [{
          kind: "error",
          reason:
            `unknown event ${
              previewValue(event)
            } ignored; Plivo sends start, media, dtmf, playedStream and ` +
            `clearedAudio`,
        }];
    }
  }

  #decodeStart(msg: Record<string, unknown>): Decoded[] {
    if (this.#started) {
      return [{
        kind: "error",
        reason: "second start message ignored; a stream starts once",
      }];
    }
    const start = record(msg.start);
    if (!start) {
      return [{
        kind: "error",
        reason: 'start message without a "start" object; expected ' +
          "start.streamId, start.callId and start.mediaFormat",
      }];
    }
    const streamId = boundedId(start.streamId ?? msg.streamId);
    if (!streamId) {
      return [{
        kind: "error",
        reason: `start message with invalid start.streamId ${
          previewValue(start.streamId)
        }; expected an id of 1-128 printable characters`,
      }];
    }
    const format = record(start.mediaFormat);
    const encoding = parseEncoding(format?.encoding);
    const rate = format?.sampleRate;
    if (!encoding || !PLIVO_RATES[encoding].includes(rate as number)) {
      return [{
        kind: "error",
        reason:
          `start message with unsupported mediaFormat (encoding ${
            previewValue(format?.encoding)
          }, sampleRate ${
            previewValue(rate)
          }); Plivo streams audio/x-mulaw at 8000 or audio/x-l16 at 8000 or ` +
          `16000`,
      }];
    }
    const inputRate = rate as number;
    let outEncoding = this.#options.outputEncoding ?? encoding;
    const outRate = this.#options.outputRate ??
      (outEncoding === encoding ? inputRate : 8000);
    // Only L16 plays at 16 kHz: a 16 kHz outputRate without an explicit
    // encoding selects it.
    if (!PLIVO_RATES[outEncoding].includes(outRate)) {
      outEncoding = "audio/x-l16";
    }
    this.#inEncoding = encoding;
    this.#outEncoding = outEncoding;
    this.#outRate = outRate;
    this.#streamId = streamId;
    this.#started = true;
    const extra: Record<string, unknown> = { encoding };
    if (Array.isArray(start.tracks)) {
      extra.tracks = start.tracks.filter((t) => typeof t === "string");
    }
    if (typeof msg.extra_headers === "string") {
      extra.extraHeaders = msg.extra_headers.slice(0, 1024);
    }
    const call: CallStart = {
      callId: streamId,
      customParameters: parseExtraHeaders(msg.extra_headers),
      inputRate,
      outputRate: outRate,
      extra,
    };
    const callId = boundedId(start.callId);
    if (callId) call.carrierCallId = callId;
    const accountId = boundedId(start.accountId);
    if (accountId) call.accountId = accountId;
    return [{ kind: "start", call }];
  }

  #decodeMedia(msg: Record<string, unknown>): Decoded[] {
    const media = record(msg.media);
    if (!media || typeof media.payload !== "string") {
      return [{
        kind: "error",
        reason: "media message without a media.payload string; send base64 " +
          "audio in media.payload",
      }];
    }
    // A bidirectional stream carries the caller only; skip other tracks.
    if (media.track !== undefined && media.track !== "inbound") return [];
    let bytes: Uint8Array;
    try {
      bytes = decodeBase64(media.payload);
    } catch (e) {
      return [{ kind: "error", reason: (e as Error).message }];
    }
    if (bytes.length === 0) return [];
    if (this.#inEncoding === "audio/x-mulaw") {
      return [{ kind: "audio", samples: decodeMulaw(bytes) }];
    }
    try {
      return [{ kind: "audio", samples: decodeL16(bytes, this.#order) }];
    } catch (e) {
      return [{ kind: "error", reason: (e as Error).message }];
    }
  }

  setOutputRate(rate: number): void {
    if (!PLIVO_RATES[this.#outEncoding].includes(rate)) {
      throw new RangeError(
        `Plivo cannot play ${this.#outEncoding} at ${rate} Hz; use ` +
          PLIVO_RATES[this.#outEncoding].join(" or ") + " Hz",
      );
    }
    this.#outRate = rate;
  }

  encodeAudio(samples: Int16Array): WireMessage {
    this.#requireStarted("audio");
    const bytes = this.#outEncoding === "audio/x-mulaw"
      ? encodeMulaw(samples)
      : encodeL16(samples, this.#order);
    return JSON.stringify({
      event: "playAudio",
      media: {
        contentType: this.#outEncoding,
        sampleRate: this.#outRate,
        payload: encodeBase64(bytes),
      },
    });
  }

  encodeMark(name: string): WireMessage {
    this.#requireStarted("a checkpoint");
    return JSON.stringify({
      event: "checkpoint",
      streamId: this.#streamId,
      name,
    });
  }

  encodeClear(): WireMessage {
    this.#requireStarted("clearAudio");
    return JSON.stringify({ event: "clearAudio", streamId: this.#streamId });
  }

  #requireStarted(what: string): void {
    if (!this.#started) {
      throw new Error(
        `cannot encode ${what} before Plivo's start message: the streamId ` +
          `and encoding are not known yet`,
      );
    }
  }
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? value as Record<string, unknown>
    : undefined;
}

/** `audio/x-mulaw`, `audio/x-l16` or `audio/x-l16;rate=16000` → encoding. */
function parseEncoding(value: unknown): PlivoEncoding | undefined {
  if (typeof value !== "string" || value.length > 64) return undefined;
  const type = value.split(";")[0].trim().toLowerCase();
  return type === "audio/x-mulaw" || type === "audio/x-l16" ? type : undefined;
}

/** Parses `k=v,k=v` or `k=v;k=v` (at most 64 pairs, 1 KiB). */
function parseExtraHeaders(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof value !== "string" || value.length > 1024) return out;
  let count = 0;
  for (const pair of value.split(/[,;]/)) {
    const eq = pair.indexOf("=");
    if (eq <= 0) continue;
    const key = pair.slice(0, eq).trim();
    if (!key || key === "__proto__" || ++count > 64) continue;
    out[key] = pair.slice(eq + 1).trim();
  }
  return out;
}

/** Options of {@linkcode buildPlivoXml}. */
export interface PlivoXmlOptions {
  /** The `wss://…` URL Plivo connects the stream to. */
  streamUrl: string;
  /**
   * Codec and rate: `audio/x-mulaw;rate=8000` (default),
   * `audio/x-l16;rate=8000` or `audio/x-l16;rate=16000`.
   */
  contentType?:
    | "audio/x-mulaw;rate=8000"
    | "audio/x-l16;rate=8000"
    | "audio/x-l16;rate=16000";
  /**
   * Run the stream alone and keep the call up while it lasts (default true;
   * without it the call moves on to the next element at once).
   */
  keepCallAlive?: boolean;
  /** Let Parley play audio into the call (default true). */
  bidirectional?: boolean;
  /**
   * Values delivered in the start message's `extra_headers`. Plivo allows
   * only `[A-Za-z0-9]` in names and values, 512 bytes in all.
   */
  extraHeaders?: Record<string, string>;
  /** Longest stream in seconds (Plivo's default: 86400). */
  streamTimeout?: number;
  /** URL Plivo notifies on stream start, stop and failure. */
  statusCallbackUrl?: string;
  /** Method of the status callback (Plivo's default: POST). */
  statusCallbackMethod?: "GET" | "POST";
  /** Text to `<Speak>` before the stream starts (none by default). */
  speak?: string;
}

/**
 * Builds the Plivo XML answer that connects a call to Parley:
 * `<Response><Stream bidirectional="true" keepCallAlive="true"
 * contentType="audio/x-mulaw;rate=8000">wss://…</Stream></Response>`.
 *
 * @example
 * ```ts
 * import { buildPlivoXml } from "./plivo.ts";
 * const xml = buildPlivoXml({
 *   streamUrl: "wss://bot.example.com/telephone/plivo/handler",
 *   extraHeaders: { tenant: "acme" },
 * });
 * ```
 *
 * @param options The stream URL and the `<Stream>` attributes.
 * @returns The XML document.
 * @throws {TypeError} If the URL or an attribute is not one Plivo accepts.
 */
export function buildPlivoXml(options: PlivoXmlOptions): string {
  const { streamUrl } = options;
  if (
    typeof streamUrl !== "string" || !/^wss?:\/\/[^\s<>"]+$/.test(streamUrl)
  ) {
    throw new TypeError(
      `Invalid stream URL ${
        previewValue(streamUrl)
      }: Plivo needs a wss:// URL (ws:// only for local tests)`,
    );
  }
  const contentType = options.contentType ?? "audio/x-mulaw;rate=8000";
  if (
    ![
      "audio/x-mulaw;rate=8000",
      "audio/x-l16;rate=8000",
      "audio/x-l16;rate=16000",
    ].includes(contentType)
  ) {
    throw new TypeError(
      `contentType ${
        previewValue(contentType)
      } is not one Plivo streams; use audio/x-mulaw;rate=8000, ` +
        `audio/x-l16;rate=8000 or audio/x-l16;rate=16000`,
    );
  }
  const attrs: [string, string][] = [
    ["bidirectional", String(options.bidirectional ?? true)],
    ["keepCallAlive", String(options.keepCallAlive ?? true)],
    ["contentType", contentType],
  ];
  if (options.extraHeaders) {
    attrs.push(["extraHeaders", formatExtraHeaders(options.extraHeaders)]);
  }
  if (options.streamTimeout !== undefined) {
    if (
      !Number.isInteger(options.streamTimeout) || options.streamTimeout <= 0
    ) {
      throw new TypeError(
        `streamTimeout must be a positive whole number of seconds, got ` +
          previewValue(options.streamTimeout),
      );
    }
    attrs.push(["streamTimeout", String(options.streamTimeout)]);
  }
  if (options.statusCallbackUrl !== undefined) {
    attrs.push(["statusCallbackUrl", options.statusCallbackUrl]);
    attrs.push([
      "statusCallbackMethod",
      options.statusCallbackMethod ?? "POST",
    ]);
  }
  const attrText = attrs.map(([k, v]) => ` ${k}="${escapeXml(v)}"`).join("");
  const speak = options.speak
    ? `<Speak>${escapeXml(options.speak)}</Speak>`
    : "";
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Response>${speak}` +
    `<Stream${attrText}>${escapeXml(streamUrl)}</Stream></Response>`;
}

function formatExtraHeaders(headers: Record<string, string>): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(headers)) {
    if (!/^[A-Za-z0-9]+$/.test(key) || !/^[A-Za-z0-9]*$/.test(value)) {
      throw new TypeError(
        `extraHeaders ${previewValue(key)}=${
          previewValue(value)
        }: Plivo allows only letters and digits in names and values; ` +
          `encode other values (e.g. hex) or look them up by call id`,
      );
    }
    parts.push(`${key}=${value}`);
  }
  const text = parts.join(",");
  if (new TextEncoder().encode(text).length > 512) {
    throw new TypeError(
      `extraHeaders are ${text.length} bytes; Plivo allows 512 at most`,
    );
  }
  return text;
}

/** Options of {@linkcode verifyPlivoSignatureV3}. */
export interface PlivoSignatureOptions {
  /** The (sub)account Auth Token (main-account token for `-Ma-V3`). */
  authToken: string;
  /**
   * The URL Plivo requested, with scheme, host, port, path and query string
   * as Plivo saw them (behind a proxy, the public URL).
   */
  url: string;
  /** The request method: `GET` or `POST`. */
  method: string;
  /** POST form parameters (empty for GET and the WebSocket upgrade). */
  params?: Record<string, string | string[]>;
  /** The `X-Plivo-Signature-V3-Nonce` header. */
  nonce: string | null;
  /**
   * The `X-Plivo-Signature-V3` (or `X-Plivo-Signature-Ma-V3`) header: one
   * or more comma-separated base64 signatures.
   */
  signature: string | null;
}

/**
 * Checks Plivo's V3 request signature with WebCrypto.
 *
 * The signed string is the request URL with its query parameters sorted by
 * name (then value) as `k=v&k=v`; for POST, the form parameters sorted by
 * name are appended as `kv` pairs after `?` (after `.` when the URL has a
 * query string); then `.` and the nonce. The signature is the base64
 * HMAC-SHA256 of that string keyed with the Auth Token. The header may hold
 * several comma-separated signatures; any one matching is enough.
 *
 * @example
 * ```ts
 * import { verifyPlivoSignatureV3 } from "./plivo.ts";
 * const ok = await verifyPlivoSignatureV3({
 *   authToken: "token",
 *   url: "https://bot.example.com/telephone/plivo/incoming",
 *   method: "POST",
 *   params: { CallUUID: "c0a8-01" },
 *   nonce: "12345",
 *   signature: "forged",
 * });
 * // ok === false
 * ```
 *
 * @param options Token, URL, method, parameters, nonce and signature.
 * @returns Whether one of the signatures is valid; false when a header is
 *   missing or the method is neither GET nor POST.
 */
export async function verifyPlivoSignatureV3(
  options: PlivoSignatureOptions,
): Promise<boolean> {
  const { signature, nonce, authToken } = options;
  if (!signature || !nonce || !authToken) return false;
  const method = options.method.toUpperCase();
  if (method !== "GET" && method !== "POST") return false;
  const base = plivoSignedBase(options.url, method, options.params ?? {});
  const expected = encodeBase64(
    await hmac("SHA-256", authToken, `${base}.${nonce}`),
  );
  let ok = false;
  for (const candidate of signature.split(",")) {
    if (constantTimeEqual(candidate.trim(), expected)) ok = true;
  }
  return ok;
}

/** The string Plivo signs before `.nonce` (see verifyPlivoSignatureV3). */
function plivoSignedBase(
  url: string,
  method: "GET" | "POST",
  params: Record<string, string | string[]>,
): string {
  const noFragment = url.split("#")[0];
  const q = noFragment.indexOf("?");
  const base = q < 0 ? noFragment : noFragment.slice(0, q);
  const query: Record<string, string[]> = {};
  if (q >= 0) {
    for (const [k, v] of new URLSearchParams(noFragment.slice(q + 1))) {
      (query[k] ??= []).push(v);
    }
  }
  const asLists = (p: Record<string, string | string[]>) =>
    Object.fromEntries(
      Object.entries(p).map(([k, v]) => [k, Array.isArray(v) ? v : [v]]),
    );
  if (method === "GET") {
    for (const [k, v] of Object.entries(asLists(params))) {
      (query[k] ??= []).push(...v);
    }
    const qs = sortedPairs(query, "=", "&");
    return qs ? `${base}?${qs}` : base;
  }
  const qs = sortedPairs(query, "=", "&");
  const post = sortedPairs(asLists(params), "", "");
  if (Object.keys(params).length === 0) return qs ? `${base}?${qs}` : base;
  return `${base}?${qs}${qs ? "." : ""}${post}`;
}

function sortedPairs(
  params: Record<string, string[]>,
  between: string,
  separator: string,
): string {
  const out: string[] = [];
  for (const key of Object.keys(params).sort()) {
    for (const value of [...params[key]].sort()) {
      out.push(`${key}${between}${value}`);
    }
  }
  return out.join(separator);
}
