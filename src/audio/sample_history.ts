/**
 * A growing record of PCM16 audio addressed by absolute sample index, with
 * cheap trimming of old audio: what a turn-taking handler keeps so it can
 * hand the caller's utterance to a reply function.
 *
 * @module
 */

/**
 * Audio kept in one growing ring of PCM16, addressed by absolute sample index
 * (0 = the first sample ever pushed). Pushing copies the samples, so a
 * caller's frame can be reused or dropped at once, and a call's history is
 * one buffer rather than one small array per frame.
 *
 * @example
 * ```ts
 * import { SampleHistory } from "@parley/parley/audio";
 * const history = new SampleHistory();
 * history.push(new Int16Array([1, 2, 3]));
 * history.push(new Int16Array([4, 5]));
 * history.slice(2, 4); // Int16Array [3, 4]
 * history.keepLast(2); // drops samples older than the last 2
 * history.start; // 3
 * ```
 */
export class SampleHistory {
  /** Ring buffer; absolute index i lives at i % length (any length). */
  #buf = new Int16Array(0);
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
   * Appends a copy of `chunk`.
   *
   * @param chunk PCM16 samples.
   */
  push(chunk: Int16Array): void {
    const n = chunk.length;
    if (n === 0) return;
    const kept = this.#end - this.#start;
    if (kept + n > this.#buf.length) this.#resize(kept + n);
    this.#write(chunk, this.#end);
    this.#end += n;
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
    if (out.length > 0) this.#read(from, out);
    return out;
  }

  /**
   * Drops samples older than the newest `samples` (at most that many stay);
   * the buffer shrinks when it is mostly empty.
   *
   * @param samples How many of the newest samples must stay available.
   */
  keepLast(samples: number): void {
    const start = Math.max(this.#start, this.#end - Math.max(0, samples));
    this.#start = start;
    const kept = this.#end - start;
    if (this.#buf.length > 8192 && kept * 3 < this.#buf.length) {
      this.#resize(kept);
    }
  }

  /** Moves the kept samples into a buffer of ≥ `need` plus a quarter. */
  #resize(need: number): void {
    // Growth by a quarter (not doubling): a call's ring stays close to the
    // audio it must keep, and a push copies at most that much again.
    const cap = Math.max(4096, Math.ceil(need * 1.25 / 1024) * 1024);
    const kept = this.#end > this.#start
      ? this.slice(this.#start, this.#end)
      : null;
    this.#buf = new Int16Array(cap);
    if (kept) this.#write(kept, this.#start);
  }

  /** Writes `src` at absolute index `at` (room must exist). */
  #write(src: Int16Array, at: number): void {
    const buf = this.#buf;
    // Indices pass 2^31 on long calls: % rather than a bit mask.
    const a = at % buf.length;
    const first = Math.min(src.length, buf.length - a);
    buf.set(first === src.length ? src : src.subarray(0, first), a);
    if (first < src.length) buf.set(src.subarray(first), 0);
  }

  /** Reads `out.length` samples from absolute index `from`. */
  #read(from: number, out: Int16Array): void {
    const buf = this.#buf;
    const a = from % buf.length;
    const first = Math.min(out.length, buf.length - a);
    out.set(buf.subarray(a, a + first));
    if (first < out.length) out.set(buf.subarray(0, out.length - first), first);
  }
}
