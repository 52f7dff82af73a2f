import assert from "node:assert/strict";
import { waitForItem } from "../../mod.ts";
import {
  AsyncQueue,
  type BusEvent,
  FrameBus,
} from "../../src/transports/mod.ts";

function bus(
  opts: Partial<ConstructorParameters<typeof FrameBus>[0]> = {},
): FrameBus {
  return new FrameBus({
    callId: "t",
    transportInputRate: 8000,
    transportOutputRate: 8000,
    handlerInputRate: 8000,
    ...opts,
  });
}

Deno.test("FrameBus: inbound audio keeps order and is resampled to the handler rate", async () => {
  const b = bus({ handlerInputRate: 16000 });
  for (let i = 0; i < 5; i++) {
    b.sendInput([8000, new Int16Array(160).fill(i * 1000)]);
  }
  let total = 0;
  for (let i = 0; i < 5; i++) {
    const [rate, s] = (await b.readInput())!;
    assert.equal(rate, 16000);
    total += s.length;
  }
  // 5 × 160 samples at 8 kHz → about 1600 at 16 kHz, minus the filter delay.
  assert.ok(total > 1500 && total <= 1600, `got ${total}`);
  assert.throws(
    () => b.sendInput([16000, new Int16Array(4)]),
    /expects 8000 Hz/,
  );
  b.close("done");
  assert.equal(await b.readInput(), null);
  assert.equal(b.sendInput([8000, new Int16Array(4)]), false);
});

Deno.test("FrameBus: input overflow drops the oldest frames with an event and a counter", async () => {
  const b = bus({ maxInputQueueMs: 100 });
  const events: BusEvent[] = [];
  b.on("overflow", (e) => events.push(e));
  for (let i = 0; i < 10; i++) b.sendInput([8000, new Int16Array(160).fill(i)]);
  assert.ok(events.length >= 1);
  assert.equal(events[0].type, "overflow");
  const stats = b.stats;
  assert.ok(stats.droppedInputChunks > 0);
  assert.equal(stats.overflows, events.length);
  // The newest frame is still there, last.
  let last = -1;
  while (b.inputQueued > 0) last = (await b.readInput())![1][0];
  assert.equal(last, 9);
  b.close();
});

Deno.test("FrameBus: outbound audio is cut into 20 ms frames, marks stay in order, sendOutput applies backpressure", async () => {
  const b = bus({ maxOutputQueueMs: 100 });
  let resolved = false;
  const p = b.sendOutput([8000, new Int16Array(8000)]).then(
    () => (resolved = true),
  );
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(
    resolved,
    false,
    "1 s of audio exceeds the 100 ms high-water mark",
  );
  assert.equal(b.stats.outputWaits, 1);
  let frames = 0;
  while (!resolved) {
    const item = await b.readOutput();
    assert.equal(item?.kind, "audio");
    if (item?.kind === "audio") assert.equal(item.samples.length, 160);
    frames++;
    await Promise.resolve();
  }
  await p;
  // Space is signalled once the queue is down to 100 ms (5 frames); the
  // promise settles a few microtasks after that.
  assert.ok(frames >= 45 && frames <= 47, `read ${frames} frames before space`);
  assert.ok(b.outputQueuedMs <= 100);
  await b.sendOutput([8000, new Int16Array(100)]); // partial frame
  b.mark("m1");
  // Drain the rest: the partial frame is padded to 160 and precedes the mark.
  const items = [];
  while (true) {
    const it = await b.readOutput();
    items.push(it!);
    if (it!.kind === "mark") break;
  }
  assert.deepEqual(items.at(-1), { kind: "mark", name: "m1", epoch: 0 });
  assert.equal(items.filter((i) => i.kind === "audio").length, 50 - frames + 1);
  b.close();
});

Deno.test("FrameBus: interrupt flushes queued audio, counts it, and emits interrupt", async () => {
  const b = bus();
  const seen: string[] = [];
  b.on("interrupt", (e) => seen.push(`${e.reason}:${e.flushedFrames}`));
  const p = b.sendOutput([24000, new Float32Array(24000 * 2)]); // resampled 24k → 8k
  await new Promise((r) => setTimeout(r, 0));
  const flushed = b.interrupt("barge-in");
  await p; // backpressure released
  assert.ok(flushed > 90, `flushed ${flushed}`);
  assert.deepEqual(seen, [`barge-in:${flushed}`]);
  assert.equal(b.stats.flushedOutputFrames, flushed);
  assert.equal(b.outputQueuedMs, 0);
  await assert.rejects(b.sendOutput([8000, new Float32Array([NaN])]), /finite/);
  b.close();
});

Deno.test("FrameBus: events go to the listeners of the moment (no replay); a throwing listener does not stop others", () => {
  const b = bus();
  b.emit({ type: "dtmf", digit: "0" }); // nobody listens: delivered to nobody
  const got: string[] = [];
  b.on("dtmf", (e) => got.push(e.digit));
  assert.deepEqual(got, [] as string[]);
  b.emit({ type: "dtmf", digit: "1" });
  assert.deepEqual(got, ["1"]);
  const err = console.error;
  console.error = () => {};
  try {
    b.on("log", () => {
      throw new Error("bad listener");
    });
    b.on("log", (e) => got.push(e.data));
    b.emit({ type: "log", data: "x" });
  } finally {
    console.error = err;
  }
  assert.deepEqual(got, ["1", "x"]);
  let closed = "";
  b.on("close", (e) => (closed = e.reason));
  b.close("bye");
  assert.equal(closed, "bye");
  assert.equal(b.signal.aborted, true);
});

Deno.test("AsyncQueue and waitForItem: FIFO, timeouts, close", async () => {
  const q = new AsyncQueue<number>();
  q.put(1);
  q.put(2);
  assert.equal(await q.get(), 1);
  assert.equal(await waitForItem(q, 10), 2);
  assert.equal(await waitForItem(q, 10), undefined);
  const later = q.get();
  q.put(3);
  assert.equal(await later, 3);
  q.put(4);
  q.close();
  assert.equal(q.put(5), false);
  assert.equal(await q.get(), 4);
  await assert.rejects(q.get(), /closed/);
});

Deno.test("FrameBus: int16 at the transport rate reaches the frames bit for bit", async () => {
  const bus = new FrameBus({
    callId: "exact",
    transportInputRate: 8000,
    transportOutputRate: 8000,
    handlerInputRate: 8000,
  });
  const pcm = new Int16Array(400);
  for (let i = 0; i < pcm.length; i++) pcm[i] = (i * 2654435761) >> 16;
  pcm[0] = 32767;
  pcm[1] = -32768;
  // Odd chunk sizes so frames are assembled from pieces too.
  await bus.sendOutput([8000, pcm.subarray(0, 70)]);
  await bus.sendOutput([8000, pcm.subarray(70, 390)]);
  await bus.sendOutput([8000, pcm.subarray(390)]);
  bus.mark("end");
  const got: number[] = [];
  while (true) {
    const item = await bus.readOutput();
    if (!item || item.kind === "mark") break;
    assert.equal(item.samples.length, 160);
    got.push(...item.samples);
  }
  assert.deepEqual(got.slice(0, 400), [...pcm]);
  assert.deepEqual(got.slice(400), new Array(80).fill(0));
  bus.close();
});

Deno.test("FrameBus: every resampled inbound chunk is a fresh array the handler may keep", async () => {
  const bus = new FrameBus({
    callId: "fresh",
    transportInputRate: 8000,
    transportOutputRate: 8000,
    handlerInputRate: 48000,
  });
  bus.sendInput([8000, new Int16Array(160).fill(1000)]);
  const a = await bus.readInput();
  const before = [...a![1]];
  bus.sendInput([8000, new Int16Array(160).fill(-1000)]);
  const b = await bus.readInput();
  assert.notEqual(a![1].buffer, b![1].buffer);
  assert.deepEqual([...a![1]], before);
  bus.close();
});
