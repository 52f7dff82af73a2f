/**
 * Test helpers for the VAD tests: a tiny PCM16 WAV reader and a 2:1
 * decimator (windowed-sinc low-pass) to make 8 kHz audio from 16 kHz.
 *
 * @module
 */

/** Reads a mono PCM16 WAV file; returns its rate and float32 samples. */
export function readWavMono16(
  path: string | URL,
): { sampleRate: number; samples: Float32Array } {
  const bytes = Deno.readFileSync(path);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tag = (o: number) => String.fromCharCode(...bytes.subarray(o, o + 4));
  if (tag(0) !== "RIFF" || tag(8) !== "WAVE") {
    throw new Error(`${path} is not a WAV file`);
  }
  let sampleRate = 0, channels = 0, bits = 0;
  let offset = 12;
  while (offset + 8 <= bytes.length) {
    const id = tag(offset);
    const size = view.getUint32(offset + 4, true);
    const body = offset + 8;
    if (id === "fmt ") {
      channels = view.getUint16(body + 2, true);
      sampleRate = view.getUint32(body + 4, true);
      bits = view.getUint16(body + 14, true);
    } else if (id === "data") {
      if (channels !== 1 || bits !== 16) {
        throw new Error(
          `${path}: need mono PCM16, got ${channels} ch ${bits} bit`,
        );
      }
      const n = Math.floor(Math.min(size, bytes.length - body) / 2);
      const samples = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        samples[i] = view.getInt16(body + 2 * i, true) / 32768;
      }
      return { sampleRate, samples };
    }
    offset = body + size + (size & 1);
  }
  throw new Error(`${path}: no data chunk`);
}

/** Halves the sample rate with a 63-tap Hann-windowed sinc low-pass at 0.45·Nyquist-out. */
export function decimateBy2(x: Float32Array): Float32Array {
  const taps = 63, half = (taps - 1) / 2, fc = 0.45 * 0.5; // cycles/sample at input rate
  const h = new Float64Array(taps);
  let sum = 0;
  for (let i = 0; i < taps; i++) {
    const t = i - half;
    const sinc = t === 0
      ? 2 * fc
      : Math.sin(2 * Math.PI * fc * t) / (Math.PI * t);
    h[i] = sinc * (0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (taps - 1)));
    sum += h[i];
  }
  const out = new Float32Array(Math.floor(x.length / 2));
  for (let o = 0; o < out.length; o++) {
    let acc = 0;
    const c = 2 * o;
    for (let k = 0; k < taps; k++) {
      const j = c + k - half;
      if (j >= 0 && j < x.length) acc += h[k] * x[j];
    }
    out[o] = acc / sum;
  }
  return out;
}

/** Deterministic pseudo-random generator (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Splits `x` into consecutive full windows of `size` samples. */
export function windows(x: Float32Array, size: number): Float32Array[] {
  const out: Float32Array[] = [];
  for (let i = 0; i + size <= x.length; i += size) {
    out.push(x.subarray(i, i + size));
  }
  return out;
}
