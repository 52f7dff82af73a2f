import assert from "node:assert/strict";
import { Pacer } from "../../src/transports/pacer.ts";

Deno.test("pacer: many pacers share one clock and each sends all its frames in order", async () => {
  const sent: number[][] = Array.from({ length: 50 }, () => []);
  await Promise.all(sent.map(async (log, i) => {
    const pacer = new Pacer({ frameMs: 2, leadMs: 4 });
    for (let k = 0; k < 10; k++) {
      await pacer.wait();
      log.push(k);
    }
    assert.equal(log.length, 10, `pacer ${i}`);
  }));
  for (const log of sent) assert.deepEqual(log, [...Array(10).keys()]);
});

Deno.test("pacer: an abort ends the wait at once and leaves no timer behind", async () => {
  const pacer = new Pacer({ frameMs: 10_000, leadMs: 0 });
  await pacer.wait(); // starts the burst
  const abort = new AbortController();
  const waiting = pacer.wait(abort.signal); // due in 10 s
  abort.abort();
  await waiting; // resolves now; the sanitizer fails the test on a leaked timer
  await pacer.wait(abort.signal); // an aborted signal does not wait
});

Deno.test("pacer: a wait with another signal is not cut by the first signal", async () => {
  // Frame 1 is due 10 ms after the burst starts, frame 2 about 5 s after.
  const pacer = new Pacer({ frameMs: 5000, leadMs: 4990 });
  const a = new AbortController();
  await pacer.wait(a.signal); // starts the burst, no wait
  await pacer.wait(a.signal); // waits for the clock: the pacer listens to a
  const b = new AbortController();
  let done = false;
  const waiting = pacer.wait(b.signal).then(() => done = true);
  a.abort(); // must not end the wait under b
  await Promise.resolve();
  await Promise.resolve();
  assert.equal(done, false);
  b.abort(); // ends it, and no timer is left behind
  await waiting;
  assert.equal(done, true);
});
