/**
 * Issue 13, item 2: request bodies are capped before they are buffered or
 * parsed, and the Twilio webhook never buffers more than the cap before its
 * signature is checked.
 */
import assert from "node:assert/strict";
import { Stream, type WebRtcEndpoint } from "../../mod.ts";
import { EchoHandler, Journal } from "../support/handlers.ts";
import { serveStream } from "../support/server.ts";

const quiet = { verbose: false } as const;

/** A request body of `total` bytes, made on the fly (never held whole). */
function bigBody(total: number, chunk = 1 << 16): ReadableStream<Uint8Array> {
  const block = new Uint8Array(chunk).fill(0x61);
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent >= total) return controller.close();
      const n = Math.min(chunk, total - sent);
      controller.enqueue(n === chunk ? block : block.subarray(0, n));
      sent += n;
    },
  });
}

/** POSTs and returns the status, or "reset" when the upload was cut off. */
async function post(
  url: string,
  body: BodyInit,
  headers: Record<string, string>,
): Promise<number | "reset"> {
  try {
    const r = await fetch(url, { method: "POST", headers, body });
    await r.body?.cancel();
    return r.status;
  } catch {
    return "reset";
  }
}

const fakeWebRtc: WebRtcEndpoint = {
  handle: () => Promise.resolve({ sdp: "v=0", type: "answer" }),
  close: () => Promise.resolve(),
};

Deno.test("body limits: a declared content-length over the cap gets 413 on every POST route, unread", async () => {
  const stream = new Stream({
    handler: new EchoHandler(new Journal()),
    twilio: { authToken: "12345678901234567890123456789012" },
    webrtc: fakeWebRtc,
    maxBodyBytes: 4096,
    ...quiet,
  });
  const server = serveStream(stream);
  try {
    for (
      const [path, type] of [
        ["/telephone/incoming", "application/x-www-form-urlencoded"],
        ["/input_hook", "application/json"],
        ["/webrtc/offer", "application/json"],
      ]
    ) {
      const body = "a".repeat(5000);
      const r = await fetch(`${server.url}${path}`, {
        method: "POST",
        headers: { "content-type": type, "x-twilio-signature": "forged" },
        body,
      });
      assert.equal(r.status, 413, path);
      assert.match(await r.text(), /4096-byte limit/, path);
    }
  } finally {
    await server.close();
  }
});

Deno.test("body limits: a chunked body that grows past the cap is cut off with 413 (no JSON parse of it)", async () => {
  const stream = new Stream({
    handler: new EchoHandler(new Journal()),
    webrtc: fakeWebRtc,
    maxBodyBytes: 4096,
    ...quiet,
  });
  const server = serveStream(stream);
  try {
    for (const path of ["/input_hook", "/webrtc/offer"]) {
      const status = await post(`${server.url}${path}`, bigBody(1 << 20), {
        "content-type": "application/json",
      });
      assert.ok(status === 413 || status === "reset", `${path}: ${status}`);
    }
    // Small bodies still work.
    const ok = await fetch(`${server.url}/webrtc/offer`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ type: "offer", sdp: "v=0", webrtc_id: "x" }),
    });
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
  } finally {
    await server.close();
  }
});

Deno.test("body limits: an unsigned webhook is refused before its body is read", async () => {
  const stream = new Stream({
    handler: new EchoHandler(new Journal()),
    twilio: { authToken: "12345678901234567890123456789012" },
    ...quiet,
  });
  const server = serveStream(stream);
  try {
    // 64 MB offered, 64 KiB at a time; count what the server pulled by the
    // time it answered.
    let pulled = 0;
    let pulledAtAnswer = -1;
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (++pulled > 1024) return c.close();
        c.enqueue(new Uint8Array(1 << 16));
      },
    });
    let status: number | "reset";
    try {
      const r = await fetch(`${server.url}/telephone/incoming`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body,
      });
      pulledAtAnswer = pulled;
      status = r.status;
      await r.body?.cancel();
    } catch {
      pulledAtAnswer = pulled;
      status = "reset";
    }
    assert.ok(status === 403 || status === "reset", String(status));
    // Socket buffers take a few MB at most; the old code read all 64 MB.
    assert.ok(pulledAtAnswer < 512, `${pulledAtAnswer} chunks were read`);
  } finally {
    await server.close();
  }
});

const SERVER_SCRIPT = `
import { Stream } from "${new URL("../../mod.ts", import.meta.url).href}";
import { EchoHandler, Journal } from "${
  new URL("../support/handlers.ts", import.meta.url).href
}";
const stream = new Stream({
  handler: new EchoHandler(new Journal()),
  twilio: { authToken: "12345678901234567890123456789012" },
  verbose: false,
});
Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: ({ port }) => console.log(port) },
  (req) => new URL(req.url).pathname === "/__rss"
    ? new Response(String(Deno.memoryUsage().rss))
    : stream.fetch(req));
`;

Deno.test("body limits: three 200 MB forged webhooks leave the server's RSS flat", async () => {
  const dir = await Deno.makeTempDir();
  const script = `${dir}/server.ts`;
  await Deno.writeTextFile(script, SERVER_SCRIPT);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", script],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    let text = "";
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error("the server exited before listening");
      text += value;
    }
    const base = `http://127.0.0.1:${text.trim()}`;
    const rss = async () => Number(await (await fetch(`${base}/__rss`)).text());
    // Warm up the route once so the baseline includes its code.
    await post(`${base}/telephone/incoming`, "CallSid=CA1", {
      "content-type": "application/x-www-form-urlencoded",
      "x-twilio-signature": "forged",
    });
    const before = await rss();
    for (let i = 0; i < 3; i++) {
      const status = await post(
        `${base}/telephone/incoming`,
        bigBody(200 << 20, 1 << 20),
        {
          "content-type": "application/x-www-form-urlencoded",
          "x-twilio-signature": "forged",
        },
      );
      assert.ok(
        status === 413 || status === 403 || status === "reset",
        String(status),
      );
    }
    const after = await rss();
    const growth = (after - before) / (1 << 20);
    assert.ok(growth < 50, `RSS grew by ${growth.toFixed(1)} MB`);
  } finally {
    await reader.cancel().catch(() => {});
    child.kill();
    await child.status;
    await Deno.remove(dir, { recursive: true });
  }
});
