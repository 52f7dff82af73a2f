// The answer-document builders are exported from @parley/parley/server for apps
// that write their own webhook routes.
import assert from "node:assert/strict";
import * as parley from "../../src/server/mod.ts";

Deno.test("answer documents: every carrier's builder is exported from @parley/parley/server", () => {
  const ws = "wss://bot.example.com/telephone";
  assert.match(
    parley.buildConnectTwiml({ streamUrl: `${ws}/handler` }),
    /<Connect><Stream url="wss:\/\/bot\.example\.com\/telephone\/handler"\/>/,
  );
  assert.match(
    parley.buildTelnyxTexml({ streamUrl: `${ws}/telnyx/handler` }),
    /<Stream url="wss:\/\/bot\.example\.com\/telephone\/telnyx\/handler"/,
  );
  assert.match(
    parley.buildPlivoXml({ streamUrl: `${ws}/plivo/handler` }),
    /<Stream bidirectional="true"[^>]*>wss:\/\/bot\.example\.com\/telephone\/plivo\/handler<\/Stream>/,
  );
  assert.deepEqual(
    parley.buildVonageNcco({ websocketUri: `${ws}/vonage/handler` })[0]
      .endpoint,
    [{
      type: "websocket",
      uri: `${ws}/vonage/handler`,
      "content-type": "audio/l16;rate=16000",
    }],
  );
  assert.match(
    parley.buildSignalWireCxml({ streamUrl: `${ws}/signalwire/handler` }),
    /<Connect><Stream url="wss:\/\/bot\.example\.com\/telephone\/signalwire\/handler"\/><\/Connect>/,
  );
  assert.equal(
    parley.buildExotelStreamUrl({ url: `${ws}/exotel/handler` }),
    `${ws}/exotel/handler`,
  );
  // The transfer documents sit with the call-control clients.
  assert.equal(typeof parley.buildTwilioDialTwiml, "function");
  assert.equal(typeof parley.buildPlivoDialXml, "function");
  assert.equal(typeof parley.buildSignalWireDialCxml, "function");
});
