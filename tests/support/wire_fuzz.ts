/**
 * A small deterministic fuzzer for wire codecs: mutates valid messages
 * (replaces, deletes and retypes fields, truncates text, sends random
 * bytes) and checks that `decode` never throws and only returns the value
 * kinds of the WireCodec contract.
 */
import assert from "node:assert/strict";
import type { Decoded, WireCodec } from "../../src/transports/codec.ts";

/** mulberry32: a tiny seeded PRNG so failures reproduce. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ODD_VALUES: unknown[] = [
  null,
  0,
  -1,
  1e308,
  NaN,
  "",
  "x".repeat(300),
  "a b",
  "\u0000",
  "AAAA",
  "!!!",
  "__proto__",
  [],
  [1, 2],
  {},
  JSON.parse('{"__proto__":{"polluted":true}}'),
  true,
];

const KINDS = new Set([
  "start",
  "audio",
  "dtmf",
  "played",
  "stop",
  "reply",
  "error",
]);

function mutate(value: unknown, rand: () => number, depth = 0): unknown {
  if (typeof value !== "object" || value === null || depth > 4) {
    return rand() < 0.3
      ? ODD_VALUES[Math.floor(rand() * ODD_VALUES.length)]
      : value;
  }
  if (Array.isArray(value)) return value.map((v) => mutate(v, rand, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const r = rand();
    if (r < 0.1) continue; // drop the field
    if (r < 0.25) out[k] = ODD_VALUES[Math.floor(rand() * ODD_VALUES.length)];
    else out[k] = mutate(v, rand, depth + 1);
  }
  return out;
}

/**
 * Feeds `rounds` mutated messages to fresh and started codecs. `valid` are
 * JSON-able messages of the protocol; `start` starts a codec.
 */
export function fuzzCodec(options: {
  make: () => WireCodec;
  start: string;
  valid: unknown[];
  rounds?: number;
  seed?: number;
}): void {
  const rand = prng(options.seed ?? 12);
  const rounds = options.rounds ?? 1500;
  const check = (codec: WireCodec, message: string | Uint8Array) => {
    let out: Decoded[];
    try {
      out = codec.decode(message);
    } catch (e) {
      throw new Error(
        `decode threw on ${
          typeof message === "string"
            ? message.slice(0, 200)
            : `${message.length} bytes`
        }: ${(e as Error).stack}`,
      );
    }
    assert.ok(Array.isArray(out));
    for (const d of out) {
      assert.ok(KINDS.has(d.kind), `unexpected kind ${d.kind}`);
      if (d.kind === "audio") assert.ok(d.samples instanceof Int16Array);
      if (d.kind === "dtmf") assert.match(d.digit, /^[0-9*#A-D]$/);
      if (d.kind === "start") assert.ok(d.call.callId.length <= 128);
      if (d.kind === "played") assert.ok(d.name.length <= 128);
    }
  };
  for (let i = 0; i < rounds; i++) {
    const codec = options.make();
    if (rand() < 0.7) codec.decode(options.start);
    const base = options.valid[Math.floor(rand() * options.valid.length)];
    const r = rand();
    if (r < 0.1) {
      const bytes = new Uint8Array(Math.floor(rand() * 700));
      for (let j = 0; j < bytes.length; j++) {
        bytes[j] = Math.floor(rand() * 256);
      }
      check(codec, bytes);
    } else if (r < 0.2) {
      const text = JSON.stringify(base);
      check(codec, text.slice(0, Math.floor(rand() * text.length)));
    } else {
      check(codec, JSON.stringify(mutate(base, rand)));
    }
  }
  assert.equal(
    (Object.prototype as Record<string, unknown>).polluted,
    undefined,
    "no prototype pollution",
  );
}
