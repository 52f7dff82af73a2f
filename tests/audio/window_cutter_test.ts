// The one window cutter: windows of any chunking are the same, context
// carries over, flush pads, clear restarts.
import assert from "node:assert/strict";
import { WindowCutter } from "../../src/audio/_window_cutter.ts";

const ramp = (n: number) => Float32Array.from({ length: n }, (_, i) => i + 1);

Deno.test("WindowCutter: the same windows whatever the chunk sizes", () => {
  const whole = new WindowCutter(4).push(ramp(10));
  const cutter = new WindowCutter(4);
  const pieces = [1, 3, 2, 4].flatMap((n, k, all) => {
    const start = all.slice(0, k).reduce((a, b) => a + b, 0);
    return cutter.push(ramp(10).subarray(start, start + n));
  });
  assert.deepEqual(pieces, whole);
  assert.deepEqual(whole, [
    Float32Array.of(1, 2, 3, 4),
    Float32Array.of(5, 6, 7, 8),
  ]);
  assert.equal(cutter.buffered, 2);
});

Deno.test("WindowCutter: context repeats the previous window's tail", () => {
  const cutter = new WindowCutter(3, { context: 2 });
  assert.deepEqual(cutter.push(ramp(6)), [
    Float32Array.of(0, 0, 1, 2, 3),
    Float32Array.of(2, 3, 4, 5, 6),
  ]);
  cutter.clear();
  assert.deepEqual(cutter.push(ramp(3)), [Float32Array.of(0, 0, 1, 2, 3)]);
});

Deno.test("WindowCutter: scale, flush with zero padding", () => {
  const cutter = new WindowCutter(4);
  assert.deepEqual(
    cutter.push(Int16Array.of(16384, -16384, 8192), 1 / 32768),
    [],
  );
  assert.deepEqual(cutter.flush(), Float32Array.of(0.5, -0.5, 0.25, 0));
  assert.equal(cutter.flush(), null);
  assert.equal(cutter.buffered, 0);
});

Deno.test("WindowCutter: rejects bad sizes", () => {
  assert.throws(() => new WindowCutter(0), RangeError);
  assert.throws(() => new WindowCutter(4, { context: -1 }), RangeError);
});
