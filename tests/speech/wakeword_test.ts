import assert from "node:assert/strict";
import {
  createWakeWordDetector,
  type WakeWordDetection,
  type WakeWordDetectorOptions,
} from "../../src/speech/wakeword.ts";
import { ensureModel } from "../../src/speech/model_cache.ts";
import { readPcm16Wav } from "../support/wav.ts";

const FIX = new URL("../fixtures/", import.meta.url).pathname;
// hey_jarvis_weather.wav: 0.5 s silence + "hey jarvis" (0.746875 s) + … (see README).
const WAKE_END_MS = 500 + 746.875;

interface Run {
  hits: WakeWordDetection[];
  scores: number[];
  max: number;
}

async function run(
  samples: Float32Array | Int16Array,
  chunk: number,
  options: Partial<WakeWordDetectorOptions> = {},
): Promise<Run> {
  const scores: number[] = [];
  const d = await createWakeWordDetector({
    models: ["hey_jarvis"],
    onScore: (_m, s) => scores.push(s),
    ...options,
  });
  try {
    const hits: WakeWordDetection[] = [];
    for (let i = 0; i < samples.length; i += chunk) {
      hits.push(...await d.process(samples.subarray(i, i + chunk)));
    }
    return { hits, scores, max: Math.max(...scores) };
  } finally {
    await d.close();
  }
}

Deno.test("wakeword: espeak 'hey jarvis, what is the weather today' is detected", async () => {
  const { sampleRate, samples } = await readPcm16Wav(
    `${FIX}hey_jarvis_weather.wav`,
  );
  assert.equal(sampleRate, 16000);
  const r = await run(samples, 320);
  assert.equal(r.hits.length, 1, JSON.stringify(r.hits));
  const [hit] = r.hits;
  assert.equal(hit.model, "hey_jarvis");
  assert.ok(hit.score > 0.5, `score ${hit.score}`);
  assert.equal(hit.threshold, 0.5);
  // Audio time (not wall time): the detection comes after the phrase ends.
  assert.ok(
    hit.timeMs > WAKE_END_MS - 300 && hit.timeMs < WAKE_END_MS + 1000,
    `${hit.timeMs}`,
  );
  console.log(
    `hey_jarvis score ${hit.score.toFixed(3)}, fired ${
      (hit.timeMs - WAKE_END_MS).toFixed(0)
    } ms of audio after the phrase ended`,
  );
});

Deno.test("wakeword: 'hello there…' and jfk.wav are not detected", async () => {
  for (const name of ["hello_there_weather.wav", "jfk.wav"]) {
    const { samples } = await readPcm16Wav(`${FIX}${name}`);
    const r = await run(samples, 1000);
    assert.equal(r.hits.length, 0, `${name}: ${JSON.stringify(r.hits)}`);
    assert.ok(r.max < 0.5, `${name} max score ${r.max}`);
    assert.ok(r.scores.length >= Math.floor(samples.length / 1280));
  }
});

Deno.test("wakeword: scores do not depend on chunk size; int16 equals float", async () => {
  const { samples } = await readPcm16Wav(`${FIX}hey_jarvis_weather.wav`);
  const f32 = new Float32Array(samples.length);
  for (let i = 0; i < samples.length; i++) f32[i] = samples[i] / 32768;
  const a = await run(samples, 160);
  const b = await run(f32, 777);
  const c = await run(f32, samples.length);
  assert.equal(a.scores.length, Math.floor(samples.length / 1280));
  assert.deepEqual(b.scores, a.scores);
  assert.deepEqual(c.scores, a.scores);
});

Deno.test("wakeword: 8 kHz input is resampled and still detected", async () => {
  const { samples } = await readPcm16Wav(`${FIX}hey_jarvis_weather.wav`);
  // Crude 16 k → 8 k: average sample pairs (a low-pass) then keep one.
  const n8 = new Float32Array(samples.length >> 1);
  for (let i = 0; i < n8.length; i++) {
    n8[i] = (samples[2 * i] + samples[2 * i + 1]) / 65536;
  }
  const r = await run(n8, 160, { sampleRate: 8000 });
  assert.equal(r.hits.length, 1, `max ${r.max}`);
  assert.ok(r.hits[0].score > 0.5);
  const hello = (await readPcm16Wav(`${FIX}hello_there_weather.wav`)).samples;
  const h8 = new Float32Array(hello.length >> 1);
  for (let i = 0; i < h8.length; i++) {
    h8[i] = (hello[2 * i] + hello[2 * i + 1]) / 65536;
  }
  assert.equal((await run(h8, 160, { sampleRate: 8000 })).hits.length, 0);
});

Deno.test("wakeword: refractory period, reset and a custom model path", async () => {
  const { samples } = await readPcm16Wav(`${FIX}hey_jarvis_weather.wav`);
  const twice = new Int16Array(samples.length * 2);
  twice.set(samples);
  twice.set(samples, samples.length); // second "hey jarvis" 3.65 s later
  assert.equal((await run(twice, 640)).hits.length, 2);
  assert.equal(
    (await run(twice, 640, { refractoryMs: 10_000 })).hits.length,
    1,
  );

  const oww = await ensureModel("openwakeword");
  const custom = oww.files["models/hey_jarvis_v0.1.onnx"];
  const byPath = await run(samples, 640, { models: [custom] });
  assert.equal(byPath.hits.length, 1);
  assert.equal(byPath.hits[0].model, custom);

  const scores: number[] = [];
  const d = await createWakeWordDetector({
    models: ["hey_jarvis"],
    onScore: (_m, s) => scores.push(s),
  });
  try {
    await d.process(samples);
    const first = scores.splice(0);
    d.reset();
    await d.process(samples);
    assert.deepEqual(scores, first);
  } finally {
    await d.close();
  }
  await assert.rejects(() => d.process(samples), /closed; create a new one/);
});

Deno.test("wakeword: two models at once, and option errors", async () => {
  const { samples } = await readPcm16Wav(`${FIX}hey_jarvis_weather.wav`);
  const r = await run(samples, 1280, { models: ["alexa", "hey_jarvis"] });
  assert.deepEqual(r.hits.map((h) => h.model), ["hey_jarvis"]);
  await assert.rejects(
    () => createWakeWordDetector({ models: ["computer"] }),
    /Unknown wake word "computer"; use one of hey_jarvis/,
  );
  await assert.rejects(
    () => createWakeWordDetector({ models: ["hey_jarvis"], threshold: 2 }),
    /Invalid wake-word threshold 2/,
  );
  await assert.rejects(
    () => createWakeWordDetector({ models: ["/nope/x.onnx"] }),
    /Wake-word model file not found: \/nope\/x\.onnx/,
  );
  await assert.rejects(
    () => createWakeWordDetector({ models: [] }),
    /needs at least one model/,
  );
});

Deno.test("wakeword: the wasm backend (onnxruntime-web) gives the same scores", async () => {
  const { samples } = await readPcm16Wav(`${FIX}hey_jarvis_weather.wav`);
  const node = await run(samples, 1280);
  const wasm = await run(samples, 1280, { backend: "wasm" });
  assert.equal(wasm.scores.length, node.scores.length);
  for (let i = 0; i < node.scores.length; i++) {
    assert.ok(Math.abs(wasm.scores[i] - node.scores[i]) < 1e-3, `step ${i}`);
  }
  assert.equal(wasm.hits.length, 1);
  const d = await createWakeWordDetector({
    models: ["alexa"],
    backend: "wasm",
  });
  assert.equal(d.backend, "wasm");
  await d.close();
});
