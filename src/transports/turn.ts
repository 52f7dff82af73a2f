/**
 * TURN credentials for WebRTC behind NATs and firewalls, like FastRTC's
 * `get_cloudflare_turn_credentials` and `get_twilio_turn_credentials`. Both
 * return an `RTCConfiguration`-shaped object: pass it to the browser (the
 * built-in page fetches nothing by itself; serve it to your client) and to
 * `createWebRtcEndpoint({ rtcConfiguration })` for the server side.
 *
 * @module
 */

import type { WebRtcConfiguration, WebRtcIceServer } from "./webrtc.ts";
import { lazyImport } from "../_internal/lazy_import.ts";
import { env } from "../_internal/permissions.ts";

const loadTwilioSdk = lazyImport<
  { default: typeof import("npm:twilio@6.2.0") }
>(
  "npm:twilio@6.2.0",
  "getTwilioTurnCredentials",
);

/** Options of {@linkcode getCloudflareTurnCredentials}. */
export interface CloudflareTurnOptions {
  /** TURN key id (default: `CLOUDFLARE_TURN_KEY_ID` env). */
  turnKeyId?: string;
  /** TURN key API token (default: `CLOUDFLARE_TURN_KEY_API_TOKEN` env). */
  turnKeyApiToken?: string;
  /**
   * A Hugging Face token (default: `HF_TOKEN` env) to use FastRTC's free
   * Cloudflare TURN at turn.fastrtc.org instead of your own key. Used only
   * when no Cloudflare key is given.
   */
  hfToken?: string;
  /** Credential lifetime in seconds (default 600). */
  ttl?: number;
  /** API base URL (default `https://rtc.live.cloudflare.com/v1`). */
  baseUrl?: string;
  /** FastRTC's TURN service URL (default `https://turn.fastrtc.org`). */
  hfBaseUrl?: string;
  /** Aborts the request. */
  signal?: AbortSignal;
}

function checkTtl(ttl: number): number {
  if (!Number.isInteger(ttl) || ttl <= 0 || ttl > 172800) {
    throw new RangeError(
      `ttl must be a whole number of seconds from 1 to 172800, got ${ttl}`,
    );
  }
  return ttl;
}

/**
 * Fetches short-lived TURN credentials from Cloudflare Calls (your own TURN
 * key), or from FastRTC's free service with a Hugging Face token.
 *
 * @example
 * ```ts
 * import { createWebRtcEndpoint, getCloudflareTurnCredentials } from "@parley/parley";
 * // Needs CLOUDFLARE_TURN_KEY_ID and CLOUDFLARE_TURN_KEY_API_TOKEN (or HF_TOKEN).
 * async function webrtcWithTurn() {
 *   const rtcConfiguration = await getCloudflareTurnCredentials({ ttl: 3600 });
 *   return createWebRtcEndpoint({ rtcConfiguration });
 * }
 * ```
 *
 * @param options Key, token, lifetime.
 * @returns `{ iceServers: [...] }`.
 */
export async function getCloudflareTurnCredentials(
  options: CloudflareTurnOptions = {},
): Promise<WebRtcConfiguration> {
  const ttl = checkTtl(options.ttl ?? 600);
  const keyId = options.turnKeyId ?? env("CLOUDFLARE_TURN_KEY_ID");
  const apiToken = options.turnKeyApiToken ??
    env("CLOUDFLARE_TURN_KEY_API_TOKEN");
  let request: Request;
  if (keyId || apiToken) {
    if (!keyId || !apiToken) {
      throw new TypeError(
        "Cloudflare TURN needs both a key id and its API token; pass turnKeyId " +
          "and turnKeyApiToken or set CLOUDFLARE_TURN_KEY_ID and " +
          "CLOUDFLARE_TURN_KEY_API_TOKEN",
      );
    }
    const base = (options.baseUrl ?? "https://rtc.live.cloudflare.com/v1")
      .replace(/\/$/, "");
    request = new Request(
      `${base}/turn/keys/${
        encodeURIComponent(keyId)
      }/credentials/generate-ice-servers`,
      {
        method: "POST",
        headers: {
          authorization: `Bearer ${apiToken}`,
          "content-type": "application/json",
        },
        body: JSON.stringify({ ttl }),
        signal: options.signal,
      },
    );
  } else {
    const hfToken = options.hfToken ?? env("HF_TOKEN");
    if (!hfToken) {
      throw new TypeError(
        "No TURN credentials configured; pass turnKeyId and turnKeyApiToken " +
          "(or set CLOUDFLARE_TURN_KEY_ID and CLOUDFLARE_TURN_KEY_API_TOKEN), " +
          "or pass hfToken (or set HF_TOKEN) to use turn.fastrtc.org",
      );
    }
    const base = (options.hfBaseUrl ?? "https://turn.fastrtc.org").replace(
      /\/$/,
      "",
    );
    request = new Request(`${base}/credentials?ttl=${ttl}`, {
      headers: { authorization: `Bearer ${hfToken}` },
      signal: options.signal,
    });
  }
  const response = await fetch(request);
  const text = await response.text();
  if (!response.ok) {
    throw new Error(
      `TURN credentials request to ${new URL(request.url).host} failed with ` +
        `HTTP ${response.status}: ${
          text.slice(0, 200)
        }; check the key and token`,
    );
  }
  let body: { iceServers?: WebRtcIceServer | WebRtcIceServer[] };
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(
      `TURN credentials response is not JSON: ${
        text.slice(0, 100)
      }; check baseUrl`,
    );
  }
  if (!body.iceServers) {
    throw new Error(
      `TURN credentials response has no iceServers: ${text.slice(0, 200)}`,
    );
  }
  // Cloudflare's older endpoint returns one server object, the newer a list.
  const iceServers = Array.isArray(body.iceServers)
    ? body.iceServers
    : [body.iceServers];
  return { ...body, iceServers } as WebRtcConfiguration;
}

/** The subset of the `twilio` package's HTTP client used for tests/proxies. */
export interface TwilioHttpClient {
  /** Performs one request. */
  request(options: Record<string, unknown>): Promise<unknown>;
}

/** Options of {@linkcode getTwilioTurnCredentials}. */
export interface TwilioTurnOptions {
  /** Account SID (default: `TWILIO_ACCOUNT_SID` env). */
  accountSid?: string;
  /** Auth token (default: `TWILIO_AUTH_TOKEN` env). */
  authToken?: string;
  /** Credential lifetime in seconds (Twilio's default 86400 when unset). */
  ttl?: number;
  /** A custom `twilio` HTTP client (proxies, tests). */
  httpClient?: TwilioHttpClient;
}

/**
 * Creates a Twilio Network Traversal Service token with the `twilio` package
 * (`client.tokens.create()`); returns its ICE servers with
 * `iceTransportPolicy: "relay"`, as FastRTC does.
 *
 * @example
 * ```ts
 * import { getTwilioTurnCredentials } from "@parley/parley";
 * // Needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN.
 * async function iceServers() {
 *   const rtcConfiguration = await getTwilioTurnCredentials();
 *   return rtcConfiguration.iceServers;
 * }
 * ```
 *
 * @param options Account SID, auth token, lifetime.
 * @returns `{ iceServers, iceTransportPolicy: "relay" }`.
 */
export async function getTwilioTurnCredentials(
  options: TwilioTurnOptions = {},
): Promise<WebRtcConfiguration> {
  const sid = options.accountSid ?? env("TWILIO_ACCOUNT_SID");
  const token = options.authToken ?? env("TWILIO_AUTH_TOKEN");
  if (!sid || !token) {
    throw new TypeError(
      "Twilio TURN needs an account SID and auth token; pass accountSid and " +
        "authToken or set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN",
    );
  }
  if (!/^AC[0-9a-fA-F]{32}$/.test(sid)) {
    throw new TypeError(
      `Twilio account SID "${sid.slice(0, 6)}…" is malformed; it starts with ` +
        `AC followed by 32 hex digits (see the Twilio console)`,
    );
  }
  const ttl = options.ttl === undefined ? undefined : checkTtl(options.ttl);
  const { default: twilio } = await loadTwilioSdk();
  const client = twilio(sid, token, {
    // deno-lint-ignore no-explicit-any
    httpClient: options.httpClient as any,
  });
  const created = await client.tokens.create(ttl === undefined ? {} : { ttl });
  return {
    iceServers: created.iceServers as unknown as WebRtcIceServer[],
    iceTransportPolicy: "relay",
  };
}
