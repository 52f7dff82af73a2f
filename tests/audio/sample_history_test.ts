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
  assert.equal(h.start, 3, "the first chunk is older than the last 5 samples");
  assert.deepEqual([...h.slice(0, 5)], [3, 4]);
  h.keepLast(0);
  assert.equal(h.start, 7, "the newest chunk always stays");
  assert.deepEqual([...h.slice(0, 100)], [7]);
});
