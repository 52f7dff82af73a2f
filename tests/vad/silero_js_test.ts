import assert from "node:assert/strict";
import { createRequire } from "node:module";
import * as ort from "onnxruntime-node";
import { audioToFloat32, decodeMulaw } from "../../src/audio/mod.ts";
import {
  closeSileroModels,
  getSileroModel,
  TurnDetector,
  type TurnEvent,
} from "../../src/vad/mod.ts";
import { SileroJsModel, type SileroJsStft } from "../../src/vad/silero_js.ts";
import { OnnxDecodeError } from "../../src/vad/onnx_reader.ts";
import { encodeOnnxModel } from "../support/onnx_writer.ts";
import { decimateBy2, readWavMono16, rng } from "./_helpers.ts";

const fixture = (name: string) =>
  new URL(`../fixtures/${name}`, import.meta.url);
const jfk = readWavMono16(fixture("jfk.wav")).samples;
const other = readWavMono16(fixture("silero_test.wav")).samples;
const jfk8 = audioToFloat32(
  decodeMulaw(Deno.readFileSync(fixture("jfk_8k.ulaw"))),
);
const other8 = decimateBy2(other);
const require = createRequire(import.meta.url);
const modelFile = (v: string) =>
  require.resolve(`@ricky0123/vad-web/dist/silero_vad_${v}.onnx`);

type Rate = 8000 | 16000;
const WIN: Record<Rate, number> = { 16000: 512, 8000: 256 };
const CTX: Record<Rate, number> = { 16000: 64, 8000: 32 };

/**
 * Steps `sources.length` streams together, window by window with carried
 * context and state, through `step` (one batched inference per window).
 * Returns the probabilities per stream.
 */
async function runStreams(
  sources: Float32Array[],
  rate: Rate,
  step: (
    input: Float32Array,
    state: Float32Array,
    batch: number,
  ) => Promise<{ p: Float32Array; s: Float32Array }>,
): Promise<number[][]> {
  const win = WIN[rate], ctx = CTX[rate], row = win + ctx, n = sources.length;
  const steps = Math.min(...sources.map((s) => Math.floor(s.length / win)));
  const input = new Float32Array(n * row);
  let state = new Float32Array(2 * n * 128);
  const probs: number[][] = sources.map(() => []);
  for (let t = 0; t < steps; t++) {
    for (let b = 0; b < n; b++) {
      const r = input.subarray(b * row, (b + 1) * row);
      r.copyWithin(0, win); // last window's tail becomes the context
      r.set(sources[b].subarray(t * win, (t + 1) * win), ctx);
    }
    const { p, s } = await step(input.slice(), state, n);
    for (let b = 0; b < n; b++) probs[b].push(p[b]);
    state = new Float32Array(s);
  }
  return probs;
}

const ortSessions = new Map<string, Promise<ort.InferenceSession>>();
function ortSession(version: string): Promise<ort.InferenceSession> {
  let s = ortSessions.get(version);
  if (!s) {
    s = ort.InferenceSession.create(modelFile(version), {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      executionMode: "sequential",
    });
    ortSessions.set(version, s);
  }
  return s;
}

async function ortProbs(version: string, sources: Float32Array[], rate: Rate) {
  const session = await ortSession(version);
  const sr = new ort.Tensor("int64", BigInt64Array.from([BigInt(rate)]), []);
  return runStreams(sources, rate, async (input, state, batch) => {
    const r = await session.run({
      input: new ort.Tensor("float32", input, [batch, input.length / batch]),
      state: new ort.Tensor("float32", state, [2, batch, 128]),
      sr,
    });
    return {
      p: r.output.data as Float32Array,
      s: r.stateN.data as Float32Array,
    };
  });
}

const jsModels = new Map<string, Promise<SileroJsModel>>();
function jsModel(version: string, stft: SileroJsStft = "auto") {
  const key = `${version}/${stft}`;
  let m = jsModels.get(key);
  if (!m) {
    m = SileroJsModel.load(modelFile(version), { stft });
    jsModels.set(key, m);
  }
  return m;
}

async function jsProbs(
  version: string,
  sources: Float32Array[],
  rate: Rate,
  stft: SileroJsStft = "auto",
) {
  const model = await jsModel(version, stft);
  return runStreams(sources, rate, (input, state, batch) => {
    const r = model.run(input, state, batch, rate);
    return Promise.resolve({ p: r.probabilities, s: r.state });
  });
}

function turns(probs: number[], rate: Rate, audio: Float32Array): TurnEvent[] {
  const det = new TurnDetector({ sampleRate: rate });
  const out: TurnEvent[] = [];
  const win = WIN[rate];
  probs.forEach((p, i) =>
    out.push(...det.push(p, audio.subarray(i * win, (i + 1) * win)))
  );
  out.push(...det.finish());
  return out;
}

function maxDiff(a: number[], b: number[]): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Speech sources for a batch of 7 different streams at `rate`. */
function mixedSources(rate: Rate): Float32Array[] {
  const sec = rate;
  const r = rng(7);
  const noise = new Float32Array(sec * 8).map(() => (r() - 0.5) * 0.02);
  const a = rate === 16000 ? jfk : jfk8, b = rate === 16000 ? other : other8;
  return [
    a,
    b,
    a.subarray(sec * 2),
    b.subarray(sec * 7),
    noise,
    b.subarray(sec * 20),
    b.subarray(sec * 33),
  ].map((s) => s.subarray(0, sec * 8));
}

const TOL = 1e-4;
const report: string[] = [];

for (const version of ["v5", "v6"]) {
  for (const rate of [16000, 8000] as const) {
    Deno.test(`silero js ${version} ${rate} Hz, batch 1: matches onnxruntime-node on real speech, same turn events`, async () => {
      const clips = rate === 16000 ? [jfk, other] : [jfk8, other8];
      for (const [k, clip] of clips.entries()) {
        const [ref] = await ortProbs(version, [clip], rate);
        const [got] = await jsProbs(version, [clip], rate);
        const d = maxDiff(got, ref);
        report.push(
          `${version} ${rate} Hz batch 1 clip ${k} (${ref.length} windows): max |Δp| ${
            d.toExponential(2)
          }`,
        );
        assert.ok(d <= TOL, `max |Δp| ${d}`);
        assert.ok(ref.some((p) => p > 0.9), "the clip has speech");
        assert.deepStrictEqual(turns(got, rate, clip), turns(ref, rate, clip));
      }
    });

    Deno.test(`silero js ${version} ${rate} Hz, batch 7 mixed streams: matches onnxruntime-node and equals batch 1 exactly`, async () => {
      const sources = mixedSources(rate);
      const ref = await ortProbs(version, sources, rate);
      const got = await jsProbs(version, sources, rate);
      let worst = 0;
      for (let b = 0; b < sources.length; b++) {
        const d = maxDiff(got[b], ref[b]);
        worst = Math.max(worst, d);
        assert.ok(d <= TOL, `stream ${b}: max |Δp| ${d}`);
        assert.deepStrictEqual(
          turns(got[b], rate, sources[b]),
          turns(ref[b], rate, sources[b]),
        );
      }
      report.push(
        `${version} ${rate} Hz batch 7 (${
          ref[0].length
        } windows each): max |Δp| ${worst.toExponential(2)}`,
      );
      // Every batch row is computed in the same order as alone.
      for (const b of [0, 4, 6]) {
        const [alone] = await jsProbs(version, [sources[b]], rate);
        assert.deepStrictEqual(got[b], alone);
      }
    });
  }
}

Deno.test("silero js: the STFT as the file's convolution agrees with the FFT path and onnxruntime", async () => {
  assert.equal((await jsModel("v5")).stft, "fft");
  assert.equal((await jsModel("v5", "conv")).stft, "conv");
  for (const rate of [16000, 8000] as const) {
    const clip = (rate === 16000 ? other : other8).subarray(0, rate * 10);
    const [ref] = await ortProbs("v6", [clip], rate);
    const [conv] = await jsProbs("v6", [clip], rate, "conv");
    const [fft] = await jsProbs("v6", [clip], rate, "fft");
    const d = maxDiff(conv, ref);
    report.push(
      `v6 ${rate} Hz stft "conv": max |Δp| ${d.toExponential(2)} (fft vs conv ${
        maxDiff(fft, conv).toExponential(2)
      })`,
    );
    assert.ok(d <= TOL, `conv max |Δp| ${d}`);
    assert.ok(maxDiff(fft, conv) <= TOL);
  }
});

Deno.test('silero js: getSileroModel({ backend: "js" }) runs through the batch scheduler unchanged', async () => {
  // State hygiene off: the scheduler must equal plain runs window for window.
  const options = {
    backend: "js",
    maxWaitMs: 50,
    digitalSilenceLevel: -1,
    resetAfterQuietMs: Infinity,
  } as const;
  const model = await getSileroModel(options);
  try {
    assert.equal(model.backend, "js");
    assert.equal(model.version, "v5");
    assert.equal(model, await getSileroModel(options));
    for (const rate of [16000, 8000] as const) {
      const sources = mixedSources(rate).map((s) => s.subarray(0, rate * 3));
      const direct = await jsProbs("v5", sources, rate);
      const streams = sources.map(() => model.createStream(rate));
      const got: number[][] = sources.map(() => []);
      const before = model.stats;
      const win = WIN[rate];
      for (let t = 0; t < direct[0].length; t++) {
        const ps = await Promise.all(
          streams.map((s, k) =>
            s.process(sources[k].subarray(t * win, (t + 1) * win))
          ),
        );
        ps.forEach((p, k) => got[k].push(p));
      }
      streams.forEach((s) => s.close());
      assert.equal(model.stats.batches - before.batches, direct[0].length);
      assert.deepStrictEqual(got, direct);
    }
    // Phone audio fed in 20 ms frames, as a call delivers it.
    const vad = model.createStream(8000);
    const probs: number[] = [];
    for (let i = 0; i < jfk8.length; i += 160) {
      for (const w of await vad.feed(jfk8.subarray(i, i + 160))) {
        probs.push(w.probability);
      }
    }
    vad.close();
    const [ref] = await ortProbs("v5", [jfk8], 8000);
    assert.ok(maxDiff(probs, ref) <= TOL);
    assert.deepStrictEqual(turns(probs, 8000, jfk8), turns(ref, 8000, jfk8));
  } finally {
    await closeSileroModels();
  }
});

Deno.test("silero js: files that are not Silero v5/v6 fail with errors that name the problem", async () => {
  const tiny = encodeOnnxModel({
    name: "double",
    opset: 17,
    inputs: [{ name: "x", type: "float32", shape: ["n"] }],
    outputs: [{ name: "y", type: "float32", shape: ["n"] }],
    initializers: [{ name: "two", type: "float32", dims: [], values: [2] }],
    nodes: [{ op: "Mul", inputs: ["x", "two"], outputs: ["y"] }],
  });
  assert.throws(
    () => SileroJsModel.fromBytes(tiny),
    /Not a Silero VAD v5\/v6 model: it has no input "input" \(inputs: x\); pass the silero_vad_v5\.onnx/,
  );
  assert.throws(
    () => SileroJsModel.fromBytes(Deno.readFileSync(modelFile("legacy"))),
    /no input "state" \(inputs: input, sr, h, c\).*legacy v4/,
  );
  // A real file with one weight renamed: the error names the missing tensor.
  const bytes = Deno.readFileSync(modelFile("v5"));
  const from = new TextEncoder().encode("encoder.2.reparam_conv.weight");
  const to = new TextEncoder().encode("encoder.2.reparam_conv.wXight");
  let renamed = 0;
  for (let i = 0; i + from.length <= bytes.length; i++) {
    if (from.every((c, k) => bytes[i + k] === c)) {
      bytes.set(to, i);
      renamed++;
    }
  }
  assert.ok(renamed >= 2);
  assert.throws(
    () => SileroJsModel.fromBytes(bytes),
    /the 16 kHz branch has no tensor "encoder\.2\.reparam_conv\.weight"/,
  );
  assert.throws(
    () => SileroJsModel.fromBytes(new Uint8Array([0x0a, 0xff, 0x01])),
    (e) =>
      e instanceof OnnxDecodeError && /Malformed ONNX file/.test(e.message),
  );
  await assert.rejects(
    SileroJsModel.load("/nonexistent/silero.onnx"),
    /Cannot read the Silero model \/nonexistent\/silero\.onnx.*check the path/,
  );
  const path = await Deno.makeTempFile({ suffix: ".onnx" });
  try {
    await Deno.writeFile(path, tiny);
    await assert.rejects(
      getSileroModel({ backend: "js", modelPath: path }),
      /\.onnx.*Not a Silero VAD v5\/v6 model: it has no input "input"/,
    );
  } finally {
    await Deno.remove(path);
  }
  const model = await jsModel("v5");
  assert.throws(
    () => model.run(new Float32Array(576), new Float32Array(128), 1, 16000),
    /do not form a batch of 1.*state 128/,
  );
  assert.throws(
    () =>
      model.run(new Float32Array(576), new Float32Array(256), 1, 16000, {
        probabilities: new Float32Array(1),
        state: new Float32Array(128),
      }),
    /out arrays are too small for a batch of 1/,
  );
  const shared = new Float32Array(256);
  assert.throws(
    () =>
      model.run(new Float32Array(576), shared, 1, 16000, {
        probabilities: new Float32Array(1),
        state: shared,
      }),
    /must not share memory with the input state/,
  );
  assert.throws(
    () => model.run(new Float32Array(100), new Float32Array(256), 1, 16000),
    /rows of 100 samples are too short; pass context \+ window samples \(64 \+ 512\)/,
  );
});

Deno.test("silero js: loads from an http URL or from bytes, no file access needed", async () => {
  const bytes = await Deno.readFile(modelFile("v6"));
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
    (req) =>
      new URL(req.url).pathname === "/silero_vad_v6.onnx"
        ? new Response(bytes)
        : new Response("not here", { status: 404 }),
  );
  try {
    const base = `http://127.0.0.1:${server.addr.port}`;
    const fromUrl = await SileroJsModel.load(`${base}/silero_vad_v6.onnx`);
    const fromBytes = await SileroJsModel.load(bytes);
    const input = jfk.slice(16000, 16000 + 2 * 576);
    const state = new Float32Array(2 * 2 * 128);
    assert.deepStrictEqual(
      fromUrl.run(input, state, 2, 16000),
      fromBytes.run(input, state, 2, 16000),
    );
    await assert.rejects(
      SileroJsModel.load(new URL(`${base}/missing.onnx`)),
      /Cannot read the Silero model http:.*missing\.onnx: HTTP 404/,
    );
  } finally {
    ac.abort();
    await server.finished;
  }
});

Deno.test("silero js: accuracy report", () => {
  console.log(`js backend vs onnxruntime-node:\n  ${report.join("\n  ")}`);
});
