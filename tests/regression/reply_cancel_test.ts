import assert from "node:assert/strict";
import { type AudioChunk, ReplyOnPause } from "../../mod.ts";
import { FrameBus } from "../../src/transports/mod.ts";
import type { PauseDetectionModel } from "../../src/vad/mod.ts";
import { runHandler } from "../../src/server/mod.ts";

const model: PauseDetectionModel = {
  sampleRate: 16000,
  sampleRates: [16000],
  windowSize: 512,
  createStream: () => ({
    sampleRate: 16000,
    windowSize: 512,
    process: () => Promise.resolve(0),
    reset() {},
    close() {},
  }),
};

class Barge extends ReplyOnPause {
  barge() {
    return this.interruptReply("barge-in");
  }
}

Deno.test("ReplyOnPause: a cancelled reply stuck in an await that ignores its signal does not block the next reply", async () => {
  let calls = 0;
  const never = new Promise<void>(() => {});
  const h = new Barge(async function* (_a: AudioChunk) {
    calls++;
    if (calls === 1) {
      yield [16000, new Int16Array(320).fill(100)] as AudioChunk;
      await never; // e.g. an LLM/TTS fetch that does not use the signal
    }
    yield [16000, new Int16Array(320).fill(200)] as AudioChunk;
  }, { model, inputSampleRate: 16000, outputSampleRate: 16000 });
  const bus = new FrameBus({
    callId: "c",
    transportInputRate: 16000,
    transportOutputRate: 16000,
    handlerInputRate: 16000,
  });
  const done = runHandler({ bus, handler: h, transport: "local" });
  await new Promise((r) => setTimeout(r, 20));
  h.triggerResponse();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(calls, 1);
  assert.ok(h.barge());
  h.triggerResponse(); // the caller's next turn
  await new Promise((r) => setTimeout(r, 300));
  const second = calls;
  bus.close("end");
  await done;
  assert.equal(second, 2, "the second reply never started");
});

Deno.test("ReplyOnPause: clearQueue does not leave the handler deaf (responding returns to false)", async () => {
  const h = new ReplyOnPause(function* (_a: AudioChunk) {
    yield [16000, new Int16Array(320).fill(100)] as AudioChunk;
  }, {
    model,
    inputSampleRate: 16000,
    outputSampleRate: 16000,
    canInterrupt: false,
  });
  const bus = new FrameBus({
    callId: "d",
    transportInputRate: 16000,
    transportOutputRate: 16000,
    handlerInputRate: 16000,
  });
  const done = runHandler({ bus, handler: h, transport: "local" });
  await new Promise((r) => setTimeout(r, 20));
  h.triggerResponse();
  await new Promise((r) => setTimeout(r, 100)); // reply done, mark queued, nobody reads output
  h.clearQueue();
  await new Promise((r) => setTimeout(r, 50));
  const resp = h.responding;
  bus.close("end");
  await done;
  assert.equal(resp, false, "responding stuck at true after clearQueue");
});
