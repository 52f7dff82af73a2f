import assert from "node:assert/strict";
import {
  type PauseDetectionModel,
  type PauseDetectionStream,
  TurnDetector,
  type TurnEvent,
  WindowFeeder,
} from "../../src/vad/mod.ts";

/** A plug-in model: RMS energy mapped to 0..1, 10 ms windows at 8 kHz. */
const energyModel: PauseDetectionModel = {
  sampleRate: 8000,
  sampleRates: [8000],
  windowSize: 80,
  createStream(): PauseDetectionStream {
    let closed = false;
    return {
      sampleRate: 8000,
      windowSize: 80,
      process(w: Float32Array): Promise<number> {
        if (closed) return Promise.reject(new Error("closed"));
        let e = 0;
        for (const s of w) e += s * s;
        return Promise.resolve(Math.min(1, Math.sqrt(e / w.length) * 10));
      },
      reset() {},
      close() {
        closed = true;
      },
    };
  },
};

Deno.test("pause model: a plugged-in VAD drives WindowFeeder and TurnDetector", async () => {
  const stream = energyModel.createStream();
  const feeder = new WindowFeeder(stream);
  const turns = new TurnDetector({
    sampleRate: stream.sampleRate,
    windowSize: stream.windowSize,
  });
  assert.equal(turns.windowMs, 10);
  // 0.2 s silence, 0.6 s of a loud tone, 1 s silence, in 20 ms Int16 frames.
  const total = 8000 * 1.8;
  const pcm = new Int16Array(total);
  for (let i = 1600; i < 1600 + 4800; i++) {
    pcm[i] = Math.round(8000 * Math.sin(i / 3));
  }
  const events: TurnEvent[] = [];
  for (let i = 0; i < total; i += 160) {
    for (const r of await feeder.feed(pcm.subarray(i, i + 160))) {
      events.push(...turns.push(r.probability, r.samples));
    }
  }
  assert.equal(feeder.buffered, 0);
  const pause = events.find((e) => e.type === "pause_detected");
  assert.ok(pause && pause.type === "pause_detected");
  assert.equal(pause.utterance.speechStartMs, 200);
  assert.equal(pause.utterance.speechEndMs, 800);
  assert.equal(
    pause.utterance.audio!.length,
    pause.utterance.endSample - pause.utterance.startSample,
  );
  assert.ok(
    Math.abs(
      pause.utterance.audio![1600 - pause.utterance.startSample + 1] -
        pcm[1601] / 32768,
    ) < 1e-7,
  );
  stream.close();
  await assert.rejects(feeder.feed(new Float32Array(80)), /closed/);
});

Deno.test("window feeder: leftovers carry over, non-finite input is refused without buffering", async () => {
  const stream = energyModel.createStream();
  const feeder = new WindowFeeder(stream);
  assert.equal((await feeder.feed(new Float32Array(50))).length, 0);
  assert.equal(feeder.buffered, 50);
  const bad = new Float32Array(100);
  bad[3] = Number.POSITIVE_INFINITY;
  await assert.rejects(feeder.feed(bad), /Sample 3 .*Infinity/);
  assert.equal(feeder.buffered, 50);
  const got = await feeder.feed(new Float32Array(200).fill(0.5));
  assert.equal(got.length, 3);
  assert.equal(got[0].samples[49], 0);
  assert.equal(got[0].samples[50], 0.5);
  assert.equal(feeder.buffered, 10);
  feeder.clear();
  assert.equal(feeder.buffered, 0);
  stream.close();
});

Deno.test("WindowFeeder.feedProbabilities: same probabilities as feed(), with or without window copies", async () => {
  const { getSileroModel } = await import("../../src/vad/silero.ts");
  const { decodeMulaw } = await import("../../src/audio/mulaw.ts");
  const model = await getSileroModel({ backend: "js" });
  const pcm = decodeMulaw(
    await Deno.readFile(new URL("../fixtures/jfk_8k.ulaw", import.meta.url)),
  ).subarray(0, 8000 * 3);
  const runs: number[][] = [];
  for (const mode of ["feed", "copy", "no copy"] as const) {
    const stream = model.createStream(8000);
    const feeder = new WindowFeeder(stream, {
      streamCopiesWindows: mode === "no copy",
    });
    const probs: number[] = [];
    for (let i = 0; i < pcm.length; i += 160) {
      const frame = pcm.subarray(i, i + 160);
      if (mode === "feed") {
        for (const r of await feeder.feed(frame)) probs.push(r.probability);
      } else {
        probs.push(...await feeder.feedProbabilities(frame));
      }
    }
    stream.close();
    runs.push(probs);
  }
  assert.equal(runs[0].length, Math.floor(pcm.length / 256));
  assert.ok(Math.max(...runs[0]) > 0.9, "the clip holds speech");
  assert.deepEqual(runs[1], runs[0]);
  assert.deepEqual(runs[2], runs[0]);
  // A non-finite sample is rejected with its index, as feed() does.
  const stream = model.createStream(8000);
  const feeder = new WindowFeeder(stream, { streamCopiesWindows: true });
  const bad = new Float32Array(160);
  bad[7] = NaN;
  await assert.rejects(feeder.feedProbabilities(bad), /Sample 7/);
  stream.close();
});
