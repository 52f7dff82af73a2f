/**
 * Silero VAD cost per 32 ms window: Parley's cross-stream batch scheduler
 * versus the per-stream sequential `session.run` that LiveKit's Silero plugin
 * and @ricky0123/vad use (one batch-1 inference per stream per window), in
 * the same run, same model (v5), same ONNX Runtime options (1 thread); and
 * the three backends (onnxruntime-node, onnxruntime-web WASM, Parley's
 * TypeScript forward pass) on one batched inference of 1 and 64 windows.
 *
 * One iteration = one 32 ms window for each of N concurrent streams of real
 * speech (jfk.wav / silero_test.wav, staggered). Divide the time by N for the
 * per-window cost; a call produces 31.25 windows per second, so one core
 * carries about 1000 / (31.25 × ms per window) calls for VAD alone.
 *
 *     deno bench --allow-all bench/vad_bench.ts
 *
 * @module
 */

import * as ort from "onnxruntime-node";
import { getSileroModel, type SileroStream } from "../src/vad/mod.ts";
import { readWavMono16 } from "../tests/vad/_helpers.ts";
import process from "node:process";
import { SileroJsModel } from "../src/vad/silero_js.ts";

const WIN = 512, CTX = 64;
// The Silero v5 file Parley ships (the same bytes as @ricky0123/vad-web's).
const modelPath =
  new URL("../src/vad/models/silero_vad_v5.onnx", import.meta.url).pathname;
const audio = [
  readWavMono16(new URL("../tests/fixtures/jfk.wav", import.meta.url)).samples,
  readWavMono16(new URL("../tests/fixtures/silero_test.wav", import.meta.url))
    .samples,
];
const windowsPerSource = audio.map((a) => Math.floor(a.length / WIN));

/** Window `step` of stream `k` (streams are staggered over both files). */
function windowOf(k: number, step: number): Float32Array {
  const src = k % 2;
  const i = (step + k * 37) % windowsPerSource[src];
  return audio[src].subarray(i * WIN, (i + 1) * WIN);
}

// Peer approach: one session, one (context, state) per stream, batch 1 each.
const session = await ort.InferenceSession.create(modelPath, {
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  executionMode: "sequential",
  graphOptimizationLevel: "all",
});
const sr = new ort.Tensor("int64", BigInt64Array.from([16000n]), []);
class DirectStream {
  state: Float32Array = new Float32Array(256);
  input = new Float32Array(CTX + WIN);
  async process(w: Float32Array): Promise<number> {
    this.input.copyWithin(0, WIN); // previous tail becomes the context
    this.input.set(w, CTX);
    const r = await session.run({
      input: new ort.Tensor("float32", this.input.slice(), [1, CTX + WIN]),
      state: new ort.Tensor("float32", this.state, [2, 1, 128]),
      sr,
    });
    this.state = r.stateN.data as Float32Array;
    return (r.output.data as Float32Array)[0];
  }
}

// Each group gets its own model object (maxBatch = n; all share the one ONNX
// session) so that streams of other groups do not count as "not yet
// submitted" and make the scheduler wait for its maxWaitMs timer.
async function setup(n: number) {
  const model = await getSileroModel({ backend: "node", maxBatch: n });
  const direct = Array.from({ length: n }, () => new DirectStream());
  const batched: SileroStream[] = Array.from(
    { length: n },
    () => model.createStream(16000),
  );
  return { direct, batched, step: 0 };
}

for (const n of [1, 8, 64]) {
  const s = await setup(n);
  const group = `silero v5 16 kHz, ${n} stream${n > 1 ? "s" : ""} × 1 window`;
  Deno.bench({
    name: `peer style: sequential session.run per stream (×${n})`,
    group,
    baseline: true,
    async fn() {
      const step = s.step++;
      for (let k = 0; k < n; k++) await s.direct[k].process(windowOf(k, step));
    },
  });
  let bstep = 0;
  Deno.bench({
    name: `Parley: batch scheduler (×${n})`,
    group,
    async fn() {
      const step = bstep++;
      await Promise.all(
        s.batched.map((st, k) => st.process(windowOf(k, step))),
      );
    },
  });
}

// WASM fallback, for hosts without native addons.
for (const n of [1, 8]) {
  const wasm = await getSileroModel({ backend: "wasm", maxBatch: n });
  const streams = Array.from({ length: n }, () => wasm.createStream(16000));
  let step = 0;
  Deno.bench({
    name: `Parley on onnxruntime-web WASM: batch scheduler (×${n})`,
    group: `silero v5 16 kHz WASM`,
    baseline: n === 1,
    async fn() {
      const t = step++;
      await Promise.all(streams.map((st, k) => st.process(windowOf(k, t))));
    },
  });
}

// Backends head to head: one batched inference of N windows (N streams,
// real speech, state carried), called directly — onnxruntime-node,
// onnxruntime-web (WASM SIMD, 1 thread) and Parley's TypeScript forward pass
// (backend "js"), same model file, same inputs.
const wasmOrt = await import("onnxruntime-web");
wasmOrt.env.wasm.numThreads = 1; // it finds its .wasm next to its module
const wasmSession = await wasmOrt.InferenceSession.create(modelPath, {
  executionProviders: ["wasm"],
  graphOptimizationLevel: "all",
});
const jsModel = await SileroJsModel.load(modelPath);
const wasmSr = new wasmOrt.Tensor("int64", BigInt64Array.from([16000n]), []);

/** N streams' input rows and state, advanced one window per call. */
class BatchFeed {
  n: number;
  step = 0;
  input: Float32Array;
  state: Float32Array;
  constructor(n: number) {
    this.n = n;
    this.input = new Float32Array(n * (CTX + WIN));
    this.state = new Float32Array(2 * n * 128);
  }
  next(): Float32Array {
    const t = this.step++;
    for (let k = 0; k < this.n; k++) {
      const row = this.input.subarray(k * (CTX + WIN), (k + 1) * (CTX + WIN));
      row.copyWithin(0, WIN);
      row.set(windowOf(k, t), CTX);
    }
    return this.input;
  }
}

for (const n of [1, 64]) {
  const group = `silero v5 16 kHz backends, one inference of ${n} window${
    n > 1 ? "s" : ""
  }`;
  const fNode = new BatchFeed(n), fWasm = new BatchFeed(n);
  const fJs = new BatchFeed(n);
  Deno.bench({
    name: `onnxruntime-node session.run (×${n})`,
    group,
    warmup: n === 1 ? 300 : 20,
    baseline: true,
    async fn() {
      const r = await session.run({
        input: new ort.Tensor("float32", fNode.next(), [n, CTX + WIN]),
        state: new ort.Tensor("float32", fNode.state, [2, n, 128]),
        sr,
      });
      fNode.state = r.stateN.data as Float32Array;
    },
  });
  Deno.bench({
    name: `onnxruntime-web WASM session.run (×${n})`,
    group,
    warmup: n === 1 ? 300 : 20,
    async fn() {
      const r = await wasmSession.run({
        input: new wasmOrt.Tensor("float32", fWasm.next(), [n, CTX + WIN]),
        state: new wasmOrt.Tensor("float32", fWasm.state, [2, n, 128]),
        sr: wasmSr,
      });
      fWasm.state = r.stateN.data as Float32Array;
    },
  });
  Deno.bench({
    name: `Parley js SileroJsModel.run (×${n})`,
    group,
    warmup: n === 1 ? 300 : 20,
    fn() {
      fJs.state = jsModel.run(fJs.next(), fJs.state, n, 16000).state;
    },
  });
}

// The same three backends by CPU time (all threads of the process), which a
// busy machine disturbs much less than wall-clock time: best of 5 rounds.
async function cpuPerWindow(
  n: number,
  run: (feed: BatchFeed) => Promise<void> | void,
): Promise<number> {
  const feed = new BatchFeed(n);
  const calls = Math.max(4, Math.round(2000 / n));
  for (let i = 0; i < calls; i++) await run(feed);
  let best = Infinity;
  for (let round = 0; round < 5; round++) {
    const t0 = process.cpuUsage();
    for (let i = 0; i < calls; i++) await run(feed);
    const u = process.cpuUsage(t0);
    best = Math.min(best, (u.user + u.system) / (calls * n));
  }
  return best;
}
const cpuLines: string[] = [];
for (const n of [1, 64]) {
  const node = await cpuPerWindow(n, async (f) => {
    const r = await session.run({
      input: new ort.Tensor("float32", f.next(), [n, CTX + WIN]),
      state: new ort.Tensor("float32", f.state, [2, n, 128]),
      sr,
    });
    f.state = r.stateN.data as Float32Array;
  });
  const wasm = await cpuPerWindow(n, async (f) => {
    const r = await wasmSession.run({
      input: new wasmOrt.Tensor("float32", f.next(), [n, CTX + WIN]),
      state: new wasmOrt.Tensor("float32", f.state, [2, n, 128]),
      sr: wasmSr,
    });
    f.state = r.stateN.data as Float32Array;
  });
  const js = await cpuPerWindow(n, (f) => {
    f.state = jsModel.run(f.next(), f.state, n, 16000).state;
  });
  cpuLines.push(
    `×${n}: onnxruntime-node ${node.toFixed(0)} µs, onnxruntime-web ${
      wasm.toFixed(0)
    } µs, js ${js.toFixed(0)} µs`,
  );
}
console.log(
  `CPU time per window, one batched inference: ${cpuLines.join("; ")}`,
);

// Realistic arrival: calls are not in phase, so a window only waits maxWaitMs
// (default 2 ms) for others. Print the batch size this gives at a few loads.
async function staggered(calls: number, seconds: number): Promise<string> {
  const m = await getSileroModel({ backend: "node", maxBatch: 64 + calls });
  const streams = Array.from({ length: calls }, () => m.createStream(16000));
  const before = m.stats;
  const t0 = performance.now();
  await Promise.all(streams.map(async (st, k) => {
    const phase = (k * 32) / calls; // spread evenly over one 32 ms window
    await new Promise((r) => setTimeout(r, phase));
    const steps = Math.round(seconds * 31.25);
    for (let i = 0; i < steps; i++) {
      const due = t0 + phase + (i + 1) * 32;
      await st.process(windowOf(k, i));
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  }));
  const after = m.stats;
  streams.forEach((st) => st.close());
  const batches = after.batches - before.batches;
  const windows = after.windows - before.windows;
  return `${calls} calls: ${
    (windows / batches).toFixed(1)
  } windows per inference`;
}
const lines: string[] = [];
for (const calls of [8, 64, 200]) lines.push(await staggered(calls, 2));
console.log(
  `Staggered real-time arrival (maxWaitMs 2): ${lines.join("; ")}`,
);
