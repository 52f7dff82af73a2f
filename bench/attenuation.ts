/**
 * Measures passband ripple and stopband attenuation of Parley's resampler
 * and of libsamplerate-js `SRC_SINC_FASTEST` on the same test tones, and
 * prints a table:
 *
 *     deno run -A bench/attenuation.ts
 *
 * - Passband: pure tones at 2 %…90 % of the lower Nyquist; the gain of the
 *   tone in the output (least-squares fit of a sine at that frequency over
 *   the middle of the output); worst |gain| in dB.
 * - Downsampling stopband: tones from 1.0× the output Nyquist up to the input
 *   Nyquist; the whole output level relative to the input tone (everything
 *   that comes out is alias); worst case in dB.
 * - Upsampling images: tones at 10 %…90 % of the input Nyquist; the level of
 *   the output after subtracting the fitted tone (images and any other
 *   error), relative to the tone; worst case in dB.
 *
 * @module
 */

import LibSampleRate from "@alexanderolsen/libsamplerate-js";
import { resample } from "../src/audio/resampler.ts";

const { create, ConverterType } = LibSampleRate;

type Resampler = (
  x: Float32Array,
  inRate: number,
  outRate: number,
) => Promise<Float32Array>;

const ours: Resampler = (x, inputRate, outputRate) =>
  Promise.resolve(resample(x, { inputRate, outputRate }));
const oursHigh: Resampler = (x, inputRate, outputRate) =>
  Promise.resolve(resample(x, { inputRate, outputRate, quality: "high" }));
const lsr: Resampler = async (x, inRate, outRate) => {
  const src = await create(1, inRate, outRate, {
    converterType: ConverterType.SRC_SINC_FASTEST,
  });
  try {
    return src.simple(x);
  } finally {
    src.destroy();
  }
};

function tone(rate: number, f: number, n: number): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = Math.sin(2 * Math.PI * f * i / rate);
  return x;
}

/** Fits a sine of frequency f over y[a..b); returns amplitude and residual RMS. */
function fit(
  y: Float32Array,
  rate: number,
  f: number,
  a: number,
  b: number,
): { amp: number; residual: number } {
  let ss = 0, cc = 0, sc = 0, ys = 0, yc = 0;
  for (let i = a; i < b; i++) {
    const s = Math.sin(2 * Math.PI * f * i / rate);
    const c = Math.cos(2 * Math.PI * f * i / rate);
    ss += s * s;
    cc += c * c;
    sc += s * c;
    ys += y[i] * s;
    yc += y[i] * c;
  }
  const det = ss * cc - sc * sc;
  const p = (ys * cc - yc * sc) / det;
  const q = (yc * ss - ys * sc) / det;
  let r = 0;
  for (let i = a; i < b; i++) {
    const e = y[i] - p * Math.sin(2 * Math.PI * f * i / rate) -
      q * Math.cos(2 * Math.PI * f * i / rate);
    r += e * e;
  }
  return { amp: Math.hypot(p, q), residual: Math.sqrt(r / (b - a)) };
}

function rms(y: Float32Array, a: number, b: number): number {
  let s = 0;
  for (let i = a; i < b; i++) s += y[i] * y[i];
  return Math.sqrt(s / (b - a));
}

const db = (x: number): number => 20 * Math.log10(Math.max(x, 1e-12));

async function measure(
  rs: Resampler,
  inRate: number,
  outRate: number,
): Promise<{ ripple: number; stop: number; edge: number }> {
  const nyq = Math.min(inRate, outRate) / 2;
  const n = inRate; // 1 s
  const a = Math.floor(outRate * 0.25), b = Math.floor(outRate * 0.75);
  let ripple = 0;
  for (const r of [0.02, 0.1, 0.25, 0.5, 0.75, 0.8, 0.85, 0.9]) {
    const f = r * nyq;
    const y = await rs(tone(inRate, f, n), inRate, outRate);
    ripple = Math.max(ripple, Math.abs(db(fit(y, outRate, f, a, b).amp)));
  }
  // Passband edge: the first tone (in 1 % steps of the lower Nyquist) whose
  // gain is off by more than 0.1 dB.
  let edge = 1;
  for (let r = 0.5; r < 1; r += 0.01) {
    const f = r * nyq;
    const y = await rs(tone(inRate, f, n), inRate, outRate);
    if (Math.abs(db(fit(y, outRate, f, a, b).amp)) > 0.1) {
      edge = r;
      break;
    }
  }
  let stop = -Infinity;
  if (outRate < inRate) {
    for (const r of [1, 1.02, 1.05, 1.1, 1.25, 1.5, 2, 3, 4, 5]) {
      const f = r * nyq;
      if (f >= inRate / 2) continue;
      const y = await rs(tone(inRate, f, n), inRate, outRate);
      stop = Math.max(stop, db(rms(y, a, b) / Math.SQRT1_2));
    }
  } else {
    for (const r of [0.1, 0.3, 0.5, 0.7, 0.9]) {
      const f = r * nyq;
      const y = await rs(tone(inRate, f, n), inRate, outRate);
      stop = Math.max(
        stop,
        db(fit(y, outRate, f, a, b).residual / Math.SQRT1_2),
      );
    }
  }
  return { ripple, stop, edge };
}

const pairs: [number, number][] = [
  [8000, 16000],
  [16000, 8000],
  [24000, 8000],
  [48000, 16000],
  [44100, 16000],
  [16000, 48000],
];

console.log(
  "| rates | parley: ripple to 0.9 / −0.1 dB edge / stopband | parley high: ripple / edge / stopband | libsamplerate FASTEST: ripple to 0.9 / −0.1 dB edge / stopband |",
);
console.log("| --- | --- | --- | --- |");
const cell = (m: { ripple: number; stop: number; edge: number }): string =>
  `±${m.ripple.toFixed(3)} dB / ${m.edge.toFixed(2)} / ${m.stop.toFixed(1)} dB`;
for (const [inRate, outRate] of pairs) {
  const o = await measure(ours, inRate, outRate);
  const h = await measure(oursHigh, inRate, outRate);
  const l = await measure(lsr, inRate, outRate);
  console.log(
    `| ${inRate}→${outRate} | ${cell(o)} | ${cell(h)} | ${cell(l)} |`,
  );
}
console.log(
  "\nRipple: worst |gain| of tones up to 0.9 × the lower Nyquist. Edge: " +
    "first tone (fraction of the lower Nyquist) off by more than 0.1 dB. " +
    "Stopband: " +
    "worst alias level of tones from 1.0 × the output Nyquist (down), or " +
    "worst image/error level of tones up to 0.9 × the input Nyquist (up), " +
    "relative to the tone. Lower is better.",
);
