/**
 * What ReplyOnPause's default rates cost a phone call, per call-second of
 * inbound audio (50 Twilio frames of real speech), without the VAD model
 * itself (the same in every variant):
 *
 * - **today** — `inputSampleRate` 48000 (the default): the bus resamples
 *   each 8 kHz frame to 48 kHz (int16 → float → resample → int16), then
 *   `ReplyOnPause.receive` converts it to float again and resamples 48 → 8
 *   kHz for the VAD.
 * - **recommended** — the VAD taps the transport's 8 kHz audio (one int16 →
 *   float conversion), and the utterance is resampled once, 8 → 48 kHz, when
 *   `fn` is called (its cost per turn is a separate group).
 *
 * ```sh
 * deno bench --allow-all bench/phone_path_bench.ts
 * ```
 *
 * @module
 */

import { audioToFloat32, audioToInt16 } from "../src/audio/frame.ts";
import { decodeMulaw } from "../src/audio/mulaw.ts";
import { resample, StreamResampler } from "../src/audio/resampler.ts";

const speech = decodeMulaw(
  await Deno.readFile(
    new URL("../tests/fixtures/jfk_8k.ulaw", import.meta.url),
  ),
);
const FRAMES = 50;
const frames = Array.from(
  { length: FRAMES },
  (_, k) => speech.slice(k * 160, (k + 1) * 160),
);

// Streaming state, as one call keeps it.
const busUp = new StreamResampler({ inputRate: 8000, outputRate: 48000 });
const vadDown = new StreamResampler({ inputRate: 48000, outputRate: 8000 });
const vadWindow = new Float32Array(256);
let fill = 0;
let sink = 0;

function toWindows(f32: Float32Array): void {
  for (let i = 0; i < f32.length; i++) {
    vadWindow[fill++] = f32[i];
    if (fill === 256) {
      sink += vadWindow[0];
      fill = 0;
    }
  }
}

Deno.bench({
  name: "recommended: VAD taps 8 kHz (int16 → float only)",
  group: "phone inbound path, 1 call-second",
  baseline: true,
  fn() {
    for (const f of frames) toWindows(audioToFloat32(f));
  },
});

Deno.bench({
  name: "today: bus 8k → 48k, handler 48k → 8k for the VAD",
  group: "phone inbound path, 1 call-second",
  fn() {
    for (const f of frames) {
      const at48 = audioToInt16(busUp.process(audioToFloat32(f))); // bus
      toWindows(vadDown.process(audioToFloat32(at48))); // ReplyOnPause
    }
  },
});

const utterance = audioToFloat32(speech.subarray(0, 8000 * 2));
Deno.bench({
  name: "recommended, per turn: a 2 s utterance resampled once 8k → 48k",
  group: "per turn",
  baseline: true,
  fn() {
    sink +=
      audioToInt16(resample(utterance, { inputRate: 8000, outputRate: 48000 }))
        .length;
  },
});

globalThis.addEventListener("unload", () => {
  if (sink === 12345.678) console.log(sink);
});
