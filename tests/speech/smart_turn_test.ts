/**
 * Whisper log-mel features and the Smart-Turn-v3-style ONNX adapter, run on
 * a small synthetic stand-in model (written with tests/support/onnx_writer.ts,
 * like the Kokoro plumbing test): input `input_features` [1, 80, 800],
 * output one probability = sigmoid(W · mean(features of the last 0.5 s) + B).
 */
import assert from "node:assert/strict";
import { type AudioChunk, ReplyOnPause } from "../../mod.ts";
import { isTurnMetricsMessage } from "../../src/handlers/turn_metrics.ts";
import { readWavFile, whisperLogMel } from "../../src/audio/mod.ts";
import { SmartTurnAnalyser } from "../../src/speech/mod.ts";
import { encodeOnnxModel, type OnnxModel } from "../support/onnx_writer.ts";
import { startLocalCall } from "../support/local_call.ts";

const W = 3, B = -1.5;

function standIn(): OnnxModel {
  return {
    name: "smart_turn_stand_in",
    opset: 13,
    inputs: [{ name: "input_features", type: "float32", shape: [1, 80, 800] }],
    outputs: [{ name: "probability", type: "float32", shape: [1] }],
    initializers: [
      { name: "starts", type: "int64", dims: [1], values: [750] },
      { name: "ends", type: "int64", dims: [1], values: [800] },
      { name: "axes", type: "int64", dims: [1], values: [2] },
      { name: "w", type: "float32", dims: [], values: [W] },
      { name: "b", type: "float32", dims: [], values: [B] },
    ],
    nodes: [
      {
        op: "Slice",
        inputs: ["input_features", "starts", "ends", "axes"],
        outputs: ["tail"],
      },
      {
        op: "ReduceMean",
        inputs: ["tail"],
        outputs: ["m"],
        attributes: { axes: { ints: [1, 2] }, keepdims: { int: 0 } },
      },
      { op: "Mul", inputs: ["m", "w"], outputs: ["wm"] },
      { op: "Add", inputs: ["wm", "b"], outputs: ["z"] },
      { op: "Sigmoid", inputs: ["z"], outputs: ["probability"] },
    ],
  };
}

async function modelFile(): Promise<string> {
  const path = await Deno.makeTempFile({ suffix: ".onnx" });
  await Deno.writeFile(path, encodeOnnxModel(standIn()));
  return path;
}

/**
 * Whisper log-mel written the slow, obvious way (naive DFT; librosa's
 * Slaney mel formulas), as an independent reference.
 */
function referenceLogMel(x: Float32Array): Float64Array {
  const frames = Math.floor(x.length / 160);
  const padded = new Float64Array(x.length + 400);
  for (let i = 0; i < padded.length; i++) {
    let j = i - 200;
    if (j < 0) j = -j;
    if (j >= x.length) j = 2 * (x.length - 1) - j;
    padded[i] = x[j];
  }
  const mel = (f: number) =>
    f < 1000 ? f / (200 / 3) : 15 + Math.log(f / 1000) / (Math.log(6.4) / 27);
  const hz = (m: number) =>
    m < 15 ? m * (200 / 3) : 1000 * Math.exp((Math.log(6.4) / 27) * (m - 15));
  const edges = Array.from({ length: 82 }, (_, i) => hz((mel(8000) * i) / 81));
  const out = new Float64Array(80 * frames);
  let max = -Infinity;
  for (let f = 0; f < frames; f++) {
    const power: number[] = [];
    for (let k = 0; k <= 200; k++) {
      let re = 0, im = 0;
      for (let i = 0; i < 400; i++) {
        const w = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / 400);
        const v = padded[f * 160 + i] * w;
        re += v * Math.cos((2 * Math.PI * k * i) / 400);
        im -= v * Math.sin((2 * Math.PI * k * i) / 400);
      }
      power.push(re * re + im * im);
    }
    for (let m = 0; m < 80; m++) {
      let e = 0;
      for (let k = 0; k <= 200; k++) {
        const fk = k * 40;
        const up = (fk - edges[m]) / (edges[m + 1] - edges[m]);
        const down = (edges[m + 2] - fk) / (edges[m + 2] - edges[m + 1]);
        e += Math.max(0, Math.min(up, down)) * 2 / (edges[m + 2] - edges[m]) *
          power[k];
      }
      out[m * frames + f] = Math.log10(Math.max(e, 1e-10));
      max = Math.max(max, out[m * frames + f]);
    }
  }
  return out.map((v) => (Math.max(v, max - 8) + 4) / 4);
}

Deno.test("whisperLogMel: equals a naive DFT + Slaney mel reference, silence is flat at −1.5, a 1 kHz tone peaks in the mel bin of 1 kHz", () => {
  let seed = 5;
  const noise = Float32Array.from({ length: 1600 }, (_, i) => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return (seed / 2 ** 32 - 0.5) * 0.5 + 0.3 * Math.sin(i / 7);
  });
  const got = whisperLogMel(noise);
  const want = referenceLogMel(noise);
  let worst = 0;
  for (let i = 0; i < got.length; i++) {
    worst = Math.max(worst, Math.abs(got[i] - want[i]));
  }
  assert.ok(worst < 1e-4, `max |Δ| ${worst}`);
  // Silence: log10(1e-10) = −10, clamped to max − 8 = −10, (−10 + 4) / 4.
  const silent = whisperLogMel(new Float32Array(1600));
  assert.equal(silent.length, 80 * 10);
  assert.ok(silent.every((x) => Math.abs(x + 1.5) < 1e-6));
  const tone = Float32Array.from(
    { length: 16000 },
    (_, i) => 0.5 * Math.sin((2 * Math.PI * 1000 * i) / 16000),
  );
  const mel = whisperLogMel(tone);
  const frames = 100;
  const mid = 50;
  let best = 0;
  for (let m = 1; m < 80; m++) {
    if (mel[m * frames + mid] > mel[best * frames + mid]) best = m;
  }
  // Slaney mel: 1 kHz = 15 mel; 80 bins over 0..45.2 mel (8 kHz) → bin ~26.
  assert.ok(best >= 24 && best <= 28, `peak in bin ${best}`);
  // The same frame through a naive power spectrum agrees with the features'
  // energy ordering: 1 kHz sits in FFT bin 25.
  const frame = tone.subarray(mid * 160 - 200, mid * 160 + 200);
  let peakBin = 0, peak = 0;
  for (let k = 0; k <= 200; k++) {
    let re = 0, im = 0;
    for (let i = 0; i < 400; i++) {
      const w = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / 400);
      re += frame[i] * w * Math.cos((-2 * Math.PI * k * i) / 400);
      im += frame[i] * w * Math.sin((-2 * Math.PI * k * i) / 400);
    }
    if (re * re + im * im > peak) (peak = re * re + im * im, peakBin = k);
  }
  assert.equal(peakBin, 25);
});

Deno.test("SmartTurnAnalyser: 80×800 features of the last 8 s (left-padded), the model's probability, threshold, cost per pause", async () => {
  const path = await modelFile();
  const analyser = await SmartTurnAnalyser.load({ modelPath: path });
  try {
    const signal = new AbortController().signal;
    // 2 s of tone: padded with 6 s of zeros at the start.
    const tone = Float32Array.from(
      { length: 32000 },
      (_, i) => 0.3 * Math.sin(i / 4),
    );
    const f = analyser.features(tone);
    assert.equal(f.length, 80 * 800);
    assert.equal(f[0], f[400], "the padded start is uniform");
    assert.notEqual(f[0], f[799], "the audio sits at the end");
    const r = await analyser.analyse({
      audio: tone,
      sampleRate: 16000,
      signal,
    });
    // The stand-in's probability, computed here from the same features.
    let m = 0;
    for (let bin = 0; bin < 80; bin++) {
      for (let t = 750; t < 800; t++) m += f[bin * 800 + t];
    }
    m /= 80 * 50;
    const expected = 1 / (1 + Math.exp(-(W * m + B)));
    assert.ok(Math.abs(r.probability - expected) < 1e-5, `${r.probability}`);
    assert.equal(r.complete, expected >= 0.5);
    // A turn that ends in silence scores differently from one that ends in
    // sound: the model really sees the end of the turn.
    const trailing = new Float32Array(48000);
    trailing.set(tone);
    const r2 = await analyser.analyse({
      audio: trailing,
      sampleRate: 16000,
      signal,
    });
    assert.notEqual(r2.probability.toFixed(4), r.probability.toFixed(4));
    // Longer than 8 s: only the last 8 s count.
    const long = Float32Array.from(
      { length: 16000 * 12 },
      (_, i) => 0.2 * Math.sin(i / (3 + i / 40000)),
    );
    const r3 = await analyser.analyse({
      audio: long,
      sampleRate: 16000,
      signal,
    });
    const r4 = await analyser.analyse({
      audio: long.slice(16000 * 4),
      sampleRate: 16000,
      signal,
    });
    assert.ok(Math.abs(r3.probability - r4.probability) < 1e-6);
    // Cost per pause (features + inference; the real model's inference is
    // larger than this stand-in's).
    const costs: number[] = [];
    for (let i = 0; i < 5; i++) {
      await analyser.analyse({ audio: long, sampleRate: 16000, signal });
      costs.push(analyser.lastCostMs.features);
    }
    console.log(
      `Smart Turn features (80×800 log-mel of 8 s): ${
        Math.min(...costs).toFixed(1)
      } ms per pause (best of 5), stand-in inference ${
        analyser.lastCostMs.inference.toFixed(2)
      } ms`,
    );
    await assert.rejects(
      analyser.analyse({ audio: tone, sampleRate: 8000 as 16000, signal }),
      /16 kHz/,
    );
  } finally {
    await analyser.close();
    await Deno.remove(path);
  }
  await assert.rejects(
    SmartTurnAnalyser.load({ modelPath: "/nonexistent/smart.onnx" }),
    /Smart Turn model not found at \/nonexistent\/smart.onnx/,
  );
  await assert.rejects(
    SmartTurnAnalyser.load({ modelPath: path, threshold: 2 }),
    /threshold/,
  );
});

Deno.test("SmartTurnAnalyser in ReplyOnPause: consulted once per pause, its verdict decides when to reply", async () => {
  const path = await modelFile();
  // Threshold 0: every turn complete; threshold 1: never (answered after
  // maxEndpointingMs).
  const results: number[] = [];
  for (const threshold of [0, 1]) {
    const analyser = await SmartTurnAnalyser.load({
      modelPath: path,
      threshold,
    });
    const wav = await readWavFile(
      new URL("../fixtures/turns_espeak.wav", import.meta.url),
    );
    const pcm = Int16Array.from(wav.samples, (x) => Math.round(x * 32767));
    let replies = 0;
    const handler = new ReplyOnPause(async function* (audio: AudioChunk) {
      replies++;
      yield [16000, audio[1].subarray(0, 1600)] as AudioChunk;
    }, {
      inputSampleRate: 16000,
      turnAnalyser: analyser,
      maxEndpointingMs: 600,
      turnAnalyserBudgetMs: 5000,
    });
    const call = startLocalCall(handler, { rate: 16000 });
    // Real time, so the analysis takes as much call audio as it would live.
    const all = new Int16Array(pcm.length + 16000 * 2);
    all.set(pcm);
    const start = performance.now();
    for (let i = 0, n = 0; i < all.length; i += 320, n++) {
      const wait = start + n * 20 - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      call.bus.sendInput([16000, all.subarray(i, i + 320)]);
    }
    await new Promise((r) => setTimeout(r, 100));
    await call.end();
    await analyser.close();
    const m = call.messages.filter(isTurnMetricsMessage).map((x) => x.metrics);
    const waits = m.map((t) => t.decisionMs - t.speechEndMs);
    console.log(`threshold ${threshold}: decided ${waits} ms after the speech`);
    assert.equal(replies, 2);
    results.push(Math.max(...waits));
    if (threshold === 1) assert.ok(waits.every((w) => w >= 1000));
  }
  // Complete at once vs. waiting out maxEndpointingMs (600 ms).
  assert.ok(results[0] < results[1] - 300, `${results}`);
  await Deno.remove(path);
});
