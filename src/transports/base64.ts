/**
 * Base64 for media payloads, using the built-in `Uint8Array.fromBase64` /
 * `toBase64` of Deno 2.9's V8, with strict validation.
 *
 * @module
 */

const B64 = /^[A-Za-z0-9+/]*={0,2}$/;

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
  if (text.length % 4 !== 0 || !B64.test(text)) {
    throw new SyntaxError(
      `media.payload is not valid base64 (length ${text.length}); send the ` +
        `audio bytes encoded with standard base64`,
    );
  }
  // deno-lint-ignore no-explicit-any
  return (Uint8Array as any).fromBase64(text) as Uint8Array;
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
