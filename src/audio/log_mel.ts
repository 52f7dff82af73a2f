/**
 * Whisper's log-mel spectrogram (the input of Whisper encoders and of
 * models built on them, such as Smart Turn v3): 16 kHz audio, 25 ms Hann
 * windows (n_fft 400) every 10 ms (hop 160), centred with reflect padding,
 * power spectrum, 80 Slaney-normalised mel filters from 0 to 8 kHz,
 * `log10(max(x, 1e-10))`, clamped to 8 below the maximum, then
 * `(x + 4) / 4`. The last STFT frame is dropped, so N samples give N / 160
 * frames, as in OpenAI's and Hugging Face's implementations.
 *
 * @module
 */

const N_FFT = 400;
const HOP = 160;
const BINS = N_FFT / 2 + 1;

/** Periodic Hann window of length n. */
function hann(n: number): Float64Array {
  return Float64Array.from(
    { length: n },
    (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / n),
  );
}

/** Slaney mel scale (librosa's default, `htk=False`). */
function hzToMel(f: number): number {
  const fSp = 200 / 3, minLogHz = 1000, minLogMel = minLogHz / fSp;
  const logStep = Math.log(6.4) / 27;
  return f < minLogHz ? f / fSp : minLogMel + Math.log(f / minLogHz) / logStep;
}

function melToHz(m: number): number {
  const fSp = 200 / 3, minLogHz = 1000, minLogMel = minLogHz / fSp;
  const logStep = Math.log(6.4) / 27;
  return m < minLogMel
    ? m * fSp
    : minLogHz * Math.exp(logStep * (m - minLogMel));
}

interface Filter {
  from: number;
  weights: Float64Array;
}

const filterCache = new Map<number, Filter[]>();

/** Triangular mel filters over the FFT bins, Slaney area normalisation. */
function melFilters(nMels: number, sampleRate = 16000): Filter[] {
  const cached = filterCache.get(nMels);
  if (cached) return cached;
  const fMax = sampleRate / 2;
  const melMax = hzToMel(fMax);
  const pts = Array.from(
    { length: nMels + 2 },
    (_, i) => melToHz((melMax * i) / (nMels + 1)),
  );
  const freqs = Array.from(
    { length: BINS },
    (_, k) => (k * sampleRate) / N_FFT,
  );
  const filters: Filter[] = [];
  for (let m = 0; m < nMels; m++) {
    const lo = pts[m], mid = pts[m + 1], hi = pts[m + 2];
    const enorm = 2 / (hi - lo);
    const w = new Float64Array(BINS);
    let from = -1, to = -1;
    for (let k = 0; k < BINS; k++) {
      const up = (freqs[k] - lo) / (mid - lo);
      const down = (hi - freqs[k]) / (hi - mid);
      const v = Math.max(0, Math.min(up, down)) * enorm;
      w[k] = v;
      if (v > 0) {
        if (from < 0) from = k;
        to = k;
      }
    }
    filters.push(
      from < 0
        ? { from: 0, weights: new Float64Array(0) }
        : { from, weights: w.slice(from, to + 1) },
    );
  }
  filterCache.set(nMels, filters);
  return filters;
}

/**
 * Power spectrum (bins 0..200) of one real 400-sample frame, by one
 * Cooley-Tukey step 400 = 16 × 25 with both small DFTs as tables:
 * X[25·k1 + k2] = Σ_n1 W16^(n1·k1) · W400^(n1·k2) · Σ_n2 x[n1 + 16·n2] · W25^(n2·k2).
 */
class Power400 {
  #c25 = new Float64Array(625);
  #s25 = new Float64Array(625);
  #c16 = new Float64Array(256);
  #s16 = new Float64Array(256);
  #ct = new Float64Array(400);
  #st = new Float64Array(400);
  #yr = new Float64Array(400);
  #yi = new Float64Array(400);
  constructor() {
    for (let a = 0; a < 25; a++) {
      for (let b = 0; b < 25; b++) {
        const t = (-2 * Math.PI * ((a * b) % 25)) / 25;
        this.#c25[a * 25 + b] = Math.cos(t);
        this.#s25[a * 25 + b] = Math.sin(t);
      }
    }
    for (let a = 0; a < 16; a++) {
      for (let b = 0; b < 16; b++) {
        const t = (-2 * Math.PI * ((a * b) % 16)) / 16;
        this.#c16[a * 16 + b] = Math.cos(t);
        this.#s16[a * 16 + b] = Math.sin(t);
      }
    }
    for (let n1 = 0; n1 < 16; n1++) {
      for (let k2 = 0; k2 < 25; k2++) {
        const t = (-2 * Math.PI * n1 * k2) / 400;
        this.#ct[n1 * 25 + k2] = Math.cos(t);
        this.#st[n1 * 25 + k2] = Math.sin(t);
      }
    }
  }

  /** Writes |X[k]|² for k = 0..200 into `out`. */
  run(x: Float64Array, out: Float64Array): void {
    const yr = this.#yr, yi = this.#yi;
    const c25 = this.#c25, s25 = this.#s25;
    for (let n1 = 0; n1 < 16; n1++) {
      for (let k2 = 0; k2 < 25; k2++) {
        let re = 0, im = 0;
        const row = k2 * 25;
        for (let n2 = 0; n2 < 25; n2++) {
          const v = x[n1 + 16 * n2];
          re += v * c25[row + n2];
          im += v * s25[row + n2];
        }
        const c = this.#ct[n1 * 25 + k2], s = this.#st[n1 * 25 + k2];
        yr[n1 * 25 + k2] = re * c - im * s;
        yi[n1 * 25 + k2] = re * s + im * c;
      }
    }
    const c16 = this.#c16, s16 = this.#s16;
    for (let k1 = 0; k1 <= 8; k1++) {
      for (let k2 = 0; k2 < 25; k2++) {
        const k = 25 * k1 + k2;
        if (k > 200) break;
        let re = 0, im = 0;
        for (let n1 = 0; n1 < 16; n1++) {
          const c = c16[k1 * 16 + n1], s = s16[k1 * 16 + n1];
          const a = yr[n1 * 25 + k2], b = yi[n1 * 25 + k2];
          re += a * c - b * s;
          im += a * s + b * c;
        }
        out[k] = re * re + im * im;
      }
    }
  }
}

let power400: Power400 | null = null;

/**
 * Whisper's log-mel features of 16 kHz audio.
 *
 * @example Features of one second of silence
 * ```ts
 * import { whisperLogMel } from "@parley/parley/audio";
 * const mel = whisperLogMel(new Float32Array(16000));
 * console.log(mel.length); // 80 × 100
 * ```
 *
 * @param audio Mono float32 samples at 16 kHz (length a multiple of 160
 * for whole frames).
 * @param nMels Mel bins (Whisper and Smart Turn: 80).
 * @returns `[nMels, frames]` row-major, `frames = floor(audio.length / 160)`.
 */
export function whisperLogMel(audio: Float32Array, nMels = 80): Float32Array {
  const frames = Math.floor(audio.length / HOP);
  const out = new Float32Array(nMels * frames);
  if (frames === 0) return out;
  const pad = N_FFT / 2;
  const n = audio.length;
  // Reflect padding (numpy "reflect": the edge sample is not repeated).
  const at = (i: number): number => {
    if (n === 1) return audio[0];
    let j = i - pad;
    while (j < 0 || j >= n) j = j < 0 ? -j : 2 * (n - 1) - j;
    return audio[j];
  };
  const win = hann(N_FFT);
  const filters = melFilters(nMels);
  power400 ??= new Power400();
  const re = new Float64Array(N_FFT);
  const power = new Float64Array(BINS);
  let max = -Infinity;
  for (let f = 0; f < frames; f++) {
    const start = f * HOP;
    if (start >= pad && start - pad + N_FFT <= n) {
      for (let i = 0; i < N_FFT; i++) re[i] = audio[start - pad + i] * win[i];
    } else {
      for (let i = 0; i < N_FFT; i++) re[i] = at(start + i) * win[i];
    }
    power400.run(re, power);
    for (let m = 0; m < nMels; m++) {
      const { from, weights } = filters[m];
      let e = 0;
      for (let k = 0; k < weights.length; k++) {
        e += weights[k] * power[from + k];
      }
      const v = Math.log10(Math.max(e, 1e-10));
      out[m * frames + f] = v;
      if (v > max) max = v;
    }
  }
  const floor = max - 8;
  for (let i = 0; i < out.length; i++) {
    out[i] = (Math.max(out[i], floor) + 4) / 4;
  }
  return out;
}
