// One logger for every layer: Stream's `logger` option sets the level and
// the sink; `verbose: false` moves call lines to "debug".
import assert from "node:assert/strict";
import { Stream } from "../../mod.ts";
import { resetLogger } from "../../src/server/mod.ts";
import { EchoHandler } from "../support/handlers.ts";
import { serveStream, until } from "../support/server.ts";
import { TwilioTestClient } from "../support/twilio_client.ts";

Deno.test("logger: the sink gets every layer's lines at or above the level", async () => {
  const lines: [string, string][] = [];
  const stream = new Stream({
    handler: new EchoHandler(),
    logger: {
      level: "info",
      sink: (level, message) => lines.push([level, message]),
    },
  });
  const server = serveStream(stream);
  try {
    const client = await TwilioTestClient.connect(
      `${server.wsUrl}/telephone/handler`,
    );
    client.send({ event: "bogus" }); // a transport-layer warning
    await until(() => lines.some(([l]) => l === "warn"), 3000, "the warning");
    await client.close();
    await until(() => lines.some(([, m]) => m.includes("ended")), 3000, "end");
    assert.ok(
      lines.some(([l, m]) =>
        l === "info" && /call MZ\w+ started \(twilio\)/.test(m)
      ),
    );
    assert.ok(
      lines.some(([l, m]) =>
        l === "warn" && /twilio: unknown event "bogus"/.test(m)
      ),
    );
    // Raise the level: info lines stop, warnings go on.
    lines.length = 0;
    const quiet = new Stream({
      handler: new EchoHandler(),
      logger: {
        level: "warn",
        sink: (level, message) => lines.push([level, message]),
      },
    });
    const s2 = serveStream(quiet);
    try {
      const c2 = await TwilioTestClient.connect(
        `${s2.wsUrl}/telephone/handler`,
      );
      c2.send({ event: "bogus" });
      await until(() => lines.length > 0, 3000, "the warning");
      await c2.close();
      await until(() => quiet.activeCalls === 0, 3000, "end");
      assert.ok(
        lines.every(([l]) => l === "warn" || l === "error"),
        JSON.stringify(lines),
      );
    } finally {
      await s2.close();
    }
  } finally {
    await server.close();
    resetLogger();
  }
  assert.throws(
    () =>
      new Stream({
        handler: new EchoHandler(),
        logger: { level: "loud" as "info" },
      }),
    /Unknown log level "loud"/,
  );
  resetLogger();
});
