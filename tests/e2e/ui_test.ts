import assert from "node:assert/strict";
import * as assets from "../../src/server/ui/assets.ts";
import { buildAssets } from "../../src/server/ui/build.ts";
import { parleyClientScript, renderIndexPage } from "../../src/server/ui.ts";
import { Stream } from "../../src/server/stream.ts";
import { createWebRtcEndpoint } from "../../src/transports/webrtc.ts";
import { EchoHandler } from "../support/handlers.ts";

function pageConfig(html: string) {
  const attr = /data-config="([^"]*)"/.exec(html)![1];
  const text = attr.replace(
    /&(quot|amp|lt|gt|#39);/g,
    (_, e: string) =>
      ({ quot: '"', amp: "&", lt: "<", gt: ">", "#39": "'" })[e]!,
  );
  return JSON.parse(text);
}

Deno.test("ui: assets.ts is up to date with the page sources", async () => {
  const dir = new URL("../../src/server/ui/", import.meta.url);
  const read = (name: string) => Deno.readTextFile(new URL(name, dir));
  const hint = "assets.ts is stale; run: deno run -A src/server/ui/build.ts";
  assert.equal(assets.PAGE_HTML, await read("page.html"), hint);
  assert.equal(assets.PAGE_CSS, await read("page.css"), hint);
  assert.equal(assets.PAGE_JS, await read("page.js"), hint);
  assert.equal(assets.CLIENT_JS, await read("client.js"), hint);
  assert.match(await buildAssets(dir), /export const CLIENT_JS/);
});

Deno.test("ui: the page carries uiArgs, escapes them, and offers the right transports", () => {
  const html = renderIndexPage({
    title: "Bot <1>",
    subtitle: 'Say "hi"',
    webrtc: false,
  });
  assert.match(html, /<title>Bot &lt;1&gt;<\/title>/);
  assert.match(html, /Say &quot;hi&quot;/);
  assert.doesNotMatch(html, /\{\{\w+\}\}/);
  assert.match(html, /value="webrtc" disabled/);
  assert.match(html, /value="websocket" checked/);
  assert.match(html, /role="log"/);
  assert.match(html, /aria-live="polite"/);
  const rtc = renderIndexPage({
    webrtc: true,
    outputSampleRate: 16000,
    rtcConfiguration: { iceServers: [{ urls: "stun:x</script>" }] },
  });
  assert.match(rtc, /value="webrtc" checked/);
  const config = pageConfig(rtc);
  assert.equal(config.outputSampleRate, 16000);
  assert.equal(config.rtcConfiguration.iceServers[0].urls, "stun:x</script>");
  assert.equal(config.basePath, undefined);
  assert.equal(
    pageConfig(renderIndexPage({ basePath: "/voice/" })).basePath,
    "/voice",
  );
});

Deno.test("ui: Stream serves the page and the client module", async () => {
  const webrtc = createWebRtcEndpoint({
    iceServers: [{ urls: "stun:stun.example:3478" }],
  });
  const stream = new Stream({
    handler: new EchoHandler(undefined, { outputSampleRate: 22050 }),
    webrtc,
    uiArgs: { title: "Echo", subtitle: "Sub" },
    verbose: false,
  });
  try {
    const page = await stream.fetch(new Request("http://h/"));
    assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
    const html = await page.text();
    assert.match(html, /<h1>Echo<\/h1>/);
    assert.equal(pageConfig(html).outputSampleRate, 22050);
    assert.deepEqual(pageConfig(html).rtcConfiguration, {
      iceServers: [{ urls: "stun:stun.example:3478" }],
    });
    const js = await stream.fetch(new Request("http://h/voice/client.js"));
    assert.match(js.headers.get("content-type")!, /javascript/);
    assert.equal(await js.text(), parleyClientScript());
    assert.match(parleyClientScript(), /export class ParleyClient/);
  } finally {
    await stream.close();
  }
});
