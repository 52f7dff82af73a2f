import assert from "node:assert/strict";
import { SampleHistory } from "../../src/audio/mod.ts";

Deno.test("SampleHistory: slices across chunks by absolute index and trims whole old chunks", () => {
  const h = new SampleHistory();
  h.push(new Int16Array([0, 1, 2]));
  h.push(new Int16Array([]));
  h.push(new Int16Array([3, 4, 5, 6]));
  h.push(new Int16Array([7]));
  assert.equal(h.end, 8);
  assert.deepEqual([...h.slice(2, 6)], [2, 3, 4, 5]);
  assert.deepEqual([...h.slice(-5, 100)], [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual([...h.slice(5, 5)], []);
  h.keepLast(5);
  assert.equal(h.start, 3, "exactly the last 5 samples stay");
  assert.deepEqual([...h.slice(0, 5)], [3, 4]);
  h.keepLast(1);
  assert.equal(h.start, 7);
  assert.deepEqual([...h.slice(0, 100)], [7]);
  h.keepLast(0);
  assert.equal(h.start, 8);
  assert.deepEqual([...h.slice(0, 100)], []);
});

Deno.test("SampleHistory: pushes are copies; the ring wraps, grows and shrinks without losing samples", () => {
  const h = new SampleHistory();
  const frame = new Int16Array(160);
  const want: number[] = [];
  let next = 0;
  // 20 ms frames, a long utterance (grows to 2^17), then trimmed to 1 s.
  for (let f = 0; f < 2000; f++) {
    for (let i = 0; i < 160; i++) frame[i] = (next++ % 30000) - 15000;
    h.push(frame); // the same buffer every time: must be copied
    want.push(...frame);
    if (f < 600 || f % 7 === 0) continue;
    h.keepLast(8000);
  }
  assert.equal(h.end, 2000 * 160);
  assert.equal(h.start, h.end - 8000);
  assert.deepEqual([...h.slice(h.start, h.end)], want.slice(-8000));
  assert.deepEqual(
    [...h.slice(h.end - 333, h.end - 100)],
    want.slice(-333, -100),
  );
  // Long after the utterance the ring holds about twice what is kept.
  h.keepLast(800);
  for (let f = 0; f < 50; f++) {
    h.push(frame);
    h.keepLast(800);
  }
  assert.deepEqual([...h.slice(h.end - 160, h.end)], [...frame]);
  assert.equal(h.end - h.start, 800);
});
