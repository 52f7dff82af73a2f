import assert from "node:assert/strict";
import { type AudioChunk, ReplyOnPause, resample } from "../../mod.ts";
import type {
  PauseDetectionModel,
  PauseDetectionStream,
} from "../../src/vad/mod.ts";
import { readWavFile } from "../../src/audio/mod.ts";
import { startLocalCall } from "../support/local_call.ts";

async function jfk16k(): Promise<Int16Array> {
  const wav = await readWavFile(
    new URL("../fixtures/jfk.wav", import.meta.url),
  );
  return Int16Array.from(wav.samples, (x) => Math.round(x * 32767));
}

function recorder(): { turns: number[]; handler: ReplyOnPause } {
  const turns: number[] = [];
  const handler = new ReplyOnPause(async function* (audio: AudioChunk) {
    turns.push(audio[1].length / audio[0]);
    yield [audio[0], new Int16Array(160)] as AudioChunk;
  }, { inputSampleRate: 16000, outputSampleRate: 16000 });
  return { turns, handler };
}

Deno.test("ReplyOnPause: a minute of silence starts no turn", async () => {
  const { turns, handler } = recorder();
  const call = startLocalCall(handler, { rate: 16000 });
  await call.feed(new Int16Array(16000 * 60));
  await call.end();
  assert.deepEqual(turns, []);
  assert.ok(!call.logs.includes("started_talking"));
});

Deno.test("ReplyOnPause: 20 s of white noise starts no turn", async () => {
  const { turns, handler } = recorder();
  const call = startLocalCall(handler, { rate: 16000 });
  let seed = 42;
  const noise = Int16Array.from({ length: 16000 * 20 }, () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return ((seed / 0x7fffffff) * 2 - 1) * 3000;
  });
  await call.feed(noise);
  await call.end();
  assert.deepEqual(turns, []);
});

Deno.test("ReplyOnPause: heavily clipped speech is still answered, turn by turn", async () => {
  const speech = await jfk16k();
  const clipped = speech.map((x) => Math.max(-8000, Math.min(8000, x * 8)));
  const { turns, handler } = recorder();
  const call = startLocalCall(handler, { rate: 16000 });
  await call.feed(clipped);
  await call.feed(new Int16Array(16000));
  await call.end();
  assert.ok(turns.length >= 3 && turns.length <= 5, `turns: ${turns}`);
  assert.ok(
    call.logs.includes("pause_detected") &&
      call.logs.includes("response_starting"),
  );
  // response_starting once per reply, not once per chunk (FastRTC's quirk).
  assert.equal(
    call.logs.filter((l) => l === "response_starting").length,
    turns.length,
  );
});

Deno.test("ReplyOnPause: a monologue longer than maxContinuousSpeechS is cut into turns", async () => {
  // 40 s of speech with every pause removed: silero_test.wav's speech only.
  const wav = await readWavFile(
    new URL("../fixtures/silero_test.wav", import.meta.url),
  );
  const loud: number[] = [];
  for (let i = 0; i + 320 <= wav.samples.length; i += 320) {
    let e = 0;
    for (let j = i; j < i + 320; j++) e += wav.samples[j] ** 2;
    if (Math.sqrt(e / 320) > 0.02) {
      for (let j = i; j < i + 320; j++) loud.push(wav.samples[j]);
    }
  }
  const monologue = Int16Array.from(loud, (x) => Math.round(x * 32767));
  const turns: number[] = [];
  const handler = new ReplyOnPause(async function* (audio: AudioChunk) {
    turns.push(audio[1].length / audio[0]);
    yield null; // no audio: only the turn boundaries matter here
  }, { inputSampleRate: 16000, turnOptions: { maxContinuousSpeechS: 5 } });
  const call = startLocalCall(handler, { rate: 16000 });
  await call.feed(monologue);
  await call.end();
  const total = monologue.length / 16000;
  assert.ok(
    turns.length >= Math.floor(total / 6),
    `${turns.length} turns for ${total.toFixed(1)} s`,
  );
  assert.ok(
    turns.every((t) => t <= 5.6),
    `turns: ${turns.map((t) => t.toFixed(2))}`,
  );
});

Deno.test("ReplyOnPause: 8 kHz and 48 kHz handlers hear the same turns", async () => {
  const speech = await jfk16k();
  const counts: number[] = [];
  for (const rate of [8000, 48000]) {
    const pcm = Int16Array.from(
      resample(Float32Array.from(speech, (x) => x / 32768), {
        inputRate: 16000,
        outputRate: rate,
      }),
      (x) => Math.round(x * 32767),
    );
    const turns: number[] = [];
    const handler = new ReplyOnPause(async function* (audio: AudioChunk) {
      assert.equal(audio[0], rate);
      turns.push(audio[1].length / audio[0]);
      yield null;
    }, { inputSampleRate: rate });
    const call = startLocalCall(handler, { rate });
    await call.feed(pcm);
    await call.feed(new Int16Array(rate));
    await call.end();
    counts.push(turns.length);
    assert.ok(turns.length >= 3, `${rate} Hz: ${turns}`);
  }
  assert.ok(Math.abs(counts[0] - counts[1]) <= 1, `turn counts ${counts}`);
});

Deno.test("ReplyOnPause: triggerResponse starts a reply without speech", async () => {
  const got: AudioChunk[] = [];
  const handler = new ReplyOnPause(async function* (audio: AudioChunk) {
    got.push(audio);
    yield [16000, new Int16Array(320)] as AudioChunk;
  }, { inputSampleRate: 16000 });
  const call = startLocalCall(handler, { rate: 16000 });
  await call.feed(new Int16Array(1600));
  assert.equal(got.length, 0, "no reply without speech or a trigger");
  (call.handler as ReplyOnPause).triggerResponse();
  await call.feed(new Int16Array(1600));
  await call.end();
  assert.equal(got.length, 1);
  assert.equal(got[0][1].length, 0, "no speech in progress: empty audio");
  assert.ok(call.logs.includes("response_starting"));
});

Deno.test("ReplyOnPause: a custom PauseDetectionModel replaces Silero", async () => {
  const created: number[] = [];
  // An energy VAD: speech when the RMS of a 20 ms window is above 0.05.
  const energy: PauseDetectionModel = {
    sampleRate: 16000,
    sampleRates: [16000],
    windowSize: 320,
    createStream(rate = 16000): PauseDetectionStream {
      created.push(rate);
      return {
        sampleRate: rate,
        windowSize: 320,
        process(w: Float32Array): Promise<number> {
          let e = 0;
          for (const x of w) e += x * x;
          return Promise.resolve(Math.sqrt(e / w.length) > 0.05 ? 1 : 0);
        },
        reset() {},
        close() {},
      };
    },
  };
  const turns: number[] = [];
  const handler = new ReplyOnPause(async function* (audio: AudioChunk) {
    turns.push(audio[1].length / audio[0]);
    yield null;
  }, { inputSampleRate: 16000, model: energy });
  const call = startLocalCall(handler, { rate: 16000 });
  const tone = Int16Array.from(
    { length: 16000 },
    (_, i) => 8000 * Math.sin(i / 5),
  );
  await call.feed(new Int16Array(8000));
  await call.feed(tone);
  await call.feed(new Int16Array(16000));
  await call.end();
  assert.deepEqual(created, [16000]);
  assert.equal(turns.length, 1);
  // 1 s of "speech" + prefix padding + the closing silence.
  assert.ok(turns[0] > 1.2 && turns[0] < 2, `turn ${turns[0]} s`);
});
