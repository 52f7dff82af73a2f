import assert from "node:assert/strict";
import twilio from "twilio";
import { Stream } from "../../mod.ts";
import { EchoHandler, Journal } from "../support/handlers.ts";
import { serveStream, until } from "../support/server.ts";
import {
  decodeMulawRef,
  readFixture,
  TwilioTestClient,
} from "../support/twilio_client.ts";

const quiet = { verbose: false } as const;

/** Best alignment of `b` against `a`: the lag with the highest correlation. */
function bestLag(
  a: Int16Array,
  b: Int16Array,
  maxLag: number,
): { lag: number; corr: number } {
  let best = { lag: 0, corr: -Infinity };
  const n = Math.min(a.length, b.length) - maxLag;
  for (let lag = 0; lag <= maxLag; lag++) {
    let ab = 0, aa = 0, bb = 0;
    for (let i = 0; i < n; i++) {
      ab += a[i] * b[i + lag];
      aa += a[i] * a[i];
      bb += b[i + lag] * b[i + lag];
    }
    const corr = ab / Math.sqrt(aa * bb + 1e-9);
    if (corr > best.corr) best = { lag, corr };
  }
  return best;
}

Deno.test("twilio: echo at 8 kHz returns the caller's audio within codec error, streamSid on every message", async () => {
  const journal = new Journal();
  const stream = new Stream({ handler: new EchoHandler(journal), ...quiet });
  const server = serveStream(stream);
  try {
    const speech = (await readFixture("jfk_8k.ulaw")).subarray(0, 8000 * 2);
    const client = await TwilioTestClient.connect(
      `${server.wsUrl}/telephone/handler`,
      {
        customParameters: { caller: "+15550100" },
      },
    );
    await client.play(speech);
    await client.waitFor(
      () =>
        client.media.reduce((n, m) => n + m.bytes.length, 0) >= speech.length,
      8000,
      "echoed audio",
    );
    for (const m of client.messages) {
      assert.equal(m.streamSid, client.streamSid);
    }
    const got = client.receivedPcm().subarray(0, speech.length);
    const want = decodeMulawRef(speech);
    let maxErr = 0;
    for (let i = 0; i < want.length; i++) {
      maxErr = Math.max(maxErr, Math.abs(got[i] - want[i]));
    }
    // μ-law → PCM → μ-law → PCM is lossless for audioop's codec.
    assert.equal(maxErr, 0, `max sample error ${maxErr}`);
    // Outbound frames are 20 ms (160 bytes), paced near real time: 2 s of
    // audio may not arrive in a burst (the lead is 80 ms).
    assert.ok(client.media.every((m) => m.bytes.length === 160));
    const span = client.media.at(-1)!.at - client.media[0].at;
    assert.ok(span > 1600, `2 s of audio arrived within ${span.toFixed(0)} ms`);
    assert.deepEqual(journal.contexts[0], {
      callId: client.streamSid,
      transport: "twilio",
      phoneMode: true,
      streamSid: client.streamSid,
      callSid: client.callSid,
      customParameters: { caller: "+15550100" },
    });
    client.stop();
    await client.closed;
    await until(() => journal.shutdowns === 1, 2000, "shutdown");
    assert.equal(stream.activeCalls, 0);
  } finally {
    await server.close();
  }
});

Deno.test("twilio: a 16 kHz handler gets resampled audio and the echo matches the input", async () => {
  const stream = new Stream({
    handler: new EchoHandler(new Journal(), {
      inputSampleRate: 16000,
      outputSampleRate: 16000,
    }),
    ...quiet,
  });
  const server = serveStream(stream);
  try {
    const speech = (await readFixture("jfk_8k.ulaw")).subarray(0, 8000 * 2);
    const client = await TwilioTestClient.connect(
      `${server.wsUrl}/telephone/handler`,
    );
    await client.play(speech);
    // The resamplers hold back their group delay (a few ms) until more audio comes.
    await client.waitFor(
      () =>
        client.media.reduce((n, m) => n + m.bytes.length, 0) >=
          speech.length - 320,
      8000,
      "echoed audio",
    );
    const got = client.receivedPcm();
    const want = decodeMulawRef(speech);
    const { lag, corr } = bestLag(want, got, 200);
    // Two band-limited resampling passes and μ-law twice: the waveform
    // must still match closely (no clicks, no drift).
    assert.ok(corr > 0.97, `correlation ${corr.toFixed(4)} at lag ${lag}`);
    await client.close();
  } finally {
    await server.close();
  }
});

Deno.test("twilio: dtmf reaches the handler, marks are sent and echoed, clear follows an interrupt", async () => {
  const journal = new Journal();
  const stream = new Stream({ handler: new EchoHandler(journal), ...quiet });
  const server = serveStream(stream);
  try {
    const client = await TwilioTestClient.connect(
      `${server.wsUrl}/telephone/handler`,
    );
    client.dtmf("5");
    client.dtmf("*"); // handler queues a mark
    await client.waitFor(
      () => client.messages.some((m) => m.event === "mark"),
      3000,
      "mark",
    );
    const mark = client.messages.find((m) => m.event === "mark")!;
    assert.equal(mark.streamSid, client.streamSid);
    assert.equal(mark.mark?.name, "mark-2");
    await until(() => journal.played.includes("mark-2"), 3000, "played mark");
    // Long audio, then an interrupt while it is still being paced out.
    await client.play((await readFixture("jfk_8k.ulaw")).subarray(0, 8000 * 3));
    await client.waitFor(() => client.media.length > 3, 3000, "some audio");
    client.dtmf("#");
    await client.waitFor(
      () => client.messages.some((m) => m.event === "clear"),
      3000,
      "clear",
    );
    const clear = client.messages.find((m) => m.event === "clear")!;
    assert.equal(clear.streamSid, client.streamSid);
    assert.deepEqual(journal.dtmf, ["5", "*", "#"]);
    // After clear, the flushed audio is not sent: far less than 3 s arrives.
    await new Promise((r) => setTimeout(r, 300));
    const sent = client.media.reduce((n, m) => n + m.bytes.length, 0);
    assert.ok(sent < 8000 * 2, `only ${sent} bytes should have been sent`);
    await client.close();
    await until(() => journal.shutdowns === 1, 2000, "shutdown");
  } finally {
    await server.close();
  }
});

Deno.test("twilio: malformed messages are rejected one by one and the call goes on", async () => {
  const journal = new Journal();
  const problems: string[] = [];
  const warn = console.warn;
  console.warn = (...args: unknown[]) => problems.push(args.join(" "));
  const stream = new Stream({
    handler: new EchoHandler(journal),
    maxMessageBytes: 4096,
    ...quiet,
  });
  const server = serveStream(stream);
  try {
    const client = await TwilioTestClient.connect(
      `${server.wsUrl}/telephone/handler`,
      {
        sendStart: false,
      },
    );
    client.sendMulaw(new Uint8Array(160)); // media before start
    client.start();
    client.socket.send("{not json");
    client.send({ event: "bogus" });
    client.send({
      event: "media",
      streamSid: client.streamSid,
      media: { payload: "@@@" },
    });
    client.send({
      event: "media",
      streamSid: client.streamSid,
      media: { payload: "A".repeat(8000) },
    });
    client.send({
      event: "dtmf",
      streamSid: client.streamSid,
      dtmf: { digit: "xx" },
    });
    client.sendMulaw(new Uint8Array(160).fill(0x10));
    await client.waitFor(
      () => client.media.length >= 1,
      3000,
      "echo after bad input",
    );
    assert.equal(journal.received, 1);
    for (
      const needle of [
        "media before start",
        "invalid JSON",
        "unknown event",
        "not valid base64",
        "exceeds the 4096-byte limit",
        "invalid digit",
      ]
    ) {
      assert.ok(
        problems.some((p) => p.includes(needle)),
        `expected a problem about "${needle}": ${problems.join(" | ")}`,
      );
    }
    await client.close();
  } finally {
    console.warn = warn;
    await server.close();
  }
});

Deno.test("twilio: webhook answers TwiML and validates X-Twilio-Signature", async () => {
  const token = "12345678901234567890123456789012";
  const journal = new Journal();
  const stream = new Stream({
    handler: new EchoHandler(journal),
    twilio: { authToken: token, say: "Connecting" },
    ...quiet,
  });
  const server = serveStream(stream);
  try {
    const url = `${server.url}/telephone/incoming`;
    const params = { CallSid: "CA123", From: "+15550100", To: "+15550111" };
    const signature = twilio.getExpectedTwilioSignature(token, url, params);
    const ok = await fetch(url, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        "x-twilio-signature": signature,
      },
      body: new URLSearchParams(params),
    });
    assert.equal(ok.status, 200);
    assert.match(ok.headers.get("content-type")!, /application\/xml/);
    const xml = await ok.text();
    assert.match(xml, /<Say>Connecting<\/Say>/);
    assert.match(
      xml,
      new RegExp(
        `<Connect><Stream url="ws://127\\.0\\.0\\.1:\\d+/telephone/handler">` +
          // With an auth token, the per-call stream token (issue 13, item 8).
          `<Parameter name="parley_token" value="\\d+\\.[\\w-]{43}"/></Stream></Connect>`,
      ),
    );

    const tampered = await fetch(url, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        "x-twilio-signature": signature,
      },
      body: new URLSearchParams({ ...params, From: "+15550999" }),
    });
    assert.equal(tampered.status, 403);
    await tampered.body?.cancel();
    const unsigned = await fetch(url, {
      method: "POST",
      body: new URLSearchParams(params),
    });
    assert.equal(unsigned.status, 403);
    await unsigned.body?.cancel();

    // The WebSocket upgrade is signed over its ws(s):// URL.
    const wsUrl = `${server.wsUrl}/telephone/handler`;
    const wsSig = twilio.getExpectedTwilioSignature(token, wsUrl, {});
    const bad = await fetch(`${server.url}/telephone/handler`, {
      headers: {
        upgrade: "websocket",
        connection: "Upgrade",
        "sec-websocket-version": "13",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        "x-twilio-signature": "nope",
      },
    });
    assert.equal(bad.status, 403);
    await bad.body?.cancel();
    const socket = new WebSocket(wsUrl, {
      headers: { "x-twilio-signature": wsSig },
    });
    await new Promise<void>((resolve, reject) => {
      socket.onopen = () => resolve();
      socket.onerror = () => reject(new Error("signed upgrade refused"));
    });
    const closed = new Promise((r) => (socket.onclose = r));
    socket.close();
    await closed;
  } finally {
    await server.close();
  }
});

Deno.test("twilio: webhook says busy when the concurrency limit is reached; the second stream is refused", async () => {
  const journal = new Journal();
  const stream = new Stream({
    handler: new EchoHandler(journal),
    concurrencyLimit: 1,
    ...quiet,
  });
  const server = serveStream(stream);
  try {
    const first = await TwilioTestClient.connect(
      `${server.wsUrl}/telephone/handler`,
    );
    await until(() => stream.activeCalls === 1, 2000, "first call");
    const r = await fetch(`${server.url}/telephone/incoming`, {
      method: "POST",
    });
    const xml = await r.text();
    assert.match(xml, /busy/i);
    assert.match(xml, /<Hangup\/>/);
    const second = await TwilioTestClient.connect(
      `${server.wsUrl}/telephone/handler`,
    );
    await second.closed;
    assert.equal(second.closeCode, 1008);
    assert.equal(journal.started, 1);
    await first.close();
  } finally {
    await server.close();
  }
});
