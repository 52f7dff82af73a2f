/**
 * Telnyx's side of a bidirectional media stream, written from Telnyx's
 * "Media Streaming over WebSockets" guide and its AsyncAPI reference: to the
 * bot `connected`, `start` (top-level `stream_id`, `start.media_format`),
 * `media` (base64 RTP payload), `dtmf`, `mark` and `stop`; from the bot
 * `media`, `mark` and `clear`. A `clear` returns the marks still queued.
 * Audio: PCMU (default), PCMA or L16 (network byte order, big-endian).
 *
 * @module
 */

import { decodeAlaw, encodeAlaw } from "../audio/alaw.ts";
import { decodeMulaw, encodeMulaw } from "../audio/mulaw.ts";
import { fromL16, preview, randomHex, toBase64, toL16 } from "./_wire.ts";
import {
  CallClient,
  type CallClientOptions,
  openCarrierSocket,
} from "./call_client.ts";

/**
 * Audio encodings of a Telnyx stream.
 *
 * @example
 * ```ts
 * import type { TelnyxCallEncoding } from "@parley/parley/testing";
 * const encoding: TelnyxCallEncoding = "PCMA";
 * ```
 */
export type TelnyxCallEncoding = "PCMU" | "PCMA" | "L16";

/**
 * Options of {@linkcode TelnyxCallClient.connect}.
 *
 * @example
 * ```ts
 * import type { TelnyxCallOptions } from "@parley/parley/testing";
 * const options: TelnyxCallOptions = { encoding: "L16", outboundEncoding: "L16", sampleRate: 16000 };
 * ```
 */
export interface TelnyxCallOptions extends CallClientOptions {
  /** `stream_id` (default: a random UUID in upper case, as in the docs). */
  streamId?: string;
  /** `start.call_control_id` (default `v3:` + random hex). */
  callControlId?: string;
  /** Caller audio encoding, `start.media_format.encoding` (default PCMU). */
  encoding?: TelnyxCallEncoding;
  /** Audio the bot sends back, as the answer's `bidirectionalCodec` set (default PCMU). */
  outboundEncoding?: TelnyxCallEncoding;
  /** Rate of both directions (default 8000; PCMU/PCMA are 8000 only). */
  sampleRate?: number;
  /** `start.custom_parameters`. */
  customParameters?: Record<string, string>;
  /** The stream's token: sent as the `x-telnyx-streaming-auth-token` header and in `connected`. */
  authToken?: string;
}

/**
 * Telnyx's media server calling a bot's `/telephone/telnyx/handler`.
 *
 * @example
 * ```ts
 * import { TelnyxCallClient } from "@parley/parley/testing";
 * export async function callBot(url: string): Promise<number> {
 *   const call = await TelnyxCallClient.connect(url, { encoding: "PCMA", outboundEncoding: "PCMA" });
 *   await call.play(new Int16Array(8000));
 *   await call.hangUp();
 *   return call.audio.length;
 * }
 * ```
 */
export class TelnyxCallClient extends CallClient {
  /** Always `"telnyx"`. */
  readonly carrier = "telnyx" as const;
  /** The stream's id. */
  readonly streamId: string;
  /** The call's control id. */
  readonly callControlId: string;
  #in: TelnyxCallEncoding;
  #out: TelnyxCallEncoding;
  #seq = 0;
  #chunk = 0;

  private constructor(socket: WebSocket, options: TelnyxCallOptions) {
    const rate = options.sampleRate ?? 8000;
    super(socket, { inputRate: rate, outputRate: rate }, options.playback);
    this.#in = options.encoding ?? "PCMU";
    this.#out = options.outboundEncoding ?? "PCMU";
    for (const e of [this.#in, this.#out]) {
      if (e !== "L16" && rate !== 8000) {
        throw new RangeError(
          `Telnyx ${e} is 8000 Hz only, got sampleRate ${rate}; use L16 for other rates`,
        );
      }
    }
    this.streamId = options.streamId ?? crypto.randomUUID().toUpperCase();
    this.callControlId = options.callControlId ?? `v3:${randomHex()}`;
  }

  /**
   * Opens the socket and sends `connected` and `start`.
   *
   * @example
   * ```ts
   * import { TelnyxCallClient } from "@parley/parley/testing";
   * export async function callBot(url: string): Promise<void> {
   *   const call = await TelnyxCallClient.connect(url, { authToken: "secret" });
   *   await call.hangUp();
   * }
   * ```
   *
   * @param url The bot's socket URL.
   * @param options Ids, encodings, token, playback.
   * @returns The connected client.
   * @throws {CallConnectError} If the socket could not be opened.
   */
  static async connect(
    url: string,
    options: TelnyxCallOptions = {},
  ): Promise<TelnyxCallClient> {
    const headers = new Headers(options.headers);
    if (options.authToken !== undefined) {
      headers.set("x-telnyx-streaming-auth-token", options.authToken);
    }
    const socket = await openCarrierSocket(url, {
      carrier: "telnyx",
      headers,
      timeoutMs: options.connectTimeoutMs,
    });
    return TelnyxCallClient.attach(socket, options);
  }

  /**
   * Wraps an open socket and sends `connected` and `start`.
   *
   * @example
   * ```ts
   * import { TelnyxCallClient } from "@parley/parley/testing";
   * export function wrap(socket: WebSocket): TelnyxCallClient {
   *   return TelnyxCallClient.attach(socket, { encoding: "L16", outboundEncoding: "L16", sampleRate: 16000 });
   * }
   * ```
   *
   * @param socket An open WebSocket.
   * @param options Ids, encodings, playback.
   * @returns The client.
   */
  static attach(
    socket: WebSocket,
    options: TelnyxCallOptions = {},
  ): TelnyxCallClient {
    const client = new TelnyxCallClient(socket, options);
    const token = options.authToken;
    client.sendJson(
      token === undefined ? { event: "connected", version: "1.0.0" } : {
        event: "connected",
        version: "1.0.0",
        connected: { "x-telnyx-streaming-auth-token": token },
      },
    );
    client.sendJson({
      event: "start",
      sequence_number: client.#next(),
      stream_id: client.streamId,
      start: {
        user_id: crypto.randomUUID(),
        call_control_id: client.callControlId,
        call_session_id: crypto.randomUUID(),
        from: "+13125550100",
        to: "+13125550199",
        tags: [],
        client_state: null,
        custom_parameters: options.customParameters ?? {},
        media_format: {
          encoding: client.#in,
          sample_rate: client.inputRate,
          channels: 1,
        },
      },
    });
    return client;
  }

  /**
   * Sends a key press as Telnyx's `dtmf` message.
   *
   * @example
   * ```ts
   * import { TelnyxCallClient } from "@parley/parley/testing";
   * export function press(call: TelnyxCallClient): void {
   *   call.dtmf("#");
   * }
   * ```
   *
   * @param digit The key.
   */
  dtmf(digit: string): void {
    this.sendJson({
      event: "dtmf",
      stream_id: this.streamId,
      occurred_at: new Date().toISOString(),
      sequence_number: this.#next(),
      dtmf: { digit },
    });
  }

  /** Encodes one caller frame as the carrier's media message. */
  protected encodeAudio(samples: Int16Array): string {
    this.#chunk++;
    const bytes = this.#in === "PCMU"
      ? encodeMulaw(samples)
      : this.#in === "PCMA"
      ? encodeAlaw(samples)
      : toL16(samples, false);
    return JSON.stringify({
      event: "media",
      sequence_number: this.#next(),
      media: {
        track: "inbound",
        chunk: String(this.#chunk),
        timestamp: String(this.#chunk * 20),
        payload: toBase64(bytes),
      },
      stream_id: this.streamId,
    });
  }

  /** The carrier's stop message (null: it just closes the socket). */
  protected stopMessage(): string {
    return JSON.stringify({
      event: "stop",
      sequence_number: this.#next(),
      stop: { call_control_id: this.callControlId },
      stream_id: this.streamId,
    });
  }

  /** Checks and records one text message from the bot. */
  protected onText(msg: Record<string, unknown>): void {
    switch (msg.event) {
      case "media": {
        const bytes = this.mediaPayload(msg);
        if (!bytes) return;
        if (this.#out === "L16" && bytes.length % 2 !== 0) {
          this.problem("error", `L16 media of ${bytes.length} bytes (odd)`);
        }
        this.receiveAudio(
          this.#out === "PCMU"
            ? decodeMulaw(bytes)
            : this.#out === "PCMA"
            ? decodeAlaw(bytes)
            : fromL16(bytes, false),
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
            stream_id: this.streamId,
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
          `event ${JSON.stringify(msg.event)} is not one Telnyx accepts ` +
            `(media, mark, clear): ${preview(msg)}`,
        );
    }
  }

  #next(): string {
    return String(++this.#seq);
  }
}
