/**
 * Call control through a carrier's REST API: what a media socket cannot do.
 * A Media Stream carries audio; ending the phone call, handing it to a
 * person, or ringing someone in the first place are REST requests to the
 * carrier. {@linkcode CallControl} is the one shape Parley gives them, with
 * an implementation per carrier:
 *
 * | carrier | class | ids it takes |
 * | --- | --- | --- |
 * | Twilio | `TwilioCallControl` | `CallSid` (`CA…`) |
 * | Telnyx | `TelnyxCallControl` | `call_control_id` |
 * | Plivo | `PlivoCallControl` | `CallUUID` |
 * | Vonage | `VonageCallControl` | the call's `uuid` |
 * | SignalWire | `SignalWireCallControl` | `CallSid` (a UUID) |
 *
 * The ids are the **carrier's** call ids (`CallStart.carrierCallId`, Twilio's
 * `getCurrentContext().callSid`), not Parley's stream ids.
 *
 * `createCallControl(carrier)` and `placeCall({ carrier, … })` pick the
 * class; `createAutoHangUp()` hangs calls up when they end.
 *
 * @module
 */

/** The carriers Parley can place, end and transfer calls with. */
export type Carrier = "twilio" | "telnyx" | "plivo" | "vonage" | "signalwire";

/**
 * The carriers, in a list (for option checks and menus).
 *
 * @example
 * ```ts
 * import { CARRIERS } from "@parley/parley/server";
 * console.log(CARRIERS.includes("plivo")); // true
 * ```
 */
export const CARRIERS: readonly Carrier[] = Object.freeze([
  "twilio",
  "telnyx",
  "plivo",
  "vonage",
  "signalwire",
]);

/** What {@linkcode CallControl.placeCall} dials. */
export interface PlaceCallOptions {
  /**
   * Who to ring: an E.164 number (`+14155550100`) or a `sip:` URI. Plivo and
   * Vonage take numbers without the `+`; Parley drops it for them.
   */
  to: string;
  /** The caller id: one of your numbers on this carrier (E.164). */
  from: string;
  /**
   * The URL the carrier fetches the answer document from once the callee
   * picks up: the bot's own `…/telephone/incoming` (Twilio) or
   * `…/telephone/<carrier>/incoming`. One of `answerUrl` or `streamUrl`.
   */
  answerUrl?: string;
  /**
   * Connect the answered call straight to this media socket
   * (`wss://…/telephone/handler`) without an answer webhook: Twilio gets
   * inline `<Connect><Stream>` TwiML, Telnyx a Call Control dial with
   * `stream_url`, Vonage an inline NCCO. Plivo and SignalWire need
   * `answerUrl`.
   */
  streamUrl?: string;
  /** Method the carrier fetches `answerUrl` with (default `"POST"`). */
  answerMethod?: "GET" | "POST";
  /**
   * URL the carrier reports call progress to (Twilio/SignalWire
   * `StatusCallback`, Telnyx `webhook_url`/`StatusCallback`, Plivo
   * `hangup_url`, Vonage `event_url`).
   */
  statusCallbackUrl?: string;
  /** Seconds to let it ring before giving up (carrier default when unset). */
  timeoutSeconds?: number;
  /**
   * Carrier-specific request fields merged into the request last (Twilio:
   * SDK camelCase names such as `machineDetection`; the others: their JSON or
   * form field names). An escape hatch for what Parley does not model.
   */
  extra?: Record<string, unknown>;
  /** Aborts the request. */
  signal?: AbortSignal;
}

/** Where {@linkcode CallControl.transfer} sends a live call. */
export interface TransferOptions {
  /** The number (E.164) or `sip:` URI to connect the caller to. */
  to: string;
  /** Caller id to show the person the call is transferred to. */
  callerId?: string;
  /**
   * Instead of dialling `to` directly, make the carrier fetch its next
   * document from this URL (Twilio/SignalWire `Url`, Plivo `aleg_url`,
   * Vonage `destination.url`). Telnyx transfers by number only.
   */
  url?: string;
  /** Aborts the request. */
  signal?: AbortSignal;
}

/** Options every call-control client takes. */
export interface CallControlBaseOptions {
  /**
   * The API's base URL, for proxies, regional endpoints and tests (for
   * example `http://127.0.0.1:8081`). Paths are appended to it.
   */
  baseUrl?: string;
  /** The `fetch` to send requests with (default `globalThis.fetch`). */
  fetch?: typeof fetch;
  /**
   * Longest a request may wait for the carrier's answer, in ms (default
   * 15000), so a call's end never waits on a stalled API.
   */
  timeoutMs?: number;
}

/**
 * Places, ends and transfers phone calls through one carrier's REST API.
 *
 * @example Hand a call to a person, or end it
 * ```ts
 * import { type CallControl, createCallControl } from "@parley/parley/server";
 * async function escalate(control: CallControl, callId: string) {
 *   try {
 *     await control.transfer(callId, { to: "+14155550100" });
 *   } catch {
 *     await control.hangUp(callId);
 *   }
 * }
 * // TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN from the environment:
 * const start = () => escalate(createCallControl("twilio"), "CA…");
 * ```
 */
export interface CallControl {
  /** Which carrier this client speaks to. */
  readonly carrier: Carrier;
  /**
   * Ends a call.
   *
   * @param callId The carrier's call id.
   * @param options Aborts the request.
   * @returns True when this request ended the call, false when it had
   *   already ended (the carrier answered 404 or "not in progress").
   * @throws {CallControlError} When the carrier refuses for another reason.
   */
  hangUp(callId: string, options?: { signal?: AbortSignal }): Promise<boolean>;
  /**
   * Moves a live call to another number (or to the document at a URL). The
   * media stream to Parley ends; the caller hears the new party.
   *
   * @param callId The carrier's call id.
   * @param options Where to.
   * @throws {CallControlError} When the call has ended (`callEnded`) or the
   *   carrier refuses.
   */
  transfer(callId: string, options: TransferOptions): Promise<void>;
  /**
   * Rings a number; when it answers, the carrier fetches `answerUrl` (or
   * connects `streamUrl`).
   *
   * @param options Who, from which number, and where the answered call goes.
   * @returns The carrier's id of the new call (Plivo: the `request_uuid`,
   *   as Plivo only assigns the `CallUUID` once the call is answered).
   * @throws {CallControlError} When the carrier refuses.
   */
  placeCall(options: PlaceCallOptions): Promise<string>;
}

/** The operation a {@linkcode CallControlError} comes from. */
export type CallControlOperation = "placeCall" | "hangUp" | "transfer";

/** Details of a {@linkcode CallControlError}. */
export interface CallControlErrorDetails {
  /** The carrier. */
  carrier: Carrier;
  /** What was attempted. */
  operation: CallControlOperation;
  /** The HTTP status, when the carrier answered. */
  status?: number;
  /** The carrier's own error code (Twilio `21220`, Telnyx `90018`, …). */
  code?: string;
  /** True when the call had already ended (or never existed). */
  callEnded?: boolean;
  /** The underlying error (network failure, SDK exception). */
  cause?: unknown;
}

/**
 * A carrier REST request that failed. The message names the carrier, the
 * HTTP status and what to do about it.
 *
 * @example
 * ```ts
 * import { CallControlError } from "@parley/parley/server";
 * const e = new CallControlError("Twilio: HTTP 401; check the credentials", {
 *   carrier: "twilio",
 *   operation: "hangUp",
 *   status: 401,
 * });
 * console.log(e.status, e.callEnded); // 401 false
 * ```
 */
export class CallControlError extends Error {
  /** The carrier. */
  readonly carrier: Carrier;
  /** What was attempted. */
  readonly operation: CallControlOperation;
  /** The HTTP status, when the carrier answered. */
  readonly status: number | undefined;
  /** The carrier's own error code, when it gave one. */
  readonly code: string | undefined;
  /** True when the call had already ended (or never existed). */
  readonly callEnded: boolean;

  /**
   * Makes the error.
   *
   * @param message What went wrong and what to do.
   * @param details Carrier, operation, status, code.
   */
  constructor(message: string, details: CallControlErrorDetails) {
    super(message, { cause: details.cause });
    this.name = "CallControlError";
    this.carrier = details.carrier;
    this.operation = details.operation;
    this.status = details.status;
    this.code = details.code;
    this.callEnded = details.callEnded ?? false;
  }
}
