// examples/outbound_call.ts end to end: POST /call → the exact Calls.json
// request on a fake Twilio REST API → Twilio fetching the answer URL it was
// given (signed) → the TwiML's media socket → a call whose context carries
// the placed call's CallSid.
import assert from "node:assert/strict";
import twilio from "twilio";
import {
  type AudioChunk,
  getCurrentContext,
  Stream,
  StreamHandler,
} from "../../mod.ts";
import { TwilioCallControl } from "../../src/server/mod.ts";
import { createOutboundApp } from "../../examples/outbound_call.ts";
import { basic, serveFakeRest } from "../support/fake_rest.ts";
import { until } from "../support/server.ts";

const SID = "AC" + "d".repeat(32);
const TOKEN = "e".repeat(32);
const CALL = "CA" + "f".repeat(32);
const FROM = "+14155550199";

class ContextProbe extends StreamHandler {
  constructor(readonly seen: (string | undefined)[]) {
    super({ inputSampleRate: 8000, outputSampleRate: 8000 });
  }
  override startUp(): void {
    this.seen.push(getCurrentContext().callSid);
  }
  receive(_frame: AudioChunk): void {}
  emit(): null {
    return null;
  }
  copy(): ContextProbe {
    return new ContextProbe(this.seen);
  }
}

Deno.test("outbound_call example: POST /call places the call and the answer URL connects it", async () => {
  const rest = serveFakeRest((r) =>
    r.method === "POST" && r.path === `/2010-04-01/Accounts/${SID}/Calls.json`
      ? { status: 201, json: { sid: CALL, status: "queued" } }
      : { status: 404, json: { code: 20404, message: "not found" } }
  );
  const seen: (string | undefined)[] = [];
  const stream = new Stream({
    handler: new ContextProbe(seen),
    twilio: { authToken: TOKEN },
    verbose: false,
  });
  const app = createOutboundApp({
    stream,
    control: new TwilioCallControl({
      accountSid: SID,
      authToken: TOKEN,
      baseUrl: rest.url,
    }),
    from: FROM,
    apiToken: "let-me-dial",
  });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    app.fetch,
  );
  const origin = `http://127.0.0.1:${server.addr.port}`;
  let socket: WebSocket | undefined;
  try {
    // The dialer is not open to anyone.
    const anonymous = await fetch(`${origin}/call`, {
      method: "POST",
      body: JSON.stringify({ to: "+14155550100" }),
    });
    assert.equal(anonymous.status, 401);
    await anonymous.body?.cancel();
    const headers = {
      authorization: "Bearer let-me-dial",
      "content-type": "application/json",
    };
    const bad = await fetch(`${origin}/call`, {
      method: "POST",
      headers,
      body: "{",
    });
    assert.equal(bad.status, 400);
    await bad.body?.cancel();
    const badNumber = await fetch(`${origin}/call`, {
      method: "POST",
      headers,
      body: JSON.stringify({ to: "" }),
    });
    assert.equal(badNumber.status, 400);
    assert.match((await badNumber.json()).error, /E\.164/);
    assert.equal(rest.requests.length, 0);

    const placed = await fetch(`${origin}/call`, {
      method: "POST",
      headers,
      body: JSON.stringify({ to: "+14155550100" }),
    });
    assert.equal(placed.status, 200);
    const answerUrl = `${origin}/telephone/incoming`;
    assert.deepEqual(await placed.json(), { callId: CALL, answerUrl });

    // Exactly one request reached "Twilio", and it is calls.create's.
    assert.equal(rest.requests.length, 1);
    const [create] = rest.requests;
    assert.equal(create.method, "POST");
    assert.equal(create.path, `/2010-04-01/Accounts/${SID}/Calls.json`);
    assert.equal(create.authorization, basic(SID, TOKEN));
    assert.deepEqual(create.form, {
      To: "+14155550100",
      From: FROM,
      Url: answerUrl,
      Method: "POST",
    });

    // The callee answers: Twilio posts its signed webhook to that Url.
    const params = {
      CallSid: CALL,
      AccountSid: SID,
      From: FROM,
      To: "+14155550100",
      Direction: "outbound-api",
      CallStatus: "in-progress",
    };
    const answered = await fetch(create.form!.Url, {
      method: create.form!.Method,
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        "x-twilio-signature": twilio.getExpectedTwilioSignature(
          TOKEN,
          create.form!.Url,
          params,
        ),
      },
      body: new URLSearchParams(params),
    });
    assert.equal(answered.status, 200);
    const twiml = await answered.text();
    const streamUrl = /<Stream url="([^"]+)"/.exec(twiml)?.[1];
    // Twilio delivers the TwiML's <Parameter>s in start.customParameters
    // (Parley's parley_token among them).
    const customParameters = Object.fromEntries(
      [...twiml.matchAll(/<Parameter name="([^"]+)" value="([^"]*)"\/>/g)]
        .map((m) => [m[1], m[2].replaceAll("&amp;", "&")]),
    );
    assert.equal(
      streamUrl,
      `ws://127.0.0.1:${server.addr.port}/telephone/handler`,
    );

    // Twilio opens the media socket (signed) and starts the stream.
    socket = new WebSocket(streamUrl!, {
      headers: {
        "x-twilio-signature": twilio.getExpectedTwilioSignature(
          TOKEN,
          streamUrl!,
          {},
        ),
      },
    });
    await new Promise<void>((resolve, reject) => {
      socket!.onopen = () => resolve();
      socket!.onerror = () => reject(new Error("media socket refused"));
    });
    const streamSid = "MZ" + "1".repeat(32);
    socket.send(JSON.stringify({
      event: "connected",
      protocol: "Call",
      version: "1.0.0",
    }));
    socket.send(JSON.stringify({
      event: "start",
      sequenceNumber: "1",
      streamSid,
      start: {
        streamSid,
        accountSid: SID,
        callSid: CALL,
        tracks: ["inbound"],
        customParameters,
        mediaFormat: {
          encoding: "audio/x-mulaw",
          sampleRate: 8000,
          channels: 1,
        },
      },
    }));
    await until(() => seen.length === 1, 5000, "the call to start");
    // The handler sees the id hangUp/transfer take: the placed CallSid.
    assert.deepEqual(seen, [CALL]);
    assert.deepEqual(stream.callIds, [streamSid]);
  } finally {
    if (socket && socket.readyState !== WebSocket.CLOSED) {
      const closed = new Promise((r) => socket!.onclose = r);
      socket.close();
      await closed;
    }
    await stream.close();
    await server.shutdown();
    await rest.close();
  }
});
