/**
 * Hanging a phone call up over REST when Parley's side of it ends.
 *
 * Closing a media socket does not always end the phone call: after
 * `<Connect><Stream>` Twilio and SignalWire go on to the next verb, Telnyx's
 * `<Start><Stream>` + `<Pause>` keeps the line open for the pause, and a
 * Vonage NCCO goes on to its next action. When a handler yields
 * `new CloseStream(msg, { hangUp: true })`, or a call ends on Parley's side
 * (time limit, handler finished, server shutdown) while the carrier's
 * credentials are set, the server calls the function
 * {@linkcode createAutoHangUp} returns, and the call is ended with the
 * carrier's REST API. It never throws: it reports what it did.
 *
 * @module
 */

import { errorText } from "../_internal/errors.ts";
import { type CallControl, type Carrier, CARRIERS } from "./call_control.ts";
import { CARRIER_NAMES } from "./_call_control_http.ts";
import {
  type CallControlOptionsByCarrier,
  createCallControl,
} from "./place_call.ts";

/** How a call ended, as the server knows it. */
export interface CallEnd {
  /**
   * The transport that carried the call (`"twilio"`, `"telnyx"`, …; the
   * browser transports are skipped).
   */
  carrier: string;
  /** The carrier's call id (`CallStart.carrierCallId`, Twilio `callSid`). */
  carrierCallId?: string;
  /** The handler yielded `CloseStream` with `hangUp: true`. */
  hangUpRequested?: boolean;
  /**
   * The far end ended it (the carrier's `stop`, or its socket closed):
   * there is nothing left to hang up.
   */
  endedByCarrier?: boolean;
}

/** What {@linkcode createAutoHangUp}'s function did. */
export interface AutoHangUpResult {
  /**
   * `"hung-up"`: the carrier ended the call now. `"already-ended"`: the
   * carrier said it had ended. `"skipped"`: nothing was sent (see
   * `reason`). `"failed"`: the request failed (see `reason`).
   */
  action: "hung-up" | "already-ended" | "skipped" | "failed";
  /** Why, in words for a log line. */
  reason: string;
}

/** Options of {@linkcode createAutoHangUp}. */
export interface AutoHangUpOptions {
  /**
   * `"always"` (default): hang up whenever the call ended on Parley's side
   * and credentials are set. `"requested"`: only after
   * `CloseStream(…, { hangUp: true })` — use it when the answer document
   * goes on after the stream (a goodbye `<Say>`).
   */
  when?: "always" | "requested";
  /** Clients to use, per carrier (default: made from the environment). */
  controls?: Partial<Record<Carrier, CallControl>>;
  /** Options for the clients made from the environment. */
  clientOptions?: Partial<CallControlOptionsByCarrier>;
}

/**
 * Returns the function a server calls once per ended call. Clients are made
 * lazily per carrier, the first time a call of that carrier ends; a carrier
 * without credentials is skipped (`"skipped"`, with the variables to set).
 *
 * @example What the server does when a call ends
 * ```ts
 * import { createAutoHangUp } from "@parley/parley/server";
 * const autoHangUp = createAutoHangUp();
 * const result = await autoHangUp({
 *   carrier: "websocket",
 *   hangUpRequested: true,
 * });
 * console.log(result.action); // "skipped": not a phone call
 * ```
 *
 * @param options When to hang up; clients or their options.
 * @returns `(end) => Promise<AutoHangUpResult>`, which never rejects.
 */
export function createAutoHangUp(
  options: AutoHangUpOptions = {},
): (end: CallEnd) => Promise<AutoHangUpResult> {
  const when = options.when ?? "always";
  if (when !== "always" && when !== "requested") {
    throw new TypeError(
      `createAutoHangUp(): when must be "always" or "requested", got ${
        String(when)
      }`,
    );
  }
  const controls = new Map<Carrier, CallControl | Error>(
    Object.entries(options.controls ?? {}) as [Carrier, CallControl][],
  );
  const clientFor = (carrier: Carrier): CallControl | Error => {
    let control = controls.get(carrier);
    if (!control) {
      try {
        control = createCallControl(
          carrier,
          options.clientOptions?.[carrier],
        );
      } catch (e) {
        control = e instanceof Error ? e : new Error(String(e));
      }
      controls.set(carrier, control);
    }
    return control;
  };
  return async (end: CallEnd): Promise<AutoHangUpResult> => {
    const carrier = end?.carrier as Carrier;
    if (!CARRIERS.includes(carrier)) {
      return { action: "skipped", reason: "not a phone call" };
    }
    const name = CARRIER_NAMES[carrier];
    if (!end.carrierCallId) {
      return {
        action: "skipped",
        reason: `the ${name} call id is unknown (no carrierCallId)`,
      };
    }
    if (end.endedByCarrier && !end.hangUpRequested) {
      return { action: "skipped", reason: "the far end hung up" };
    }
    if (when === "requested" && !end.hangUpRequested) {
      return {
        action: "skipped",
        reason: "the handler did not ask to hang up",
      };
    }
    const control = clientFor(carrier);
    if (control instanceof Error) {
      return {
        action: "skipped",
        reason: `no ${name} credentials: ${control.message}`,
      };
    }
    try {
      const ended = await control.hangUp(end.carrierCallId);
      return ended
        ? { action: "hung-up", reason: `${name} ended ${end.carrierCallId}` }
        : {
          action: "already-ended",
          reason: `${name} call ${end.carrierCallId} had already ended`,
        };
    } catch (e) {
      return { action: "failed", reason: errorText(e) };
    }
  };
}
