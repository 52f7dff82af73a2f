/**
 * ITU-T G.711 A-law, bit-identical to CPython's `audioop.lin2alaw(x, 2)` and
 * `audioop.alaw2lin(x, 2)` (the Sun g711 reference algorithm), over all
 * 65,536 int16 inputs and all 256 codes. A-law is the European (and most of
 * the world outside North America and Japan) phone codec; carriers call it
 * PCMA.
 *
 * Like the μ-law codec, both directions are table lookups: a 64 KiB encode
 * table indexed by the int16 bit pattern and a 256-entry decode table, built
 * once when the module loads. Buffers of 512 samples or more are processed
 * two samples per step (a 256 KiB pair decode table is built on the first
 * such decode).
 *
 * @module
 */

/** Upper bounds of the eight A-law segments in the 13-bit magnitude domain. */
const SEG_END = [0x1f, 0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff];

function encodeOne(sample: number): number {
  // audioop keeps the top 13 bits of the 16-bit sample.
  let pcm = sample >> 3;
  let mask: number;
  if (pcm >= 0) {
    mask = 0xd5; // sign bit set, even bits inverted
  } else {
    mask = 0x55;
    pcm = -pcm - 1; // one's complement magnitude, as in the reference
  }
  let seg = 0;
  while (seg < 8 && pcm > SEG_END[seg]) seg++;
  if (seg >= 8) return 0x7f ^ mask;
  const quant = (seg < 2 ? pcm >> 1 : pcm >> seg) & 0x0f;
  return ((seg << 4) | quant) ^ mask;
}

function decodeOne(code: number): number {
  const a = code ^ 0x55;
  let t = (a & 0x0f) << 4;
  const seg = (a & 0x70) >> 4;
  if (seg === 0) {
    t += 8;
  } else {
    t += 0x108;
    if (seg > 1) t <<= seg - 1;
  }
  return (a & 0x80) ? t : -t;
}

/** Encode table indexed by the unsigned 16-bit pattern of the sample. */
const ENCODE = new Uint8Array(65536);
for (let i = 0; i < 65536; i++) ENCODE[i] = encodeOne((i << 16) >> 16);

/** Decode table: A-law code → int16. */
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
 * Encodes PCM16 samples to G.711 A-law bytes, one byte per sample.
 * Allocation-free when `out` is given.
 *
 * @example Encode 20 ms of silence for a PCMA media message
 * ```ts
 * import { encodeAlaw } from "@parley/parley/audio";
 * const bytes = encodeAlaw(new Int16Array(160));
 * // bytes.length === 160, every byte 0xd5
 * ```
 *
 * @param pcm PCM16 samples.
 * @param out Optional destination, at least `pcm.length` bytes long.
 * @returns `out` (or a new array) holding exactly `pcm.length` codes; when
 *   `out` is longer, the returned view is `out.subarray(0, pcm.length)`.
 * @throws {TypeError} If `pcm` is not an Int16Array.
 * @throws {RangeError} If `out` is shorter than `pcm`.
 */
export function encodeAlaw(pcm: Int16Array, out?: Uint8Array): Uint8Array {
  if (!(pcm instanceof Int16Array)) {
    throw new TypeError(
      `encodeAlaw() expects an Int16Array, got ${typeName(pcm)}; convert ` +
        `float audio with audioToInt16() first`,
    );
  }
  const n = pcm.length;
  let dst: Uint8Array;
  if (out === undefined) {
    dst = new Uint8Array(n);
  } else {
    if (!(out instanceof Uint8Array)) {
      throw new TypeError(
        `encodeAlaw() output buffer must be a Uint8Array, got ${typeName(out)}`,
      );
    }
    if (out.length < n) {
      throw new RangeError(
        `encodeAlaw() output buffer holds ${out.length} bytes but ${n} are ` +
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
 * Decodes G.711 A-law bytes to PCM16 samples, one sample per byte.
 * Allocation-free when `out` is given.
 *
 * @example Decode a PCMA payload
 * ```ts
 * import { decodeAlaw } from "@parley/parley/audio";
 * const pcm = decodeAlaw(new Uint8Array([0xd5, 0x55, 0xaa]));
 * // pcm is Int16Array [8, -8, 32256]
 * ```
 *
 * @param bytes A-law codes.
 * @param out Optional destination, at least `bytes.length` samples long.
 * @returns `out` (or a new array) holding exactly `bytes.length` samples;
 *   when `out` is longer, the returned view is `out.subarray(0, bytes.length)`.
 * @throws {TypeError} If `bytes` is not a Uint8Array.
 * @throws {RangeError} If `out` is shorter than `bytes`.
 */
export function decodeAlaw(bytes: Uint8Array, out?: Int16Array): Int16Array {
  if (!(bytes instanceof Uint8Array)) {
    throw new TypeError(
      `decodeAlaw() expects a Uint8Array, got ${typeName(bytes)}; decode ` +
        `base64 payloads to bytes first`,
    );
  }
  const n = bytes.length;
  let dst: Int16Array;
  if (out === undefined) {
    dst = new Int16Array(n);
  } else {
    if (!(out instanceof Int16Array)) {
      throw new TypeError(
        `decodeAlaw() output buffer must be an Int16Array, got ` +
          `${typeName(out)}`,
      );
    }
    if (out.length < n) {
      throw new RangeError(
        `decodeAlaw() output buffer holds ${out.length} samples but ${n} ` +
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
 * Encodes one int16 sample to an A-law code (0..255).
 *
 * @example
 * ```ts
 * import { linearToAlaw } from "@parley/parley/audio";
 * linearToAlaw(0); // 0xd5
 * linearToAlaw(-32768); // 0x2a
 * ```
 *
 * @param sample An integer from −32768 to 32767.
 * @returns The A-law code.
 * @throws {RangeError} If `sample` is not an integer in the int16 range.
 */
export function linearToAlaw(sample: number): number {
  if (!Number.isInteger(sample) || sample < -32768 || sample > 32767) {
    throw new RangeError(
      `linearToAlaw() expects an integer from -32768 to 32767, got ` +
        `${String(sample)}; scale float samples by 32767 and round first`,
    );
  }
  return ENCODE[sample & 0xffff];
}

/**
 * Decodes one A-law code to an int16 sample.
 *
 * @example
 * ```ts
 * import { alawToLinear } from "@parley/parley/audio";
 * alawToLinear(0xd5); // 8
 * alawToLinear(0x2a); // -32256
 * ```
 *
 * @param byte An A-law code, an integer from 0 to 255.
 * @returns The int16 sample.
 * @throws {RangeError} If `byte` is not an integer from 0 to 255.
 */
export function alawToLinear(byte: number): number {
  if (!Number.isInteger(byte) || byte < 0 || byte > 255) {
    throw new RangeError(
      `alawToLinear() expects a byte from 0 to 255, got ${String(byte)}`,
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
