/**
 * Streaming resampler throughput: Parley's `StreamResampler` versus
 * `@alexanderolsen/libsamplerate-js` (libsamplerate in WebAssembly,
 * `SRC_SINC_FASTEST`, its stateful `full()` API) and `wave-resampler`
 * (stateless, default cubic + IIR low-pass, called per chunk as a naive
 * per-chunk pipeline would), in the same run. Ours is each group's baseline.
 *
 * One iteration = one second of real speech (tests/fixtures/jfk.wav,
 * resampled to the input rate once up front) fed as 50 chunks of 20 ms,
 * the size of telephony and WebRTC frames. A second set of groups feeds the
 * same second as a single buffer.
 *
 * Filter quality differs: bench/attenuation.ts measures it. Ours (standard)
 * is flat to 0.9 × the lower Nyquist with ≥77 dB stopband; ours (high) is
 * flat to 0.9 with ≥107 dB; libsamplerate SINC_FASTEST reaches 95–102 dB
 * but is already −20 dB at 0.9 × Nyquist (its −0.1 dB edge is at 0.72).
 *
 *     deno bench --allow-all bench/resampler_bench.ts
 *
 * @module
 */

import LibSampleRate from "@alexanderolsen/libsamplerate-js";
import waveResampler from "wave-resampler";
import { resample, StreamResampler } from "../src/audio/resampler.ts";
import { readWav } from "../src/audio/wav.ts";

const { create, ConverterType } = LibSampleRate;
const waveResample = waveResampler.resample;

const speech16k = readWav(
  Deno.readFileSync(new URL("../tests/fixtures/jfk.wav", import.meta.url)),
).samples;

const pairs: [number, number][] = [
  [8000, 16000],
  [16000, 8000],
  [24000, 8000],
  [48000, 16000],
];

for (const [inRate, outRate] of pairs) {
  // One second of speech at the input rate (taken 2 s into the clip).
  const second = resample(speech16k.subarray(32000, 48000), {
    inputRate: 16000,
    outputRate: inRate,
  });
  const chunk = inRate / 50;
  const chunks: Float32Array[] = [];
  for (let i = 0; i < 50; i++) {
    chunks.push(second.subarray(i * chunk, (i + 1) * chunk));
  }
  const group = `${inRate / 1000}k→${outRate / 1000}k, 1 s in 20 ms chunks`;
  const ours = new StreamResampler({ inputRate: inRate, outputRate: outRate });
  const oursHigh = new StreamResampler({
    inputRate: inRate,
    outputRate: outRate,
    quality: "high",
  });
  const src = await create(1, inRate, outRate, {
    converterType: ConverterType.SRC_SINC_FASTEST,
  });

  Deno.bench({
    name: "parley StreamResampler",
    group,
    baseline: true,
    fn: () => {
      for (const c of chunks) ours.process(c);
    },
  });
  Deno.bench({
    name: "parley StreamResampler (quality high)",
    group,
    fn: () => {
      for (const c of chunks) oursHigh.process(c);
    },
  });
  Deno.bench({
    name: "libsamplerate-js SINC_FASTEST full()",
    group,
    fn: () => {
      for (const c of chunks) src.full(c);
    },
  });
  Deno.bench({
    name: "wave-resampler (per chunk, stateless)",
    group,
    fn: () => {
      for (const c of chunks) waveResample(c, inRate, outRate);
    },
  });

  const whole = `${inRate / 1000}k→${outRate / 1000}k, 1 s in one buffer`;
  const ours2 = new StreamResampler({ inputRate: inRate, outputRate: outRate });
  const src2 = await create(1, inRate, outRate, {
    converterType: ConverterType.SRC_SINC_FASTEST,
  });
  Deno.bench({
    name: "parley StreamResampler",
    group: whole,
    baseline: true,
    fn: () => {
      ours2.process(second);
    },
  });
  Deno.bench({
    name: "libsamplerate-js SINC_FASTEST full()",
    group: whole,
    fn: () => {
      src2.full(second);
    },
  });
  Deno.bench({
    name: "wave-resampler",
    group: whole,
    fn: () => {
      waveResample(second, inRate, outRate);
    },
  });
}
