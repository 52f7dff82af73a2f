/**
 * One entry point for every call client: pick the carrier by name.
 *
 * @module
 */

import type { CallClient, CallClientOptions, Carrier } from "./call_client.ts";
import { ExotelCallClient } from "./exotel.ts";
import { PlivoCallClient } from "./plivo.ts";
import { SignalWireCallClient } from "./signalwire.ts";
import { TelnyxCallClient } from "./telnyx.ts";
import { TwilioCallClient } from "./twilio.ts";
import { VonageCallClient } from "./vonage.ts";
import { FastRtcWebSocketClient } from "./websocket.ts";

/**
 * Options of {@linkcode connectCallClient}.
 *
 * @example
 * ```ts
 * import type { ConnectCallOptions } from "@parley/parley/testing";
 * const options: ConnectCallOptions = { carrier: "signalwire", sampleRate: 16000, authToken: "bearer" };
 * ```
 */
export interface ConnectCallOptions extends CallClientOptions {
  /** The protocol to speak (default `"twilio"`). */
  carrier?: Carrier;
  /**
   * A token the carrier sends on the upgrade: Twilio signs the URL with it
   * (`X-Twilio-Signature`), Telnyx sends `x-telnyx-streaming-auth-token`,
   * SignalWire `Authorization: Bearer`. Other carriers take `headers` or
   * URL credentials instead.
   */
  authToken?: string;
  /**
   * Rate of the call's audio in Hz, where the carrier offers a choice:
   * Telnyx (8000 PCMU, else L16), Plivo (8000 μ-law, 16000 L16), Vonage
   * (8000, 16000), Exotel (8000, 16000, 24000), SignalWire (8000 PCMU,
   * 16000/24000 L16), WebSocket (any). Twilio is 8000 only. Default: the
   * carrier's default.
   */
  sampleRate?: number;
}

/**
 * Connects to a bot as `carrier` would and sends its start message.
 *
 * @example Call a Parley bot as Vonage at 8 kHz
 * ```ts
 * import { connectCallClient } from "@parley/parley/testing";
 * export async function callBot(): Promise<number> {
 *   const call = await connectCallClient("ws://127.0.0.1:8000/telephone/vonage/handler", {
 *     carrier: "vonage",
 *     sampleRate: 8000,
 *   });
 *   await call.play(new Int16Array(8000));
 *   await call.hangUp();
 *   return call.audio.length;
 * }
 * ```
 *
 * @param url The bot's socket URL.
 * @param options Carrier, token, rate, headers, playback.
 * @returns The connected client.
 * @throws {CallConnectError} If the socket could not be opened.
 * @throws {RangeError} If the carrier does not offer `sampleRate`.
 * @throws {TypeError} If the carrier has no token scheme but `authToken` is set.
 */
export async function connectCallClient(
  url: string,
  options: ConnectCallOptions = {},
): Promise<CallClient> {
  const carrier = options.carrier ?? "twilio";
  const rate = options.sampleRate;
  const offered = (rates: number[]) => {
    if (rate !== undefined && !rates.includes(rate)) {
      throw new RangeError(
        `${carrier} streams at ${
          rates.join(", ")
        } Hz, not ${rate}; pick one of those`,
      );
    }
  };
  const noToken = () => {
    if (options.authToken !== undefined) {
      throw new TypeError(
        `${carrier} has no upgrade token of its own; send what the bot ` +
          (carrier === "exotel"
            ? "checks as URL credentials (ws://KEY:TOKEN@host/…)"
            : "checks with `headers` (CLI --header 'Name: value')"),
      );
    }
  };
  switch (carrier) {
    case "twilio":
      offered([8000]);
      return await TwilioCallClient.connect(url, options);
    case "telnyx":
      offered([8000, 16000, 24000, 48000]);
      return await TelnyxCallClient.connect(url, {
        ...options,
        sampleRate: rate ?? 8000,
        encoding: (rate ?? 8000) === 8000 ? "PCMU" : "L16",
        outboundEncoding: (rate ?? 8000) === 8000 ? "PCMU" : "L16",
      });
    case "plivo":
      offered([8000, 16000]);
      noToken();
      return await PlivoCallClient.connect(url, {
        ...options,
        contentType: rate === 16000
          ? "audio/x-l16;rate=16000"
          : "audio/x-mulaw;rate=8000",
      });
    case "vonage":
      offered([8000, 16000]);
      noToken();
      return await VonageCallClient.connect(url, {
        ...options,
        sampleRate: rate as 8000 | 16000 | undefined,
      });
    case "exotel":
      offered([8000, 16000, 24000]);
      noToken();
      return await ExotelCallClient.connect(url, {
        ...options,
        sampleRate: rate as 8000 | 16000 | 24000 | undefined,
      });
    case "signalwire":
      offered([8000, 16000, 24000]);
      return await SignalWireCallClient.connect(url, {
        ...options,
        codec: rate === 16000
          ? "L16@16000h"
          : rate === 24000
          ? "L16@24000h"
          : "PCMU@8000h",
      });
    case "websocket":
      noToken();
      return await FastRtcWebSocketClient.connect(url, {
        ...options,
        sampleRate: rate,
      });
    default:
      throw new TypeError(
        `Unknown carrier ${JSON.stringify(carrier)}; use twilio, telnyx, ` +
          "plivo, vonage, exotel, signalwire or websocket",
      );
  }
}
