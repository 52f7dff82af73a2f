/**
 * Does the default rate path change what the VAD hears on a phone call?
 * Runs Silero v5 at 8 kHz over two-turn call scripts (the capacity
 * benchmark's phrases, tests/support/phone_load.ts) fed two ways:
 *
 * - **native**: the caller's 8 kHz audio, as the transport delivers it;
 * - **round trip**: what ReplyOnPause's VAD gets today with the default
 *   `inputSampleRate` 48000: 8 → 48 kHz in the bus (to int16 and back),
 *   then 48 → 8 kHz in the handler.
 *
 * Prints, per turn, how many 32 ms windows inside the speech score > 0.5.
 *
 * ```sh
 * deno run --allow-all bench/phone_vad_detection.ts
 * ```
 *
 * @module
 */

import { audioToFloat32, audioToInt16 } from "../src/audio/frame.ts";
import { decodeMulaw } from "../src/audio/mulaw.ts";
import { StreamResampler } from "../src/audio/resampler.ts";
import { getSileroModel } from "../src/vad/silero.ts";
import { buildScripts } from "../tests/support/phone_load.ts";

const orders = [
  ["jfk1", "turns2"],
  ["turns1", "jfk3"],
  ["turns2", "jfk1"],
  ["jfk3", "jfk1"],
  ["turns3", "jfk1"],
];
const scripts = await buildScripts(
  (name) =>
    Deno.readFile(new URL(`../tests/fixtures/${name}`, import.meta.url)),
  orders,
);
const model = await getSileroModel();

function roundTrip(pcm: Int16Array): Float32Array {
  const up = new StreamResampler({ inputRate: 8000, outputRate: 48000 });
  const down = new StreamResampler({ inputRate: 48000, outputRate: 8000 });
  const parts: Float32Array[] = [];
  for (let i = 0; i < pcm.length; i += 160) {
    const at48 = audioToInt16(
      up.process(audioToFloat32(pcm.subarray(i, i + 160))),
    );
    parts.push(down.process(audioToFloat32(at48)));
  }
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

console.log(
  "| script | speech windows per turn | native 8 kHz | round trip 8→48→8 kHz |",
);
console.log("| --- | --- | --- | --- |");
for (let s = 0; s < scripts.length; s++) {
  const script = scripts[s];
  const pcm = decodeMulaw(script.audio);
  const results: string[] = [];
  for (const audio of [audioToFloat32(pcm), roundTrip(pcm)]) {
    const stream = model.createStream(8000);
    const counts = script.turns.map(() => 0);
    for (let i = 0; i + 256 <= audio.length; i += 256) {
      const p = await stream.process(audio.slice(i, i + 256));
      const ms = i / 8;
      script.turns.forEach((t, j) => {
        if (p > 0.5 && ms >= t.speechStart * 20 && ms <= t.speechEndMs) {
          counts[j]++;
        }
      });
    }
    stream.close();
    results.push(counts.join(" / "));
  }
  const total = script.turns.map((t) =>
    Math.round((t.speechEndMs - t.speechStart * 20) / 32)
  );
  console.log(
    `| ${orders[s].join(" → ")} | ${total.join(" / ")} | ${results[0]} | ${
      results[1]
    } |`,
  );
}
