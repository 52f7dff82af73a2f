/**
 * The wire helpers every carrier codec shares (Twilio, Telnyx, Exotel,
 * Plivo, Vonage, SignalWire): parsing one text frame into an object without
 * throwing, bounded ids and text, DTMF keys, custom parameters, short
 * previews of hostile input for error reasons, 16-bit linear PCM in either
 * byte order, and the WebCrypto HMAC and hash helpers the signature checks
 * use. Nothing here touches a socket or a timer. Internal to Parley's
 * transports.
 *
 * @module
 */

import type { Decoded, WireMessage } from "./codec.ts";

/** Longest id (stream, call, account) a codec accepts, in characters. */
export const MAX_ID_LENGTH = 128;
/** Most custom parameters kept from one start message. */
export const MAX_CUSTOM_PARAMETERS = 64;
/** Longest custom parameter value kept, in characters. */
export const MAX_PARAMETER_VALUE_LENGTH = 1024;

/** Visible ASCII only: ids end up in logs, URLs and map keys. */
const ID_PATTERN = /^[\x21-\x7e]+$/;
/** The sixteen DTMF keys. */
const DTMF_PATTERN = /^[0-9*#A-D]$/;

/** A parsed JSON object, or why the frame was not one. */
export type ParsedFrame =
  | { ok: true; msg: Record<string, unknown>; event: string }
  | { ok: false; reason: string };

/**
 * Parses one inbound frame as a JSON object with a string `event`.
 *
 * @example
 * ```ts
 * import { parseJsonFrame } from "./_carrier_wire.ts";
 * const parsed = parseJsonFrame('{"event":"connected"}', "Telnyx");
 * // parsed.ok === true, parsed.event === "connected"
 * ```
 *
 * @param message The frame as received.
 * @param carrier The carrier's name, for the reason.
 * @returns The object and its event, or the reason it was rejected.
 */
export function parseJsonFrame(
  message: WireMessage,
  carrier: string,
): ParsedFrame {
  if (typeof message !== "string") {
    const size = message instanceof Uint8Array ? message.length : 0;
    return {
      ok: false,
      reason: `binary frame of ${size} bytes ignored: ${carrier} sends JSON ` +
        `text frames`,
    };
  }
  let value: unknown;
  try {
    value = JSON.parse(message);
  } catch {
    return {
      ok: false,
      reason: `invalid JSON ignored (${message.length} chars, starts ` +
        `${preview(message)}); send one JSON object per text frame`,
    };
  }
  if (!isRecord(value)) {
    return {
      ok: false,
      reason: `JSON ${describe(value)} ignored; ${carrier} messages are ` +
        `objects with an "event" field`,
    };
  }
  if (typeof value.event !== "string") {
    return {
      ok: false,
      reason: `message without an "event" string ignored (event is ` +
        `${describe(value.event)})`,
    };
  }
  return { ok: true, msg: value, event: value.event };
}

/**
 * Checks an id field: a string of 1 to {@linkcode MAX_ID_LENGTH} visible
 * ASCII characters.
 *
 * @example
 * ```ts
 * import { checkId } from "./_carrier_wire.ts";
 * checkId("MZ123", "stream_sid"); // { ok: true, value: "MZ123" }
 * ```
 *
 * @param value The field's value.
 * @param field The field's name, for the reason.
 * @returns The id, or why it was rejected.
 */
export function checkId(
  value: unknown,
  field: string,
): { ok: true; value: string } | { ok: false; reason: string } {
  if (typeof value !== "string" || value.length === 0) {
    return {
      ok: false,
      reason: `${field} must be a non-empty string, got ${describe(value)}`,
    };
  }
  if (value.length > MAX_ID_LENGTH) {
    return {
      ok: false,
      reason: `${field} is ${value.length} characters long; ids longer ` +
        `than ${MAX_ID_LENGTH} are rejected`,
    };
  }
  if (!ID_PATTERN.test(value)) {
    return {
      ok: false,
      reason: `${field} ${preview(value)} contains spaces or non-ASCII ` +
        `characters`,
    };
  }
  return { ok: true, value };
}

/**
 * Checks an optional id-like field (a phone number, a user id): absent or
 * `null` gives `undefined`, otherwise it must pass {@linkcode checkId}.
 *
 * @example
 * ```ts
 * import { checkOptionalId } from "./_carrier_wire.ts";
 * checkOptionalId(null, "from"); // { ok: true, value: undefined }
 * ```
 *
 * @param value The field's value.
 * @param field The field's name, for the reason.
 * @returns The value (or `undefined`), or why it was rejected.
 */
export function checkOptionalId(
  value: unknown,
  field: string,
): { ok: true; value: string | undefined } | { ok: false; reason: string } {
  if (value === undefined || value === null || value === "") {
    return { ok: true, value: undefined };
  }
  return checkId(value, field);
}

/**
 * Checks a DTMF key: exactly one of `0-9`, `*`, `#`, `A-D`.
 *
 * @example
 * ```ts
 * import { isDtmfDigit } from "./_carrier_wire.ts";
 * isDtmfDigit("#"); // true
 * isDtmfDigit("12"); // false
 * ```
 *
 * @param value The digit field.
 * @returns Whether it is a DTMF key.
 */
export function isDtmfDigit(value: unknown): value is string {
  return typeof value === "string" && DTMF_PATTERN.test(value);
}

/**
 * Reads custom parameters: string values are kept, numbers and booleans
 * are turned into strings, anything else (nested objects, over-long keys or
 * values, entries past {@linkcode MAX_CUSTOM_PARAMETERS}) is dropped and
 * named in `dropped`.
 *
 * @example
 * ```ts
 * import { readCustomParameters } from "./_carrier_wire.ts";
 * readCustomParameters({ a: "1", b: 2, c: {} });
 * // { params: { a: "1", b: "2" }, dropped: ["c"] }
 * ```
 *
 * @param value The parameters object (anything is accepted).
 * @returns What was kept and the names of what was dropped.
 */
export function readCustomParameters(
  value: unknown,
): { params: Record<string, string>; dropped: string[] } {
  const params: Record<string, string> = {};
  const dropped: string[] = [];
  if (value === undefined || value === null) return { params, dropped };
  if (!isRecord(value)) return { params, dropped: ["(not an object)"] };
  let kept = 0;
  for (const [key, raw] of Object.entries(value)) {
    const text = typeof raw === "string"
      ? raw
      : typeof raw === "number" || typeof raw === "boolean"
      ? String(raw)
      : undefined;
    if (
      text === undefined || key.length === 0 || key.length > MAX_ID_LENGTH ||
      text.length > MAX_PARAMETER_VALUE_LENGTH ||
      kept >= MAX_CUSTOM_PARAMETERS || key === "__proto__"
    ) {
      dropped.push(key.length > 40 ? `${key.slice(0, 40)}…` : key);
      continue;
    }
    params[key] = text;
    kept++;
  }
  return { params, dropped };
}

/**
 * Reads a positive integer given as a number or a decimal string.
 *
 * @example
 * ```ts
 * import { readInteger } from "./_carrier_wire.ts";
 * readInteger("8000"); // 8000
 * readInteger("8k"); // undefined
 * ```
 *
 * @param value The field.
 * @returns The integer, or `undefined` when it is not one.
 */
export function readInteger(value: unknown): number | undefined {
  if (typeof value === "number") {
    return Number.isSafeInteger(value) && value > 0 ? value : undefined;
  }
  if (typeof value === "string" && /^[1-9][0-9]{0,8}$/.test(value)) {
    return Number(value);
  }
  return undefined;
}

/**
 * A short, quoted preview of a value for error reasons: at most 40
 * characters of it, so a hostile megabyte string never reaches a log.
 *
 * @example
 * ```ts
 * import { preview } from "./_carrier_wire.ts";
 * preview("x".repeat(1000)); // "\"xxxx…\" (40 of 1000 chars)"
 * ```
 *
 * @param text The text.
 * @returns The preview.
 */
export function preview(text: string): string {
  if (text.length <= 40) return JSON.stringify(text);
  return `${JSON.stringify(text.slice(0, 40) + "…")} (40 of ${text.length} ` +
    `chars)`;
}

/**
 * Names a JSON value's type (and shows short strings and numbers).
 *
 * @example
 * ```ts
 * import { describe } from "./_carrier_wire.ts";
 * describe([1]); // "an array"
 * ```
 *
 * @param value The value.
 * @returns A short description.
 */
export function describe(value: unknown): string {
  if (value === undefined) return "missing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return `the string ${preview(value)}`;
  if (typeof value === "number" || typeof value === "boolean") {
    return `${typeof value} ${String(value)}`;
  }
  return `a ${typeof value}`;
}

/**
 * True for plain JSON objects (not arrays, not null).
 *
 * @example
 * ```ts
 * import { isRecord } from "./_carrier_wire.ts";
 * isRecord({}); // true
 * isRecord([]); // false
 * ```
 *
 * @param value The value.
 * @returns Whether it is an object.
 */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Decodes 16-bit PCM bytes in the given byte order. An odd trailing byte is
 * returned in `rest` for the caller to prepend to the next payload.
 *
 * @example
 * ```ts
 * import { decodePcm16 } from "./_carrier_wire.ts";
 * decodePcm16(new Uint8Array([0x01, 0x00]), true).samples; // Int16Array [1]
 * ```
 *
 * @param bytes The payload.
 * @param littleEndian Byte order of the samples.
 * @returns The samples (a fresh array) and an odd trailing byte, if any.
 */
export function decodePcm16(
  bytes: Uint8Array,
  littleEndian: boolean,
): { samples: Int16Array; rest: Uint8Array | null } {
  const n = bytes.length >> 1;
  const samples = new Int16Array(n);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  for (let i = 0; i < n; i++) samples[i] = view.getInt16(i * 2, littleEndian);
  const rest = (bytes.length & 1) ? bytes.slice(bytes.length - 1) : null;
  return { samples, rest };
}

/**
 * Encodes 16-bit PCM samples to bytes in the given byte order.
 *
 * @example
 * ```ts
 * import { encodePcm16 } from "./_carrier_wire.ts";
 * encodePcm16(new Int16Array([1]), false); // Uint8Array [0x00, 0x01]
 * ```
 *
 * @param samples The samples.
 * @param littleEndian Byte order to write.
 * @returns The bytes.
 * @throws {TypeError} If `samples` is not an Int16Array.
 */
export function encodePcm16(
  samples: Int16Array,
  littleEndian: boolean,
): Uint8Array {
  if (!(samples instanceof Int16Array)) {
    throw new TypeError(
      "encodeAudio() expects an Int16Array of PCM16 samples; convert float " +
        "audio with audioToInt16() first",
    );
  }
  const bytes = new Uint8Array(samples.length * 2);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < samples.length; i++) {
    view.setInt16(i * 2, samples[i], littleEndian);
  }
  return bytes;
}

// --- Plivo, Vonage and SignalWire (formerly wire_checks.ts) ---------------

/** Longest mark / checkpoint name a codec accepts back from a carrier. */
export const MAX_MARK_NAME_LENGTH = 128;

/** A DTMF key: `0-9`, `*`, `#`, `A-D`. */
const DTMF_KEY = /^[0-9*#A-D]$/;

/** Ids: printable ASCII without spaces, 1 to MAX_ID_LENGTH characters. */
const ID = new RegExp(`^[\\x21-\\x7e]{1,${MAX_ID_LENGTH}}$`);

/** Result of {@linkcode parseJsonObject}. */
export type ParsedJson =
  | {
    /** The message was a JSON object. */
    ok: true;
    /** The object. */
    value: Record<string, unknown>;
  }
  | {
    /** The message was not a JSON object. */
    ok: false;
    /** What was wrong, for an `error` value. */
    reason: string;
  };

/**
 * Parses one text message as a JSON object; never throws.
 *
 * @example
 * ```ts
 * import { parseJsonObject } from "./_carrier_wire.ts";
 * const parsed = parseJsonObject('{"event":"start"}', "Plivo");
 * if (parsed.ok) console.log(parsed.value.event); // "start"
 * ```
 *
 * @param message The message as received.
 * @param carrier The carrier's name, for the reason text.
 * @returns The object, or why it is not one.
 */
export function parseJsonObject(
  message: WireMessage,
  carrier: string,
): ParsedJson {
  if (typeof message !== "string") {
    return {
      ok: false,
      reason: `binary message of ${byteLength(message)} bytes ignored; ` +
        `${carrier} sends JSON text messages here`,
    };
  }
  let value: unknown;
  try {
    value = JSON.parse(message);
  } catch {
    return {
      ok: false,
      reason: `invalid JSON (${message.length} chars, starting ` +
        `${previewValue(message)}); send one JSON object per message`,
    };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return {
      ok: false,
      reason: `JSON ${
        Array.isArray(value) ? "array" : typeof value
      } ignored; send one JSON object per message`,
    };
  }
  return { ok: true, value: value as Record<string, unknown> };
}

/**
 * Returns `value` when it is a usable id (printable ASCII without spaces,
 * 1–128 characters), else undefined.
 *
 * @example
 * ```ts
 * import { boundedId } from "./_carrier_wire.ts";
 * boundedId("MZ123"); // "MZ123"
 * boundedId("x".repeat(129)); // undefined
 * ```
 *
 * @param value Anything.
 * @returns The id or undefined.
 */
export function boundedId(value: unknown): string | undefined {
  return typeof value === "string" && ID.test(value) ? value : undefined;
}

/**
 * Returns `value` when it is a non-empty string of at most `max` characters,
 * else undefined.
 *
 * @example
 * ```ts
 * import { boundedText } from "./_carrier_wire.ts";
 * boundedText("reply-1", 128); // "reply-1"
 * boundedText("", 128); // undefined
 * ```
 *
 * @param value Anything.
 * @param max Longest accepted length.
 * @returns The string or undefined.
 */
export function boundedText(value: unknown, max: number): string | undefined {
  return typeof value === "string" && value.length > 0 && value.length <= max
    ? value
    : undefined;
}

/**
 * Whether `value` is one DTMF key: `0-9`, `*`, `#` or `A-D`.
 *
 * @example
 * ```ts
 * import { isDtmfKey } from "./_carrier_wire.ts";
 * isDtmfKey("#"); // true
 * isDtmfKey("12"); // false
 * ```
 *
 * @param value Anything.
 * @returns Whether it is a DTMF key.
 */
export function isDtmfKey(value: unknown): value is string {
  return typeof value === "string" && DTMF_KEY.test(value);
}

/**
 * A short, safe rendering of a value for error reasons (at most ~40 chars),
 * so a hostile megabyte string never ends up in a log line.
 *
 * @example
 * ```ts
 * import { previewValue } from "./_carrier_wire.ts";
 * previewValue("a".repeat(1000)).length < 50; // true
 * ```
 *
 * @param value Anything.
 * @returns Its rendering.
 */
export function previewValue(value: unknown): string {
  let text: string;
  if (typeof value === "string") {
    text = JSON.stringify(value.length > 32 ? value.slice(0, 32) : value);
    if (value.length > 32) text = text.slice(0, -1) + '…"';
  } else if (value === undefined) {
    text = "undefined";
  } else if (typeof value === "object" && value !== null) {
    text = Array.isArray(value) ? "an array" : "an object";
  } else {
    text = String(value).slice(0, 32);
  }
  return text;
}

/** Byte order of 16-bit linear PCM on the wire. */
export type ByteOrder = "little" | "big";

/**
 * Decodes 16-bit linear PCM bytes into a fresh Int16Array.
 *
 * @example
 * ```ts
 * import { decodeL16 } from "./_carrier_wire.ts";
 * decodeL16(new Uint8Array([0x01, 0x00]), "little"); // Int16Array [1]
 * ```
 *
 * @param bytes The bytes; an odd length is an error.
 * @param order Byte order of each sample.
 * @returns The samples.
 * @throws {RangeError} If the length is odd.
 */
export function decodeL16(bytes: Uint8Array, order: ByteOrder): Int16Array {
  if (bytes.length % 2 !== 0) {
    throw new RangeError(
      `L16 audio of ${bytes.length} bytes has an odd length; each sample ` +
        `is 2 bytes`,
    );
  }
  const n = bytes.length / 2;
  const out = new Int16Array(n);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const little = order === "little";
  for (let i = 0; i < n; i++) out[i] = view.getInt16(2 * i, little);
  return out;
}

/**
 * Encodes samples as 16-bit linear PCM bytes.
 *
 * @example
 * ```ts
 * import { encodeL16 } from "./_carrier_wire.ts";
 * encodeL16(new Int16Array([1]), "big"); // Uint8Array [0, 1]
 * ```
 *
 * @param samples The samples.
 * @param order Byte order of each sample.
 * @param length Number of samples to write (default `samples.length`); a
 *   larger value pads with silence.
 * @returns The bytes.
 */
export function encodeL16(
  samples: Int16Array,
  order: ByteOrder,
  length: number = samples.length,
): Uint8Array {
  const out = new Uint8Array(2 * length);
  const view = new DataView(out.buffer);
  const little = order === "little";
  const n = Math.min(length, samples.length);
  for (let i = 0; i < n; i++) view.setInt16(2 * i, samples[i], little);
  return out;
}

const encoder = new TextEncoder();

/**
 * HMAC of UTF-8 `data` with a UTF-8 (or raw) key, via WebCrypto.
 *
 * @example
 * ```ts
 * import { hmac } from "./_carrier_wire.ts";
 * const mac = await hmac("SHA-256", "key", "data");
 * mac.length; // 32
 * ```
 *
 * @param hash `SHA-1` or `SHA-256`.
 * @param key The key.
 * @param data The message.
 * @returns The MAC bytes.
 */
export async function hmac(
  hash: "SHA-1" | "SHA-256",
  key: string | Uint8Array,
  data: string | Uint8Array,
): Promise<Uint8Array> {
  const raw = typeof key === "string" ? encoder.encode(key) : key;
  const cryptoKey = await crypto.subtle.importKey(
    "raw",
    raw as Uint8Array<ArrayBuffer>,
    { name: "HMAC", hash },
    false,
    ["sign"],
  );
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  return new Uint8Array(
    await crypto.subtle.sign(
      "HMAC",
      cryptoKey,
      bytes as Uint8Array<ArrayBuffer>,
    ),
  );
}

/**
 * SHA-256 of UTF-8 text or bytes, as lowercase hex.
 *
 * @example
 * ```ts
 * import { sha256Hex } from "./_carrier_wire.ts";
 * (await sha256Hex("")).slice(0, 8); // "e3b0c442"
 * ```
 *
 * @param data Text or bytes.
 * @returns 64 hex digits.
 */
export async function sha256Hex(data: string | Uint8Array): Promise<string> {
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  const digest = await crypto.subtle.digest(
    "SHA-256",
    bytes as Uint8Array<ArrayBuffer>,
  );
  return toHex(new Uint8Array(digest));
}

/**
 * Lowercase hex of bytes.
 *
 * @example
 * ```ts
 * import { toHex } from "./_carrier_wire.ts";
 * toHex(new Uint8Array([255, 1])); // "ff01"
 * ```
 *
 * @param bytes The bytes.
 * @returns Hex text.
 */
export function toHex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}

/**
 * Compares two strings in time that depends only on their lengths, so a
 * signature check leaks nothing about how many leading characters matched.
 *
 * @example
 * ```ts
 * import { constantTimeEqual } from "./_carrier_wire.ts";
 * constantTimeEqual("abc", "abc"); // true
 * constantTimeEqual("abc", "abd"); // false
 * ```
 *
 * @param a One string.
 * @param b The other.
 * @returns Whether they are equal.
 */
export function constantTimeEqual(a: string, b: string): boolean {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  let diff = x.length ^ y.length;
  const n = Math.max(x.length, y.length);
  for (let i = 0; i < n; i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

/**
 * Escapes text for an XML attribute or element body.
 *
 * @example
 * ```ts
 * import { escapeXml } from "./_carrier_wire.ts";
 * escapeXml('a<b & "c"'); // "a&lt;b &amp; &quot;c&quot;"
 * ```
 *
 * @param text The text.
 * @returns Escaped text.
 */
export function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => XML_ENTITIES[c]);
}

const XML_ENTITIES: Record<string, string> = {
  "<": "&lt;",
  ">": "&gt;",
  "&": "&amp;",
  '"': "&quot;",
  "'": "&apos;",
};

function byteLength(message: WireMessage): number {
  return typeof message === "string" ? message.length : message.byteLength;
}

/**
 * Decodes `{"event":"dtmf","dtmf":{"digit":…}}` (Telnyx, Exotel): the key,
 * or an error that names the field and the keys accepted.
 *
 * @example
 * ```ts
 * import { decodeDtmfField } from "./_carrier_wire.ts";
 * decodeDtmfField({ dtmf: { digit: "5" } }); // { kind: "dtmf", digit: "5" }
 * ```
 *
 * @param msg The parsed message.
 * @returns The decoded value.
 */
export function decodeDtmfField(msg: Record<string, unknown>): Decoded {
  const digit = isRecord(msg.dtmf) ? msg.dtmf.digit : undefined;
  if (!isDtmfDigit(digit)) {
    return {
      kind: "error",
      reason: `dtmf message with invalid dtmf.digit (${
        describe(digit)
      }); expected one of 0-9 * # A-D`,
    };
  }
  return { kind: "dtmf", digit };
}

/**
 * Decodes `{"event":"mark","mark":{"name":…}}` (Telnyx, Exotel): the mark
 * reached, or an error when the name is not a bounded id.
 *
 * @example
 * ```ts
 * import { decodeMarkField } from "./_carrier_wire.ts";
 * decodeMarkField({ mark: { name: "reply-1" } }); // { kind: "played", name: "reply-1" }
 * ```
 *
 * @param msg The parsed message.
 * @returns The decoded value.
 */
export function decodeMarkField(msg: Record<string, unknown>): Decoded {
  const name = isRecord(msg.mark) ? msg.mark.name : undefined;
  const id = checkId(name, "mark.name");
  if (!id.ok) return { kind: "error", reason: `mark message: ${id.reason}` };
  return { kind: "played", name: id.value };
}
