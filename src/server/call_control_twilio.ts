/**
 * Twilio call control with the official `twilio` SDK (Calls resource of the
 * 2010-04-01 REST API):
 *
 * - place: `POST /2010-04-01/Accounts/{AccountSid}/Calls.json` with `To`,
 *   `From` and `Url` (or inline `Twiml` for a `streamUrl`);
 * - hang up: `POST …/Calls/{CallSid}.json` with `Status=completed`;
 * - transfer: the same update with new `Twiml` (`<Dial>`), or `Url`.
 *
 * **SDK or fetch.** The SDK is Twilio's own and released often
 * (300 releases; 21 MB unpacked, 29 MB with its 53 dependencies), so it is
 * used here as DESIGN.md asks, but loaded only on first use through a
 * non-literal `import()` of `npm:twilio@6.2.0`: a bot that never places or
 * ends calls over REST never downloads it. Parley hands the SDK an HTTP
 * client built on `fetch` (Twilio's `httpClient` option), which is also how
 * `baseUrl` points every request at another origin (tests, proxies); pass
 * your own `httpClient` to replace it.
 *
 * The SDK needs `--allow-env` when it loads (its `debug` dependency lists
 * the environment; it also honours `TWILIO_EDGE` / `TWILIO_REGION`), and
 * offers no per-request abort: `signal` is checked before sending.
 *
 * @module
 */

import { lazyImport } from "../_internal/lazy_import.ts";
import {
  basicAuth,
  callIdSegment,
  checkAddress,
  checkHttpUrl,
  checkPlaceCall,
  escapeXml,
  failure,
  joinUrl,
  missingCredentials,
  optionOrEnv,
  timedFetch,
} from "./_call_control_http.ts";
import {
  type CallControl,
  type CallControlBaseOptions,
  CallControlError,
  type CallControlOperation,
  type PlaceCallOptions,
  type TransferOptions,
} from "./call_control.ts";
import { buildConnectTwiml } from "./twilio_webhook.ts";
import {
  createTwilioStreamToken,
  TWILIO_STREAM_TOKEN_PARAMETER,
} from "./call_tokens.ts";

/**
 * The SDK Parley loads on first use (pinned, full specifier).
 *
 * @example
 * ```ts
 * import { TWILIO_SDK_SPECIFIER } from "@parley/parley/server";
 * console.log(TWILIO_SDK_SPECIFIER); // "npm:twilio@6.2.0"
 * ```
 */
export const TWILIO_SDK_SPECIFIER = "npm:twilio@6.2.0";

/** The request the `twilio` SDK hands its HTTP client. */
export interface TwilioSdkRequest {
  /** Lower-case method (`"post"`, …). */
  method: string;
  /** The absolute URL. */
  uri: string;
  /** Basic-auth user (the account SID). */
  username?: string;
  /** Basic-auth password (the auth token). */
  password?: string;
  /** Another auth scheme (the SDK's credential providers). */
  authStrategy?: { getAuthString(): Promise<string> };
  /** Request headers. */
  headers?: Record<string, string>;
  /** Query parameters. */
  params?: Record<string, unknown>;
  /** Form (or JSON) fields. */
  data?: Record<string, unknown>;
}

/** What the `twilio` SDK expects back from its HTTP client. */
export interface TwilioSdkResponse {
  /** The HTTP status. */
  statusCode: number;
  /** The body text. */
  body: string;
  /** Response headers. */
  headers: Record<string, string>;
}

/** An HTTP client for the `twilio` SDK (its `httpClient` option). */
export interface TwilioSdkHttpClient {
  /**
   * Sends one request.
   *
   * @param options What the SDK built.
   */
  request(options: TwilioSdkRequest): Promise<TwilioSdkResponse>;
}

/** Options of {@linkcode TwilioCallControl}. */
export interface TwilioCallControlOptions extends CallControlBaseOptions {
  /** Account SID, `AC…` (default: `TWILIO_ACCOUNT_SID` env). */
  accountSid?: string;
  /** Auth token (default: `TWILIO_AUTH_TOKEN` env). */
  authToken?: string;
  /**
   * Replaces Parley's fetch-based HTTP client (then `baseUrl` and `fetch`
   * are not used).
   */
  httpClient?: TwilioSdkHttpClient;
}

interface SdkCall {
  sid: string;
}

interface SdkClient {
  calls:
    & ((sid: string) => {
      update(params: Record<string, unknown>): Promise<SdkCall>;
    })
    & { create(params: Record<string, unknown>): Promise<SdkCall> };
}

interface SdkModule {
  default: (
    accountSid: string,
    authToken: string,
    options: Record<string, unknown>,
  ) => SdkClient;
}

const loadSdk = lazyImport<SdkModule>(
  TWILIO_SDK_SPECIFIER,
  "Twilio call control",
);

const CREDENTIALS =
  "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN (or the accountSid and " +
  "authToken options)";

/** Twilio codes for "that call is not live": not found, not in progress. */
const ENDED_CODES = ["20404", "21220"] as const;

/**
 * Places, ends and transfers Twilio calls.
 *
 * @example Hang up the call a handler is serving
 * ```ts
 * import { getCurrentContext } from "@parley/parley";
 * import { TwilioCallControl } from "@parley/parley/server";
 * // Inside handler code (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN set):
 * async function hangUpThisCall() {
 *   const { callSid } = getCurrentContext();
 *   if (callSid) await new TwilioCallControl().hangUp(callSid);
 * }
 * ```
 *
 * @example Point it at a local fake of the REST API
 * ```ts
 * import { TwilioCallControl } from "@parley/parley/server";
 * const twilio = new TwilioCallControl({
 *   accountSid: "AC" + "0".repeat(32),
 *   authToken: "token",
 *   baseUrl: "http://127.0.0.1:8081",
 * });
 * console.log(twilio.carrier); // "twilio"
 * ```
 */
export class TwilioCallControl implements CallControl {
  /** Always `"twilio"`. */
  readonly carrier = "twilio" as const;
  #accountSid: string;
  #authToken: string;
  #options: TwilioCallControlOptions;
  #client: Promise<SdkClient> | undefined;
  #fetch: typeof fetch;

  /**
   * Checks the credentials (the SDK itself loads on the first request).
   *
   * @param options Credentials, base URL, HTTP client.
   * @throws {TypeError} When the account SID or auth token is missing or the
   *   SID is malformed.
   */
  constructor(options: TwilioCallControlOptions = {}) {
    const sid = optionOrEnv(options.accountSid, "TWILIO_ACCOUNT_SID");
    const token = optionOrEnv(options.authToken, "TWILIO_AUTH_TOKEN");
    if (!sid || !token) {
      missingCredentials(
        "twilio",
        `an account SID and auth token; pass accountSid and authToken or ` +
          `set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN`,
      );
    }
    if (!/^AC[0-9a-fA-F]{32}$/.test(sid)) {
      throw new TypeError(
        `Twilio account SID "${sid.slice(0, 6)}…" is malformed; it is AC ` +
          `followed by 32 hex digits (Twilio console → Account info)`,
      );
    }
    if (options.baseUrl !== undefined) {
      checkHttpUrl("twilio", "baseUrl", options.baseUrl);
    }
    this.#accountSid = sid;
    this.#authToken = token;
    this.#options = options;
    this.#fetch = timedFetch("twilio", options.fetch, options.timeoutMs);
  }

  /**
   * Ends a call: `Status=completed`.
   *
   * @param callId The `CallSid`.
   * @param options Aborts before sending.
   * @returns True when ended now, false when it had already ended.
   */
  async hangUp(
    callId: string,
    options: { signal?: AbortSignal } = {},
  ): Promise<boolean> {
    callIdSegment("twilio", callId);
    options.signal?.throwIfAborted();
    const client = await this.#sdk();
    try {
      await client.calls(callId).update({ status: "completed" });
      return true;
    } catch (e) {
      const error = this.#error(e, "hangUp", callId);
      if (error.callEnded) return false;
      throw error;
    }
  }

  /**
   * Replaces the call's TwiML with `<Dial>` to `to` (or redirects it to
   * `url`); the Media Stream ends and the caller is connected.
   *
   * @param callId The `CallSid`.
   * @param options Where to.
   */
  async transfer(callId: string, options: TransferOptions): Promise<void> {
    callIdSegment("twilio", callId);
    const params: Record<string, unknown> = options.url !== undefined
      ? { url: checkHttpUrl("twilio", "url", options.url), method: "POST" }
      : { twiml: buildTwilioDialTwiml(options) };
    options.signal?.throwIfAborted();
    const client = await this.#sdk();
    try {
      await client.calls(callId).update(params);
    } catch (e) {
      throw this.#error(e, "transfer", callId);
    }
  }

  /**
   * Creates a call (`calls.create`).
   *
   * @param options Who, from which number, where the answered call goes.
   * @returns The new call's `CallSid`.
   */
  async placeCall(options: PlaceCallOptions): Promise<string> {
    const { to, from } = checkPlaceCall("twilio", options);
    const params: Record<string, unknown> = { to, from };
    if (options.answerUrl !== undefined) {
      params.url = options.answerUrl;
      params.method = options.answerMethod ?? "POST";
    } else {
      // The stream's one-time token (issue 13): a Stream with this auth
      // token refuses Media Streams without it. The CallSid is not known
      // yet, so the token is good for any one call.
      params.twiml = buildConnectTwiml({
        streamUrl: options.streamUrl!,
        parameters: {
          [TWILIO_STREAM_TOKEN_PARAMETER]: createTwilioStreamToken({
            authToken: this.#authToken,
          }),
        },
      });
    }
    if (options.statusCallbackUrl !== undefined) {
      params.statusCallback = options.statusCallbackUrl;
      params.statusCallbackMethod = "POST";
    }
    if (options.timeoutSeconds !== undefined) {
      params.timeout = options.timeoutSeconds;
    }
    Object.assign(params, options.extra);
    options.signal?.throwIfAborted();
    const client = await this.#sdk();
    let call: SdkCall;
    try {
      call = await client.calls.create(params);
    } catch (e) {
      throw this.#error(e, "placeCall");
    }
    if (typeof call?.sid !== "string" || !call.sid) {
      throw new CallControlError(
        "Twilio placeCall: the answer has no call sid; check baseUrl points " +
          "at Twilio's REST API",
        { carrier: "twilio", operation: "placeCall" },
      );
    }
    return call.sid;
  }

  #sdk(): Promise<SdkClient> {
    this.#client ??= loadSdk().then((sdk) =>
      sdk.default(this.#accountSid, this.#authToken, {
        accountSid: this.#accountSid,
        httpClient: this.#options.httpClient ??
          fetchHttpClient(this.#options.baseUrl, this.#fetch),
      })
    ).catch((e) => {
      this.#client = undefined;
      throw e;
    });
    return this.#client;
  }

  #error(
    e: unknown,
    operation: CallControlOperation,
    callId?: string,
  ): CallControlError {
    if (e instanceof CallControlError) return e;
    const ex = e as { status?: unknown; code?: unknown; message?: unknown };
    if (typeof ex?.status === "number") {
      return failure({
        carrier: "twilio",
        operation,
        callId,
        status: ex.status,
        body: { code: ex.code, message: ex.message },
        credentialsHint: CREDENTIALS,
        endedCodes: ENDED_CODES,
        cause: e,
      });
    }
    return new CallControlError(
      `Twilio ${operation} failed: ${
        (e as Error)?.message ?? String(e)
      }; check the network and --allow-net for api.twilio.com (or baseUrl)`,
      { carrier: "twilio", operation, cause: e },
    );
  }
}

/**
 * The TwiML a transfer replaces the call's document with:
 * `<Response><Dial callerId=…><Number>…</Number></Dial></Response>` (or
 * `<Sip>` for a `sip:` URI).
 *
 * @example
 * ```ts
 * import { buildTwilioDialTwiml } from "@parley/parley/server";
 * buildTwilioDialTwiml({ to: "+14155550100" });
 * // <?xml version="1.0" encoding="UTF-8"?><Response><Dial><Number>+14155550100</Number></Dial></Response>
 * ```
 *
 * @param options The number or SIP URI, and the caller id to show.
 * @returns TwiML text.
 */
export function buildTwilioDialTwiml(
  options: { to: string; callerId?: string },
): string {
  const to = checkAddress("twilio", "to", options?.to);
  const callerId = options.callerId === undefined
    ? ""
    : ` callerId="${
      escapeXml(checkAddress("twilio", "callerId", options.callerId))
    }"`;
  const target = to.startsWith("sip:")
    ? `<Sip>${escapeXml(to)}</Sip>`
    : `<Number>${escapeXml(to)}</Number>`;
  return `<?xml version="1.0" encoding="UTF-8"?><Response><Dial${callerId}>` +
    `${target}</Dial></Response>`;
}

/**
 * An HTTP client for the `twilio` SDK that sends with `fetch`, optionally to
 * another origin (`baseUrl` replaces `https://api.twilio.com`).
 */
function fetchHttpClient(
  baseUrl: string | undefined,
  fetchFn: typeof fetch,
): TwilioSdkHttpClient {
  return {
    async request(options: TwilioSdkRequest): Promise<TwilioSdkResponse> {
      const uri = new URL(options.uri);
      for (const [k, v] of Object.entries(options.params ?? {})) {
        for (const item of Array.isArray(v) ? v : [v]) {
          if (item !== undefined) uri.searchParams.append(k, String(item));
        }
      }
      const target = baseUrl
        ? joinUrl(baseUrl, uri.pathname + uri.search)
        : uri.href;
      const headers = new Headers(options.headers ?? {});
      headers.set(
        "authorization",
        options.authStrategy
          ? await options.authStrategy.getAuthString()
          : basicAuth(options.username ?? "", options.password ?? ""),
      );
      let body: string | undefined;
      if (options.data !== undefined) {
        if (headers.get("content-type")?.includes("json")) {
          body = JSON.stringify(options.data);
        } else {
          const form = new URLSearchParams();
          for (const [k, v] of Object.entries(options.data)) {
            for (const item of Array.isArray(v) ? v : [v]) {
              if (item !== undefined) form.append(k, String(item));
            }
          }
          body = form.toString();
        }
      }
      const response = await fetchFn(target, {
        method: options.method.toUpperCase(),
        headers,
        body,
      });
      return {
        statusCode: response.status,
        body: await response.text(),
        headers: Object.fromEntries(response.headers),
      };
    },
  };
}
