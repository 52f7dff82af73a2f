/**
 * Twilio voice webhook helpers: TwiML that connects a call to Parley's Media
 * Stream endpoint, and `X-Twilio-Signature` validation for the webhook and
 * the WebSocket upgrade. Both are built on the official `twilio` package.
 *
 * @module
 */

import twilio from "twilio";

/** Options of {@linkcode buildConnectTwiml}. */
export interface ConnectTwimlOptions {
  /** The `wss://…/telephone/handler` URL (no query string: Twilio rejects it). */
  streamUrl: string;
  /** Text to `<Say>` before connecting (none by default: it adds latency). */
  say?: string;
  /** Text to `<Say>` after the stream ends. */
  goodbye?: string;
  /** `<Parameter>` values delivered in the `start` message. */
  parameters?: Record<string, string>;
}

/**
 * Builds `<Response><Connect><Stream url=…/></Connect></Response>`.
 *
 * @example
 * ```ts
 * import { buildConnectTwiml } from "@parley/parley";
 * const xml = buildConnectTwiml({ streamUrl: "wss://example.com/telephone/handler" });
 * ```
 *
 * @param options The stream URL and extras.
 * @returns TwiML text.
 */
export function buildConnectTwiml(options: ConnectTwimlOptions): string {
  if (
    !/^wss?:\/\//.test(options.streamUrl) || options.streamUrl.includes("?")
  ) {
    throw new TypeError(
      `Invalid stream URL ${options.streamUrl}: Twilio needs a wss:// URL ` +
        `without a query string; pass data as parameters instead`,
    );
  }
  const response = new twilio.twiml.VoiceResponse();
  if (options.say) response.say(options.say);
  const stream = response.connect().stream({ url: options.streamUrl });
  for (const [name, value] of Object.entries(options.parameters ?? {})) {
    stream.parameter({ name, value });
  }
  if (options.goodbye) response.say(options.goodbye);
  return response.toString();
}

/**
 * Builds TwiML that tells the caller every line is busy and hangs up.
 *
 * @example
 * ```ts
 * import { buildBusyTwiml } from "@parley/parley";
 * const xml = buildBusyTwiml("All lines are busy, please call back later.");
 * ```
 *
 * @param message What to say.
 * @returns TwiML text.
 */
export function buildBusyTwiml(message: string): string {
  const response = new twilio.twiml.VoiceResponse();
  response.say(message);
  response.hangup();
  return response.toString();
}

/**
 * Checks `X-Twilio-Signature` of a request with the account's auth token.
 * `url` must be the URL Twilio requested (behind a proxy, the public one);
 * `params` are the POSTed form fields (empty for the WebSocket upgrade, whose
 * signature is computed over the `wss://` URL).
 *
 * @example
 * ```ts
 * import { isValidTwilioSignature } from "@parley/parley";
 * const ok = isValidTwilioSignature({
 *   authToken: "token",
 *   signature: "bad",
 *   url: "https://example.com/telephone/incoming",
 *   params: { CallSid: "CA1" },
 * });
 * // ok === false
 * ```
 *
 * @param options Token, signature, URL and parameters.
 * @returns Whether the signature is valid.
 */
export function isValidTwilioSignature(options: {
  authToken: string;
  signature: string | null;
  url: string;
  params?: Record<string, string>;
}): boolean {
  if (!options.signature) return false;
  return twilio.validateRequest(
    options.authToken,
    options.signature,
    options.url,
    options.params ?? {},
  );
}

/**
 * The public URL of a request: honours `X-Forwarded-Proto`/`-Host` from a
 * proxy, or `publicBase` when given (e.g. `https://bot.example.com`).
 *
 * @example
 * ```ts
 * import { publicUrl } from "@parley/parley";
 * const req = new Request("http://127.0.0.1:8000/telephone/incoming", {
 *   headers: { "x-forwarded-proto": "https", "x-forwarded-host": "bot.example.com" },
 * });
 * publicUrl(req).href; // "https://bot.example.com/telephone/incoming"
 * ```
 *
 * @param request The request.
 * @param publicBase Optional base URL that overrides the request's origin.
 * @returns The URL.
 */
export function publicUrl(request: Request, publicBase?: string): URL {
  const url = new URL(request.url);
  if (publicBase) {
    const base = new URL(publicBase);
    const basePath = base.pathname.replace(/\/$/, "");
    return new URL(basePath + url.pathname + url.search, base.origin);
  }
  const proto = request.headers.get("x-forwarded-proto")?.split(",")[0].trim();
  const host = request.headers.get("x-forwarded-host")?.split(",")[0].trim();
  if (proto) url.protocol = proto + ":";
  if (host) url.host = host;
  return url;
}
