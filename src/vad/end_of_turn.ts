/**
 * The end-of-turn analyser interface: a model that looks at a turn when the
 * caller pauses and says whether they have finished (semantic turn
 * detection, FastRTC issue #154), so a thinking pause is not answered.
 *
 * `ReplyOnPause` runs it only at pauses (never per window): it passes the
 * turn's last ≤ 8 s at 16 kHz, waits at most `turnAnalyserBudgetMs` for
 * the answer (an analyser that is late or fails counts as "complete"), and
 * when the turn is incomplete waits up to `maxEndpointingMs` for more
 * speech before replying anyway. Parley ships `SmartTurnAnalyser` (ONNX
 * models of the Smart Turn v3 kind, `@parley/parley/speech`).
 *
 * @module
 */

/**
 * What an {@linkcode EndOfTurnAnalyser} gets.
 *
 * @example
 * ```ts
 * import type { EndOfTurnInput } from "@parley/parley/vad";
 * const input: EndOfTurnInput = {
 *   audio: new Float32Array(16000),
 *   sampleRate: 16000,
 *   signal: new AbortController().signal,
 * };
 * ```
 */
export interface EndOfTurnInput {
  /** The end of the turn: at most the last 8 s, mono float32 in −1..1. */
  audio: Float32Array;
  /** Always 16000. */
  sampleRate: 16000;
  /** What the caller said, when a transcript is available. */
  transcript?: string;
  /**
   * Aborts when the time budget is over or the caller resumed: stop
   * working, the answer will not be used.
   */
  signal: AbortSignal;
}

/**
 * An analyser's verdict.
 *
 * @example
 * ```ts
 * import type { EndOfTurnResult } from "@parley/parley/vad";
 * const r: EndOfTurnResult = { complete: false, probability: 0.12 };
 * ```
 */
export interface EndOfTurnResult {
  /** Whether the caller has finished their turn. */
  complete: boolean;
  /** Probability that the turn is complete, 0..1. */
  probability: number;
}

/**
 * Decides, at a pause, whether the caller's turn is complete.
 *
 * @example An analyser that waits when the caller trails off with "and"
 * ```ts
 * import type { EndOfTurnAnalyser } from "@parley/parley/vad";
 * const conjunctions: EndOfTurnAnalyser = {
 *   analyse({ transcript }) {
 *     const open = /\b(and|but|so|because|um|uh)\W*$/i.test(transcript ?? "");
 *     return Promise.resolve({ complete: !open, probability: open ? 0.1 : 0.9 });
 *   },
 * };
 * ```
 */
export interface EndOfTurnAnalyser {
  /**
   * Analyses the end of a turn.
   *
   * @param input The turn's audio (16 kHz, ≤ 8 s), transcript, signal.
   * @returns The verdict.
   */
  analyse(input: EndOfTurnInput): Promise<EndOfTurnResult>;
  /** Releases models (optional). */
  close?(): void | Promise<void>;
}
