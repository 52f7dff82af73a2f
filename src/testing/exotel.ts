/**
 * Exotel's Voicebot applet (bidirectional AgentStream), written from
 * Exotel's "Working with the Stream and Voicebot Applet" and AgentStream
 * "WebSocket protocol" pages: to the bot `connected`, `start`
 * (`stream_sid`, `start.media_format`), `media`, `dtmf`, `mark` and `stop`;
 * from the bot `media`, `mark` and `clear`, each with `stream_sid`. Audio is
 * slin (16-bit little-endian PCM) at 8, 16 or 24 kHz in chunks that are
 * multiples of 320 bytes, or μ-law at 8 kHz. A `clear` is assumed to return
 * the queued marks, as Telnyx documents.
 *
 * @module
 */

import { decodeMulaw, encodeMulaw } from "../audio/mulaw.ts";
import { fromL16, preview, randomHex, toBase64, toL16 } from "./_wire.ts";
import {
  CallClient,
  type CallClientOptions,
  openCarrierSocket,
} from "./call_client.ts";

/**
 * Options of {@linkcode ExotelCallClient.connect}.
 *
 * @example
 * ```ts
 * import type { ExotelCallOptions } from "@parley/parley/testing";
 * const options: ExotelCallOptions = { sampleRate: 16000, customParameters: { lang: "hi" } };
 * ```
 */
export interface ExotelCallOptions extends CallClientOptions {
  /** `stream_sid` (default `MZ` + random hex). */
  streamSid?: string;
  /** `start.call_sid` (default `CA` + random hex). */
  callSid?: string;
  /** `slin` (default) or `mulaw` (8 kHz only). */
  encoding?: "slin" | "mulaw";
  /** 8000 (default), 16000 or 24000: the stream URL's `?sample-rate=`. */
  sampleRate?: 8000 | 16000 | 24000;
  /** `start.custom_parameters` (the stream URL's query values). */
  customParameters?: Record<string, string>;
}

/**
 * Exotel calling a bot's `/telephone/exotel/handler`. Credentials in the
 * URL (`ws://KEY:TOKEN@host/…`) go out as `Authorization: Basic`.
 *
 * @example
 * ```ts
 * import { ExotelCallClient } from "@parley/parley/testing";
 * export async function callBot(url: string): Promise<number> {
 *   const call = await ExotelCallClient.connect(url, { sampleRate: 16000 });
 *   await call.play(new Int16Array(16000));
 *   await call.hangUp();
 *   return call.problems.length;
 * }
 * ```
 */
export class ExotelCallClient extends CallClient {
  /** Always `"exotel"`. */
  readonly carrier = "exotel" as const;
  /** The stream's sid. */
  readonly streamSid: string;
  /** The call's sid. */
  readonly callSid: string;
  #mulaw: boolean;
  #seq = 0;
  #chunk = 0;

  private constructor(socket: WebSocket, options: ExotelCallOptions) {
    const mulaw = options.encoding === "mulaw";
    const rate = options.sampleRate ?? 8000;
    if (mulaw && rate !== 8000) {
      throw new RangeError(`Exotel μ-law is 8000 Hz only, got ${rate}`);
    }
    super(socket, { inputRate: rate, outputRate: rate }, options.playback);
    this.#mulaw = mulaw;
    this.streamSid = options.streamSid ?? `MZ${randomHex()}`;
    this.callSid = options.callSid ?? `CA${randomHex()}`;
  }

  /**
   * Opens the socket and sends `connected` and `start`.
   *
   * @example
   * ```ts
   * import { ExotelCallClient } from "@parley/parley/testing";
   * export async function callBot(): Promise<void> {
   *   const call = await ExotelCallClient.connect("ws://KEY:TOKEN@127.0.0.1:8000/telephone/exotel/handler");
   *   await call.hangUp();
   * }
   * ```
   *
   * @param url The bot's socket URL.
   * @param options Ids, format, playback.
   * @returns The connected client.
   * @throws {CallConnectError} If the socket could not be opened.
   */
  static async connect(
    url: string,
    options: ExotelCallOptions = {},
  ): Promise<ExotelCallClient> {
    const socket = await openCarrierSocket(url, {
      carrier: "exotel",
      headers: options.headers,
      timeoutMs: options.connectTimeoutMs,
    });
    return ExotelCallClient.attach(socket, options);
  }

  /**
   * Wraps an open socket and sends `connected` and `start`.
   *
   * @example
   * ```ts
   * import { ExotelCallClient } from "@parley/parley/testing";
   * export function wrap(socket: WebSocket): ExotelCallClient {
   *   return ExotelCallClient.attach(socket, { encoding: "mulaw" });
   * }
   * ```
   *
   * @param socket An open WebSocket.
   * @param options Ids, format, playback.
   * @returns The client.
   */
  static attach(
    socket: WebSocket,
    options: ExotelCallOptions = {},
  ): ExotelCallClient {
    const client = new ExotelCallClient(socket, options);
    client.sendJson({ event: "connected" });
    client.sendJson({
      event: "start",
      sequence_number: client.#next(),
      stream_sid: client.streamSid,
      start: {
        stream_sid: client.streamSid,
        call_sid: client.callSid,
        account_sid: "parley_test_account",
        from: "+919800000001",
        to: "+918000000002",
        custom_parameters: options.customParameters ?? {},
        media_format: client.#mulaw
          ? { encoding: "audio/x-mulaw", sample_rate: "8000", bit_rate: "8" }
          : {
            encoding: "audio/x-raw",
            sample_rate: String(client.inputRate),
            bit_rate: "16",
          },
      },
    });
    return client;
  }

  /**
   * Sends a key press as Exotel's `dtmf` message.
   *
   * @example
   * ```ts
   * import { ExotelCallClient } from "@parley/parley/testing";
   * export function press(call: ExotelCallClient): void {
   *   call.dtmf("1");
   * }
   * ```
   *
   * @param digit The key.
   */
  dtmf(digit: string): void {
    this.sendJson({
      event: "dtmf",
      sequence_number: this.#next(),
      stream_sid: this.streamSid,
      dtmf: { digit, duration: "100" },
    });
  }

  /** Encodes one caller frame as the carrier's media message. */
  protected encodeAudio(samples: Int16Array): string {
    this.#chunk++;
    return JSON.stringify({
      event: "media",
      sequence_number: this.#next(),
      stream_sid: this.streamSid,
      media: {
        chunk: String(this.#chunk),
        timestamp: String(this.#chunk * 20),
        payload: toBase64(
          this.#mulaw ? encodeMulaw(samples) : toL16(samples, true),
        ),
      },
    });
  }

  /** The carrier's stop message (null: it just closes the socket). */
  protected stopMessage(): string {
    return JSON.stringify({
      event: "stop",
      sequence_number: this.#next(),
      stream_sid: this.streamSid,
      stop: {
        call_sid: this.callSid,
        account_sid: "parley_test_account",
        reason: "callended",
      },
    });
  }

  /** Checks and records one text message from the bot. */
  protected onText(msg: Record<string, unknown>): void {
    const event = msg.event;
    if (
      (event === "media" || event === "mark" || event === "clear") &&
      msg.stream_sid !== this.streamSid
    ) {
      this.problem(
        "error",
        `${event} with stream_sid ${
          JSON.stringify(msg.stream_sid)
        }; Exotel needs the stream's stream_sid (${this.streamSid}) on every message`,
      );
      return;
    }
    switch (event) {
      case "media": {
        const bytes = this.mediaPayload(msg);
        if (!bytes) return;
        if (!this.#mulaw && bytes.length % 320 !== 0) {
          this.problem(
            "error",
            `media of ${bytes.length} bytes; Exotel wants multiples of 320 bytes`,
          );
        }
        this.receiveAudio(
          this.#mulaw ? decodeMulaw(bytes) : fromL16(bytes, true),
        );
        return;
      }
      case "mark": {
        const name = this.markName(msg);
        if (name === null) return;
        this.receiveMark(name, () =>
          this.sendJson({
            event: "mark",
            sequence_number: this.#next(),
            stream_sid: this.streamSid,
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
          `event ${JSON.stringify(event)} is not one Exotel accepts ` +
            `(media, mark, clear): ${preview(msg)}`,
        );
    }
  }

  #next(): string {
    return String(++this.#seq);
  }
}
