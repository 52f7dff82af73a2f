/**
 * The built-in page in a real headless Chromium: the fake microphone plays
 * real speech (the start of tests/fixtures/jfk.wav, then silence), the echo
 * bot answers, and the page must show `pause_detected` then
 * `response_starting` and receive reply audio. Runs over WebRTC and over
 * WebSocket. Screenshots go to test-output/.
 */
import assert from "node:assert/strict";
import { createEchoStream, echo } from "../../examples/echo.ts";
import { Stream } from "../../src/server/stream.ts";
import { createWebRtcEndpoint } from "../../src/transports/webrtc.ts";

const CHROMIUM = "/usr/bin/chromium";
const OUT = new URL("../../test-output/", import.meta.url);

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

const hasChromium = exists(CHROMIUM);
const hasSox = exists("/usr/bin/sox");
const skipReason = !hasChromium
  ? `${CHROMIUM} is missing (apt-get install chromium; .ci/run installs it)`
  : !hasSox
  ? "sox is missing (apt-get install sox); it makes the fake-microphone WAV"
  : "";
if (skipReason) console.log(`browser tests skipped: ${skipReason}`);

/**
 * The fake microphone's WAV at 48 kHz (Chromium's fake capture rate), made
 * with sox into test-output/. "pause": "And so my fellow Americans" (~3.2 s)
 * then 7 s of silence; "continuous": the whole speech, which Chromium loops,
 * so the caller talks over the bot's replies.
 */
async function makeMicWav(kind: "pause" | "continuous"): Promise<string> {
  await Deno.mkdir(OUT, { recursive: true });
  const path = new URL(`fake_mic_${kind}.wav`, OUT).pathname;
  const src = new URL("../fixtures/jfk.wav", import.meta.url).pathname;
  const effects = kind === "pause"
    ? ["trim", "0", "3.2", "pad", "0.3", "7"]
    : [];
  const out = await new Deno.Command("sox", {
    args: [src, "-r", "48000", path, ...effects],
  }).output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  return path;
}

interface Seen {
  logs: string[];
  maxInputLevel: number;
  maxOutputLevel: number;
  interrupts: number;
  states: string[];
}

async function runPage(
  transport: "webrtc" | "websocket",
  mic: "pause" | "continuous" = "pause",
  codec: "opus" | "pcmu" = "opus",
): Promise<void> {
  const { chromium } = await import("playwright-core");
  const wav = await makeMicWav(mic);
  // The echo bot of `deno task start`; for PCMU the same bot with WebRTC
  // limited to the G.711 fallback.
  const stream = codec === "opus" ? createEchoStream() : new Stream({
    handler: echo,
    webrtc: createWebRtcEndpoint({ codecs: ["pcmu"] }),
    uiArgs: { title: "Parley echo bot" },
  });
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen: () => {} },
    stream.fetch,
  );
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--use-fake-ui-for-media-stream",
      "--use-fake-device-for-media-stream",
      `--use-file-for-fake-audio-capture=${wav}`,
      "--autoplay-policy=no-user-gesture-required",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
  try {
    const page = await browser.newPage({
      viewport: { width: 420, height: 860 },
    });
    const pageErrors: string[] = [];
    page.on("pageerror", (e) => pageErrors.push(String(e)));
    await page.goto(`http://127.0.0.1:${server.addr.port}/`);
    await page.getByRole("heading", { name: "Parley echo bot" }).waitFor();
    await page.getByLabel(transport === "webrtc" ? "WebRTC" : "WebSocket")
      .check();
    // Record every state the activity line shows (it moves on quickly).
    // (A string: it runs in the page, where the DOM exists.)
    await page.evaluate(`(() => {
      globalThis.activityHistory = [];
      const el = document.querySelector("#activity");
      new MutationObserver(() => globalThis.activityHistory.push(el.textContent ?? ""))
        .observe(el, { childList: true, characterData: true, subtree: true });
    })()`);
    // Keyboard works: focus the button and press Enter.
    await page.locator("#talk").focus();
    await page.keyboard.press("Enter");
    if (mic === "continuous") {
      // The caller keeps talking over the reply: the page must show it cut off.
      await page.waitForFunction(
        () => {
          const s =
            (globalThis as unknown as { parley: { seen: Seen } }).parley.seen;
          return s.logs.includes("response_starting") && s.interrupts > 0;
        },
        undefined,
        { timeout: 45_000, polling: 100 },
      );
      assert.match(await page.locator("#log").innerText(), /interrupted/);
      const history = await page.evaluate(() =>
        (globalThis as unknown as { activityHistory: string[] })
          .activityHistory
      );
      assert.ok(
        history.includes("Interrupted"),
        `activity line showed: ${history.join(" → ")}`,
      );
      await page.screenshot({
        path: new URL(`browser_${transport}_barge_in.png`, OUT).pathname,
        fullPage: true,
      });
      await page.keyboard.press("Enter");
      return;
    }
    await page.waitForFunction(
      () => {
        const s =
          (globalThis as unknown as { parley: { seen: Seen } }).parley.seen;
        const p = s.logs.indexOf("pause_detected");
        return p >= 0 && s.logs.indexOf("response_starting", p) > p &&
          s.maxOutputLevel > 0.005;
      },
      undefined,
      { timeout: 45_000, polling: 100 },
    );
    const seen = await page.evaluate(() =>
      (globalThis as unknown as { parley: { seen: Seen } }).parley.seen
    );
    assert.ok(seen.states.includes("connected"), `states: ${seen.states}`);
    assert.ok(seen.logs.includes("started_talking"), `logs: ${seen.logs}`);
    const p = seen.logs.indexOf("pause_detected");
    assert.ok(
      seen.logs.indexOf("response_starting", p) > p,
      `logs: ${seen.logs}`,
    );
    assert.ok(seen.maxInputLevel > 0.005, `mic level ${seen.maxInputLevel}`);
    assert.ok(
      seen.maxOutputLevel > 0.005,
      `reply level ${seen.maxOutputLevel}`,
    );
    if (transport === "webrtc") {
      const readStats = () =>
        page.evaluate(async () => {
          const client = (globalThis as unknown as {
            parley: {
              client: {
                pc: {
                  getStats(): Promise<Map<string, Record<string, unknown>>>;
                };
              };
            };
          }).parley.client;
          const stats = await client.pc.getStats();
          let bytes = 0;
          let energy = 0;
          const codecs: string[] = [];
          stats.forEach((r: Record<string, unknown>) => {
            if (r.type === "inbound-rtp" && r.kind === "audio") {
              bytes += Number(r.bytesReceived ?? 0);
              energy += Number(r.totalAudioEnergy ?? 0);
            }
            if (r.type === "codec") {
              codecs.push(String(r.mimeType).toLowerCase());
            }
          });
          return { bytes, energy, codecs };
        });
      // Chromium refreshes these counters periodically: poll for a while.
      let inbound = await readStats();
      for (let i = 0; i < 50 && !(inbound.energy > 0); i++) {
        await new Promise((r) => setTimeout(r, 100));
        inbound = await readStats();
      }
      assert.ok(
        inbound.codecs.includes(`audio/${codec}`),
        `codecs: ${inbound.codecs}`,
      );
      assert.ok(inbound.bytes > 0, `inbound RTP bytes ${inbound.bytes}`);
      assert.ok(inbound.energy > 0, `inbound audio energy ${inbound.energy}`);
    }
    // The log is visible to people too.
    const logText = await page.locator("#log").innerText();
    assert.match(logText, /pause_detected/);
    assert.match(logText, /response_starting/);
    await page.screenshot({
      path: new URL(`browser_${transport}_${codec}.png`, OUT).pathname,
      fullPage: true,
    });
    await page.keyboard.press("Enter"); // the button still has focus: stop
    await page.waitForFunction(() =>
      (globalThis as unknown as { parley: { seen: Seen } }).parley.seen.states
        .includes("closed")
    );
    assert.deepEqual(pageErrors, []);
    // The server side of the call ends too.
    const end = performance.now() + 10_000;
    while (stream.activeCalls > 0 && performance.now() < end) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(stream.activeCalls, 0);
  } finally {
    await browser.close();
    await stream.close();
    await server.shutdown();
  }
}

const options = { ignore: Boolean(skipReason) };

Deno.test({
  name: "browser: page talks to the echo bot over WebRTC",
  ...options,
}, async () => {
  await runPage("webrtc");
});

Deno.test({
  name: "browser: page talks to the echo bot over WebSocket",
  ...options,
}, async () => {
  await runPage("websocket");
});

Deno.test({
  name: "browser: talking over the reply shows the interruption (WebRTC)",
  ...options,
}, async () => {
  await runPage("webrtc", "continuous");
});

Deno.test({
  name: "browser: talking over the reply shows the interruption (WebSocket)",
  ...options,
}, async () => {
  await runPage("websocket", "continuous");
});

Deno.test({
  name: "browser: the PCMU fallback carries the echo to the page (WebRTC)",
  ...options,
}, async () => {
  await runPage("webrtc", "pause", "pcmu");
});

Deno.test({
  name: "browser: a refused call (concurrency limit) is shown as an error",
  ...options,
}, async () => {
  const { chromium } = await import("playwright-core");
  const { postVia, TestClient } = await import(
    "../transports/_webrtc_client.ts"
  );
  const wav = await makeMicWav("pause");
  const stream = new Stream({
    handler: echo,
    webrtc: createWebRtcEndpoint(),
    concurrencyLimit: 1,
    verbose: false,
  });
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen: () => {} },
    stream.fetch,
  );
  const occupant = new TestClient({ id: "occupant" });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--use-fake-ui-for-media-stream",
      "--use-fake-device-for-media-stream",
      `--use-file-for-fake-audio-capture=${wav}`,
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
  try {
    await occupant.connect(postVia(stream.fetch));
    await occupant.waitOpen();
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${server.addr.port}/`);
    await page.getByRole("button", { name: "Start talking" }).click();
    await page.locator("#log .error").first().waitFor({ timeout: 15_000 });
    assert.match(
      await page.locator("#log").innerText(),
      /Too many calls right now \(limit 1\)/,
    );
    assert.equal(
      await page.locator("#state").getAttribute("data-state"),
      "failed",
    );
    // The button is usable again.
    assert.equal(
      await page.locator("#talk").getAttribute("aria-pressed"),
      "false",
    );
    assert.equal(stream.activeCalls, 1);
  } finally {
    await browser.close();
    await occupant.close();
    await stream.close();
    await server.shutdown();
  }
});
