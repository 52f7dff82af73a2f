/**
 * A growing record of PCM16 audio addressed by absolute sample index, with
 * cheap trimming of old audio: what a turn-taking handler keeps so it can
 * hand the caller's utterance to a reply function.
 *
 * @module
 */

/**
 * Audio kept as the chunks it arrived in, addressed by absolute sample index
 * (0 = the first sample ever pushed).
 *
 * @example
 * ```ts
 * import { SampleHistory } from "@parley/parley/audio";
 * const history = new SampleHistory();
 * history.push(new Int16Array([1, 2, 3]));
 * history.push(new Int16Array([4, 5]));
 * history.slice(2, 4); // Int16Array [3, 4]
 * history.keepLast(2); // drops whole chunks older than the last 2 samples
 * history.start; // 3
 * ```
 */
export class SampleHistory {
  #chunks: Int16Array[] = [];
  #start = 0;
  #end = 0;

  /** Index of the oldest sample still kept. */
  get start(): number {
    return this.#start;
  }

  /** Index one past the newest sample (= samples pushed so far). */
  get end(): number {
    return this.#end;
  }

  /**
   * Appends a chunk (kept by reference: do not reuse its buffer).
   *
   * @param chunk PCM16 samples.
   */
  push(chunk: Int16Array): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#end += chunk.length;
  }

  /**
   * Copies samples `from` (inclusive) to `to` (exclusive), clipped to what is
   * kept.
   *
   * @param from First sample index.
   * @param to One past the last sample index.
   * @returns The samples (possibly empty).
   */
  slice(from: number, to: number): Int16Array {
    from = Math.max(from, this.#start);
    to = Math.min(to, this.#end);
    const out = new Int16Array(Math.max(0, to - from));
    let pos = this.#start;
    for (const chunk of this.#chunks) {
      const end = pos + chunk.length;
      if (end > from && pos < to) {
        const a = Math.max(from, pos) - pos;
        const b = Math.min(to, end) - pos;
        out.set(chunk.subarray(a, b), Math.max(from, pos) - from);
      }
      pos = end;
      if (pos >= to) break;
    }
    return out;
  }

  /**
   * Drops whole chunks while at least `samples` newer samples remain (the
   * newest chunk is always kept).
   *
   * @param samples How many of the newest samples must stay available.
   */
  keepLast(samples: number): void {
    while (
      this.#chunks.length > 1 &&
      this.#end - (this.#start + this.#chunks[0].length) >= samples
    ) {
      this.#start += this.#chunks.shift()!.length;
    }
  }
}
