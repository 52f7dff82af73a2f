import assert from "node:assert/strict";
import type { AudioChunk } from "../../src/audio/frame.ts";
import {
  getSttModel,
  moonshineMaxTokens,
  toSttInput,
} from "../../src/speech/stt.ts";
import { ModelNotAvailableError } from "../../src/speech/model_cache.ts";

Deno.test("stt: input is converted to float32 at 16 kHz", () => {
  const i16 = new Int16Array([16384, -32768, 0, 8192]);
  assert.deepEqual(Array.from(toSttInput([16000, i16])), [0.5, -1, 0, 0.25]);
  // 8 kHz tone → 16 kHz: twice the samples, same frequency (zero crossings double).
  const n = 8000;
  const tone = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    tone[i] = 0.5 * Math.sin((2 * Math.PI * 440 * i) / 8000);
  }
  const up = toSttInput([8000, tone]);
  assert.equal(up.length, 2 * n);
  let crossings = 0;
  for (let i = 1; i < up.length; i++) {
    if ((up[i - 1] < 0) !== (up[i] < 0)) crossings++;
  }
  assert.ok(Math.abs(crossings - 880) <= 4, `${crossings}`);
  assert.equal(toSttInput([48000, new Float32Array(4800)]).length, 1600);
  assert.throws(
    () => toSttInput(new Float32Array(3) as unknown as AudioChunk),
    /expects an audio chunk \[sampleRate, samples\]/,
  );
});

Deno.test("stt: token limit follows 6 tokens per second with a floor", () => {
  assert.equal(moonshineMaxTokens(16000 * 10), 60);
  assert.equal(moonshineMaxTokens(8000), 10);
  assert.ok(moonshineMaxTokens(16000 * 2.5) >= 15);
});

Deno.test("stt: missing weights give the model-cache error, offline", async () => {
  const cacheDir = await Deno.makeTempDir();
  try {
    for (const model of ["moonshine/base", "moonshine/tiny"] as const) {
      const err = await getSttModel({ model, cacheDir, offline: true }).then(
        () => undefined,
        (e) => e,
      );
      assert.ok(err instanceof ModelNotAvailableError, String(err));
      const repo = model === "moonshine/base"
        ? "moonshine-base-ONNX"
        : "moonshine-tiny-ONNX";
      assert.equal(
        err.message,
        `Model "${model}" is not available: missing file config.json (expected at ` +
          `${cacheDir}/onnx-community/${repo}/config.json) and downloads are off (offline mode); ` +
          `download it with \`deno task models ${model}\` while online, or copy the file there, ` +
          "or point PARLEY_MODELS_DIR at a folder that has it",
      );
    }
    assert.throws(
      () => getSttModel({ model: "whisper" as "moonshine/base" }),
      /use "moonshine\/base" or "moonshine\/tiny"/,
    );
  } finally {
    await Deno.remove(cacheDir, { recursive: true });
  }
});
