// PLUMBING test of getTtsModel() (Kokoro), NOT an audio-quality test.
//
// The real Kokoro weights (onnx-community/Kokoro-82M-v1.0-ONNX) cannot be
// downloaded on the machines this project is built on, so this test writes a
// SYNTHETIC stand-in into a temporary model cache, in the layout of
// models/manifest.json, and runs the real code path on it: ensureModel
// (offline) → transformers.js 4.3.1 `StyleTextToSpeech2Model.from_pretrained`
// (dtype q8 → onnx/model_quantized.onnx) and `AutoTokenizer.from_pretrained`
// → npm phonemizer → voices/<voice>.bin style row → an onnxruntime-node
// session run → `waveform`. A wrong file name or layout, load option, input
// name, tensor dtype or shape, or output name in src/speech/tts.ts fails it.
//
// Every test runs twice: with Kokoro in a worker thread (getTtsModel's
// default) and on the calling thread (`workers: 0`), with the same expected
// samples. The fetch spy sees the calling thread only; in a worker,
// transformers.js is kept offline by loadLocal's settings alone.
//
// What it cannot tell: whether speech sounds right, whether the real
// tokenizer.json maps phonemes exactly like the stand-in below, or how the
// real model's output length depends on text and speed.
//
// Facts the stand-in copies from public sources:
// - Inputs `input_ids` (int64 [1, T]), `style` (float32 [1, 256]), `speed`
//   (float32 [1]); output `waveform` (float32); the style row is picked by
//   token count minus 2; 24 kHz: hexgrad/kokoro, kokoro.js/src/kokoro.js
//   (`generate_from_ids`; `STYLE_DIM = 256`, `SAMPLE_RATE = 24000`).
// - Token ids: one per phoneme character, unknown characters dropped, the
//   sequence wrapped in id 0 (`[[0, *input_ids, 0]]`), at most 512 ids:
//   hexgrad/kokoro, kokoro/model.py (`KModel.forward`, context length =
//   plbert max_position_embeddings 512).
// - The phoneme → id table (`vocab` of hexgrad/Kokoro-82M config.json, 114
//   entries, non-contiguous ids 1…177): as embedded byte for byte from
//   mlx-community/Kokoro-82M-bf16's config.json in a public Swift test
//   (KokoroMLXConfigDecodeTests.swift); copied into KOKORO_VOCAB below.
// - config.json of the ONNX repo is 44 bytes (a public file list pins
//   config.json 44, tokenizer.json 3497, tokenizer_config.json 113 bytes:
//   nico-martin/kitt, src/brain/borcasArea/kokoro/constants.ts), which is
//   exactly `{\n  "model_type": "style_text_to_speech_2"\n}`; that model
//   type is the one transformers.js registers StyleTextToSpeech2Model under
//   (src/models/registry.js).
// - The tokenizer.json below is a RECONSTRUCTION (the real file was not
//   readable from here): a WordLevel model over KOKORO_VOCAB plus "$" = 0, a
//   normalizer that drops characters outside the vocabulary, a per-character
//   split and a template that adds "$" at both ends, i.e. KModel.forward's
//   mapping expressed in Hugging Face tokenizers terms.
// - Voice files are float32 [510, 256] (models/manifest.json; public analyses
//   of voices/*.pt report shape (510, 1, 256) float32).

import assert from "node:assert/strict";
import {
  closeTtsModels,
  getTtsModel,
  phonemizeForKokoro,
} from "../../src/speech/tts.ts";
import { splitForTts } from "../../src/speech/text.ts";
import {
  MODEL_MANIFEST,
  ModelNotAvailableError,
} from "../../src/speech/model_cache.ts";
import { withFetchSpy } from "../support/fetch_spy.ts";
import { encodeOnnxModel, type OnnxModel } from "../support/onnx_writer.ts";

/** hexgrad/Kokoro-82M config.json `vocab` (see the sources above). */
const KOKORO_VOCAB: Record<string, number> = {
  ";": 1,
  ":": 2,
  ",": 3,
  ".": 4,
  "!": 5,
  "?": 6,
  "—": 9,
  "…": 10,
  '"': 11,
  "(": 12,
  ")": 13,
  "“": 14,
  "”": 15,
  " ": 16,
  "\u0303": 17,
  "ʣ": 18,
  "ʥ": 19,
  "ʦ": 20,
  "ʨ": 21,
  "ᵝ": 22,
  "ꭧ": 23,
  "A": 24,
  "I": 25,
  "O": 31,
  "Q": 33,
  "S": 35,
  "T": 36,
  "W": 39,
  "Y": 41,
  "ᵊ": 42,
  "a": 43,
  "b": 44,
  "c": 45,
  "d": 46,
  "e": 47,
  "f": 48,
  "h": 50,
  "i": 51,
  "j": 52,
  "k": 53,
  "l": 54,
  "m": 55,
  "n": 56,
  "o": 57,
  "p": 58,
  "q": 59,
  "r": 60,
  "s": 61,
  "t": 62,
  "u": 63,
  "v": 64,
  "w": 65,
  "x": 66,
  "y": 67,
  "z": 68,
  "ɑ": 69,
  "ɐ": 70,
  "ɒ": 71,
  "æ": 72,
  "β": 75,
  "ɔ": 76,
  "ɕ": 77,
  "ç": 78,
  "ɖ": 80,
  "ð": 81,
  "ʤ": 82,
  "ə": 83,
  "ɚ": 85,
  "ɛ": 86,
  "ɜ": 87,
  "ɟ": 90,
  "ɡ": 92,
  "ɥ": 99,
  "ɨ": 101,
  "ɪ": 102,
  "ʝ": 103,
  "ɯ": 110,
  "ɰ": 111,
  "ŋ": 112,
  "ɳ": 113,
  "ɲ": 114,
  "ɴ": 115,
  "ø": 116,
  "ɸ": 118,
  "θ": 119,
  "œ": 120,
  "ɹ": 123,
  "ɾ": 125,
  "ɻ": 126,
  "ʁ": 128,
  "ɽ": 129,
  "ʂ": 130,
  "ʃ": 131,
  "ʈ": 132,
  "ʧ": 133,
  "ʊ": 135,
  "ʋ": 136,
  "ʌ": 138,
  "ɣ": 139,
  "ɤ": 140,
  "χ": 142,
  "ʎ": 143,
  "ʒ": 147,
  "ʔ": 148,
  "ˈ": 156,
  "ˌ": 157,
  "ː": 158,
  "ʰ": 162,
  "ʲ": 164,
  "↓": 169,
  "→": 171,
  "↗": 172,
  "↘": 173,
  "ᵻ": 177,
};

const STYLE_DIM = 256;
const STYLE_ROWS = 510;
/** Stand-in output samples per token at speed 1. */
const SAMPLES_PER_TOKEN = 300;
/** Stand-in output scale, so samples stay well inside −1..1. */
const GAIN = 0.01;
/** Voices written to the fake cache (af_heart is the one fetched up front). */
const VOICES = ["af_heart", "am_michael", "bf_emma"] as const;

/** Weight of style element i in the stand-in's style → scalar projection. */
function styleWeight(i: number): number {
  return ((i % 5) + 1) / 768;
}

/** Element i of row `row` of voice number `v`: distinct per voice and row. */
function voiceValue(v: number, row: number, i: number): number {
  return 0.1 * (v + 1) + 0.002 * row + 0.003 * ((i * 7) % 11);
}

/**
 * The stand-in Kokoro graph, with the real model's input and output names,
 * dtypes and shapes:
 *   s = style · W                              ([1, 256] · [256, 1])
 *   y_t = tanh(GAIN · (input_ids_t · s + speed)) for each token t
 *   waveform = each y_t repeated ceil(300 / speed) times   (float32 [N])
 * so its length follows the token count and the speed, and its values follow
 * the token ids, the style row and the speed.
 */
function standInModel(): OnnxModel {
  return {
    name: "kokoro_plumbing_stand_in",
    opset: 17,
    inputs: [
      { name: "input_ids", type: "int64", shape: [1, "sequence_length"] },
      { name: "style", type: "float32", shape: [1, STYLE_DIM] },
      { name: "speed", type: "float32", shape: [1] },
    ],
    outputs: [{ name: "waveform", type: "float32", shape: ["num_samples"] }],
    initializers: [
      {
        name: "W",
        type: "float32",
        dims: [STYLE_DIM, 1],
        values: Array.from({ length: STYLE_DIM }, (_, i) => styleWeight(i)),
      },
      { name: "gain", type: "float32", dims: [], values: [GAIN] },
      {
        name: "per_token",
        type: "float32",
        dims: [1],
        values: [SAMPLES_PER_TOKEN],
      },
      { name: "one", type: "int64", dims: [1], values: [1] },
      { name: "to_column", type: "int64", dims: [2], values: [-1, 1] },
      { name: "to_flat", type: "int64", dims: [1], values: [-1] },
    ],
    nodes: [
      {
        op: "Cast",
        inputs: ["input_ids"],
        outputs: ["ids"],
        attributes: { to: { int: 1 } },
      },
      { op: "MatMul", inputs: ["style", "W"], outputs: ["s"] },
      { op: "Mul", inputs: ["ids", "s"], outputs: ["a"] },
      { op: "Add", inputs: ["a", "speed"], outputs: ["b"] },
      { op: "Mul", inputs: ["b", "gain"], outputs: ["c"] },
      { op: "Tanh", inputs: ["c"], outputs: ["y"] },
      { op: "Reshape", inputs: ["y", "to_column"], outputs: ["col"] },
      { op: "Div", inputs: ["per_token", "speed"], outputs: ["k_f"] },
      { op: "Ceil", inputs: ["k_f"], outputs: ["k_c"] },
      {
        op: "Cast",
        inputs: ["k_c"],
        outputs: ["k"],
        attributes: { to: { int: 7 } },
      },
      {
        op: "Concat",
        inputs: ["one", "k"],
        outputs: ["shape"],
        attributes: { axis: { int: 0 } },
      },
      { op: "Expand", inputs: ["col", "shape"], outputs: ["grid"] },
      { op: "Reshape", inputs: ["grid", "to_flat"], outputs: ["waveform"] },
    ],
  };
}

function tokenizerJson(): unknown {
  const chars = Object.keys(KOKORO_VOCAB)
    .map((c) => c.replace(/[\\\]^-]/g, "\\$&"))
    .join("");
  const dollar = { SpecialToken: { id: "$", type_id: 0 } };
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [{
      id: 0,
      content: "$",
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    }],
    normalizer: {
      type: "Replace",
      pattern: { Regex: `[^$${chars}]` },
      content: "",
    },
    pre_tokenizer: {
      type: "Split",
      pattern: { Regex: "" },
      behavior: "Isolated",
      invert: false,
    },
    post_processor: {
      type: "TemplateProcessing",
      single: [dollar, { Sequence: { id: "A", type_id: 0 } }, dollar],
      pair: [
        dollar,
        { Sequence: { id: "A", type_id: 0 } },
        dollar,
        { Sequence: { id: "B", type_id: 1 } },
        dollar,
      ],
      special_tokens: { $: { id: "$", ids: [0], tokens: ["$"] } },
    },
    decoder: null,
    model: {
      type: "WordLevel",
      vocab: { $: 0, ...KOKORO_VOCAB },
      unk_token: "$",
    },
  };
}

/** Writes the stand-in Kokoro into `<cacheDir>/<repo>/` as the manifest lists it. */
async function writeFakeKokoro(cacheDir: string): Promise<string> {
  const entry = MODEL_MANIFEST.models.kokoro;
  const dir = `${cacheDir}/${entry.repo}`;
  await Deno.mkdir(`${dir}/onnx`, { recursive: true });
  await Deno.mkdir(`${dir}/voices`, { recursive: true });
  await Deno.writeTextFile(
    `${dir}/config.json`,
    '{\n  "model_type": "style_text_to_speech_2"\n}',
  );
  await Deno.writeTextFile(
    `${dir}/tokenizer.json`,
    JSON.stringify(tokenizerJson()),
  );
  await Deno.writeTextFile(
    `${dir}/tokenizer_config.json`,
    JSON.stringify({
      model_max_length: 512,
      pad_token: "$",
      unk_token: "$",
      tokenizer_class: "PreTrainedTokenizer",
    }),
  );
  await Deno.writeFile(
    `${dir}/onnx/model_quantized.onnx`,
    encodeOnnxModel(standInModel()),
  );
  for (const [v, name] of VOICES.entries()) {
    const data = new Float32Array(STYLE_ROWS * STYLE_DIM);
    for (let row = 0; row < STYLE_ROWS; row++) {
      for (let i = 0; i < STYLE_DIM; i++) {
        data[row * STYLE_DIM + i] = voiceValue(v, row, i);
      }
    }
    await Deno.writeFile(
      `${dir}/voices/${name}.bin`,
      new Uint8Array(data.buffer),
    );
  }
  // Every non-optional manifest file must now be there, or ensureModel
  // (offline) would refuse the folder before transformers.js sees it.
  for (const f of entry.files) {
    if (!f.optional) await Deno.stat(`${dir}/${f.name}`);
  }
  return dir;
}

/**
 * What the stand-in must return for one chunk of text if tts.ts wires
 * everything as the real contract says: ids = [0, vocab ids of the phoneme
 * characters, 0], style row = token count − 2, `speed` passed through.
 */
async function expectedChunk(
  text: string,
  voice: (typeof VOICES)[number],
  lang: "en-us" | "en-gb",
  speed: number,
): Promise<Float32Array> {
  const phonemes = await phonemizeForKokoro(text, lang);
  const ids = [
    0,
    ...[...phonemes].flatMap((c) => c in KOKORO_VOCAB ? [KOKORO_VOCAB[c]] : []),
    0,
  ];
  const row = Math.min(Math.max(ids.length - 2, 0), STYLE_ROWS - 1);
  const v = VOICES.indexOf(voice);
  let s = 0;
  for (let i = 0; i < STYLE_DIM; i++) {
    s += Math.fround(voiceValue(v, row, i)) * Math.fround(styleWeight(i));
  }
  const k = Math.ceil(Math.fround(SAMPLES_PER_TOKEN / Math.fround(speed)));
  const out = new Float32Array(ids.length * k);
  ids.forEach((id, t) =>
    out.fill(
      Math.tanh(GAIN * (id * s + Math.fround(speed))),
      t * k,
      (t + 1) * k,
    )
  );
  return out;
}

function assertClose(
  actual: Float32Array,
  expected: Float32Array,
  what: string,
) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) {
    worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  }
  assert.ok(worst < 1e-5, `${what}: samples differ by up to ${worst}`);
}

/** Kokoro in a worker thread (the default), or on the calling thread. */
const MODES = [
  { mode: "in a worker", workers: undefined },
  { mode: "workers: 0", workers: 0 },
] as const;

for (const { mode, workers } of MODES) {
  Deno.test(`kokoro plumbing (synthetic stand-in model, not audio quality, ${mode}): cache folder → transformers.js → phonemizer → voice row → ONNX run`, async () => {
    const cacheDir = await Deno.makeTempDir({ prefix: "kokoro_plumbing_" });
    try {
      await writeFakeKokoro(cacheDir);
      await withFetchSpy(async (calls) => {
        const model = await getTtsModel({ cacheDir, offline: true, workers });
        assert.equal(model.sampleRate, 24000);
        assert.equal(
          await getTtsModel({ cacheDir, offline: true, workers }),
          model,
        );

        // One chunk: exact samples, so ids, style row and speed all arrive.
        const short = "Hello world.";
        const [rate, audio] = await model.tts(short);
        assert.equal(rate, 24000);
        assert.ok(audio instanceof Float32Array);
        assert.ok(audio.length > 0);
        assertClose(
          audio,
          await expectedChunk(short, "af_heart", "en-us", 1),
          "af_heart",
        );

        // Longer text → longer waveform.
        const long = "Hello world and good morning to everybody here.";
        const [, longer] = await model.tts(long);
        assert.ok(
          longer.length > audio.length,
          `${longer.length} > ${audio.length}`,
        );
        assertClose(
          longer,
          await expectedChunk(long, "af_heart", "en-us", 1),
          "long text",
        );

        // Another voice → same length, different samples (its own file).
        const [, michael] = await model.tts(short, { voice: "am_michael" });
        assert.equal(michael.length, audio.length);
        assert.notDeepEqual(michael, audio);
        assertClose(
          michael,
          await expectedChunk(short, "am_michael", "en-us", 1),
          "am_michael",
        );

        // British voice → en-gb phonemes and bf_emma's styles.
        const [, emma] = await model.tts(short, { voice: "bf_emma" });
        assertClose(
          emma,
          await expectedChunk(short, "bf_emma", "en-gb", 1),
          "bf_emma",
        );

        // Speed reaches the model as float32 [1].
        const [, fast] = await model.tts(short, { speed: 2 });
        assert.equal(fast.length, audio.length / 2);
        assertClose(
          fast,
          await expectedChunk(short, "af_heart", "en-us", 2),
          "speed 2",
        );

        // streamTts: one ONNX run per chunk, 1/7 s pause before a new sentence.
        const text = "Hi there. How are you today?";
        const chunks = splitForTts(text);
        assert.deepEqual(chunks, ["Hi there.", "How are you today?"]);
        const got: [number, Float32Array][] = [];
        for await (const c of model.streamTts(text)) got.push(c);
        assert.equal(got.length, 2);
        assert.deepEqual(got.map(([r]) => r), [24000, 24000]);
        assertClose(
          got[0][1],
          await expectedChunk(chunks[0], "af_heart", "en-us", 1),
          "stream chunk 1",
        );
        const pause = Math.floor(24000 / 7);
        const second = await expectedChunk(chunks[1], "af_heart", "en-us", 1);
        assert.equal(got[1][1].length, pause + second.length);
        assert.ok(got[1][1].subarray(0, pause).every((x) => x === 0));
        assertClose(got[1][1].subarray(pause), second, "stream chunk 2");

        assert.deepEqual(calls, [], "nothing may be fetched");
      });
    } finally {
      await closeTtsModels();
      await Deno.remove(cacheDir, { recursive: true });
    }
  });

  Deno.test(`kokoro plumbing (synthetic stand-in model, ${mode}): a chunk whose phonemes exceed one run (digits) is split, not truncated`, async () => {
    const cacheDir = await Deno.makeTempDir({ prefix: "kokoro_plumbing_" });
    try {
      await writeFakeKokoro(cacheDir);
      const model = await getTtsModel({ cacheDir, offline: true, workers });
      // 296 characters (under the 300-character chunk cap), far over 510
      // phonemes once the numbers are spelled out.
      const text = Array.from({ length: 27 }, () => "1234567890").join(" ");
      assert.deepEqual(splitForTts(text), [text], "one text chunk");
      // Spelled out, one number is ~105 phonemes; the whole text is ~2,860,
      // more than 5 runs of 510. (The npm phonemizer also stops at ~1,460
      // characters of output, so phonemizing the whole chunk at once would
      // lose its second half even before the model's 512-id limit.)
      const one = await phonemizeForKokoro("1234567890", "en-us");
      assert.ok([...one].every((c) => c in KOKORO_VOCAB), one);
      const full = 27 * one.length + 26; // numbers and the spaces between them
      const [, audio] = await model.tts(text);
      // The stand-in emits SAMPLES_PER_TOKEN samples per token id.
      assert.equal(audio.length % SAMPLES_PER_TOKEN, 0);
      const tokens = audio.length / SAMPLES_PER_TOKEN;
      // Every phoneme arrived: each piece adds its two end ids and loses the
      // space it was cut at, so ids = phonemes + pieces + 1.
      const pieces = tokens - full - 1;
      assert.ok(pieces >= 6 && pieces <= 16, `${tokens} ids: ${pieces} pieces`);
      // The audio opens with a run of whole numbers spoken as one piece
      // (halving cuts at spaces, never inside a number).
      let matched = 0;
      for (let k = 1; k <= 6 && !matched; k++) {
        const piece = Array.from({ length: k }, () => "1234567890").join(" ");
        const want = await expectedChunk(piece, "af_heart", "en-us", 1);
        const got = audio.subarray(0, want.length);
        if (got.every((x, i) => Math.abs(x - want[i]) < 1e-5)) matched = k;
      }
      assert.ok(matched > 0, "the first piece is whole numbers");
    } finally {
      await closeTtsModels();
      await Deno.remove(cacheDir, { recursive: true });
    }
  });

  Deno.test(`kokoro plumbing (synthetic stand-in model, ${mode}): a voice missing from the cache gives the offline model-cache error naming its file`, async () => {
    const cacheDir = await Deno.makeTempDir({ prefix: "kokoro_plumbing_" });
    try {
      const dir = await writeFakeKokoro(cacheDir);
      await withFetchSpy(async (calls) => {
        const model = await getTtsModel({ cacheDir, offline: true, workers });
        const err = await model.tts("Hello.", { voice: "af_bella" }).then(
          () => undefined,
          (e) => e,
        );
        assert.ok(err instanceof ModelNotAvailableError, String(err));
        assert.equal(err.file, "voices/af_bella.bin");
        assert.equal(err.path, `${dir}/voices/af_bella.bin`);
        assert.match(err.message, /missing file voices\/af_bella\.bin/);
        assert.match(err.message, /offline mode/);
        // The failure is not cached: a voice that is there still works.
        const [, audio] = await model.tts("Hello.", { voice: "am_michael" });
        assert.ok(audio.length > 0);
        assert.deepEqual(calls, [], "nothing may be fetched");
      });
    } finally {
      await closeTtsModels();
      await Deno.remove(cacheDir, { recursive: true });
    }
  });

  Deno.test(`kokoro plumbing (synthetic stand-in model, ${mode}): a model file that does not load gives transformers.js' error naming it; the failure is not cached`, async () => {
    const cacheDir = await Deno.makeTempDir({ prefix: "kokoro_plumbing_" });
    try {
      const dir = await writeFakeKokoro(cacheDir);
      const onnx = `${dir}/onnx/model_quantized.onnx`;
      const good = await Deno.readFile(onnx);
      await Deno.writeTextFile(onnx, "not an onnx model");
      const err = await getTtsModel({ cacheDir, offline: true, workers })
        .then(() => undefined, (e) => e);
      assert.ok(err instanceof Error, String(err));
      assert.ok(err.message.includes(onnx), err.message);
      await Deno.writeFile(onnx, good);
      const model = await getTtsModel({ cacheDir, offline: true, workers });
      const [, audio] = await model.tts("Hello world.");
      assertClose(
        audio,
        await expectedChunk("Hello world.", "af_heart", "en-us", 1),
        "after the fix",
      );
    } finally {
      await closeTtsModels();
      await Deno.remove(cacheDir, { recursive: true });
    }
  });

  Deno.test(`kokoro plumbing (synthetic stand-in model, ${mode}): an aborted tts() rejects with the caller's reason; other callers and later calls get their exact samples`, async () => {
    const cacheDir = await Deno.makeTempDir({ prefix: "kokoro_plumbing_" });
    try {
      await writeFakeKokoro(cacheDir);
      const model = await getTtsModel({ cacheDir, offline: true, workers });
      const short = "Hello world.";
      const want = await expectedChunk(short, "af_heart", "en-us", 1);
      // Aborted while its first chunk is on its way to the model (or
      // running), next to another caller's call without a signal.
      const digits = Array.from({ length: 20 }, () => "1234567890").join(" ");
      const controller = new AbortController();
      const aborted = model.tts(`${digits}. ${digits}.`, {
        signal: controller.signal,
      });
      const other = model.tts(short);
      await new Promise((r) => setTimeout(r, 0));
      controller.abort(new Error("caller hung up"));
      await assert.rejects(aborted, /caller hung up/);
      assertClose((await other)[1], want, "the other caller");
      // Aborted between chunks of a stream: the next chunk rejects.
      const stream = new AbortController();
      const chunks = model.streamTts("Hi there. How are you today?", {
        signal: stream.signal,
      });
      const first = await chunks.next();
      assert.equal(first.done, false);
      stream.abort(new Error("barge-in"));
      await assert.rejects(chunks.next(), /barge-in/);
      // Already aborted: rejects without synthesizing.
      await assert.rejects(
        model.tts(short, { signal: AbortSignal.abort(new Error("gone")) }),
        /gone/,
      );
      assertClose((await model.tts(short))[1], want, "after the aborts");
    } finally {
      await closeTtsModels();
      await Deno.remove(cacheDir, { recursive: true });
    }
  });

  Deno.test(`kokoro plumbing (synthetic stand-in model, ${mode}): closeTtsModels releases the model; it rejects later calls and the next getTtsModel loads again`, async () => {
    const cacheDir = await Deno.makeTempDir({ prefix: "kokoro_plumbing_" });
    try {
      await writeFakeKokoro(cacheDir);
      const before = await getTtsModel({ cacheDir, offline: true, workers });
      const short = "Hello world.";
      const want = await expectedChunk(short, "af_heart", "en-us", 1);
      assertClose((await before.tts(short))[1], want, "before close");
      await closeTtsModels();
      await assert.rejects(
        before.tts(short),
        /This Kokoro model was closed; load it again/,
      );
      await closeTtsModels(); // nothing left: a no-op
      const after = await getTtsModel({ cacheDir, offline: true, workers });
      assert.notEqual(after, before);
      assertClose((await after.tts(short))[1], want, "after reload");
    } finally {
      await closeTtsModels();
      await Deno.remove(cacheDir, { recursive: true });
    }
  });
}

Deno.test("kokoro plumbing (synthetic stand-in model): workers is checked at once and is part of the model cache key; both paths give the same samples", async () => {
  for (const bad of [-1, 1.5, Number.NaN]) {
    assert.throws(
      () => getTtsModel({ workers: bad }),
      /workers must be a whole number ≥ 1, or 0 to run on the calling thread/,
    );
  }
  const cacheDir = await Deno.makeTempDir({ prefix: "kokoro_plumbing_" });
  try {
    await writeFakeKokoro(cacheDir);
    const inWorker = await getTtsModel({ cacheDir, offline: true });
    const onThread = await getTtsModel({ cacheDir, offline: true, workers: 0 });
    const two = await getTtsModel({ cacheDir, offline: true, workers: 2 });
    assert.notEqual(inWorker, onThread);
    assert.notEqual(two, inWorker);
    assert.equal(
      await getTtsModel({ cacheDir, offline: true, workers: 1 }),
      inWorker,
    );
    const text = "Good morning. How can I help?";
    const [, a] = await onThread.tts(text, { voice: "bf_emma" });
    const [[, b], [, c], [, d]] = await Promise.all([
      inWorker.tts(text, { voice: "bf_emma" }),
      two.tts(text, { voice: "bf_emma" }),
      two.tts(text, { voice: "bf_emma" }),
    ]);
    assert.ok(a.length > 0);
    assert.deepEqual(b, a);
    assert.deepEqual(c, a);
    assert.deepEqual(d, a);
  } finally {
    await closeTtsModels();
    await Deno.remove(cacheDir, { recursive: true });
  }
});
