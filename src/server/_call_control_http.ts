/**
 * What the call-control clients share: argument checks, one `fetch` wrapper
 * that turns carrier failures into {@linkcode CallControlError}s with a
 * message that says what to do, and base-URL handling.
 *
 * @module
 */

import { errorText } from "../_internal/errors.ts";
import { env } from "../_internal/permissions.ts";
import {
  CallControlError,
  type CallControlOperation,
  type Carrier,
  type PlaceCallOptions,
} from "./call_control.ts";

/** Display names, for messages. */
export const CARRIER_NAMES: Readonly<Record<Carrier, string>> = {
  twilio: "Twilio",
  telnyx: "Telnyx",
  plivo: "Plivo",
  vonage: "Vonage",
  signalwire: "SignalWire",
};

/** Longest call id accepted (carrier ids are 32 to 80 characters). */
const MAX_CALL_ID = 256;

/**
 * Checks a call id before it goes into a URL path and returns it
 * percent-encoded (see {@linkcode encodePathSegment}). An empty id is refused outright: Plivo's
 * `DELETE …/Call/` without an id hangs up **every** call on the account.
 *
 * @param carrier For the message.
 * @param callId The id.
 * @returns The id, encoded for a path segment.
 */
export function callIdSegment(carrier: Carrier, callId: unknown): string {
  if (
    typeof callId !== "string" || callId.trim() === "" ||
    callId.length > MAX_CALL_ID || callId === "." || callId === ".." ||
    // deno-lint-ignore no-control-regex
    /[\u0000-\u0020\u007f]/.test(callId)
  ) {
    throw new TypeError(
      `${CARRIER_NAMES[carrier]} call control needs the carrier's call id ` +
        `(a non-empty string without spaces, at most ${MAX_CALL_ID} ` +
        `characters), got ${describe(callId)}`,
    );
  }
  return encodePathSegment(callId);
}

/**
 * Percent-encodes a path segment, leaving RFC 3986's `pchar` characters as
 * they are (so a Telnyx `v3:…` id keeps its colon, as Telnyx's SDK sends it).
 *
 * @param segment The text.
 * @returns The encoded segment.
 */
export function encodePathSegment(segment: string): string {
  return segment.replace(
    /[^A-Za-z0-9\-._~!$&'()*+,;=:@]+/g,
    (s) => encodeURIComponent(s),
  );
}

/**
 * Checks a phone number or SIP URI.
 *
 * @param carrier For the message.
 * @param field The option's name.
 * @param value The value.
 * @returns The value, trimmed.
 */
export function checkAddress(
  carrier: Carrier,
  field: string,
  value: unknown,
): string {
  if (
    typeof value !== "string" || value.trim() === "" || value.length > 256 ||
    // deno-lint-ignore no-control-regex
    /[\u0000-\u001f\u007f<>"]/.test(value)
  ) {
    throw new TypeError(
      `${CARRIER_NAMES[carrier]}: ${field} must be a phone number in E.164 ` +
        `form ("+14155550100") or a sip: URI, got ${describe(value)}`,
    );
  }
  return value.trim();
}

/**
 * Checks an http(s) URL option.
 *
 * @param carrier For the message.
 * @param field The option's name.
 * @param value The value.
 * @returns The URL text.
 */
export function checkHttpUrl(
  carrier: Carrier,
  field: string,
  value: unknown,
): string {
  let url: URL | undefined;
  try {
    url = new URL(String(value));
  } catch {
    url = undefined;
  }
  if (
    typeof value !== "string" || !url ||
    (url.protocol !== "http:" && url.protocol !== "https:")
  ) {
    throw new TypeError(
      `${CARRIER_NAMES[carrier]}: ${field} must be an absolute http(s) URL ` +
        `the carrier can reach, got ${describe(value)}`,
    );
  }
  return value;
}

/**
 * Where a transfer by URL goes: `options.url`, or `transferUrl` with `to`
 * (and `callerId`) as query parameters, for carriers whose call update takes
 * a URL rather than inline markup (Plivo, SignalWire).
 *
 * @param carrier For the messages.
 * @param options The transfer's `url`, or `to` and `callerId`.
 * @param transferUrl The route that answers with the carrier's dial markup.
 * @param missing The error text when neither `url` nor `transferUrl` is set.
 * @returns The URL text.
 */
export function transferTarget(
  carrier: Carrier,
  options: { url?: string; to?: string; callerId?: string } | undefined,
  transferUrl: string | undefined,
  missing: string,
): string {
  if (options?.url !== undefined) {
    return checkHttpUrl(carrier, "url", options.url);
  }
  const to = checkAddress(carrier, "to", options?.to);
  if (!transferUrl) throw new TypeError(missing);
  const target = new URL(transferUrl);
  target.searchParams.set("to", to);
  if (options?.callerId !== undefined) {
    target.searchParams.set(
      "callerId",
      checkAddress(carrier, "callerId", options.callerId),
    );
  }
  return target.href;
}

/**
 * Checks a ws(s) URL option.
 *
 * @param carrier For the message.
 * @param field The option's name.
 * @param value The value.
 * @returns The URL text.
 */
export function checkWsUrl(
  carrier: Carrier,
  field: string,
  value: unknown,
): string {
  if (typeof value !== "string" || !/^wss?:\/\/[^\s<>"]+$/.test(value)) {
    throw new TypeError(
      `${CARRIER_NAMES[carrier]}: ${field} must be a wss:// URL (ws:// for ` +
        `local tests), got ${describe(value)}`,
    );
  }
  return value;
}

/**
 * Checks the parts of {@linkcode PlaceCallOptions} every carrier shares.
 *
 * @param carrier For messages.
 * @param options The options.
 * @returns `to` and `from`, checked.
 */
export function checkPlaceCall(
  carrier: Carrier,
  options: PlaceCallOptions,
): { to: string; from: string } {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(
      `${
        CARRIER_NAMES[carrier]
      }: placeCall() needs { to, from, answerUrl | streamUrl }`,
    );
  }
  const to = checkAddress(carrier, "to", options.to);
  const from = checkAddress(carrier, "from", options.from);
  if ((options.answerUrl === undefined) === (options.streamUrl === undefined)) {
    throw new TypeError(
      `${CARRIER_NAMES[carrier]}: placeCall() needs exactly one of answerUrl ` +
        `(the bot's …/incoming webhook) or streamUrl (its media socket)`,
    );
  }
  if (options.answerUrl !== undefined) {
    checkHttpUrl(carrier, "answerUrl", options.answerUrl);
  }
  if (options.streamUrl !== undefined) {
    checkWsUrl(carrier, "streamUrl", options.streamUrl);
  }
  if (options.statusCallbackUrl !== undefined) {
    checkHttpUrl(carrier, "statusCallbackUrl", options.statusCallbackUrl);
  }
  if (
    options.answerMethod !== undefined && options.answerMethod !== "GET" &&
    options.answerMethod !== "POST"
  ) {
    throw new TypeError(
      `${CARRIER_NAMES[carrier]}: answerMethod must be "GET" or "POST", got ` +
        describe(options.answerMethod),
    );
  }
  if (
    options.timeoutSeconds !== undefined &&
    (!Number.isInteger(options.timeoutSeconds) || options.timeoutSeconds < 1 ||
      options.timeoutSeconds > 600)
  ) {
    throw new RangeError(
      `${CARRIER_NAMES[carrier]}: timeoutSeconds must be a whole number of ` +
        `seconds from 1 to 600, got ${describe(options.timeoutSeconds)}`,
    );
  }
  return { to, from };
}

/**
 * The option's value, else the environment variable's, else undefined.
 *
 * @param value The option.
 * @param name The variable.
 * @returns The value.
 */
export function optionOrEnv(
  value: string | undefined,
  name: string,
): string | undefined {
  return value ?? env(name);
}

/**
 * Throws the "missing credentials" error.
 *
 * @param carrier The carrier.
 * @param what What is missing, as option and variable names.
 */
export function missingCredentials(carrier: Carrier, what: string): never {
  throw new TypeError(
    `${CARRIER_NAMES[carrier]} call control needs ${what}. Environment ` +
      `variables are read only with --allow-env`,
  );
}

/**
 * Joins a base URL and a path.
 *
 * @param base The base URL (a trailing slash is dropped).
 * @param path The path, starting with `/`.
 * @returns The URL text.
 */
export function joinUrl(base: string, path: string): string {
  return base.replace(/\/+$/, "") + path;
}

/** Default request time limit of the call-control clients, in ms. */
export const DEFAULT_TIMEOUT_MS = 15_000;

/**
 * A `fetch` that gives up after `timeoutMs` (on top of the caller's own
 * signal).
 *
 * @param carrier For the message.
 * @param fetchFn The fetch to wrap (default `globalThis.fetch`).
 * @param timeoutMs The limit (default {@linkcode DEFAULT_TIMEOUT_MS}).
 * @returns The wrapped fetch.
 */
export function timedFetch(
  carrier: Carrier,
  fetchFn: typeof fetch | undefined,
  timeoutMs: number | undefined,
): typeof fetch {
  const ms = timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isFinite(ms) || ms <= 0) {
    throw new RangeError(
      `${CARRIER_NAMES[carrier]}: timeoutMs must be a positive number of ` +
        `milliseconds, got ${describe(ms)}`,
    );
  }
  return (input, init = {}) => {
    const timeout = AbortSignal.timeout(ms);
    const signal = init.signal
      ? AbortSignal.any([init.signal, timeout])
      : timeout;
    return (fetchFn ?? fetch)(input, { ...init, signal }).catch((e) => {
      if (timeout.aborted && !init.signal?.aborted) {
        throw new DOMException(
          `no answer within ${ms} ms; retry, or raise timeoutMs`,
          "TimeoutError",
        );
      }
      throw e;
    });
  };
}

/** One REST request. */
export interface RestRequest {
  /** The carrier, for messages. */
  carrier: Carrier;
  /** The operation, for messages. */
  operation: CallControlOperation;
  /** The call id, for messages about ended calls. */
  callId?: string;
  /** The full URL. */
  url: string;
  /** The method. */
  method: "GET" | "POST" | "PUT" | "DELETE";
  /** The `Authorization` header value. */
  authorization: string;
  /** A JSON body. */
  json?: unknown;
  /** A form body. */
  form?: Record<string, string | undefined>;
  /** Aborts the request. */
  signal?: AbortSignal;
  /** The fetch to use. */
  fetch?: typeof fetch;
  /** What to check when the credentials are refused. */
  credentialsHint: string;
  /**
   * Carrier error codes (as text) meaning "the call is not live", which
   * carriers send with 400/422 rather than 404.
   */
  endedCodes?: readonly string[];
}

/** A carrier's answer. */
export interface RestResponse {
  /** The HTTP status. */
  status: number;
  /** The parsed JSON body, or undefined for an empty or non-JSON body. */
  body: unknown;
}

/**
 * Sends one request; returns the parsed body on 2xx, else throws a
 * {@linkcode CallControlError} whose message says what to do.
 *
 * @param request The request.
 * @returns Status and body.
 */
export async function restRequest(request: RestRequest): Promise<RestResponse> {
  const headers: Record<string, string> = {
    authorization: request.authorization,
    accept: "application/json",
  };
  let body: string | undefined;
  if (request.json !== undefined) {
    headers["content-type"] = "application/json";
    body = JSON.stringify(request.json);
  } else if (request.form !== undefined) {
    headers["content-type"] = "application/x-www-form-urlencoded";
    const form = new URLSearchParams();
    for (const [k, v] of Object.entries(request.form)) {
      if (v !== undefined) form.append(k, v);
    }
    body = form.toString();
  }
  let response: Response;
  try {
    response = await (request.fetch ?? fetch)(request.url, {
      method: request.method,
      headers,
      body,
      signal: request.signal,
    });
  } catch (e) {
    if (request.signal?.aborted) throw e;
    if ((e as Error)?.name === "TimeoutError") {
      throw new CallControlError(
        `${CARRIER_NAMES[request.carrier]} ${request.operation}: ` +
          `${originOf(request.url)} gave ${errorText(e)}`,
        { carrier: request.carrier, operation: request.operation, cause: e },
      );
    }
    throw new CallControlError(
      `${CARRIER_NAMES[request.carrier]} ${request.operation}: cannot reach ` +
        `${originOf(request.url)} (${errorText(e)}); check the network, ` +
        `--allow-net for that host, and baseUrl`,
      { carrier: request.carrier, operation: request.operation, cause: e },
    );
  }
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  if (response.ok) return { status: response.status, body: parsed };
  throw failure({
    carrier: request.carrier,
    operation: request.operation,
    callId: request.callId,
    status: response.status,
    body: parsed,
    text,
    credentialsHint: request.credentialsHint,
    endedCodes: request.endedCodes,
  });
}

/** What {@linkcode failure} explains. */
export interface FailureInfo {
  /** The carrier. */
  carrier: Carrier;
  /** The operation. */
  operation: CallControlOperation;
  /** The call id, if the request was about one call. */
  callId?: string;
  /** The HTTP status. */
  status: number;
  /** The parsed body. */
  body?: unknown;
  /** The raw body text (used when it is not JSON). */
  text?: string;
  /** What to check when the credentials are refused. */
  credentialsHint: string;
  /** Carrier codes meaning "the call is not live". */
  endedCodes?: readonly string[];
  /** The underlying error. */
  cause?: unknown;
}

/**
 * Builds the error for a refused request: the carrier, the status, the
 * carrier's own words and what to do.
 *
 * @param info The failure.
 * @returns The error.
 */
export function failure(info: FailureInfo): CallControlError {
  const name = CARRIER_NAMES[info.carrier];
  const { message, code } = carrierWords(info.body, info.text);
  const said = message ? `: ${message}` : "";
  const codeText = code ? ` (code ${code})` : "";
  const ended = info.callId !== undefined && info.operation !== "placeCall" &&
    (info.status === 404 ||
      (code !== undefined && (info.endedCodes ?? []).includes(code)));
  let advice: string;
  if (ended) {
    advice = `call ${info.callId} has already ended or the id is wrong; ` +
      `call control takes the carrier's call id, not Parley's stream id`;
  } else if (info.status === 401 || info.status === 403) {
    advice = `the credentials were refused; check ${info.credentialsHint}`;
  } else if (info.status === 404) {
    advice = `the API path was not found; check baseUrl and the account or ` +
      `application id`;
  } else if (info.status === 429) {
    advice = `too many requests; retry after a pause`;
  } else if (info.status >= 500) {
    advice = `the carrier failed on its side; retry with a back-off and ` +
      `check its status page`;
  } else {
    advice = `the carrier refused the request; check the options it names`;
  }
  return new CallControlError(
    `${name} ${info.operation} failed with HTTP ${info.status}${codeText}` +
      `${said} — ${advice}`,
    {
      carrier: info.carrier,
      operation: info.operation,
      status: info.status,
      code,
      callEnded: ended,
      cause: info.cause,
    },
  );
}

/** Pulls a message and a code out of any carrier's error body. */
function carrierWords(
  body: unknown,
  text: string | undefined,
): { message?: string; code?: string } {
  if (typeof body === "object" && body !== null) {
    const b = body as Record<string, unknown>;
    const first = Array.isArray(b.errors) && typeof b.errors[0] === "object"
      ? b.errors[0] as Record<string, unknown>
      : undefined;
    const message = pick(b.message) ?? pick(b.detail) ?? pick(b.error_title) ??
      pick(first?.detail) ?? pick(first?.title) ?? pick(b.title) ??
      pick(b.error);
    const code = pick(b.code) ?? pick(first?.code);
    return { message: message?.slice(0, 300), code };
  }
  const trimmed = text?.trim();
  return trimmed ? { message: trimmed.slice(0, 200) } : {};
}

function pick(value: unknown): string | undefined {
  if (typeof value === "string" && value) return value;
  if (typeof value === "number") return String(value);
  if (typeof value === "object" && value !== null) {
    const v = value as Record<string, unknown>;
    return pick(v.message) ?? pick(v.detail);
  }
  return undefined;
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
}

/**
 * A short, safe description of a value for error messages.
 *
 * @param value Anything.
 * @returns Text.
 */
export function describe(value: unknown): string {
  if (typeof value === "string") {
    return JSON.stringify(value.length > 40 ? value.slice(0, 40) + "…" : value);
  }
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : String(value);
}

/**
 * Base64 of text (UTF-8), for Basic auth.
 *
 * @param text The text.
 * @returns Base64.
 */
export function base64Text(text: string): string {
  let binary = "";
  for (const byte of new TextEncoder().encode(text)) {
    binary += String.fromCharCode(byte);
  }
  return btoa(binary);
}

/**
 * A `Basic` authorization header value.
 *
 * @param user The user name.
 * @param password The password.
 * @returns The header value.
 */
export function basicAuth(user: string, password: string): string {
  return `Basic ${base64Text(`${user}:${password}`)}`;
}

/**
 * Escapes text for XML attribute values and content.
 *
 * @param text The text.
 * @returns Escaped text.
 */
export function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;")
    .replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&apos;");
}

/**
 * Drops a leading `+` (Plivo and Vonage take bare international numbers).
 *
 * @param address A number or SIP URI.
 * @returns It without the `+`.
 */
export function withoutPlus(address: string): string {
  return address.startsWith("+") ? address.slice(1) : address;
}
