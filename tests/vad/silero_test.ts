import assert from "node:assert/strict";
import { createRequire } from "node:module";
import * as ort from "onnxruntime-node";
import {
  closeSileroModels,
  getSileroModel,
  type PauseDetectedEvent,
  type SileroModel,
  TurnDetector,
  type TurnEvent,
  VadClosedError,
} from "../../src/vad/mod.ts";
import { ortLoaders } from "../../src/_internal/ort.ts";
import { decimateBy2, readWavMono16, rng, windows } from "./_helpers.ts";

const jfk = readWavMono16(new URL("../fixtures/jfk.wav", import.meta.url));
const other = readWavMono16(
  new URL("../fixtures/silero_test.wav", import.meta.url),
);
// The file Parley ships; the legacy v4 model only exists in the npm package.
const v5Path = decodeURIComponent(
  new URL("../../src/vad/models/silero_vad_v5.onnx", import.meta.url).pathname,
);
const legacyPath = createRequire(import.meta.url).resolve(
  "@ricky0123/vad-web/dist/silero_vad_legacy.onnx",
);
/** The model without state hygiene: what a plain session.run loop computes. */
const RAW = { digitalSilenceLevel: -1, resetAfterQuietMs: Infinity } as const;

/** Reference: plain sequential session.run with context + state, batch 1. */
async function directProbs(
  audio: Float32Array,
  rate: 8000 | 16000,
): Promise<number[]> {
  const session = await ort.InferenceSession.create(v5Path, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: "sequential",
  });
  const win = rate === 16000 ? 512 : 256, ctx = rate === 16000 ? 64 : 32;
  let state = new Float32Array(256);
  let context = new Float32Array(ctx);
  const sr = new ort.Tensor("int64", BigInt64Array.from([BigInt(rate)]), []);
  const out: number[] = [];
  for (const w of windows(audio, win)) {
    const input = new Float32Array(ctx + win);
    input.set(context);
    input.set(w, ctx);
    const r = await session.run({
      input: new ort.Tensor("float32", input, [1, ctx + win]),
      state: new ort.Tensor("float32", state, [2, 1, 128]),
      sr,
    });
    out.push((r.output.data as Float32Array)[0]);
    state = new Float32Array(r.stateN.data as Float32Array);
    context = input.slice(win);
  }
  await session.release();
  return out;
}

async function modelProbs(
  model: SileroModel,
  audio: Float32Array,
  rate: 8000 | 16000,
) {
  const s = model.createStream(rate);
  const out: number[] = [];
  for (const w of windows(audio, s.windowSize)) out.push(await s.process(w));
  s.close();
  return out;
}

function turnsOf(
  probs: number[],
  rate: number,
  samples?: Float32Array[],
): TurnEvent[] {
  const det = new TurnDetector({ sampleRate: rate });
  const ev: TurnEvent[] = [];
  probs.forEach((p, i) => ev.push(...det.push(p, samples?.[i])));
  ev.push(...det.finish());
  return ev;
}
const pausesOf = (ev: TurnEvent[]) =>
  ev.filter((e): e is PauseDetectedEvent => e.type === "pause_detected");
const maxDiff = (a: number[], b: number[]) => {
  assert.equal(a.length, b.length);
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
};

Deno.test("silero: model is cached per process and loads the packaged v5 file", async () => {
  const [a, b] = await Promise.all([getSileroModel(), getSileroModel()]);
  assert.equal(a, b);
  assert.equal(a.backend, "node");
  assert.equal(a.version, "v5");
  assert.equal(a.modelPath, v5Path);
  const v6 = await getSileroModel({ version: "v6" });
  assert.notEqual(v6, a);
  assert.match(v6.modelPath, /silero_vad_v6\.onnx$/);
  assert.equal(await getSileroModel({ modelPath: v5Path }), a);
});

Deno.test("silero: one stream equals a plain session.run loop (16 kHz and 8 kHz)", async () => {
  const model = await getSileroModel(RAW);
  const audio16 = jfk.samples.subarray(0, 16000 * 4);
  const d16 = maxDiff(
    await modelProbs(model, audio16, 16000),
    await directProbs(audio16, 16000),
  );
  assert.ok(d16 <= 1e-5, `16 kHz max |Δp| ${d16}`);
  const audio8 = decimateBy2(audio16);
  const d8 = maxDiff(
    await modelProbs(model, audio8, 8000),
    await directProbs(audio8, 8000),
  );
  assert.ok(d8 <= 1e-5, `8 kHz max |Δp| ${d8}`);
});

Deno.test("silero: batching 6 streams of real speech equals unbatched runs", async () => {
  const batched = await getSileroModel({ ...RAW, maxWaitMs: 50 });
  const sources = [
    jfk.samples.subarray(0),
    jfk.samples.subarray(16000 * 2),
    other.samples.subarray(0),
    other.samples.subarray(16000 * 7),
    other.samples.subarray(16000 * 20),
    other.samples.subarray(16000 * 33),
  ].map((s) => s.subarray(0, 512 * 150));
  const reference = await Promise.all(
    sources.map((s) => directProbs(s, 16000)),
  );
  const streams = sources.map(() => batched.createStream(16000));
  const results: number[][] = sources.map(() => []);
  const before = batched.stats;
  for (let i = 0; i < 150; i++) {
    const ps = await Promise.all(
      streams.map((s, k) =>
        s.process(sources[k].subarray(i * 512, (i + 1) * 512))
      ),
    );
    ps.forEach((p, k) => results[k].push(p));
  }
  const after = batched.stats;
  streams.forEach((s) => s.close());
  // All six streams submitted each step, so each step ran as one batch.
  assert.equal(after.batches - before.batches, 150);
  assert.equal(after.windows - before.windows, 900);
  let worst = 0;
  for (let k = 0; k < sources.length; k++) {
    const d = maxDiff(results[k], reference[k]);
    assert.ok(d <= 1e-5, `stream ${k}: max |Δp| ${d}`);
    worst = Math.max(worst, d);
  }
  console.log(`batched (6 streams) vs plain session.run: max |Δp| = ${worst}`);
});

Deno.test("silero: streams fed out of step (queued windows, uneven chunks) equal unbatched", async () => {
  const model = await getSileroModel({ ...RAW, maxWaitMs: 1 });
  const a = jfk.samples.subarray(0, 512 * 60),
    b = other.samples.subarray(0, 512 * 60);
  const [ra, rb] = await Promise.all([
    directProbs(a, 16000),
    directProbs(b, 16000),
  ]);
  const sa = model.createStream(16000), sb = model.createStream(16000);
  // a: whole buffer at once (60 windows queued); b: 20 ms chunks of 320.
  const pa = sa.feed(a);
  const pb: Promise<{ probability: number }[]>[] = [];
  for (let i = 0; i < b.length; i += 320) {
    pb.push(sb.feed(b.subarray(i, i + 320)));
  }
  const ga = (await pa).map((r) => r.probability);
  const gb = (await Promise.all(pb)).flat().map((r) => r.probability);
  assert.ok(maxDiff(ga, ra) <= 1e-5);
  assert.ok(maxDiff(gb, rb) <= 1e-5);
  assert.equal(sb.buffered, b.length % 512);
  sa.close();
  sb.close();
});

Deno.test("silero: jfk.wav yields speech segments covering the known speech (16 kHz)", async () => {
  const model = await getSileroModel();
  const s = model.createStream(16000);
  const results = await s.feed(jfk.samples);
  s.close();
  const ev = turnsOf(
    results.map((r) => r.probability),
    16000,
    results.map((r) => r.samples),
  );
  const ps = pausesOf(ev);
  assert.ok(ps.length >= 1, "at least one turn");
  // JFK speaks from about 0.3 s to 10.5 s of the 11 s file.
  assert.ok(
    ps[0].utterance.speechStartMs < 1000,
    `starts at ${ps[0].utterance.speechStartMs}`,
  );
  assert.ok(ps.at(-1)!.utterance.speechEndMs > 9500);
  const speech = ps.reduce((t, p) => t + p.utterance.speechMs, 0);
  assert.ok(speech > 6000 && speech < 11000, `speech ${speech} ms`);
  for (const p of ps) {
    assert.ok(p.utterance.audio);
    assert.deepEqual(
      p.utterance.audio,
      jfk.samples.subarray(p.utterance.startSample, p.utterance.endSample),
    );
  }
});

Deno.test("silero: the 8 kHz path finds the same speech without resampling to 16 kHz", async () => {
  const model = await getSileroModel();
  const audio8 = decimateBy2(jfk.samples);
  const s = model.createStream(8000);
  assert.equal(s.windowSize, 256);
  const results = await s.feed(audio8);
  s.close();
  const ps = pausesOf(turnsOf(results.map((r) => r.probability), 8000));
  assert.ok(ps.length >= 1);
  assert.ok(ps[0].utterance.speechStartMs < 1000);
  assert.ok(ps.at(-1)!.utterance.speechEndMs > 9500);
  const speech = ps.reduce((t, p) => t + p.utterance.speechMs, 0);
  assert.ok(speech > 6000, `speech ${speech} ms`);
});

Deno.test("silero: reset() makes a stream behave like a new one", async () => {
  const model = await getSileroModel();
  const audio = jfk.samples.subarray(16000, 16000 + 512 * 20);
  const s = model.createStream(16000);
  await s.feed(jfk.samples.subarray(0, 512 * 10 + 100)); // state, context and leftovers
  s.reset();
  assert.equal(s.buffered, 0);
  const again = (await s.feed(audio)).map((r) => r.probability);
  s.close();
  assert.deepEqual(again, await modelProbs(model, audio, 16000));
});

Deno.test("silero: the v6 model finds JFK's speech too", async () => {
  const v6 = await getSileroModel({ version: "v6" });
  const s = v6.createStream(16000);
  const probs = (await s.feed(jfk.samples)).map((r) => r.probability);
  s.close();
  const ps = pausesOf(turnsOf(probs, 16000));
  assert.ok(ps.length >= 1);
  assert.ok(ps[0].utterance.speechStartMs < 1000);
  assert.ok(ps.at(-1)!.utterance.speechEndMs > 9500);
});

Deno.test("silero: silence and low noise yield no turns", async () => {
  const model = await getSileroModel();
  const r = rng(7);
  const noise = new Float32Array(16000 * 5).map(() => (r() * 2 - 1) * 0.01);
  for (const audio of [new Float32Array(16000 * 5), noise]) {
    const s = model.createStream(16000);
    const probs = (await s.feed(audio)).map((x) => x.probability);
    s.close();
    assert.equal(probs.length, Math.floor(audio.length / 512));
    const ev = turnsOf(probs, 16000);
    assert.equal(
      ev.filter((e) => e.type === "started_talking").length,
      0,
      `max p ${Math.max(...probs)}`,
    );
  }
});

Deno.test("silero: node and wasm backends agree within 1e-4", async () => {
  const node = await getSileroModel();
  const wasm = await getSileroModel({ backend: "wasm" });
  assert.equal(wasm.backend, "wasm");
  const audio = other.samples.subarray(0, 512 * 200);
  const d = maxDiff(
    await modelProbs(node, audio, 16000),
    await modelProbs(wasm, audio, 16000),
  );
  assert.ok(d <= 1e-4, `max |Δp| ${d}`);
  const audio8 = decimateBy2(jfk.samples.subarray(0, 16000 * 3));
  const d8 = maxDiff(
    await modelProbs(node, audio8, 8000),
    await modelProbs(wasm, audio8, 8000),
  );
  assert.ok(d8 <= 1e-4, `8 kHz max |Δp| ${d8}`);
});

Deno.test("silero: bad input and closed streams fail with clear errors", async () => {
  const model = await getSileroModel();
  const s = model.createStream(16000);
  await assert.rejects(
    s.process(new Float32Array(511)),
    /exactly 512.*got 511/,
  );
  await assert.rejects(
    s.process(new Int16Array(512) as unknown as Float32Array),
    /exactly 512 float32 samples, got Int16Array/,
  );
  const nan = new Float32Array(512);
  nan[7] = Number.NaN;
  await assert.rejects(s.process(nan), /Sample 7 .* NaN/);
  await assert.rejects(s.feed(nan), /NaN/);
  assert.throws(() => model.createStream(44100), /16000 and 8000/);
  // Not digital silence, so both windows really wait for the model.
  const hum = Float32Array.from({ length: 512 }, (_, i) => 0.01 * Math.sin(i));
  const pending = s.process(hum);
  const queued = s.process(hum);
  s.close();
  await Promise.allSettled([pending]);
  await assert.rejects(queued, VadClosedError);
  await assert.rejects(s.process(new Float32Array(512)), VadClosedError);
  await assert.rejects(
    getSileroModel({ modelPath: "/nonexistent/vad.onnx" }),
    /not found/,
  );
  await assert.rejects(getSileroModel({ version: "v4" as "v5" }), /v5.*v6/);
  // The packaged legacy (v4, h/c inputs) model is refused with a clear reason.
  await assert.rejects(
    getSileroModel({
      modelPath: legacyPath,
    }),
    /no input "state".*legacy v4/,
  );
});

Deno.test("silero: falls back to the TypeScript backend with a warning when the native addon fails", async () => {
  await closeSileroModels();
  const original = ortLoaders.node;
  const log = ortLoaders.log;
  const warnings: string[] = [];
  ortLoaders.node = () =>
    Promise.reject(new Error("simulated: cannot open shared object file"));
  ortLoaders.log = (msg: string) => warnings.push(msg);
  try {
    const model = await getSileroModel();
    assert.equal(model.backend, "js");
    assert.equal(warnings.length, 1);
    assert.match(
      warnings[0],
      /onnxruntime-node could not be loaded.*simulated.*TypeScript backend/,
    );
    const s = model.createStream(16000);
    assert.ok((await s.process(new Float32Array(512))) < 0.5);
    s.close();
  } finally {
    ortLoaders.node = original;
    ortLoaders.log = log;
    await closeSileroModels();
  }
  assert.equal((await getSileroModel()).backend, "node");
  await closeSileroModels();
});
