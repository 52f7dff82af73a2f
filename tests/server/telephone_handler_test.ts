// stream.telephoneHandler(request, { carrier }) serves a carrier's media
// socket on a route of the app's own (the seed's `/media-stream`), with the
// same codec and call handling as the built-in routes.
import assert from "node:assert/strict";
import { Stream } from "../../mod.ts";
import { EchoHandler, Journal } from "../support/handlers.ts";
import { TwilioTestClient } from "../support/twilio_client.ts";
import { TelnyxTestClient } from "../support/carrier_clients.ts";

const TONE = Int16Array.from(
  { length: 8000 },
  (_, i) => Math.round(8000 * Math.sin(2 * Math.PI * 440 * i / 8000)),
);

Deno.test("telephoneHandler: a custom /media-stream route serves Twilio and Telnyx calls", async () => {
  const journal = new Journal();
  const stream = new Stream({
    handler: new EchoHandler(journal),
    verbose: false,
  });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) => {
      const path = new URL(req.url).pathname;
      if (path === "/media-stream") return stream.telephoneHandler(req);
      if (path === "/telnyx-media") {
        return stream.telephoneHandler(req, { carrier: "telnyx" });
      }
      return stream.fetch(req);
    },
  );
  const base = `ws://127.0.0.1:${server.addr.port}`;
  try {
    const twilio = await TwilioTestClient.connect(`${base}/media-stream`);
    await twilio.playPcm(TONE.subarray(0, 1600));
    await twilio.waitFor(() => twilio.media.length >= 10, 5000, "twilio echo");
    await twilio.close();

    const telnyx = await TelnyxTestClient.connect(`${base}/telnyx-media`);
    await telnyx.play(TONE.subarray(0, 1600));
    await telnyx.waitFor(
      () => telnyx.receivedPcm().length >= 1600,
      5000,
      "telnyx echo",
    );
    await telnyx.close();
    const transports = journal.contexts.map((c) => c.transport).sort();
    assert.deepEqual(transports, ["telnyx", "twilio"]);
    assert.ok(journal.contexts.every((c) => c.phoneMode));

    // Not an upgrade: 426; an unknown carrier: a clear error.
    const plain = await stream.telephoneHandler(
      new Request("http://x/media-stream"),
    );
    assert.equal(plain.status, 426);
    await plain.body?.cancel();
    await assert.rejects(
      stream.telephoneHandler(new Request("http://x/m"), {
        carrier: "nope" as "telnyx",
      }),
      /Unknown carrier "nope"/,
    );
  } finally {
    await stream.close();
    await server.shutdown();
  }
});
