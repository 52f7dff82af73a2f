import assert from "node:assert/strict";
import {
  type BatchRunner,
  STATE_WIDTH,
  VadBatcher,
} from "../../src/vad/batcher.ts";
import { VadClosedError } from "../../src/vad/mod.ts";

const WIN = 4;
const CTX = 2;

/**
 * A fake model: probability = state[0 of row] + last window sample; new state
 * = old state + 1 in both planes. It checks the row layout (context + window).
 */
function fakeRunner(
  log: number[][],
  fail?: (input: Float32Array) => boolean,
): BatchRunner {
  return (input, state, batch) => {
    const row = CTX + WIN;
    assert.equal(input.length, batch * row);
    assert.equal(state.length, 2 * batch * STATE_WIDTH);
    log.push(Array.from({ length: batch }, (_, i) => input[i * row + row - 1]));
    if (fail?.(input)) return Promise.reject(new Error("boom"));
    const probabilities = new Float32Array(batch);
    for (let i = 0; i < batch; i++) {
      probabilities[i] = state[i * STATE_WIDTH] + input[i * row + row - 1];
    }
    return Promise.resolve({ probabilities, state: state.map((v) => v + 1) });
  };
}
const win = (v: number) => new Float32Array(WIN).fill(v);

Deno.test("batcher: flushes at once when every open stream has submitted", async () => {
  const log: number[][] = [];
  const b = new VadBatcher({
    runner: fakeRunner(log),
    windowSize: WIN,
    contextSize: CTX,
    maxWaitMs: 60_000,
  });
  const slots = [b.open(), b.open(), b.open()];
  const ps = slots.map((s, i) => s.submit(win(i / 10)));
  assert.deepEqual(await Promise.all(ps), [0, 0.1, 0.2].map(Math.fround));
  assert.deepEqual(log.map((l) => l.length), [3]);
  slots.forEach((s) => s.close());
  assert.equal(b.size, 0);
});

Deno.test("batcher: waits at most maxWaitMs for streams that do not submit", async () => {
  const log: number[][] = [];
  const b = new VadBatcher({
    runner: fakeRunner(log),
    windowSize: WIN,
    contextSize: CTX,
    maxWaitMs: 5,
  });
  const [a, idle] = [b.open(), b.open()];
  assert.equal(Math.fround(await a.submit(win(0.5))), Math.fround(0.5));
  assert.deepEqual(log.map((l) => l.length), [1]);
  a.close();
  idle.close();
});

Deno.test("batcher: maxBatch splits batches; state and context are carried per stream", async () => {
  const log: number[][] = [];
  const b = new VadBatcher({
    runner: fakeRunner(log),
    windowSize: WIN,
    contextSize: CTX,
    maxBatch: 2,
    maxWaitMs: 60_000,
  });
  const slots = Array.from({ length: 5 }, () => b.open());
  for (let step = 0; step < 3; step++) {
    const got = await Promise.all(slots.map((s) => s.submit(win(0))));
    // Every stream has been run `step` times before, so its state is `step`.
    assert.deepEqual(got, [step, step, step, step, step]);
  }
  assert.deepEqual(log.map((l) => l.length), [2, 2, 1, 2, 2, 1, 2, 2, 1]);
  assert.equal(b.stats.windows, 15);
  slots.forEach((s) => s.close());
});

Deno.test("batcher: a stream's windows queue in order, never two in flight", async () => {
  const log: number[][] = [];
  const b = new VadBatcher({
    runner: fakeRunner(log),
    windowSize: WIN,
    contextSize: CTX,
    maxWaitMs: 0,
  });
  const s = b.open();
  const got = await Promise.all([1, 2, 3, 4].map((v) => s.submit(win(v))));
  // probability = previous runs (state) + window value
  assert.deepEqual(got, [1, 3, 5, 7]);
  assert.deepEqual(log, [[1], [2], [3], [4]]);
  s.close();
});

Deno.test("batcher: reset zeroes state for the next window", async () => {
  const b = new VadBatcher({
    runner: fakeRunner([]),
    windowSize: WIN,
    contextSize: CTX,
    maxWaitMs: 0,
  });
  const s = b.open();
  await s.submit(win(0));
  assert.equal(await s.submit(win(0)), 1);
  s.reset();
  assert.equal(await s.submit(win(0)), 0);
  s.close();
});

Deno.test("batcher: an inference error rejects only that batch; later windows still run", async () => {
  const log: number[][] = [];
  const b = new VadBatcher({
    runner: fakeRunner(log, (input) => input.includes(99)),
    windowSize: WIN,
    contextSize: CTX,
    maxWaitMs: 0,
    label: "Test VAD",
  });
  const [a, c] = [b.open(), b.open()];
  const bad = a.submit(win(99));
  const good = c.submit(win(1));
  const next = a.submit(win(2));
  await assert.rejects(bad, (e: Error) => {
    assert.match(e.message, /Test VAD inference failed.*boom/);
    assert.equal((e.cause as Error).message, "boom");
    return true;
  });
  assert.equal(await good, 1);
  // The failed window did not advance a's state.
  assert.equal(await next, 2);
  a.close();
  c.close();
});

Deno.test("batcher: closing a stream rejects its waiting windows and leaves no timer", async () => {
  const log: number[][] = [];
  const b = new VadBatcher({
    runner: fakeRunner(log),
    windowSize: WIN,
    contextSize: CTX,
    maxWaitMs: 60_000,
  });
  const [a, other] = [b.open(), b.open()];
  const p = a.submit(win(1)); // waits for `other` (timer armed)
  a.close();
  await assert.rejects(p, VadClosedError);
  await assert.rejects(a.submit(win(1)), VadClosedError);
  assert.equal(log.length, 0, "nothing ran");
  other.close();
  // Deno's sanitizers fail this test if the 60 s timer were still armed.
});

Deno.test("batcher: closing a stream while its window is in flight rejects it cleanly", async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  const inner = fakeRunner([]);
  const b = new VadBatcher({
    runner: async (i, s, n) => {
      await gate;
      return inner(i, s, n);
    },
    windowSize: WIN,
    contextSize: CTX,
    maxWaitMs: 0,
  });
  const a = b.open();
  const first = a.submit(win(1));
  const queued = a.submit(win(2));
  a.close();
  await assert.rejects(queued, VadClosedError);
  release();
  await assert.rejects(first, VadClosedError);
  await b.closeAll();
});

Deno.test("batcher: a runner that throws synchronously rejects the batch", async () => {
  const b = new VadBatcher({
    runner: () => {
      throw new Error("sync failure");
    },
    windowSize: WIN,
    contextSize: CTX,
    maxWaitMs: 0,
  });
  const s = b.open();
  await assert.rejects(s.submit(win(0)), /sync failure/);
  s.close();
});

Deno.test("batcher: windows that arrive during an inference go together in the next one", async () => {
  const log: number[][] = [];
  const inner = fakeRunner(log);
  const gates: (() => void)[] = [];
  // Each inference returns only when the test opens its gate.
  const runner: BatchRunner = (input, state, batch) =>
    new Promise((resolve) =>
      gates.push(() => resolve(inner(input, state, batch)))
    );
  const b = new VadBatcher({
    runner,
    windowSize: WIN,
    contextSize: CTX,
    maxWaitMs: 0,
  });
  const slots = Array.from({ length: 4 }, () => b.open());
  const first = slots[0].submit(win(1));
  assert.equal(gates.length, 1); // maxWaitMs 0: ran at once, alone
  const rest = slots.slice(1).map((s, i) => s.submit(win(2 + i)));
  assert.equal(gates.length, 1); // held while the first inference runs
  gates[0]();
  assert.equal(await first, 1);
  await Promise.resolve();
  assert.equal(gates.length, 2);
  gates[1]();
  assert.deepEqual(await Promise.all(rest), [2, 3, 4]);
  assert.deepEqual(log, [[1], [2, 3, 4]]);
  slots.forEach((s) => s.close());
});

Deno.test("batcher: maxInflight 2 lets a second partial batch start", () => {
  const gates: (() => void)[] = [];
  const runner: BatchRunner = (_input, state, batch) =>
    new Promise((resolve) =>
      gates.push(() =>
        resolve({ probabilities: new Float32Array(batch), state })
      )
    );
  const b = new VadBatcher({
    runner,
    windowSize: WIN,
    contextSize: CTX,
    maxWaitMs: 0,
    maxInflight: 2,
  });
  const [x, y] = [b.open(), b.open()];
  const px = x.submit(win(0));
  const py = y.submit(win(0));
  assert.equal(gates.length, 2);
  gates.forEach((g) => g());
  x.close();
  y.close();
  return Promise.allSettled([px, py]).then(() => {});
});
