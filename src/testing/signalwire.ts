/**
 * SignalWire's side of a cXML bidirectional stream, written from
 * SignalWire's `<Stream>` page: Twilio-shaped `connected` (version 0.2.0),
 * `start`, `media`, `dtmf`, `mark` and `stop`, each inside SignalWire's
 * envelope `{timestamp, direction, eventType, streamSid, sequenceNumber,
 * rawEvent}`; from the bot `media`, `mark` and `clear` with `streamSid`. A
 * `clear` is acknowledged with a `clear` event and the marks behind the
 * cleared audio come back at once. Codecs `PCMU@8000h`, `L16@16000h`,
 * `L16@24000h` (L16 read little-endian); ids are UUIDs.
 *
 * @module
 */

import { decodeMulaw, encodeMulaw } from "../audio/mulaw.ts";
import { fromL16, preview, toBase64, toL16 } from "./_wire.ts";
import {
  CallClient,
  type CallClientOptions,
  openCarrierSocket,
} from "./call_client.ts";

/**
 * Codecs of a SignalWire `<Stream codec>`.
 *
 * @example
 * ```ts
 * import type { SignalWireCallCodec } from "@parley/parley/testing";
 * const codec: SignalWireCallCodec = "L16@24000h";
 * ```
 */
export type SignalWireCallCodec = "PCMU@8000h" | "L16@16000h" | "L16@24000h";

/**
 * Options of {@linkcode SignalWireCallClient.connect}.
 *
 * @example
 * ```ts
 * import type { SignalWireCallOptions } from "@parley/parley/testing";
 * const options: SignalWireCallOptions = { codec: "PCMU@8000h", envelope: true };
 * ```
 */
export interface SignalWireCallOptions extends CallClientOptions {
  /** The stream's sid (default: a random UUID). */
  streamSid?: string;
  /** The call's sid (default: a random UUID). */
  callSid?: string;
  /** The `<Stream codec>` (default `PCMU@8000h`). */
  codec?: SignalWireCallCodec;
  /** `<Parameter>` values, sent in `start.customParameters`. */
  customParameters?: Record<string, string>;
  /** Wrap messages in SignalWire's envelope (default true). */
  envelope?: boolean;
  /** The `<Stream authBearerToken>`: sent as `Authorization: Bearer …` on the upgrade. */
  authToken?: string;
}

/**
 * SignalWire calling a bot's `/telephone/signalwire/handler`.
 *
 * @example
 * ```ts
 * import { SignalWireCallClient } from "@parley/parley/testing";
 * export async function callBot(url: string): Promise<number> {
 *   const call = await SignalWireCallClient.connect(url, { codec: "L16@16000h" });
 *   await call.play(new Int16Array(16000));
 *   await call.hangUp();
 *   return call.clears.length;
 * }
 * ```
 */
export class SignalWireCallClient extends CallClient {
  /** Always `"signalwire"`. */
  readonly carrier = "signalwire" as const;
  /** The stream's sid. */
  readonly streamSid: string;
  /** The call's sid. */
  readonly callSid: string;
  /** The stream's codec. */
  readonly codec: SignalWireCallCodec;
  #envelope: boolean;
  #seq = 0;
  #chunk = 0;

  private constructor(socket: WebSocket, options: SignalWireCallOptions) {
    const codec = options.codec ?? "PCMU@8000h";
    const rate = Number(/@(\d+)h$/.exec(codec)?.[1] ?? 8000);
    super(socket, { inputRate: rate, outputRate: rate }, options.playback);
    this.codec = codec;
    this.#envelope = options.envelope ?? true;
    this.streamSid = options.streamSid ?? crypto.randomUUID();
    this.callSid = options.callSid ?? crypto.randomUUID();
  }

  /**
   * Opens the socket and sends `connected` and `start`.
   *
   * @example
   * ```ts
   * import { SignalWireCallClient } from "@parley/parley/testing";
   * export async function callBot(url: string): Promise<void> {
   *   const call = await SignalWireCallClient.connect(url, { authToken: "bearer-token" });
   *   await call.hangUp();
   * }
   * ```
   *
   * @param url The bot's socket URL.
   * @param options Ids, codec, token, playback.
   * @returns The connected client.
   * @throws {CallConnectError} If the socket could not be opened.
   */
  static async connect(
    url: string,
    options: SignalWireCallOptions = {},
  ): Promise<SignalWireCallClient> {
    const headers = new Headers(options.headers);
    if (options.authToken !== undefined) {
      headers.set("authorization", `Bearer ${options.authToken}`);
    }
    const socket = await openCarrierSocket(url, {
      carrier: "signalwire",
      headers,
      timeoutMs: options.connectTimeoutMs,
    });
    return SignalWireCallClient.attach(socket, options);
  }

  /**
   * Wraps an open socket and sends `connected` and `start`.
   *
   * @example
   * ```ts
   * import { SignalWireCallClient } from "@parley/parley/testing";
   * export function wrap(socket: WebSocket): SignalWireCallClient {
   *   return SignalWireCallClient.attach(socket, { envelope: false });
   * }
   * ```
   *
   * @param socket An open WebSocket.
   * @param options Ids, codec, playback.
   * @returns The client.
   */
  static attach(
    socket: WebSocket,
    options: SignalWireCallOptions = {},
  ): SignalWireCallClient {
    const client = new SignalWireCallClient(socket, options);
    client.#event({ event: "connected", protocol: "Call", version: "0.2.0" });
    client.#event({
      event: "start",
      sequenceNumber: client.#next(),
      start: {
        streamSid: client.streamSid,
        accountSid: crypto.randomUUID(),
        callSid: client.callSid,
        tracks: ["inbound"],
        customParameters: options.customParameters ?? {},
        mediaFormat: {
          encoding: client.codec === "PCMU@8000h"
            ? "audio/x-mulaw"
            : "audio/x-L16",
          sampleRate: client.inputRate,
          channels: 1,
        },
      },
    });
    return client;
  }

  /**
   * Sends a key press as a `dtmf` event.
   *
   * @example
   * ```ts
   * import { SignalWireCallClient } from "@parley/parley/testing";
   * export function press(call: SignalWireCallClient): void {
   *   call.dtmf("*");
   * }
   * ```
   *
   * @param digit The key.
   */
  dtmf(digit: string): void {
    this.#event({
      event: "dtmf",
      streamSid: this.streamSid,
      sequenceNumber: this.#next(),
      dtmf: { duration: 120, digit },
    });
  }

  /** Encodes one caller frame as the carrier's media message. */
  protected encodeAudio(samples: Int16Array): string {
    this.#chunk++;
    const bytes = this.codec === "PCMU@8000h"
      ? encodeMulaw(samples)
      : toL16(samples, true);
    return this.#wrap({
      event: "media",
      sequenceNumber: this.#next(),
      media: {
        track: "inbound",
        chunk: String(this.#chunk),
        timestamp: String(this.#chunk * 20),
        payload: toBase64(bytes),
      },
    });
  }

  /** The carrier's stop message (null: it just closes the socket). */
  protected stopMessage(): string {
    return this.#wrap({ event: "stop", sequenceNumber: this.#next() });
  }

  /** Checks and records one text message from the bot. */
  protected onText(msg: Record<string, unknown>): void {
    const event = msg.event;
    if (
      (event === "media" || event === "mark" || event === "clear") &&
      msg.streamSid !== this.streamSid
    ) {
      this.problem(
        "error",
        `${event} with streamSid ${
          JSON.stringify(msg.streamSid)
        }, not the stream's (${this.streamSid})`,
      );
      return;
    }
    switch (event) {
      case "media": {
        const bytes = this.mediaPayload(msg);
        if (!bytes) return;
        this.receiveAudio(
          this.codec === "PCMU@8000h"
            ? decodeMulaw(bytes)
            : fromL16(bytes, true),
        );
        return;
      }
      case "mark": {
        const name = this.markName(msg);
        if (name === null) return;
        this.receiveMark(name, () =>
          this.#event({
            event: "mark",
            streamSid: this.streamSid,
            sequenceNumber: this.#next(),
            mark: { name },
          }));
        return;
      }
      case "clear":
        this.#event({ event: "clear", streamSid: this.streamSid });
        this.receiveClear("answer");
        return;
      default:
        this.problem(
          "unknown",
          `event ${JSON.stringify(event)} is not one SignalWire accepts ` +
            `(media, mark, clear): ${preview(msg)}`,
        );
    }
  }

  #wrap(raw: Record<string, unknown>): string {
    if (!this.#envelope) {
      return JSON.stringify({ ...raw, streamSid: this.streamSid });
    }
    return JSON.stringify({
      timestamp: new Date().toISOString(),
      direction: "inbound",
      eventType: raw.event,
      streamSid: this.streamSid,
      sequenceNumber: raw.sequenceNumber,
      rawEvent: { ...raw, streamSid: this.streamSid },
    });
  }

  #event(raw: Record<string, unknown>): void {
    this.sendWire(this.#wrap(raw));
  }

  #next(): string {
    return String(++this.#seq);
  }
}
