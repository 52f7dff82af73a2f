/**
 * Reading and writing RIFF/WAVE files: PCM 8/16/24/32-bit, IEEE float 32/64,
 * G.711 μ-law and A-law (as sox writes them), plain or
 * `WAVE_FORMAT_EXTENSIBLE`. Everything is read to mono float32.
 *
 * @module
 */

import { decodeMulaw } from "./mulaw.ts";
import { assertSampleRate, assertSamples, type Samples } from "./frame.ts";

/** Sample encoding of a WAV file. */
export type WavSampleFormat =
  | "pcm8"
  | "pcm16"
  | "pcm24"
  | "pcm32"
  | "float32"
  | "float64"
  | "mulaw"
  | "alaw";

/** Audio read from a WAV file by {@linkcode readWav}. */
export interface WavAudio {
  /** Sample rate in hertz, from the file. */
  sampleRate: number;
  /** Number of channels in the file (the samples are already mono). */
  channels: number;
  /** Mono float32 samples in −1..1; multi-channel files are averaged. */
  samples: Float32Array;
  /** How the file stored its samples. */
  format: WavSampleFormat;
}

/** Options of {@linkcode writeWav}. */
export interface WriteWavOptions {
  /** Sample rate in hertz (a positive integer). */
  sampleRate: number;
  /** Mono samples: PCM16, or float32 in −1..1. */
  samples: Samples;
  /**
   * `"pcm16"` (default; float input is scaled by 32767, rounded and clipped
   * like `audioToInt16`) or `"float32"` (int16 input is divided by 32768).
   */
  format?: "pcm16" | "float32";
}

const FORMAT_PCM = 1;
const FORMAT_FLOAT = 3;
const FORMAT_ALAW = 6;
const FORMAT_MULAW = 7;
const FORMAT_EXTENSIBLE = 0xfffe;

/**
 * Parses a WAV file held in memory and returns its audio as mono float32.
 *
 * Conversions: integer PCM is divided by its full scale (16-bit by 32768),
 * μ-law/A-law are decoded to PCM16 first, float is taken as is; several
 * channels are averaged to mono. Chunks other than `fmt ` and `data` are
 * skipped (odd-sized chunks are padded to even length as RIFF requires). A
 * data size of 0xFFFFFFFF (streamed WAV of unknown length) means "to the end
 * of the file"; a trailing partial frame is ignored.
 *
 * @example Read a 16 kHz PCM16 fixture
 * ```ts
 * import { readWav, writeWav } from "@parley/parley/audio";
 * const bytes = writeWav({ sampleRate: 16000, samples: new Int16Array(160) });
 * const { sampleRate, samples } = readWav(bytes);
 * // sampleRate === 16000, samples.length === 160
 * ```
 *
 * @param bytes The whole file.
 * @returns Rate, original channel count, mono samples and source format.
 * @throws {TypeError} If `bytes` is not a Uint8Array.
 * @throws {Error} If the bytes are not a WAV file, are truncated, lack a
 *   `fmt ` or `data` chunk, or use an unsupported encoding.
 * @throws {RangeError} If a float sample is NaN or infinite.
 */
export function readWav(bytes: Uint8Array): WavAudio {
  if (!(bytes instanceof Uint8Array)) {
    throw new TypeError(
      "readWav() expects the file as a Uint8Array; use readWavFile() to " +
        "read from a path",
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (
    bytes.length < 12 || tag(bytes, 0) !== "RIFF" || tag(bytes, 8) !== "WAVE"
  ) {
    const start = bytes.length >= 4 ? JSON.stringify(tag(bytes, 0)) : "";
    throw new Error(
      `Not a WAV file: expected "RIFF....WAVE" at the start, got ${
        start || `${bytes.length} bytes`
      }; convert it with sox or ffmpeg to a .wav first`,
    );
  }
  let fmt:
    | {
      code: number;
      channels: number;
      sampleRate: number;
      blockAlign: number;
      bits: number;
    }
    | undefined;
  let pos = 12;
  while (pos + 8 <= bytes.length) {
    const id = tag(bytes, pos);
    const size = view.getUint32(pos + 4, true);
    const body = pos + 8;
    if (id === "fmt ") {
      if (size < 16 || body + 16 > bytes.length) {
        throw new Error(
          `Truncated WAV file: the fmt chunk is ${size} bytes with ${
            bytes.length - body
          } available; the file is damaged, re-export it`,
        );
      }
      let code = view.getUint16(body, true);
      const bits = view.getUint16(body + 14, true);
      if (code === FORMAT_EXTENSIBLE) {
        if (size < 40 || body + 40 > bytes.length) {
          throw new Error(
            "Truncated WAV file: WAVE_FORMAT_EXTENSIBLE needs a 40-byte fmt " +
              `chunk, got ${size} bytes; the file is damaged, re-export it`,
          );
        }
        // The first two bytes of the sub-format GUID are the format code.
        code = view.getUint16(body + 24, true);
      }
      fmt = {
        code,
        channels: view.getUint16(body + 2, true),
        sampleRate: view.getUint32(body + 4, true),
        blockAlign: view.getUint16(body + 12, true),
        bits,
      };
    } else if (id === "data") {
      if (!fmt) {
        throw new Error(
          'Invalid WAV file: the data chunk comes before the "fmt " chunk; ' +
            "re-export the file with a standard tool",
        );
      }
      let length = size;
      if (size === 0xffffffff) {
        length = bytes.length - body;
      } else if (body + size > bytes.length) {
        throw new Error(
          `Truncated WAV file: the data chunk declares ${size} bytes but ` +
            `only ${bytes.length - body} remain; the file was cut short ` +
            "(still being written, or a partial download)",
        );
      }
      return decode(bytes.subarray(body, body + length), fmt);
    }
    pos = body + size + (size & 1);
  }
  throw new Error(
    fmt
      ? "Invalid WAV file: no data chunk found; the file holds no audio"
      : 'Invalid WAV file: no "fmt " chunk found; the file is damaged',
  );
}

function decode(
  data: Uint8Array,
  fmt: {
    code: number;
    channels: number;
    sampleRate: number;
    blockAlign: number;
    bits: number;
  },
): WavAudio {
  const { code, channels, sampleRate, bits } = fmt;
  if (channels < 1) {
    throw new Error("Invalid WAV file: it declares 0 channels");
  }
  assertSampleRate(sampleRate, "WAV sample rate");
  let format: WavSampleFormat;
  if (code === FORMAT_PCM && [8, 16, 24, 32].includes(bits)) {
    format = `pcm${bits}` as WavSampleFormat;
  } else if (code === FORMAT_FLOAT && (bits === 32 || bits === 64)) {
    format = `float${bits}` as WavSampleFormat;
  } else if (code === FORMAT_MULAW && bits === 8) {
    format = "mulaw";
  } else if (code === FORMAT_ALAW && bits === 8) {
    format = "alaw";
  } else {
    throw new Error(
      `Unsupported WAV encoding: format code ${code} with ${bits} bits per ` +
        "sample; supported are PCM 8/16/24/32-bit, float 32/64-bit, μ-law " +
        "and A-law (convert with `sox in.wav -e signed -b 16 out.wav`)",
    );
  }
  const width = bits / 8;
  const frameBytes = width * channels;
  const frames = Math.floor(data.length / frameBytes);
  const total = frames * channels;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const all = new Float32Array(total);
  switch (format) {
    case "pcm8":
      for (let i = 0; i < total; i++) all[i] = (data[i] - 128) / 128;
      break;
    case "pcm16":
      for (let i = 0; i < total; i++) {
        all[i] = view.getInt16(i * 2, true) / 32768;
      }
      break;
    case "pcm24":
      for (let i = 0; i < total; i++) {
        const o = i * 3;
        const v = (data[o] | (data[o + 1] << 8) | (data[o + 2] << 16)) << 8 >>
          8;
        all[i] = v / 8388608;
      }
      break;
    case "pcm32":
      for (let i = 0; i < total; i++) {
        all[i] = view.getInt32(i * 4, true) / 2147483648;
      }
      break;
    case "float32":
    case "float64":
      for (let i = 0; i < total; i++) {
        const v = width === 4
          ? view.getFloat32(i * 4, true)
          : view.getFloat64(i * 8, true);
        if (!Number.isFinite(v)) {
          throw new RangeError(
            `WAV sample ${i} is ${v}; the file holds invalid float audio`,
          );
        }
        all[i] = v;
      }
      break;
    case "mulaw": {
      const pcm = decodeMulaw(data.subarray(0, total));
      for (let i = 0; i < total; i++) all[i] = pcm[i] / 32768;
      break;
    }
    case "alaw":
      for (let i = 0; i < total; i++) all[i] = alawToLinear(data[i]) / 32768;
      break;
  }
  if (channels === 1) return { sampleRate, channels, samples: all, format };
  const mono = new Float32Array(frames);
  for (let f = 0; f < frames; f++) {
    let s = 0;
    for (let c = 0; c < channels; c++) s += all[f * channels + c];
    mono[f] = s / channels;
  }
  return { sampleRate, channels, samples: mono, format };
}

/** G.711 A-law decode (Sun reference), to PCM16. */
function alawToLinear(code: number): number {
  const a = code ^ 0x55;
  let t = (a & 0x0f) << 4;
  const seg = (a & 0x70) >> 4;
  if (seg === 0) t += 8;
  else if (seg === 1) t += 0x108;
  else t = (t + 0x108) << (seg - 1);
  return (a & 0x80) ? t : -t;
}

/**
 * Encodes mono audio as a WAV file (canonical 44-byte header for PCM16; a
 * WAVE_FORMAT_IEEE_FLOAT header with a `fact` chunk for float32).
 *
 * @example Save one second of a 440 Hz tone
 * ```ts
 * import { writeWav } from "@parley/parley/audio";
 * const samples = new Float32Array(16000).map((_, i) =>
 *   0.5 * Math.sin(2 * Math.PI * 440 * i / 16000)
 * );
 * const bytes = writeWav({ sampleRate: 16000, samples });
 * // bytes.length === 44 + 32000
 * ```
 *
 * @param options Rate, samples and output format.
 * @returns The file's bytes.
 * @throws {RangeError} On a bad sample rate, NaN/infinite samples or an
 *   unknown format.
 * @throws {TypeError} If `samples` is not an Int16Array or Float32Array.
 */
export function writeWav(options: WriteWavOptions): Uint8Array {
  const { sampleRate, samples } = options;
  const format = options.format ?? "pcm16";
  assertSampleRate(sampleRate, "sampleRate");
  assertSamples(samples, "samples");
  if (format !== "pcm16" && format !== "float32") {
    throw new RangeError(
      `Unknown WAV format ${JSON.stringify(format)}; use "pcm16" or "float32"`,
    );
  }
  const n = samples.length;
  const isFloat = format === "float32";
  const width = isFloat ? 4 : 2;
  const dataBytes = n * width;
  const fmtSize = isFloat ? 18 : 16;
  const factBytes = isFloat ? 12 : 0;
  const header = 12 + 8 + fmtSize + factBytes + 8;
  const out = new Uint8Array(header + dataBytes);
  const view = new DataView(out.buffer);
  let o = 0;
  const str = (s: string): void => {
    for (let i = 0; i < 4; i++) out[o + i] = s.charCodeAt(i);
    o += 4;
  };
  const u32 = (v: number): void => {
    view.setUint32(o, v, true);
    o += 4;
  };
  const u16 = (v: number): void => {
    view.setUint16(o, v, true);
    o += 2;
  };
  str("RIFF");
  u32(out.length - 8);
  str("WAVE");
  str("fmt ");
  u32(fmtSize);
  u16(isFloat ? FORMAT_FLOAT : FORMAT_PCM);
  u16(1);
  u32(sampleRate);
  u32(sampleRate * width);
  u16(width);
  u16(width * 8);
  if (isFloat) {
    u16(0);
    str("fact");
    u32(4);
    u32(n);
  }
  str("data");
  u32(dataBytes);
  for (let i = 0; i < n; i++) {
    const x = samples[i];
    if (!Number.isFinite(x)) {
      throw new RangeError(
        `Sample ${i} is ${x}; audio must hold finite numbers (check the ` +
          "step that produced it)",
      );
    }
    if (isFloat) {
      view.setFloat32(o, samples instanceof Int16Array ? x / 32768 : x, true);
      o += 4;
    } else {
      let v = samples instanceof Int16Array ? x : Math.round(x * 32767);
      v = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
      view.setInt16(o, v, true);
      o += 2;
    }
  }
  return out;
}

/**
 * Reads a WAV file from disk (see {@linkcode readWav}). Needs
 * `--allow-read`.
 *
 * @example
 * ```ts ignore
 * import { readWavFile } from "@parley/parley/audio";
 * const { sampleRate, samples } = await readWavFile("tests/fixtures/jfk.wav");
 * ```
 *
 * @param path File path or `file:` URL.
 * @returns The decoded mono audio.
 */
export async function readWavFile(path: string | URL): Promise<WavAudio> {
  return readWav(await Deno.readFile(path));
}

/**
 * Writes mono audio to a WAV file (see {@linkcode writeWav}). Needs
 * `--allow-write`.
 *
 * @example
 * ```ts ignore
 * import { writeWavFile } from "@parley/parley/audio";
 * await writeWavFile("out.wav", { sampleRate: 8000, samples: new Int16Array(8000) });
 * ```
 *
 * @param path File path or `file:` URL.
 * @param options Rate, samples and output format.
 */
export async function writeWavFile(
  path: string | URL,
  options: WriteWavOptions,
): Promise<void> {
  await Deno.writeFile(path, writeWav(options));
}

function tag(bytes: Uint8Array, at: number): string {
  return String.fromCharCode(
    bytes[at],
    bytes[at + 1],
    bytes[at + 2],
    bytes[at + 3],
  );
}
