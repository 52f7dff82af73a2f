import assert from "node:assert/strict";
import { type AudioChunk, StreamHandler } from "../../mod.ts";
import { FrameBus } from "../../src/bus/frame_bus.ts";
import { runHandler } from "../../src/handlers/runner.ts";
import type { EmitType } from "../../src/handlers/stream_handler.ts";
import { configureLogger, resetLogger } from "../../src/_internal/log.ts";

/** A handler whose receive() takes `delayMs` (or never returns when < 0). */
class Slow extends StreamHandler {
  received = 0;
  finished = 0;
  #delayMs: number;
  constructor(delayMs: number) {
    super({ inputSampleRate: 8000, outputSampleRate: 8000 });
    this.#delayMs = delayMs;
  }
  receive(_frame: AudioChunk): Promise<void> {
    this.received++;
    if (this.#delayMs < 0) return new Promise(() => {});
    return new Promise((r) =>
      setTimeout(() => {
        this.finished++;
        r();
      }, this.#delayMs)
    );
  }
  emit(): Promise<EmitType> {
    return new Promise((r) =>
      this.bus.signal.addEventListener("abort", () => r(null))
    );
  }
  copy(): Slow {
    return new Slow(this.#delayMs);
  }
}

function newBus(): FrameBus {
  return new FrameBus({
    callId: "watchdog",
    transportInputRate: 8000,
    transportOutputRate: 8000,
    handlerInputRate: 8000,
  });
}

Deno.test("runner watchdog: many receive() calls that each stay under handlerTimeoutMs never end the call, however long it runs", async () => {
  const bus = newBus();
  const handler = new Slow(40);
  const done = runHandler({
    bus,
    handler,
    transport: "local",
    handlerTimeoutMs: 100,
  });
  // 30 frames × 40 ms = 1.2 s of back-to-back receives: 12 × the limit.
  for (let i = 0; i < 30; i++) bus.sendInput([8000, new Int16Array(160)]);
  const deadline = Date.now() + 5000;
  while (handler.finished < 30 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(handler.finished, 30);
  assert.equal(bus.closed, false, `closed: ${bus.closeReason}`);
  bus.close("test over");
  await done;
});

Deno.test("runner watchdog: a receive() that hangs ends the call with HandlerTimeoutError after about handlerTimeoutMs, and leaves no timer", async () => {
  const errors: string[] = [];
  configureLogger({ sink: (_level, message) => errors.push(message) });
  const bus = newBus();
  const handler = new Slow(-1);
  const sent: string[] = [];
  bus.on("message", (e) => sent.push(JSON.stringify(e.message)));
  const t0 = performance.now();
  const done = runHandler({
    bus,
    handler,
    transport: "local",
    handlerTimeoutMs: 150,
  });
  bus.sendInput([8000, new Int16Array(160)]);
  await done;
  const took = performance.now() - t0;
  resetLogger();
  assert.ok(took >= 140 && took < 2000, `ended after ${took} ms`);
  assert.match(bus.closeReason ?? "", /did not finish within 150 ms/);
  assert.ok(
    sent.some((m) => m.includes("HandlerTimeoutError")),
    sent.join("\n"),
  );
  assert.ok(
    errors.some((l) => l.includes("receive failed")),
    errors.join("\n"),
  );
});

Deno.test("runner watchdog: a hung receive() when the caller hangs up leaves no timer behind (sanitizers)", async () => {
  const bus = newBus();
  const handler = new Slow(-1);
  const done = runHandler({
    bus,
    handler,
    transport: "local",
    handlerTimeoutMs: 60_000,
  });
  bus.sendInput([8000, new Int16Array(160)]);
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(handler.received, 1);
  bus.close("caller hung up");
  await done;
});

Deno.test("runner watchdog: handlerTimeoutMs Infinity means no watchdog (no timer loop, the call goes on)", async () => {
  const bus = newBus();
  const handler = new Slow(150);
  const realSetTimeout = globalThis.setTimeout;
  let timers = 0;
  globalThis.setTimeout = ((fn: () => void, ms?: number) => {
    timers++;
    return realSetTimeout(fn, ms);
  }) as typeof setTimeout;
  try {
    const done = runHandler({
      bus,
      handler,
      transport: "local",
      handlerTimeoutMs: Infinity,
    });
    bus.sendInput([8000, new Int16Array(160)]);
    await new Promise((r) => realSetTimeout(r, 250));
    assert.equal(handler.finished, 1);
    assert.equal(bus.closed, false);
    // The handler's own 150 ms timer and the test's wait; a watchdog that
    // re-armed a clamped 1 ms timer would add about a hundred.
    assert.ok(timers <= 4, `${timers} timers`);
    bus.close("test over");
    await done;
  } finally {
    globalThis.setTimeout = realSetTimeout;
  }
});
