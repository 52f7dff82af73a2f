/**
 * Checks shared by the JSON-over-WebSocket carrier codecs (Telnyx, Exotel):
 * parsing one text frame into an object without throwing, bounded ids,
 * DTMF digits, custom parameters and short previews of hostile input for
 * error reasons. Internal to Parley's transports.
 *
 * @module
 */

import type { WireMessage } from "./codec.ts";

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
