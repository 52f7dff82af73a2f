/**
 * Per-turn metrics: one event per caller turn answered by
 * {@linkcode ReplyOnPause} (and `ReplyOnStopWords`), with when the caller
 * spoke, when the end of the turn was decided, when the first reply frame
 * went out, and whether the reply was interrupted or the turn merged.
 *
 * The event travels on the call's bus as
 * `{type: "message", message: {type: "log", data: "turn_metrics", metrics}}`,
 * so clients receive `{"type":"log","data":"turn_metrics","metrics":{…}}`
 * (FastRTC's `log` shape with one extra field). Servers subscribe with
 * {@linkcode onTurnMetrics} and count with {@linkcode TurnCounters}.
 *
 * @module
 */

import type { ClientMessage, FrameBus } from "../bus/frame_bus.ts";

export type { TurnMetrics } from "../bus/turn_metrics.ts";
import type { TurnMetrics } from "../bus/turn_metrics.ts";

/**
 * A client message that carries turn metrics.
 *
 * @example
 * ```ts
 * import type { TurnMetricsMessage } from "./turn_metrics.ts";
 * const m: TurnMetricsMessage = {
 *   type: "log",
 *   data: "turn_metrics",
 *   metrics: {
 *     turn: 1, vad: "v5", speechStartMs: 320, speechEndMs: 2208,
 *     decisionMs: 2624, firstReplyMs: 2650, latencyMs: 442,
 *     interrupted: false, merged: 0,
 *   },
 * };
 * ```
 */
export interface TurnMetricsMessage extends ClientMessage {
  /** Always `"log"`. */
  type: "log";
  /** Always `"turn_metrics"`. */
  data: "turn_metrics";
  /** The turn. */
  metrics: TurnMetrics;
}

/**
 * Whether a client message is a `turn_metrics` log event.
 *
 * @example
 * ```ts
 * import { isTurnMetricsMessage } from "./turn_metrics.ts";
 * console.log(isTurnMetricsMessage({ type: "log", data: "pause_detected" })); // false
 * ```
 *
 * @param message Any client message.
 * @returns True for `{type: "log", data: "turn_metrics", metrics}`.
 */
export function isTurnMetricsMessage(
  message: ClientMessage,
): message is TurnMetricsMessage {
  return message.type === "log" && message.data === "turn_metrics" &&
    typeof message.metrics === "object" && message.metrics !== null;
}

/**
 * Emits one turn's metrics on the bus (what the handlers do).
 *
 * @example
 * ```ts
 * import { emitTurnMetrics } from "./turn_metrics.ts";
 * import { FrameBus } from "@parley/parley/transports";
 * const bus = new FrameBus({
 *   callId: "x", transportInputRate: 8000, transportOutputRate: 8000,
 *   handlerInputRate: 8000,
 * });
 * emitTurnMetrics(bus, {
 *   turn: 1, vad: "v5", speechStartMs: 0, speechEndMs: 900, decisionMs: 1316,
 *   firstReplyMs: null, latencyMs: null, interrupted: false, merged: 0,
 * });
 * bus.close();
 * ```
 *
 * @param bus The call's bus.
 * @param metrics The turn.
 */
export function emitTurnMetrics(bus: FrameBus, metrics: TurnMetrics): void {
  const message: TurnMetricsMessage = {
    type: "log",
    data: "turn_metrics",
    metrics,
  };
  bus.emit({ type: "message", message });
}

/**
 * Calls `listener` with each turn's metrics reported on `bus` — the hook a
 * server hangs its `onTurn` callback and counters on.
 *
 * @example Count turns of one call
 * ```ts
 * import { FrameBus } from "@parley/parley/transports";
 * import { onTurnMetrics, TurnCounters } from "@parley/parley/server";
 * const bus = new FrameBus({
 *   callId: "demo",
 *   transportInputRate: 8000,
 *   transportOutputRate: 8000,
 *   handlerInputRate: 8000,
 * });
 * const counters = new TurnCounters();
 * const off = onTurnMetrics(bus, (m) => counters.add(m));
 * // … later
 * off();
 * ```
 *
 * @param bus The call's bus.
 * @param listener Called synchronously for each turn.
 * @returns A function that unsubscribes.
 */
export function onTurnMetrics(
  bus: FrameBus,
  listener: (metrics: TurnMetrics) => void,
): () => void {
  return bus.on("message", (e) => {
    if (isTurnMetricsMessage(e.message)) listener(e.message.metrics);
  });
}

/**
 * Running totals over many turns (of one call or a whole server).
 *
 * @example
 * ```ts
 * import { TurnCounters } from "./turn_metrics.ts";
 * const c = new TurnCounters();
 * c.add({
 *   turn: 1, vad: "v5", speechStartMs: 300, speechEndMs: 2200,
 *   decisionMs: 2616, firstReplyMs: 2700, latencyMs: 500,
 *   interrupted: false, merged: 1,
 * });
 * console.log(c.snapshot().latencyP50Ms); // 500
 * ```
 */
export class TurnCounters {
  #turns = 0;
  #answered = 0;
  #interrupted = 0;
  #merges = 0;
  #latencies: number[] = [];
  #maxSamples: number;

  /**
   * Makes empty counters.
   *
   * @param maxLatencySamples Latencies kept for the percentiles (newest
   * win). Default 1000.
   */
  constructor(maxLatencySamples = 1000) {
    this.#maxSamples = Math.max(1, maxLatencySamples);
  }

  /**
   * Adds one turn.
   *
   * @param m The turn's metrics.
   */
  add(m: TurnMetrics): void {
    this.#turns++;
    if (m.interrupted) this.#interrupted++;
    this.#merges += m.merged;
    if (m.latencyMs !== null) {
      this.#answered++;
      this.#latencies.push(m.latencyMs);
      if (this.#latencies.length > this.#maxSamples) this.#latencies.shift();
    }
  }

  /**
   * The totals so far.
   *
   * @returns Turns, answered turns (reply audio sent), interrupted replies,
   * merges, and end-of-speech → first reply frame percentiles (null before
   * the first answered turn).
   */
  snapshot(): {
    turns: number;
    answered: number;
    interrupted: number;
    merges: number;
    latencyP50Ms: number | null;
    latencyP90Ms: number | null;
  } {
    const s = [...this.#latencies].sort((a, b) => a - b);
    const at = (p: number) =>
      s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : null;
    return {
      turns: this.#turns,
      answered: this.#answered,
      interrupted: this.#interrupted,
      merges: this.#merges,
      latencyP50Ms: at(0.5),
      latencyP90Ms: at(0.9),
    };
  }
}
