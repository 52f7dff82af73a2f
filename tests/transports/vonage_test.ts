import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHash, createHmac } from "node:crypto";
import {
  buildVonageNcco,
  createVonageCodec,
  verifyVonageSignedWebhook,
} from "../../src/transports/vonage.ts";
import type { Decoded } from "../../src/transports/codec.ts";
import { fuzzCodec } from "../support/wire_fuzz.ts";

const UUID = "aaaaaaaa-bbbb-cccc-dddd-0123456789ab";

/** The connection message from Vonage's WebSockets guide (+ our uuid). */
function connected(rate = 16000, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    event: "websocket:connected",
    "content-type": `audio/l16;rate=${rate}`,
    app: "demo",
    uuid: UUID,
    ...extra,
  });
}

function started(rate = 16000) {
  const codec = createVonageCodec();
  const [d] = codec.decode(connected(rate));
  assert.equal(d.kind, "start");
  return codec;
}

/** Little-endian int16 bytes, written with a DataView (not Parley's code). */
function le(samples: number[]): Uint8Array {
  const out = new Uint8Array(samples.length * 2);
  const view = new DataView(out.buffer);
  samples.forEach((s, i) => view.setInt16(i * 2, s, true));
  return out;
}

Deno.test("vonage codec: websocket:connected starts the call", () => {
  const codec = createVonageCodec();
  assert.equal(codec.protocol, "vonage");
  const out = codec.decode(connected(16000, { caller: "447700900000" }));
  assert.equal(out.length, 1);
  const d = out[0];
  assert.ok(d.kind === "start");
  assert.equal(d.call.callId, UUID);
  assert.equal(d.call.carrierCallId, UUID);
  assert.equal(d.call.inputRate, 16000);
  assert.equal(d.call.outputRate, 16000);
  assert.deepEqual(d.call.customParameters, {
    app: "demo",
    uuid: UUID,
    caller: "447700900000",
  });
  assert.equal(d.call.extra?.contentType, "audio/l16;rate=16000");
  assert.equal(codec.started, true);
});

Deno.test("vonage codec: legacy first message without event, 8 kHz", () => {
  const codec = createVonageCodec({ makeCallId: () => "generated-id" });
  const [d] = codec.decode(
    JSON.stringify({ app: "demo", "content-type": "audio/l16;rate=8000" }),
  );
  assert.ok(d.kind === "start");
  assert.equal(d.call.inputRate, 8000);
  assert.equal(d.call.callId, "generated-id");
  assert.equal(d.call.carrierCallId, undefined);
});

Deno.test("vonage codec: binary L16 is little-endian, any size", () => {
  const codec = started();
  const [d] = codec.decode(le([1, -1, 32767, -32768, 0x1234]));
  assert.ok(d.kind === "audio");
  assert.deepEqual([...d.samples], [1, -1, 32767, -32768, 0x1234]);
  for (const n of [2, 320, 640, 64000]) {
    const [x] = codec.decode(new Uint8Array(n));
    assert.ok(x.kind === "audio");
    assert.equal(x.samples.length, n / 2);
  }
  assert.deepEqual(codec.decode(new Uint8Array(0)), []);
});

Deno.test("vonage codec: outbound frames are exactly 20 ms, little-endian", () => {
  for (const [rate, bytes] of [[8000, 320], [16000, 640], [24000, 960]]) {
    const codec = started(rate);
    const full = codec.encodeAudio(new Int16Array(rate / 50).fill(0x0102));
    assert.ok(full instanceof Uint8Array);
    assert.equal(full.length, bytes);
    assert.deepEqual([...full.subarray(0, 4)], [0x02, 0x01, 0x02, 0x01]);
    const short = codec.encodeAudio(new Int16Array([-2]));
    assert.ok(short instanceof Uint8Array);
    assert.equal(short.length, bytes, "a short frame is padded to 20 ms");
    assert.deepEqual([...short.subarray(0, 4)], [0xfe, 0xff, 0, 0]);
    assert.throws(
      () => codec.encodeAudio(new Int16Array(rate / 50 + 1)),
      /exactly 20 ms/,
    );
  }
});

Deno.test("vonage codec: clear and notify match the docs' shapes", () => {
  const codec = started();
  assert.deepEqual(JSON.parse(codec.encodeClear() as string), {
    action: "clear",
  });
  const notify = JSON.parse(codec.encodeMark("reply-1") as string);
  assert.deepEqual(Object.keys(notify).sort(), ["action", "payload"]);
  assert.equal(notify.action, "notify");
  assert.equal(typeof notify.payload, "object");
  // Vonage echoes the payload back once the audio before it has played.
  const [played] = codec.decode(
    JSON.stringify({ event: "websocket:notify", payload: notify.payload }),
  );
  assert.deepEqual(played, { kind: "played", name: "reply-1" });
  assert.deepEqual(
    codec.decode(JSON.stringify({ event: "websocket:cleared" })),
    [],
  );
});

Deno.test("vonage codec: round trip of plain values", () => {
  const codec = started(8000);
  const pcm = new Int16Array(160).map((_, i) =>
    Math.round(20000 * Math.sin(i / 3))
  );
  const frame = codec.encodeAudio(pcm) as Uint8Array;
  const [back] = codec.decode(frame);
  assert.ok(back.kind === "audio");
  assert.deepEqual(back.samples, pcm);
});

Deno.test("vonage codec: dtmf in the documented and tolerated shapes", () => {
  const codec = started();
  for (const key of ["0", "5", "9", "*", "#", "A", "D"]) {
    assert.deepEqual(
      codec.decode(
        JSON.stringify({ event: "websocket:dtmf", digit: key, duration: 260 }),
      ),
      [{ kind: "dtmf", digit: key }],
    );
  }
  assert.deepEqual(
    codec.decode(
      JSON.stringify({ event: "websocket:dtmf", dtmf: { digit: "7" } }),
    ),
    [{ kind: "dtmf", digit: "7" }],
  );
  assert.deepEqual(
    codec.decode(JSON.stringify({ event: "websocket:dtmf", dtmf: "3" })),
    [{ kind: "dtmf", digit: "3" }],
  );
});

function expectOneError(out: Decoded[], what: string) {
  assert.equal(out.length, 1, what);
  assert.ok(out[0].kind === "error", `${what}: got ${out[0].kind}`);
  assert.ok(out[0].reason.length < 400, `${what}: reason stays short`);
}

Deno.test("vonage codec: hostile messages become errors, never throws", () => {
  const huge = "x".repeat(1 << 20);
  const fresh: [string, string | Uint8Array][] = [
    ["audio before connected", new Uint8Array(640)],
    ["not JSON", "{"],
    ["JSON array", "[]"],
    ["JSON number", "42"],
    ["no event, no content-type", '{"app":"demo"}'],
    ["dtmf before connected", '{"event":"websocket:dtmf","digit":"1"}'],
    ["connected without content-type", '{"event":"websocket:connected"}'],
    ["connected with μ-law", connectedWith({ "content-type": "audio/pcmu" })],
    ["connected with 44.1 kHz", connected(44100)],
    [
      "connected with numeric content-type",
      connectedWith({ "content-type": 16000 }),
    ],
    [
      "connected with huge content-type",
      connectedWith({ "content-type": huge }),
    ],
  ];
  for (const [what, message] of fresh) {
    const codec = createVonageCodec();
    expectOneError(codec.decode(message), what);
    assert.equal(codec.started, false, what);
  }
  const after: [string, string | Uint8Array][] = [
    ["second connected", connected()],
    ["odd-length audio", new Uint8Array(641)],
    ["dtmf two digits", '{"event":"websocket:dtmf","digit":"12"}'],
    ["dtmf letter", '{"event":"websocket:dtmf","digit":"Z"}'],
    ["dtmf missing", '{"event":"websocket:dtmf"}'],
    ["dtmf numeric", '{"event":"websocket:dtmf","digit":5}'],
    ["notify without payload", '{"event":"websocket:notify"}'],
    [
      "notify with foreign payload",
      '{"event":"websocket:notify","payload":{"a":1}}',
    ],
    [
      "notify huge mark",
      JSON.stringify({
        event: "websocket:notify",
        payload: { parleyMark: huge },
      }),
    ],
    ["unknown event", '{"event":"websocket:hangup"}'],
    ["huge event", JSON.stringify({ event: huge })],
    ["numeric event", '{"event":1}'],
    ["bad JSON after start", "}{"],
  ];
  for (const [what, message] of after) {
    expectOneError(started().decode(message), what);
  }
});

function connectedWith(fields: Record<string, unknown>): string {
  return JSON.stringify({ event: "websocket:connected", ...fields });
}

Deno.test("vonage codec: ids stay bounded, headers kept as parameters", () => {
  const codec = createVonageCodec({ makeCallId: () => "fallback" });
  const [d] = codec.decode(
    connected(16000, {
      uuid: "u".repeat(200),
      call_uuid: "short-id",
      nested: { a: 1 },
    }),
  );
  assert.ok(d.kind === "start");
  assert.equal(d.call.callId, "short-id", "an over-long uuid is skipped");
  assert.equal(d.call.customParameters.nested, undefined);
  assert.deepEqual((d.call.extra?.headers as Record<string, unknown>).nested, {
    a: 1,
  });
  assert.throws(() => createVonageCodec().encodeClear(), /before Vonage/);
});

Deno.test("vonage ncco: connect with a websocket endpoint", () => {
  const ncco = buildVonageNcco({
    websocketUri: "wss://bot.example.com/telephone/vonage/handler",
    headers: { uuid: UUID },
    talk: "Connecting you",
  });
  assert.deepEqual(ncco, [
    { action: "talk", text: "Connecting you" },
    {
      action: "connect",
      endpoint: [{
        type: "websocket",
        uri: "wss://bot.example.com/telephone/vonage/handler",
        "content-type": "audio/l16;rate=16000",
        headers: { uuid: UUID },
      }],
    },
  ]);
  const eight = buildVonageNcco({
    websocketUri: "wss://x.test/h",
    contentType: "audio/l16;rate=8000",
  });
  assert.equal(
    (eight[0].endpoint as Record<string, unknown>[])[0]["content-type"],
    "audio/l16;rate=8000",
  );
  assert.throws(
    () => buildVonageNcco({ websocketUri: "https://x.test" }),
    /wss:\/\//,
  );
  assert.throws(
    () =>
      buildVonageNcco({
        websocketUri: "wss://x.test",
        headers: { big: "x".repeat(600) },
      }),
    /512/,
  );
  assert.throws(
    () =>
      buildVonageNcco({
        websocketUri: "wss://x.test",
        contentType: "audio/pcmu" as "audio/l16;rate=8000",
      }),
    /contentType/,
  );
});

/** An HS256 JWT made with node:crypto (independent of Parley's code). */
function jwt(
  secret: string,
  claims: Record<string, unknown>,
  alg = "HS256",
): string {
  const part = (v: unknown) =>
    Buffer.from(JSON.stringify(v)).toString("base64url");
  const head = part({ alg, typ: "JWT" });
  const body = part(claims);
  const sig = createHmac("sha256", secret).update(`${head}.${body}`).digest(
    "base64url",
  );
  return `${head}.${body}.${sig}`;
}

Deno.test("vonage signed webhook: accepted, forged, missing", async () => {
  const secret = "AbCdEf0123456789AbCdEf0123456789";
  const body =
    '{"uuid":"aaaa","conversation_uuid":"CON-1","status":"answered"}';
  const payloadHash = createHash("sha256").update(body).digest("hex");
  const now = 1_760_000_000_000;
  const claims = {
    iat: now / 1000 - 5,
    jti: "b4c5d6",
    iss: "Vonage",
    payload_hash: payloadHash,
    api_key: "abcd1234",
    application_id: "app-1",
  };
  const token = jwt(secret, claims);

  const ok = await verifyVonageSignedWebhook({
    secret,
    authorization: `Bearer ${token}`,
    body,
    maxAgeSeconds: 300,
    now,
  });
  assert.ok(ok.valid);
  assert.equal(ok.claims.api_key, "abcd1234");
  const bytes = await verifyVonageSignedWebhook({
    secret,
    authorization: `Bearer ${token}`,
    body: new TextEncoder().encode(body),
    now,
  });
  assert.ok(bytes.valid, "body as bytes");
  const b64Hash = createHash("sha256").update(body).digest("base64");
  const b64 = await verifyVonageSignedWebhook({
    secret,
    authorization: `Bearer ${
      jwt(secret, { ...claims, payload_hash: b64Hash })
    }`,
    body,
    now,
  });
  assert.ok(b64.valid, "base64 payload_hash");
  const tokenOnly = await verifyVonageSignedWebhook({
    secret,
    authorization: `Bearer ${jwt(secret, { iat: 1 })}`,
  });
  assert.ok(tokenOnly.valid, "no body: token only");

  const unsignedHead = Buffer.from('{"alg":"none"}').toString("base64url");
  const unsignedBody = Buffer.from(JSON.stringify(claims)).toString(
    "base64url",
  );
  const bad: [string, Parameters<typeof verifyVonageSignedWebhook>[0]][] = [
    ["missing header", { secret, authorization: null, body }],
    ["not bearer", { secret, authorization: `Basic ${token}`, body }],
    ["garbage", { secret, authorization: "Bearer abc", body }],
    ["wrong secret", {
      secret: "other",
      authorization: `Bearer ${token}`,
      body,
    }],
    ["empty secret", { secret: "", authorization: `Bearer ${token}`, body }],
    ["tampered body", {
      secret,
      authorization: `Bearer ${token}`,
      body: body + " ",
    }],
    ["alg none", {
      secret,
      authorization: `Bearer ${unsignedHead}.${unsignedBody}.`,
      body,
    }],
    ["HS512 header", {
      secret,
      authorization: `Bearer ${jwt(secret, claims, "HS512")}`,
      body,
    }],
    ["tampered claims", {
      secret,
      authorization: `Bearer ${token.split(".")[0]}.${
        Buffer.from(JSON.stringify({ ...claims, api_key: "evil" })).toString(
          "base64url",
        )
      }.${token.split(".")[2]}`,
      body,
    }],
    ["no payload_hash with body", {
      secret,
      authorization: `Bearer ${jwt(secret, { iat: claims.iat })}`,
      body,
    }],
    ["too old", {
      secret,
      authorization: `Bearer ${token}`,
      body,
      maxAgeSeconds: 1,
      now,
    }],
    ["expired", {
      secret,
      authorization: `Bearer ${
        jwt(secret, { ...claims, exp: now / 1000 - 1 })
      }`,
      body,
      now,
    }],
  ];
  for (const [what, options] of bad) {
    const result = await verifyVonageSignedWebhook(options);
    assert.equal(result.valid, false, what);
    if (!result.valid) assert.ok(result.reason.length > 0, what);
  }
});

Deno.test("vonage codec: fuzzed messages never throw", () => {
  fuzzCodec({
    make: () => createVonageCodec(),
    start: connected(),
    valid: [
      JSON.parse(connected(8000)),
      { event: "websocket:dtmf", digit: "5", duration: 260 },
      { event: "websocket:notify", payload: { parleyMark: "m" } },
      { event: "websocket:cleared" },
    ],
  });
});
