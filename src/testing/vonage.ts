/**
 * Vonage's side of a Voice API WebSocket, written from Vonage's WebSockets
 * guide: first a text `websocket:connected` with the `content-type`
 * (`audio/l16;rate=16000`) and the NCCO endpoint's headers, then binary
 * frames of exactly 20 ms of 16-bit little-endian PCM both ways; text
 * events `websocket:dtmf`, `websocket:notify` (the payload of a `notify`
 * action whose audio has played) and `websocket:cleared`. From the bot:
 * binary audio, `{"action":"notify","payload":…}` and `{"action":"clear"}`.
 * A notify behind cleared audio is assumed to be dropped with it (Vonage
 * does not say). Vonage has no stop message: the call ends when the socket
 * closes.
 *
 * @module
 */

import { fromL16, preview, toL16 } from "./_wire.ts";
import {
  CallClient,
  type CallClientOptions,
  openCarrierSocket,
} from "./call_client.ts";

/**
 * Options of {@linkcode VonageCallClient.connect}.
 *
 * @example
 * ```ts
 * import type { VonageCallOptions } from "@parley/parley/testing";
 * const options: VonageCallOptions = { sampleRate: 8000, endpointHeaders: { uuid: "call-1" } };
 * ```
 */
export interface VonageCallOptions extends CallClientOptions {
  /** 16000 (default) or 8000, as the NCCO's `content-type` asks. */
  sampleRate?: 8000 | 16000;
  /** The NCCO endpoint's `headers`, flattened into `websocket:connected` (default: a `uuid`). */
  endpointHeaders?: Record<string, unknown>;
}

/**
 * Vonage calling a bot's `/telephone/vonage/handler`.
 *
 * @example
 * ```ts
 * import { VonageCallClient } from "@parley/parley/testing";
 * export async function callBot(url: string): Promise<number> {
 *   const call = await VonageCallClient.connect(url, { sampleRate: 8000 });
 *   await call.play(new Int16Array(8000));
 *   await call.hangUp();
 *   return call.audio.length;
 * }
 * ```
 */
export class VonageCallClient extends CallClient {
  /** Always `"vonage"`. */
  readonly carrier = "vonage" as const;
  /** The call's uuid, as sent in the connection message. */
  readonly uuid: string;
  #frameBytes: number;

  private constructor(socket: WebSocket, options: VonageCallOptions) {
    const rate = options.sampleRate ?? 16000;
    super(socket, { inputRate: rate, outputRate: rate }, options.playback);
    this.#frameBytes = rate / 50 * 2;
    const given = options.endpointHeaders?.uuid;
    this.uuid = typeof given === "string" ? given : crypto.randomUUID();
  }

  /**
   * Opens the socket and sends `websocket:connected`.
   *
   * @example
   * ```ts
   * import { VonageCallClient } from "@parley/parley/testing";
   * export async function callBot(url: string): Promise<void> {
   *   const call = await VonageCallClient.connect(url, { endpointHeaders: { language: "en-GB" } });
   *   await call.hangUp();
   * }
   * ```
   *
   * @param url The bot's socket URL.
   * @param options Rate, headers, playback.
   * @returns The connected client.
   * @throws {CallConnectError} If the socket could not be opened.
   */
  static async connect(
    url: string,
    options: VonageCallOptions = {},
  ): Promise<VonageCallClient> {
    const socket = await openCarrierSocket(url, {
      carrier: "vonage",
      headers: options.headers,
      timeoutMs: options.connectTimeoutMs,
    });
    return VonageCallClient.attach(socket, options);
  }

  /**
   * Wraps an open socket and sends `websocket:connected`.
   *
   * @example
   * ```ts
   * import { VonageCallClient } from "@parley/parley/testing";
   * export function wrap(socket: WebSocket): VonageCallClient {
   *   return VonageCallClient.attach(socket);
   * }
   * ```
   *
   * @param socket An open WebSocket.
   * @param options Rate, headers, playback.
   * @returns The client.
   */
  static attach(
    socket: WebSocket,
    options: VonageCallOptions = {},
  ): VonageCallClient {
    const client = new VonageCallClient(socket, options);
    client.sendJson({
      event: "websocket:connected",
      "content-type": `audio/l16;rate=${client.inputRate}`,
      ...options.endpointHeaders,
      uuid: client.uuid,
    });
    return client;
  }

  /**
   * Sends a key press as `websocket:dtmf`.
   *
   * @example
   * ```ts
   * import { VonageCallClient } from "@parley/parley/testing";
   * export function press(call: VonageCallClient): void {
   *   call.dtmf("0");
   * }
   * ```
   *
   * @param digit The key.
   */
  dtmf(digit: string): void {
    this.sendJson({ event: "websocket:dtmf", digit, duration: 260 });
  }

  /** Vonage sends exactly 20 ms per message: a short last frame is padded. */
  protected encodeAudio(samples: Int16Array): Uint8Array {
    const frame = new Int16Array(this.#frameBytes / 2);
    frame.set(samples.subarray(0, frame.length));
    return toL16(frame, true);
  }

  /** The carrier's stop message (null: it just closes the socket). */
  protected stopMessage(): null {
    return null;
  }

  /** Checks and records one binary audio frame from the bot. */
  protected override onBinary(bytes: Uint8Array): void {
    if (bytes.length !== this.#frameBytes) {
      this.problem(
        "error",
        `binary frame of ${bytes.length} bytes; Vonage wants exactly 20 ms ` +
          `(${this.#frameBytes} bytes at ${this.inputRate} Hz)`,
      );
    }
    this.receiveAudio(fromL16(bytes, true));
  }

  /** Checks and records one text message from the bot. */
  protected onText(msg: Record<string, unknown>): void {
    switch (msg.action) {
      case "notify": {
        const payload = msg.payload;
        this.receiveMark(
          JSON.stringify(payload ?? null),
          () => this.sendJson({ event: "websocket:notify", payload }),
        );
        return;
      }
      case "clear":
        this.receiveClear("drop");
        this.sendJson({ event: "websocket:cleared" });
        return;
      default:
        this.problem(
          "unknown",
          `text message ${preview(msg)} is not one Vonage accepts ` +
            `({"action":"notify"|"clear"})`,
        );
    }
  }
}
