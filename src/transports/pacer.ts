/**
 * Real-time pacing for outbound audio frames: lets a transport send each
 * frame slightly ahead of its playback time (a small lead keeps the far
 * end's buffer fed without queueing so much that barge-in lags).
 *
 * Every {@linkcode Pacer} in the process waits on one shared clock: a single
 * timer, armed for the earliest waiting frame, wakes every frame that is due
 * on a 4 ms grid at once. A server with 300 calls replying wakes a few
 * hundred times a second instead of 15,000 times (one timer per frame per
 * call), and no abort listener is added per frame.
 *
 * @module
 */

/** Options of {@linkcode Pacer}. */
export interface PacerOptions {
  /** Duration of one frame in ms (default 20). */
  frameMs?: number;
  /** How far ahead of real time frames may be sent, in ms (default 80). */
  leadMs?: number;
}

/** Grid of the shared clock in ms: waits end up to this much late. */
const RESOLUTION_MS = 4;

interface Waiter {
  resolve: () => void;
  slot: number;
}

/**
 * The process-wide pacing clock: waiters grouped by grid slot, one timer
 * for the earliest slot. Internal to this module.
 */
class PacingClock {
  #slots = new Map<number, Waiter[]>();
  /** Slots with waiters, ascending. */
  #order: number[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerSlot = Infinity;

  /** Calls `resolve` once `performance.now()` reaches `due` (on the grid). */
  add(due: number, resolve: () => void): Waiter {
    const slot = Math.ceil(due / RESOLUTION_MS);
    const waiter = { resolve, slot };
    let list = this.#slots.get(slot);
    if (!list) {
      this.#slots.set(slot, list = []);
      let i = this.#order.length;
      while (i > 0 && this.#order[i - 1] > slot) i--;
      this.#order.splice(i, 0, slot);
    }
    list.push(waiter);
    this.#arm();
    return waiter;
  }

  /** Forgets a waiter that has not fired (its promise is settled elsewhere). */
  remove(waiter: Waiter): void {
    const list = this.#slots.get(waiter.slot);
    if (!list) return;
    const i = list.indexOf(waiter);
    if (i < 0) return;
    list.splice(i, 1);
    if (list.length === 0) this.#dropSlot(waiter.slot);
    this.#arm();
  }

  #dropSlot(slot: number): void {
    this.#slots.delete(slot);
    const i = this.#order.indexOf(slot);
    if (i >= 0) this.#order.splice(i, 1);
  }

  #arm(): void {
    const first = this.#order.length > 0 ? this.#order[0] : Infinity;
    if (first === this.#timerSlot) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerSlot = first;
    if (first === Infinity) return;
    const wait = Math.max(0, first * RESOLUTION_MS - performance.now());
    this.#timer = setTimeout(() => this.#fire(), wait);
  }

  #fire(): void {
    this.#timer = undefined;
    this.#timerSlot = Infinity;
    // Timers fire on whole milliseconds: take what is due within a grid step.
    const limit = (performance.now() + 1) / RESOLUTION_MS;
    const due: Waiter[][] = [];
    while (this.#order.length > 0 && this.#order[0] <= limit) {
      const slot = this.#order.shift()!;
      due.push(this.#slots.get(slot)!);
      this.#slots.delete(slot);
    }
    this.#arm();
    for (const list of due) for (const w of list) w.resolve();
  }
}

const clock = new PacingClock();

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
  #waiter: Waiter | null = null;
  #wake: (() => void) | null = null;
  #signal: AbortSignal | null = null;

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
    if (due > now && !signal?.aborted) {
      if (signal && signal !== this.#signal) {
        // One listener per signal, not one per frame.
        this.#signal = signal;
        signal.addEventListener("abort", () => {
          if (this.#signal === signal) this.#cancel();
        }, { once: true });
      }
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        this.#waiter = clock.add(due, resolve);
      });
      this.#waiter = null;
      this.#wake = null;
    }
    this.#sent++;
  }

  #cancel(): void {
    if (this.#waiter) clock.remove(this.#waiter);
    this.#wake?.();
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
