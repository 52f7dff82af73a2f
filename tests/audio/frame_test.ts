import assert from "node:assert/strict";
import {
  aggregateBytesTo16bit,
  assertAudioChunk,
  assertSampleRate,
  assertSamples,
  audioToFloat32,
  audioToInt16,
  describe,
} from "../../src/audio/frame.ts";

async function collect(
  chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
): Promise<number[][]> {
  const out: number[][] = [];
  for await (const c of aggregateBytesTo16bit(chunks)) out.push(Array.from(c));
  return out;
}

/** Reference: little-endian int16 decode of all bytes, joined. */
function decodeAll(chunks: Uint8Array[]): number[] {
  const all = chunks.flatMap((c) => Array.from(c));
  const out: number[] = [];
  for (let i = 0; i + 1 < all.length; i += 2) {
    out.push(((all[i + 1] << 8) | all[i]) << 16 >> 16);
  }
  return out;
}

Deno.test("audioToFloat32 divides int16 by 32768", () => {
  const f = audioToFloat32(Int16Array.from([16384, -32768, 32767, 0]));
  assert.ok(f instanceof Float32Array);
  assert.deepEqual(Array.from(f), [0.5, -1, 32767 / 32768, 0].map(Math.fround));
  const same = new Float32Array(2);
  assert.equal(audioToFloat32(same), same);
});

Deno.test("audioToInt16 scales by 32767, rounds and clips", () => {
  const s = audioToInt16(
    Float32Array.from([0.5, -1, 2, -2, 0.00001, -0.00002]),
  );
  assert.deepEqual(Array.from(s), [16384, -32767, 32767, -32768, 0, -1]);
  const same = new Int16Array(2);
  assert.equal(audioToInt16(same), same);
});

Deno.test("int16 → float32 → int16 is within one step", () => {
  const pcm = new Int16Array(65536);
  for (let i = 0; i < 65536; i++) pcm[i] = i - 32768;
  const back = audioToInt16(audioToFloat32(pcm));
  for (let i = 0; i < 65536; i++) {
    assert.ok(Math.abs(back[i] - pcm[i]) <= 1, `value ${pcm[i]} → ${back[i]}`);
  }
});

Deno.test("conversions write into out buffers and reject short ones", () => {
  const out = new Float32Array(3);
  assert.equal(audioToFloat32(Int16Array.from([1, 2, 3]), out), out);
  assert.equal(out[2], 3 / 32768);
  const out16 = new Int16Array(2);
  assert.equal(audioToInt16(Float32Array.from([0.5, 0]), out16), out16);
  assert.equal(out16[0], 16384);
  // Same-type input is copied into out.
  const copy = new Float32Array(2);
  audioToFloat32(Float32Array.from([0.25, 0.5]), copy);
  assert.deepEqual(Array.from(copy), [0.25, 0.5]);
  for (
    const f of [
      () => audioToFloat32(new Int16Array(4), new Float32Array(3)),
      () => audioToFloat32(new Float32Array(4), new Float32Array(3)),
      () => audioToInt16(new Float32Array(4), new Int16Array(3)),
      () => audioToInt16(new Int16Array(4), new Int16Array(3)),
    ]
  ) {
    assert.throws(
      f,
      (e: unknown) =>
        e instanceof RangeError && /holds 3 samples but 4/.test(e.message),
    );
  }
});

Deno.test("NaN and Infinity throw and name the sample index", () => {
  for (const bad of [NaN, Infinity, -Infinity]) {
    assert.throws(
      () => audioToInt16(Float32Array.from([0, 0.1, bad])),
      (e: unknown) =>
        e instanceof RangeError &&
        e.message.startsWith(`Sample 2 is ${bad}`),
    );
  }
});

Deno.test("bad sample rates throw RangeError naming the option", () => {
  assert.equal(assertSampleRate(16000), 16000);
  assert.equal(assertSampleRate(384000), 384000);
  for (const bad of [0, -8000, 8000.5, NaN, Infinity, 384001]) {
    assert.throws(
      () => assertSampleRate(bad, "inputSampleRate"),
      (e: unknown) =>
        e instanceof RangeError &&
        e.message.startsWith(`Invalid inputSampleRate: ${bad}`),
    );
  }
  assert.throws(
    () => assertSampleRate("16000" as unknown as number),
    RangeError,
  );
});

Deno.test("assertSamples and assertAudioChunk reject wrong shapes", () => {
  assertSamples(new Int16Array(1));
  assertSamples(new Float32Array(1));
  assert.throws(() => assertSamples([1, 2]), /got Array/);
  assert.throws(() => assertSamples(new Float64Array(2)), /got Float64Array/);
  assert.throws(() => assertSamples(null), /got null/);
  const chunk = assertAudioChunk([8000, new Int16Array(160)]);
  assert.equal(chunk[0], 8000);
  assert.throws(() => assertAudioChunk(new Int16Array(2)), TypeError);
  assert.throws(
    () => assertAudioChunk([0, new Int16Array(2)], "handler output"),
    /sample rate of handler output/,
  );
  assert.throws(
    () => assertAudioChunk([16000, new Uint8Array(2)], "handler output"),
    /samples of handler output/,
  );
});

Deno.test("describe names types for error messages", () => {
  assert.equal(describe(null), "null");
  assert.equal(describe(undefined), "undefined");
  assert.equal(
    describe([16000, new Int16Array(1)]),
    "an array of length 2 [number, Int16Array]",
  );
  assert.equal(describe(new Map()), "a Map");
  assert.equal(describe(42), "a number (42)");
});

Deno.test("aggregateBytesTo16bit carries odd bytes across chunks", async () => {
  const chunks = [
    Uint8Array.from([1, 0, 2]),
    Uint8Array.from([0]),
    Uint8Array.from([0xff]),
    new Uint8Array(0),
    Uint8Array.from([0xff, 0x34, 0x12, 0x00]),
  ];
  const got = await collect(chunks);
  assert.deepEqual(got, [[1], [2], [-1, 0x1234]]);
  assert.deepEqual(got.flat(), decodeAll(chunks));
});

Deno.test("aggregateBytesTo16bit matches a one-shot decode for random splits", async () => {
  let seed = 7;
  const rand = () =>
    (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const bytes = Uint8Array.from(
    { length: 999 },
    () => Math.floor(rand() * 256),
  );
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < bytes.length;) {
    const n = Math.floor(rand() * 6); // includes 0- and 1-byte chunks
    chunks.push(bytes.subarray(i, i + n));
    i += n;
  }
  async function* gen() {
    yield* chunks;
  }
  const got = await collect(gen());
  // 999 bytes: the dangling last byte is dropped.
  assert.equal(got.flat().length, 499);
  assert.deepEqual(got.flat(), decodeAll([bytes]));
  assert.ok(got.every((c) => c.length > 0));
});

Deno.test("aggregateBytesTo16bit rejects non-byte chunks", async () => {
  await assert.rejects(
    () => collect([new Int16Array(2) as unknown as Uint8Array]),
    (e: unknown) => e instanceof TypeError && /Int16Array/.test(e.message),
  );
  assert.deepEqual(await collect([]), []);
  assert.deepEqual(await collect([Uint8Array.from([5])]), []);
});
