/**
 * SignalWire Compatibility API (cXML) bidirectional Media Streams: the wire
 * codec, the cXML answer and the `X-SignalWire-Signature` check.
 *
 * SignalWire's streams are modelled on Twilio's Media Streams, so this is a
 * small Twilio-shaped codec of its own (it does not share Parley's Twilio
 * transport, which is being rewritten). Written from SignalWire's docs:
 * - cXML `<Stream>` (developer.signalwire.com/compatibility-api/cxml/voice/stream,
 *   signalwire/docs `website/docs/main/compatibility-api/cxml/voice/stream.mdx`)
 *   and `<Connect>` (…/cxml/voice/connect: `<Connect><Stream>` makes the
 *   stream bidirectional)
 * - Webhook security (developer.signalwire.com/guides/webhook-security) and
 *   the server SDKs' `validate_webhook_signature` / `validate_request`
 *   reference (signalwire.com/docs/server-sdks/reference/python/core/security)
 *
 * Every difference from Twilio found in those docs:
 * 1. **Signature header and key.** `X-SignalWire-Signature` (SignalWire also
 *    sends or accepts `X-Twilio-Signature` as an alias). The key is the
 *    project's **Signing Key** from the Dashboard's API Credentials, not an
 *    Auth Token. The cXML scheme is Twilio's — base64 HMAC-SHA1 over the URL
 *    followed by the POST parameters sorted by name as `namevalue` — and
 *    SignalWire's validators also try the URL with and without the default
 *    port (`:443`/`:80`). JSON callbacks use a second scheme: lowercase hex
 *    HMAC-SHA1 over the URL followed by the raw body. Both are checked by
 *    {@linkcode verifySignalWireSignature}.
 * 2. **WebSocket authentication.** `<Stream authBearerToken="…">` makes
 *    SignalWire send `Authorization: Bearer …` on the WebSocket upgrade
 *    (Twilio signs the upgrade with `X-Twilio-Signature` instead); check it
 *    with {@linkcode isValidSignalWireBearer}.
 * 3. **Codecs.** `<Stream codec="…">`: `PCMU@8000h` (default, μ-law like
 *    Twilio), `L16@16000h` and `L16@24000h` (16-bit linear PCM; Twilio has
 *    no L16). `start.mediaFormat.encoding` is then `audio/x-L16` with
 *    `sampleRate` 16000 or 24000, and outbound `media` must be L16 at the
 *    same rate. The byte order of L16 is not documented: little-endian is the
 *    default here, `l16ByteOrder` changes it.
 * 4. **Message envelope.** SignalWire's examples show every inbound message
 *    wrapped as `{timestamp, direction, eventType, streamSid, sequenceNumber,
 *    rawEvent: {event, …Twilio-shaped fields}}`. The codec accepts both that
 *    envelope (it reads `rawEvent`) and bare Twilio-shaped messages.
 * 5. **`clear` is acknowledged.** SignalWire sends a `clear` event back after
 *    a clear and returns pending marks for the flushed audio (Twilio sends
 *    neither); the `clear` acknowledgement decodes to nothing, the returned
 *    marks to `played`.
 * 6. **Ids and numbers.** `streamSid`, `callSid` and `accountSid` are UUIDs
 *    (not `MZ…`/`CA…`/`AC…`); the `connected` message says version `0.2.0`;
 *    `media.chunk`, `media.timestamp` and `sequenceNumber` are strings.
 * 7. **`<Stream>` attributes.** Beyond Twilio's `url`, `name`, `track`,
 *    `statusCallback`, `statusCallbackMethod` and `<Parameter>`: `codec`,
 *    `authBearerToken` and `realtime` (manage packet delay and bursts on a
 *    bidirectional stream). The URL must be `wss://` (SignalWire does not
 *    connect to `ws://`) and take no query string.
 *
 * Unchanged from Twilio: `connected`, `start` (`streamSid`, `callSid`,
 * `accountSid`, `tracks`, `customParameters`, `mediaFormat`), `media`
 * (`track`, `chunk`, `timestamp`, base64 `payload`), `dtmf` (`digit`,
 * `duration`), `mark`, `stop` inbound; `media`, `mark`, `clear` outbound,
 * each with `streamSid`.
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
  sha256Hex,
  toHex,
} from "./_carrier_wire.ts";

/** Codecs of a SignalWire `<Stream>`. */
export type SignalWireCodecName = "PCMU@8000h" | "L16@16000h" | "L16@24000h";

/** Options of {@linkcode createSignalWireCodec}. */
export interface SignalWireCodecOptions {
  /** Byte order of `audio/x-L16` samples (default `"little"`). */
  l16ByteOrder?: "little" | "big";
}

/**
 * Creates a codec for one SignalWire bidirectional stream connection.
 *
 * @example
 * ```ts
 * import { createSignalWireCodec } from "./signalwire.ts";
 * const codec = createSignalWireCodec();
 * const [start] = codec.decode(JSON.stringify({
 *   event: "start",
 *   sequenceNumber: "1",
 *   start: {
 *     streamSid: "7d56cc11-536d-4a45-b4fb-ed3d55be843b",
 *     accountSid: "b08dacad-2f6c-4de1-93d6-cc732e0c69c5",
 *     callSid: "76ac3c36-56da-4a3e-a0d6-b5f8df6da9ad",
 *     tracks: ["inbound"],
 *     mediaFormat: { encoding: "audio/x-L16", sampleRate: 16000, channels: 1 },
 *   },
 * }));
 * console.log(start.kind); // "start"
 * const media = codec.encodeAudio(new Int16Array(320));
 * ```
 *
 * @param options The L16 byte order.
 * @returns A fresh codec.
 */
export function createSignalWireCodec(
  options: SignalWireCodecOptions = {},
): WireCodec {
  return new SignalWireCodec(options);
}

class SignalWireCodec implements WireCodec {
  readonly protocol = "signalwire";
  #order: ByteOrder;
  #started = false;
  #streamSid = "";
  #l16 = false;
  #rate = 8000;

  constructor(options: SignalWireCodecOptions) {
    this.#order = options.l16ByteOrder ?? "little";
    if (this.#order !== "little" && this.#order !== "big") {
      throw new TypeError(
        `l16ByteOrder must be "little" or "big", got ${
          previewValue(this.#order)
        }`,
      );
    }
  }

  get started(): boolean {
    return this.#started;
  }

  decode(message: WireMessage): Decoded[] {
    const parsed = parseJsonObject(message, "SignalWire");
    if (!parsed.ok) return [{ kind: "error", reason: parsed.reason }];
    // Unwrap the documented envelope; bare Twilio-shaped messages pass as-is.
    const outer = parsed.value;
    const inner = record(outer.rawEvent);
    const msg = inner ?? outer;
    const event = msg.event;
    if (event === "connected") return [];
    if (event === "start") return this.#decodeStart(msg, outer);
    if (typeof event !== "string") {
      return [{
        kind: "error",
        reason:
          `message without a string "event" (got ${
            previewValue(event)
          }); SignalWire sends connected, start, media, dtmf, mark, clear ` +
          `and stop`,
      }];
    }
    if (!this.#started) {
      return [{
        kind: "error",
        reason: `${previewValue(event)} before start ignored; send connected ` +
          `and start first`,
      }];
    }
    switch (event) {
      case "media":
        return this.#decodeMedia(msg);
      case "dtmf": {
        const digit = record(msg.dtmf)?.digit;
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
      case "mark": {
        const name = boundedText(
          record(msg.mark)?.name,
          MAX_MARK_NAME_LENGTH,
        );
        if (name === undefined) {
          return [{
            kind: "error",
            reason: `mark message with invalid mark.name ${
              previewValue(record(msg.mark)?.name)
            }; expected the mark name Parley sent`,
          }];
        }
        return [{ kind: "played", name }];
      }
      case "clear":
        return [];
      case "stop":
        return [{ kind: "stop", reason: "SignalWire sent stop" }];
      default:
        return [{
          kind: "error",
          reason:
            `unknown event ${
              previewValue(event)
            } ignored; SignalWire sends connected, start, media, dtmf, mark, ` +
            `clear and stop`,
        }];
    }
  }

  #decodeStart(
    msg: Record<string, unknown>,
    outer: Record<string, unknown>,
  ): Decoded[] {
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
          "start.streamSid, start.callSid and start.mediaFormat",
      }];
    }
    const streamSid = boundedId(
      start.streamSid ?? msg.streamSid ?? outer.streamSid,
    );
    if (!streamSid) {
      return [{
        kind: "error",
        reason: `start message with invalid streamSid ${
          previewValue(start.streamSid ?? msg.streamSid)
        }; expected an id of 1-128 printable characters`,
      }];
    }
    // mediaFormat may be absent on a default (PCMU) stream.
    const format = record(start.mediaFormat);
    let l16 = false;
    let rate = 8000;
    if (format) {
      const encoding = typeof format.encoding === "string"
        ? format.encoding.toLowerCase()
        : undefined;
      rate = format.sampleRate as number;
      l16 = encoding === "audio/x-l16";
      const ok = (encoding === "audio/x-mulaw" && rate === 8000) ||
        (l16 && (rate === 16000 || rate === 24000 || rate === 8000));
      if (!ok) {
        return [{
          kind: "error",
          reason:
            `start message with unsupported mediaFormat (encoding ${
              previewValue(format.encoding)
            }, sampleRate ${
              previewValue(format.sampleRate)
            }); SignalWire streams audio/x-mulaw at 8000 or audio/x-L16 at ` +
            `16000 or 24000`,
        }];
      }
    }
    this.#streamSid = streamSid;
    this.#l16 = l16;
    this.#rate = rate;
    this.#started = true;
    const extra: Record<string, unknown> = {
      encoding: l16 ? "audio/x-L16" : "audio/x-mulaw",
    };
    if (Array.isArray(start.tracks)) {
      extra.tracks = start.tracks.filter((t) => typeof t === "string");
    }
    const call: CallStart = {
      callId: streamSid,
      customParameters: stringRecord(start.customParameters),
      inputRate: rate,
      outputRate: rate,
      extra,
    };
    const callSid = boundedId(start.callSid ?? outer.callSid);
    if (callSid) call.carrierCallId = callSid;
    const accountSid = boundedId(start.accountSid);
    if (accountSid) call.accountId = accountSid;
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
    if (
      media.track !== undefined && media.track !== "inbound" &&
      media.track !== "inbound_track"
    ) {
      return [];
    }
    let bytes: Uint8Array;
    try {
      bytes = decodeBase64(media.payload);
    } catch (e) {
      return [{ kind: "error", reason: (e as Error).message }];
    }
    if (bytes.length === 0) return [];
    if (!this.#l16) return [{ kind: "audio", samples: decodeMulaw(bytes) }];
    try {
      return [{ kind: "audio", samples: decodeL16(bytes, this.#order) }];
    } catch (e) {
      return [{ kind: "error", reason: (e as Error).message }];
    }
  }

  setOutputRate(rate: number): void {
    if (rate !== this.#rate) {
      throw new RangeError(
        `SignalWire plays audio in the stream's codec (${this.#rate} Hz), ` +
          `not ${rate} Hz; choose the codec attribute of <Stream> instead`,
      );
    }
  }

  encodeAudio(samples: Int16Array): WireMessage {
    this.#requireStarted("media");
    const bytes = this.#l16
      ? encodeL16(samples, this.#order)
      : encodeMulaw(samples);
    return JSON.stringify({
      event: "media",
      streamSid: this.#streamSid,
      media: { payload: encodeBase64(bytes) },
    });
  }

  encodeMark(name: string): WireMessage {
    this.#requireStarted("a mark");
    return JSON.stringify({
      event: "mark",
      streamSid: this.#streamSid,
      mark: { name },
    });
  }

  encodeClear(): WireMessage {
    this.#requireStarted("clear");
    return JSON.stringify({ event: "clear", streamSid: this.#streamSid });
  }

  #requireStarted(what: string): void {
    if (!this.#started) {
      throw new Error(
        `cannot encode ${what} before SignalWire's start message: the ` +
          `streamSid and codec are not known yet`,
      );
    }
  }
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? value as Record<string, unknown>
    : undefined;
}

/** String entries of an object (at most 64, values ≤ 1 KiB). */
function stringRecord(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  const rec = record(value);
  if (!rec) return out;
  let count = 0;
  for (const [k, v] of Object.entries(rec)) {
    if (typeof v !== "string" || v.length > 1024 || k.length > 128) continue;
    if (k === "__proto__" || ++count > 64) continue;
    out[k] = v;
  }
  return out;
}

/** Options of {@linkcode buildSignalWireCxml}. */
export interface SignalWireCxmlOptions {
  /** The `wss://…` URL (no query string: pass data as `parameters`). */
  streamUrl: string;
  /** Stream codec (SignalWire's default: `PCMU@8000h`). */
  codec?: SignalWireCodecName;
  /** `<Parameter>` values delivered in `start.customParameters`. */
  parameters?: Record<string, string>;
  /** Token SignalWire sends as `Authorization: Bearer …` on the upgrade. */
  authBearerToken?: string;
  /** Name of the stream (to stop it by name). */
  name?: string;
  /** Manage packet delay and bursts for a realtime feel (default false). */
  realtime?: boolean;
  /** URL notified on stream start, stop and error. */
  statusCallback?: string;
  /** Method of the status callback (default POST). */
  statusCallbackMethod?: "GET" | "POST";
  /** Text to `<Say>` before connecting (none by default: it adds latency). */
  say?: string;
  /** Text to `<Say>` after the stream ends. */
  goodbye?: string;
}

/**
 * Builds the cXML answer that connects a call to Parley:
 * `<Response><Connect><Stream url=… codec=…/></Connect></Response>`.
 *
 * @example
 * ```ts
 * import { buildSignalWireCxml } from "./signalwire.ts";
 * const xml = buildSignalWireCxml({
 *   streamUrl: "wss://bot.example.com/telephone/signalwire/handler",
 *   codec: "L16@16000h",
 *   parameters: { tenant: "acme" },
 * });
 * ```
 *
 * @param options The stream URL and `<Stream>` attributes.
 * @returns cXML text.
 * @throws {TypeError} If the URL or codec is not one SignalWire accepts.
 */
export function buildSignalWireCxml(options: SignalWireCxmlOptions): string {
  const { streamUrl } = options;
  if (
    typeof streamUrl !== "string" || !/^wss?:\/\/\S+$/.test(streamUrl) ||
    streamUrl.includes("?")
  ) {
    throw new TypeError(
      `Invalid stream URL ${
        previewValue(streamUrl)
      }: SignalWire needs a wss:// URL without a query string (ws:// only ` +
        `for local tests); pass data as parameters instead`,
    );
  }
  if (
    options.codec !== undefined &&
    !["PCMU@8000h", "L16@16000h", "L16@24000h"].includes(options.codec)
  ) {
    throw new TypeError(
      `codec ${
        previewValue(options.codec)
      } is not one SignalWire streams; use PCMU@8000h, L16@16000h or ` +
        `L16@24000h`,
    );
  }
  const attrs: [string, string | undefined][] = [
    ["url", streamUrl],
    ["codec", options.codec],
    ["name", options.name],
    ["authBearerToken", options.authBearerToken],
    [
      "realtime",
      options.realtime === undefined ? undefined : String(options.realtime),
    ],
    ["statusCallback", options.statusCallback],
    [
      "statusCallbackMethod",
      options.statusCallback === undefined
        ? undefined
        : options.statusCallbackMethod ?? "POST",
    ],
  ];
  const attrText = attrs
    .filter((a): a is [string, string] => a[1] !== undefined)
    .map(([k, v]) => ` ${k}="${escapeXml(v)}"`)
    .join("");
  const params = Object.entries(options.parameters ?? {})
    .map(([name, value]) =>
      `<Parameter name="${escapeXml(name)}" value="${escapeXml(value)}"/>`
    )
    .join("");
  const stream = params
    ? `<Stream${attrText}>${params}</Stream>`
    : `<Stream${attrText}/>`;
  const say = (text?: string) => text ? `<Say>${escapeXml(text)}</Say>` : "";
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Response>${
    say(options.say)
  }<Connect>${stream}</Connect>${say(options.goodbye)}</Response>`;
}

/** Options of {@linkcode verifySignalWireSignature}. */
export interface SignalWireSignatureOptions {
  /** The project's Signing Key (Dashboard → API Credentials). */
  signingKey: string;
  /** `X-SignalWire-Signature` (or its alias `X-Twilio-Signature`). */
  signature: string | null;
  /**
   * The URL SignalWire requested (scheme, host, port, path, query), behind
   * a proxy the public one.
   */
  url: string;
  /** POSTed form parameters (cXML webhooks). */
  params?: Record<string, string | string[]>;
  /** The raw body of a JSON callback, for SignalWire's JSON scheme. */
  rawBody?: string;
}

/**
 * Checks a SignalWire webhook signature with WebCrypto. Accepts:
 * - the cXML (Twilio-compatible) scheme: base64 HMAC-SHA1, keyed with the
 *   Signing Key, over the URL followed by the form parameters sorted by name
 *   as `namevalue` (repeated names: each value, sorted); the URL is tried as
 *   given, without and with its default port;
 * - with `rawBody`, the JSON scheme: lowercase hex HMAC-SHA1 over the URL
 *   followed by the raw body, and Twilio's `bodySHA256` query parameter
 *   (base64 scheme over the URL, plus the body's SHA-256 hex).
 *
 * @example
 * ```ts
 * import { verifySignalWireSignature } from "./signalwire.ts";
 * const ok = await verifySignalWireSignature({
 *   signingKey: "PSK_example",
 *   signature: "forged",
 *   url: "https://bot.example.com/telephone/signalwire/incoming",
 *   params: { CallSid: "76ac3c36" },
 * });
 * // ok === false
 * ```
 *
 * @param options Key, signature, URL, parameters or raw body.
 * @returns Whether the signature is valid (false when it is missing).
 */
export async function verifySignalWireSignature(
  options: SignalWireSignatureOptions,
): Promise<boolean> {
  const { signingKey, signature, url } = options;
  if (!signature || !signingKey) return false;
  const given = signature.trim();
  const params = options.params ?? {};
  let ok = false;
  for (const candidate of urlVariants(url)) {
    const b64 = encodeBase64(
      await hmac("SHA-1", signingKey, candidate + sortedConcat(params)),
    );
    if (constantTimeEqual(given, b64)) ok = true;
    if (options.rawBody !== undefined) {
      const hex = toHex(
        await hmac("SHA-1", signingKey, candidate + options.rawBody),
      );
      if (constantTimeEqual(given.toLowerCase(), hex)) ok = true;
    }
  }
  if (ok && options.rawBody !== undefined) {
    // When the URL carries bodySHA256, the body must match it too.
    const bodyHash = bodySha256Param(url);
    if (
      bodyHash !== undefined &&
      !constantTimeEqual(bodyHash, await sha256Hex(options.rawBody))
    ) {
      ok = false;
    }
  }
  return ok;
}

function sortedConcat(params: Record<string, string | string[]>): string {
  let out = "";
  for (const key of Object.keys(params).sort()) {
    const value = params[key];
    for (const v of Array.isArray(value) ? [...value].sort() : [value]) {
      out += key + v;
    }
  }
  return out;
}

/** The URL as given, without its default port, and with it. */
function urlVariants(url: string): string[] {
  const out = [url];
  const m = /^(https?|wss?):\/\/([^/?#@]*@)?([^/?#:]+)(:\d+)?(.*)$/i.exec(url);
  if (!m) return out;
  const [, scheme, auth = "", host, port, rest] = m;
  const secure = /^(https|wss)$/i.test(scheme);
  const defaultPort = secure ? ":443" : ":80";
  if (port === defaultPort) out.push(`${scheme}://${auth}${host}${rest}`);
  if (port === undefined) {
    out.push(`${scheme}://${auth}${host}${defaultPort}${rest}`);
  }
  return out;
}

function bodySha256Param(url: string): string | undefined {
  const q = url.indexOf("?");
  if (q < 0) return undefined;
  return new URLSearchParams(url.slice(q + 1).split("#")[0]).get(
    "bodySHA256",
  ) ??
    undefined;
}

/**
 * Checks the `Authorization: Bearer …` header SignalWire sends on the
 * WebSocket upgrade when `<Stream authBearerToken>` is set.
 *
 * @example
 * ```ts
 * import { isValidSignalWireBearer } from "./signalwire.ts";
 * isValidSignalWireBearer({ authorization: "Bearer s3cret", token: "s3cret" }); // true
 * ```
 *
 * @param options The header and the expected token.
 * @returns Whether the header carries the token.
 */
export function isValidSignalWireBearer(options: {
  /** The upgrade request's `Authorization` header. */
  authorization: string | null;
  /** The token put in `authBearerToken`. */
  token: string;
}): boolean {
  const m = /^Bearer\s+(.+)$/.exec(options.authorization?.trim() ?? "");
  return !!m && !!options.token && constantTimeEqual(m[1], options.token);
}
