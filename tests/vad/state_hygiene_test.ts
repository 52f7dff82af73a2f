/**
 * VAD state hygiene: the same utterance gives the same turns whatever came
 * before it (a previous turn, seconds or minutes of digital silence, line
 * noise). Measurements and the choice of mechanism: src/vad/mod.ts docs and
 * bench/README.md ("VAD state hygiene").
 */
import assert from "node:assert/strict";
import {
  getSileroModel,
  type PauseDetectedEvent,
  TurnDetector,
} from "../../src/vad/mod.ts";
import { decodeMulaw, encodeMulaw } from "../../src/audio/mulaw.ts";
import { readWavMono16, rng } from "./_helpers.ts";

type Rate = 8000 | 16000;
const toF32 = (pcm: Int16Array) => Float32Array.from(pcm, (x) => x / 32768);
const jfk8 = toF32(
  decodeMulaw(
    Deno.readFileSync(new URL("../fixtures/jfk_8k.ulaw", import.meta.url)),
  ),
);
const jfk16 =
  readWavMono16(new URL("../fixtures/jfk.wav", import.meta.url)).samples;

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) (out.set(p, o), o += p.length);
  return out;
}

/**
 * `copies` copies of `speech` separated by gaps; each copy + gap lasts a
 * whole number of 160 ms (a multiple of both the 20 ms frame and the 32 ms
 * window), so every copy meets the same window phase and differences can
 * only come from the model state.
 */
function call(
  speech: Float32Array,
  rate: Rate,
  gapsS: number[],
): { audio: Float32Array; starts: number[] } {
  const period = rate * 0.16;
  const parts: Float32Array[] = [];
  const starts: number[] = [];
  let at = 0;
  for (const g of [...gapsS, 1.5]) {
    starts.push(at * 1000 / rate);
    const gap = Math.ceil((speech.length + g * rate) / period) * period -
      speech.length;
    parts.push(speech, new Float32Array(gap));
    at += speech.length + gap;
  }
  return { audio: concat(parts), starts };
}

/** White noise at `dbfs` added to `audio`, through μ-law at 8 kHz. */
function withLineNoise(audio: Float32Array, rate: Rate, dbfs: number) {
  const r = rng(42);
  const a = Math.pow(10, dbfs / 20) * Math.sqrt(3);
  const pcm = Int16Array.from(
    audio,
    (v) =>
      Math.max(
        -32768,
        Math.min(32767, Math.round((v + (r() * 2 - 1) * a) * 32768)),
      ),
  );
  return toF32(rate === 8000 ? decodeMulaw(encodeMulaw(pcm)) : pcm);
}

/** Turns per copy, as [speechStart, speechEnd, decision] relative to the copy. */
async function turnsPerCopy(
  audio: Float32Array,
  starts: number[],
  rate: Rate,
  model: Awaited<ReturnType<typeof getSileroModel>>,
): Promise<number[][][]> {
  const vad = model.createStream(rate);
  const det = new TurnDetector({ sampleRate: rate });
  const pauses: PauseDetectedEvent[] = [];
  const frame = rate / 50;
  for (let i = 0; i < audio.length; i += frame) {
    for (const w of await vad.feed(audio.subarray(i, i + frame))) {
      for (const e of det.push(w.probability)) {
        if (e.type === "pause_detected") pauses.push(e);
      }
    }
  }
  vad.close();
  return starts.map((s, k) =>
    pauses.filter((p) =>
      p.utterance.speechStartMs >= s - 300 &&
      p.utterance.speechStartMs < (starts[k + 1] ?? Infinity) - 300
    ).map((p) => [
      p.utterance.speechStartMs - s,
      p.utterance.speechEndMs - s,
      p.atMs - s,
    ])
  );
}

for (const version of ["v5", "v6"] as const) {
  for (const rate of [8000, 16000] as const) {
    Deno.test(`state hygiene (${version}, ${rate} Hz): JFK 5 times, 3.5-5 s of digital silence between, gives identical turns`, async () => {
      const model = await getSileroModel({ version });
      const { audio, starts } = call(
        rate === 8000 ? jfk8 : jfk16,
        rate,
        [3.5, 4, 4.5, 5],
      );
      const before = model.stats.silentWindows;
      const copies = await turnsPerCopy(audio, starts, rate, model);
      assert.equal(copies[0].length, 4, JSON.stringify(copies[0]));
      for (let k = 1; k < copies.length; k++) {
        assert.deepEqual(copies[k], copies[0], `copy ${k + 1}`);
      }
      // Digital silence was answered without inference.
      assert.ok(model.stats.silentWindows - before > 17 * rate / 32 / 1000);
    });
  }
}

for (const rate of [8000, 16000] as const) {
  Deno.test(`state hygiene (v5, ${rate} Hz): JFK 3 times under continuous line noise (−50 dBFS) gives the same turns, within 200 ms`, async () => {
    const model = await getSileroModel();
    const c = call(rate === 8000 ? jfk8 : jfk16, rate, [4, 4]);
    const audio = withLineNoise(c.audio, rate, -50);
    const copies = await turnsPerCopy(audio, c.starts, rate, model);
    assert.equal(copies[0].length, 4, JSON.stringify(copies[0]));
    let worst = 0;
    for (let k = 1; k < copies.length; k++) {
      assert.equal(copies[k].length, 4, `copy ${k + 1}: ${copies[k]}`);
      copies[k].forEach((t, i) =>
        t.forEach((x, j) =>
          worst = Math.max(worst, Math.abs(x - copies[0][i][j]))
        )
      );
    }
    console.log(`${rate} Hz under line noise: largest shift ${worst} ms`);
    assert.ok(worst <= 200, `shift ${worst} ms`);
  });
}

Deno.test("state hygiene off: v5 at 8 kHz loses most of JFK's second sentence after 3.5 s of digital silence (the bug the hygiene fixes)", async () => {
  const raw = await getSileroModel({
    digitalSilenceLevel: -1,
    resetAfterQuietMs: Infinity,
  });
  const { audio, starts } = call(jfk8, 8000, [3.5]);
  const copies = await turnsPerCopy(audio, starts, 8000, raw);
  assert.equal(copies[0].length, 4);
  assert.ok(copies[1].length < 4, JSON.stringify(copies[1]));
  assert.ok(copies[1][0][0] > 4000, "the first phrases were not heard");
});

Deno.test("state hygiene: bad options are rejected with a clear error", async () => {
  await assert.rejects(
    getSileroModel({ resetAfterQuietMs: 0 }),
    /resetAfterQuietMs.*Infinity to never reset/,
  );
  await assert.rejects(
    getSileroModel({ digitalSilenceLevel: Number.NaN }),
    /digitalSilenceLevel/,
  );
});
