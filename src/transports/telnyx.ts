/**
 * Telnyx media streaming over a WebSocket, written from Telnyx's published
 * docs ("Media Streaming over WebSockets", the media streaming AsyncAPI
 * reference and the TeXML `<Stream>` / `<Connect>` pages).
 *
 * Inbound JSON text frames: `connected`, `start` (top-level `stream_id`;
 * `start.call_control_id`, `user_id`, `from`, `to`, `custom_parameters`,
 * `media_format` `{encoding, sample_rate, channels}`), `media` (base64 RTP
 * payload without headers in `media.payload`, with `media.track`), `dtmf`
 * (`dtmf.digit`), `mark` (a mark we sent has played, or was flushed by a
 * `clear`), `error` (`payload.code/title/detail`) and `stop`. Outbound, with
 * bidirectional RTP mode on: `media` (`media.payload`, base64), `mark`
 * (`mark.name`) and `clear`.
 *
 * Encodings decoded: PCMU (G.711 μ-law), PCMA (G.711 A-law), both 8 kHz, and
 * L16 (16-bit linear PCM, network byte order — big-endian — as RTP's L16
 * payload is) at any rate from 8 to 48 kHz. G722, OPUS and AMR-WB calls are
 * refused at `start` with a reason that says which attribute to change.
 *
 * The outbound encoding is not announced on the socket: it is what the
 * answer document set (`bidirectionalCodec` / `bidirectionalSamplingRate` in
 * TeXML, `stream_bidirectional_codec` / `stream_bidirectional_sampling_rate`
 * in Call Control), PCMU at 8000 Hz when left out, so
 * {@linkcode createTelnyxCodec} takes it as options with the same defaults,
 * and {@linkcode buildTelnyxTexml} writes the same defaults out explicitly.
 *
 * Telnyx's docs warn that media frame order is not guaranteed (frames
 * carry `media.chunk`, `media.timestamp` and `sequence_number`). The codec
 * decodes frames in arrival order and does not reorder: one WebSocket
 * delivers messages in the order Telnyx sent them, and a reorder buffer
 * would add its depth to every reply's latency.
 *
 * Webhooks (the TeXML request, call events) are signed with Ed25519:
 * {@linkcode verifyTelnyxSignature} checks `telnyx-signature-ed25519` over
 * `telnyx-timestamp|body` with the account's public key.
 *
 * @module
 */

import { errorText } from "../_internal/errors.ts";
import { decodeAlaw, encodeAlaw } from "../audio/alaw.ts";
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

/** Audio encodings Parley's Telnyx codec decodes and encodes. */
export type TelnyxEncoding = "PCMU" | "PCMA" | "L16";

/** Options of {@linkcode createTelnyxCodec}. */
export interface TelnyxCodecOptions {
  /**
   * Encoding of the audio Parley sends back: must match the answer
   * document's `bidirectionalCodec` (TeXML) or `stream_bidirectional_codec`
   * (Call Control). Default `"PCMU"`, Telnyx's own default.
   */
  outboundEncoding?: TelnyxEncoding;
  /**
   * Rate of the audio Parley sends back, in Hz: must match
   * `bidirectionalSamplingRate` / `stream_bidirectional_sampling_rate`.
   * PCMU and PCMA are always 8000; L16 may be 8000 to 48000. Default 8000.
   */
  outboundSampleRate?: number;
  /**
   * Byte order of L16 samples both ways. Default `"big"` (network order, as
   * RTP's L16 payload format defines it); `"little"` is an escape hatch for
   * a deployment that turns out to send host-order samples.
   */
  l16ByteOrder?: "big" | "little";
}

/** Lowest and highest L16 rate accepted, in Hz. */
const L16_MIN_RATE = 8000;
const L16_MAX_RATE = 48000;
/** G.711 is defined at 8 kHz only. */
const G711_RATE = 8000;

/**
 * Makes a pure codec for one Telnyx media streaming connection, for the
 * socket adapter to drive. Make one per connection: it remembers the
 * stream's encoding and id.
 *
 * @example Decode a start and a 20 ms PCMU frame, answer with audio
 * ```ts
 * import { createTelnyxCodec } from "@parley/parley/transports";
 *
 * const codec = createTelnyxCodec();
 * const [start] = codec.decode(JSON.stringify({
 *   event: "start",
 *   stream_id: "32DE0DEA-53CB-4B21-89A4-9E1819C043BC",
 *   start: {
 *     call_control_id: "v3:abc",
 *     media_format: { encoding: "PCMU", sample_rate: 8000, channels: 1 },
 *   },
 * }));
 * // start.kind === "start", start.call.inputRate === 8000
 * const [audio] = codec.decode(JSON.stringify({
 *   event: "media",
 *   stream_id: "32DE0DEA-53CB-4B21-89A4-9E1819C043BC",
 *   media: { track: "inbound", payload: btoa("\xff".repeat(160)) },
 * }));
 * // audio.kind === "audio", 160 samples of silence
 * const reply = codec.encodeAudio(new Int16Array(160));
 * // '{"event":"media","media":{"payload":"//////…"}}'
 * ```
 *
 * @param options The outbound encoding (what the answer document set).
 * @returns A new codec.
 * @throws {TypeError} If an option has the wrong type or value.
 * @throws {RangeError} If the outbound rate does not fit the encoding.
 */
export function createTelnyxCodec(options: TelnyxCodecOptions = {}): WireCodec {
  const encoding = options.outboundEncoding ?? "PCMU";
  if (encoding !== "PCMU" && encoding !== "PCMA" && encoding !== "L16") {
    throw new TypeError(
      `createTelnyxCodec(): outboundEncoding must be "PCMU", "PCMA" or ` +
        `"L16", got ${describe(encoding)}`,
    );
  }
  const rate = options.outboundSampleRate ?? G711_RATE;
  if (encoding === "L16") {
    if (!Number.isInteger(rate) || rate < L16_MIN_RATE || rate > L16_MAX_RATE) {
      throw new RangeError(
        `createTelnyxCodec(): outboundSampleRate for L16 must be an integer ` +
          `from ${L16_MIN_RATE} to ${L16_MAX_RATE} Hz, got ${String(rate)}`,
      );
    }
  } else if (rate !== G711_RATE) {
    throw new RangeError(
      `createTelnyxCodec(): ${encoding} is 8000 Hz only, got ` +
        `outboundSampleRate ${String(rate)}; use L16 for other rates`,
    );
  }
  const order = options.l16ByteOrder ?? "big";
  if (order !== "big" && order !== "little") {
    throw new TypeError(
      `createTelnyxCodec(): l16ByteOrder must be "big" or "little", got ` +
        `${describe(order)}`,
    );
  }
  return new TelnyxCodec(encoding, rate, order === "little");
}

class TelnyxCodec implements WireCodec {
  readonly protocol = "telnyx";
  #outEncoding: TelnyxEncoding;
  #outRate: number;
  #littleEndian: boolean;
  #inEncoding: TelnyxEncoding | null = null;
  #streamId = "";
  #stopped = false;
  /** An odd L16 byte left over from the previous media payload. */
  #carry: Uint8Array | null = null;

  constructor(encoding: TelnyxEncoding, rate: number, littleEndian: boolean) {
    this.#outEncoding = encoding;
    this.#outRate = rate;
    this.#littleEndian = littleEndian;
  }

  get started(): boolean {
    return this.#inEncoding !== null;
  }

  decode(message: WireMessage): Decoded[] {
    try {
      return this.#decode(message);
    } catch (e) {
      // Nothing above should throw; this keeps the "never throws" promise
      // even if a check was missed.
      return [{
        kind: "error",
        reason: `Telnyx message could not be decoded: ${errorText(e)}`,
      }];
    }
  }

  #decode(message: WireMessage): Decoded[] {
    const parsed = parseJsonFrame(message, "Telnyx");
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
      case "error": {
        const p = isRecord(msg.payload) ? msg.payload : {};
        const code = typeof p.code === "number" || typeof p.code === "string"
          ? String(p.code).slice(0, 16)
          : "?";
        const title = typeof p.title === "string" ? p.title : "";
        const detail = typeof p.detail === "string" ? p.detail : "";
        return [{
          kind: "error",
          reason: `Telnyx reported stream error ${code}` +
            (title ? ` ${preview(title)}` : "") +
            (detail ? `: ${preview(detail)}` : ""),
        }];
      }
      case "stop":
        if (!this.started) return [notStarted("stop")];
        if (this.#stopped) {
          return [{ kind: "error", reason: "second stop message ignored" }];
        }
        this.#stopped = true;
        return [{ kind: "stop", reason: "Telnyx sent stop" }];
      default:
        return [{
          kind: "error",
          reason:
            `unknown Telnyx event ${
              preview(event)
            } ignored; expected connected, start, media, dtmf, mark, error ` +
            `or stop`,
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
    const streamId = checkId(msg.stream_id, "stream_id");
    if (!streamId.ok) return fail(streamId.reason);
    const callControlId = checkOptionalId(
      start.call_control_id,
      "start.call_control_id",
    );
    if (!callControlId.ok) return fail(callControlId.reason);
    const userId = checkOptionalId(start.user_id, "start.user_id");
    if (!userId.ok) return fail(userId.reason);
    const from = checkOptionalId(start.from, "start.from");
    if (!from.ok) return fail(from.reason);
    const to = checkOptionalId(start.to, "start.to");
    if (!to.ok) return fail(to.reason);
    const session = checkOptionalId(
      start.call_session_id,
      "start.call_session_id",
    );
    if (!session.ok) return fail(session.reason);

    const format = isRecord(start.media_format) ? start.media_format : {};
    const rawEncoding = format.encoding;
    if (typeof rawEncoding !== "string") {
      return fail(
        `start.media_format.encoding is ${
          describe(rawEncoding)
        }; Telnyx announces PCMU, PCMA or L16 there`,
      );
    }
    const encoding = rawEncoding.toUpperCase();
    if (encoding !== "PCMU" && encoding !== "PCMA" && encoding !== "L16") {
      return fail(
        `the stream's audio is ${
          preview(rawEncoding)
        }, which Parley does not decode; set codec="PCMU" (or PCMA, L16) on ` +
          `the TeXML <Stream>, or stream_codec in Call Control`,
      );
    }
    const channels = format.channels === undefined
      ? 1
      : readInteger(format.channels);
    if (channels !== 1) {
      return fail(
        `start.media_format.channels is ${
          describe(format.channels)
        }; Parley takes mono (1) audio`,
      );
    }
    let inputRate: number;
    if (encoding === "L16") {
      const rate = readInteger(format.sample_rate);
      if (rate === undefined || rate < L16_MIN_RATE || rate > L16_MAX_RATE) {
        return fail(
          `L16 needs start.media_format.sample_rate from ${L16_MIN_RATE} to ` +
            `${L16_MAX_RATE} Hz, got ${describe(format.sample_rate)}`,
        );
      }
      inputRate = rate;
    } else {
      const rate = format.sample_rate === undefined
        ? G711_RATE
        : readInteger(format.sample_rate);
      if (rate !== G711_RATE) {
        return fail(
          `${encoding} is 8000 Hz audio, but start.media_format.sample_rate ` +
            `is ${describe(format.sample_rate)}`,
        );
      }
      inputRate = G711_RATE;
    }

    const custom = readCustomParameters(start.custom_parameters);
    const extra: Record<string, unknown> = {
      encoding,
      outboundEncoding: this.#outEncoding,
    };
    if (session.value) extra.callSessionId = session.value;
    if (typeof start.client_state === "string") {
      extra.clientState = start.client_state.slice(0, 4096);
    }
    if (Array.isArray(start.tags)) {
      extra.tags = start.tags.filter((t): t is string =>
        typeof t === "string" && t.length <= 128
      ).slice(0, 32);
    }
    const call: CallStart = {
      callId: streamId.value,
      customParameters: custom.params,
      inputRate,
      outputRate: this.#outRate,
      extra,
    };
    if (callControlId.value) call.carrierCallId = callControlId.value;
    if (userId.value) call.accountId = userId.value;
    if (from.value) call.from = from.value;
    if (to.value) call.to = to.value;

    this.#inEncoding = encoding;
    this.#streamId = streamId.value;
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
    const track = media.track;
    // With stream_track=both_tracks Telnyx also streams what the caller
    // hears, which is Parley's own audio: not caller input.
    if (track === "outbound") return [];
    if (track !== undefined && track !== "inbound") {
      return [{
        kind: "error",
        reason: `media.track is ${
          describe(track)
        }; expected "inbound" or "outbound"`,
      }];
    }
    if (
      msg.stream_id !== undefined && msg.stream_id !== this.#streamId
    ) {
      return [{
        kind: "error",
        reason: `media for another stream_id (${
          typeof msg.stream_id === "string"
            ? preview(msg.stream_id)
            : describe(msg.stream_id)
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
    switch (this.#inEncoding) {
      case "PCMU":
        samples = decodeMulaw(bytes);
        break;
      case "PCMA":
        samples = decodeAlaw(bytes);
        break;
      default: {
        if (this.#carry) {
          const joined = new Uint8Array(bytes.length + 1);
          joined[0] = this.#carry[0];
          joined.set(bytes, 1);
          bytes = joined;
          this.#carry = null;
        }
        const pcm = decodePcm16(bytes, this.#littleEndian);
        this.#carry = pcm.rest;
        samples = pcm.samples;
      }
    }
    if (samples.length === 0) return [];
    return [{ kind: "audio", samples }];
  }

  encodeAudio(samples: Int16Array): WireMessage {
    let bytes: Uint8Array;
    if (this.#outEncoding === "PCMU") bytes = encodeMulaw(samples);
    else if (this.#outEncoding === "PCMA") bytes = encodeAlaw(samples);
    else bytes = encodePcm16(samples, this.#littleEndian);
    return JSON.stringify({
      event: "media",
      media: { payload: encodeBase64(bytes) },
    });
  }

  encodeMark(name: string): WireMessage {
    return JSON.stringify({ event: "mark", mark: { name } });
  }

  encodeClear(): WireMessage {
    return JSON.stringify({ event: "clear" });
  }
}

function notStarted(event: string): Decoded {
  return {
    kind: "error",
    reason: `${event} before start ignored; Telnyx sends start first`,
  };
}

/** Options of {@linkcode buildTelnyxTexml}. */
export interface TelnyxTexmlOptions {
  /** The media socket, `wss://HOST/telephone/telnyx/handler` (ws:// too). */
  streamUrl: string;
  /**
   * `"connect"` (default): `<Connect><Stream>`, the call stays on the stream
   * until it ends (synchronous, like Twilio's `<Connect>`). `"start"`:
   * `<Start><Stream>` then `<Pause>`, for documents that go on afterwards.
   */
  verb?: "connect" | "start";
  /** Which audio Telnyx streams. Default `"inbound_track"` (the caller). */
  track?: "inbound_track" | "outbound_track" | "both_tracks";
  /**
   * Codec of the streamed (inbound) audio. Default: left out, so Telnyx
   * streams the call's own codec; the codec decodes what `start` announces.
   */
  codec?: TelnyxEncoding;
  /**
   * Codec of the audio Parley sends back. Default `"PCMU"`. Pass the same
   * value as `outboundEncoding` to {@linkcode createTelnyxCodec}.
   */
  bidirectionalCodec?: TelnyxEncoding;
  /**
   * Rate of the audio Parley sends back, in Hz. Default 8000. Pass the same
   * value as `outboundSampleRate` to {@linkcode createTelnyxCodec}.
   */
  bidirectionalSamplingRate?: number;
  /** A name for the stream. */
  name?: string;
  /** `<Parameter>` values, delivered in `start.custom_parameters`. */
  parameters?: Record<string, string>;
  /** URL for the stream's status callbacks (`stream-started`, …). */
  statusCallback?: string;
  /** HTTP method of the status callbacks. */
  statusCallbackMethod?: "GET" | "POST";
  /**
   * With `verb: "start"`, seconds of `<Pause>` that keep the call up while
   * the stream runs. Default 3600.
   */
  pauseSeconds?: number;
}

/**
 * Builds the TeXML answer document that streams a call to Parley with
 * bidirectional RTP media (`bidirectionalMode="rtp"`; Telnyx's default,
 * `mp3`, only plays whole files and cannot carry a conversation).
 *
 * @example Answer a Telnyx TeXML webhook
 * ```ts
 * import { buildTelnyxTexml } from "@parley/parley/transports";
 * const xml = buildTelnyxTexml({
 *   streamUrl: "wss://bot.example.com/telephone/telnyx/handler",
 *   parameters: { lang: "en" },
 * });
 * // <?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream
 * //   url="wss://bot.example.com/telephone/telnyx/handler" …
 * const response = new Response(xml, {
 *   headers: { "content-type": "application/xml" },
 * });
 * ```
 *
 * @param options The stream URL and `<Stream>` attributes.
 * @returns The TeXML document.
 * @throws {TypeError} If `streamUrl` is not a ws:// or wss:// URL, or an
 *   option has a value TeXML does not take.
 */
export function buildTelnyxTexml(options: TelnyxTexmlOptions): string {
  if (!isRecord(options)) {
    throw new TypeError(
      "buildTelnyxTexml() expects an options object with a streamUrl",
    );
  }
  const url = parseUrl(options.streamUrl, "streamUrl", ["ws:", "wss:"]);
  const verb = options.verb ?? "connect";
  if (verb !== "connect" && verb !== "start") {
    throw new TypeError(
      `buildTelnyxTexml(): verb must be "connect" or "start", got ` +
        `${describe(verb)}`,
    );
  }
  const track = options.track ?? "inbound_track";
  if (!["inbound_track", "outbound_track", "both_tracks"].includes(track)) {
    throw new TypeError(
      `buildTelnyxTexml(): track must be inbound_track, outbound_track or ` +
        `both_tracks, got ${describe(track)}`,
    );
  }
  const checkEncoding = (value: unknown, field: string) => {
    if (value !== "PCMU" && value !== "PCMA" && value !== "L16") {
      throw new TypeError(
        `buildTelnyxTexml(): ${field} must be "PCMU", "PCMA" or "L16" (the ` +
          `encodings Parley decodes), got ${describe(value)}`,
      );
    }
  };
  if (options.codec !== undefined) checkEncoding(options.codec, "codec");
  const biCodec = options.bidirectionalCodec ?? "PCMU";
  checkEncoding(biCodec, "bidirectionalCodec");
  const biRate = options.bidirectionalSamplingRate ?? G711_RATE;
  if (
    !Number.isInteger(biRate) ||
    (biCodec === "L16"
      ? biRate < L16_MIN_RATE || biRate > L16_MAX_RATE
      : biRate !== G711_RATE)
  ) {
    throw new TypeError(
      `buildTelnyxTexml(): bidirectionalSamplingRate ${
        String(biRate)
      } does not fit ${biCodec} (G.711 is 8000 Hz; L16 8000 to 48000 Hz)`,
    );
  }

  const attrs: [string, string][] = [["url", url]];
  if (options.name !== undefined) attrs.push(["name", String(options.name)]);
  attrs.push(["track", track]);
  if (options.codec !== undefined) attrs.push(["codec", options.codec]);
  attrs.push(["bidirectionalMode", "rtp"]);
  attrs.push(["bidirectionalCodec", biCodec]);
  attrs.push(["bidirectionalSamplingRate", String(biRate)]);
  if (options.statusCallback !== undefined) {
    attrs.push([
      "statusCallback",
      parseUrl(options.statusCallback, "statusCallback", ["http:", "https:"]),
    ]);
  }
  if (options.statusCallbackMethod !== undefined) {
    if (
      options.statusCallbackMethod !== "GET" &&
      options.statusCallbackMethod !== "POST"
    ) {
      throw new TypeError(
        `buildTelnyxTexml(): statusCallbackMethod must be "GET" or "POST", ` +
          `got ${describe(options.statusCallbackMethod)}`,
      );
    }
    attrs.push(["statusCallbackMethod", options.statusCallbackMethod]);
  }
  const open = `<Stream ${
    attrs.map(([k, v]) => `${k}="${escapeXml(v)}"`).join(" ")
  }`;
  const params = Object.entries(options.parameters ?? {}).map(([k, v]) =>
    `<Parameter name="${escapeXml(String(k))}" value="${
      escapeXml(String(v))
    }"/>`
  ).join("");
  const stream = params ? `${open}>${params}</Stream>` : `${open}/>`;
  let body: string;
  if (verb === "connect") {
    body = `<Connect>${stream}</Connect>`;
  } else {
    const pause = options.pauseSeconds ?? 3600;
    if (!Number.isInteger(pause) || pause < 1) {
      throw new TypeError(
        `buildTelnyxTexml(): pauseSeconds must be a positive integer, got ` +
          `${describe(pause)}`,
      );
    }
    body = `<Start>${stream}</Start><Pause length="${pause}"/>`;
  }
  return `<?xml version="1.0" encoding="UTF-8"?><Response>${body}</Response>`;
}

/** What {@linkcode verifyTelnyxSignature} checks. */
export interface TelnyxSignatureCheck {
  /**
   * The account's Ed25519 public key as Telnyx shows it (base64 of the
   * 32-byte key; base64 of its 44-byte DER SubjectPublicKeyInfo is accepted
   * too), or a `CryptoKey` already imported for `Ed25519` verify.
   */
  publicKey: string | CryptoKey;
  /** The `telnyx-signature-ed25519` header (base64), or null if absent. */
  signature: string | null | undefined;
  /** The `telnyx-timestamp` header (Unix seconds), or null if absent. */
  timestamp: string | null | undefined;
  /**
   * The request body exactly as received (`await request.text()` or the
   * raw bytes): a re-serialized JSON body will not verify.
   */
  body: string | Uint8Array;
  /** Largest accepted age (or clock skew) of the timestamp, in seconds. Default 300. */
  toleranceSec?: number;
  /** The current time in ms since the epoch (for tests). Default `Date.now()`. */
  now?: number;
}

/** The outcome of {@linkcode verifyTelnyxSignature}. */
export type TelnyxSignatureResult =
  | {
    /** The signature is Telnyx's and the timestamp is fresh. */
    valid: true;
  }
  | {
    /** The request must be refused (HTTP 403). */
    valid: false;
    /** Why, for the server's log (not for the caller). */
    reason: string;
  };

/**
 * Verifies a Telnyx webhook signature: Ed25519 over the bytes of
 * `` `${timestamp}|${body}` `` with the account's public key (Mission
 * Control Portal → Keys & Credentials → Public Key), and a timestamp no
 * further than `toleranceSec` from now, which stops replays. Uses WebCrypto.
 *
 * @example Guard a TeXML webhook
 * ```ts
 * import { buildTelnyxTexml, verifyTelnyxSignature } from "@parley/parley/transports";
 *
 * async function answer(request: Request): Promise<Response> {
 *   const body = await request.text();
 *   const check = await verifyTelnyxSignature({
 *     publicKey: Deno.env.get("TELNYX_PUBLIC_KEY") ?? "",
 *     signature: request.headers.get("telnyx-signature-ed25519"),
 *     timestamp: request.headers.get("telnyx-timestamp"),
 *     body,
 *   });
 *   if (!check.valid) {
 *     console.warn(`telnyx webhook refused: ${check.reason}`);
 *     return new Response("forbidden", { status: 403 });
 *   }
 *   return new Response(
 *     buildTelnyxTexml({ streamUrl: "wss://bot.example.com/telephone/telnyx/handler" }),
 *     { headers: { "content-type": "application/xml" } },
 *   );
 * }
 * ```
 *
 * @param check The key, the two headers and the raw body.
 * @returns Whether the request is Telnyx's, and if not, why.
 * @throws {TypeError} If `publicKey` is not an Ed25519 public key (a
 *   configuration error, not a bad request).
 */
export async function verifyTelnyxSignature(
  check: TelnyxSignatureCheck,
): Promise<TelnyxSignatureResult> {
  const key = await importPublicKey(check.publicKey);
  const tolerance = check.toleranceSec ?? 300;
  if (!Number.isFinite(tolerance) || tolerance < 0) {
    throw new TypeError(
      `verifyTelnyxSignature(): toleranceSec must be a number of seconds ` +
        `>= 0, got ${describe(tolerance)}`,
    );
  }
  const { signature, timestamp } = check;
  if (typeof signature !== "string" || signature.length === 0) {
    return {
      valid: false,
      reason: "the telnyx-signature-ed25519 header is missing",
    };
  }
  if (typeof timestamp !== "string" || timestamp.length === 0) {
    return { valid: false, reason: "the telnyx-timestamp header is missing" };
  }
  if (!/^[0-9]{1,12}$/.test(timestamp)) {
    return {
      valid: false,
      reason: `the telnyx-timestamp header ${
        preview(timestamp)
      } is not Unix seconds`,
    };
  }
  const now = check.now ?? Date.now();
  const age = now / 1000 - Number(timestamp);
  if (Math.abs(age) > tolerance) {
    return {
      valid: false,
      reason:
        `the telnyx-timestamp is ${Math.round(Math.abs(age))} s ${
          age >= 0 ? "old" : "in the future"
        }, beyond the ${tolerance} s ` +
        `tolerance (a replay, or a clock that is off)`,
    };
  }
  let sig: Uint8Array;
  try {
    sig = decodeBase64(signature);
  } catch {
    return {
      valid: false,
      reason: "the telnyx-signature-ed25519 header is not base64",
    };
  }
  if (sig.length !== 64) {
    return {
      valid: false,
      reason: `the signature is ${sig.length} bytes; Ed25519 signatures ` +
        `are 64`,
    };
  }
  const enc = new TextEncoder();
  const head = enc.encode(`${timestamp}|`);
  const body = typeof check.body === "string"
    ? enc.encode(check.body)
    : check.body;
  if (!(body instanceof Uint8Array)) {
    throw new TypeError(
      "verifyTelnyxSignature(): body must be the raw request body as a " +
        "string or Uint8Array",
    );
  }
  const signed = new Uint8Array(head.length + body.length);
  signed.set(head);
  signed.set(body, head.length);
  const ok = await crypto.subtle.verify(
    { name: "Ed25519" },
    key,
    sig as Uint8Array<ArrayBuffer>,
    signed,
  );
  return ok ? { valid: true } : {
    valid: false,
    reason: "the signature does not match the body and timestamp (forged, " +
      "altered, or signed with another account's key)",
  };
}

/** DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410). */
const SPKI_PREFIX = Uint8Array.of(
  ...[0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00],
);
/** Imported keys, by their base64 text (a server uses one or two). */
const keyCache = new Map<string, CryptoKey>();

async function importPublicKey(
  publicKey: string | CryptoKey,
): Promise<CryptoKey> {
  if (typeof CryptoKey !== "undefined" && publicKey instanceof CryptoKey) {
    if (publicKey.algorithm.name !== "Ed25519" || publicKey.type !== "public") {
      throw new TypeError(
        "verifyTelnyxSignature(): publicKey must be an Ed25519 public key",
      );
    }
    return publicKey;
  }
  if (typeof publicKey !== "string" || publicKey.trim() === "") {
    throw new TypeError(
      "verifyTelnyxSignature(): publicKey is empty; set it to the public " +
        "key from the Telnyx portal (Keys & Credentials → Public Key)",
    );
  }
  const text = publicKey.trim();
  const cached = keyCache.get(text);
  if (cached) return cached;
  let raw: Uint8Array;
  try {
    raw = decodeBase64(text);
  } catch {
    throw new TypeError(
      "verifyTelnyxSignature(): publicKey is not base64; paste the public " +
        "key exactly as the Telnyx portal shows it",
    );
  }
  if (raw.length === 44 && SPKI_PREFIX.every((b, i) => raw[i] === b)) {
    raw = raw.slice(12);
  }
  if (raw.length !== 32) {
    throw new TypeError(
      `verifyTelnyxSignature(): publicKey decodes to ${raw.length} bytes; ` +
        `an Ed25519 public key is 32 bytes`,
    );
  }
  const key = await crypto.subtle.importKey(
    "raw",
    raw as Uint8Array<ArrayBuffer>,
    { name: "Ed25519" },
    false,
    ["verify"],
  );
  if (keyCache.size >= 8) keyCache.clear();
  keyCache.set(text, key);
  return key;
}

function parseUrl(value: unknown, field: string, schemes: string[]): string {
  if (typeof value !== "string") {
    throw new TypeError(
      `buildTelnyxTexml(): ${field} must be a URL string, got ` +
        `${describe(value)}`,
    );
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TypeError(
      `buildTelnyxTexml(): ${field} ${preview(value)} is not an absolute URL`,
    );
  }
  if (!schemes.includes(url.protocol)) {
    throw new TypeError(
      `buildTelnyxTexml(): ${field} must use ${
        schemes.map((s) => s.slice(0, -1)).join(" or ")
      }, got ${url.protocol.slice(0, -1)}`,
    );
  }
  return value;
}

const XML_ENTITIES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&apos;",
};

function escapeXml(text: string): string {
  // XML 1.0 cannot carry most control characters, even escaped.
  // deno-lint-ignore no-control-regex
  return text.replace(/[\x00-\x08\x0b\x0c\x0e-\x1f]/g, "")
    .replace(/[&<>"']/g, (c) => XML_ENTITIES[c]);
}
