/**
 * Seeded generators of hostile messages for the protocol fuzz test: every
 * message a generator returns is one the server must reject, checked
 * against a mirror codec of the protocol, so the server's rejection counter
 * must equal what was sent.
 */
import type { WireCodec, WireMessage } from "../../src/transports/codec.ts";

/** sfc32, seeded: a small PRNG with a long period, so runs reproduce. */
export function seeded(seed: number): () => number {
  let a = 0x9e3779b9, b = 0x243f6a88, c = 0xb7e15162, d = seed >>> 0;
  const next = () => {
    a >>>= 0, b >>>= 0, c >>>= 0, d >>>= 0;
    const t = (a + b | 0) + d | 0;
    d = d + 1 | 0;
    a = b ^ b >>> 9;
    b = c + (c << 3) | 0;
    c = c << 21 | c >>> 11;
    c = c + t | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 16; i++) next();
  return next;
}

export type Rand = () => number;
const pick = <T>(rand: Rand, items: readonly T[]): T =>
  items[Math.floor(rand() * items.length)];
const int = (rand: Rand, max: number) => Math.floor(rand() * max);

function randomBytes(rand: Rand, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = int(rand, 256);
  return out;
}

function randomText(rand: Rand, n: number): string {
  let s = "";
  for (let i = 0; i < n; i++) {
    // Mostly printable, some control characters, quotes and surrogates.
    const r = rand();
    s += r < 0.7
      ? String.fromCharCode(32 + int(rand, 95))
      : r < 0.8
      ? String.fromCharCode(int(rand, 32))
      : r < 0.9
      ? pick(rand, ['"', "\\", "{", "}", "[", "]", "\u001b[31m", "\n"])
      : String.fromCharCode(0xd800 + int(rand, 0x800));
  }
  return s;
}

const ODD: unknown[] = [
  null,
  0,
  -1,
  1e308,
  true,
  "",
  "\u0000",
  [],
  {},
  { toString: 1 },
  "x".repeat(5000),
  "!!!not base64!!!",
  "__proto__",
];

/** The kinds of hostile message the fuzz sends. */
export const HOSTILE_KINDS = [
  "invalid_json",
  "wrong_types",
  "huge",
  "deep",
  "bad_base64",
  "binary",
  "out_of_order",
  "unknown_event",
] as const;
export type HostileKind = typeof HOSTILE_KINDS[number];

/** One candidate hostile socket message of `kind` (may turn out valid). */
function candidate(
  rand: Rand,
  kind: HostileKind,
  protocol: "twilio" | "websocket",
  maxBytes: number,
): WireMessage {
  const media = (payload: unknown) =>
    protocol === "twilio"
      ? { event: "media", streamSid: "MZfuzz", media: { payload } }
      : { event: "media", media: { payload } };
  switch (kind) {
    case "invalid_json": {
      const text = pick(rand, [
        () => randomText(rand, 1 + int(rand, 200)),
        () => JSON.stringify(media("AAAA")).slice(0, 1 + int(rand, 30)),
        () => "{" + randomText(rand, int(rand, 40)),
        () => "x",
      ])();
      return text;
    }
    case "wrong_types":
      return JSON.stringify(pick(rand, [
        { event: pick(rand, ODD) },
        media(pick(rand, ODD)),
        { event: "media", media: pick(rand, ODD) },
        { event: "start", start: pick(rand, ODD), streamSid: pick(rand, ODD) },
        { event: "start", websocket_id: pick(rand, ODD) },
        pick(rand, ODD),
      ]));
    case "huge":
      // Over the limit: rejected by size before any parsing.
      return JSON.stringify(media("A".repeat(maxBytes + 1 + int(rand, 1000))));
    case "deep": {
      const depth = 1000 + int(rand, 20_000);
      return rand() < 0.5
        ? "[".repeat(depth) // unbalanced: invalid JSON
        : JSON.stringify({ event: "media" }).slice(0, -1) + ',"media":' +
          "[".repeat(depth) + "]".repeat(depth) + "}";
    }
    case "bad_base64":
      return JSON.stringify(media(pick(rand, [
        "!!!",
        "A",
        "AAA=A",
        randomText(rand, 1 + int(rand, 50)),
        "====",
      ])));
    case "binary":
      return randomBytes(rand, 1 + int(rand, 2000));
    case "out_of_order":
      // Media on a socket that has not started (only sent to unstarted
      // sockets; on started ones, a second start).
      return JSON.stringify(media("f39/"));
    case "unknown_event":
      return JSON.stringify({
        event: randomText(rand, 1 + int(rand, 30)),
        [randomText(rand, 5)]: pick(rand, ODD),
      });
  }
}

/**
 * Hostile messages for one socket: returns `count` messages that the
 * protocol must reject, given whether the socket has started a call.
 * `mirror` makes a codec in the same state as the server's.
 */
export function hostileSocketMessages(options: {
  rand: Rand;
  protocol: "twilio" | "websocket";
  count: number;
  started: boolean;
  mirror: () => WireCodec;
  maxBytes: number;
  hugeBudget: { left: number };
}): { messages: WireMessage[]; kinds: Record<string, number> } {
  const { rand } = options;
  const messages: WireMessage[] = [];
  const kinds: Record<string, number> = {};
  let probe = options.mirror();
  while (messages.length < options.count) {
    let kind = pick(rand, HOSTILE_KINDS);
    if (kind === "huge" && options.hugeBudget.left <= 0) kind = "binary";
    let message = candidate(rand, kind, options.protocol, options.maxBytes);
    if (kind === "out_of_order" && options.started) {
      message = options.protocol === "twilio"
        ? JSON.stringify({
          event: "start",
          streamSid: "MZagain",
          start: { streamSid: "MZagain", callSid: "CA2" },
        })
        : JSON.stringify({ event: "start", websocket_id: "again" });
    }
    const size = typeof message === "string"
      ? new TextEncoder().encode(message).length
      : message.length;
    if (size > options.maxBytes) {
      options.hugeBudget.left--;
    } else {
      const out = probe.decode(message);
      const rejected = out.length === 1 && out[0].kind === "error";
      if (!rejected) {
        probe = options.mirror(); // it may have changed state
        continue; // by chance a message the protocol accepts: not hostile
      }
    }
    messages.push(message);
    kinds[kind] = (kinds[kind] ?? 0) + 1;
  }
  return { messages, kinds };
}
