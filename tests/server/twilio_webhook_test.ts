// Parley writes TwiML and checks X-Twilio-Signature itself (no SDK in a
// phone bot's graph); these tests hold both to the official twilio SDK.
import assert from "node:assert/strict";
import twilio from "twilio";
import {
  buildBusyTwiml,
  buildConnectTwiml,
  isValidTwilioSignature,
  publicUrl,
} from "../../src/server/twilio_webhook.ts";

Deno.test("twiml: Connect/Stream and busy documents match the twilio SDK's text", () => {
  const cases = [
    { streamUrl: "wss://bot.example.com/telephone/handler" },
    {
      streamUrl: "wss://bot.example.com/a&b/telephone/handler",
      say: `Hello <caller> & "friends" 'n' all`,
      goodbye: "Bye!",
      parameters: { token: "abc&<>\"'", call: "one" },
    },
  ];
  for (const c of cases) {
    const r = new twilio.twiml.VoiceResponse();
    if (c.say) r.say(c.say);
    const s = r.connect().stream({ url: c.streamUrl });
    for (const [name, value] of Object.entries(c.parameters ?? {})) {
      s.parameter({ name, value });
    }
    if (c.goodbye) r.say(c.goodbye);
    const ours = buildConnectTwiml(c);
    assertWellFormed(ours);
    assert.equal(normalise(ours), normalise(r.toString()));
  }
  const busy = new twilio.twiml.VoiceResponse();
  busy.say("All <lines> busy");
  busy.hangup();
  assert.equal(
    normalise(buildBusyTwiml("All <lines> busy")),
    normalise(busy.toString()),
  );
});

// The SDK and Parley may escape different characters (both valid XML):
// compare the decoded text, and check Parley's is well-formed and escaped.
function normalise(xml: string): string {
  return xml.replace(/&(amp|lt|gt|quot|apos);/g, (_, e: string) => ENTITIES[e]);
}

const ENTITIES: Record<string, string> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  apos: "'",
};

function assertWellFormed(xml: string): void {
  const body = xml.replace(/^<\?xml[^>]*\?>/, "");
  const ref = "&(?:amp|lt|gt|quot|apos);";
  const attr = `\\s+[A-Za-z]+="(?:[^"<>&]|${ref})*"`;
  const tag = `<\\/?[A-Za-z]+(?:${attr})*\\s*\\/?>`;
  const text = `[^<>&]|${ref}`;
  assert.match(body, new RegExp(`^(?:${tag}|${text})*$`), body);
}

Deno.test("twilio signature: agrees with the SDK over random URLs and parameters, ports included", () => {
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const word = () =>
    Array.from(
      { length: 1 + Math.floor(rand() * 12) },
      () => "aZ09+/ =&?é%"[Math.floor(rand() * 12)],
    ).join("");
  const token = "12345678901234567890123456789012";
  for (let i = 0; i < 300; i++) {
    const params: Record<string, string> = {};
    for (let k = Math.floor(rand() * 6); k > 0; k--) params[word()] = word();
    const scheme = ["https", "http", "wss"][i % 3];
    const port = ["", ":443", ":80", ":8443"][Math.floor(rand() * 4)];
    const url = `${scheme}://bot.example.com${port}/telephone/incoming?x=${
      encodeURIComponent(word())
    }`;
    const signature = twilio.getExpectedTwilioSignature(token, url, params);
    assert.equal(
      isValidTwilioSignature({ authToken: token, signature, url, params }),
      true,
      url,
    );
    assert.equal(
      twilio.validateRequest(token, signature, url, params),
      true,
      "the SDK agrees",
    );
    // Any change to the URL, a value or the token breaks it.
    assert.equal(
      isValidTwilioSignature({
        authToken: token,
        signature,
        url: url + "x",
        params,
      }),
      false,
    );
    const keys = Object.keys(params);
    if (keys.length) {
      assert.equal(
        isValidTwilioSignature({
          authToken: token,
          signature,
          url,
          params: { ...params, [keys[0]]: params[keys[0]] + "!" },
        }),
        false,
      );
    }
    assert.equal(
      isValidTwilioSignature({
        authToken: token + "x",
        signature,
        url,
        params,
      }),
      false,
    );
  }
  // Signed without the default port, checked with it (and the reverse).
  const plain = "https://bot.example.com/telephone/incoming";
  const withPort = "https://bot.example.com:443/telephone/incoming";
  const sig = twilio.getExpectedTwilioSignature(token, plain, {});
  assert.equal(
    isValidTwilioSignature({ authToken: token, signature: sig, url: withPort }),
    true,
  );
  const sig2 = twilio.getExpectedTwilioSignature(token, withPort, {});
  assert.equal(
    isValidTwilioSignature({ authToken: token, signature: sig2, url: plain }),
    true,
  );
  assert.equal(
    isValidTwilioSignature({ authToken: token, signature: null, url: plain }),
    false,
  );
  assert.equal(
    isValidTwilioSignature({ authToken: token, signature: "", url: plain }),
    false,
  );
});

Deno.test("publicUrl: X-Forwarded-Host without a port drops the upstream port", () => {
  const req = (headers: Record<string, string>) =>
    new Request("http://127.0.0.1:8000/telephone/incoming", { headers });
  // Forwarded headers count only from a trusted proxy (issue 13, item 5).
  const trusted = { trustProxy: true };
  assert.equal(
    publicUrl(
      req({
        "x-forwarded-proto": "https",
        "x-forwarded-host": "bot.example.com",
      }),
      trusted,
    ).href,
    "https://bot.example.com/telephone/incoming",
  );
  assert.equal(
    publicUrl(req({ "x-forwarded-host": "bot.example.com:8443" }), trusted)
      .href,
    "http://bot.example.com:8443/telephone/incoming",
  );
  assert.equal(
    publicUrl(req({ "x-forwarded-proto": "https" }), trusted).href,
    "https://127.0.0.1:8000/telephone/incoming",
  );
});
