/**
 * Per-call tokens.
 *
 * - **Access tokens**: every call gets an unguessable token when it starts
 *   (256 random bits, base64url). `/input_hook` and `/outputs` need it next
 *   to the call's id, so knowing (or guessing) an id is not enough to talk
 *   into a call or to read it. The client learns the token from the
 *   WebSocket `started` message or the WebRTC answer.
 * - **Twilio stream tokens**: the TwiML `Parameter` named `parley_token`,
 *   an HMAC-SHA256 of the CallSid and an expiry time keyed with the Twilio
 *   auth token, checked when the Media Stream's `start` arrives and then
 *   spent. A captured upgrade signature (which covers only the URL) no
 *   longer opens streams: each needs a token for its own CallSid, and a
 *   token opens one stream. Being an HMAC, the token is checked by any
 *   isolate or machine that has the auth token, not only the one that
 *   wrote the TwiML.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createHmac, timingSafeEqual } from "node:crypto";

/** Name of the TwiML `<Parameter>` that carries the stream token. */
export const TWILIO_STREAM_TOKEN_PARAMETER = "parley_token";

/** How long a Twilio stream token is valid by default (10 minutes). */
export const DEFAULT_STREAM_TOKEN_TTL_S = 600;

/**
 * A fresh unguessable token: 32 random bytes, base64url without padding
 * (43 characters).
 *
 * @example
 * ```ts
 * import { newCallToken } from "@parley/parley/server";
 * const token = newCallToken(); // e.g. "q3J…" (43 characters)
 * ```
 *
 * @returns The token.
 */
export function newCallToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return Buffer.from(bytes).toString("base64url");
}

/**
 * Compares two tokens in time that does not depend on where they differ.
 *
 * @example
 * ```ts
 * import { sameToken } from "@parley/parley/server";
 * sameToken("abc", "abc"); // true
 * sameToken(null, "abc"); // false
 * ```
 *
 * @param given The token a client sent (anything).
 * @param expected The call's token.
 * @returns Whether they are equal.
 */
export function sameToken(given: unknown, expected: string): boolean {
  if (typeof given !== "string" || given.length > 512) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function streamMac(authToken: string, callSid: string, exp: number): string {
  return createHmac("sha256", authToken)
    .update(`parley twilio stream\u0000${callSid}\u0000${exp}`, "utf8")
    .digest("base64url");
}

/**
 * Makes the `parley_token` for one Twilio call: `<expiry>.<mac>`, where the
 * MAC is HMAC-SHA256 over the CallSid and the expiry (Unix seconds), keyed
 * with the auth token. Put it in the TwiML as
 * `<Parameter name="parley_token" value="…"/>` when you write the TwiML
 * yourself; `Stream`'s `/telephone/incoming` does it for you.
 *
 * Without a `callSid` (inline TwiML of an outbound call, whose CallSid is
 * not known yet) the token is good for any one call: still single-use and
 * expiring, and still secret, since only Twilio sees the TwiML.
 *
 * @example
 * ```ts
 * import { buildConnectTwiml, createTwilioStreamToken } from "@parley/parley/server";
 * const token = createTwilioStreamToken({ authToken: "secret", callSid: "CA1" });
 * const xml = buildConnectTwiml({
 *   streamUrl: "wss://bot.example.com/telephone/handler",
 *   parameters: { parley_token: token },
 * });
 * ```
 *
 * @param options The auth token, the CallSid, the lifetime.
 * @returns The token.
 */
export function createTwilioStreamToken(options: {
  /** The Twilio auth token (the HMAC key). */
  authToken: string;
  /** The call's CallSid from the webhook (omit: any one call). */
  callSid?: string;
  /** Seconds the token stays valid (default 600). */
  ttlSeconds?: number;
  /** Current time in ms (default `Date.now()`), for tests. */
  now?: number;
}): string {
  const now = options.now ?? Date.now();
  const exp = Math.floor(now / 1000) +
    Math.ceil(options.ttlSeconds ?? DEFAULT_STREAM_TOKEN_TTL_S);
  return `${exp}.${streamMac(options.authToken, options.callSid ?? "", exp)}`;
}

/**
 * Checks a `parley_token` against the CallSid of the `start` message.
 *
 * @example
 * ```ts
 * import { checkTwilioStreamToken, createTwilioStreamToken } from "@parley/parley/server";
 * const token = createTwilioStreamToken({ authToken: "s", callSid: "CA1" });
 * checkTwilioStreamToken({ authToken: "s", callSid: "CA1", token }); // { ok: true, expiresAt: … }
 * checkTwilioStreamToken({ authToken: "s", callSid: "CA2", token }).ok; // false
 * ```
 *
 * @param options The auth token, the CallSid, the token from `start`.
 * @returns Whether it is valid (and until when), or why not.
 */
export function checkTwilioStreamToken(options: {
  /** The Twilio auth token. */
  authToken: string;
  /** The CallSid the `start` message names. */
  callSid: string;
  /** The `parley_token` custom parameter (anything). */
  token: unknown;
  /** Current time in ms (default `Date.now()`), for tests. */
  now?: number;
}): { ok: true; expiresAt: number } | { ok: false; reason: string } {
  const { token } = options;
  if (typeof token !== "string" || token.length === 0) {
    return {
      ok: false,
      reason: `no ${TWILIO_STREAM_TOKEN_PARAMETER} parameter in start`,
    };
  }
  const m = /^(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(token);
  if (!m) {
    return { ok: false, reason: `malformed ${TWILIO_STREAM_TOKEN_PARAMETER}` };
  }
  const exp = Number(m[1]);
  // Bound to this CallSid, or made for any one call (no CallSid).
  const bound = sameToken(
    m[2],
    streamMac(options.authToken, options.callSid, exp),
  );
  if (!bound && !sameToken(m[2], streamMac(options.authToken, "", exp))) {
    return {
      ok: false,
      reason: `${TWILIO_STREAM_TOKEN_PARAMETER} does not match the CallSid`,
    };
  }
  if (exp * 1000 < (options.now ?? Date.now())) {
    return { ok: false, reason: `${TWILIO_STREAM_TOKEN_PARAMETER} expired` };
  }
  return { ok: true, expiresAt: exp * 1000 };
}

/**
 * Remembers spent one-time tokens until they expire, so each opens one
 * stream. Bounded: expired entries are dropped as new ones arrive, and at
 * most `max` are kept (the oldest go first).
 *
 * @example
 * ```ts
 * import { SpentTokens } from "./call_tokens.ts";
 * const spent = new SpentTokens();
 * spent.spend("t", Date.now() + 60_000); // true: first use
 * spent.spend("t", Date.now() + 60_000); // false: replay
 * ```
 */
export class SpentTokens {
  #spent = new Map<string, number>();
  #max: number;

  /**
   * Makes an empty set.
   *
   * @param max Most tokens remembered (default 100000).
   */
  constructor(max = 100_000) {
    this.#max = max;
  }

  /**
   * Spends a token.
   *
   * @param token The token.
   * @param expiresAt When it expires (ms since the epoch).
   * @returns False when it was spent before.
   */
  spend(token: string, expiresAt: number): boolean {
    const now = Date.now();
    for (const [t, exp] of this.#spent) {
      if (exp >= now && this.#spent.size < this.#max) break;
      this.#spent.delete(t);
    }
    if (this.#spent.has(token)) return false;
    this.#spent.set(token, expiresAt);
    return true;
  }
}
