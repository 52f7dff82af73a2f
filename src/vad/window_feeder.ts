/**
 * Cuts audio chunks of any length into the fixed windows a
 * {@linkcode PauseDetectionStream} needs, for any VAD model.
 *
 * @module
 */

import { WindowCutter } from "../audio/_window_cutter.ts";
import type { PauseDetectionStream } from "./pause_model.ts";

/**
 * One window's result from {@linkcode WindowFeeder.feed} (and
 * `SileroStream.feed`).
 *
 * @example Push results into a turn detector
 * ```ts
 * import { TurnDetector, type VadWindowResult } from "@parley/parley/vad";
 * const turns = new TurnDetector();
 * const result: VadWindowResult = { probability: 0.9, samples: new Float32Array(512) };
 * turns.push(result.probability, result.samples);
 * ```
 */
export interface VadWindowResult {
  /** Speech probability 0..1. */
  probability: number;
  /** The window's samples (float32 in −1..1, at the stream's sample rate). */
  samples: Float32Array;
}

/**
 * Options of {@linkcode WindowFeeder}.
 *
 * @example
 * ```ts
 * import { getSileroModel, WindowFeeder } from "@parley/parley/vad";
 * const stream = (await getSileroModel()).createStream(8000);
 * // SileroStream copies every window, so the feeder may skip its own copy.
 * const feeder = new WindowFeeder(stream, { streamCopiesWindows: true });
 * console.log(await feeder.feedProbabilities(new Int16Array(256))); // [0]
 * stream.close();
 * ```
 */
export interface WindowFeederOptions {
  /**
   * The stream copies each window it is given before `process` returns (as
   * `SileroStream` does), so {@linkcode WindowFeeder.feedProbabilities} may
   * pass its own buffer. Default false.
   */
  streamCopiesWindows?: boolean;
}

/**
 * Buffers chunks of any length (20 ms phone frames, 10 ms WebRTC frames…)
 * and runs every completed window through a {@linkcode PauseDetectionStream},
 * in order. Works with Silero or any plugged-in model.
 *
 * @example 20 ms frames into 32 ms windows
 * ```ts
 * import { getSileroModel, WindowFeeder } from "@parley/parley/vad";
 * const model = await getSileroModel();
 * const stream = model.createStream(16000);
 * const feeder = new WindowFeeder(stream);
 * const first = await feeder.feed(new Float32Array(320)); // [] (320 < 512)
 * const second = await feeder.feed(new Float32Array(320)); // one window
 * console.log(first.length, second.length, feeder.buffered); // 0 1 128
 * stream.close();
 * ```
 */
export class WindowFeeder {
  /** The stream the windows go to. */
  readonly stream: PauseDetectionStream;
  #cutter: WindowCutter;
  #noCopy: boolean;

  /**
   * Creates a feeder for `stream`.
   *
   * @param stream The VAD stream; its `windowSize` sets the window length.
   */
  constructor(
    stream: PauseDetectionStream,
    options: WindowFeederOptions = {},
  ) {
    this.stream = stream;
    this.#cutter = new WindowCutter(stream.windowSize);
    this.#noCopy = options.streamCopiesWindows === true;
  }

  /** Samples held until a window is complete. */
  get buffered(): number {
    return this.#cutter.buffered;
  }

  /**
   * Buffers `samples` (Int16 is scaled by 1/32768) and processes every window
   * that becomes complete; leftovers wait for the next call. Calls may
   * overlap: windows are cut and submitted synchronously, in call order.
   *
   * @param samples Mono audio at the stream's sample rate.
   * @returns One result per completed window (possibly none); rejects if the
   * audio holds a non-finite sample (nothing is buffered then) or if a window
   * fails.
   */
  feed(samples: Float32Array | Int16Array): Promise<VadWindowResult[]> {
    const scale = samples instanceof Int16Array ? 1 / 32768 : 1;
    if (scale === 1) {
      for (let i = 0; i < samples.length; i++) {
        if (!Number.isFinite(samples[i])) {
          return Promise.reject(
            new RangeError(
              `Sample ${i} of the audio fed to VAD is ${
                samples[i]
              }; pass finite float32 samples in −1..1`,
            ),
          );
        }
      }
    }
    const windows = this.#cutter.push(samples, scale);
    const jobs = windows.map((w) => this.stream.process(w));
    return Promise.all(jobs).then((ps) =>
      ps.map((probability, k) => ({ probability, samples: windows[k] }))
    );
  }

  /**
   * Like {@linkcode feed}, but resolves with the probabilities only. When the
   * feeder was made with `streamCopiesWindows` (the stream copies each window
   * as `SileroStream.process` does), windows are not copied on the way.
   *
   * @param samples Mono audio at the stream's sample rate (finite floats).
   * @returns One probability per completed window (possibly none).
   */
  feedProbabilities(samples: Float32Array | Int16Array): Promise<number[]> {
    if (!this.#noCopy) {
      return this.feed(samples).then((rs) => rs.map((r) => r.probability));
    }
    const scale = samples instanceof Int16Array ? 1 / 32768 : 1;
    if (scale === 1) {
      let bad = 0;
      for (let i = 0; i < samples.length; i++) bad += samples[i] - samples[i];
      if (bad !== 0) return this.feed(samples).then(() => []); // names the sample
    }
    let first: Promise<number> | undefined;
    let more: Promise<number>[] | undefined;
    this.#cutter.pushEach(samples, scale, (w) => {
      const job = this.stream.process(w);
      if (!first) first = job;
      else (more ??= [first]).push(job);
    });
    if (more) return Promise.all(more);
    if (first) return first.then((p) => [p]);
    return Promise.resolve([]);
  }

  /** Drops buffered samples (the stream's model state is not touched). */
  clear(): void {
    this.#cutter.clear();
  }
}
