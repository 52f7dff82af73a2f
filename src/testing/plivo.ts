/**
 * Plivo's side of a bidirectional Audio Stream, written from Plivo's
 * "Audio Streaming" protocol reference: to the bot `start`, `media`, `dtmf`,
 * `playedStream` (a `checkpoint`'s audio has played) and `clearedAudio`;
 * from the bot `playAudio` (`media.contentType`, `sampleRate`, base64
 * `payload`), `checkpoint` and `clearAudio`. Plivo has no stop message: the
 * call ends when the socket closes. Checkpoints behind cleared audio are
 * not answered ("playedStream will only be emitted if the preceding events
 * were played successfully"). L16 is read little-endian.
 *
 * @module
 */

import { decodeMulaw, encodeMulaw } from "../audio/mulaw.ts";
import { fromBase64, fromL16, preview, toBase64, toL16 } from "./_wire.ts";
import {
  CallClient,
  type CallClientOptions,
  openCarrierSocket,
} from "./call_client.ts";

/**
 * `contentType` values of a Plivo `<Stream>`.
 *
 * @example
 * ```ts
 * import type { PlivoCallContentType } from "@parley/parley/testing";
 * const type: PlivoCallContentType = "audio/x-l16;rate=16000";
 * ```
 */
export type PlivoCallContentType =
  | "audio/x-mulaw;rate=8000"
  | "audio/x-l16;rate=8000"
  | "audio/x-l16;rate=16000";

/**
 * Options of {@linkcode PlivoCallClient.connect}.
 *
 * @example
 * ```ts
 * import type { PlivoCallOptions } from "@parley/parley/testing";
 * const options: PlivoCallOptions = { contentType: "audio/x-mulaw;rate=8000", extraHeaders: { userId: "7" } };
 * ```
 */
export interface PlivoCallOptions extends CallClientOptions {
  /** `start.streamId` (default: a random UUID). */
  streamId?: string;
  /** `start.callId` (default: a random UUID). */
  callId?: string;
  /** The `<Stream contentType>` (default `audio/x-mulaw;rate=8000`). */
  contentType?: PlivoCallContentType;
  /** `<Stream extraHeaders>`, sent as `extra_headers` (`k=v;k2=v2`). */
  extraHeaders?: Record<string, string>;
}

/**
 * Plivo calling a bot's `/telephone/plivo/handler`.
 *
 * @example
 * ```ts
 * import { PlivoCallClient } from "@parley/parley/testing";
 * export async function callBot(url: string): Promise<number> {
 *   const call = await PlivoCallClient.connect(url, { contentType: "audio/x-l16;rate=16000" });
 *   await call.play(new Int16Array(16000));
 *   await call.hangUp();
 *   return call.marks.length;
 * }
 * ```
 */
export class PlivoCallClient extends CallClient {
  /** Always `"plivo"`. */
  readonly carrier = "plivo" as const;
  /** The stream's id. */
  readonly streamId: string;
  /** The call's id. */
  readonly callId: string;
  /** The stream's content type. */
  readonly contentType: PlivoCallContentType;
  #encoding: string;
  #extra: string;
  #seq = 0;
  #chunk = 0;

  private constructor(socket: WebSocket, options: PlivoCallOptions) {
    const type = options.contentType ?? "audio/x-mulaw;rate=8000";
    const rate = Number(type.split("rate=")[1]);
    super(socket, { inputRate: rate, outputRate: rate }, options.playback);
    this.contentType = type;
    this.#encoding = type.split(";")[0];
    this.streamId = options.streamId ?? crypto.randomUUID();
    this.callId = options.callId ?? crypto.randomUUID();
    this.#extra = Object.entries(options.extraHeaders ?? {})
      .map(([k, v]) => `${k}=${v}`).join(";");
  }

  /**
   * Opens the socket and sends `start`.
   *
   * @example
   * ```ts
   * import { PlivoCallClient } from "@parley/parley/testing";
   * export async function callBot(url: string): Promise<void> {
   *   const call = await PlivoCallClient.connect(url, { extraHeaders: { userId: "42" } });
   *   await call.hangUp();
   * }
   * ```
   *
   * @param url The bot's socket URL.
   * @param options Ids, content type, playback.
   * @returns The connected client.
   * @throws {CallConnectError} If the socket could not be opened.
   */
  static async connect(
    url: string,
    options: PlivoCallOptions = {},
  ): Promise<PlivoCallClient> {
    const socket = await openCarrierSocket(url, {
      carrier: "plivo",
      headers: options.headers,
      timeoutMs: options.connectTimeoutMs,
    });
    return PlivoCallClient.attach(socket, options);
  }

  /**
   * Wraps an open socket and sends `start`.
   *
   * @example
   * ```ts
   * import { PlivoCallClient } from "@parley/parley/testing";
   * export function wrap(socket: WebSocket): PlivoCallClient {
   *   return PlivoCallClient.attach(socket);
   * }
   * ```
   *
   * @param socket An open WebSocket.
   * @param options Ids, content type, playback.
   * @returns The client.
   */
  static attach(
    socket: WebSocket,
    options: PlivoCallOptions = {},
  ): PlivoCallClient {
    const client = new PlivoCallClient(socket, options);
    client.sendJson({
      event: "start",
      sequenceNumber: ++client.#seq,
      start: {
        callId: client.callId,
        streamId: client.streamId,
        accountId: "MA" + "0".repeat(18),
        tracks: ["inbound"],
        mediaFormat: {
          encoding: client.#encoding,
          sampleRate: client.inputRate,
        },
      },
      extra_headers: client.#extra,
    });
    return client;
  }

  /**
   * Sends a key press as Plivo's `dtmf` message.
   *
   * @example
   * ```ts
   * import { PlivoCallClient } from "@parley/parley/testing";
   * export function press(call: PlivoCallClient): void {
   *   call.dtmf("9");
   * }
   * ```
   *
   * @param digit The key.
   */
  dtmf(digit: string): void {
    this.sendJson({
      event: "dtmf",
      sequenceNumber: ++this.#seq,
      streamId: this.streamId,
      dtmf: { track: "inbound", digit, timestamp: String(Date.now()) },
      extra_headers: this.#extra,
    });
  }

  /** Encodes one caller frame as the carrier's media message. */
  protected encodeAudio(samples: Int16Array): string {
    this.#chunk++;
    const bytes = this.#encoding === "audio/x-mulaw"
      ? encodeMulaw(samples)
      : toL16(samples, true);
    return JSON.stringify({
      event: "media",
      sequenceNumber: ++this.#seq,
      streamId: this.streamId,
      media: {
        track: "inbound",
        timestamp: String(Date.now()),
        chunk: this.#chunk,
        payload: toBase64(bytes),
      },
      extra_headers: this.#extra,
    });
  }

  /** The carrier's stop message (null: it just closes the socket). */
  protected stopMessage(): null {
    return null;
  }

  /** Checks and records one text message from the bot. */
  protected onText(msg: Record<string, unknown>): void {
    switch (msg.event) {
      case "playAudio": {
        const media = msg.media as Record<string, unknown> | undefined;
        const payload = media?.payload;
        const bytes = typeof payload === "string" ? fromBase64(payload) : null;
        if (!media || !bytes) {
          this.problem(
            "error",
            `playAudio without a base64 media.payload: ${preview(msg)}`,
          );
          return;
        }
        if (
          media.contentType !== this.#encoding ||
          media.sampleRate !== this.inputRate
        ) {
          this.problem(
            "error",
            `playAudio as ${JSON.stringify(media.contentType)} at ` +
              `${
                JSON.stringify(media.sampleRate)
              } Hz on a ${this.contentType} stream`,
          );
          return;
        }
        this.receiveAudio(
          this.#encoding === "audio/x-mulaw"
            ? decodeMulaw(bytes)
            : fromL16(bytes, true),
        );
        return;
      }
      case "checkpoint": {
        const name = msg.name;
        if (typeof name !== "string") {
          this.problem(
            "error",
            `checkpoint without a name string: ${preview(msg)}`,
          );
          return;
        }
        if (msg.streamId !== undefined && msg.streamId !== this.streamId) {
          this.problem(
            "error",
            `checkpoint for streamId ${JSON.stringify(msg.streamId)}`,
          );
        }
        this.receiveMark(name, () =>
          this.sendJson({
            event: "playedStream",
            sequenceNumber: ++this.#seq,
            streamId: this.streamId,
            name,
          }));
        return;
      }
      case "clearAudio":
        if (msg.streamId !== undefined && msg.streamId !== this.streamId) {
          this.problem(
            "error",
            `clearAudio for streamId ${JSON.stringify(msg.streamId)}`,
          );
        }
        this.receiveClear("drop");
        this.sendJson({
          event: "clearedAudio",
          sequenceNumber: ++this.#seq,
          streamId: this.streamId,
        });
        return;
      default:
        this.problem(
          "unknown",
          `event ${JSON.stringify(msg.event)} is not one Plivo accepts ` +
            `(playAudio, checkpoint, clearAudio): ${preview(msg)}`,
        );
    }
  }
}
