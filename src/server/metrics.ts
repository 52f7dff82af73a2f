/**
 * Counters of a `Stream` in the Prometheus text exposition format, served
 * at `GET /metrics` when `Stream`'s `metrics` option is on.
 *
 * | metric | type | what |
 * | --- | --- | --- |
 * | `parley_live_calls` | gauge | calls in progress |
 * | `parley_calls_total{transport}` | counter | calls started, per transport |
 * | `parley_calls_refused_total{reason}` | counter | calls refused (limit, draining, duplicate id) |
 * | `parley_turns_total` | counter | turns reported by the handler's turn metrics |
 * | `parley_turn_latency_seconds` | histogram | end of speech → first reply frame, per answered turn |
 * | `parley_turns_merged_total` | counter | turns merged because the caller went on talking |
 * | `parley_interruptions_total` | counter | barge-ins (output flushed) |
 * | `parley_dropped_input_chunks_total` | counter | caller audio dropped because a handler fell behind |
 * | `parley_vad_batches_total`, `parley_vad_windows_total` | counter | Silero inferences and the windows they carried (mean batch = windows / batches) |
 *
 * @module
 */

import { sileroStats } from "../vad/silero.ts";

/** Upper bounds of the latency histogram, in seconds. */
const LATENCY_BUCKETS = [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1, 1.5, 2, 3, 5];

/** What one turn reported (the `turn_metrics` client message). */
export interface TurnMetricsSample {
  /** End of speech → first reply frame in ms, or null (not answered). */
  latencyMs?: number | null;
  /** How many fragments were merged into this turn. */
  merged?: number;
  /** Whether the reply was interrupted. */
  interrupted?: boolean;
}

/**
 * The counters; `Stream` feeds it, `render()` writes the exposition text.
 *
 * @example
 * ```ts
 * import { StreamMetrics } from "@parley/parley/server";
 * const m = new StreamMetrics();
 * m.callStarted("twilio");
 * m.turn({ latencyMs: 480, merged: 0 });
 * console.log(m.render(1).includes("parley_turns_total 1")); // true
 * ```
 */
export class StreamMetrics {
  #calls = new Map<string, number>();
  #refused = new Map<string, number>();
  #turns = 0;
  #merged = 0;
  #interruptions = 0;
  #dropped = 0;
  #buckets = new Array<number>(LATENCY_BUCKETS.length).fill(0);
  #latencyCount = 0;
  #latencySum = 0;

  /**
   * Counts a started call.
   *
   * @param transport The transport's name.
   */
  callStarted(transport: string): void {
    this.#calls.set(transport, (this.#calls.get(transport) ?? 0) + 1);
  }

  /**
   * Counts a refused call.
   *
   * @param reason The FastRTC failure code.
   */
  callRefused(reason: string): void {
    this.#refused.set(reason, (this.#refused.get(reason) ?? 0) + 1);
  }

  /**
   * Counts one turn's metrics.
   *
   * @param sample What the handler reported.
   */
  turn(sample: TurnMetricsSample): void {
    this.#turns++;
    if (typeof sample.merged === "number" && sample.merged > 0) {
      this.#merged += sample.merged;
    }
    const ms = sample.latencyMs;
    if (typeof ms === "number" && Number.isFinite(ms) && ms >= 0) {
      const s = ms / 1000;
      this.#latencyCount++;
      this.#latencySum += s;
      for (let i = 0; i < LATENCY_BUCKETS.length; i++) {
        if (s <= LATENCY_BUCKETS[i]) this.#buckets[i]++;
      }
    }
  }

  /** Counts a barge-in. */
  interruption(): void {
    this.#interruptions++;
  }

  /**
   * Adds a finished call's dropped input chunks.
   *
   * @param n How many.
   */
  droppedInput(n: number): void {
    this.#dropped += n;
  }

  /**
   * The exposition text.
   *
   * @param liveCalls Calls in progress now.
   * @returns Prometheus text format 0.0.4.
   */
  render(liveCalls: number): string {
    const lines: string[] = [];
    const metric = (
      name: string,
      type: string,
      help: string,
      values: [string, number][],
    ) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, v] of values) lines.push(`${name}${labels} ${v}`);
    };
    const labelled = (m: Map<string, number>, key: string) =>
      [...m].map(([k, v]) => [`{${key}="${escapeLabel(k)}"}`, v]) as [
        string,
        number,
      ][];
    metric("parley_live_calls", "gauge", "Calls in progress.", [[
      "",
      liveCalls,
    ]]);
    metric(
      "parley_calls_total",
      "counter",
      "Calls started, per transport.",
      labelled(this.#calls, "transport"),
    );
    metric(
      "parley_calls_refused_total",
      "counter",
      "Calls refused, per reason.",
      labelled(this.#refused, "reason"),
    );
    metric("parley_turns_total", "counter", "Turns reported.", [[
      "",
      this.#turns,
    ]]);
    lines.push(
      "# HELP parley_turn_latency_seconds End of speech to first reply frame.",
      "# TYPE parley_turn_latency_seconds histogram",
    );
    LATENCY_BUCKETS.forEach((le, i) =>
      lines.push(
        `parley_turn_latency_seconds_bucket{le="${le}"} ${this.#buckets[i]}`,
      )
    );
    lines.push(
      `parley_turn_latency_seconds_bucket{le="+Inf"} ${this.#latencyCount}`,
      `parley_turn_latency_seconds_sum ${round(this.#latencySum)}`,
      `parley_turn_latency_seconds_count ${this.#latencyCount}`,
    );
    metric(
      "parley_turns_merged_total",
      "counter",
      "Turn fragments merged because the caller went on talking.",
      [["", this.#merged]],
    );
    metric("parley_interruptions_total", "counter", "Barge-ins.", [[
      "",
      this.#interruptions,
    ]]);
    metric(
      "parley_dropped_input_chunks_total",
      "counter",
      "Caller audio chunks dropped because a handler fell behind.",
      [["", this.#dropped]],
    );
    const vad = sileroStats();
    metric("parley_vad_batches_total", "counter", "Silero inferences.", [[
      "",
      vad.batches,
    ]]);
    metric(
      "parley_vad_windows_total",
      "counter",
      "Silero windows those inferences carried.",
      [["", vad.windows]],
    );
    return lines.join("\n") + "\n";
  }
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function round(n: number): number {
  return Math.round(n * 1e6) / 1e6;
}
