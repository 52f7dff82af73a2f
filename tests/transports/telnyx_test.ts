import assert from "node:assert/strict";
import {
  buildTelnyxTexml,
  createTelnyxCodec,
  verifyTelnyxSignature,
} from "../../src/transports/telnyx.ts";
import type { Decoded, WireCodec } from "../../src/transports/codec.ts";
import { decodeMulaw, encodeMulaw } from "../../src/audio/mulaw.ts";
import { decodeAlaw, encodeAlaw } from "../../src/audio/alaw.ts";
import * as parley from "../../src/transports/mod.ts";

const STREAM_ID = "32DE0DEA-53CB-4B21-89A4-9E1819C043BC";
const CALL_CONTROL_ID =
  "v3:T02llQxIyaRkhfRKxgAP8nY511EhFLizdvdUKJiSw8d6A9BborherQ";

/** A start frame shaped like the one in Telnyx's media streaming docs. */
function startFrame(
  mediaFormat: Record<string, unknown> = {
    encoding: "PCMU",
    sample_rate: 8000,
    channels: 1,
  },
  overrides: Record<string, unknown> = {},
): string {
  return JSON.stringify({
    event: "start",
    sequence_number: "1",
    stream_id: STREAM_ID,
    start: {
      user_id: "3E6F995F-85F7-4705-9741-53B116D28237",
      call_control_id: CALL_CONTROL_ID,
      call_session_id: "ff55a038-6f5d-11ef-9692-02420aeffb1f",
      from: "+13122010094",
      to: "+13122123456",
      tags: ["TAG1", "TAG2"],
      client_state: "aGF2ZSBhIG5pY2UgZGF5ID1d",
      custom_parameters: { customer_id: "customer_123" },
      media_format: mediaFormat,
      ...overrides,
    },
  });
}

function mediaFrame(
  bytes: Uint8Array,
  seq = 2,
  track: string | undefined = "inbound",
): string {
  return JSON.stringify({
    event: "media",
    sequence_number: String(seq),
    media: {
      track,
      chunk: String(seq - 1),
      timestamp: String((seq - 1) * 20),
      payload: btoa(String.fromCharCode(...bytes)),
    },
    stream_id: STREAM_ID,
  });
}

function only(decoded: Decoded[]): Decoded {
  assert.equal(decoded.length, 1, JSON.stringify(decoded));
  return decoded[0];
}

function started(codec: WireCodec, format?: Record<string, unknown>): void {
  assert.equal(only(codec.decode(startFrame(format))).kind, "start");
}

function tone(n: number, rate = 8000): Int16Array {
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = Math.round(8000 * Math.sin(2 * Math.PI * 440 * i / rate));
  }
  return out;
}

Deno.test("telnyx: start → audio → mark → played → dtmf → stop round trip", () => {
  const codec = createTelnyxCodec();
  assert.equal(codec.protocol, "telnyx");
  assert.equal(codec.started, false);
  assert.deepEqual(
    codec.decode(JSON.stringify({ event: "connected", version: "1.0.0" })),
    [],
  );

  const start = only(codec.decode(startFrame()));
  assert.ok(start.kind === "start");
  assert.equal(codec.started, true);
  assert.deepEqual(start.call, {
    callId: STREAM_ID,
    carrierCallId: CALL_CONTROL_ID,
    accountId: "3E6F995F-85F7-4705-9741-53B116D28237",
    from: "+13122010094",
    to: "+13122123456",
    customParameters: { customer_id: "customer_123" },
    inputRate: 8000,
    outputRate: 8000,
    extra: {
      encoding: "PCMU",
      outboundEncoding: "PCMU",
      callSessionId: "ff55a038-6f5d-11ef-9692-02420aeffb1f",
      clientState: "aGF2ZSBhIG5pY2UgZGF5ID1d",
      tags: ["TAG1", "TAG2"],
    },
  });

  // 20 ms of caller audio, PCMU.
  const sent = tone(160);
  const audio = only(codec.decode(mediaFrame(encodeMulaw(sent))));
  assert.ok(audio.kind === "audio");
  assert.deepEqual(audio.samples, decodeMulaw(encodeMulaw(sent)));

  // Outbound audio: {"event":"media","media":{"payload":base64 PCMU}}.
  const reply = tone(160);
  const media = JSON.parse(codec.encodeAudio(reply) as string);
  assert.deepEqual(Object.keys(media).sort(), ["event", "media"]);
  assert.equal(media.event, "media");
  assert.deepEqual(Object.keys(media.media), ["payload"]);
  const payload = Uint8Array.from(
    atob(media.media.payload),
    (c) => c.charCodeAt(0),
  );
  assert.deepEqual(payload, encodeMulaw(reply));

  // Mark out: {"event":"mark","mark":{"name":…}}; Telnyx echoes it back.
  const mark = JSON.parse(codec.encodeMark("reply-1") as string);
  assert.deepEqual(mark, { event: "mark", mark: { name: "reply-1" } });
  const played = only(codec.decode(JSON.stringify({
    event: "mark",
    sequence_number: "4",
    stream_id: STREAM_ID,
    mark: { name: "reply-1" },
  })));
  assert.deepEqual(played, { kind: "played", name: "reply-1" });

  // Clear: {"event":"clear"}.
  assert.deepEqual(JSON.parse(codec.encodeClear() as string), {
    event: "clear",
  });

  const dtmf = only(codec.decode(JSON.stringify({
    event: "dtmf",
    stream_id: STREAM_ID,
    occurred_at: "2024-09-11T12:00:00.000000Z",
    sequence_number: "5",
    dtmf: { digit: "#" },
  })));
  assert.deepEqual(dtmf, { kind: "dtmf", digit: "#" });

  const stop = only(codec.decode(JSON.stringify({
    event: "stop",
    sequence_number: "6",
    stop: { user_id: "u", call_control_id: CALL_CONTROL_ID },
    stream_id: STREAM_ID,
  })));
  assert.equal(stop.kind, "stop");
  const after = only(codec.decode(mediaFrame(encodeMulaw(sent), 7)));
  assert.ok(after.kind === "error" && /after stop/.test(after.reason));
});

Deno.test("telnyx: PCMA calls decode with A-law, outbound PCMA encodes with A-law", () => {
  const codec = createTelnyxCodec({ outboundEncoding: "PCMA" });
  const start = only(
    codec.decode(
      startFrame({ encoding: "PCMA", sample_rate: 8000, channels: 1 }),
    ),
  );
  assert.ok(start.kind === "start");
  assert.equal(start.call.extra?.encoding, "PCMA");
  const sent = tone(160);
  const audio = only(codec.decode(mediaFrame(encodeAlaw(sent))));
  assert.ok(audio.kind === "audio");
  assert.deepEqual(audio.samples, decodeAlaw(encodeAlaw(sent)));
  const out = JSON.parse(codec.encodeAudio(sent) as string);
  assert.deepEqual(
    Uint8Array.from(atob(out.media.payload), (c) => c.charCodeAt(0)),
    encodeAlaw(sent),
  );
});

Deno.test("telnyx: L16 is big-endian both ways, at the announced rate", () => {
  const codec = createTelnyxCodec({
    outboundEncoding: "L16",
    outboundSampleRate: 16000,
  });
  const start = only(
    codec.decode(startFrame({ encoding: "L16", sample_rate: 16000 })),
  );
  assert.ok(start.kind === "start");
  assert.equal(start.call.inputRate, 16000);
  assert.equal(start.call.outputRate, 16000);
  // 0x0102 = 258 and -2 (0xfffe), written big-endian.
  const audio = only(
    codec.decode(mediaFrame(new Uint8Array([0x01, 0x02, 0xff, 0xfe]))),
  );
  assert.ok(audio.kind === "audio");
  assert.deepEqual(audio.samples, new Int16Array([258, -2]));
  const out = JSON.parse(
    codec.encodeAudio(new Int16Array([258, -2])) as string,
  );
  assert.deepEqual(
    Uint8Array.from(atob(out.media.payload), (c) => c.charCodeAt(0)),
    new Uint8Array([0x01, 0x02, 0xff, 0xfe]),
  );
});

Deno.test("telnyx: an odd L16 byte is carried into the next payload", () => {
  const codec = createTelnyxCodec();
  started(codec, { encoding: "L16", sample_rate: 8000 });
  const a = only(codec.decode(mediaFrame(new Uint8Array([0x00, 0x05, 0x01]))));
  assert.ok(a.kind === "audio");
  assert.deepEqual(a.samples, new Int16Array([5]));
  const b = only(codec.decode(mediaFrame(new Uint8Array([0x00]), 3)));
  assert.ok(b.kind === "audio");
  assert.deepEqual(b.samples, new Int16Array([256]));
});

Deno.test("telnyx: l16ByteOrder little reads and writes host order", () => {
  const codec = createTelnyxCodec({
    outboundEncoding: "L16",
    l16ByteOrder: "little",
  });
  started(codec, { encoding: "L16", sample_rate: 8000 });
  const a = only(codec.decode(mediaFrame(new Uint8Array([0x02, 0x01]))));
  assert.ok(a.kind === "audio");
  assert.deepEqual(a.samples, new Int16Array([258]));
  const out = JSON.parse(codec.encodeAudio(new Int16Array([258])) as string);
  assert.equal(out.media.payload, btoa("\x02\x01"));
});

Deno.test("telnyx: outbound-track media (both_tracks) is not caller audio", () => {
  const codec = createTelnyxCodec();
  started(codec);
  assert.deepEqual(
    codec.decode(mediaFrame(new Uint8Array(160), 2, "outbound")),
    [],
  );
  // A frame without a track is taken as inbound.
  assert.equal(
    only(codec.decode(mediaFrame(new Uint8Array(160), 3, undefined))).kind,
    "audio",
  );
});

Deno.test("telnyx: any payload size is accepted (1 s and 1 MiB)", () => {
  const codec = createTelnyxCodec();
  started(codec);
  for (const n of [1, 8000, 1 << 20]) {
    const bytes = new Uint8Array(n).fill(0xff);
    const payload = (bytes as unknown as { toBase64(): string }).toBase64();
    const out = only(codec.decode(JSON.stringify({
      event: "media",
      stream_id: STREAM_ID,
      media: { track: "inbound", payload },
    })));
    assert.ok(out.kind === "audio");
    assert.equal(out.samples.length, n);
  }
  // An empty payload is no audio, not an error.
  assert.deepEqual(codec.decode(mediaFrame(new Uint8Array(0))), []);
});

Deno.test("telnyx: Telnyx error frames come back as errors with the code", () => {
  const codec = createTelnyxCodec();
  started(codec);
  const out = only(codec.decode(JSON.stringify({
    event: "error",
    sequence_number: "3",
    stream_id: STREAM_ID,
    payload: {
      code: 100003,
      title: "malformed_frame",
      detail: "The received frame is not a valid JSON",
    },
  })));
  assert.ok(out.kind === "error");
  assert.match(out.reason, /100003/);
  assert.match(out.reason, /malformed_frame/);
});

Deno.test("telnyx: custom parameters keep strings, stringify scalars, drop the rest", () => {
  const codec = createTelnyxCodec();
  const out = codec.decode(startFrame(undefined, {
    custom_parameters: {
      a: "1",
      n: 2,
      b: true,
      nested: { x: 1 },
      long: "x".repeat(2000),
    },
  }));
  assert.equal(out.length, 2);
  assert.ok(out[0].kind === "start");
  assert.deepEqual(out[0].call.customParameters, { a: "1", n: "2", b: "true" });
  assert.ok(out[1].kind === "error");
  assert.match(out[1].reason, /nested, long/);
});

const long = "x".repeat(129);
const HOSTILE: [string, () => WireCodec, unknown, RegExp][] = [
  ["binary frame", fresh, new Uint8Array([1, 2, 3]), /binary frame of 3 bytes/],
  ["invalid JSON", fresh, "{not json", /invalid JSON/],
  ["JSON array", fresh, "[1,2]", /array/],
  ["JSON null", fresh, "null", /null/],
  ["JSON number", fresh, "42", /number 42/],
  ["no event", fresh, '{"media":{}}', /"event" string/],
  ["event not a string", fresh, '{"event":7}', /number 7/],
  ["unknown event", fresh, '{"event":"hello"}', /unknown Telnyx event "hello"/],
  [
    "huge unknown event",
    fresh,
    JSON.stringify({
      event: "y".repeat(1 << 20),
    }),
    /40 of 1048576 chars/,
  ],
  ["huge invalid JSON", fresh, "{" + "z".repeat(1 << 20), /1048577 chars/],
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
      stream_id: STREAM_ID,
    }),
    /without a start object/,
  ],
  [
    "start without stream_id",
    fresh,
    JSON.stringify({
      event: "start",
      start: { media_format: { encoding: "PCMU" } },
    }),
    /stream_id must be a non-empty string/,
  ],
  [
    "stream_id too long",
    fresh,
    JSON.stringify({
      event: "start",
      stream_id: long,
      start: { media_format: { encoding: "PCMU" } },
    }),
    /129 characters long/,
  ],
  [
    "stream_id with spaces",
    fresh,
    JSON.stringify({
      event: "start",
      stream_id: "a b",
      start: { media_format: { encoding: "PCMU" } },
    }),
    /spaces or non-ASCII/,
  ],
  [
    "stream_id a number",
    fresh,
    JSON.stringify({
      event: "start",
      stream_id: 5,
      start: { media_format: { encoding: "PCMU" } },
    }),
    /stream_id must be a non-empty string, got number 5/,
  ],
  [
    "call_control_id too long",
    fresh,
    startFrame(undefined, { call_control_id: long }),
    /start\.call_control_id is 129/,
  ],
  [
    "from not a string",
    fresh,
    startFrame(undefined, { from: 12 }),
    /start\.from/,
  ],
  [
    "G722 stream",
    fresh,
    startFrame({ encoding: "G722", sample_rate: 16000 }),
    /"G722", which Parley does not decode; set codec="PCMU"/,
  ],
  ["no encoding", fresh, startFrame({}), /encoding is missing/],
  ["stereo", fresh, startFrame({ encoding: "PCMU", channels: 2 }), /mono/],
  [
    "PCMU at 16 kHz",
    fresh,
    startFrame({ encoding: "PCMU", sample_rate: 16000 }),
    /8000 Hz audio/,
  ],
  ["L16 without rate", fresh, startFrame({ encoding: "L16" }), /L16 needs/],
  [
    "L16 at 4 kHz",
    fresh,
    startFrame({ encoding: "L16", sample_rate: 4000 }),
    /L16 needs/,
  ],
  ["second start", startedCodec, startFrame(), /second start/],
  [
    "media without media",
    startedCodec,
    '{"event":"media"}',
    /without a media object/,
  ],
  [
    "payload not a string",
    startedCodec,
    JSON.stringify({
      event: "media",
      media: { payload: 5 },
    }),
    /media\.payload is number 5/,
  ],
  [
    "bad base64",
    startedCodec,
    JSON.stringify({
      event: "media",
      media: { payload: "!!!!" },
    }),
    /not valid base64/,
  ],
  [
    "base64 without padding",
    startedCodec,
    JSON.stringify({
      event: "media",
      media: { payload: "AAE" },
    }),
    /not valid base64/,
  ],
  [
    "odd track",
    startedCodec,
    JSON.stringify({
      event: "media",
      media: { track: "sideways", payload: "AAAA" },
    }),
    /media\.track/,
  ],
  [
    "media for another stream",
    startedCodec,
    JSON.stringify({
      event: "media",
      stream_id: "other",
      media: { payload: "AAAA" },
    }),
    /another stream_id/,
  ],
  [
    "dtmf two digits",
    startedCodec,
    '{"event":"dtmf","dtmf":{"digit":"12"}}',
    /invalid dtmf\.digit/,
  ],
  [
    "dtmf lowercase",
    startedCodec,
    '{"event":"dtmf","dtmf":{"digit":"a"}}',
    /invalid dtmf\.digit/,
  ],
  [
    "dtmf E",
    startedCodec,
    '{"event":"dtmf","dtmf":{"digit":"E"}}',
    /invalid dtmf\.digit/,
  ],
  [
    "dtmf number",
    startedCodec,
    '{"event":"dtmf","dtmf":{"digit":5}}',
    /number 5/,
  ],
  ["dtmf missing", startedCodec, '{"event":"dtmf"}', /missing/],
  [
    "mark without name",
    startedCodec,
    '{"event":"mark","mark":{}}',
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
  return createTelnyxCodec();
}
function startedCodec(): WireCodec {
  const c = createTelnyxCodec();
  started(c);
  return c;
}
function stoppedCodec(): WireCodec {
  const c = startedCodec();
  c.decode('{"event":"stop"}');
  return c;
}

Deno.test("telnyx: hostile messages decode to one short error, never a throw", () => {
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

Deno.test("telnyx: a rejected start leaves the codec ready for a good one", () => {
  const codec = createTelnyxCodec();
  assert.equal(
    only(codec.decode(startFrame({ encoding: "OPUS" }))).kind,
    "error",
  );
  assert.equal(only(codec.decode(startFrame())).kind, "start");
});

Deno.test("telnyx: every DTMF key is accepted", () => {
  const codec = startedCodec();
  for (const digit of "0123456789*#ABCD") {
    assert.deepEqual(
      only(codec.decode(JSON.stringify({ event: "dtmf", dtmf: { digit } }))),
      { kind: "dtmf", digit },
    );
  }
});

Deno.test("telnyx: codec options are checked", () => {
  assert.throws(
    () => createTelnyxCodec({ outboundEncoding: "G722" as "PCMU" }),
    /outboundEncoding must be "PCMU", "PCMA" or "L16"/,
  );
  assert.throws(
    () => createTelnyxCodec({ outboundSampleRate: 16000 }),
    /PCMU is 8000 Hz only/,
  );
  assert.throws(
    () => createTelnyxCodec({ outboundEncoding: "L16", outboundSampleRate: 1 }),
    RangeError,
  );
  assert.throws(
    () => createTelnyxCodec({ l16ByteOrder: "middle" as "big" }),
    /l16ByteOrder/,
  );
});

Deno.test("telnyx: exported from @parley/parley/transports", () => {
  assert.equal(parley.createTelnyxCodec, createTelnyxCodec);
  assert.equal(parley.buildTelnyxTexml, buildTelnyxTexml);
  assert.equal(parley.verifyTelnyxSignature, verifyTelnyxSignature);
});

// --- TeXML -----------------------------------------------------------------

Deno.test("telnyx texml: <Connect><Stream> with bidirectional RTP by default", () => {
  assert.equal(
    buildTelnyxTexml({
      streamUrl: "wss://bot.example.com/telephone/telnyx/handler",
    }),
    '<?xml version="1.0" encoding="UTF-8"?><Response><Connect>' +
      '<Stream url="wss://bot.example.com/telephone/telnyx/handler" ' +
      'track="inbound_track" bidirectionalMode="rtp" ' +
      'bidirectionalCodec="PCMU" bidirectionalSamplingRate="8000"/>' +
      "</Connect></Response>",
  );
});

Deno.test("telnyx texml: <Start> with a pause, parameters and escaping", () => {
  const xml = buildTelnyxTexml({
    streamUrl: "wss://h.example/ws?a=1&b=2",
    verb: "start",
    pauseSeconds: 600,
    name: "bot <1>",
    codec: "PCMA",
    bidirectionalCodec: "L16",
    bidirectionalSamplingRate: 16000,
    statusCallback: "https://h.example/status",
    statusCallbackMethod: "POST",
    parameters: { lang: "en", quote: `"x" & 'y'\u0001` },
  });
  assert.equal(
    xml,
    '<?xml version="1.0" encoding="UTF-8"?><Response><Start>' +
      '<Stream url="wss://h.example/ws?a=1&amp;b=2" name="bot &lt;1&gt;" ' +
      'track="inbound_track" codec="PCMA" bidirectionalMode="rtp" ' +
      'bidirectionalCodec="L16" bidirectionalSamplingRate="16000" ' +
      'statusCallback="https://h.example/status" statusCallbackMethod="POST">' +
      '<Parameter name="lang" value="en"/>' +
      '<Parameter name="quote" value="&quot;x&quot; &amp; &apos;y&apos;"/>' +
      '</Stream></Start><Pause length="600"/></Response>',
  );
});

Deno.test("telnyx texml: bad options throw errors that say what to pass", () => {
  assert.throws(
    () => buildTelnyxTexml({ streamUrl: "https://h.example/ws" }),
    /streamUrl must use ws or wss, got https/,
  );
  assert.throws(
    () => buildTelnyxTexml({ streamUrl: "not a url" }),
    /not an absolute URL/,
  );
  assert.throws(
    () =>
      buildTelnyxTexml({
        streamUrl: "wss://h/ws",
        bidirectionalCodec: "OPUS" as "PCMU",
      }),
    /bidirectionalCodec must be "PCMU", "PCMA" or "L16"/,
  );
  assert.throws(
    () =>
      buildTelnyxTexml({
        streamUrl: "wss://h/ws",
        bidirectionalSamplingRate: 16000,
      }),
    /does not fit PCMU/,
  );
  assert.throws(
    () =>
      buildTelnyxTexml({ streamUrl: "wss://h/ws", verb: "dial" as "start" }),
    /verb must be "connect" or "start"/,
  );
  assert.throws(
    () => buildTelnyxTexml(undefined as never),
    /options object with a streamUrl/,
  );
});

// --- Webhook signatures ----------------------------------------------------

async function keyPair(): Promise<
  { priv: CryptoKey; pub: string; spki: string }
> {
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const raw = new Uint8Array(
    await crypto.subtle.exportKey("raw", pair.publicKey),
  );
  const spki = new Uint8Array(
    await crypto.subtle.exportKey("spki", pair.publicKey),
  );
  return {
    priv: pair.privateKey,
    pub: btoa(String.fromCharCode(...raw)),
    spki: btoa(String.fromCharCode(...spki)),
  };
}

/** Signs the way Telnyx documents it: Ed25519 over `timestamp|payload`. */
async function telnyxSign(
  priv: CryptoKey,
  timestamp: string,
  body: string,
): Promise<string> {
  const sig = new Uint8Array(
    await crypto.subtle.sign(
      { name: "Ed25519" },
      priv,
      new TextEncoder().encode(`${timestamp}|${body}`),
    ),
  );
  return btoa(String.fromCharCode(...sig));
}

const BODY = JSON.stringify({
  data: {
    event_type: "call.initiated",
    id: "0ccc7b54-4df3-4bca-a65a-3da1ecc777f0",
    occurred_at: "2026-12-01T22:00:00.000000Z",
    payload: { call_control_id: CALL_CONTROL_ID, to: "+13122123456" },
    record_type: "event",
  },
  meta: { attempt: 1, delivered_to: "https://bot.example.com/telnyx" },
});

Deno.test("telnyx signature: a real Ed25519 signature is accepted", async () => {
  const { priv, pub, spki } = await keyPair();
  const now = Date.UTC(2026, 11, 1, 22, 0, 0);
  const timestamp = String(now / 1000);
  const signature = await telnyxSign(priv, timestamp, BODY);
  assert.deepEqual(
    await verifyTelnyxSignature({
      publicKey: pub,
      signature,
      timestamp,
      body: BODY,
      now,
    }),
    { valid: true },
  );
  // Raw bytes, a DER (SPKI) key and an imported CryptoKey work too.
  assert.equal(
    (await verifyTelnyxSignature({
      publicKey: spki,
      signature,
      timestamp,
      body: new TextEncoder().encode(BODY),
      now: now + 299_000,
    })).valid,
    true,
  );
  const imported = await crypto.subtle.importKey(
    "raw",
    Uint8Array.from(atob(pub), (c) => c.charCodeAt(0)),
    { name: "Ed25519" },
    false,
    ["verify"],
  );
  assert.equal(
    (await verifyTelnyxSignature({
      publicKey: imported,
      signature,
      timestamp,
      body: BODY,
      now,
    })).valid,
    true,
  );
});

Deno.test("telnyx signature: forged, missing and stale requests are refused", async () => {
  const { priv, pub } = await keyPair();
  const other = await keyPair();
  const now = Date.UTC(2026, 11, 1, 22, 0, 0);
  const ts = String(now / 1000);
  const good = await telnyxSign(priv, ts, BODY);
  const cases: [string, Parameters<typeof verifyTelnyxSignature>[0], RegExp][] =
    [
      ["body altered", {
        publicKey: pub,
        signature: good,
        timestamp: ts,
        body: BODY.replace("+1312", "+1999"),
        now,
      }, /does not match/],
      ["timestamp altered", {
        publicKey: pub,
        signature: good,
        timestamp: String(now / 1000 + 1),
        body: BODY,
        now,
      }, /does not match/],
      ["another account's key", {
        publicKey: pub,
        signature: await telnyxSign(other.priv, ts, BODY),
        timestamp: ts,
        body: BODY,
        now,
      }, /does not match/],
      ["re-serialized body", {
        publicKey: pub,
        signature: good,
        timestamp: ts,
        body: JSON.stringify(JSON.parse(BODY), null, 2),
        now,
      }, /does not match/],
      ["signature missing", {
        publicKey: pub,
        signature: null,
        timestamp: ts,
        body: BODY,
        now,
      }, /telnyx-signature-ed25519 header is missing/],
      ["timestamp missing", {
        publicKey: pub,
        signature: good,
        timestamp: undefined,
        body: BODY,
        now,
      }, /telnyx-timestamp header is missing/],
      ["stale", {
        publicKey: pub,
        signature: good,
        timestamp: ts,
        body: BODY,
        now: now + 301_000,
      }, /301 s old, beyond the 300 s tolerance/],
      ["from the future", {
        publicKey: pub,
        signature: good,
        timestamp: ts,
        body: BODY,
        now: now - 600_000,
        toleranceSec: 60,
      }, /in the future/],
      ["timestamp not a number", {
        publicKey: pub,
        signature: good,
        timestamp: "yesterday",
        body: BODY,
        now,
      }, /not Unix seconds/],
      ["signature not base64", {
        publicKey: pub,
        signature: "%%%%",
        timestamp: ts,
        body: BODY,
        now,
      }, /not base64/],
      ["signature truncated", {
        publicKey: pub,
        signature: good.slice(0, 44),
        timestamp: ts,
        body: BODY,
        now,
      }, /bytes; Ed25519 signatures are 64/],
    ];
  for (const [name, check, reason] of cases) {
    const result = await verifyTelnyxSignature(check);
    assert.ok(!result.valid, `${name}: accepted`);
    assert.match(result.reason, reason, `${name}: ${result.reason}`);
  }
});

Deno.test("telnyx signature: a misconfigured public key throws a TypeError", async () => {
  const base = { signature: "x", timestamp: "1", body: "" };
  await assert.rejects(
    verifyTelnyxSignature({ ...base, publicKey: "" }),
    /publicKey is empty; set it to the public key from the Telnyx portal/,
  );
  await assert.rejects(
    verifyTelnyxSignature({ ...base, publicKey: "not base64!" }),
    /publicKey is not base64/,
  );
  await assert.rejects(
    verifyTelnyxSignature({ ...base, publicKey: btoa("short") }),
    /decodes to 5 bytes; an Ed25519 public key is 32 bytes/,
  );
});
