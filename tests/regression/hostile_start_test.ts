import assert from "node:assert/strict";
import { Stream } from "../../mod.ts";
import { EchoHandler, Journal } from "../support/handlers.ts";
import { serveStream } from "../support/server.ts";
import { TwilioTestClient } from "../support/twilio_client.ts";

Deno.test("hostile input: a start message whose ids are objects is rejected and the server keeps serving", async () => {
  const problems: string[] = [];
  const warn = console.warn;
  console.warn = (...a: unknown[]) => problems.push(a.join(" "));
  const stream = new Stream({
    handler: new EchoHandler(new Journal()),
    verbose: false,
  });
  const server = serveStream(stream);
  try {
    const evil = await TwilioTestClient.connect(
      `${server.wsUrl}/telephone/handler`,
      { sendStart: false },
    );
    evil.send({ event: "start", streamSid: { toString: 1 } });
    evil.send({
      event: "start",
      start: {
        streamSid: "MZ1",
        callSid: { toString: 1 },
        tracks: [{ toString: 1 }],
      },
    });
    const good = await TwilioTestClient.connect(
      `${server.wsUrl}/telephone/handler`,
    );
    good.sendMulaw(new Uint8Array(160).fill(0x21));
    await good.waitFor(
      () => good.media.length >= 1,
      3000,
      "echo on a healthy call",
    );
    assert.ok(
      problems.some((p) => p.includes("start message without streamSid")),
      problems.join("\n"),
    );
    await evil.close();
    await good.close();
  } finally {
    console.warn = warn;
    await server.close();
  }
});
