// WorkerPool (src/speech/_worker_pool.ts) driven directly with small test
// worker entries in ./_workers: dispatch, transfer, abort, crashes, load
// failure and close. The real models' workers are covered by stt_test.ts and
// kokoro_plumbing_test.ts.

import assert from "node:assert/strict";
import { WorkerPool } from "../../src/speech/_worker_pool.ts";
import type {
  EchoInput,
  EchoLoad,
  EchoOutput,
} from "./_workers/echo_worker.ts";
import type { FailingLoad } from "./_workers/failing_load_worker.ts";

const ECHO = new URL("./_workers/echo_worker.ts", import.meta.url);
const FAILING = new URL("./_workers/failing_load_worker.ts", import.meta.url);

type EchoPool = WorkerPool<EchoLoad, EchoInput, EchoOutput>;

function startEcho(
  count: number,
  options: {
    load?: Partial<EchoLoad>;
    closeTimeoutMs?: number;
    transfer?: boolean;
  } = {},
): Promise<EchoPool> {
  return WorkerPool.start<EchoLoad, EchoInput, EchoOutput>({
    url: ECHO,
    count,
    load: { ids: new SharedArrayBuffer(4), ...options.load },
    label: "Echo",
    loader: "startEcho",
    closeTimeoutMs: options.closeTimeoutMs,
    transfer: options.transfer
      ? (input) => input.data ? [input.data.buffer] : []
      : undefined,
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Settles `p` into its error, failing if it resolves. */
async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof Error, `expected an Error, got ${e}`);
    return e;
  }
  assert.fail("expected a rejection");
}

/**
 * Settles like `p`, or fails after `ms` (a hang guard far beyond any wait
 * here, not a speed check).
 */
async function withWatchdog<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} did not settle within 30 s`)),
      30_000,
    );
  });
  try {
    return await Promise.race([p, hang]);
  } finally {
    clearTimeout(timer);
  }
}

function stoppedMessage(e: Error): void {
  assert.match(e.message, /^The Echo worker stopped \(.*crashed on purpose/);
  assert.match(e.message, /call startEcho again to load a fresh model$/);
}

Deno.test("WorkerPool spreads concurrent jobs over the least busy workers", async () => {
  const pool = await startEcho(3);
  try {
    const outputs = await Promise.all(
      Array.from({ length: 6 }, () => pool.run({ delayMs: 50 })),
    );
    const perWorker = new Map<number, number>();
    for (const { worker } of outputs) {
      perWorker.set(worker, (perWorker.get(worker) ?? 0) + 1);
    }
    assert.deepEqual([...perWorker.keys()].sort(), [0, 1, 2]);
    assert.deepEqual([...perWorker.values()], [2, 2, 2]);
    // One at a time: every worker is idle, so the first one gets each job.
    const first = (await pool.run({})).worker;
    assert.equal((await pool.run({})).worker, first);
  } finally {
    await pool.close();
  }
});

Deno.test("WorkerPool moves transferred input to the worker", async () => {
  const pool = await startEcho(1, { transfer: true });
  try {
    const data = new Float32Array([0.25, -0.5, 1]);
    const output = await pool.run({ data });
    assert.equal(data.byteLength, 0, "the caller's buffer moved");
    assert.deepEqual([...output.data!], [0.25, -0.5, 1]);
  } finally {
    await pool.close();
  }
  const copying = await startEcho(1);
  try {
    const data = new Float32Array([0.25]);
    const output = await copying.run({ data });
    assert.equal(data.length, 1, "without transfer the input is copied");
    assert.deepEqual([...output.data!], [0.25]);
  } finally {
    await copying.close();
  }
});

Deno.test("WorkerPool.run with an already aborted signal sends nothing", async () => {
  const pool = await startEcho(1);
  try {
    const reason = new Error("caller gave up");
    const err = await rejection(pool.run({}, AbortSignal.abort(reason)));
    assert.equal(err, reason);
    // The worker saw only this run, not the aborted one.
    assert.equal((await pool.run({})).runs, 1);
  } finally {
    await pool.close();
  }
});

Deno.test("WorkerPool.run aborted while running rejects with the caller's reason at once", async () => {
  const pool = await startEcho(1);
  try {
    const controller = new AbortController();
    const job = pool.run({ hang: true }, controller.signal);
    let settled: unknown;
    job.catch((e) => settled = e);
    const before = await pool.run({}); // the hanging job is running
    assert.equal(before.aborts, 0);
    const reason = new Error("caller hung up");
    controller.abort(reason);
    // Settled within microtasks, before any reply from the worker.
    await Promise.resolve();
    await Promise.resolve();
    assert.equal(settled, reason);
    // The worker was told: its run saw the abort.
    const after = await pool.run({});
    assert.equal(after.aborts, 1);
  } finally {
    await pool.close();
  }
});

Deno.test("WorkerPool: a crashed worker rejects only its own jobs and the others keep serving", async () => {
  console.log(
    "The 'Uncaught (in worker)' errors printed by these tests are the " +
      "crashes they cause on purpose",
  );
  const pool = await startEcho(2);
  try {
    // Least busy dispatch: jobs alternate between the two idle workers.
    const crash = pool.run({ crashAfterMs: 20 });
    const a = pool.run({ delayMs: 100 });
    const stuck = pool.run({ hang: true });
    const b = pool.run({ delayMs: 100 });
    const [crashErr, stuckErr] = await Promise.all([
      rejection(crash),
      rejection(stuck),
    ]);
    stoppedMessage(crashErr);
    assert.equal(stuckErr, crashErr, "both pending jobs get the crash");
    const [outA, outB] = await Promise.all([a, b]);
    assert.equal(outA.worker, outB.worker);
    // Later jobs all go to the survivor.
    const later = await Promise.all([pool.run({}), pool.run({ delayMs: 10 })]);
    assert.deepEqual(later.map((o) => o.worker), [outA.worker, outA.worker]);
  } finally {
    await pool.close();
  }
});

Deno.test("WorkerPool.run rejects clearly once every worker crashed", async () => {
  const pool = await startEcho(2);
  try {
    const crashes = [
      pool.run({ crashAfterMs: 0 }),
      pool.run({ crashAfterMs: 0 }),
    ];
    for (const err of await Promise.all(crashes.map(rejection))) {
      stoppedMessage(err);
    }
    const err = await rejection(pool.run({}));
    assert.equal(
      err.message,
      "Every Echo worker stopped; call startEcho again to load a fresh model",
    );
    assert.ok(err.cause instanceof Error);
    stoppedMessage(err.cause);
  } finally {
    await pool.close();
  }
  // Closing a pool of dead workers settled; later calls say it was closed.
});

Deno.test("WorkerPool.start: a worker crashing after its load is left out", async () => {
  // Worker 0 loads and crashes at once; the others finish loading later.
  const pool = await startEcho(3, {
    load: { crashAfterLoad: 0, loadDelayMs: 200 },
  });
  try {
    const outputs = await withWatchdog(
      Promise.all(Array.from({ length: 4 }, () => pool.run({ delayMs: 20 }))),
      "a job sent to the worker that crashed after loading",
    );
    assert.deepEqual(
      [...new Set(outputs.map((o) => o.worker))].sort(),
      [1, 2],
      "no job went to the dead worker (it would never answer)",
    );
  } finally {
    await pool.close();
  }
});

Deno.test("WorkerPool.start rejects with the worker's load error and stops every worker", async () => {
  const shared = new SharedArrayBuffer(8);
  const err = await rejection(
    WorkerPool.start<FailingLoad, unknown, unknown>({
      url: FAILING,
      count: 3,
      load: { shared },
      label: "Failing",
      loader: "startFailing",
    }),
  );
  assert.equal(err.message, "No model file in /nowhere; download it first");
  // The workers still loading were terminated: their ticking stops.
  const view = new Int32Array(shared);
  await sleep(50);
  const ticks = Atomics.load(view, 1);
  await sleep(200);
  assert.equal(Atomics.load(view, 1), ticks);
});

Deno.test("WorkerPool.start rejects a bad worker count", async () => {
  for (const count of [0, 1.5, -1, NaN]) {
    const err = await rejection(startEcho(count));
    assert.ok(err instanceof RangeError);
    assert.match(err.message, new RegExp(`got ${count}\\)$`));
  }
});

Deno.test("WorkerPool.close waits for queued jobs, then later calls reject", async () => {
  const pool = await startEcho(2);
  const jobs = Array.from(
    { length: 5 },
    (_, i) => pool.run({ delayMs: 30, data: new Float32Array([i]) }),
  );
  const closing = pool.close();
  assert.equal(pool.close(), closing, "closing twice shares one promise");
  const outputs = await Promise.all(jobs);
  assert.deepEqual(outputs.map((o) => o.data![0]), [0, 1, 2, 3, 4]);
  await closing;
  const err = await rejection(pool.run({}));
  assert.equal(err.message, "This Echo model was closed; load it again");
});

Deno.test("WorkerPool.close settles even when a worker hangs", async () => {
  const pool = await startEcho(2, { closeTimeoutMs: 100 });
  const spinning = pool.run({ spin: true });
  const fine = pool.run({ delayMs: 10 });
  await pool.close();
  assert.equal((await fine).runs, 1);
  const err = await rejection(spinning);
  assert.equal(err.message, "The Echo model was closed");
});

Deno.test("WorkerPool.close settles at once when a worker crashes while closing", async () => {
  // A cap far beyond the watchdog: only the crash can settle close in time.
  const pool = await startEcho(1, { closeTimeoutMs: 120_000 });
  const crash = rejection(pool.run({ crashAfterMs: 50 }));
  try {
    await withWatchdog(pool.close(), "close after the crash");
  } finally {
    stoppedMessage(await crash);
  }
});
