/**
 * Values a handler yields besides audio: {@linkcode AdditionalOutputs} for the
 * app (chat history, transcripts) and {@linkcode CloseStream} to hang up.
 *
 * @module
 */

/**
 * Extra outputs of a handler (for example a transcript or the chat history),
 * delivered to `stream.outputStream(id)`, `GET /outputs` and, over the phone
 * with `ReplyOnPause`, as the next turn's extra arguments (FastRTC's rule).
 *
 * @example
 * ```ts
 * import { AdditionalOutputs } from "@parley/parley";
 * const out = new AdditionalOutputs({ role: "user", content: "hi" });
 * console.log(out.args.length); // 1
 * ```
 */
export class AdditionalOutputs {
  /** The values, in order. */
  readonly args: readonly unknown[];

  /**
   * Wraps any values.
   *
   * @param args The values.
   */
  constructor(...args: unknown[]) {
    this.args = args;
  }
}

/** Options of {@linkcode CloseStream}. */
export interface CloseStreamOptions {
  /**
   * Also end the phone call through the carrier's REST API (when its
   * credentials are set), not only the media stream: after the stream the
   * carrier would otherwise go on with the answer document. Default false.
   */
  hangUp?: boolean;
}

/**
 * Yield (or return from `emit`) to end the call once queued audio has played.
 * The client receives `{"type":"end_stream","data": msg}`.
 *
 * @example
 * ```ts
 * import { CloseStream } from "@parley/parley";
 * async function* reply() {
 *   yield new CloseStream("Goodbye");
 * }
 * ```
 *
 * @example End the phone call too
 * ```ts
 * import { CloseStream } from "@parley/parley";
 * async function* reply() {
 *   yield new CloseStream("Goodbye", { hangUp: true });
 * }
 * ```
 */
export class CloseStream {
  /** The message sent to the client. */
  readonly msg: string;
  /** Whether the phone call should be hung up over REST as well. */
  readonly hangUp: boolean;

  /**
   * Makes the sentinel.
   *
   * @param msg The message sent to the client (default "Stream closed"), or
   *   the options with a `msg`.
   * @param options `hangUp`.
   */
  constructor(
    msg: string | (CloseStreamOptions & { msg?: string }) = "Stream closed",
    options: CloseStreamOptions = {},
  ) {
    if (typeof msg === "object" && msg !== null) {
      options = msg;
      msg = msg.msg ?? "Stream closed";
    }
    this.msg = String(msg);
    this.hangUp = options.hangUp === true;
  }
}
