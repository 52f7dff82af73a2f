/**
 * A browser-style client of FastRTC's WebSocket protocol (`/websocket/offer`),
 * written from FastRTC's WebSocket docs plus Parley's documented extensions:
 * `{"event":"start","websocket_id"}` (with Parley's `format` asking for
 * base64 little-endian PCM16 at a chosen rate), `media` with base64
 * `media.payload`, `stop`; from the bot `media`, Parley's `started` (the
 * negotiated rates) and `clear`, and FastRTC's `{"type": "log" | "send_input"
 * | "fetch_output" | "stopword" | "end_stream" | "warning" | "error"}`
 * messages. A refused call answers `{"status":"failed","meta":{…}}`.
 *
 * @module
 */

import { decodeMulaw, encodeMulaw } from "../audio/mulaw.ts";
import { fromL16, isObject, preview, toBase64, toL16 } from "./_wire.ts";
import {
  CallClient,
  type CallClientOptions,
  CallConnectError,
  openCarrierSocket,
} from "./call_client.ts";

/**
 * Options of {@linkcode FastRtcWebSocketClient.connect}.
 *
 * @example
 * ```ts
 * import type { FastRtcWebSocketOptions } from "@parley/parley/testing";
 * const options: FastRtcWebSocketOptions = { encoding: "pcm16", sampleRate: 24000 };
 * ```
 */
export interface FastRtcWebSocketOptions extends CallClientOptions {
  /** `websocket_id` (default: a random UUID). */
  websocketId?: string;
  /**
   * `"pcm16"` (default, Parley's extension) or `"mulaw"` (FastRTC's own
   * encoding, sent at the handler's input rate).
   */
  encoding?: "pcm16" | "mulaw";
  /** Rate of the caller audio sent (default 16000; with mulaw, the handler's input rate). */
  sampleRate?: number;
  /** Rate of the bot's audio if the bot does not announce it in `started` (default 24000). */
  outputSampleRate?: number;
  /** Milliseconds to wait for `started` in `connect` (default 3000). */
  startTimeoutMs?: number;
}

/** FastRTC's message types a client may receive besides audio. */
const KNOWN_TYPES = new Set([
  "log",
  "send_input",
  "fetch_output",
  "stopword",
  "end_stream",
  "warning",
]);

/**
 * A FastRTC WebSocket caller (what FastRTC's browser client does), for bots
 * served at `/websocket/offer`.
 *
 * @example
 * ```ts
 * import { FastRtcWebSocketClient } from "@parley/parley/testing";
 * export async function callBot(url: string): Promise<number> {
 *   const call = await FastRtcWebSocketClient.connect(url, { sampleRate: 16000 });
 *   await call.play(new Int16Array(16000));
 *   await call.hangUp();
 *   return call.outputRate;
 * }
 * ```
 */
export class FastRtcWebSocketClient extends CallClient {
  /** Always `"websocket"`. */
  readonly carrier = "websocket" as const;
  /** The call's `websocket_id`. */
  readonly websocketId: string;
  /** True once the bot sent `started`. */
  started = false;
  /** The refusal `{status: "failed", meta}`, if the bot refused the call. */
  refusal: Record<string, unknown> | null = null;
  #mulaw: boolean;

  private constructor(socket: WebSocket, options: FastRtcWebSocketOptions) {
    const mulaw = options.encoding === "mulaw";
    super(socket, {
      inputRate: options.sampleRate ?? (mulaw ? 48000 : 16000),
      outputRate: options.outputSampleRate ?? 24000,
    }, options.playback);
    this.#mulaw = mulaw;
    this.websocketId = options.websocketId ?? crypto.randomUUID();
  }

  /**
   * Opens the socket, sends `start` and waits for Parley's `started` (up to
   * `startTimeoutMs`; a FastRTC server that does not send it is fine).
   *
   * @example
   * ```ts
   * import { FastRtcWebSocketClient } from "@parley/parley/testing";
   * export async function callBot(url: string): Promise<void> {
   *   const call = await FastRtcWebSocketClient.connect(url, { encoding: "mulaw", sampleRate: 48000 });
   *   await call.hangUp();
   * }
   * ```
   *
   * @param url The bot's socket URL.
   * @param options Id, encoding, rates, playback.
   * @returns The connected client.
   * @throws {CallConnectError} If the socket could not be opened or the bot refused the call.
   */
  static async connect(
    url: string,
    options: FastRtcWebSocketOptions = {},
  ): Promise<FastRtcWebSocketClient> {
    const socket = await openCarrierSocket(url, {
      carrier: "websocket",
      headers: options.headers,
      timeoutMs: options.connectTimeoutMs,
    });
    const client = FastRtcWebSocketClient.attach(socket, options);
    await client.waitFor(
      () => client.started || client.refusal !== null || !client.isOpen,
      options.startTimeoutMs ?? 3000,
    ).catch(() => {});
    if (client.refusal) {
      await client.hangUp();
      const meta = isObject(client.refusal.meta) ? client.refusal.meta : {};
      throw new CallConnectError(
        `The bot refused the call: ${preview(meta)}` +
          (meta.error === "concurrency_limit_reached"
            ? " (all lines busy: raise concurrencyLimit or wait for a call to end)"
            : ""),
      );
    }
    return client;
  }

  /**
   * Wraps an open socket and sends `start`.
   *
   * @example
   * ```ts
   * import { FastRtcWebSocketClient } from "@parley/parley/testing";
   * export function wrap(socket: WebSocket): FastRtcWebSocketClient {
   *   return FastRtcWebSocketClient.attach(socket);
   * }
   * ```
   *
   * @param socket An open WebSocket.
   * @param options Id, encoding, rates, playback.
   * @returns The client.
   */
  static attach(
    socket: WebSocket,
    options: FastRtcWebSocketOptions = {},
  ): FastRtcWebSocketClient {
    const client = new FastRtcWebSocketClient(socket, options);
    client.sendJson(
      client.#mulaw ? { event: "start", websocket_id: client.websocketId } : {
        event: "start",
        websocket_id: client.websocketId,
        format: { encoding: "pcm16", sampleRate: client.inputRate },
      },
    );
    return client;
  }

  /**
   * FastRTC's WebSocket protocol has no key presses.
   *
   * @example
   * ```ts
   * import { FastRtcWebSocketClient } from "@parley/parley/testing";
   * export function press(call: FastRtcWebSocketClient): void {
   *   try {
   *     call.dtmf("1");
   *   } catch (e) {
   *     console.log((e as Error).message);
   *   }
   * }
   * ```
   *
   * @param digit The key.
   * @throws {TypeError} Always.
   */
  dtmf(digit: string): never {
    throw new TypeError(
      `FastRTC's WebSocket protocol carries no DTMF (tried ${
        JSON.stringify(digit)
      }); ` +
        "test key presses over a carrier client such as TwilioCallClient",
    );
  }

  /** Encodes one caller frame as the carrier's media message. */
  protected encodeAudio(samples: Int16Array): string {
    const bytes = this.#mulaw ? encodeMulaw(samples) : toL16(samples, true);
    return JSON.stringify({
      event: "media",
      media: { payload: toBase64(bytes) },
    });
  }

  /** The carrier's stop message (null: it just closes the socket). */
  protected stopMessage(): string {
    return JSON.stringify({ event: "stop" });
  }

  /** Checks and records one text message from the bot. */
  protected onText(msg: Record<string, unknown>): void {
    if (msg.status === "failed") {
      this.refusal = msg;
      this.problem("error", `the bot refused the call: ${preview(msg)}`);
      return;
    }
    if (typeof msg.type === "string") {
      if (msg.type === "error") {
        this.problem(
          "error",
          `the bot reported an error: ${preview(msg.message ?? msg)}`,
        );
      } else if (!KNOWN_TYPES.has(msg.type)) {
        this.problem(
          "unknown",
          `message type ${JSON.stringify(msg.type)}: ${preview(msg)}`,
        );
      }
      return;
    }
    switch (msg.event) {
      case "started": {
        const format = isObject(msg.format) ? msg.format : {};
        const rate = format.outputSampleRate;
        if (typeof rate === "number" && Number.isInteger(rate) && rate > 0) {
          if (this.audio.length > 0 && rate !== this.outputRate) {
            this.problem(
              "error",
              "started arrived after audio at another rate",
            );
          }
          this.setOutputRate(rate);
        }
        if (
          format.inputSampleRate !== undefined &&
          format.inputSampleRate !== this.inputRate
        ) {
          this.problem(
            "error",
            `started says inputSampleRate ${
              JSON.stringify(format.inputSampleRate)
            }, ` +
              `but this client sends ${this.inputRate} Hz`,
          );
        }
        this.started = true;
        return;
      }
      case "media": {
        const bytes = this.mediaPayload(msg);
        if (!bytes) return;
        this.receiveAudio(
          this.#mulaw ? decodeMulaw(bytes) : fromL16(bytes, true),
        );
        return;
      }
      case "clear":
        this.receiveClear("drop");
        return;
      case "pong":
        return;
      default:
        this.problem(
          "unknown",
          `event ${JSON.stringify(msg.event)}: ${preview(msg)}`,
        );
    }
  }
}
