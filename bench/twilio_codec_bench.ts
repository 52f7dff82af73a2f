/**
 * Inbound Twilio media decoding, per 20 ms frame: the codec's fast path
 * (compact JSON read without `JSON.parse`, base64 into a reused buffer)
 * against its general path (`JSON.parse`, taken for any other shape) and
 * against the code before the fast path (a copy of it below).
 *
 * ```sh
 * deno bench --allow-all bench/twilio_codec_bench.ts
 * ```
 *
 * @module
 */

import { createTwilioCodec } from "../src/transports/twilio.ts";
import { decodeBase64, decodeBase64Into } from "../src/transports/base64.ts";
import { decodeMulaw } from "../src/audio/mulaw.ts";

const speech = await Deno.readFile(
  new URL("../tests/fixtures/jfk_8k.ulaw", import.meta.url),
);
const FRAMES = 50;
const sid = "MZ" + "0123456789abcdef".repeat(2);
const compact: string[] = [];
const spaced: string[] = [];
for (let k = 0; k < FRAMES; k++) {
  const payload = (speech.subarray(k * 160, (k + 1) * 160) as unknown as {
    toBase64(): string;
  }).toBase64();
  const msg = {
    event: "media",
    sequenceNumber: String(k + 2),
    media: {
      track: "inbound",
      chunk: String(k + 1),
      timestamp: String(k * 20),
      payload,
    },
    streamSid: sid,
  };
  compact.push(JSON.stringify(msg));
  spaced.push(JSON.stringify(msg, null, 1));
}

function startedCodec() {
  const codec = createTwilioCodec();
  codec.decode(JSON.stringify({
    event: "start",
    streamSid: sid,
    start: { streamSid: sid, callSid: "CA1", accountSid: "AC1" },
  }));
  return codec;
}
const fast = startedCodec();
const general = startedCodec();

// The decode path before the fast path, copied: JSON.parse, a regular
// expression check, then the allocating base64 and μ-law decoders.
const B64 = /^[A-Za-z0-9+/]*={0,2}$/;
function oldDecode(message: string): Int16Array | null {
  const msg = JSON.parse(message);
  if (typeof msg !== "object" || msg === null || msg.event !== "media") {
    return null;
  }
  const payload = msg.media?.payload;
  if (typeof payload !== "string") return null;
  if (payload.length % 4 !== 0 || !B64.test(payload)) return null;
  // deno-lint-ignore no-explicit-any
  const bytes = (Uint8Array as any).fromBase64(payload) as Uint8Array;
  return decodeMulaw(bytes);
}

let sink = 0;
Deno.bench({
  name: "fast path (compact Twilio JSON)",
  group: "Twilio media decode, 50 frames",
  baseline: true,
  fn() {
    for (const m of compact) sink += fast.decode(m).length;
  },
});
Deno.bench({
  name: "general path (same message with whitespace)",
  group: "Twilio media decode, 50 frames",
  fn() {
    for (const m of spaced) sink += general.decode(m).length;
  },
});
Deno.bench({
  name: "before: JSON.parse + regex + fromBase64 + decodeMulaw",
  group: "Twilio media decode, 50 frames",
  fn() {
    for (const m of compact) sink += oldDecode(m)?.length ?? 0;
  },
});

const payloads = compact.map((m) => JSON.parse(m).media.payload as string);
const scratch = new Uint8Array(1024);
Deno.bench({
  name: "decodeBase64Into (reused buffer)",
  group: "base64 decode, 50 × 160 bytes",
  baseline: true,
  fn() {
    for (const p of payloads) sink += decodeBase64Into(p, scratch);
  },
});
Deno.bench({
  name: "decodeBase64",
  group: "base64 decode, 50 × 160 bytes",
  fn() {
    for (const p of payloads) sink += decodeBase64(p).length;
  },
});
Deno.bench({
  name: "before: regex check + Uint8Array.fromBase64",
  group: "base64 decode, 50 × 160 bytes",
  fn() {
    for (const p of payloads) {
      if (p.length % 4 !== 0 || !B64.test(p)) throw new Error("bad");
      // deno-lint-ignore no-explicit-any
      sink += ((Uint8Array as any).fromBase64(p) as Uint8Array).length;
    }
  },
});

globalThis.addEventListener("unload", () => {
  if (sink < 0) console.log(sink);
});
