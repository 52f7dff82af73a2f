/**
 * Telnyx call control over the v2 REST API with `fetch` (`Authorization:
 * Bearer <API key>`):
 *
 * - hang up: `POST /v2/calls/{call_control_id}/actions/hangup`;
 * - transfer: `POST /v2/calls/{call_control_id}/actions/transfer` with
 *   `{to, from?}`;
 * - place, with `answerUrl`: `POST /v2/texml/calls/{connection_id}` with
 *   `{To, From, Url, Method}` (a TeXML application fetches Parley's TeXML
 *   answer; that request takes no status callback or ring timeout, which
 *   are the application's settings); with `streamUrl`: the Call Control dial `POST /v2/calls` with
 *   `{connection_id, to, from, stream_url, stream_track,
 *   stream_bidirectional_mode: "rtp", stream_bidirectional_codec}`.
 *
 * Telnyx answers commands on a call that has hung up with error `90018`
 * ("Call has already ended"), which counts as ended here like a 404.
 *
 * **SDK or fetch.** Telnyx's official `telnyx` package is well kept
 * (generated from their OpenAPI spec, 71 releases on npm, no dependencies)
 * but 37 MB unpacked for the whole API; Parley sends these four requests
 * itself.
 *
 * @module
 */

import {
  callIdSegment,
  checkAddress,
  checkHttpUrl,
  checkPlaceCall,
  encodePathSegment,
  joinUrl,
  missingCredentials,
  optionOrEnv,
  restRequest,
  timedFetch,
} from "./_call_control_http.ts";
import {
  type CallControl,
  type CallControlBaseOptions,
  CallControlError,
  type PlaceCallOptions,
  type TransferOptions,
} from "./call_control.ts";

/** Options of {@linkcode TelnyxCallControl}. */
export interface TelnyxCallControlOptions extends CallControlBaseOptions {
  /** API key, `KEY…` (default: `TELNYX_API_KEY` env). */
  apiKey?: string;
  /**
   * The application calls are placed from (default: `TELNYX_CONNECTION_ID`
   * env): the **TeXML application**'s id for `answerUrl` calls, the **Call
   * Control application**'s id for `streamUrl` calls. Only `placeCall`
   * needs it.
   */
  connectionId?: string;
  /**
   * Encoding of the audio Parley sends back on `streamUrl` calls (default
   * `"PCMU"`); must match the Telnyx codec's `outboundEncoding`.
   */
  streamCodec?: "PCMU" | "PCMA" | "L16";
}

const DEFAULT_BASE = "https://api.telnyx.com";
const CREDENTIALS = "TELNYX_API_KEY (or the apiKey option)";
const ENDED_CODES = ["90018"] as const;

/**
 * Places, ends and transfers Telnyx calls.
 *
 * @example
 * ```ts
 * import { TelnyxCallControl } from "@parley/parley/server";
 * const telnyx = new TelnyxCallControl({
 *   apiKey: "KEY0123",
 *   connectionId: "1494404757140276705",
 *   baseUrl: "http://127.0.0.1:8082",
 * });
 * console.log(telnyx.carrier); // "telnyx"
 * ```
 */
export class TelnyxCallControl implements CallControl {
  /** Always `"telnyx"`. */
  readonly carrier = "telnyx" as const;
  #apiKey: string;
  #connectionId: string | undefined;
  #base: string;
  #options: TelnyxCallControlOptions;
  #fetch: typeof fetch;

  /**
   * Checks the API key.
   *
   * @param options Key, application id, base URL.
   * @throws {TypeError} When no API key is set.
   */
  constructor(options: TelnyxCallControlOptions = {}) {
    const apiKey = optionOrEnv(options.apiKey, "TELNYX_API_KEY");
    if (!apiKey) {
      missingCredentials(
        "telnyx",
        "an API key; pass apiKey or set TELNYX_API_KEY (Mission Control → " +
          "API Keys)",
      );
    }
    const codec = options.streamCodec ?? "PCMU";
    if (!["PCMU", "PCMA", "L16"].includes(codec)) {
      throw new TypeError(
        `Telnyx: streamCodec must be "PCMU", "PCMA" or "L16", got ${codec}`,
      );
    }
    this.#apiKey = apiKey;
    this.#connectionId = optionOrEnv(
      options.connectionId,
      "TELNYX_CONNECTION_ID",
    );
    this.#base = options.baseUrl === undefined
      ? DEFAULT_BASE
      : checkHttpUrl("telnyx", "baseUrl", options.baseUrl);
    this.#options = options;
    this.#fetch = timedFetch("telnyx", options.fetch, options.timeoutMs);
  }

  /**
   * Ends a call (`actions/hangup`).
   *
   * @param callId The `call_control_id`.
   * @param options Aborts the request.
   * @returns True when ended now, false when it had already ended.
   */
  async hangUp(
    callId: string,
    options: { signal?: AbortSignal } = {},
  ): Promise<boolean> {
    const segment = callIdSegment("telnyx", callId);
    try {
      await this.#post(
        "hangUp",
        callId,
        `/v2/calls/${segment}/actions/hangup`,
        {},
        options.signal,
      );
      return true;
    } catch (e) {
      if (e instanceof CallControlError && e.callEnded) return false;
      throw e;
    }
  }

  /**
   * Transfers a call to a number or SIP URI (`actions/transfer`).
   *
   * @param callId The `call_control_id`.
   * @param options `to` and the caller id to show (`from`).
   * @throws {TypeError} With `url`: Telnyx transfers by number only.
   */
  async transfer(callId: string, options: TransferOptions): Promise<void> {
    const segment = callIdSegment("telnyx", callId);
    if (options?.url !== undefined) {
      throw new TypeError(
        "Telnyx transfers to a number or SIP URI; pass to (and callerId), " +
          "not url",
      );
    }
    const body: Record<string, string> = {
      to: checkAddress("telnyx", "to", options?.to),
    };
    if (options.callerId !== undefined) {
      body.from = checkAddress("telnyx", "callerId", options.callerId);
    }
    await this.#post(
      "transfer",
      callId,
      `/v2/calls/${segment}/actions/transfer`,
      body,
      options.signal,
    );
  }

  /**
   * Places a call: TeXML (`answerUrl`) or Call Control with streaming
   * (`streamUrl`).
   *
   * @param options Who, from which number, where the answered call goes.
   * @returns The `call_control_id` (TeXML: its `call_sid`, the same id).
   * @throws {TypeError} When no `connectionId` is set.
   */
  async placeCall(options: PlaceCallOptions): Promise<string> {
    const { to, from } = checkPlaceCall("telnyx", options);
    const connectionId = this.#connectionId;
    if (!connectionId) {
      missingCredentials(
        "telnyx",
        "the application to call from; pass connectionId or set " +
          "TELNYX_CONNECTION_ID (a TeXML application's id for answerUrl, a " +
          "Call Control application's id for streamUrl)",
      );
    }
    let body: unknown;
    if (options.answerUrl !== undefined) {
      if (
        options.statusCallbackUrl !== undefined ||
        options.timeoutSeconds !== undefined
      ) {
        throw new TypeError(
          "Telnyx's TeXML call request takes To, From, Url and Method only: " +
            "set the status callback and ring timeout on the TeXML " +
            "application, or place the call with streamUrl",
        );
      }
      const texml: Record<string, unknown> = {
        To: to,
        From: from,
        Url: options.answerUrl,
        Method: options.answerMethod ?? "POST",
      };
      body = await this.#post(
        "placeCall",
        undefined,
        `/v2/texml/calls/${encodePathSegment(connectionId)}`,
        { ...texml, ...options.extra },
        options.signal,
      );
      const sid = (body as { call_sid?: unknown })?.call_sid;
      if (typeof sid === "string" && sid) return sid;
    } else {
      const dial: Record<string, unknown> = {
        connection_id: connectionId,
        to,
        from,
        stream_url: options.streamUrl,
        stream_track: "inbound_track",
        stream_bidirectional_mode: "rtp",
        stream_bidirectional_codec: this.#options.streamCodec ?? "PCMU",
      };
      if (options.statusCallbackUrl !== undefined) {
        dial.webhook_url = options.statusCallbackUrl;
      }
      if (options.timeoutSeconds !== undefined) {
        dial.timeout_secs = options.timeoutSeconds;
      }
      body = await this.#post(
        "placeCall",
        undefined,
        "/v2/calls",
        { ...dial, ...options.extra },
        options.signal,
      );
      const id = (body as { data?: { call_control_id?: unknown } })?.data
        ?.call_control_id;
      if (typeof id === "string" && id) return id;
    }
    throw new CallControlError(
      "Telnyx placeCall: the answer has no call_control_id / call_sid; " +
        "check baseUrl points at api.telnyx.com",
      { carrier: "telnyx", operation: "placeCall" },
    );
  }

  async #post(
    operation: "placeCall" | "hangUp" | "transfer",
    callId: string | undefined,
    path: string,
    json: unknown,
    signal: AbortSignal | undefined,
  ): Promise<unknown> {
    const { body } = await restRequest({
      carrier: "telnyx",
      operation,
      callId,
      url: joinUrl(this.#base, path),
      method: "POST",
      authorization: `Bearer ${this.#apiKey}`,
      json,
      signal,
      fetch: this.#fetch,
      credentialsHint: CREDENTIALS,
      endedCodes: ENDED_CODES,
    });
    return body;
  }
}
