/**
 * Base64 for media payloads, using the built-in `Uint8Array.fromBase64` /
 * `setFromBase64` / `toBase64` of Deno 2.9's V8, with strict validation.
 *
 * Validation needs no regular expression: the text must be a whole number
 * of 4-character groups, the built-in decoder rejects any character outside
 * the standard alphabet and any `=` before the end, and the decoded length
 * must be exactly what the text length promises (the built-in decoder skips
 * ASCII whitespace, which would make it shorter).
 *
 * @module
 */

// deno-lint-ignore no-explicit-any
type Base64Bytes = Uint8Array & { setFromBase64(text: string): any };

function invalid(text: string): SyntaxError {
  return new SyntaxError(
    `media.payload is not valid base64 (length ${text.length}); send the ` +
      `audio bytes encoded with standard base64`,
  );
}

/** Bytes that valid base64 text of this length decodes to. */
function decodedLength(text: string): number {
  const n = text.length;
  if (n % 4 !== 0) throw invalid(text);
  if (n === 0) return 0;
  const pad = text.charCodeAt(n - 1) !== 61
    ? 0
    : text.charCodeAt(n - 2) !== 61
    ? 1
    : 2;
  return (n >> 2) * 3 - pad;
}

function decodeInto(text: string, out: Uint8Array, expected: number): void {
  let result: { read: number; written: number };
  try {
    result = (out as Base64Bytes).setFromBase64(text);
  } catch {
    throw invalid(text);
  }
  if (result.read !== text.length || result.written !== expected) {
    throw invalid(text);
  }
}

/**
 * Decodes standard base64; throws a `SyntaxError` that says what is wrong.
 *
 * @example
 * ```ts
 * import { decodeBase64 } from "@parley/parley/transports";
 * decodeBase64("AAE="); // Uint8Array [0, 1]
 * ```
 *
 * @param text Base64 text.
 * @returns The bytes.
 */
export function decodeBase64(text: string): Uint8Array {
  if (typeof text !== "string") {
    throw new SyntaxError("media.payload must be a base64 string");
  }
  const expected = decodedLength(text);
  const out = new Uint8Array(expected);
  if (expected > 0) decodeInto(text, out, expected);
  return out;
}

/**
 * Decodes standard base64 into `out` without allocating, with the checks and
 * errors of {@linkcode decodeBase64}.
 *
 * @example Reuse one buffer for every 20 ms payload
 * ```ts
 * import { decodeBase64Into } from "@parley/parley/transports";
 * const scratch = new Uint8Array(1024);
 * const n = decodeBase64Into("AAE=", scratch); // 2
 * scratch.subarray(0, n); // Uint8Array [0, 1]
 * ```
 *
 * @param text Base64 text.
 * @param out Where the bytes go.
 * @returns The number of bytes written, or -1 when `out` is too short
 *   (nothing was decoded; use {@linkcode decodeBase64}).
 */
export function decodeBase64Into(text: string, out: Uint8Array): number {
  if (typeof text !== "string") {
    throw new SyntaxError("media.payload must be a base64 string");
  }
  const expected = decodedLength(text);
  if (expected > out.length) return -1;
  if (expected > 0) decodeInto(text, out, expected);
  return expected;
}

/**
 * Encodes bytes as standard base64.
 *
 * @example
 * ```ts
 * import { encodeBase64 } from "@parley/parley/transports";
 * encodeBase64(new Uint8Array([0, 1])); // "AAE="
 * ```
 *
 * @param bytes The bytes.
 * @returns Base64 text.
 */
export function encodeBase64(bytes: Uint8Array): string {
  // deno-lint-ignore no-explicit-any
  return (bytes as any).toBase64() as string;
}
