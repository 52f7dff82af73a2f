/**
 * G.711 μ-law and A-law encode/decode throughput: Parley's table-driven
 * codecs versus npm `alawmulaw` (`mulaw.encode` / `mulaw.decode`,
 * `alaw.encode` / `alaw.decode`), in the same run on the same real speech
 * (tests/fixtures/jfk.wav). Parley's μ-law is the baseline of each group, so
 * Deno prints how many times slower or faster Parley's A-law and the peer's
 * codecs are; the A-law rows sit next to the μ-law rows they must match.
 *
 *     deno bench --allow-all bench/mulaw_bench.ts
 *
 * @module
 */

import alawmulaw from "alawmulaw";
import { decodeMulaw, encodeMulaw } from "../src/audio/mulaw.ts";
import { decodeAlaw, encodeAlaw } from "../src/audio/alaw.ts";

const { alaw, mulaw } = alawmulaw;
import { readWav } from "../src/audio/wav.ts";
import { audioToInt16 } from "../src/audio/frame.ts";

const speech = audioToInt16(
  readWav(
    Deno.readFileSync(new URL("../tests/fixtures/jfk.wav", import.meta.url)),
  ).samples,
);

function tile(n: number): Int16Array {
  const out = new Int16Array(n);
  for (let i = 0; i < n; i += speech.length) {
    out.set(speech.subarray(0, Math.min(speech.length, n - i)), i);
  }
  return out;
}

const sizes: [string, number][] = [
  ["1 s at 8 kHz", 8000],
  ["1M samples", 1 << 20],
];

// Sanity: both codecs agree on these inputs before we time them.
for (const [, n] of sizes) {
  const pcm = tile(n);
  const a = encodeMulaw(pcm);
  const b = mulaw.encode(pcm);
  let diff = 0;
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) diff++;
  if (diff > 0) console.log(`note: alawmulaw differs on ${diff}/${n} codes`);
  const c = encodeAlaw(pcm);
  const d = alaw.encode(pcm);
  let adiff = 0;
  for (let i = 0; i < n; i++) if (c[i] !== d[i]) adiff++;
  if (adiff > 0) {
    console.log(`note: alawmulaw's alaw differs on ${adiff}/${n} codes`);
  }
}

for (const [label, n] of sizes) {
  const pcm = tile(n);
  const codes = encodeMulaw(pcm);
  const aCodes = encodeAlaw(pcm);
  const outCodes = new Uint8Array(n);
  const outPcm = new Int16Array(n);

  Deno.bench({
    name: "parley encodeMulaw",
    group: `encode ${label}`,
    baseline: true,
    fn: () => {
      encodeMulaw(pcm);
    },
  });
  Deno.bench({
    name: "parley encodeMulaw (out buffer)",
    group: `encode ${label}`,
    fn: () => {
      encodeMulaw(pcm, outCodes);
    },
  });
  Deno.bench({
    name: "alawmulaw mulaw.encode",
    group: `encode ${label}`,
    fn: () => {
      mulaw.encode(pcm);
    },
  });
  Deno.bench({
    name: "parley encodeAlaw",
    group: `encode ${label}`,
    fn: () => {
      encodeAlaw(pcm);
    },
  });
  Deno.bench({
    name: "parley encodeAlaw (out buffer)",
    group: `encode ${label}`,
    fn: () => {
      encodeAlaw(pcm, outCodes);
    },
  });
  Deno.bench({
    name: "alawmulaw alaw.encode",
    group: `encode ${label}`,
    fn: () => {
      alaw.encode(pcm);
    },
  });

  Deno.bench({
    name: "parley decodeMulaw",
    group: `decode ${label}`,
    baseline: true,
    fn: () => {
      decodeMulaw(codes);
    },
  });
  Deno.bench({
    name: "parley decodeMulaw (out buffer)",
    group: `decode ${label}`,
    fn: () => {
      decodeMulaw(codes, outPcm);
    },
  });
  Deno.bench({
    name: "alawmulaw mulaw.decode",
    group: `decode ${label}`,
    fn: () => {
      mulaw.decode(codes);
    },
  });
  Deno.bench({
    name: "parley decodeAlaw",
    group: `decode ${label}`,
    fn: () => {
      decodeAlaw(aCodes);
    },
  });
  Deno.bench({
    name: "parley decodeAlaw (out buffer)",
    group: `decode ${label}`,
    fn: () => {
      decodeAlaw(aCodes, outPcm);
    },
  });
  Deno.bench({
    name: "alawmulaw alaw.decode",
    group: `decode ${label}`,
    fn: () => {
      alaw.decode(aCodes);
    },
  });
}
