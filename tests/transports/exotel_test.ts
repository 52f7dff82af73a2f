import assert from "node:assert/strict";
import {
  buildExotelStreamUrl,
  checkExotelBasicAuth,
  createExotelCodec,
} from "../../src/transports/exotel.ts";
import type { Decoded, WireCodec } from "../../src/transports/codec.ts";
import { decodeMulaw, encodeMulaw } from "../../src/audio/mulaw.ts";
import * as parley from "../../src/transports/mod.ts";

const SID = "MZ18ad3ab5a668481ce02b83e7395059f0";
const CALL_SID = "CA0123456789abcdef0123456789abcdef";

/** A start frame shaped like the one in Exotel's WebSocket protocol docs. */
function startFrame(
  mediaFormat: unknown = {
    encoding: "audio/x-raw",
    sample_rate: "8000",
    bit_rate: "16",
  },
  overrides: Record<string, unknown> = {},
  top: Record<string, unknown> = {},
): string {
  return JSON.stringify({
    event: "start",
    sequence_number: "1",
    stream_sid: SID,
    start: {
      stream_sid: SID,
      call_sid: CALL_SID,
      account_sid: "exotel_account_1",
      from: "+919876543210",
      to: "+918047491899",
      custom_parameters: { key1: "value1" },
      media_format: mediaFormat,
      ...overrides,
    },
    ...top,
  });
}

function slin(samples: Int16Array): Uint8Array {
  const bytes = new Uint8Array(samples.length * 2);
  const view = new DataView(bytes.buffer);
  samples.forEach((s, i) => view.setInt16(i * 2, s, true));
  return bytes;
}

function b64(bytes: Uint8Array): string {
  return (bytes as unknown as { toBase64(): string }).toBase64();
}

function unb64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

function mediaFrame(bytes: Uint8Array, seq = 2): string {
  return JSON.stringify({
    event: "media",
    sequence_number: String(seq),
    stream_sid: SID,
    media: {
      chunk: String(seq - 1),
      timestamp: String((seq - 1) * 100),
      payload: b64(bytes),
    },
  });
}

function only(decoded: Decoded[]): Decoded {
  assert.equal(decoded.length, 1, JSON.stringify(decoded));
  return decoded[0];
}

function tone(n: number, rate = 8000): Int16Array {
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = Math.round(8000 * Math.sin(2 * Math.PI * 440 * i / rate));
  }
  return out;
}

Deno.test("exotel: start → audio → mark → played → dtmf → stop round trip", () => {
  const codec = createExotelCodec();
  assert.equal(codec.protocol, "exotel");
  assert.equal(codec.started, false);
  assert.deepEqual(codec.decode('{"event":"connected"}'), []);

  const start = only(codec.decode(startFrame()));
  assert.ok(start.kind === "start");
  assert.equal(codec.started, true);
  assert.deepEqual(start.call, {
    callId: SID,
    carrierCallId: CALL_SID,
    accountId: "exotel_account_1",
    from: "+919876543210",
    to: "+918047491899",
    customParameters: { key1: "value1" },
    inputRate: 8000,
    outputRate: 8000,
    extra: { encoding: "slin" },
  });

  // 100 ms of caller audio, slin little-endian (what Exotel streams).
  const sent = tone(800);
  const audio = only(codec.decode(mediaFrame(slin(sent))));
  assert.ok(audio.kind === "audio");
  assert.deepEqual(audio.samples, sent);

  // Outbound media: {"event":"media","stream_sid":…,"media":{"payload":…}}.
  const reply = tone(160);
  const media = JSON.parse(codec.encodeAudio(reply) as string);
  assert.deepEqual(Object.keys(media).sort(), ["event", "media", "stream_sid"]);
  assert.equal(media.event, "media");
  assert.equal(media.stream_sid, SID);
  assert.deepEqual(Object.keys(media.media), ["payload"]);
  const bytes = unb64(media.media.payload);
  assert.equal(bytes.length % 320, 0, "Exotel wants multiples of 320 bytes");
  assert.deepEqual(bytes, slin(reply));

  assert.deepEqual(JSON.parse(codec.encodeMark("reply-1") as string), {
    event: "mark",
    stream_sid: SID,
    mark: { name: "reply-1" },
  });
  const played = only(codec.decode(JSON.stringify({
    event: "mark",
    sequence_number: "15",
    stream_sid: SID,
    mark: { name: "reply-1" },
  })));
  assert.deepEqual(played, { kind: "played", name: "reply-1" });

  assert.deepEqual(JSON.parse(codec.encodeClear() as string), {
    event: "clear",
    stream_sid: SID,
  });

  const dtmf = only(codec.decode(JSON.stringify({
    event: "dtmf",
    sequence_number: "7",
    stream_sid: SID,
    dtmf: { digit: "5", duration: "100" },
  })));
  assert.deepEqual(dtmf, { kind: "dtmf", digit: "5" });

  const stop = only(codec.decode(JSON.stringify({
    event: "stop",
    sequence_number: "20",
    stream_sid: SID,
    stop: { call_sid: CALL_SID, account_sid: "a", reason: "callended" },
  })));
  assert.deepEqual(stop, {
    kind: "stop",
    reason: "Exotel sent stop (callended)",
  });
  const after = only(codec.decode(mediaFrame(slin(sent), 21)));
  assert.ok(after.kind === "error" && /after stop/.test(after.reason));
});

Deno.test("exotel: 16 and 24 kHz slin streams keep their rate both ways", () => {
  for (const rate of [16000, 24000]) {
    const codec = createExotelCodec();
    const start = only(
      codec.decode(startFrame({ encoding: "audio/x-raw", sample_rate: rate })),
    );
    assert.ok(start.kind === "start");
    assert.equal(start.call.inputRate, rate);
    assert.equal(start.call.outputRate, rate);
    const frame = tone(rate / 50, rate); // 20 ms
    const out = unb64(
      JSON.parse(codec.encodeAudio(frame) as string).media.payload,
    );
    assert.equal(out.length % 320, 0);
  }
});

Deno.test("exotel: a μ-law media format decodes and answers in μ-law", () => {
  const codec = createExotelCodec();
  const start = only(
    codec.decode(startFrame({ encoding: "audio/x-mulaw;rate=8000" })),
  );
  assert.ok(start.kind === "start");
  assert.equal(start.call.extra?.encoding, "mulaw");
  const sent = tone(160);
  const audio = only(codec.decode(mediaFrame(encodeMulaw(sent))));
  assert.ok(audio.kind === "audio");
  assert.deepEqual(audio.samples, decodeMulaw(encodeMulaw(sent)));
  const out = JSON.parse(codec.encodeAudio(sent) as string);
  assert.deepEqual(unb64(out.media.payload), encodeMulaw(sent));
});

Deno.test("exotel: a start without media_format is slin 8 kHz, sid from start", () => {
  const codec = createExotelCodec();
  const start = only(codec.decode(JSON.stringify({
    event: "start",
    start: { stream_sid: SID, call_sid: CALL_SID },
  })));
  assert.ok(start.kind === "start");
  assert.equal(start.call.callId, SID);
  assert.equal(start.call.inputRate, 8000);
  assert.equal(start.call.extra?.encoding, "slin");
});

Deno.test("exotel: an odd slin byte is carried into the next payload", () => {
  const codec = createExotelCodec();
  only(codec.decode(startFrame()));
  const a = only(codec.decode(mediaFrame(new Uint8Array([0x05, 0x00, 0x01]))));
  assert.ok(a.kind === "audio");
  assert.deepEqual(a.samples, new Int16Array([5]));
  const b = only(codec.decode(mediaFrame(new Uint8Array([0x02]), 3)));
  assert.ok(b.kind === "audio");
  assert.deepEqual(b.samples, new Int16Array([0x0201]));
});

Deno.test("exotel: any payload size is accepted, outbound track ignored", () => {
  const codec = createExotelCodec();
  only(codec.decode(startFrame()));
  for (const n of [2, 3200, 102400, 1 << 20]) {
    const out = only(codec.decode(mediaFrame(new Uint8Array(n))));
    assert.ok(out.kind === "audio");
    assert.equal(out.samples.length, n / 2);
  }
  assert.deepEqual(codec.decode(mediaFrame(new Uint8Array(0))), []);
  assert.deepEqual(
    codec.decode(JSON.stringify({
      event: "media",
      stream_sid: SID,
      media: { track: "outbound", payload: "AAAA" },
    })),
    [],
  );
});

const long = "x".repeat(129);
const HOSTILE: [string, () => WireCodec, unknown, RegExp][] = [
  ["binary frame", fresh, new Uint8Array(320), /binary frame of 320 bytes/],
  ["invalid JSON", fresh, "{oops", /invalid JSON/],
  ["JSON string", fresh, '"media"', /JSON the string "media"/],
  ["JSON array", fresh, "[]", /array/],
  ["no event", fresh, '{"stream_sid":"x"}', /"event" string/],
  ["event object", fresh, '{"event":{}}', /a object/],
  [
    "unknown event",
    fresh,
    '{"event":"playAudio"}',
    /unknown Exotel event "playAudio"/,
  ],
  [
    "huge unknown event",
    fresh,
    JSON.stringify({
      event: "q".repeat(1 << 20),
    }),
    /40 of 1048576 chars/,
  ],
  ["media before start", fresh, mediaFrame(new Uint8Array(4)), /before start/],
  [
    "dtmf before start",
    fresh,
    '{"event":"dtmf","dtmf":{"digit":"1"}}',
    /before start/,
  ],
  [
    "mark before start",
    fresh,
    '{"event":"mark","mark":{"name":"m"}}',
    /before start/,
  ],
  ["stop before start", fresh, '{"event":"stop"}', /before start/],
  [
    "start without start",
    fresh,
    JSON.stringify({
      event: "start",
      stream_sid: SID,
    }),
    /without a start object/,
  ],
  [
    "no stream_sid anywhere",
    fresh,
    JSON.stringify({
      event: "start",
      start: { call_sid: CALL_SID },
    }),
    /start\.stream_sid must be a non-empty string/,
  ],
  [
    "stream_sid too long",
    fresh,
    startFrame(undefined, {}, { stream_sid: long }),
    /129 characters long/,
  ],
  [
    "stream_sid not a string",
    fresh,
    startFrame(undefined, {}, { stream_sid: 9 }),
    /number 9/,
  ],
  [
    "call_sid too long",
    fresh,
    startFrame(undefined, { call_sid: long }),
    /start\.call_sid is 129/,
  ],
  [
    "account_sid with spaces",
    fresh,
    startFrame(undefined, { account_sid: "a b" }),
    /spaces or non-ASCII/,
  ],
  ["to an object", fresh, startFrame(undefined, { to: {} }), /start\.to/],
  ["media_format a string", fresh, startFrame("slin"), /expected an object/],
  [
    "opus",
    fresh,
    startFrame({ encoding: "audio/opus" }),
    /"audio\/opus", which Parley does not decode/,
  ],
  [
    "encoding a number",
    fresh,
    startFrame({ encoding: 16 }),
    /encoding is number 16/,
  ],
  [
    "slin at 11025",
    fresh,
    startFrame({ encoding: "audio/x-raw", sample_rate: "11025" }),
    /8000, 16000 or 24000/,
  ],
  [
    "slin rate junk",
    fresh,
    startFrame({ encoding: "audio/x-raw", sample_rate: "8k" }),
    /8000, 16000 or 24000/,
  ],
  [
    "8-bit slin",
    fresh,
    startFrame({ encoding: "audio/x-raw", bit_rate: "8" }),
    /16-bit samples/,
  ],
  [
    "mulaw at 16 kHz",
    fresh,
    startFrame({ encoding: "audio/x-mulaw", sample_rate: 16000 }),
    /8000 Hz audio/,
  ],
  ["second start", startedCodec, startFrame(), /second start/],
  [
    "media without media",
    startedCodec,
    '{"event":"media"}',
    /without a media object/,
  ],
  [
    "payload missing",
    startedCodec,
    '{"event":"media","media":{}}',
    /media\.payload is missing/,
  ],
  [
    "bad base64",
    startedCodec,
    '{"event":"media","media":{"payload":"@@@@"}}',
    /not valid base64/,
  ],
  [
    "odd track",
    startedCodec,
    '{"event":"media","media":{"track":"both","payload":"AAAA"}}',
    /media\.track/,
  ],
  [
    "other stream",
    startedCodec,
    JSON.stringify({
      event: "media",
      stream_sid: "MZother",
      media: { payload: "AAAA" },
    }),
    /another stream_sid/,
  ],
  [
    "dtmf 10",
    startedCodec,
    '{"event":"dtmf","dtmf":{"digit":"10"}}',
    /invalid dtmf\.digit/,
  ],
  [
    "dtmf space",
    startedCodec,
    '{"event":"dtmf","dtmf":{"digit":" "}}',
    /invalid dtmf\.digit/,
  ],
  ["dtmf null", startedCodec, '{"event":"dtmf","dtmf":{"digit":null}}', /null/],
  [
    "mark name number",
    startedCodec,
    '{"event":"mark","mark":{"name":3}}',
    /mark\.name/,
  ],
  [
    "mark name too long",
    startedCodec,
    JSON.stringify({
      event: "mark",
      mark: { name: long },
    }),
    /129 characters/,
  ],
  ["second stop", stoppedCodec, '{"event":"stop"}', /second stop/],
];

function fresh(): WireCodec {
  return createExotelCodec();
}
function startedCodec(): WireCodec {
  const c = createExotelCodec();
  only(c.decode(startFrame()));
  return c;
}
function stoppedCodec(): WireCodec {
  const c = startedCodec();
  c.decode('{"event":"stop"}');
  return c;
}

Deno.test("exotel: hostile messages decode to one short error, never a throw", () => {
  for (const [name, make, message, reason] of HOSTILE) {
    const codec = make();
    const wasStarted = codec.started;
    let out: Decoded[];
    try {
      out = codec.decode(message as string);
    } catch (e) {
      assert.fail(`${name}: decode threw ${e}`);
    }
    assert.equal(out.length, 1, `${name}: ${JSON.stringify(out)}`);
    const [d] = out;
    assert.ok(d.kind === "error", `${name}: got ${d.kind}`);
    assert.match(d.reason, reason, `${name}: ${d.reason}`);
    assert.ok(d.reason.length < 400, `${name}: reason is ${d.reason.length}`);
    assert.equal(codec.started, wasStarted, `${name}: started changed`);
  }
});

Deno.test("exotel: exported from @parley/parley/transports", () => {
  assert.equal(parley.createExotelCodec, createExotelCodec);
  assert.equal(parley.buildExotelStreamUrl, buildExotelStreamUrl);
  assert.equal(parley.checkExotelBasicAuth, checkExotelBasicAuth);
});

Deno.test("exotel stream URL: sample-rate, parameters and credentials", () => {
  assert.equal(
    buildExotelStreamUrl({
      url: "wss://bot.example.com/telephone/exotel/handler",
    }),
    "wss://bot.example.com/telephone/exotel/handler",
  );
  assert.equal(
    buildExotelStreamUrl({
      url: "wss://bot.example.com/telephone/exotel/handler",
      sampleRate: 16000,
      parameters: { lang: "hi", flow: "a b" },
      username: "key",
      password: "tok",
    }),
    "wss://key:tok@bot.example.com/telephone/exotel/handler?sample-rate=16000&lang=hi&flow=a+b",
  );
  assert.throws(
    () => buildExotelStreamUrl({ url: "https://x.example/ws" }),
    /must use ws or wss/,
  );
  assert.throws(
    () =>
      buildExotelStreamUrl({ url: "wss://x.example/ws", sampleRate: 44100 }),
    /8000, 16000 or 24000/,
  );
  assert.throws(
    () =>
      buildExotelStreamUrl({
        url: "wss://x.example/ws",
        parameters: { a: "1", b: "2", c: "3", d: "4" },
      }),
    /at most 3 custom parameters/,
  );
  assert.throws(
    () =>
      buildExotelStreamUrl({
        url: "wss://x.example/ws",
        parameters: { a: "x".repeat(300) },
      }),
    /at most 256/,
  );
  assert.throws(
    () => buildExotelStreamUrl({ url: "wss://x.example/ws", username: "k" }),
    /both username and password/,
  );
});

Deno.test("exotel basic auth: accepted, wrong, missing, malformed", () => {
  const expected = { username: "key", password: "s3cret" };
  const header = `Basic ${btoa("key:s3cret")}`;
  assert.deepEqual(
    checkExotelBasicAuth({ ...expected, authorization: header }),
    { valid: true },
  );
  const cases: [string, string | null, RegExp][] = [
    ["wrong password", `Basic ${btoa("key:s3crex")}`, /do not match/],
    ["prefix of password", `Basic ${btoa("key:s3cre")}`, /do not match/],
    ["longer password", `Basic ${btoa("key:s3cret!")}`, /do not match/],
    ["missing", null, /missing/],
    ["bearer", "Bearer abc", /not Basic/],
    ["not base64", "Basic abc", /not base64/],
  ];
  for (const [name, authorization, reason] of cases) {
    const result = checkExotelBasicAuth({ ...expected, authorization });
    assert.ok(!result.valid, `${name}: accepted`);
    assert.match(result.reason, reason, name);
  }
  assert.throws(
    () =>
      checkExotelBasicAuth({
        authorization: header,
        username: "",
        password: "x",
      }),
    /must be non-empty/,
  );
});
