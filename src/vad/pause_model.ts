/**
 * The contract a voice-activity model fulfils so that Parley's turn taking can
 * use it — the TypeScript counterpart of FastRTC's `PauseDetectionModel`.
 *
 * Parley's own {@linkcode SileroModel} implements it; pass any other object of
 * this shape (another VAD, a remote service, a test double) where a pause
 * detection model is accepted.
 *
 * Unlike FastRTC's protocol (`vad((sr, chunk), options) -> (seconds, chunks)`
 * over 0.6 s chunks), this one is streaming: one probability per fixed-size
 * window, with the model's recurrent state kept per stream (per call).
 *
 * @module
 */

/**
 * One per-call stream of a {@linkcode PauseDetectionModel}: it turns
 * consecutive windows of audio into speech probabilities, carrying any model
 * state from one window to the next.
 *
 * @example Run a stream over a buffer window by window
 * ```ts
 * import type { PauseDetectionStream } from "@parley/parley/vad";
 * async function probabilities(
 *   stream: PauseDetectionStream,
 *   audio: Float32Array,
 * ): Promise<number[]> {
 *   const out: number[] = [];
 *   for (let i = 0; i + stream.windowSize <= audio.length; i += stream.windowSize) {
 *     out.push(await stream.process(audio.subarray(i, i + stream.windowSize)));
 *   }
 *   return out;
 * }
 * ```
 */
export interface PauseDetectionStream {
  /** Sample rate of the windows this stream expects, in hertz. */
  readonly sampleRate: number;
  /** Number of samples in every window passed to {@linkcode process}. */
  readonly windowSize: number;
  /**
   * Returns the probability (0..1) that `window` contains speech. `window`
   * holds exactly {@linkcode windowSize} float32 samples in −1..1 and follows
   * the previous window without gap. Calls may overlap; they are processed in
   * call order.
   */
  process(window: Float32Array): Promise<number>;
  /** Forgets the model state, as if the stream had just been created. */
  reset(): void;
  /** Releases the stream; windows still waiting are rejected. */
  close(): void;
}

/**
 * A voice-activity model usable for turn taking (FastRTC's
 * `PauseDetectionModel`, streaming). Implement it to plug in another VAD.
 *
 * @example A trivial energy-based model
 * ```ts
 * import type {
 *   PauseDetectionModel,
 *   PauseDetectionStream,
 * } from "@parley/parley/vad";
 *
 * const energyModel: PauseDetectionModel = {
 *   sampleRate: 16000,
 *   sampleRates: [16000],
 *   windowSize: 512,
 *   createStream(): PauseDetectionStream {
 *     return {
 *       sampleRate: 16000,
 *       windowSize: 512,
 *       process(w: Float32Array): Promise<number> {
 *         let e = 0;
 *         for (const s of w) e += s * s;
 *         return Promise.resolve(Math.min(1, Math.sqrt(e / w.length) * 20));
 *       },
 *       reset() {},
 *       close() {},
 *     };
 *   },
 * };
 * ```
 */
export interface PauseDetectionModel {
  /** The preferred input sample rate in hertz (resample to it if you can). */
  readonly sampleRate: number;
  /** All sample rates {@linkcode createStream} accepts, preferred first. */
  readonly sampleRates: readonly number[];
  /** Window length in samples at {@linkcode sampleRate}. */
  readonly windowSize: number;
  /**
   * Creates an independent stream (one per call) for audio at `sampleRate`
   * (default: {@linkcode PauseDetectionModel.sampleRate}).
   */
  createStream(sampleRate?: number): PauseDetectionStream;
}
