/**
 * Reading request bodies with a size cap, so no client can make the server
 * buffer (or parse) more than it allows.
 *
 * A declared `content-length` over the cap is refused before a byte is
 * read; a chunked body is read as a stream and cancelled the moment it
 * passes the cap. Every POST route of `Stream` (the Twilio and carrier
 * webhooks, `/input_hook`, `/webrtc/offer`) reads its body through
 * {@linkcode readBodyCapped}, and JSON is parsed only from bytes that fit.
 *
 * @module
 */

/** Default largest request body, in bytes (1 MiB). */
export const DEFAULT_MAX_BODY_BYTES: number = 1 << 20;

/**
 * A request body was larger than the route accepts. `Stream` answers it
 * with 413 and {@linkcode RequestBodyTooLargeError.message}.
 *
 * @example
 * ```ts
 * import { RequestBodyTooLargeError } from "@parley/parley/server";
 * const e = new RequestBodyTooLargeError(1024, 5000);
 * console.log(e.message); // "Request body of 5000 bytes exceeds the 1024-byte limit; …"
 * ```
 */
export class RequestBodyTooLargeError extends Error {
  /** The cap, in bytes. */
  readonly maxBytes: number;
  /** The declared or read size, in bytes (a lower bound for a stream). */
  readonly size: number;

  /**
   * Makes the error for a body of `size` bytes over a `maxBytes` cap.
   *
   * @param maxBytes The cap.
   * @param size The size seen (declared, or read so far).
   */
  constructor(maxBytes: number, size: number) {
    super(
      `Request body of ${size}${
        size > maxBytes ? "" : "+"
      } bytes exceeds the ${maxBytes}-byte limit; send a smaller body or ` +
        `raise the server's maxBodyBytes option`,
    );
    this.name = "RequestBodyTooLargeError";
    this.maxBytes = maxBytes;
    this.size = size;
  }
}

/**
 * Reads a request's body, refusing more than `maxBytes`: a `content-length`
 * over the cap throws before reading, a longer stream is cancelled as soon
 * as it passes the cap.
 *
 * @example
 * ```ts
 * import { readBodyCapped, RequestBodyTooLargeError } from "@parley/parley/server";
 * const req = new Request("http://localhost/", { method: "POST", body: "hi" });
 * const bytes = await readBodyCapped(req, 1024); // Uint8Array [104, 105]
 * try {
 *   await readBodyCapped(
 *     new Request("http://localhost/", { method: "POST", body: "x".repeat(2000) }),
 *     1024,
 *   );
 * } catch (e) {
 *   console.log(e instanceof RequestBodyTooLargeError); // true
 * }
 * ```
 *
 * @param request The request.
 * @param maxBytes Largest accepted body (default 1 MiB).
 * @returns The body's bytes (empty when there is none).
 * @throws {RequestBodyTooLargeError} When the body is over the cap.
 */
export async function readBodyCapped(
  request: Request,
  maxBytes: number = DEFAULT_MAX_BODY_BYTES,
): Promise<Uint8Array> {
  const declared = request.headers.get("content-length");
  if (declared !== null) {
    const n = Number(declared);
    if (Number.isFinite(n) && n > maxBytes) {
      await request.body?.cancel().catch(() => {});
      throw new RequestBodyTooLargeError(maxBytes, n);
    }
  }
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > maxBytes) {
        await reader.cancel().catch(() => {});
        throw new RequestBodyTooLargeError(maxBytes, total);
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/**
 * Reads a capped body as UTF-8 text.
 *
 * @example
 * ```ts
 * import { readTextCapped } from "@parley/parley/server";
 * const req = new Request("http://localhost/", { method: "POST", body: "a=1" });
 * console.log(await readTextCapped(req, 1024)); // "a=1"
 * ```
 *
 * @param request The request.
 * @param maxBytes Largest accepted body (default 1 MiB).
 * @returns The text.
 * @throws {RequestBodyTooLargeError} When the body is over the cap.
 */
export async function readTextCapped(
  request: Request,
  maxBytes: number = DEFAULT_MAX_BODY_BYTES,
): Promise<string> {
  return new TextDecoder().decode(await readBodyCapped(request, maxBytes));
}

/**
 * The 413 answer for a {@linkcode RequestBodyTooLargeError}.
 *
 * @example
 * ```ts
 * import { RequestBodyTooLargeError, tooLargeResponse } from "@parley/parley/server";
 * const res = tooLargeResponse(new RequestBodyTooLargeError(1024, 5000));
 * console.log(res.status); // 413
 * ```
 *
 * @param error The error.
 * @returns A `text/plain` 413 response that closes the connection.
 */
export function tooLargeResponse(error: RequestBodyTooLargeError): Response {
  return new Response(error.message, {
    status: 413,
    headers: {
      "content-type": "text/plain; charset=utf-8",
      connection: "close",
    },
  });
}
