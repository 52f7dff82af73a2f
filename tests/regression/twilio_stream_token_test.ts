/**
 * Issue 13, item 8 (token half): one captured upgrade signature must not
 * open a Media Stream again and again. The TwiML carries a per-call
 * `parley_token` `<Parameter>`; `start` must bring it back, once.
 */
import assert from "node:assert/strict";
import twilio from "twilio";
import { Stream } from "../../mod.ts";
import { createTwilioStreamToken } from "../../src/server/mod.ts";
import { EchoHandler, Journal } from "../support/handlers.ts";
import { serveStream, until } from "../support/server.ts";
import { TwilioTestClient } from "../support/twilio_client.ts";

const TOKEN = "12345678901234567890123456789012";

Deno.test("twilio stream token: TwiML issues it, start needs it, and it opens one stream only", async () => {
  const journal = new Journal();
  const stream = new Stream({
    handler: new EchoHandler(journal),
    twilio: { authToken: TOKEN },
    verbose: false,
  });
  const server = serveStream(stream);
  const warn = console.warn;
  console.warn = () => {};
  try {
    const url = `${server.url}/telephone/incoming`;
    const params = { CallSid: "CA42", From: "+15550100", To: "+15550111" };
    const r = await fetch(url, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        "x-twilio-signature": twilio.getExpectedTwilioSignature(
          TOKEN,
          url,
          params,
        ),
      },
      body: new URLSearchParams(params),
    });
    const xml = await r.text();
    const m = /<Parameter name="parley_token" value="([^"]+)"\/>/.exec(xml);
    assert.ok(m, xml);
    const parleyToken = m[1];

    const wsUrl = `${server.wsUrl}/telephone/handler`;
    const headers = {
      "x-twilio-signature": twilio.getExpectedTwilioSignature(TOKEN, wsUrl, {}),
    };
    const connect = (opts: {
      callSid: string;
      customParameters: Record<string, string>;
    }) => TwilioTestClient.connect(wsUrl, { ...opts, headers });

    // The captured signature alone: no token, a wrong token, another call's.
    const attempts: {
      callSid: string;
      customParameters: Record<string, string>;
    }[] = [
      { callSid: "CA42", customParameters: {} },
      { callSid: "CA42", customParameters: { parley_token: "x.y" } },
      { callSid: "CA99", customParameters: { parley_token: parleyToken } },
    ];
    for (const opts of attempts) {
      const c = await connect(opts);
      await c.closed;
      assert.equal(c.closeCode, 1008, JSON.stringify(opts));
    }
    assert.equal(journal.started, 0);

    // The real stream.
    const real = await connect({
      callSid: "CA42",
      customParameters: { parley_token: parleyToken },
    });
    await until(() => journal.started === 1, 3000, "the real call");
    // A replay of the whole start (signature and token): refused.
    const replay = await connect({
      callSid: "CA42",
      customParameters: { parley_token: parleyToken },
    });
    await replay.closed;
    assert.equal(replay.closeCode, 1008);
    assert.equal(journal.started, 1);
    await real.close();
  } finally {
    console.warn = warn;
    await server.close();
  }
});

Deno.test("twilio stream token: an outbound call's any-call token (inline TwiML) opens one stream", async () => {
  const journal = new Journal();
  const stream = new Stream({
    handler: new EchoHandler(journal),
    twilio: { authToken: TOKEN },
    verbose: false,
  });
  const server = serveStream(stream);
  const warn = console.warn;
  console.warn = () => {};
  try {
    const parleyToken = createTwilioStreamToken({ authToken: TOKEN });
    const wsUrl = `${server.wsUrl}/telephone/handler`;
    const headers = {
      "x-twilio-signature": twilio.getExpectedTwilioSignature(TOKEN, wsUrl, {}),
    };
    const customParameters = { parley_token: parleyToken };
    const call = await TwilioTestClient.connect(wsUrl, {
      callSid: "CA7",
      customParameters,
      headers,
    });
    await until(() => journal.started === 1, 3000, "the outbound call");
    const again = await TwilioTestClient.connect(wsUrl, {
      callSid: "CA8",
      customParameters,
      headers,
    });
    await again.closed;
    assert.equal(again.closeCode, 1008);
    // Expired tokens are refused.
    const old = createTwilioStreamToken({
      authToken: TOKEN,
      now: Date.now() - 3_600_000,
    });
    const late = await TwilioTestClient.connect(wsUrl, {
      callSid: "CA9",
      customParameters: { parley_token: old },
      headers,
    });
    await late.closed;
    assert.equal(late.closeCode, 1008);
    assert.equal(journal.started, 1);
    await call.close();
  } finally {
    console.warn = warn;
    await server.close();
  }
});
