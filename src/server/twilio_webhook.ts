/**
 * Twilio voice webhook helpers: TwiML that connects a call to Parley's Media
 * Stream endpoint, and `X-Twilio-Signature` validation for the webhook and
 * the WebSocket upgrade.
 *
 * Both are written here rather than taken from the official `twilio` SDK:
 * the SDK is 21 MB with its HTTP stack, and a phone bot needs only an XML
 * string and one HMAC. The tests check both against the SDK (TwiML text and
 * `getExpectedTwilioSignature`), which stays the choice for REST calls.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createHmac, timingSafeEqual } from "node:crypto";

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
 * import { buildConnectTwiml } from "@parley/parley/server";
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
  let xml = "";
  if (options.say) xml += `<Say>${escapeXml(options.say)}</Say>`;
  const params = Object.entries(options.parameters ?? {}).map(([n, v]) =>
    `<Parameter name="${escapeXml(n)}" value="${escapeXml(v)}"/>`
  ).join("");
  const url = `url="${escapeXml(options.streamUrl)}"`;
  xml += params
    ? `<Connect><Stream ${url}>${params}</Stream></Connect>`
    : `<Connect><Stream ${url}/></Connect>`;
  if (options.goodbye) xml += `<Say>${escapeXml(options.goodbye)}</Say>`;
  return twimlResponse(xml);
}

/**
 * Builds TwiML that tells the caller every line is busy and hangs up.
 *
 * @example
 * ```ts
 * import { buildBusyTwiml } from "@parley/parley/server";
 * const xml = buildBusyTwiml("All lines are busy, please call back later.");
 * ```
 *
 * @param message What to say.
 * @returns TwiML text.
 */
export function buildBusyTwiml(message: string): string {
  return twimlResponse(`<Say>${escapeXml(message)}</Say><Hangup/>`);
}

function twimlResponse(body: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?><Response>${body}</Response>`;
}

/** Escapes text for an XML element or a double-quoted attribute. */
function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => XML_ESCAPES[c]);
}

const XML_ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&apos;",
};

/**
 * Checks `X-Twilio-Signature` of a request with the account's auth token.
 * `url` must be the URL Twilio requested (behind a proxy, the public one);
 * `params` are the POSTed form fields (empty for the WebSocket upgrade, whose
 * signature is computed over the `wss://` URL).
 *
 * @example
 * ```ts
 * import { isValidTwilioSignature } from "@parley/parley/server";
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
  const given = Buffer.from(options.signature);
  const params = options.params ?? {};
  // Twilio may have signed the URL with or without the default port.
  return urlVariants(options.url).some((url) => {
    const expected = Buffer.from(
      twilioSignature(options.authToken, url, params),
    );
    return expected.length === given.length && timingSafeEqual(expected, given);
  });
}

/**
 * Twilio's signature: base64 HMAC-SHA1, keyed with the auth token, of the
 * URL followed by every POST parameter's name and value in name order.
 */
function twilioSignature(
  authToken: string,
  url: string,
  params: Record<string, string>,
): string {
  let data = url;
  for (const key of Object.keys(params).sort()) data += key + params[key];
  return createHmac("sha1", authToken).update(data, "utf8").digest("base64");
}

/** The URL as given, and with its default port added or removed. */
function urlVariants(url: string): string[] {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return [url];
  }
  const port = { "https:": "443", "wss:": "443", "http:": "80", "ws:": "80" }[
    parsed.protocol
  ];
  if (!port) return [url];
  const rest = `${parsed.pathname}${parsed.search}`;
  const auth = parsed.username
    ? `${parsed.username}${parsed.password ? `:${parsed.password}` : ""}@`
    : "";
  const base = `${parsed.protocol}//${auth}${parsed.hostname}`;
  const explicitPort = /^[a-z]+:\/\/[^/]*:\d+/i.test(url);
  return explicitPort
    ? [url, parsed.port ? url : `${base}${rest}`]
    : [url, `${base}:${port}${rest}`];
}

/** How {@linkcode publicUrl} finds a request's public URL. */
export interface PublicUrlOptions {
  /**
   * Public base URL (e.g. `https://bot.example.com`); when set, it wins
   * over the request's origin and over every forwarded header.
   */
  publicUrl?: string;
  /**
   * Believe the proxy's `Forwarded` / `X-Forwarded-Proto`, `-Host` and
   * `-Port` headers (default false: they are ignored, since any client can
   * send them). Set it only when a proxy you run sits in front of the
   * server; the value the proxy appended (the last one) is used, not one a
   * client put in front of it.
   */
  trustProxy?: boolean;
}

/**
 * The public URL of a request: `publicUrl` when given, else — with
 * `trustProxy` — the scheme, host and port the nearest proxy reports
 * (`Forwarded`, RFC 7239, or `X-Forwarded-Proto`/`-Host`/`-Port`, the last
 * value of each), else the request's own URL. A forwarded host without a
 * port means the scheme's default port: the server's internal port never
 * leaks into the result.
 *
 * @example
 * ```ts
 * import { publicUrl } from "@parley/parley/server";
 * const req = new Request("http://127.0.0.1:8000/telephone/incoming", {
 *   headers: { "x-forwarded-proto": "https", "x-forwarded-host": "bot.example.com" },
 * });
 * publicUrl(req).href; // "http://127.0.0.1:8000/telephone/incoming" (not trusted)
 * publicUrl(req, { trustProxy: true }).href; // "https://bot.example.com/telephone/incoming"
 * ```
 *
 * @param request The request.
 * @param options A public base URL (a string, as before) or
 *   {@linkcode PublicUrlOptions}.
 * @returns The URL.
 */
export function publicUrl(
  request: Request,
  options?: string | PublicUrlOptions,
): URL {
  const opts: PublicUrlOptions = typeof options === "string"
    ? { publicUrl: options }
    : options ?? {};
  const url = new URL(request.url);
  if (opts.publicUrl) {
    const base = new URL(opts.publicUrl);
    const basePath = base.pathname.replace(/\/$/, "");
    return new URL(basePath + url.pathname + url.search, base.origin);
  }
  if (!opts.trustProxy) return url;
  const fwd = forwardedValues(request.headers);
  if (!fwd.proto && !fwd.host) return url;
  const proto = (fwd.proto ?? url.protocol.slice(0, -1)).toLowerCase();
  if (!/^(https?|wss?)$/.test(proto)) return url;
  let host = fwd.host ?? url.host;
  if (fwd.port && /^\d{1,5}$/.test(fwd.port) && !/:\d+$/.test(host)) {
    host = `${host}:${fwd.port}`;
  }
  // Only a bare host[:port] is accepted: no path, user info or spaces.
  if (!/^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:\d{1,5})?$/i.test(host)) return url;
  try {
    return new URL(`${proto}://${host}${url.pathname}${url.search}`);
  } catch {
    return url;
  }
}

/** The last proxy's proto, host and port from the forwarded headers. */
function forwardedValues(
  headers: Headers,
): { proto?: string; host?: string; port?: string } {
  const last = (name: string) => {
    const v = headers.get(name);
    if (!v) return undefined;
    const parts = v.split(",").map((p) => p.trim()).filter(Boolean);
    return parts.at(-1);
  };
  const forwarded = last("forwarded");
  if (forwarded) {
    const out: { proto?: string; host?: string } = {};
    for (const pair of forwarded.split(";")) {
      const eq = pair.indexOf("=");
      if (eq < 0) continue;
      const key = pair.slice(0, eq).trim().toLowerCase();
      const value = pair.slice(eq + 1).trim().replace(/^"(.*)"$/, "$1");
      if (key === "proto") out.proto = value;
      if (key === "host") out.host = value;
    }
    if (out.proto || out.host) return out;
  }
  return {
    proto: last("x-forwarded-proto"),
    host: last("x-forwarded-host"),
    port: last("x-forwarded-port"),
  };
}
