import assert from "node:assert/strict";
import {
  decodeMulaw,
  encodeMulaw,
  linearToMulaw,
  mulawToLinear,
} from "../../src/audio/mulaw.ts";

const golden = Deno.readFileSync(
  new URL("../fixtures/mulaw_golden.bin", import.meta.url),
);
const goldenEncode = golden.subarray(0, 65536);
const goldenDecode = new Int16Array(256);
{
  const view = new DataView(golden.buffer, golden.byteOffset + 65536, 512);
  for (let i = 0; i < 256; i++) goldenDecode[i] = view.getInt16(i * 2, true);
}

Deno.test("golden fixture has the expected size", () => {
  assert.equal(golden.length, 65536 + 512);
});

Deno.test("encodeMulaw matches audioop.lin2ulaw for all 65536 int16 values", () => {
  const pcm = new Int16Array(65536);
  for (let i = 0; i < 65536; i++) pcm[i] = i - 32768;
  const ours = encodeMulaw(pcm);
  let mismatches = 0;
  for (let i = 0; i < 65536; i++) if (ours[i] !== goldenEncode[i]) mismatches++;
  assert.equal(mismatches, 0);
  for (let i = 0; i < 65536; i += 97) {
    assert.equal(linearToMulaw(i - 32768), goldenEncode[i]);
  }
});

Deno.test("decodeMulaw matches audioop.ulaw2lin for all 256 codes", () => {
  const codes = new Uint8Array(256);
  for (let i = 0; i < 256; i++) codes[i] = i;
  assert.deepEqual(decodeMulaw(codes), goldenDecode);
  for (let i = 0; i < 256; i++) assert.equal(mulawToLinear(i), goldenDecode[i]);
});

Deno.test("encode/decode write into a given buffer without allocating", () => {
  const pcm = new Int16Array([0, 1000, -1000, 32767]);
  const out = new Uint8Array(4);
  assert.equal(encodeMulaw(pcm, out), out);
  const back = new Int16Array(4);
  assert.equal(decodeMulaw(out, back), back);
  assert.deepEqual(back, decodeMulaw(encodeMulaw(pcm)));
  // A longer buffer yields a view of exactly the input length.
  const big = new Uint8Array(10).fill(7);
  const view = encodeMulaw(pcm, big);
  assert.equal(view.length, 4);
  assert.equal(view.buffer, big.buffer);
  assert.equal(big[4], 7);
  const bigPcm = new Int16Array(10);
  assert.equal(decodeMulaw(out, bigPcm).length, 4);
});

Deno.test("round trip stays within one quantisation step", () => {
  for (let x = -32768; x < 32768; x += 13) {
    const y = mulawToLinear(linearToMulaw(x));
    const step = Math.max(8, Math.abs(x) / 16);
    assert.ok(Math.abs(y - x) <= step + 132, `x=${x} y=${y}`);
  }
});

Deno.test("empty input gives empty output", () => {
  assert.equal(encodeMulaw(new Int16Array(0)).length, 0);
  assert.equal(decodeMulaw(new Uint8Array(0)).length, 0);
});

Deno.test("too small out buffers throw RangeError", () => {
  assert.throws(
    () => encodeMulaw(new Int16Array(4), new Uint8Array(3)),
    (e: unknown) =>
      e instanceof RangeError && /holds 3 bytes but 4/.test(e.message),
  );
  assert.throws(
    () => decodeMulaw(new Uint8Array(4), new Int16Array(2)),
    (e: unknown) =>
      e instanceof RangeError && /holds 2 samples but 4/.test(e.message),
  );
});

Deno.test("wrong input types and out-of-range scalars throw", () => {
  assert.throws(
    () => encodeMulaw(new Float32Array(2) as unknown as Int16Array),
    (e: unknown) => e instanceof TypeError && /Float32Array/.test(e.message),
  );
  assert.throws(
    () => decodeMulaw([1, 2] as unknown as Uint8Array),
    (e: unknown) => e instanceof TypeError && /Array/.test(e.message),
  );
  for (const bad of [32768, -32769, 1.5, NaN, Infinity]) {
    assert.throws(() => linearToMulaw(bad), RangeError);
  }
  for (const bad of [256, -1, 0.5, NaN]) {
    assert.throws(() => mulawToLinear(bad), RangeError);
  }
});

Deno.test("the two-samples-per-step path matches the golden vectors at any offset", () => {
  // Long inputs take the paired path when aligned; odd offsets and odd
  // lengths must give the same result as the per-sample path.
  const pcm = new Int16Array(65536 + 3);
  for (let i = 0; i < pcm.length; i++) pcm[i] = ((i * 7919) & 0xffff) - 32768;
  for (const off of [0, 1, 2, 3]) {
    const view = pcm.subarray(off, off + 65536 - off);
    const codes = encodeMulaw(view);
    for (let i = 0; i < view.length; i++) {
      if (codes[i] !== goldenEncode[view[i] + 32768]) {
        assert.fail(`offset ${off} sample ${i}: ${codes[i]}`);
      }
    }
    const store = new Uint8Array(codes.length + 3);
    store.set(codes, off);
    const shifted = store.subarray(off, off + codes.length);
    const decoded = decodeMulaw(shifted);
    const outStore = new Int16Array(codes.length + 3);
    const decodedInto = decodeMulaw(shifted, outStore.subarray(off));
    for (let i = 0; i < codes.length; i++) {
      if (decoded[i] !== goldenDecode[codes[i]]) {
        assert.fail(`decode offset ${off} index ${i}`);
      }
      if (decodedInto[i] !== goldenDecode[codes[i]]) {
        assert.fail(`decode into offset ${off} index ${i}`);
      }
    }
  }
});
