import assert from "node:assert/strict";
import {
  alawToLinear,
  decodeAlaw,
  encodeAlaw,
  linearToAlaw,
} from "../../src/audio/alaw.ts";
import * as audio from "../../src/audio/mod.ts";

const golden = Deno.readFileSync(
  new URL("../fixtures/alaw_golden.bin", import.meta.url),
);
const goldenEncode = golden.subarray(0, 65536);
const goldenDecode = new Int16Array(256);
{
  const view = new DataView(golden.buffer, golden.byteOffset + 65536, 512);
  for (let i = 0; i < 256; i++) goldenDecode[i] = view.getInt16(i * 2, true);
}

Deno.test("A-law golden fixture has the expected size", () => {
  assert.equal(golden.length, 65536 + 512);
});

Deno.test("encodeAlaw matches audioop.lin2alaw for all 65536 int16 values", () => {
  const pcm = new Int16Array(65536);
  for (let i = 0; i < 65536; i++) pcm[i] = i - 32768;
  const ours = encodeAlaw(pcm);
  let mismatches = 0;
  for (let i = 0; i < 65536; i++) if (ours[i] !== goldenEncode[i]) mismatches++;
  assert.equal(mismatches, 0);
  for (let i = 0; i < 65536; i++) {
    if (linearToAlaw(i - 32768) !== goldenEncode[i]) {
      assert.fail(`linearToAlaw(${i - 32768})`);
    }
  }
});

Deno.test("decodeAlaw matches audioop.alaw2lin for all 256 codes", () => {
  const codes = new Uint8Array(256);
  for (let i = 0; i < 256; i++) codes[i] = i;
  assert.deepEqual(decodeAlaw(codes), goldenDecode);
  for (let i = 0; i < 256; i++) assert.equal(alawToLinear(i), goldenDecode[i]);
});

Deno.test("A-law is exported from the audio module", () => {
  assert.equal(audio.encodeAlaw, encodeAlaw);
  assert.equal(audio.decodeAlaw, decodeAlaw);
  assert.equal(audio.linearToAlaw, linearToAlaw);
  assert.equal(audio.alawToLinear, alawToLinear);
});

Deno.test("A-law encode/decode write into a given buffer", () => {
  const pcm = new Int16Array([0, 1000, -1000, 32767]);
  const out = new Uint8Array(4);
  assert.equal(encodeAlaw(pcm, out), out);
  const back = new Int16Array(4);
  assert.equal(decodeAlaw(out, back), back);
  assert.deepEqual(back, decodeAlaw(encodeAlaw(pcm)));
  const big = new Uint8Array(10).fill(7);
  const view = encodeAlaw(pcm, big);
  assert.equal(view.length, 4);
  assert.equal(view.buffer, big.buffer);
  assert.equal(big[4], 7);
  assert.equal(decodeAlaw(out, new Int16Array(10)).length, 4);
});

Deno.test("A-law round trip stays within one quantisation step", () => {
  for (let x = -32768; x < 32768; x += 7) {
    const y = alawToLinear(linearToAlaw(x));
    // Segment step is 16 below 512 and doubles per segment above; audioop
    // drops 3 bits first, so allow the step plus those 8 units.
    const step = Math.max(16, 2 ** Math.ceil(Math.log2(Math.abs(x) + 1)) / 32);
    assert.ok(Math.abs(y - x) <= step + 8, `x=${x} y=${y}`);
  }
});

Deno.test("A-law empty input gives empty output", () => {
  assert.equal(encodeAlaw(new Int16Array(0)).length, 0);
  assert.equal(decodeAlaw(new Uint8Array(0)).length, 0);
});

Deno.test("A-law rejects bad buffers and scalars with what to do", () => {
  assert.throws(
    () => encodeAlaw(new Int16Array(4), new Uint8Array(3)),
    (e: unknown) =>
      e instanceof RangeError && /holds 3 bytes but 4/.test(e.message),
  );
  assert.throws(
    () => decodeAlaw(new Uint8Array(4), new Int16Array(2)),
    (e: unknown) =>
      e instanceof RangeError && /holds 2 samples but 4/.test(e.message),
  );
  assert.throws(
    () => encodeAlaw(new Float32Array(2) as unknown as Int16Array),
    (e: unknown) =>
      e instanceof TypeError && /Float32Array.*audioToInt16/.test(e.message),
  );
  assert.throws(
    () => decodeAlaw([1, 2] as unknown as Uint8Array),
    (e: unknown) => e instanceof TypeError && /Array/.test(e.message),
  );
  assert.throws(
    () => decodeAlaw(new Uint8Array(2), new Uint16Array(2) as never),
    TypeError,
  );
  for (const bad of [32768, -32769, 1.5, NaN, Infinity]) {
    assert.throws(() => linearToAlaw(bad), RangeError);
  }
  for (const bad of [256, -1, 0.5, NaN]) {
    assert.throws(() => alawToLinear(bad), RangeError);
  }
});

Deno.test("A-law paired path matches the golden vectors at any offset", () => {
  const pcm = new Int16Array(65536 + 3);
  for (let i = 0; i < pcm.length; i++) pcm[i] = ((i * 7919) & 0xffff) - 32768;
  for (const off of [0, 1, 2, 3]) {
    const view = pcm.subarray(off, off + 65536 - off);
    const codes = encodeAlaw(view);
    const outStore = new Uint8Array(codes.length + 3);
    const codesInto = encodeAlaw(view, outStore.subarray(off));
    for (let i = 0; i < view.length; i++) {
      const want = goldenEncode[view[i] + 32768];
      if (codes[i] !== want || codesInto[i] !== want) {
        assert.fail(`offset ${off} sample ${i}: ${codes[i]}/${codesInto[i]}`);
      }
    }
    const store = new Uint8Array(codes.length + 3);
    store.set(codes, off);
    const shifted = store.subarray(off, off + codes.length);
    const decoded = decodeAlaw(shifted);
    const pcmStore = new Int16Array(codes.length + 3);
    const decodedInto = decodeAlaw(shifted, pcmStore.subarray(off));
    for (let i = 0; i < codes.length; i++) {
      const want = goldenDecode[codes[i]];
      if (decoded[i] !== want || decodedInto[i] !== want) {
        assert.fail(`decode offset ${off} index ${i}`);
      }
    }
  }
});
