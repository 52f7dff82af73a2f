import { withFetchSpy } from "../support/fetch_spy.ts";
import assert from "node:assert/strict";
import {
  createTtsModel,
  getTtsModel,
  KOKORO_VOICES,
  type KokoroVoice,
  phonemizeForKokoro,
  type ResolvedKokoroOptions,
  resolveKokoroOptions,
} from "../../src/speech/tts.ts";
import {
  MODEL_MANIFEST,
  ModelNotAvailableError,
} from "../../src/speech/model_cache.ts";

Deno.test("tts: option defaults and validation", () => {
  assert.deepEqual(resolveKokoroOptions(), {
    voice: "af_heart",
    speed: 1,
    lang: "en-us",
  });
  assert.deepEqual(resolveKokoroOptions({ lang: "en-gb" }), {
    voice: "bf_emma",
    speed: 1,
    lang: "en-gb",
  });
  assert.deepEqual(resolveKokoroOptions({ voice: "bm_george", speed: 0.5 }), {
    voice: "bm_george",
    speed: 0.5,
    lang: "en-gb",
  });
  assert.throws(
    () => resolveKokoroOptions({ voice: "af_heart", lang: "en-gb" }),
    /speaks en-us, not en-gb; pick a bf_\/bm_ voice/,
  );
  assert.throws(
    () => resolveKokoroOptions({ voice: "zz_nobody" as KokoroVoice }),
    /Unknown Kokoro voice "zz_nobody"; use one of af_heart/,
  );
  assert.throws(
    () => resolveKokoroOptions({ lang: "fr-fr" as "en-us" }),
    /use "en-us" or "en-gb"/,
  );
  for (const speed of [0.49, 2.01, Number.NaN]) {
    assert.throws(
      () => resolveKokoroOptions({ speed }),
      /Invalid Kokoro speed/,
    );
  }
  assert.equal(Object.keys(KOKORO_VOICES).length, 28);
  // Every voice has a manifest file to download.
  const files = new Set(MODEL_MANIFEST.models.kokoro.files.map((f) => f.name));
  for (const v of Object.keys(KOKORO_VOICES)) {
    assert.ok(files.has(`voices/${v}.bin`), v);
  }
});

function fakeEngine() {
  const calls: { text: string; options: ResolvedKokoroOptions }[] = [];
  return {
    calls,
    engine: {
      sampleRate: 24000,
      synthesize(text: string, options: ResolvedKokoroOptions) {
        calls.push({ text, options });
        // 1 sample per character, value = chunk index + 1, so chunks are recognisable.
        return Promise.resolve(
          new Float32Array(text.length).fill(calls.length),
        );
      },
    },
  };
}

Deno.test("tts: streamTts yields a short first clause, then sentences with 1/7 s pauses", async () => {
  const { calls, engine } = fakeEngine();
  const model = createTtsModel(engine);
  const text =
    "The weather in Paris today, as far as I can tell, is sunny and warm. Dr. Smith agrees! Bye.";
  const chunks: [number, Float32Array][] = [];
  for await (
    const c of model.streamTts(text, { voice: "am_michael", speed: 1.2 })
  ) chunks.push(c);
  assert.deepEqual(calls.map((c) => c.text), [
    "The weather in Paris today,",
    "as far as I can tell, is sunny and warm.",
    "Dr. Smith agrees!",
    "Bye.",
  ]);
  assert.deepEqual(calls[0].options, {
    voice: "am_michael",
    speed: 1.2,
    lang: "en-us",
  });
  const pause = Math.floor(24000 / 7);
  assert.deepEqual(chunks.map(([sr, a]) => [sr, a.length]), [
    [24000, calls[0].text.length], // no pause before the first audio
    [24000, calls[1].text.length], // continuation of the first sentence: no pause
    [24000, pause + calls[2].text.length],
    [24000, pause + calls[3].text.length],
  ]);
  assert.equal(chunks[2][1][0], 0);
  assert.equal(chunks[2][1][pause], 3);

  const [sr, all] = await model.tts(text);
  assert.equal(sr, 24000);
  assert.equal(all.length, chunks.reduce((n, [, a]) => n + a.length, 0));
});

Deno.test("tts: long sentences are cut to at most 300 characters; abort stops between chunks", async () => {
  const { calls, engine } = fakeEngine();
  const model = createTtsModel(engine);
  const long = Array.from({ length: 80 }, (_, i) => `word${i}`).join(" ") +
    ", " +
    Array.from({ length: 40 }, (_, i) => `more${i}`).join(" ") + ".";
  await model.tts(long, { speed: 1 });
  assert.ok(calls.length >= 2);
  for (const c of calls) assert.ok(c.text.length <= 300, `${c.text.length}`);
  assert.equal(calls.map((c) => c.text).join(" ").replace(/\s+/g, " "), long);

  const ac = new AbortController();
  const seen: number[] = [];
  await assert.rejects(async () => {
    for await (
      const [, a] of model.streamTts("One. Two. Three. Four.", {
        signal: ac.signal,
      })
    ) {
      seen.push(a.length);
      ac.abort(new Error("barge-in"));
    }
  }, /barge-in/);
  assert.equal(seen.length, 1);
  await assert.rejects(
    () => model.tts("x", { speed: 9 }),
    /Invalid Kokoro speed 9/,
  );
});

Deno.test("tts: phonemization for Kokoro (eSpeak NG via npm phonemizer)", async () => {
  const us = await phonemizeForKokoro("Hello world! Kokoro costs $5.", "en-us");
  assert.match(us, /^həlˈoʊ wˈɜːld! /);
  assert.match(us, /kˈoʊkəɹoʊ/);
  assert.match(us, /dˈɑːlɚz\.$/);
  const gb = await phonemizeForKokoro("Hello, world.", "en-gb");
  assert.equal(gb, "həlˈəʊ, wˈɜːld.");
  assert.doesNotMatch(await phonemizeForKokoro("red rabbit", "en-us"), /r/);
});

Deno.test("tts: missing weights give the model-cache error, offline", async () => {
  const cacheDir = await Deno.makeTempDir();
  try {
    const err = await getTtsModel({ cacheDir, offline: true }).then(
      () => undefined,
      (e) => e,
    );
    assert.ok(err instanceof ModelNotAvailableError, String(err));
    assert.equal(err.command, "deno task models kokoro");
    assert.equal(
      err.path,
      `${cacheDir}/onnx-community/Kokoro-82M-v1.0-ONNX/config.json`,
    );
    assert.ok(err.message.includes("`deno task models kokoro`"));
    assert.throws(
      () => getTtsModel({ model: "cartesia" as "kokoro" }),
      /the on-device model is "kokoro"/,
    );
  } finally {
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("tts: weights are read from the cache folder only, never fetched", async () => {
  const cacheDir = await Deno.makeTempDir();
  const entry = MODEL_MANIFEST.models.kokoro;
  for (const f of entry.files) {
    if (f.optional) continue;
    const p = `${cacheDir}/${entry.repo}/${f.name}`;
    await Deno.mkdir(p.slice(0, p.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(
      p,
      f.name.endsWith(".json") ? "{}" : "not an onnx model",
    );
  }
  try {
    const [err, calls] = await withFetchSpy(async (calls) =>
      [
        await getTtsModel({ cacheDir }).then(() => undefined, (e) => e),
        calls,
      ] as const
    );
    assert.ok(err instanceof Error);
    // transformers.js got to the local file and failed to parse it.
    assert.ok(
      String(err.message).includes(
        `${cacheDir}/${entry.repo}/onnx/model_quantized.onnx`,
      ),
      err.message,
    );
    assert.deepEqual(calls, []);
  } finally {
    await Deno.remove(cacheDir, { recursive: true });
  }
});
