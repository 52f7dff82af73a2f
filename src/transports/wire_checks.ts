/**
 * Small pieces shared by the Plivo, Vonage and SignalWire wire codecs:
 * parsing one JSON text message without throwing, bounded ids, DTMF keys,
 * 16-bit linear PCM (L16) in either byte order, and the WebCrypto HMAC and
 * hash helpers their signature checks use.
 *
 * Nothing here touches a socket or a timer.
 *
 * @module
 */

import type { WireMessage } from "./codec.ts";

/** Longest id (stream id, call id, account id) a codec accepts. */
export const MAX_ID_LENGTH = 128;

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
 * import { parseJsonObject } from "./wire_checks.ts";
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
        `${preview(message)}); send one JSON object per message`,
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
 * import { boundedId } from "./wire_checks.ts";
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
 * import { boundedText } from "./wire_checks.ts";
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
 * import { isDtmfKey } from "./wire_checks.ts";
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
 * import { preview } from "./wire_checks.ts";
 * preview("a".repeat(1000)).length < 50; // true
 * ```
 *
 * @param value Anything.
 * @returns Its rendering.
 */
export function preview(value: unknown): string {
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
 * import { decodeL16 } from "./wire_checks.ts";
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
 * import { encodeL16 } from "./wire_checks.ts";
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
 * import { hmac } from "./wire_checks.ts";
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
 * import { sha256Hex } from "./wire_checks.ts";
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
 * import { toHex } from "./wire_checks.ts";
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
 * import { constantTimeEqual } from "./wire_checks.ts";
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
 * import { escapeXml } from "./wire_checks.ts";
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
