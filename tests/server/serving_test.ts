import assert from "node:assert/strict";
import { Hono } from "hono";
import { type AudioChunk, ReplyOnPause, Stream } from "../../mod.ts";
import { EchoHandler, Journal } from "../support/handlers.ts";
import { until } from "../support/server.ts";
import { TwilioTestClient } from "../support/twilio_client.ts";

Deno.test("Stream.mount: routes work inside a Hono app under a prefix", async () => {
  const journal = new Journal();
  const stream = new Stream({
    handler: new EchoHandler(journal),
    verbose: false,
  });
  const app = new Hono();
  app.get("/health", (c) => c.text("ok"));
  stream.mount(app, "/voice");
  const server = Deno.serve({
    port: 0,
    hostname: "127.0.0.1",
    onListen: () => {},
  }, app.fetch);
  try {
    const base = `127.0.0.1:${server.addr.port}`;
    assert.equal(await (await fetch(`http://${base}/health`)).text(), "ok");
    for (const page of ["/voice", "/voice/"]) {
      const r = await fetch(`http://${base}${page}`);
      assert.equal(r.status, 200, page);
      assert.match(await r.text(), /<html/);
    }
    const twiml =
      await (await fetch(`http://${base}/voice/telephone/incoming`, {
        method: "POST",
      })).text();
    assert.match(
      twiml,
      new RegExp(
        `url="ws://${base.replace(".", "\\.")}/voice/telephone/handler"`,
      ),
    );
    const client = await TwilioTestClient.connect(
      `ws://${base}/voice/telephone/handler`,
    );
    client.sendMulaw(new Uint8Array(160).fill(0x33));
    await client.waitFor(
      () => client.media.length >= 1,
      3000,
      "echo through Hono",
    );
    await client.close();
    await until(() => journal.shutdowns === 1, 2000, "shutdown");
  } finally {
    await stream.close();
    await server.shutdown();
  }
});

Deno.test("Stream.triggerResponse: starts a reply on a live call, FastRTC status codes otherwise", async () => {
  let replies = 0;
  const stream = new Stream({
    handler: new ReplyOnPause(async function* () {
      replies++;
      yield [8000, new Int16Array(160).fill(500)] as AudioChunk;
    }, { inputSampleRate: 8000, outputSampleRate: 8000 }),
    verbose: false,
  });
  const echo = new Stream({ handler: new EchoHandler(), verbose: false });
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen: () => {} },
    (req) =>
      new URL(req.url).pathname.startsWith("/echo")
        ? echo.fetch(req)
        : stream.fetch(req),
  );
  try {
    const c = await TwilioTestClient.connect(
      `ws://127.0.0.1:${server.addr.port}/telephone/handler`,
    );
    await until(() => stream.activeCalls === 1, 2000, "call");
    // The handler loads its VAD in startUp; wait until it can reply.
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(stream.triggerResponse(c.streamSid), {
      status: "success",
    });
    await c.waitFor(() => c.media.length >= 1, 3000, "triggered reply");
    assert.equal(replies, 1);
    assert.deepEqual(stream.triggerResponse("nope"), {
      status: "failed",
      meta: { error: "unknown_connection" },
    });
    const e = await TwilioTestClient.connect(
      `ws://127.0.0.1:${server.addr.port}/echo/telephone/handler`,
    );
    await until(() => echo.activeCalls === 1, 2000, "echo call");
    assert.deepEqual(echo.triggerResponse(e.streamSid), {
      status: "failed",
      meta: { error: "not_a_reply_on_pause" },
    });
    await e.close();
    await c.close();
  } finally {
    await stream.close();
    await echo.close();
    await server.shutdown();
  }
});

Deno.test({
  name:
    "deno task start: the echo server starts on PORT, and SIGTERM drains calls and exits",
  ignore: Deno.build.os === "windows",
  async fn() {
    const port = 20000 + Math.floor(Math.random() * 20000);
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        new URL("../../examples/echo.ts", import.meta.url).pathname,
      ],
      env: { PORT: String(port) },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const decoder = new TextDecoder();
    let out = "";
    const reader = child.stdout.getReader();
    const pumping = (async () => {
      while (true) {
        const { value, done } = await reader.read();
        if (done) return;
        out += decoder.decode(value);
      }
    })();
    try {
      await until(() => out.includes(`:${port}/`), 30000, "server start");
      const page = await fetch(`http://127.0.0.1:${port}/`);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /Parley echo bot/);
      const client = await TwilioTestClient.connect(
        `ws://127.0.0.1:${port}/telephone/handler`,
      );
      await until(() => out.includes("started (twilio)"), 5000, "call start");
      child.kill("SIGTERM");
      await client.closed; // the server ended the call while draining
      const status = await child.status;
      assert.equal(status.code, 0, out);
      assert.match(out, /draining calls/);
    } finally {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
      await pumping;
      await child.stderr.cancel();
    }
  },
});
