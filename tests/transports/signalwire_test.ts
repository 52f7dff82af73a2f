import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import alawmulaw from "alawmulaw";
import twilio from "twilio";
import {
  buildSignalWireCxml,
  createSignalWireCodec,
  isValidSignalWireBearer,
  verifySignalWireSignature,
} from "../../src/transports/signalwire.ts";
import type { Decoded } from "../../src/transports/codec.ts";
import { fuzzCodec } from "../support/wire_fuzz.ts";

const { mulaw } = alawmulaw;

const STREAM = "7d56cc11-536d-4a45-b4fb-ed3d55be843b";
const CALL = "76ac3c36-56da-4a3e-a0d6-b5f8df6da9ad";
const ACCOUNT = "b08dacad-2f6c-4de1-93d6-cc732e0c69c5";

/** SignalWire's documented envelope around a Twilio-shaped event. */
function wrapped(raw: Record<string, unknown>): string {
  return JSON.stringify({
    timestamp: "2025-09-26T16:25:04.794Z",
    direction: "inbound",
    eventType: raw.event,
    streamSid: STREAM,
    sequenceNumber: "1",
    rawEvent: raw,
  });
}

function startRaw(
  mediaFormat: Record<string, unknown> = {
    encoding: "audio/x-mulaw",
    sampleRate: 8000,
    channels: 1,
  },
) {
  return {
    event: "start",
    sequenceNumber: "1",
    start: {
      streamSid: STREAM,
      accountSid: ACCOUNT,
      callSid: CALL,
      tracks: ["inbound"],
      customParameters: { FirstName: "Jane", LastName: "Doe" },
      mediaFormat,
    },
  };
}

function mediaRaw(payload: string, track = "inbound") {
  return {
    event: "media",
    sequenceNumber: "1002",
    media: { track, chunk: "1001", timestamp: "20041", payload },
  };
}

function b64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

function started(format?: Record<string, unknown>) {
  const codec = createSignalWireCodec();
  assert.deepEqual(
    codec.decode(
      wrapped({ event: "connected", protocol: "Call", version: "0.2.0" }),
    ),
    [],
  );
  const [d] = codec.decode(wrapped(startRaw(format)));
  assert.equal(d.kind, "start");
  return codec;
}

Deno.test("signalwire codec: enveloped start maps ids, rate, parameters", () => {
  const codec = createSignalWireCodec();
  assert.equal(codec.protocol, "signalwire");
  const [d] = codec.decode(wrapped(startRaw()));
  assert.ok(d.kind === "start");
  assert.equal(d.call.callId, STREAM);
  assert.equal(d.call.carrierCallId, CALL);
  assert.equal(d.call.accountId, ACCOUNT);
  assert.equal(d.call.inputRate, 8000);
  assert.equal(d.call.outputRate, 8000);
  assert.deepEqual(d.call.customParameters, {
    FirstName: "Jane",
    LastName: "Doe",
  });
  assert.deepEqual(d.call.extra?.tracks, ["inbound"]);
  assert.equal(codec.started, true);
});

Deno.test("signalwire codec: bare Twilio-shaped messages work too", () => {
  const codec = createSignalWireCodec();
  const [d] = codec.decode(JSON.stringify(startRaw()));
  assert.ok(d.kind === "start");
  const bytes = new Uint8Array(160).fill(0x7f);
  const [a] = codec.decode(JSON.stringify(mediaRaw(b64(bytes))));
  assert.ok(a.kind === "audio");
  assert.deepEqual(a.samples, mulaw.decode(bytes));
});

Deno.test("signalwire codec: L16@16000h and L16@24000h, little-endian", () => {
  for (const rate of [16000, 24000]) {
    const codec = createSignalWireCodec();
    const [s] = codec.decode(
      wrapped(
        startRaw({ encoding: "audio/x-L16", sampleRate: rate, channels: 1 }),
      ),
    );
    assert.ok(s.kind === "start");
    assert.equal(s.call.inputRate, rate);
    assert.equal(s.call.outputRate, rate);
    const [a] = codec.decode(
      wrapped(mediaRaw(b64(new Uint8Array([0x34, 0x12, 0x00, 0x80])))),
    );
    assert.ok(a.kind === "audio");
    assert.deepEqual([...a.samples], [0x1234, -32768]);
    const out = JSON.parse(
      codec.encodeAudio(new Int16Array([0x1234, -32768])) as string,
    );
    assert.deepEqual(out, {
      event: "media",
      streamSid: STREAM,
      media: { payload: "NBIAgA==" },
    });
  }
  const big = createSignalWireCodec({ l16ByteOrder: "big" });
  big.decode(wrapped(startRaw({ encoding: "audio/x-L16", sampleRate: 16000 })));
  const [a] = big.decode(wrapped(mediaRaw(b64(new Uint8Array([0x12, 0x34])))));
  assert.ok(a.kind === "audio");
  assert.deepEqual([...a.samples], [0x1234]);
});

Deno.test("signalwire codec: encoded messages match the docs' shapes", () => {
  const codec = started();
  const pcm = new Int16Array(160).map((_, i) =>
    Math.round(9000 * Math.sin(i / 4))
  );
  const media = JSON.parse(codec.encodeAudio(pcm) as string);
  assert.deepEqual(Object.keys(media).sort(), ["event", "media", "streamSid"]);
  assert.equal(media.event, "media");
  assert.equal(media.streamSid, STREAM);
  assert.deepEqual(Object.keys(media.media), ["payload"]);
  const sent = Uint8Array.from(
    atob(media.media.payload),
    (c) => c.charCodeAt(0),
  );
  assert.equal(sent.length, 160);
  const heard = mulaw.decode(sent) as Int16Array;
  for (let i = 0; i < pcm.length; i++) {
    assert.ok(
      Math.abs(heard[i] - pcm[i]) <= Math.max(16, Math.abs(pcm[i]) / 16),
    );
  }
  assert.deepEqual(JSON.parse(codec.encodeMark("my label") as string), {
    event: "mark",
    streamSid: STREAM,
    mark: { name: "my label" },
  });
  assert.deepEqual(JSON.parse(codec.encodeClear() as string), {
    event: "clear",
    streamSid: STREAM,
  });
});

Deno.test("signalwire codec: dtmf, mark, clear ack, stop; round trip", () => {
  const codec = started();
  for (const key of ["1", "8", "*", "#", "B"]) {
    assert.deepEqual(
      codec.decode(
        wrapped({
          event: "dtmf",
          streamSid: STREAM,
          dtmf: { duration: 2700, digit: key },
        }),
      ),
      [{ kind: "dtmf", digit: key }],
    );
  }
  const mark = JSON.parse(codec.encodeMark("item:43500") as string);
  assert.deepEqual(
    codec.decode(
      wrapped({ event: "mark", streamSid: STREAM, mark: mark.mark }),
    ),
    [{ kind: "played", name: "item:43500" }],
  );
  assert.deepEqual(
    codec.decode(wrapped({ event: "clear", streamSid: STREAM })),
    [],
  );
  const pcm = new Int16Array(160).map((_, i) => (i * 211) % 16000 - 8000);
  const out = JSON.parse(codec.encodeAudio(pcm) as string);
  const [back] = codec.decode(wrapped(mediaRaw(out.media.payload)));
  assert.ok(back.kind === "audio");
  assert.deepEqual(
    back.samples,
    mulaw.decode(
      Uint8Array.from(atob(out.media.payload), (c) => c.charCodeAt(0)),
    ),
  );
  assert.deepEqual(
    codec.decode(wrapped(mediaRaw(b64(new Uint8Array(4)), "outbound"))),
    [],
  );
  const [stop] = codec.decode(
    wrapped({ event: "stop", sequenceNumber: "1002" }),
  );
  assert.equal(stop.kind, "stop");
});

function expectOneError(out: Decoded[], what: string) {
  assert.equal(out.length, 1, what);
  assert.ok(out[0].kind === "error", `${what}: got ${out[0].kind}`);
  assert.ok(out[0].reason.length < 400, `${what}: reason stays short`);
}

Deno.test("signalwire codec: hostile messages become errors, never throws", () => {
  const huge = "z".repeat(1 << 20);
  const fresh: [string, string | Uint8Array][] = [
    ["binary", new Uint8Array(10)],
    ["not JSON", "nope"],
    ["array", "[{}]"],
    ["no event", "{}"],
    ["rawEvent without event", '{"rawEvent":{}}'],
    ["media before start", wrapped(mediaRaw("AAAA"))],
    ["mark before start", wrapped({ event: "mark", mark: { name: "x" } })],
    ["start without start", wrapped({ event: "start" })],
    ["huge streamSid", wrapped({ event: "start", start: { streamSid: huge } })],
    [
      "start without any streamSid",
      JSON.stringify({ event: "start", start: {} }),
    ],
    [
      "A-law start",
      wrapped(startRaw({ encoding: "audio/x-alaw", sampleRate: 8000 })),
    ],
    [
      "μ-law at 16k",
      wrapped(startRaw({ encoding: "audio/x-mulaw", sampleRate: 16000 })),
    ],
    [
      "L16 at 44.1k",
      wrapped(startRaw({ encoding: "audio/x-L16", sampleRate: 44100 })),
    ],
  ];
  for (const [what, message] of fresh) {
    const codec = createSignalWireCodec();
    expectOneError(codec.decode(message), what);
    assert.equal(codec.started, false, what);
  }
  const after: [string, string | Uint8Array][] = [
    ["second start", wrapped(startRaw())],
    ["media without payload", wrapped({ event: "media", media: {} })],
    ["bad base64", wrapped(mediaRaw("@@@@"))],
    ["huge bad base64", wrapped(mediaRaw(huge + "="))],
    ["dtmf bad digit", wrapped({ event: "dtmf", dtmf: { digit: "##" } })],
    ["dtmf numeric digit", wrapped({ event: "dtmf", dtmf: { digit: 8 } })],
    ["mark without name", wrapped({ event: "mark", mark: {} })],
    ["mark huge name", wrapped({ event: "mark", mark: { name: huge } })],
    ["unknown", wrapped({ event: "hangup" })],
    ["binary after start", new Uint8Array(320)],
  ];
  for (const [what, message] of after) {
    expectOneError(started().decode(message), what);
  }
  const l16 = started({ encoding: "audio/x-L16", sampleRate: 16000 });
  expectOneError(
    l16.decode(wrapped(mediaRaw(b64(new Uint8Array(5))))),
    "odd L16",
  );
  assert.throws(
    () => createSignalWireCodec().encodeAudio(new Int16Array(1)),
    /before SignalWire/,
  );
});

Deno.test("signalwire cxml: <Connect><Stream> with SignalWire's attributes", () => {
  const xml = buildSignalWireCxml({
    streamUrl: "wss://bot.example.com/telephone/signalwire/handler",
    codec: "L16@16000h",
    authBearerToken: "tok&en",
    parameters: { tenant: "acme" },
    say: "Hello",
  });
  assert.equal(
    xml,
    '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Say>Hello</Say><Connect>' +
      '<Stream url="wss://bot.example.com/telephone/signalwire/handler" ' +
      'codec="L16@16000h" authBearerToken="tok&amp;en">' +
      '<Parameter name="tenant" value="acme"/></Stream></Connect></Response>',
  );
  assert.match(
    buildSignalWireCxml({ streamUrl: "wss://x.test/h" }),
    /<Connect><Stream url="wss:\/\/x.test\/h"\/><\/Connect>/,
  );
  assert.throws(
    () => buildSignalWireCxml({ streamUrl: "wss://x.test/h?a=1" }),
    /query string/,
  );
  assert.throws(
    () =>
      buildSignalWireCxml({
        streamUrl: "wss://x.test/h",
        codec: "OPUS@48000h" as "PCMU@8000h",
      }),
    /codec/,
  );
});

/** Twilio-compatible signature, computed with node:crypto. */
function signForm(key: string, text: string): string {
  return createHmac("sha1", key).update(text).digest("base64");
}

Deno.test("signalwire signature: cXML form, ports, JSON body; forged/missing", async () => {
  const signingKey = "PSK_7yLm2Q0example";
  const url = "https://bot.example.com/telephone/signalwire/incoming";
  const params = { To: "+15550100", CallSid: CALL, From: "+15550199" };
  // Written by hand: URL then params sorted by name as namevalue.
  const text = url + `CallSid${CALL}From+15550199To+15550100`;
  const good = signForm(signingKey, text);
  assert.equal(
    await verifySignalWireSignature({
      signingKey,
      signature: good,
      url,
      params,
    }),
    true,
  );
  // The cXML scheme is Twilio's: the twilio package agrees.
  assert.equal(twilio.validateRequest(signingKey, good, url, params), true);
  // SignalWire may have signed the URL with its default port.
  const withPort = signForm(
    signingKey,
    "https://bot.example.com:443/telephone/signalwire/incoming" +
      `CallSid${CALL}From+15550199To+15550100`,
  );
  assert.equal(
    await verifySignalWireSignature({
      signingKey,
      signature: withPort,
      url,
      params,
    }),
    true,
  );
  assert.equal(
    await verifySignalWireSignature({
      signingKey,
      signature: good,
      url: "https://bot.example.com:443/telephone/signalwire/incoming",
      params,
    }),
    true,
  );
  // JSON scheme: hex HMAC-SHA1 over URL + raw body.
  const body = '{"call":{"call_id":"abc"}}';
  const hex = createHmac("sha1", signingKey).update(url + body).digest("hex");
  assert.equal(
    await verifySignalWireSignature({
      signingKey,
      signature: hex,
      url,
      rawBody: body,
    }),
    true,
  );
  // bodySHA256 in the URL: signature over the URL, body hash must match.
  const bodyHash = createHash("sha256").update(body).digest("hex");
  const hashedUrl = `${url}?bodySHA256=${bodyHash}`;
  const hashedSig = signForm(signingKey, hashedUrl);
  assert.equal(
    await verifySignalWireSignature({
      signingKey,
      signature: hashedSig,
      url: hashedUrl,
      rawBody: body,
    }),
    true,
  );

  const forged: [string, Parameters<typeof verifySignalWireSignature>[0]][] = [
    ["wrong key", { signingKey: "PSK_other", signature: good, url, params }],
    ["tampered param", {
      signingKey,
      signature: good,
      url,
      params: { ...params, To: "+15550101" },
    }],
    ["other url", { signingKey, signature: good, url: url + "2", params }],
    ["garbage", { signingKey, signature: "abc", url, params }],
    ["missing", { signingKey, signature: null, url, params }],
    ["empty key", { signingKey: "", signature: good, url, params }],
    ["tampered JSON body", {
      signingKey,
      signature: hex,
      url,
      rawBody: body + " ",
    }],
    ["bodySHA256 mismatch", {
      signingKey,
      signature: hashedSig,
      url: hashedUrl,
      rawBody: body + " ",
    }],
  ];
  for (const [what, options] of forged) {
    assert.equal(await verifySignalWireSignature(options), false, what);
  }
});

Deno.test("signalwire bearer token on the WebSocket upgrade", () => {
  assert.equal(
    isValidSignalWireBearer({
      authorization: "Bearer s3cret",
      token: "s3cret",
    }),
    true,
  );
  assert.equal(
    isValidSignalWireBearer({ authorization: "Bearer s3cre", token: "s3cret" }),
    false,
  );
  assert.equal(
    isValidSignalWireBearer({ authorization: null, token: "s3cret" }),
    false,
  );
  assert.equal(
    isValidSignalWireBearer({ authorization: "s3cret", token: "s3cret" }),
    false,
  );
  assert.equal(
    isValidSignalWireBearer({ authorization: "Bearer ", token: "" }),
    false,
  );
});

Deno.test("signalwire codec: fuzzed messages never throw", () => {
  fuzzCodec({
    make: () => createSignalWireCodec(),
    start: wrapped(startRaw()),
    valid: [
      JSON.parse(wrapped(startRaw())),
      startRaw({ encoding: "audio/x-L16", sampleRate: 24000 }),
      JSON.parse(wrapped(mediaRaw("AAAA"))),
      JSON.parse(wrapped({ event: "dtmf", dtmf: { digit: "1", duration: 9 } })),
      JSON.parse(wrapped({ event: "mark", mark: { name: "m" } })),
      { event: "clear", streamSid: STREAM },
      { event: "stop" },
    ],
  });
});
