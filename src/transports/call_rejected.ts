/**
 * The error a call factory throws to refuse a call with a FastRTC failure
 * code (`concurrency_limit_reached`, `connection_already_exists`, …).
 *
 * @module
 */

/**
 * Refuses a call; transports send `{"status":"failed","meta": meta}`.
 *
 * @example
 * ```ts
 * import { CallRejectedError } from "@parley/parley/transports";
 * const rejected = new CallRejectedError({
 *   error: "concurrency_limit_reached",
 *   limit: 2,
 * });
 * console.log(rejected.meta.error); // "concurrency_limit_reached"
 * ```
 */
export class CallRejectedError extends Error {
  /** FastRTC's failure metadata: `error` code plus details. */
  readonly meta: { error: string; [key: string]: unknown };

  /**
   * Makes the error.
   *
   * @param meta The failure code and details.
   */
  constructor(meta: { error: string; [key: string]: unknown }) {
    super(`Call rejected: ${meta.error}`);
    this.name = "CallRejectedError";
    this.meta = meta;
  }
}
