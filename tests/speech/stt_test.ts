import assert from "node:assert/strict";
import type { AudioChunk } from "../../src/audio/frame.ts";
import {
  closeSttModels,
  getSttModel,
  toSttInput,
} from "../../src/speech/stt.ts";
import {
  decodeMoonshineTokens,
  moonshineMaxTokens,
  MoonshineRunner,
} from "../../src/speech/moonshine.ts";
import {
  defaultModelsDir,
  ensureModel,
  ModelNotAvailableError,
} from "../../src/speech/model_cache.ts";
import { decodeMulaw } from "../../src/audio/mulaw.ts";
import { readWavFile } from "../../src/audio/wav.ts";
import { modelInCache } from "../support/models.ts";

const fixture = (name: string) =>
  new URL(`../fixtures/${name}`, import.meta.url).pathname;

const hasTiny = await modelInCache("moonshine/tiny");
const hasBase = await modelInCache("moonshine/base");
for (
  const [id, ok] of [["moonshine/tiny", hasTiny], [
    "moonshine/base",
    hasBase,
  ]] as const
) {
  if (!ok) {
    console.log(
      `Skipping the real ${id} tests: the model is not in the cache ` +
        `${defaultModelsDir()}. Run \`deno task models ${id}\` once (it ` +
        `fetches Moonshine AI's npm tarball from registry.npmjs.org), or set ` +
        `PARLEY_MODELS_DIR to a folder that has it.`,
    );
  }
}
const hasEspeak = await new Deno.Command("espeak-ng", { args: ["--version"] })
  .output().then((o) => o.success, () => false);
if (!hasEspeak) {
  console.log(
    "Skipping the espeak-ng → Moonshine test: espeak-ng is not installed (apt-get install espeak-ng)",
  );
}

/** Lowercase words without punctuation, for comparing transcripts. */
function words(text: string): string[] {
  return text.toLowerCase().replace(/[^a-z0-9' ]+/g, " ").split(/\s+/)
    .filter(Boolean);
}

/** Word error rate of `heard` against `truth` (Levenshtein over words). */
function wordErrorRate(truth: string, heard: string): number {
  const a = words(truth);
  const b = words(heard);
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(
        prev[j] + 1,
        cur[j - 1] + 1,
        prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    prev = cur;
  }
  return prev[b.length] / a.length;
}

const JFK =
  "And so my fellow Americans ask not what your country can do for you ask what you can do for your country";

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

Deno.test("stt: token decoding drops special tokens and joins byte tokens", async () => {
  // Ids of Llama's SentencePiece vocabulary (Moonshine's first 32000):
  // 15043 "▁Hello", 3186 "▁world", 29892 ",", 29991 "!"; 1 start, 2 end,
  // ≥ 32000 Moonshine's special tokens. <0xC3><0xA9> is "é" as two byte tokens.
  assert.equal(
    await decodeMoonshineTokens([1, 15043, 29892, 3186, 29991, 32003, 2]),
    "Hello, world!",
  );
  assert.equal(await decodeMoonshineTokens([]), "");
  assert.equal(await decodeMoonshineTokens([1, 2, 32100]), "");
  const e = 3 + 0xc3;
  const acute = 3 + 0xa9;
  assert.equal(await decodeMoonshineTokens([15043, e, acute]), "Helloé");
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
      assert.equal(err.path, `${cacheDir}/${model}/encoder_model.onnx`);
      assert.match(err.message, /downloads are off \(offline mode\)/);
      assert.ok(
        err.message.includes(`\`deno task models ${model}\``),
        err.message,
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

Deno.test("stt: a file that is not Moonshine is refused with what to do", async () => {
  const vad = new URL(
    "../../node_modules/@ricky0123/vad-web/dist/silero_vad_v5.onnx",
    import.meta.url,
  ).pathname;
  await assert.rejects(
    MoonshineRunner.load({ encoderPath: vad, decoderPath: vad }),
    /is not a Moonshine encoder \(no input "input_values"\)/,
  );
  await assert.rejects(
    MoonshineRunner.load({
      encoderPath: "/nonexistent/encoder_model.onnx",
      decoderPath: vad,
    }),
    /Cannot load the Moonshine model file \/nonexistent\/encoder_model\.onnx/,
  );
  await assert.rejects(
    MoonshineRunner.load({ encoderPath: vad, decoderPath: vad, threads: 0 }),
    /threads must be a whole number/,
  );
});

for (const model of ["moonshine/tiny", "moonshine/base"] as const) {
  const ready = model === "moonshine/tiny" ? hasTiny : hasBase;
  Deno.test({
    name: `stt: ${model} transcribes real speech (JFK, 16 kHz and 8 kHz μ-law)`,
    ignore: !ready,
    async fn() {
      const stt = await getSttModel({ model });
      const jfk = await readWavFile(fixture("jfk.wav"));
      const text = await stt.stt([jfk.sampleRate, jfk.samples]);
      console.log(`${model} heard: ${JSON.stringify(text)}`);
      assert.ok(wordErrorRate(JFK, text) <= 0.1, text);
      // What a phone caller sends: 8 kHz G.711 μ-law.
      const ulaw = await Deno.readFile(fixture("jfk_8k.ulaw"));
      const phone = await stt.stt([8000, decodeMulaw(ulaw)]);
      console.log(`${model} heard at 8 kHz: ${JSON.stringify(phone)}`);
      assert.ok(wordErrorRate(JFK, phone) <= 0.2, phone);
      // Silence is not turned into words.
      assert.equal(await stt.stt([16000, new Float32Array(16000)]), "");
      assert.equal(await stt.stt([16000, new Int16Array(0)]), "");
    },
  });
}

Deno.test({
  name:
    "stt: the wasm backend (onnxruntime-web, no native code) transcribes the same speech",
  ignore: !hasTiny,
  async fn() {
    const stt = await getSttModel({ model: "moonshine/tiny", backend: "wasm" });
    const jfk = await readWavFile(fixture("jfk.wav"));
    const text = await stt.stt([jfk.sampleRate, jfk.samples]);
    console.log(`moonshine/tiny on wasm heard: ${JSON.stringify(text)}`);
    assert.ok(wordErrorRate(JFK, text) <= 0.1, text);
  },
});

Deno.test({
  name: "stt: concurrent calls queue on one model and each gets its own text",
  ignore: !hasTiny,
  async fn() {
    const stt = await getSttModel({ model: "moonshine/tiny" });
    const jfk = await readWavFile(fixture("jfk.wav"));
    // First phrase (0.33–2.11 s) and last phrase (8.19–10.35 s) of jfk.wav.
    const first = jfk.samples.subarray(0, Math.round(2.4 * 16000));
    const last = jfk.samples.subarray(Math.round(8.0 * 16000));
    const [a, b] = await Promise.all([
      stt.stt([16000, first]),
      stt.stt([16000, last]),
    ]);
    assert.match(a.toLowerCase(), /fellow americans/, a);
    assert.doesNotMatch(a.toLowerCase(), /what you can do/, a);
    assert.match(b.toLowerCase(), /what you can do for your country/, b);
    assert.doesNotMatch(b.toLowerCase(), /fellow/, b);
  },
});

Deno.test({
  name: "stt: an aborted transcription rejects and the model keeps working",
  ignore: !hasTiny,
  async fn() {
    const resolved = await ensureModel("moonshine/tiny", { offline: true });
    const runner = await MoonshineRunner.load({
      encoderPath: resolved.files["encoder_model.onnx"],
      decoderPath: resolved.files["decoder_model_merged.onnx"],
    });
    try {
      const jfk = await readWavFile(fixture("jfk.wav"));
      const audio = toSttInput([16000, jfk.samples]);
      const controller = new AbortController();
      const aborted = runner.transcribe(audio, { signal: controller.signal });
      controller.abort(new Error("caller hung up"));
      await assert.rejects(aborted, /caller hung up/);
      const ids = await runner.transcribe(audio.subarray(0, 2.4 * 16000));
      assert.match(await decodeMoonshineTokens(ids), /fellow Americans/i);
      // A token cap is honoured.
      assert.equal(
        (await runner.transcribe(audio, { maxTokens: 3 })).length,
        3,
      );
    } finally {
      await runner.close();
    }
    await assert.rejects(
      runner.transcribe(new Float32Array(16000)),
      /was closed; load it again/,
    );
  },
});

Deno.test({
  name:
    "stt: one caller's abort neither breaks a shared load nor waits for a queued turn; close() twice releases once",
  ignore: !hasTiny,
  async fn() {
    // Two callers share one load; the first gives up at once.
    const gone = getSttModel({
      model: "moonshine/tiny",
      signal: AbortSignal.abort(new Error("first caller left")),
    });
    const kept = getSttModel({ model: "moonshine/tiny" });
    await assert.rejects(gone, /first caller left/);
    const stt = await kept;
    const jfk = await readWavFile(fixture("jfk.wav"));
    assert.match(
      await stt.stt([16000, jfk.samples.subarray(0, 2.4 * 16000)]),
      /fellow Americans/i,
    );
    // A queued call rejects when aborted, before the running one finishes.
    const resolved = await ensureModel("moonshine/tiny", { offline: true });
    const runner = await MoonshineRunner.load({
      encoderPath: resolved.files["encoder_model.onnx"],
      decoderPath: resolved.files["decoder_model_merged.onnx"],
    });
    const audio = toSttInput([16000, jfk.samples]);
    const order: string[] = [];
    const first = runner.transcribe(audio).then(() => order.push("first"));
    const controller = new AbortController();
    const queued = runner.transcribe(audio, { signal: controller.signal })
      .catch((e) => order.push(`queued: ${e.message}`));
    controller.abort(new Error("hung up"));
    await Promise.all([first, queued]);
    assert.deepEqual(order, ["queued: hung up", "first"]);
    const a = runner.close();
    const b = runner.close();
    assert.equal(a, b, "one release");
    await a;
  },
});

Deno.test({
  name:
    "stt: Moonshine runs in a worker by default, so transcribing does not stall the event loop (vs workers: 0), with the same text",
  ignore: !hasBase,
  async fn() {
    const jfk = await readWavFile(fixture("jfk.wav"));
    /** Longest pause of a 2 ms timer while `fn` runs. */
    const longestStall = async (fn: () => Promise<string>) => {
      let last = performance.now();
      let worst = 0;
      const timer = setInterval(() => {
        const now = performance.now();
        worst = Math.max(worst, now - last);
        last = now;
      }, 2);
      try {
        const text = await fn();
        worst = Math.max(worst, performance.now() - last);
        return { text, worst };
      } finally {
        clearInterval(timer);
      }
    };
    const inWorker = await getSttModel({ model: "moonshine/base" });
    const onThread = await getSttModel({ model: "moonshine/base", workers: 0 });
    assert.notEqual(inWorker, onThread);
    const warm: AudioChunk = [16000, jfk.samples.subarray(0, 32000)];
    await inWorker.stt(warm);
    await onThread.stt(warm);
    const a = await longestStall(() => onThread.stt([16000, jfk.samples]));
    const b = await longestStall(() => inWorker.stt([16000, jfk.samples]));
    console.log(
      `longest event-loop stall while transcribing JFK with moonshine/base: ` +
        `${a.worst.toFixed(0)} ms on the calling thread, ${
          b.worst.toFixed(0)
        } ms with the worker`,
    );
    assert.equal(b.text, a.text);
    assert.ok(b.worst * 3 < a.worst, `${b.worst} vs ${a.worst}`);
  },
});

Deno.test({
  name:
    "stt: worker pool — parallel callers get their own text; abort, bad options and bad files give clear errors",
  ignore: !hasTiny,
  async fn() {
    const jfk = await readWavFile(fixture("jfk.wav"));
    const stt = await getSttModel({ model: "moonshine/tiny", workers: 2 });
    const first = jfk.samples.subarray(0, Math.round(2.4 * 16000));
    const last = jfk.samples.subarray(Math.round(8.0 * 16000));
    const [x, y] = await Promise.all([
      stt.stt([16000, first]),
      stt.stt([16000, last]),
    ]);
    assert.match(x.toLowerCase(), /fellow americans/, x);
    assert.match(y.toLowerCase(), /what you can do for your country/, y);
    // The caller's buffer is not handed away to the worker.
    assert.equal(first.length, Math.round(2.4 * 16000));
    // An aborted transcription rejects with the caller's reason, at once;
    // the workers keep serving.
    const controller = new AbortController();
    const aborted = stt.stt([16000, jfk.samples], {
      signal: controller.signal,
    });
    controller.abort(new Error("caller hung up"));
    await assert.rejects(aborted, /caller hung up/);
    assert.match(await stt.stt([16000, first]), /fellow Americans/i);
    assert.throws(
      () => getSttModel({ model: "moonshine/tiny", workers: -1 }),
      /workers must be a whole number ≥ 1, or 0/,
    );
    // A model file that is not ONNX: the worker's load error reaches the caller.
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeTextFile(`${dir}/encoder_model.onnx`, "not onnx");
      await Deno.writeTextFile(`${dir}/decoder_model_merged.onnx`, "not onnx");
      await assert.rejects(
        getSttModel({ model: "moonshine/tiny", localDir: dir }),
        /Cannot load the Moonshine model file .*encoder_model\.onnx/,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "stt: closeSttModels releases loaded models; the next call loads again",
  ignore: !hasTiny,
  async fn() {
    const before = await getSttModel({ model: "moonshine/tiny" });
    await closeSttModels();
    await assert.rejects(
      before.stt([16000, new Float32Array(16000)]),
      /was closed; load it again/,
    );
    const after = await getSttModel({ model: "moonshine/tiny" });
    assert.notEqual(after, before);
    assert.equal(await after.stt([16000, new Float32Array(16000)]), "");
  },
});

Deno.test({
  name:
    "stt: espeak-ng says 'hello world, how are you today', Moonshine hears it",
  ignore: !hasTiny || !hasEspeak,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const wav = `${dir}/hello.wav`;
      const out = await new Deno.Command("espeak-ng", {
        args: ["-v", "en-us", "-w", wav, "Hello world, how are you today?"],
      }).output();
      assert.ok(out.success, new TextDecoder().decode(out.stderr));
      // espeak-ng writes 22.05 kHz: this also exercises the resampling.
      const { sampleRate, samples } = await readWavFile(wav);
      assert.equal(sampleRate, 22050);
      const stt = await getSttModel({ model: "moonshine/tiny" });
      const text = await stt.stt([sampleRate, samples]);
      console.log(`moonshine/tiny heard espeak-ng: ${JSON.stringify(text)}`);
      // (A bare one-second "Hello world." is too short for Moonshine tiny to
      // hear reliably; models/README.md lists this limit.)
      assert.deepEqual(words(text), [
        "hello",
        "world",
        "how",
        "are",
        "you",
        "today",
      ]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
