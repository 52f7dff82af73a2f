/**
 * The shape of one turn's metrics: a plain value the bus can carry in a
 * client message (`{type: "log", data: "turn_metrics", metrics}`). The
 * handlers layer emits it; servers and clients read it.
 *
 * @module
 */

/**
 * One turn, as reported in a `turn_metrics` log event. Times are
 * milliseconds of the call's audio clock: caller audio received since the
 * call started, which advances in real time during a live call.
 *
 * @example Log the latency of each turn
 * ```ts
 * import type { TurnMetrics } from "@parley/parley";
 * function show(m: TurnMetrics): string {
 *   return m.latencyMs === null
 *     ? `turn ${m.turn}: no reply`
 *     : `turn ${m.turn}: ${m.latencyMs.toFixed(0)} ms to the first reply frame`;
 * }
 * ```
 */
export interface TurnMetrics {
  /** Turn number in the call, from 1. */
  turn: number;
  /** VAD that heard it: `"v5"`, `"v6"`, or a custom model's label. */
  vad: string;
  /** Start of the turn's first speech. */
  speechStartMs: number;
  /** End of its last speech. */
  speechEndMs: number;
  /** When the end of the turn was decided (silence, analyser, or time-out). */
  decisionMs: number;
  /**
   * When the reply's first audio frame was handed to the transport (caller
   * audio received by then), or null when the reply sent no audio.
   */
  firstReplyMs: number | null;
  /** `firstReplyMs − speechEndMs`, or null without reply audio. */
  latencyMs: number | null;
  /** Whether the caller cut the reply (barge-in) before it had played. */
  interrupted: boolean;
  /** How many times the caller resumed and the turn was merged (0: none). */
  merged: number;
}
