/**
 * The answer documents of every carrier, for apps that write their own
 * webhook route instead of (or next to) `stream.fetch`: the document tells
 * the carrier to connect the call's audio to Parley's media socket.
 *
 * | carrier | builder | serve as |
 * | --- | --- | --- |
 * | Twilio | `buildConnectTwiml` | `application/xml` |
 * | Telnyx | `buildTelnyxTexml` | `application/xml` |
 * | Plivo | `buildPlivoXml` | `application/xml` |
 * | Vonage | `buildVonageNcco` | `Response.json(…)` |
 * | SignalWire | `buildSignalWireCxml` | `application/xml` |
 * | Exotel | `buildExotelStreamUrl` | the applet's stream URL |
 *
 * The transfer documents (`buildTwilioDialTwiml`, `buildPlivoDialXml`,
 * `buildSignalWireDialCxml`) are in the call-control modules.
 *
 * @example Your own Plivo answer route
 * ```ts
 * import { buildPlivoXml } from "@parley/parley/transports";
 * function plivoAnswer(request: Request): Response {
 *   const host = new URL(request.url).host;
 *   const xml = buildPlivoXml({
 *     streamUrl: `wss://${host}/telephone/plivo/handler`,
 *   });
 *   return new Response(xml, { headers: { "content-type": "application/xml" } });
 * }
 * plivoAnswer(new Request("https://bot.example.com/telephone/plivo/incoming"));
 * ```
 *
 * @module
 */

export {
  buildBusyTwiml,
  buildConnectTwiml,
  type ConnectTwimlOptions,
} from "./twilio_webhook.ts";
export {
  buildTelnyxTexml,
  type TelnyxEncoding,
  type TelnyxTexmlOptions,
} from "../transports/telnyx.ts";
export { buildPlivoXml, type PlivoXmlOptions } from "../transports/plivo.ts";
export {
  buildVonageNcco,
  type NccoAction,
  type VonageNccoOptions,
} from "../transports/vonage.ts";
export {
  buildSignalWireCxml,
  type SignalWireCodecName,
  type SignalWireCxmlOptions,
} from "../transports/signalwire.ts";
export {
  buildExotelStreamUrl,
  type ExotelStreamUrlOptions,
} from "../transports/exotel.ts";
