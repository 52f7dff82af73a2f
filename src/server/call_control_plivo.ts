/**
 * Plivo call control over the v1 REST API with `fetch` (Basic auth with the
 * Auth ID and Auth Token):
 *
 * - place: `POST /v1/Account/{auth_id}/Call/` with `{from, to, answer_url,
 *   answer_method}`; Plivo answers `201 {request_uuid, …}`;
 * - hang up: `DELETE /v1/Account/{auth_id}/Call/{call_uuid}/` (204);
 * - transfer: `POST /v1/Account/{auth_id}/Call/{call_uuid}/` with
 *   `{legs: "aleg", aleg_url, aleg_method}` (202).
 *
 * Plivo transfers by URL only: the call fetches its next Plivo XML from
 * `aleg_url`. For `transfer(id, { to })` set `transferUrl` to a route of
 * yours that answers with {@linkcode buildPlivoDialXml} (Parley adds `to`
 * and `callerId` as query parameters), or pass `url` per transfer.
 *
 * Numbers go to Plivo without the leading `+`, as its docs write them.
 * `placeCall` returns the `request_uuid`: Plivo assigns the `CallUUID` only
 * once the call is answered, and sends it to the answer URL and in the
 * stream's `start` (that is the id `hangUp` and `transfer` take).
 *
 * **SDK or fetch.** The official `plivo` package is 1.3 MB itself but pulls
 * 97 packages (22 MB) including the long-deprecated `request`; three REST
 * calls do not justify that, so Parley sends them itself.
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
  withoutPlus,
} from "./_call_control_http.ts";
import {
  type CallControl,
  type CallControlBaseOptions,
  CallControlError,
  type PlaceCallOptions,
  type TransferOptions,
} from "./call_control.ts";

/** Options of {@linkcode PlivoCallControl}. */
export interface PlivoCallControlOptions extends CallControlBaseOptions {
  /** Auth ID, `MA…` (default: `PLIVO_AUTH_ID` env). */
  authId?: string;
  /** Auth Token (default: `PLIVO_AUTH_TOKEN` env). */
  authToken?: string;
  /**
   * Your route that answers a transfer with {@linkcode buildPlivoDialXml}
   * (`https://bot.example.com/telephone/plivo/transfer`). `transfer(id,
   * { to })` sends Plivo there with `?to=…&callerId=…`.
   */
  transferUrl?: string;
}

const DEFAULT_BASE = "https://api.plivo.com";
const CREDENTIALS =
  "PLIVO_AUTH_ID and PLIVO_AUTH_TOKEN (or the authId and authToken options)";

/**
 * Places, ends and transfers Plivo calls.
 *
 * @example
 * ```ts
 * import { PlivoCallControl } from "@parley/parley/server";
 * const plivo = new PlivoCallControl({
 *   authId: "MA0123456789ABCDEF01",
 *   authToken: "token",
 *   transferUrl: "https://bot.example.com/telephone/plivo/transfer",
 * });
 * console.log(plivo.carrier); // "plivo"
 * ```
 */
export class PlivoCallControl implements CallControl {
  /** Always `"plivo"`. */
  readonly carrier = "plivo" as const;
  #authId: string;
  #authorization: string;
  #base: string;
  #transferUrl: string | undefined;
  #fetch: typeof fetch;

  /**
   * Checks the credentials.
   *
   * @param options Credentials, transfer route, base URL.
   * @throws {TypeError} When the Auth ID or Auth Token is missing.
   */
  constructor(options: PlivoCallControlOptions = {}) {
    const authId = optionOrEnv(options.authId, "PLIVO_AUTH_ID");
    const authToken = optionOrEnv(options.authToken, "PLIVO_AUTH_TOKEN");
    if (!authId || !authToken) {
      missingCredentials(
        "plivo",
        "an Auth ID and Auth Token; pass authId and authToken or set " +
          "PLIVO_AUTH_ID and PLIVO_AUTH_TOKEN (Plivo console → Overview)",
      );
    }
    this.#authId = authId;
    this.#authorization = basicAuth(authId, authToken);
    this.#base = options.baseUrl === undefined
      ? DEFAULT_BASE
      : checkHttpUrl("plivo", "baseUrl", options.baseUrl);
    this.#transferUrl = options.transferUrl === undefined
      ? undefined
      : checkHttpUrl("plivo", "transferUrl", options.transferUrl);
    this.#fetch = timedFetch("plivo", options.fetch, options.timeoutMs);
  }

  /**
   * Ends a call (`DELETE …/Call/{call_uuid}/`).
   *
   * @param callId The `CallUUID` (never empty: Plivo's path without an id
   *   ends every call on the account, so Parley refuses it).
   * @param options Aborts the request.
   * @returns True when ended now, false when it had already ended.
   */
  async hangUp(
    callId: string,
    options: { signal?: AbortSignal } = {},
  ): Promise<boolean> {
    const segment = callIdSegment("plivo", callId);
    try {
      await this.#send("hangUp", callId, "DELETE", `/Call/${segment}/`, {
        signal: options.signal,
      });
      return true;
    } catch (e) {
      if (e instanceof CallControlError && e.callEnded) return false;
      throw e;
    }
  }

  /**
   * Sends the call to new Plivo XML: `options.url`, or `transferUrl` with
   * `to` (and `callerId`) as query parameters.
   *
   * @param callId The `CallUUID`.
   * @param options Where to.
   * @throws {TypeError} When neither `url` nor `transferUrl` is set.
   */
  async transfer(callId: string, options: TransferOptions): Promise<void> {
    const segment = callIdSegment("plivo", callId);
    const url = transferTarget(
      "plivo",
      options,
      this.#transferUrl,
      "Plivo transfers by URL: set transferUrl to a route that answers " +
        "with buildPlivoDialXml() (Parley adds ?to=…), or pass url",
    );
    await this.#send("transfer", callId, "POST", `/Call/${segment}/`, {
      json: { legs: "aleg", aleg_url: url, aleg_method: "POST" },
      signal: options.signal,
    });
  }

  /**
   * Places a call (`POST …/Call/`).
   *
   * @param options Who, from which number, the answer URL.
   * @returns The `request_uuid`.
   * @throws {TypeError} With `streamUrl`: Plivo needs an answer URL.
   */
  async placeCall(options: PlaceCallOptions): Promise<string> {
    const { to, from } = checkPlaceCall("plivo", options);
    if (options.answerUrl === undefined) {
      throw new TypeError(
        "Plivo places calls with an answer URL only; pass answerUrl (the " +
          "bot's /telephone/plivo/incoming) instead of streamUrl",
      );
    }
    const json: Record<string, unknown> = {
      from: withoutPlus(from),
      to: withoutPlus(to),
      answer_url: options.answerUrl,
      answer_method: options.answerMethod ?? "POST",
    };
    if (options.statusCallbackUrl !== undefined) {
      json.hangup_url = options.statusCallbackUrl;
      json.hangup_method = "POST";
    }
    if (options.timeoutSeconds !== undefined) {
      json.ring_timeout = options.timeoutSeconds;
    }
    const body = await this.#send("placeCall", undefined, "POST", "/Call/", {
      json: { ...json, ...options.extra },
      signal: options.signal,
    });
    const id = (body as { request_uuid?: unknown })?.request_uuid;
    // Bulk calls (several `to`) answer with a list; one call, one id.
    const first = Array.isArray(id) ? id[0] : id;
    if (typeof first === "string" && first) return first;
    throw new CallControlError(
      "Plivo placeCall: the answer has no request_uuid; check baseUrl " +
        "points at api.plivo.com",
      { carrier: "plivo", operation: "placeCall" },
    );
  }

  async #send(
    operation: "placeCall" | "hangUp" | "transfer",
    callId: string | undefined,
    method: "POST" | "DELETE",
    path: string,
    options: { json?: unknown; signal?: AbortSignal },
  ): Promise<unknown> {
    const { body } = await restRequest({
      carrier: "plivo",
      operation,
      callId,
      url: joinUrl(
        this.#base,
        `/v1/Account/${encodeURIComponent(this.#authId)}${path}`,
      ),
      method,
      authorization: this.#authorization,
      json: options.json,
      signal: options.signal,
      fetch: this.#fetch,
      credentialsHint: CREDENTIALS,
    });
    return body;
  }
}

/**
 * The Plivo XML a transfer route answers with:
 * `<Response><Dial callerId=…><Number>…</Number></Dial></Response>` (a
 * `sip:` URI dials `<User>`).
 *
 * @example A transfer route next to the stream
 * ```ts
 * import { buildPlivoDialXml } from "@parley/parley/server";
 * function transferRoute(request: Request): Response {
 *   const url = new URL(request.url);
 *   const xml = buildPlivoDialXml({
 *     to: url.searchParams.get("to") ?? "",
 *     callerId: url.searchParams.get("callerId") ?? undefined,
 *   });
 *   return new Response(xml, { headers: { "content-type": "application/xml" } });
 * }
 * ```
 *
 * @param options The number or SIP URI, and the caller id to show.
 * @returns Plivo XML.
 * @throws {TypeError} When `to` is not a number or SIP URI.
 */
export function buildPlivoDialXml(
  options: { to: string; callerId?: string },
): string {
  const to = checkAddress("plivo", "to", options?.to);
  const callerId = options.callerId === undefined
    ? ""
    : ` callerId="${
      escapeXml(
        withoutPlus(checkAddress("plivo", "callerId", options.callerId)),
      )
    }"`;
  const target = to.startsWith("sip:")
    ? `<User>${escapeXml(to)}</User>`
    : `<Number>${escapeXml(withoutPlus(to))}</Number>`;
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Dial${callerId}>` +
    `${target}</Dial></Response>`;
}
