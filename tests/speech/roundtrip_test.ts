// Kokoro → Moonshine round trip. Runs only when the weights are already in the
// model cache (PARLEY_MODELS_DIR or the default); nothing is downloaded here.
import assert from "node:assert/strict";
import { defaultModelsDir } from "../../src/speech/model_cache.ts";
import { getTtsModel } from "../../src/speech/tts.ts";
import { getSttModel, type MoonshineModel } from "../../src/speech/stt.ts";
import { resample } from "../../src/audio/resampler.ts";
import { modelInCache } from "../support/models.ts";

const dir = defaultModelsDir();
const hasKokoro = await modelInCache("kokoro");
const stt: MoonshineModel | undefined = (await modelInCache("moonshine/base"))
  ? "moonshine/base"
  : (await modelInCache("moonshine/tiny"))
  ? "moonshine/tiny"
  : undefined;
const ready = hasKokoro && stt !== undefined;
if (!ready) {
  const missing = [
    ...(hasKokoro ? [] : ["kokoro"]),
    ...(stt ? [] : ["moonshine/base (or moonshine/tiny)"]),
  ];
  console.log(
    `Skipping the Kokoro → Moonshine round trip: ${
      missing.join(" and ")
    } not in ` +
      `the model cache ${dir}. Run \`deno task models kokoro moonshine/base\` ` +
      `while online (or set PARLEY_MODELS_DIR to a folder that has them).`,
  );
}

Deno.test({
  name: "speech: Kokoro says 'hello world', Moonshine hears 'hello'",
  ignore: !ready,
  // transformers.js keeps ONNX sessions for the process lifetime (cached models).
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const tts = await getTtsModel();
    const [rate, audio] = await tts.tts("Hello world.");
    assert.equal(rate, 24000);
    assert.ok(audio.length > 0.3 * rate, `only ${audio.length} samples`);
    let peak = 0;
    for (const v of audio) peak = Math.max(peak, Math.abs(v));
    assert.ok(peak > 0.01 && peak <= 1.5, `peak ${peak}`);
    const asr = await getSttModel({ model: stt });
    const text = await asr.stt([rate, audio]);
    console.log(`${stt} heard: ${JSON.stringify(text)}`);
    assert.match(text.toLowerCase(), /hello/);
    // And through 8 kHz phone audio.
    const phone = resample(audio, { inputRate: rate, outputRate: 8000 });
    const heard8k = await asr.stt([8000, phone]);
    console.log(`${stt} heard at 8 kHz: ${JSON.stringify(heard8k)}`);
    assert.match(heard8k.toLowerCase(), /hello/);
  },
});
