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
 */
export class CloseStream {
  /** The message sent to the client. */
  readonly msg: string;

  /**
   * Makes the sentinel.
   *
   * @param msg The message sent to the client (default "Stream closed").
   */
  constructor(msg = "Stream closed") {
    this.msg = msg;
  }
}
