/**
 * Twilio's side of a bidirectional Media Stream, written from Twilio's
 * "Media Streams — WebSocket Messages" reference: to the bot `connected`,
 * `start`, `media` (base64 μ-law, 8 kHz), `dtmf`, `mark` (a mark's audio has
 * played) and `stop`; from the bot `media`, `mark` and `clear`, each with
 * the stream's `streamSid`. On `clear` Twilio empties its buffer and sends
 * back the marks that were waiting behind the cleared audio.
 *
 * @module
 */

import { decodeMulaw, encodeMulaw } from "../audio/mulaw.ts";
import { preview, randomHex, toBase64 } from "./_wire.ts";
import {
  CallClient,
  type CallClientOptions,
  openCarrierSocket,
} from "./call_client.ts";
import {
  createTwilioStreamToken,
  TWILIO_STREAM_TOKEN_PARAMETER,
} from "../server/call_tokens.ts";

/**
 * Options of {@linkcode TwilioCallClient.connect}.
 *
 * @example
 * ```ts
 * import type { TwilioCallOptions } from "@parley/parley/testing";
 * const options: TwilioCallOptions = { customParameters: { campaign: "test" }, authToken: "token" };
 * ```
 */
export interface TwilioCallOptions extends CallClientOptions {
  /** The stream's sid (default `MZ` + 32 random hex digits). */
  streamSid?: string;
  /** The call's sid (default `CA` + 32 random hex digits). */
  callSid?: string;
  /** The account's sid (default `AC` + 32 zeros). */
  accountSid?: string;
  /** `<Parameter>` values of the TwiML, sent in `start.customParameters`. */
  customParameters?: Record<string, string>;
  /**
   * The account's auth token: signs the upgrade with `X-Twilio-Signature`
   * (base64 HMAC-SHA1 of the URL) as Twilio does, for bots that check it.
   */
  authToken?: string;
}

/** Twilio Media Streams audio: μ-law at 8 kHz. */
const RATE = 8000;

/**
 * Twilio's media server calling a bot's `/telephone/handler`.
 *
 * @example
 * ```ts
 * import { TwilioCallClient } from "@parley/parley/testing";
 * export async function callBot(url: string): Promise<Int16Array> {
 *   const call = await TwilioCallClient.connect(url);
 *   await call.play(new Int16Array(8000)); // one second of silence, real time
 *   await call.hangUp();
 *   return call.timeline(); // what the caller heard, at 8 kHz
 * }
 * ```
 */
export class TwilioCallClient extends CallClient {
  /** Always `"twilio"`. */
  readonly carrier = "twilio" as const;
  /** The stream's sid. */
  readonly streamSid: string;
  /** The call's sid. */
  readonly callSid: string;
  #accountSid: string;
  #seq = 0;
  #chunk = 0;

  private constructor(socket: WebSocket, options: TwilioCallOptions) {
    super(socket, { inputRate: RATE, outputRate: RATE }, options.playback);
    this.streamSid = options.streamSid ?? `MZ${randomHex()}`;
    this.callSid = options.callSid ?? `CA${randomHex()}`;
    this.#accountSid = options.accountSid ?? `AC${"0".repeat(32)}`;
  }

  /**
   * Opens the socket (signed when `authToken` is set) and sends `connected`
   * and `start`.
   *
   * @example
   * ```ts
   * import { TwilioCallClient } from "@parley/parley/testing";
   * export async function callBot(url: string): Promise<void> {
   *   const call = await TwilioCallClient.connect(url, {
   *     customParameters: { caller: "test" },
   *     authToken: "the account's auth token",
   *   });
   *   await call.hangUp();
   * }
   * ```
   *
   * @param url The bot's socket URL.
   * @param options Ids, parameters, auth token, playback.
   * @returns The connected client.
   * @throws {CallConnectError} If the socket could not be opened.
   */
  static async connect(
    url: string,
    options: TwilioCallOptions = {},
  ): Promise<TwilioCallClient> {
    const headers = new Headers(options.headers);
    if (options.authToken !== undefined) {
      headers.set(
        "x-twilio-signature",
        await twilioSignature(options.authToken, url),
      );
    }
    const socket = await openCarrierSocket(url, {
      carrier: "twilio",
      headers,
      timeoutMs: options.connectTimeoutMs,
    });
    if (
      options.authToken !== undefined &&
      options.customParameters?.[TWILIO_STREAM_TOKEN_PARAMETER] === undefined
    ) {
      // Twilio would deliver the parley_token of the TwiML Parley answered;
      // whoever holds the auth token can mint it (an HMAC of the CallSid).
      const client = new TwilioCallClient(socket, options);
      return TwilioCallClient.#start(client, {
        ...options.customParameters,
        [TWILIO_STREAM_TOKEN_PARAMETER]: createTwilioStreamToken({
          authToken: options.authToken,
          callSid: client.callSid,
        }),
      });
    }
    return TwilioCallClient.attach(socket, options);
  }

  /**
   * Wraps a socket you opened yourself and sends `connected` and `start`.
   *
   * @example
   * ```ts
   * import { TwilioCallClient } from "@parley/parley/testing";
   * export async function callBot(url: string): Promise<void> {
   *   const socket = new WebSocket(url);
   *   await new Promise((r) => socket.onopen = r);
   *   const call = TwilioCallClient.attach(socket);
   *   await call.hangUp();
   * }
   * ```
   *
   * @param socket An open WebSocket.
   * @param options Ids, parameters, playback.
   * @returns The client.
   */
  static attach(
    socket: WebSocket,
    options: TwilioCallOptions = {},
  ): TwilioCallClient {
    const client = new TwilioCallClient(socket, options);
    return TwilioCallClient.#start(client, options.customParameters ?? {});
  }

  static #start(
    client: TwilioCallClient,
    customParameters: Record<string, string>,
  ): TwilioCallClient {
    client.sendJson({ event: "connected", protocol: "Call", version: "1.0.0" });
    client.sendJson({
      event: "start",
      sequenceNumber: client.#next(),
      streamSid: client.streamSid,
      start: {
        streamSid: client.streamSid,
        accountSid: client.#accountSid,
        callSid: client.callSid,
        tracks: ["inbound"],
        customParameters,
        mediaFormat: {
          encoding: "audio/x-mulaw",
          sampleRate: RATE,
          channels: 1,
        },
      },
    });
    return client;
  }

  /**
   * Sends a key press as Twilio's `dtmf` message.
   *
   * @example
   * ```ts
   * import type { TwilioCallClient } from "@parley/parley/testing";
   * export function press(call: TwilioCallClient): void {
   *   call.dtmf("5");
   * }
   * ```
   *
   * @param digit The key.
   */
  dtmf(digit: string): void {
    this.sendJson({
      event: "dtmf",
      streamSid: this.streamSid,
      sequenceNumber: this.#next(),
      dtmf: { track: "inbound_track", digit },
    });
  }

  /** Encodes one caller frame as the carrier's media message. */
  protected encodeAudio(samples: Int16Array): string {
    this.#chunk++;
    return JSON.stringify({
      event: "media",
      sequenceNumber: this.#next(),
      streamSid: this.streamSid,
      media: {
        track: "inbound",
        chunk: String(this.#chunk),
        timestamp: String(Math.round(this.#chunk * 20)),
        payload: toBase64(encodeMulaw(samples)),
      },
    });
  }

  /** The carrier's stop message (null: it just closes the socket). */
  protected stopMessage(): string {
    return JSON.stringify({
      event: "stop",
      sequenceNumber: this.#next(),
      streamSid: this.streamSid,
      stop: { accountSid: this.#accountSid, callSid: this.callSid },
    });
  }

  /** Checks and records one text message from the bot. */
  protected onText(msg: Record<string, unknown>): void {
    const event = msg.event;
    if (event === "media" || event === "mark" || event === "clear") {
      if (msg.streamSid !== this.streamSid) {
        this.problem(
          "error",
          `${event} with streamSid ${
            JSON.stringify(msg.streamSid)
          }; Twilio drops messages whose streamSid is not the stream's ` +
            `(${this.streamSid})`,
        );
        return;
      }
    }
    switch (event) {
      case "media": {
        const bytes = this.mediaPayload(msg);
        if (!bytes) return;
        this.receiveAudio(decodeMulaw(bytes));
        return;
      }
      case "mark": {
        const name = this.markName(msg);
        if (name === null) return;
        this.receiveMark(name, () =>
          this.sendJson({
            event: "mark",
            sequenceNumber: this.#next(),
            streamSid: this.streamSid,
            mark: { name },
          }));
        return;
      }
      case "clear":
        this.receiveClear("answer");
        return;
      default:
        this.problem(
          "unknown",
          `event ${JSON.stringify(event)} is not one Twilio accepts ` +
            `(media, mark, clear): ${preview(msg)}`,
        );
    }
  }

  #next(): string {
    return String(++this.#seq);
  }
}

/**
 * Twilio's request signature of a URL with no POST parameters: base64
 * HMAC-SHA1 keyed with the auth token.
 *
 * @example
 * ```ts
 * import { twilioSignature } from "@parley/parley/testing";
 * const signature = await twilioSignature("token", "wss://bot.example.com/telephone/handler");
 * console.log(signature.length); // 28
 * ```
 *
 * @param authToken The account's auth token.
 * @param url The URL Twilio connects to.
 * @param params POST parameters, if any (added as `name + value` in name order).
 * @returns The `X-Twilio-Signature` value.
 */
export async function twilioSignature(
  authToken: string,
  url: string,
  params: Record<string, string> = {},
): Promise<string> {
  let data = url;
  for (const key of Object.keys(params).sort()) data += key + params[key];
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(authToken),
    { name: "HMAC", hash: "SHA-1" },
    false,
    ["sign"],
  );
  const mac = await crypto.subtle.sign(
    "HMAC",
    key,
    new TextEncoder().encode(data),
  );
  return toBase64(new Uint8Array(mac));
}
