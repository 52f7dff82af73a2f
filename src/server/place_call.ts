/**
 * Picking a carrier's call-control client by name, and the one-line
 * outbound call of the seed (`twilio … calls.create(to, from_, url=…)`):
 * {@linkcode placeCall}.
 *
 * @module
 */

import type { CallControl, Carrier, PlaceCallOptions } from "./call_control.ts";
import { CARRIER_NAMES, describe } from "./_call_control_http.ts";
import {
  PlivoCallControl,
  type PlivoCallControlOptions,
} from "./call_control_plivo.ts";
import {
  SignalWireCallControl,
  type SignalWireCallControlOptions,
} from "./call_control_signalwire.ts";
import {
  TelnyxCallControl,
  type TelnyxCallControlOptions,
} from "./call_control_telnyx.ts";
import {
  TwilioCallControl,
  type TwilioCallControlOptions,
} from "./call_control_twilio.ts";
import {
  VonageCallControl,
  type VonageCallControlOptions,
} from "./call_control_vonage.ts";

/** Each carrier's client options. */
export interface CallControlOptionsByCarrier {
  /** Twilio: account SID, auth token. */
  twilio: TwilioCallControlOptions;
  /** Telnyx: API key, application id. */
  telnyx: TelnyxCallControlOptions;
  /** Plivo: Auth ID, Auth Token, transfer route. */
  plivo: PlivoCallControlOptions;
  /** Vonage: application id, private key. */
  vonage: VonageCallControlOptions;
  /** SignalWire: project, token, Space. */
  signalwire: SignalWireCallControlOptions;
}

/**
 * Makes the call-control client of a carrier; credentials come from
 * `options` or the carrier's environment variables.
 *
 * @example
 * ```ts
 * import { createCallControl } from "@parley/parley/server";
 * const control = createCallControl("telnyx", { apiKey: "KEY0123" });
 * console.log(control.carrier); // "telnyx"
 * ```
 *
 * @param carrier `"twilio"`, `"telnyx"`, `"plivo"`, `"vonage"` or
 *   `"signalwire"`.
 * @param options That carrier's options.
 * @returns The client.
 * @throws {TypeError} For an unknown carrier or missing credentials.
 */
export function createCallControl<C extends Carrier>(
  carrier: C,
  options?: CallControlOptionsByCarrier[C],
): CallControl {
  switch (carrier) {
    case "twilio":
      return new TwilioCallControl(options as TwilioCallControlOptions);
    case "telnyx":
      return new TelnyxCallControl(options as TelnyxCallControlOptions);
    case "plivo":
      return new PlivoCallControl(options as PlivoCallControlOptions);
    case "vonage":
      return new VonageCallControl(options as VonageCallControlOptions);
    case "signalwire":
      return new SignalWireCallControl(
        options as SignalWireCallControlOptions,
      );
  }
  throw new TypeError(
    `Unknown carrier ${describe(carrier)}; use one of ${
      Object.keys(CARRIER_NAMES).join(", ")
    }`,
  );
}

/**
 * Whether a carrier's credentials are configured (options or environment),
 * without sending anything. False when they are missing or unreadable (no
 * `--allow-env`).
 *
 * @example
 * ```ts
 * import { hasCallControlCredentials } from "@parley/parley/server";
 * if (!hasCallControlCredentials("twilio")) {
 *   console.log("set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN to hang up over REST");
 * }
 * ```
 *
 * @param carrier The carrier.
 * @param options Options that would be passed to the client.
 * @returns True when a client can be made.
 */
export function hasCallControlCredentials<C extends Carrier>(
  carrier: C,
  options?: CallControlOptionsByCarrier[C],
): boolean {
  try {
    createCallControl(carrier, options);
    return true;
  } catch {
    return false;
  }
}

/** Options of {@linkcode placeCall}. */
export interface PlaceCallRequest extends PlaceCallOptions {
  /** The carrier (default `"twilio"`, the seed's). */
  carrier?: Carrier;
  /** A client to use instead of making one (credentials, base URL set). */
  control?: CallControl;
  /**
   * Options for the client {@linkcode placeCall} makes when `control` is
   * not given (credentials, `baseUrl`); the environment fills in the rest.
   */
  clientOptions?: CallControlOptionsByCarrier[Carrier];
}

/**
 * Rings a number and, when it answers, sends the call to the bot: the seed's
 * `calls.create(to, from_, url=…/incoming-call)` for any carrier.
 *
 * @example Call someone and talk to them with the bot
 * ```ts
 * import { placeCall } from "@parley/parley";
 * async function callAlice() {
 *   const callSid = await placeCall({
 *     carrier: "twilio",
 *     to: "+14155550100",
 *     from: "+14155550199", // your Twilio number
 *     answerUrl: "https://bot.example.com/telephone/incoming",
 *   });
 *   console.log(`ringing ${callSid}`);
 * }
 * ```
 *
 * @param options Carrier, who, from which number, where the answered call
 *   goes.
 * @returns The carrier's id of the new call.
 * @throws {CallControlError} When the carrier refuses (a `TypeError` for
 *   bad options or missing credentials).
 */
export async function placeCall(
  options: PlaceCallRequest,
): Promise<string> {
  const carrier = options.carrier ?? "twilio";
  const control = options.control ??
    createCallControl(carrier, options.clientOptions);
  if (control.carrier !== carrier) {
    throw new TypeError(
      `placeCall(): carrier is "${carrier}" but control is a ` +
        `${CARRIER_NAMES[control.carrier]} client`,
    );
  }
  const { carrier: _c, control: _k, clientOptions: _o, ...call } = options;
  return await control.placeCall(call);
}
