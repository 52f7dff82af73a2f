/**
 * SignalWire call control over its Compatibility (LaML/cXML) REST API, the
 * Twilio-shaped one, with `fetch` (Basic auth with the Project ID and API
 * token, on your Space's host):
 *
 * - place: `POST /api/laml/2010-04-01/Accounts/{ProjectID}/Calls.json`,
 *   form `To`, `From`, `Url`, `Method`;
 * - hang up: `POST …/Calls/{CallSid}.json` with `Status=completed`;
 * - transfer: the same update with `Url` (and `Method=POST`).
 *
 * Differences from Twilio that matter here: the host is your Space
 * (`example.signalwire.com`), the account path segment is the Project ID,
 * call sids are UUIDs, and the documented call update takes `Url` but no
 * inline `Twiml` — so a transfer fetches cXML from a URL: set `transferUrl`
 * to a route of yours that answers with {@linkcode buildSignalWireDialCxml}
 * (Parley adds `to` and `callerId` as query parameters), or pass `url`. For
 * the same reason `placeCall` takes `answerUrl`, not `streamUrl`.
 *
 * **SDK or fetch.** `@signalwire/compatibility-api` is a fork of an old
 * Twilio SDK: 49 MB itself, 63 MB with 56 dependencies, four releases in
 * all; Parley sends the three form posts itself.
 *
 * @module
 */

import {
  basicAuth,
  callIdSegment,
  checkAddress,
  checkHttpUrl,
  checkPlaceCall,
  escapeXml,
  joinUrl,
  missingCredentials,
  optionOrEnv,
  restRequest,
  timedFetch,
  transferTarget,
} from "./_call_control_http.ts";
import {
  type CallControl,
  type CallControlBaseOptions,
  CallControlError,
  type PlaceCallOptions,
  type TransferOptions,
} from "./call_control.ts";

/** Options of {@linkcode SignalWireCallControl}. */
export interface SignalWireCallControlOptions extends CallControlBaseOptions {
  /** Project ID, a UUID (default: `SIGNALWIRE_PROJECT_ID` env). */
  projectId?: string;
  /** API token, `PT…` (default: `SIGNALWIRE_TOKEN` env). */
  token?: string;
  /**
   * Your Space's host, `example.signalwire.com` (default:
   * `SIGNALWIRE_SPACE_URL` env). `baseUrl` overrides it.
   */
  spaceUrl?: string;
  /**
   * Your route that answers a transfer with
   * {@linkcode buildSignalWireDialCxml}. `transfer(id, { to })` sends the
   * call there with `?to=…&callerId=…`.
   */
  transferUrl?: string;
}

const CREDENTIALS = "SIGNALWIRE_PROJECT_ID and SIGNALWIRE_TOKEN (or the " +
  "projectId and token options) for that Space";

/**
 * Places, ends and transfers SignalWire calls.
 *
 * @example
 * ```ts
 * import { SignalWireCallControl } from "@parley/parley/server";
 * const signalwire = new SignalWireCallControl({
 *   projectId: "b3877c40-da60-4998-90ad-b792e98472af",
 *   token: "PT0123",
 *   spaceUrl: "example.signalwire.com",
 * });
 * console.log(signalwire.carrier); // "signalwire"
 * ```
 */
export class SignalWireCallControl implements CallControl {
  /** Always `"signalwire"`. */
  readonly carrier = "signalwire" as const;
  #calls: string;
  #authorization: string;
  #transferUrl: string | undefined;
  #fetch: typeof fetch;

  /**
   * Checks the credentials and the Space.
   *
   * @param options Credentials, Space, transfer route, base URL.
   * @throws {TypeError} When the project, token or Space is missing.
   */
  constructor(options: SignalWireCallControlOptions = {}) {
    const projectId = optionOrEnv(options.projectId, "SIGNALWIRE_PROJECT_ID");
    const token = optionOrEnv(options.token, "SIGNALWIRE_TOKEN");
    if (!projectId || !token) {
      missingCredentials(
        "signalwire",
        "a Project ID and API token; pass projectId and token or set " +
          "SIGNALWIRE_PROJECT_ID and SIGNALWIRE_TOKEN (Space → API)",
      );
    }
    let base: string;
    if (options.baseUrl !== undefined) {
      base = checkHttpUrl("signalwire", "baseUrl", options.baseUrl);
    } else {
      const space = optionOrEnv(options.spaceUrl, "SIGNALWIRE_SPACE_URL");
      if (!space) {
        missingCredentials(
          "signalwire",
          "your Space's host; pass spaceUrl or set SIGNALWIRE_SPACE_URL " +
            "(example.signalwire.com)",
        );
      }
      base = checkHttpUrl(
        "signalwire",
        "spaceUrl",
        /^https?:\/\//.test(space) ? space : `https://${space}`,
      );
    }
    this.#calls = joinUrl(
      base,
      `/api/laml/2010-04-01/Accounts/${encodeURIComponent(projectId)}/Calls`,
    );
    this.#authorization = basicAuth(projectId, token);
    this.#transferUrl = options.transferUrl === undefined
      ? undefined
      : checkHttpUrl("signalwire", "transferUrl", options.transferUrl);
    this.#fetch = timedFetch("signalwire", options.fetch, options.timeoutMs);
  }

  /**
   * Ends a call (`Status=completed`).
   *
   * @param callId The `CallSid`.
   * @param options Aborts the request.
   * @returns True when ended now, false when it had already ended.
   */
  async hangUp(
    callId: string,
    options: { signal?: AbortSignal } = {},
  ): Promise<boolean> {
    const segment = callIdSegment("signalwire", callId);
    try {
      await this.#post("hangUp", callId, `/${segment}.json`, {
        Status: "completed",
      }, options.signal);
      return true;
    } catch (e) {
      if (e instanceof CallControlError && e.callEnded) return false;
      throw e;
    }
  }

  /**
   * Redirects the call to new cXML: `options.url`, or `transferUrl` with
   * `to` (and `callerId`).
   *
   * @param callId The `CallSid`.
   * @param options Where to.
   * @throws {TypeError} When neither `url` nor `transferUrl` is set.
   */
  async transfer(callId: string, options: TransferOptions): Promise<void> {
    const segment = callIdSegment("signalwire", callId);
    const url = transferTarget(
      "signalwire",
      options,
      this.#transferUrl,
      "SignalWire's call update takes a Url, not inline cXML: set " +
        "transferUrl to a route that answers with " +
        "buildSignalWireDialCxml() (Parley adds ?to=…), or pass url",
    );
    await this.#post("transfer", callId, `/${segment}.json`, {
      Url: url,
      Method: "POST",
    }, options.signal);
  }

  /**
   * Places a call (`Calls.json`).
   *
   * @param options Who, from which number, the answer URL.
   * @returns The new call's `CallSid`.
   * @throws {TypeError} With `streamUrl`: pass `answerUrl`.
   */
  async placeCall(options: PlaceCallOptions): Promise<string> {
    const { to, from } = checkPlaceCall("signalwire", options);
    if (options.answerUrl === undefined) {
      throw new TypeError(
        "SignalWire: pass answerUrl (the bot's /telephone/signalwire/" +
          "incoming); Parley places SignalWire calls with a URL only",
      );
    }
    const form: Record<string, string | undefined> = {
      To: to,
      From: from,
      Url: options.answerUrl,
      Method: options.answerMethod ?? "POST",
      StatusCallback: options.statusCallbackUrl,
      StatusCallbackMethod: options.statusCallbackUrl ? "POST" : undefined,
      Timeout: options.timeoutSeconds?.toString(),
    };
    for (const [k, v] of Object.entries(options.extra ?? {})) {
      form[k] = v === undefined ? undefined : String(v);
    }
    const body = await this.#post(
      "placeCall",
      undefined,
      ".json",
      form,
      options.signal,
    );
    const sid = (body as { sid?: unknown })?.sid;
    if (typeof sid === "string" && sid) return sid;
    throw new CallControlError(
      "SignalWire placeCall: the answer has no sid; check spaceUrl / baseUrl",
      { carrier: "signalwire", operation: "placeCall" },
    );
  }

  async #post(
    operation: "placeCall" | "hangUp" | "transfer",
    callId: string | undefined,
    suffix: string,
    form: Record<string, string | undefined>,
    signal: AbortSignal | undefined,
  ): Promise<unknown> {
    const { body } = await restRequest({
      carrier: "signalwire",
      operation,
      callId,
      url: this.#calls + suffix,
      method: "POST",
      authorization: this.#authorization,
      form,
      signal,
      fetch: this.#fetch,
      credentialsHint: CREDENTIALS,
    });
    return body;
  }
}

/**
 * The cXML a SignalWire transfer route answers with:
 * `<Response><Dial callerId=…><Number>…</Number></Dial></Response>` (a
 * `sip:` URI dials `<Sip>`).
 *
 * @example
 * ```ts
 * import { buildSignalWireDialCxml } from "@parley/parley/server";
 * buildSignalWireDialCxml({ to: "+14155550100", callerId: "+14155550199" });
 * ```
 *
 * @param options The number or SIP URI, and the caller id to show.
 * @returns cXML text.
 * @throws {TypeError} When `to` is not a number or SIP URI.
 */
export function buildSignalWireDialCxml(
  options: { to: string; callerId?: string },
): string {
  const to = checkAddress("signalwire", "to", options?.to);
  const callerId = options.callerId === undefined
    ? ""
    : ` callerId="${
      escapeXml(checkAddress("signalwire", "callerId", options.callerId))
    }"`;
  const target = to.startsWith("sip:")
    ? `<Sip>${escapeXml(to)}</Sip>`
    : `<Number>${escapeXml(to)}</Number>`;
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Dial${callerId}>` +
    `${target}</Dial></Response>`;
}
