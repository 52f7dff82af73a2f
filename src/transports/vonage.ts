/**
 * Vonage Voice API WebSockets: the wire codec, the NCCO answer and the
 * signed-webhook (JWT) check.
 *
 * Written from Vonage's published docs:
 * - WebSockets guide and concepts
 *   (developer.vonage.com/en/voice/voice-api/guides/websockets,
 *   developer.vonage.com/en/voice/voice-api/concepts/websockets)
 * - NCCO reference, `connect` with a `websocket` endpoint
 *   (developer.vonage.com/en/voice/voice-api/ncco-reference)
 * - Signed webhooks (developer.vonage.com/en/getting-started/concepts/webhooks
 *   and the Voice API support article "How do I verify that the Voice API
 *   Webhook request and its payload has not been tampered during transit?")
 *
 * Inbound (Vonage → Parley):
 * - first, a text message `{"event":"websocket:connected",
 *   "content-type":"audio/l16;rate=16000", …headers}` — the `headers` of the
 *   NCCO endpoint, flattened into the message;
 * - then binary messages of 16-bit signed little-endian linear PCM, mono,
 *   20 ms each (320 bytes at 8 kHz, 640 at 16 kHz); any size is accepted;
 * - text events: `websocket:dtmf` (`digit`, `duration`), `websocket:notify`
 *   (the `payload` of a `notify` Parley sent, once the audio before it has
 *   played), `websocket:cleared` (the playback buffer was emptied).
 *
 * Outbound (Parley → Vonage): binary frames of exactly 20 ms, `{"action":
 * "clear"}` for barge-in, and `{"action":"notify","payload":{"parleyMark":
 * NAME}}` as a mark: Vonage answers it with `websocket:notify` carrying the
 * same payload when playback reaches it, which decodes to `played`.
 *
 * Where the docs are ambiguous, this codec decides as follows:
 * - Older pages show the first message without `"event"` (only the headers
 *   and `content-type`); a first text message with a `content-type` and no
 *   event is accepted as the connection message too.
 * - The connection message carries no call id. Parley's call id is the first
 *   of the headers `uuid`, `call_uuid`, `conversation_uuid` that holds a
 *   valid id ({@linkcode buildVonageNcco} users put the answer webhook's
 *   `uuid` there), else a random UUID; the id found is also the
 *   `carrierCallId`.
 * - DTMF is documented as a top-level `digit`; `dtmf.digit` and a `dtmf`
 *   string (seen in some integrations) are accepted too.
 * - 8 and 16 kHz are documented; 24 kHz (`audio/l16;rate=24000`, used by
 *   newer integrations) is accepted as well.
 * - The older WebSockets page gives no byte order; the current concepts page
 *   (as summarised in Vonage's AsyncAPI description) says signed
 *   little-endian, which is what this codec reads and writes.
 * - Vonage says other JSON events "may be sent at any point"; an event this
 *   codec does not know is returned as an `error` (counted and rate-limited
 *   by the adapter, never fatal), so a new event shows up in the counters.
 * - The signed-webhook pages say `payload_hash` is "a SHA-256 hash" of the
 *   payload without naming the encoding; hex is expected and base64 is
 *   accepted.
 *
 * @module
 */

import type { CallStart, Decoded, WireCodec, WireMessage } from "./codec.ts";
import {
  boundedId,
  boundedText,
  constantTimeEqual,
  decodeL16,
  encodeL16,
  hmac,
  isDtmfKey,
  MAX_MARK_NAME_LENGTH,
  parseJsonObject,
  previewValue,
  sha256Hex,
} from "./_carrier_wire.ts";
import { encodeBase64 } from "./base64.ts";

/** Rates of Vonage's `audio/l16;rate=N` content types. */
export type VonageRate = 8000 | 16000 | 24000;

const VONAGE_RATES: readonly number[] = [8000, 16000, 24000];

/** Header names tried, in order, for the call id. */
const CALL_ID_HEADERS = ["uuid", "call_uuid", "conversation_uuid"];

/** Key of the notify payload that carries a Parley mark. */
const MARK_KEY = "parleyMark";

/** Options of {@linkcode createVonageCodec}. */
export interface VonageCodecOptions {
  /**
   * Makes a call id when the connection message has no `uuid` header
   * (default `crypto.randomUUID()`).
   */
  makeCallId?: () => string;
}

/**
 * Creates a codec for one Vonage Voice API WebSocket connection.
 *
 * @example
 * ```ts
 * import { createVonageCodec } from "./vonage.ts";
 * const codec = createVonageCodec();
 * const [start] = codec.decode(JSON.stringify({
 *   event: "websocket:connected",
 *   "content-type": "audio/l16;rate=16000",
 *   uuid: "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
 * }));
 * console.log(start.kind); // "start"
 * const [audio] = codec.decode(new Uint8Array(640));
 * const frame = codec.encodeAudio(new Int16Array(320)); // 640 bytes
 * ```
 *
 * @param options How to make a call id when Vonage sends none.
 * @returns A fresh codec.
 */
export function createVonageCodec(options: VonageCodecOptions = {}): WireCodec {
  return new VonageCodec(options);
}

class VonageCodec implements WireCodec {
  readonly protocol = "vonage";
  #makeCallId: () => string;
  #started = false;
  #rate = 16000;

  constructor(options: VonageCodecOptions) {
    this.#makeCallId = options.makeCallId ?? (() => crypto.randomUUID());
  }

  get started(): boolean {
    return this.#started;
  }

  decode(message: WireMessage): Decoded[] {
    if (typeof message !== "string") return this.#decodeAudio(message);
    const parsed = parseJsonObject(message, "Vonage");
    if (!parsed.ok) return [{ kind: "error", reason: parsed.reason }];
    const msg = parsed.value;
    const event = msg.event;
    if (
      event === "websocket:connected" ||
      (!this.#started && event === undefined && "content-type" in msg)
    ) {
      return this.#decodeConnected(msg);
    }
    if (typeof event !== "string") {
      return [{
        kind: "error",
        reason:
          `text message without a string "event" (got ${
            previewValue(event)
          }); Vonage sends websocket:connected, websocket:dtmf, ` +
          `websocket:notify and websocket:cleared`,
      }];
    }
    if (!this.#started) {
      return [{
        kind: "error",
        reason:
          `${previewValue(event)} before websocket:connected ignored; the ` +
          `first message must be websocket:connected with a content-type`,
      }];
    }
    switch (event) {
      case "websocket:dtmf": {
        const dtmf = msg.dtmf;
        const digit = msg.digit ??
          (typeof dtmf === "string" ? dtmf : record(dtmf)?.digit);
        if (!isDtmfKey(digit)) {
          return [{
            kind: "error",
            reason: `websocket:dtmf with invalid digit ${
              previewValue(digit)
            }; expected one of 0-9 * # A-D`,
          }];
        }
        return [{ kind: "dtmf", digit }];
      }
      case "websocket:notify": {
        const name = boundedText(
          record(msg.payload)?.[MARK_KEY],
          MAX_MARK_NAME_LENGTH,
        );
        if (name === undefined) {
          return [{
            kind: "error",
            reason: `websocket:notify without a payload.${MARK_KEY} name ` +
              `ignored; only notify actions Parley sent are expected`,
          }];
        }
        return [{ kind: "played", name }];
      }
      case "websocket:cleared":
        return [];
      default:
        return [{
          kind: "error",
          reason:
            `unknown event ${
              previewValue(event)
            } ignored; Vonage sends websocket:connected, websocket:dtmf, ` +
            `websocket:notify and websocket:cleared`,
        }];
    }
  }

  #decodeConnected(msg: Record<string, unknown>): Decoded[] {
    if (this.#started) {
      return [{
        kind: "error",
        reason: "second websocket:connected ignored; a call starts once",
      }];
    }
    const contentType = msg["content-type"];
    const rate = parseContentType(contentType);
    if (rate === undefined) {
      return [{
        kind: "error",
        reason: `websocket:connected with unsupported content-type ${
          previewValue(contentType)
        }; expected audio/l16;rate=8000, 16000 or 24000`,
      }];
    }
    const customParameters: Record<string, string> = {};
    const headers: Record<string, unknown> = {};
    let count = 0;
    for (const [key, value] of Object.entries(msg)) {
      if (key === "event" || key === "content-type") continue;
      if (key.length > 128 || key === "__proto__" || ++count > 64) continue;
      headers[key] = value;
      if (typeof value === "string" && value.length <= 1024) {
        customParameters[key] = value;
      }
    }
    let carrierCallId: string | undefined;
    for (const name of CALL_ID_HEADERS) {
      carrierCallId = boundedId(msg[name]);
      if (carrierCallId) break;
    }
    this.#rate = rate;
    this.#started = true;
    const call: CallStart = {
      callId: carrierCallId ?? this.#makeCallId(),
      customParameters,
      inputRate: rate,
      outputRate: rate,
      extra: { contentType, headers },
    };
    if (carrierCallId) call.carrierCallId = carrierCallId;
    return [{ kind: "start", call }];
  }

  #decodeAudio(bytes: Uint8Array): Decoded[] {
    if (!this.#started) {
      return [{
        kind: "error",
        reason: `binary audio of ${bytes.byteLength} bytes before ` +
          `websocket:connected ignored; the first message must be the ` +
          `websocket:connected text message`,
      }];
    }
    if (bytes.byteLength === 0) return [];
    try {
      return [{ kind: "audio", samples: decodeL16(bytes, "little") }];
    } catch (e) {
      return [{ kind: "error", reason: (e as Error).message }];
    }
  }

  setOutputRate(rate: number): void {
    if (rate !== this.#rate) {
      throw new RangeError(
        `Vonage plays audio at the connection's rate (${this.#rate} Hz), ` +
          `not ${rate} Hz; set content-type in the NCCO instead`,
      );
    }
  }

  /**
   * One binary frame of exactly 20 ms; a shorter input (the end of a reply)
   * is padded with silence.
   */
  encodeAudio(samples: Int16Array): WireMessage {
    this.#requireStarted("audio");
    const frame = this.#rate / 50;
    if (samples.length > frame) {
      throw new RangeError(
        `encodeAudio got ${samples.length} samples; Vonage needs binary ` +
          `frames of exactly 20 ms (${frame} samples at ${this.#rate} Hz); ` +
          `split the audio into 20 ms frames`,
      );
    }
    return encodeL16(samples, "little", frame);
  }

  encodeMark(name: string): WireMessage {
    this.#requireStarted("a mark");
    return JSON.stringify({ action: "notify", payload: { [MARK_KEY]: name } });
  }

  encodeClear(): WireMessage {
    this.#requireStarted("clear");
    return JSON.stringify({ action: "clear" });
  }

  #requireStarted(what: string): void {
    if (!this.#started) {
      throw new Error(
        `cannot encode ${what} before Vonage's websocket:connected message: ` +
          `the audio rate is not known yet`,
      );
    }
  }
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? value as Record<string, unknown>
    : undefined;
}

/** `audio/l16;rate=16000` → 16000; anything else → undefined. */
function parseContentType(value: unknown): number | undefined {
  if (typeof value !== "string" || value.length > 64) return undefined;
  const m = /^\s*audio\/l16\s*;\s*rate\s*=\s*(\d+)\s*$/i.exec(value);
  const rate = m ? Number(m[1]) : NaN;
  return VONAGE_RATES.includes(rate) ? rate : undefined;
}

/** One NCCO action (a JSON object). */
export type NccoAction = Record<string, unknown>;

/** Options of {@linkcode buildVonageNcco}. */
export interface VonageNccoOptions {
  /** The `wss://…` URI Vonage connects the call's audio to. */
  websocketUri: string;
  /** Audio format (default `audio/l16;rate=16000`). */
  contentType?:
    | "audio/l16;rate=8000"
    | "audio/l16;rate=16000"
    | "audio/l16;rate=24000";
  /**
   * Values delivered in the `websocket:connected` message (at most 512
   * bytes as JSON). Put the answer webhook's `uuid` here so Parley's call id
   * is the Vonage call's: `headers: { uuid }`.
   */
  headers?: Record<string, unknown>;
  /** Text to `talk` before connecting (none by default: it adds latency). */
  talk?: string;
  /** Caller id shown to the WebSocket endpoint (`connect.from`). */
  from?: string;
  /** Event webhook URL(s) for the connect action (`eventUrl`). */
  eventUrl?: string[];
}

/**
 * Builds the NCCO that connects a call to Parley: an optional `talk`, then
 * `connect` with one `websocket` endpoint. Serve it as JSON.
 *
 * @example
 * ```ts
 * import { buildVonageNcco } from "./vonage.ts";
 * const ncco = buildVonageNcco({
 *   websocketUri: "wss://bot.example.com/telephone/vonage/handler",
 *   headers: { uuid: "aaaaaaaa-bbbb-cccc-dddd-0123456789ab" },
 * });
 * const response = Response.json(ncco);
 * ```
 *
 * @param options The WebSocket URI, audio format and headers.
 * @returns The NCCO (an array of actions).
 * @throws {TypeError} If the URI, content type or headers are not ones Vonage
 *   accepts.
 */
export function buildVonageNcco(options: VonageNccoOptions): NccoAction[] {
  const { websocketUri } = options;
  if (
    typeof websocketUri !== "string" || !/^wss?:\/\/\S+$/.test(websocketUri)
  ) {
    throw new TypeError(
      `Invalid websocketUri ${
        previewValue(websocketUri)
      }: Vonage needs a wss:// URI (ws:// only for local tests)`,
    );
  }
  const contentType = options.contentType ?? "audio/l16;rate=16000";
  if (parseContentType(contentType) === undefined) {
    throw new TypeError(
      `contentType ${
        previewValue(contentType)
      } is not one Vonage streams; use audio/l16;rate=8000, ` +
        `audio/l16;rate=16000 or audio/l16;rate=24000`,
    );
  }
  const endpoint: Record<string, unknown> = {
    type: "websocket",
    uri: websocketUri,
    "content-type": contentType,
  };
  if (options.headers) {
    const size = new TextEncoder().encode(JSON.stringify(options.headers))
      .length;
    if (size > 512) {
      throw new TypeError(
        `headers are ${size} bytes as JSON; Vonage allows 512 at most — ` +
          `pass an id and look the rest up`,
      );
    }
    endpoint.headers = options.headers;
  }
  const connect: NccoAction = { action: "connect", endpoint: [endpoint] };
  if (options.from) connect.from = options.from;
  if (options.eventUrl) connect.eventUrl = options.eventUrl;
  const ncco: NccoAction[] = [];
  if (options.talk) ncco.push({ action: "talk", text: options.talk });
  ncco.push(connect);
  return ncco;
}

/** Options of {@linkcode verifyVonageSignedWebhook}. */
export interface VonageSignedWebhookOptions {
  /** The account's signature secret (Dashboard → API settings). */
  secret: string;
  /** The `Authorization` header: `Bearer <JWT>`. */
  authorization: string | null;
  /**
   * The raw request body. When given, the JWT must carry `payload_hash`, the
   * SHA-256 of these bytes (hex; base64 is accepted too). For a GET webhook, Vonage's support article
   * says to hash the query parameters as compact JSON in their order
   * (`JSON.stringify(Object.fromEntries(url.searchParams))`). Omit it to
   * check the token only.
   */
  body?: string | Uint8Array;
  /** Reject tokens issued more than this many seconds ago (default: none). */
  maxAgeSeconds?: number;
  /** The current time in ms (default `Date.now()`), for tests. */
  now?: number;
}

/** Result of {@linkcode verifyVonageSignedWebhook}. */
export type VonageWebhookVerification =
  | {
    /** The request is Vonage's. */
    valid: true;
    /** The JWT's claims (`api_key`, `application_id`, `iat`, `jti`, …). */
    claims: Record<string, unknown>;
  }
  | {
    /** The request is not proven to be Vonage's. */
    valid: false;
    /** Why. */
    reason: string;
  };

/**
 * Verifies a Vonage signed webhook: the `Authorization: Bearer` JWT must be
 * HS256-signed with the signature secret, unexpired, and (when `body` is
 * given) its `payload_hash` claim must be the SHA-256 of the body. Uses
 * WebCrypto; no JWT library.
 *
 * @example
 * ```ts
 * import { verifyVonageSignedWebhook } from "./vonage.ts";
 * const result = await verifyVonageSignedWebhook({
 *   secret: "signature-secret",
 *   authorization: "Bearer not.a.jwt",
 *   body: '{"uuid":"aaaa"}',
 * });
 * // result.valid === false
 * ```
 *
 * @param options Secret, header, body and clock.
 * @returns Whether the request is genuine, with the claims or the reason.
 */
export async function verifyVonageSignedWebhook(
  options: VonageSignedWebhookOptions,
): Promise<VonageWebhookVerification> {
  const fail = (reason: string): VonageWebhookVerification => ({
    valid: false,
    reason,
  });
  const { authorization, secret } = options;
  if (!secret) return fail("no signature secret configured");
  if (!authorization) return fail("missing Authorization header");
  const m = /^Bearer\s+([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]*)$/
    .exec(authorization.trim());
  if (!m || authorization.length > 8192) {
    return fail("Authorization is not `Bearer <JWT>`");
  }
  const [, headerPart, payloadPart, signaturePart] = m;
  const header = decodeJsonPart(headerPart);
  if (!header || header.alg !== "HS256") {
    return fail(`JWT alg ${previewValue(header?.alg)} is not HS256`);
  }
  const expected = toBase64Url(
    await hmac("SHA-256", secret, `${headerPart}.${payloadPart}`),
  );
  if (!constantTimeEqual(signaturePart, expected)) {
    return fail("JWT signature does not match the signature secret");
  }
  const claims = decodeJsonPart(payloadPart);
  if (!claims) return fail("JWT payload is not a JSON object");
  const now = (options.now ?? Date.now()) / 1000;
  if (typeof claims.exp === "number" && now >= claims.exp) {
    return fail("JWT has expired");
  }
  if (typeof claims.nbf === "number" && now < claims.nbf) {
    return fail("JWT is not valid yet");
  }
  if (options.maxAgeSeconds !== undefined) {
    if (typeof claims.iat !== "number") return fail("JWT has no iat claim");
    if (now - claims.iat > options.maxAgeSeconds) {
      return fail(`JWT was issued more than ${options.maxAgeSeconds} s ago`);
    }
  }
  if (options.body !== undefined) {
    if (typeof claims.payload_hash !== "string") {
      return fail("JWT has no payload_hash claim to check the body against");
    }
    // Vonage's pages say "a SHA-256 hash" without the encoding; their
    // samples compare hex digests. Base64 (and base64url) are accepted too.
    const hex = await sha256Hex(options.body);
    const b64 = encodeBase64(hexToBytes(hex));
    const claimed = claims.payload_hash;
    const matches = constantTimeEqual(claimed.toLowerCase(), hex) ||
      constantTimeEqual(claimed, b64) ||
      constantTimeEqual(
        claimed,
        b64.replace(/\+/g, "-").replace(/\//g, "_")
          .replace(/=+$/, ""),
      );
    if (!matches) {
      return fail("payload_hash does not match the body (tampered?)");
    }
  }
  return { valid: true, claims };
}

function decodeJsonPart(part: string): Record<string, unknown> | undefined {
  try {
    const b64 = part.replace(/-/g, "+").replace(/_/g, "/");
    const padded = b64 + "=".repeat((4 - b64.length % 4) % 4);
    const text = new TextDecoder("utf-8", { fatal: true }).decode(
      Uint8Array.from(atob(padded), (c) => c.charCodeAt(0)),
    );
    return record(JSON.parse(text));
  } catch {
    return undefined;
  }
}

function hexToBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) {
    out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  }
  return out;
}

function toBase64Url(bytes: Uint8Array): string {
  return encodeBase64(bytes).replace(/\+/g, "-").replace(/\//g, "_")
    .replace(/=+$/, "");
}
