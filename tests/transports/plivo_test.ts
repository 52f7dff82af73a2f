import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import alawmulaw from "alawmulaw";
import {
  buildPlivoXml,
  createPlivoCodec,
  verifyPlivoSignatureV3,
} from "../../src/transports/plivo.ts";
import type { Decoded } from "../../src/transports/codec.ts";
import { fuzzCodec } from "../support/wire_fuzz.ts";

const { mulaw } = alawmulaw;

const STREAM_ID = "87654321-4321-4321-4321-cba987654321";
const CALL_ID = "12345678-1234-1234-1234-123456789abc";

/** The start message from Plivo's Stream Event Protocol page. */
function startMessage(
  mediaFormat: Record<string, unknown> = {
    encoding: "audio/x-mulaw",
    sampleRate: 8000,
  },
): string {
  return JSON.stringify({
    event: "start",
    sequenceNumber: 1,
    start: {
      callId: CALL_ID,
      streamId: STREAM_ID,
      accountId: "MAXXXXXXXXXXXXXXXXXX",
      tracks: ["inbound"],
      mediaFormat,
    },
    extra_headers: "userId=12345;sessionId=abc-xyz",
  });
}

function mediaMessage(payload: string, track = "inbound"): string {
  return JSON.stringify({
    event: "media",
    sequenceNumber: 42,
    streamId: STREAM_ID,
    media: { track, timestamp: "1705312200000", chunk: 41, payload },
    extra_headers: "userId=12345;sessionId=abc-xyz",
  });
}

/** Each sample within μ-law's quantisation error of the reference. */
function assertNear(got: Int16Array, want: Int16Array) {
  assert.equal(got.length, want.length);
  for (let i = 0; i < want.length; i++) {
    const tol = Math.max(16, Math.abs(want[i]) / 16);
    assert.ok(
      Math.abs(got[i] - want[i]) <= tol,
      `sample ${i}: ${got[i]} vs ${want[i]}`,
    );
  }
}

function b64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

function started(options = {}) {
  const codec = createPlivoCodec(options);
  const [start] = codec.decode(startMessage());
  assert.equal(start.kind, "start");
  return codec;
}

Deno.test("plivo codec: start maps ids, rates and extra_headers", () => {
  const codec = createPlivoCodec();
  assert.equal(codec.protocol, "plivo");
  assert.equal(codec.started, false);
  const out = codec.decode(startMessage());
  assert.equal(out.length, 1);
  const d = out[0];
  assert.ok(d.kind === "start");
  assert.equal(d.call.callId, STREAM_ID);
  assert.equal(d.call.carrierCallId, CALL_ID);
  assert.equal(d.call.accountId, "MAXXXXXXXXXXXXXXXXXX");
  assert.equal(d.call.inputRate, 8000);
  assert.equal(d.call.outputRate, 8000);
  assert.deepEqual(d.call.customParameters, {
    userId: "12345",
    sessionId: "abc-xyz",
  });
  assert.deepEqual(d.call.extra?.tracks, ["inbound"]);
  assert.equal(codec.started, true);
});

Deno.test("plivo codec: comma-separated extra_headers (XML page form)", () => {
  const codec = createPlivoCodec();
  const msg = JSON.parse(startMessage());
  msg.extra_headers = "test1=12,test2=123";
  const [d] = codec.decode(JSON.stringify(msg));
  assert.ok(d.kind === "start");
  assert.deepEqual(d.call.customParameters, { test1: "12", test2: "123" });
});

Deno.test("plivo codec: μ-law media decodes like alawmulaw", () => {
  const codec = started();
  const pcm = new Int16Array(160).map((_, i) =>
    Math.round(8000 * Math.sin(i / 5))
  );
  const bytes = mulaw.encode(pcm) as Uint8Array;
  const [d] = codec.decode(mediaMessage(b64(bytes)));
  assert.ok(d.kind === "audio");
  assert.deepEqual(d.samples, mulaw.decode(bytes));
});

Deno.test("plivo codec: any payload size, outbound track skipped", () => {
  const codec = started();
  for (const n of [1, 7, 160, 4000]) {
    const [d] = codec.decode(mediaMessage(b64(new Uint8Array(n).fill(0xff))));
    assert.ok(d.kind === "audio");
    assert.equal(d.samples.length, n);
  }
  assert.deepEqual(
    codec.decode(mediaMessage(b64(new Uint8Array(10)), "outbound")),
    [],
  );
  assert.deepEqual(codec.decode(mediaMessage("")), []);
});

Deno.test("plivo codec: L16 16 kHz in and out (little-endian default)", () => {
  const codec = createPlivoCodec();
  const [s] = codec.decode(
    startMessage({ encoding: "audio/x-l16", sampleRate: 16000 }),
  );
  assert.ok(s.kind === "start");
  assert.equal(s.call.inputRate, 16000);
  assert.equal(s.call.outputRate, 16000);
  const [d] = codec.decode(
    mediaMessage(b64(new Uint8Array([0x01, 0x02, 0xff, 0xff]))),
  );
  assert.ok(d.kind === "audio");
  assert.deepEqual([...d.samples], [0x0201, -1]);
  const out = JSON.parse(
    codec.encodeAudio(new Int16Array([0x0201, -2])) as string,
  );
  assert.deepEqual(out, {
    event: "playAudio",
    media: {
      contentType: "audio/x-l16",
      sampleRate: 16000,
      payload: "AQL+/w==",
    },
  });
});

Deno.test("plivo codec: L16 big-endian option", () => {
  const codec = createPlivoCodec({ l16ByteOrder: "big" });
  codec.decode(startMessage({ encoding: "audio/x-l16", sampleRate: 8000 }));
  const [d] = codec.decode(mediaMessage(b64(new Uint8Array([0x01, 0x02]))));
  assert.ok(d.kind === "audio");
  assert.deepEqual([...d.samples], [0x0102]);
});

Deno.test("plivo codec: encoded messages match the docs' shapes", () => {
  const codec = started();
  const pcm = new Int16Array(160).map((_, i) => (i * 97) % 20000 - 10000);
  const play = JSON.parse(codec.encodeAudio(pcm) as string);
  assert.deepEqual(Object.keys(play).sort(), ["event", "media"]);
  assert.equal(play.event, "playAudio");
  assert.deepEqual(Object.keys(play.media).sort(), [
    "contentType",
    "payload",
    "sampleRate",
  ]);
  assert.equal(play.media.contentType, "audio/x-mulaw");
  assert.equal(play.media.sampleRate, 8000);
  const bytes = Uint8Array.from(
    atob(play.media.payload),
    (c) => c.charCodeAt(0),
  );
  // alawmulaw's encoder rounds differently from G.711's reference in a few
  // cells, so check what a phone would hear: its decode is within μ-law's
  // quantisation step of the input.
  assertNear(mulaw.decode(bytes) as Int16Array, pcm);

  assert.deepEqual(JSON.parse(codec.encodeMark("reply-1") as string), {
    event: "checkpoint",
    streamId: STREAM_ID,
    name: "reply-1",
  });
  assert.deepEqual(JSON.parse(codec.encodeClear() as string), {
    event: "clearAudio",
    streamId: STREAM_ID,
  });
});

Deno.test("plivo codec: dtmf, playedStream/played, clearedAudio, stop", () => {
  const codec = started();
  const dtmf = (digit: unknown) =>
    JSON.stringify({
      event: "dtmf",
      sequenceNumber: 5,
      streamId: STREAM_ID,
      dtmf: { track: "inbound", digit, timestamp: "1" },
    });
  for (const key of ["0", "9", "*", "#", "A", "D"]) {
    assert.deepEqual(codec.decode(dtmf(key)), [{ kind: "dtmf", digit: key }]);
  }
  assert.deepEqual(
    codec.decode(
      JSON.stringify({
        event: "playedStream",
        streamId: STREAM_ID,
        name: "m1",
      }),
    ),
    [{ kind: "played", name: "m1" }],
  );
  assert.deepEqual(
    codec.decode(
      JSON.stringify({ event: "played", streamId: STREAM_ID, name: "m2" }),
    ),
    [{ kind: "played", name: "m2" }],
  );
  assert.deepEqual(
    codec.decode(
      JSON.stringify({
        sequenceNumber: 0,
        event: "clearedAudio",
        streamId: STREAM_ID,
      }),
    ),
    [],
  );
  const [stop] = codec.decode(JSON.stringify({ event: "stop" }));
  assert.equal(stop.kind, "stop");
});

Deno.test("plivo codec: round trip of plain values", () => {
  // Outbound audio parsed back the way Plivo would, then fed in as inbound.
  const codec = started();
  const pcm = new Int16Array(320).map((_, i) =>
    Math.round(12000 * Math.cos(i / 9))
  );
  const play = JSON.parse(codec.encodeAudio(pcm) as string);
  const [back] = codec.decode(mediaMessage(play.media.payload));
  assert.ok(back.kind === "audio");
  const sent = Uint8Array.from(
    atob(play.media.payload),
    (c) => c.charCodeAt(0),
  );
  assert.deepEqual(back.samples, mulaw.decode(sent));
  assertNear(back.samples, pcm);
  const mark = JSON.parse(codec.encodeMark("turn-3") as string);
  const [played] = codec.decode(
    JSON.stringify({
      event: "playedStream",
      streamId: mark.streamId,
      name: mark.name,
    }),
  );
  assert.deepEqual(played, { kind: "played", name: "turn-3" });
});

Deno.test("plivo codec: hostile messages become errors, never throws", () => {
  const huge = "A".repeat(1 << 20);
  const fresh: [string, string | Uint8Array][] = [
    ["binary frame", new Uint8Array([1, 2, 3])],
    ["not JSON", "{nope"],
    ["JSON array", "[1,2]"],
    ["JSON string", '"start"'],
    ["null", "null"],
    ["no event", "{}"],
    ["numeric event", '{"event":5}'],
    ["media before start", mediaMessage("AAAA")],
    ["dtmf before start", '{"event":"dtmf","dtmf":{"digit":"1"}}'],
    ["start without start object", '{"event":"start"}'],
    ["start with array start", '{"event":"start","start":[]}'],
    ["start with huge streamId", startMessageWith({ streamId: huge })],
    ["start with id with spaces", startMessageWith({ streamId: "a b" })],
    ["start with numeric streamId", startMessageWith({ streamId: 7 })],
    ["start without mediaFormat", startMessageWith({ mediaFormat: undefined })],
    [
      "start with A-law",
      startMessageWith({
        mediaFormat: { encoding: "audio/x-alaw", sampleRate: 8000 },
      }),
    ],
    [
      "start with μ-law at 16k",
      startMessageWith({
        mediaFormat: { encoding: "audio/x-mulaw", sampleRate: 16000 },
      }),
    ],
    [
      "start with string rate",
      startMessageWith({
        mediaFormat: { encoding: "audio/x-l16", sampleRate: "8000" },
      }),
    ],
  ];
  for (const [what, message] of fresh) {
    const codec = createPlivoCodec();
    const out = expectOneError(codec.decode(message), what);
    assert.ok(out.reason.length < 400, `${what}: reason stays short`);
    assert.equal(codec.started, false, what);
  }

  const after: [string, string | Uint8Array][] = [
    ["second start", startMessage()],
    ["media without media", '{"event":"media"}'],
    ["numeric payload", '{"event":"media","media":{"payload":5}}'],
    ["bad base64", mediaMessage("!!!!")],
    ["base64 wrong length", mediaMessage("AAA")],
    ["huge bad base64", mediaMessage(huge + "!")],
    ["dtmf two keys", '{"event":"dtmf","dtmf":{"digit":"12"}}'],
    ["dtmf letter", '{"event":"dtmf","dtmf":{"digit":"E"}}'],
    ["dtmf without dtmf", '{"event":"dtmf"}'],
    ["dtmf numeric", '{"event":"dtmf","dtmf":{"digit":1}}'],
    ["playedStream without name", '{"event":"playedStream"}'],
    [
      "playedStream huge name",
      JSON.stringify({ event: "playedStream", name: huge }),
    ],
    ["unknown event", '{"event":"hangup"}'],
    ["huge unknown event", JSON.stringify({ event: huge })],
    ["binary after start", new Uint8Array(320)],
  ];
  for (const [what, message] of after) {
    const codec = started();
    expectOneError(codec.decode(message), what);
  }
  // L16 with an odd byte count.
  const l16 = createPlivoCodec();
  l16.decode(startMessage({ encoding: "audio/x-l16", sampleRate: 8000 }));
  expectOneError(l16.decode(mediaMessage(b64(new Uint8Array(3)))), "odd L16");
});

function startMessageWith(start: Record<string, unknown>): string {
  const msg = JSON.parse(startMessage());
  Object.assign(msg.start, start);
  if ("mediaFormat" in start && start.mediaFormat === undefined) {
    delete msg.start.mediaFormat;
  }
  return JSON.stringify(msg);
}

function expectOneError(out: Decoded[], what: string) {
  assert.equal(out.length, 1, what);
  const d = out[0];
  assert.ok(d.kind === "error", `${what}: got ${d.kind}`);
  return d;
}

Deno.test("plivo codec: options are validated, encode before start throws", () => {
  assert.throws(
    () => createPlivoCodec({ outputRate: 24000 as 8000 }),
    RangeError,
  );
  assert.throws(
    () => createPlivoCodec({ outputEncoding: "audio/x-alaw" as "audio/x-l16" }),
    TypeError,
  );
  const codec = createPlivoCodec();
  assert.throws(
    () => codec.encodeAudio(new Int16Array(160)),
    /before Plivo's start/,
  );
  // 16 kHz output on a μ-law call selects L16.
  const wide = createPlivoCodec({ outputRate: 16000 });
  const [s] = wide.decode(startMessage());
  assert.ok(s.kind === "start");
  assert.equal(s.call.outputRate, 16000);
  const play = JSON.parse(wide.encodeAudio(new Int16Array(320)) as string);
  assert.equal(play.media.contentType, "audio/x-l16");
  assert.equal(play.media.sampleRate, 16000);
});

Deno.test("plivo xml: <Stream> with the documented attributes", () => {
  const xml = buildPlivoXml({
    streamUrl: "wss://bot.example.com/telephone/plivo/handler",
    extraHeaders: { tenant: "acme", lang: "en" },
    statusCallbackUrl: "https://bot.example.com/status?a=1&b=2",
  });
  assert.equal(
    xml,
    '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Stream ' +
      'bidirectional="true" keepCallAlive="true" ' +
      'contentType="audio/x-mulaw;rate=8000" extraHeaders="tenant=acme,lang=en" ' +
      'statusCallbackUrl="https://bot.example.com/status?a=1&amp;b=2" ' +
      'statusCallbackMethod="POST">' +
      "wss://bot.example.com/telephone/plivo/handler</Stream></Response>",
  );
  const speak = buildPlivoXml({
    streamUrl: "wss://x.test/h",
    contentType: "audio/x-l16;rate=16000",
    speak: "Hi <there>",
  });
  assert.match(speak, /<Speak>Hi &lt;there&gt;<\/Speak><Stream /);
  assert.match(speak, /contentType="audio\/x-l16;rate=16000"/);
  assert.throws(
    () => buildPlivoXml({ streamUrl: "https://x.test/h" }),
    /wss:\/\//,
  );
  assert.throws(
    () =>
      buildPlivoXml({
        streamUrl: "wss://x.test/h",
        extraHeaders: { a: "b c" },
      }),
    /letters and digits/,
  );
  assert.throws(
    () =>
      buildPlivoXml({
        streamUrl: "wss://x.test/h",
        contentType: "audio/x-alaw;rate=8000" as "audio/x-l16;rate=8000",
      }),
    /contentType/,
  );
});

/** HMAC-SHA256 base64, computed with node:crypto (independent of Parley). */
function sign(token: string, text: string): string {
  return createHmac("sha256", token).update(text).digest("base64");
}

Deno.test("plivo signature v3: POST, GET, query strings, several signatures", async () => {
  const authToken = "MjE5ZDBmY2U3NWJmZDgyYTk2NTE3ZTc3YzQ0NGFm";
  const nonce = "05429567804466091622";
  const params = {
    To: "14155550100",
    CallUUID: "c0a8-01",
    From: "14155550199",
  };
  // Strings written by hand from Plivo's "Signature generation logic"
  // (and checked once, outside this suite, against validateV3Signature of
  // Plivo's official npm SDK, plivo@4.75.6, which accepts the same strings).
  const postText =
    "https://example.com/answer?CallUUIDc0a8-01From14155550199To14155550100." +
    nonce;
  const postWithQuery =
    "https://example.com/abcd?a=2&foo=bar.CallUUIDc0a8-01From14155550199To14155550100." +
    nonce;
  const getText = "https://example.com/answer?CallUUID=c0a8-01&foo=bar." +
    nonce;
  const emptyPost = "https://example.com/answer." + nonce;

  const cases: [string, Parameters<typeof verifyPlivoSignatureV3>[0]][] = [
    ["post", {
      authToken,
      url: "https://example.com/answer",
      method: "POST",
      params,
      nonce,
      signature: sign(authToken, postText),
    }],
    ["post with query", {
      authToken,
      url: "https://example.com/abcd?foo=bar&a=2",
      method: "POST",
      params,
      nonce,
      signature: sign(authToken, postWithQuery),
    }],
    ["get", {
      authToken,
      url: "https://example.com/answer?foo=bar",
      method: "GET",
      params: { CallUUID: "c0a8-01" },
      nonce,
      signature: sign(authToken, getText),
    }],
    ["websocket upgrade (no params)", {
      authToken,
      url: "https://example.com/answer",
      method: "POST",
      nonce,
      signature: sign(authToken, emptyPost),
    }],
    ["second of two signatures", {
      authToken,
      url: "https://example.com/answer",
      method: "POST",
      params,
      nonce,
      signature: `${sign("other-token", postText)},${
        sign(authToken, postText)
      }`,
    }],
  ];
  for (const [what, options] of cases) {
    assert.equal(await verifyPlivoSignatureV3(options), true, what);
  }

  const good = cases[0][1];
  const forged: [string, Parameters<typeof verifyPlivoSignatureV3>[0]][] = [
    ["wrong token", { ...good, authToken: "wrong" }],
    ["tampered param", { ...good, params: { ...params, To: "14155550101" } }],
    ["other nonce", { ...good, nonce: "1" }],
    ["other url", { ...good, url: "https://example.com/answer2" }],
    ["garbage", { ...good, signature: "not-a-signature" }],
    ["missing signature", { ...good, signature: null }],
    ["missing nonce", { ...good, nonce: null }],
    ["empty token", { ...good, authToken: "" }],
    ["PUT", { ...good, method: "PUT" }],
  ];
  for (const [what, options] of forged) {
    assert.equal(await verifyPlivoSignatureV3(options), false, what);
  }
});

Deno.test("plivo codec: fuzzed messages never throw", () => {
  fuzzCodec({
    make: () => createPlivoCodec(),
    start: startMessage(),
    valid: [
      JSON.parse(startMessage()),
      JSON.parse(startMessage({ encoding: "audio/x-l16", sampleRate: 16000 })),
      JSON.parse(mediaMessage("AAAA")),
      {
        event: "dtmf",
        streamId: STREAM_ID,
        dtmf: { track: "inbound", digit: "5" },
      },
      { event: "playedStream", streamId: STREAM_ID, name: "m" },
      { event: "clearedAudio", streamId: STREAM_ID },
    ],
  });
});
