/**
 * ITU-T G.711 μ-law, bit-identical to CPython's `audioop.lin2ulaw(x, 2)` and
 * `audioop.ulaw2lin(x, 2)` (the Sun g711 reference algorithm every Python
 * voice stack uses), over all 65,536 int16 inputs and all 256 codes.
 *
 * Both directions are table lookups: a 64 KiB encode table indexed by the
 * int16 bit pattern and a 256-entry decode table, built once when the module
 * loads. Buffers of 512 samples or more are processed two samples per step
 * (a 256 KiB pair decode table is built on the first such decode).
 *
 * @module
 */

/** Sun g711: clip of the 14-bit magnitude. */
const CLIP = 8159;
/** Sun g711: the 0x84 bias in the 14-bit domain (0x84 >> 2). */
const BIAS = 33;
/** Upper bounds of the eight μ-law segments in the 14-bit domain. */
const SEG_END = [0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff, 0x1fff];

function encodeOne(sample: number): number {
  // audioop feeds st_14linear2ulaw with the 16-bit value shifted right by 2.
  let pcm = sample >> 2;
  let mask: number;
  if (pcm < 0) {
    pcm = -pcm;
    mask = 0x7f;
  } else {
    mask = 0xff;
  }
  if (pcm > CLIP) pcm = CLIP;
  pcm += BIAS;
  let seg = 0;
  while (seg < 8 && pcm > SEG_END[seg]) seg++;
  if (seg >= 8) return 0x7f ^ mask;
  return ((seg << 4) | ((pcm >> (seg + 1)) & 0xf)) ^ mask;
}

function decodeOne(code: number): number {
  const u = ~code & 0xff;
  let t = ((u & 0x0f) << 3) + 0x84;
  t <<= (u & 0x70) >> 4;
  return (u & 0x80) ? 0x84 - t : t - 0x84;
}

/** Encode table indexed by the unsigned 16-bit pattern of the sample. */
const ENCODE = new Uint8Array(65536);
for (let i = 0; i < 65536; i++) ENCODE[i] = encodeOne((i << 16) >> 16);

/** Decode table: μ-law code → int16. */
const DECODE = new Int16Array(256);
for (let i = 0; i < 256; i++) DECODE[i] = decodeOne(i);

/** Typed-array views are little-endian here (true on every Deno target). */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** Below this length the per-sample loops beat creating wider views. */
const PAIR_MIN = 512;

/** Pair decode table, built on first use: two codes (LE uint16) → two int16. */
let decodePairs: Int32Array | undefined;
function pairTable(): Int32Array {
  if (decodePairs) return decodePairs;
  const t = new Int32Array(65536);
  for (let i = 0; i < 65536; i++) {
    t[i] = (DECODE[i & 0xff] & 0xffff) | (DECODE[i >> 8] << 16);
  }
  return decodePairs = t;
}

/**
 * Encodes PCM16 samples to G.711 μ-law bytes, one byte per sample.
 * Allocation-free when `out` is given.
 *
 * @example Encode 20 ms of silence for a Twilio media message
 * ```ts
 * import { encodeMulaw } from "@parley/parley/audio";
 * const bytes = encodeMulaw(new Int16Array(160));
 * // bytes.length === 160, every byte 0xff
 * ```
 *
 * @param pcm PCM16 samples.
 * @param out Optional destination, at least `pcm.length` bytes long.
 * @returns `out` (or a new array) holding exactly `pcm.length` codes; when
 *   `out` is longer, the returned view is `out.subarray(0, pcm.length)`.
 * @throws {TypeError} If `pcm` is not an Int16Array.
 * @throws {RangeError} If `out` is shorter than `pcm`.
 */
export function encodeMulaw(pcm: Int16Array, out?: Uint8Array): Uint8Array {
  if (!(pcm instanceof Int16Array)) {
    throw new TypeError(
      `encodeMulaw() expects an Int16Array, got ${typeName(pcm)}; convert ` +
        `float audio with audioToInt16() first`,
    );
  }
  const n = pcm.length;
  let dst: Uint8Array;
  if (out === undefined) {
    dst = new Uint8Array(n);
  } else {
    if (out.length < n) {
      throw new RangeError(
        `encodeMulaw() output buffer holds ${out.length} bytes but ${n} are ` +
          `needed; pass a Uint8Array at least as long as the input`,
      );
    }
    dst = out.length === n ? out : out.subarray(0, n);
  }
  const table = ENCODE;
  let i = 0;
  if (
    n >= PAIR_MIN && LITTLE_ENDIAN && (pcm.byteOffset & 3) === 0 &&
    (dst.byteOffset & 1) === 0
  ) {
    // Two samples per step: one 32-bit read, one 16-bit write.
    const half = n >> 1;
    const src = new Uint32Array(pcm.buffer, pcm.byteOffset, half);
    const d16 = new Uint16Array(dst.buffer, dst.byteOffset, half);
    for (let k = 0; k < half; k++) {
      const v = src[k];
      d16[k] = table[v & 0xffff] | (table[v >>> 16] << 8);
    }
    i = half * 2;
  }
  for (; i < n; i++) dst[i] = table[pcm[i] & 0xffff];
  return dst;
}

/**
 * Decodes G.711 μ-law bytes to PCM16 samples, one sample per byte.
 * Allocation-free when `out` is given.
 *
 * @example Decode the payload of a Twilio media message
 * ```ts
 * import { decodeMulaw } from "@parley/parley/audio";
 * const payload = "//8A"; // base64 of [0xff, 0xff, 0x00]
 * const bytes = Uint8Array.from(atob(payload), (c) => c.charCodeAt(0));
 * const pcm = decodeMulaw(bytes);
 * // pcm is Int16Array [0, 0, -32124]
 * ```
 *
 * @param bytes μ-law codes.
 * @param out Optional destination, at least `bytes.length` samples long.
 * @returns `out` (or a new array) holding exactly `bytes.length` samples;
 *   when `out` is longer, the returned view is `out.subarray(0, bytes.length)`.
 * @throws {TypeError} If `bytes` is not a Uint8Array.
 * @throws {RangeError} If `out` is shorter than `bytes`.
 */
export function decodeMulaw(bytes: Uint8Array, out?: Int16Array): Int16Array {
  if (!(bytes instanceof Uint8Array)) {
    throw new TypeError(
      `decodeMulaw() expects a Uint8Array, got ${typeName(bytes)}; decode ` +
        `base64 payloads to bytes first`,
    );
  }
  const n = bytes.length;
  let dst: Int16Array;
  if (out === undefined) {
    dst = new Int16Array(n);
  } else {
    if (out.length < n) {
      throw new RangeError(
        `decodeMulaw() output buffer holds ${out.length} samples but ${n} ` +
          `are needed; pass an Int16Array at least as long as the input`,
      );
    }
    dst = out.length === n ? out : out.subarray(0, n);
  }
  const table = DECODE;
  let i = 0;
  if (
    n >= PAIR_MIN && LITTLE_ENDIAN && (bytes.byteOffset & 1) === 0 &&
    (dst.byteOffset & 3) === 0
  ) {
    // Two codes per step: one 16-bit read, one 32-bit write.
    const pairs = pairTable();
    const half = n >> 1;
    const src = new Uint16Array(bytes.buffer, bytes.byteOffset, half);
    const d32 = new Int32Array(dst.buffer, dst.byteOffset, half);
    for (let k = 0; k < half; k++) d32[k] = pairs[src[k]];
    i = half * 2;
  }
  for (; i < n; i++) dst[i] = table[bytes[i]];
  return dst;
}

/**
 * Encodes one int16 sample to a μ-law code (0..255).
 *
 * @example
 * ```ts
 * import { linearToMulaw } from "@parley/parley/audio";
 * linearToMulaw(0); // 0xff
 * linearToMulaw(-32768); // 0x00
 * ```
 *
 * @param sample An integer from −32768 to 32767.
 * @returns The μ-law code.
 * @throws {RangeError} If `sample` is not an integer in the int16 range.
 */
export function linearToMulaw(sample: number): number {
  if (!Number.isInteger(sample) || sample < -32768 || sample > 32767) {
    throw new RangeError(
      `linearToMulaw() expects an integer from -32768 to 32767, got ` +
        `${String(sample)}; scale float samples by 32767 and round first`,
    );
  }
  return ENCODE[sample & 0xffff];
}

/**
 * Decodes one μ-law code to an int16 sample.
 *
 * @example
 * ```ts
 * import { mulawToLinear } from "@parley/parley/audio";
 * mulawToLinear(0x00); // -32124
 * mulawToLinear(0xff); // 0
 * ```
 *
 * @param byte A μ-law code, an integer from 0 to 255.
 * @returns The int16 sample.
 * @throws {RangeError} If `byte` is not an integer from 0 to 255.
 */
export function mulawToLinear(byte: number): number {
  if (!Number.isInteger(byte) || byte < 0 || byte > 255) {
    throw new RangeError(
      `mulawToLinear() expects a byte from 0 to 255, got ${String(byte)}`,
    );
  }
  return DECODE[byte];
}

function typeName(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "object") {
    return (value as object).constructor?.name ?? "object";
  }
  return typeof value;
}
