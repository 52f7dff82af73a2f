/**
 * Real-time pacing for outbound audio frames: lets a transport send each
 * frame slightly ahead of its playback time (a small lead keeps the far
 * end's buffer fed without queueing so much that barge-in lags).
 *
 * @module
 */

import { sleep } from "../bus/sleep.ts";

/** Options of {@linkcode Pacer}. */
export interface PacerOptions {
  /** Duration of one frame in ms (default 20). */
  frameMs?: number;
  /** How far ahead of real time frames may be sent, in ms (default 80). */
  leadMs?: number;
}

/**
 * A playback clock: `await pacer.wait()` before each frame.
 *
 * @example
 * ```ts
 * import { Pacer } from "./pacer.ts";
 * const pacer = new Pacer({ frameMs: 20, leadMs: 60 });
 * for (let i = 0; i < 5; i++) {
 *   await pacer.wait();
 *   // send frame i
 * }
 * ```
 */
export class Pacer {
  /** Duration of one frame in ms. */
  readonly frameMs: number;
  /** How far ahead of real time frames are sent, in ms. */
  readonly leadMs: number;
  #origin = -1;
  #sent = 0;

  /**
   * Makes a clock.
   *
   * @param options Frame length and lead.
   */
  constructor(options: PacerOptions = {}) {
    this.frameMs = options.frameMs ?? 20;
    this.leadMs = options.leadMs ?? 80;
  }

  /**
   * Resolves when the next frame may be sent.
   *
   * @param signal Ends the wait early.
   */
  async wait(signal?: AbortSignal): Promise<void> {
    const now = performance.now();
    // Start a new burst when idle: the previous frames have all played.
    if (this.#origin < 0 || now > this.#origin + this.#sent * this.frameMs) {
      this.#origin = now;
      this.#sent = 0;
    }
    const due = this.#origin + this.#sent * this.frameMs - this.leadMs;
    if (due > now) await sleep(due - now, signal);
    this.#sent++;
  }

  /** Milliseconds of sent audio that have not played yet (estimate). */
  get bufferedMs(): number {
    if (this.#origin < 0) return 0;
    return Math.max(
      0,
      this.#origin + this.#sent * this.frameMs - performance.now(),
    );
  }

  /** Forgets the clock (after `clear`, the far end's buffer is empty). */
  reset(): void {
    this.#origin = -1;
    this.#sent = 0;
  }
}
