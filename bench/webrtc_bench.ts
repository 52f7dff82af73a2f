/**
 * CPU of the WebRTC transport's audio codecs, per call-second (50 frames of
 * 20 ms encoded AND decoded, i.e. one call's both directions), on real speech
 * (tests/fixtures/jfk.wav). Same run, same machine:
 *
 * - Opus: Parley's `OpusCodec` (drives opusscript's WASM libopus directly) —
 *   baseline — versus npm `opusscript`'s own `OpusScript` class (same WASM,
 *   its JS glue copies through Buffers).
 * - PCMU: Parley's G.711 table codec versus npm `alawmulaw`.
 *
 *     deno bench --allow-all bench/webrtc_bench.ts
 *
 * End-to-end numbers (offer → first audio, echo latency, CPU per live call)
 * come from `deno run --allow-all bench/webrtc_latency.ts`.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import alawmulaw from "alawmulaw";
import OpusScript from "opusscript";
import { audioToFloat32, audioToInt16 } from "../src/audio/frame.ts";
import { decodeMulaw, encodeMulaw } from "../src/audio/mulaw.ts";
import { StreamResampler } from "../src/audio/resampler.ts";
import { readWav } from "../src/audio/wav.ts";
import { createOpusCodec } from "../src/transports/opus.ts";

const wav = readWav(
  Deno.readFileSync(new URL("../tests/fixtures/jfk.wav", import.meta.url)),
);
function at(rate: number): Int16Array {
  const r = new StreamResampler({
    inputRate: wav.sampleRate,
    outputRate: rate,
  });
  const f = audioToFloat32(audioToInt16(wav.samples));
  const a = r.process(f);
  return audioToInt16(a);
}
const speech48 = at(48000);
const speech8 = at(8000);

function frames(pcm: Int16Array, size: number, count: number): Int16Array[] {
  const out: Int16Array[] = [];
  for (let k = 0, i = 0; k < count; k++, i += size) {
    if (i + size > pcm.length) i = 0;
    out.push(pcm.slice(i, i + size));
  }
  return out;
}
// One second of call audio, starting 1 s into the speech.
const opusFrames = frames(speech48.subarray(48000), 960, 50);
const pcmuFrames = frames(speech8.subarray(8000), 160, 50);

const parley = await createOpusCodec();
const peerEnc = new OpusScript(48000, 1, OpusScript.Application.VOIP);
const peerDec = new OpusScript(48000, 1, OpusScript.Application.VOIP);
peerEnc.setBitrate(32000);
peerEnc.encoderCTL(4010, 5); // the same complexity as Parley's default
const parley10 = await createOpusCodec({ complexity: 10 });
const { mulaw } = alawmulaw;

// Sanity: both Opus paths round-trip the speech with similar energy.
function rms(x: Int16Array): number {
  let e = 0;
  for (const s of x) e += s * s;
  return Math.sqrt(e / x.length);
}
{
  let a = 0, b = 0, src = 0;
  for (const f of opusFrames) {
    a += rms(parley.decode(parley.encode(f)));
    const p = peerDec.decode(
      peerEnc.encode(Buffer.from(f.buffer, f.byteOffset, f.byteLength), 960),
    );
    b += rms(new Int16Array(p.buffer, p.byteOffset, p.length / 2));
    src += rms(f);
  }
  console.log(
    `sanity: mean frame RMS source ${(src / 50).toFixed(0)}, Parley Opus ` +
      `${(a / 50).toFixed(0)}, opusscript class ${(b / 50).toFixed(0)}`,
  );
}

Deno.bench({
  name: "Parley OpusCodec: 1 call-second (50 × 20 ms encode + decode)",
  group: "opus",
  baseline: true,
  fn: () => {
    for (const f of opusFrames) parley.decode(parley.encode(f));
  },
});

Deno.bench({
  name: "Parley OpusCodec at complexity 10 (libopus default): same work",
  group: "opus",
  fn: () => {
    for (const f of opusFrames) parley10.decode(parley10.encode(f));
  },
});

Deno.bench({
  name: "peer opusscript OpusScript class (complexity 5): same work",
  group: "opus",
  fn: () => {
    for (const f of opusFrames) {
      peerDec.decode(
        peerEnc.encode(Buffer.from(f.buffer, f.byteOffset, f.byteLength), 960),
      );
    }
  },
});

Deno.bench({
  name: "Parley PCMU: 1 call-second (50 × 20 ms at 8 kHz encode + decode)",
  group: "pcmu",
  baseline: true,
  fn: () => {
    for (const f of pcmuFrames) decodeMulaw(encodeMulaw(f));
  },
});

Deno.bench({
  name: "peer alawmulaw: same work",
  group: "pcmu",
  fn: () => {
    for (const f of pcmuFrames) mulaw.decode(mulaw.encode(f));
  },
});
