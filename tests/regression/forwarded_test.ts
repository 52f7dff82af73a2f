/**
 * Issue 13, item 5: behind a TLS proxy the TwiML stream URL is the proxy's
 * public one (no internal port), forwarded headers count only with
 * `trustProxy`, and then the proxy's own (last) value wins over one the
 * client prepended.
 */
import assert from "node:assert/strict";
import { Stream } from "../../mod.ts";
import { publicUrl } from "../../src/server/mod.ts";
import { EchoHandler, Journal } from "../support/handlers.ts";
import { serveStream } from "../support/server.ts";

const quiet = { verbose: false } as const;

async function twimlUrl(
  stream: Stream,
  headers: Record<string, string>,
): Promise<string> {
  const server = serveStream(stream);
  try {
    const r = await fetch(`${server.url}/telephone/incoming`, {
      method: "POST",
      headers,
    });
    const xml = await r.text();
    const m = /<Stream url="([^"]+)"/.exec(xml);
    assert.ok(m, xml);
    return m[1];
  } finally {
    await server.close();
  }
}

Deno.test("forwarded: behind a TLS proxy the TwiML points at wss://public-host/telephone/handler", async () => {
  const stream = new Stream({
    handler: new EchoHandler(new Journal()),
    trustProxy: true,
    ...quiet,
  });
  assert.equal(
    await twimlUrl(stream, {
      "x-forwarded-proto": "https",
      "x-forwarded-host": "bot.example.com",
    }),
    "wss://bot.example.com/telephone/handler",
  );
});

Deno.test("forwarded: headers are ignored unless trustProxy is set", async () => {
  const stream = new Stream({
    handler: new EchoHandler(new Journal()),
    ...quiet,
  });
  const url = await twimlUrl(stream, {
    "x-forwarded-proto": "https",
    "x-forwarded-host": "evil.example.net",
  });
  assert.match(url, /^ws:\/\/127\.0\.0\.1:\d+\/telephone\/handler$/);
});

Deno.test("forwarded: with trustProxy the proxy's appended (last) value wins", async () => {
  const stream = new Stream({
    handler: new EchoHandler(new Journal()),
    trustProxy: true,
    ...quiet,
  });
  assert.equal(
    await twimlUrl(stream, {
      "x-forwarded-proto": "http, https",
      "x-forwarded-host": "evil.example.net, bot.example.com",
    }),
    "wss://bot.example.com/telephone/handler",
  );
  // RFC 7239 Forwarded, last element.
  const req = new Request("http://10.0.0.5:8881/telephone/incoming", {
    headers: {
      forwarded:
        'host=evil.example.net;proto=http, host="bot.example.com";proto=https',
    },
  });
  assert.equal(
    publicUrl(req, { trustProxy: true }).href,
    "https://bot.example.com/telephone/incoming",
  );
  // An explicit public port is kept; the internal one never leaks.
  const withPort = new Request("http://10.0.0.5:8881/telephone/incoming", {
    headers: {
      "x-forwarded-proto": "https",
      "x-forwarded-host": "bot.example.com:8443",
    },
  });
  assert.equal(
    publicUrl(withPort, { trustProxy: true }).href,
    "https://bot.example.com:8443/telephone/incoming",
  );
  // publicUrl, when set, wins over any header.
  assert.equal(
    publicUrl(withPort, {
      publicUrl: "https://voice.example.org",
      trustProxy: true,
    }).href,
    "https://voice.example.org/telephone/incoming",
  );
});
