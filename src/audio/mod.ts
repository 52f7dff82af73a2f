/**
 * Parley's audio core: the `[sampleRate, samples]` chunk type and
 * int16/float32 conversions, G.711 μ-law and A-law bit-identical to
 * CPython's `audioop`, a stateful streaming resampler, and WAV read/write.
 * Nothing here depends on the rest of Parley.
 *
 * @example Turn a Twilio μ-law payload into 16 kHz float audio and back
 * ```ts
 * import {
 *   audioToFloat32,
 *   audioToInt16,
 *   decodeMulaw,
 *   encodeMulaw,
 *   StreamResampler,
 * } from "@parley/parley/audio";
 *
 * const up = new StreamResampler({ inputRate: 8000, outputRate: 16000 });
 * const down = new StreamResampler({ inputRate: 16000, outputRate: 8000 });
 *
 * const payload = new Uint8Array(160).fill(0xff); // 20 ms of μ-law silence
 * const speech16k = up.process(audioToFloat32(decodeMulaw(payload)));
 * const reply8k = down.process(speech16k);
 * const outgoing = encodeMulaw(audioToInt16(reply8k));
 * ```
 *
 * @module
 */

export {
  aggregateBytesTo16bit,
  assertAudioChunk,
  assertSampleRate,
  assertSamples,
  type AudioChunk,
  audioToFloat32,
  audioToInt16,
  type Samples,
} from "./frame.ts";
export * from "./mulaw.ts";
export * from "./alaw.ts";
export * from "./resampler.ts";
export * from "./wav.ts";
export * from "./sample_history.ts";
export * from "./log_mel.ts";
