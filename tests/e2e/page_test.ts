/**
 * The built-in page's conversation view in headless Chromium: chat messages
 * and transcripts from `AdditionalOutputs` (read from `/outputs`), per-turn
 * latency from the `turn_metrics` message, the end-of-call state, the
 * microphone picker, a favicon without requests, a page that works under a
 * mount prefix without a trailing slash, one that fits 360 px, and one that
 * says so when its script cannot load. A scripted handler (no audio, no VAD)
 * lets the test decide what the server sends and when. Screenshots go to
 * test-output/.
 */
import assert from "node:assert/strict";
import { Hono } from "hono";
import type { Browser, Page } from "playwright-core";
import {
  AdditionalOutputs,
  CloseStream,
  createWebRtcEndpoint,
  type EmitType,
  Stream,
  StreamHandler,
  waitForItem,
} from "../../mod.ts";
import { AsyncQueue } from "../../src/transports/mod.ts";

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

const skipReason = exists(CHROMIUM)
  ? ""
  : `${CHROMIUM} is missing (apt-get install chromium; .ci/run installs it)`;
if (skipReason) console.log(`page tests skipped: ${skipReason}`);

/** What the test tells the live call's handler to do. */
class Script {
  handler: ScriptedHandler | null = null;
  queue = new AsyncQueue<EmitType>();
  /** Resolves when a call's handler has started. */
  started!: Promise<ScriptedHandler>;
  #resolve!: (h: ScriptedHandler) => void;
  constructor() {
    this.reset();
  }
  /** Waits for the next call. */
  reset() {
    this.started = new Promise((r) => this.#resolve = r);
  }
  onStart(handler: ScriptedHandler) {
    this.handler = handler;
    this.#resolve(handler);
  }
  /** Sends a client message the way a handler or the runner would. */
  message(message: Record<string, unknown> & { type: string }) {
    this.handler!.bus.emit({ type: "message", message });
  }
  log(data: string) {
    this.handler!.sendMessage({ type: "log", data });
  }
}

/** Emits whatever the test queues; ignores the caller's audio. */
class ScriptedHandler extends StreamHandler {
  constructor(readonly script: Script) {
    super({ inputSampleRate: 16000, outputSampleRate: 24000 });
  }
  override startUp(): void {
    this.script.onStart(this);
  }
  receive(): void {}
  async emit(): Promise<EmitType> {
    return await waitForItem(this.script.queue, 50);
  }
  copy(): ScriptedHandler {
    return new ScriptedHandler(this.script);
  }
}

function metrics(turn: number, latencyMs: number | null, interrupted = false) {
  return {
    type: "log",
    data: "turn_metrics",
    metrics: {
      turn,
      vad: "v5",
      speechStartMs: 1000 * turn,
      speechEndMs: 1000 * turn + 1800,
      decisionMs: 1000 * turn + 2100,
      firstReplyMs: latencyMs === null ? null : 1000 * turn + 1800 + latencyMs,
      latencyMs,
      interrupted,
      merged: 1,
    },
  };
}

async function launch(): Promise<Browser> {
  const { chromium } = await import("playwright-core");
  return await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--use-fake-ui-for-media-stream",
      "--use-fake-device-for-media-stream",
      "--autoplay-policy=no-user-gesture-required",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
}

/** Console errors, page errors and failed requests of one page. */
function watch(page: Page) {
  const problems: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`pageerror: ${e}`));
  page.on("response", (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()} ${r.url()}`);
  });
  page.on("requestfailed", (r) => {
    // A hang-up aborts the outputs stream on purpose.
    if (!r.url().includes("/outputs?")) {
      problems.push(`failed: ${r.url()} ${r.failure()?.errorText}`);
    }
  });
  return problems;
}

type Seen = {
  states: string[];
  outputs: unknown[];
  turns: unknown[];
  logs: string[];
};

function seenOf(page: Page): Promise<Seen> {
  return page.evaluate(() =>
    (globalThis as unknown as { parley: { seen: Seen } }).parley.seen
  );
}

async function waitConnected(page: Page) {
  await page.waitForFunction(
    () =>
      (globalThis as unknown as { parley: { seen: Seen } }).parley.seen.states
        .includes("connected"),
    undefined,
    { timeout: 20_000, polling: 50 },
  );
}

function serve(stream: Stream, fetch = stream.fetch) {
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen: () => {} },
    fetch,
  );
  return { server, base: `http://127.0.0.1:${server.addr.port}` };
}

const screenshot = async (page: Page, name: string) => {
  await Deno.mkdir(OUT, { recursive: true });
  await page.screenshot({
    path: new URL(name, OUT).pathname,
    fullPage: true,
  });
};

const options = { ignore: Boolean(skipReason) };

Deno.test({
  name:
    "page: shows chat, transcripts and per-turn latency, then the end of the call",
  ...options,
}, async () => {
  const script = new Script();
  const stream = new Stream({
    handler: new ScriptedHandler(script),
    uiArgs: { title: "Chat bot", subtitle: "Talk to the weather bot" },
    verbose: false,
  });
  const { server, base } = serve(stream);
  const browser = await launch();
  try {
    const page = await browser.newPage({
      viewport: { width: 720, height: 1000 },
    });
    const problems = watch(page);
    await page.goto(`${base}/`);
    await page.getByRole("heading", { name: "Chat bot" }).waitFor();
    // The device picker is there before the call, with the default entry.
    const picker = page.getByRole("combobox", { name: /^Microphone/ });
    assert.equal(await picker.evaluate((s) => s.tagName), "SELECT");
    assert.ok((await picker.locator("option").count()) >= 1);
    await page.getByRole("button", { name: "Start talking" }).click();
    await waitConnected(page);
    await script.started;

    // FastRTC's chatbot pattern: the whole history as one argument.
    const history = [
      { role: "user", content: "What is the weather in Lisbon?" },
      { role: "assistant", content: "Sunny and 21 degrees." },
    ];
    script.queue.put(new AdditionalOutputs(history));
    const chat = page.locator("#chat");
    await chat.locator(".message").nth(1).waitFor({ timeout: 10_000 });
    script.message(metrics(1, 412));
    await page.locator("#turns li").first().waitFor();
    // Next turn: the history grows; nothing is shown twice.
    script.queue.put(
      new AdditionalOutputs([
        ...history,
        {
          role: "user",
          content: [{ type: "text", text: "And tomorrow?" }],
        },
        { role: "assistant", content: "Rain in the afternoon." },
      ]),
    );
    // A plain string is a transcript line.
    script.queue.put(new AdditionalOutputs("and tomorrow"));
    await chat.locator(".transcript").waitFor({ timeout: 10_000 });
    script.message(metrics(2, 655));
    script.message(metrics(3, null, true));
    await page.locator("#turns li").nth(2).waitFor();

    const messages = await page.evaluate(
      `[...document.querySelectorAll("#chat .message")]
        .map((e) => [e.dataset.role, e.querySelector("p").textContent])`,
    );
    assert.deepEqual(messages, [
      ["user", "What is the weather in Lisbon?"],
      ["assistant", "Sunny and 21 degrees."],
      ["user", "And tomorrow?"],
      ["assistant", "Rain in the afternoon."],
    ]);
    assert.deepEqual(await chat.locator(".who").allInnerTexts(), [
      "You",
      "Bot",
      "You",
      "Bot",
      "Transcript",
    ]);
    assert.equal(
      await chat.locator(".transcript p").innerText(),
      "and tomorrow",
    );
    // Newest first.
    assert.deepEqual(await page.locator("#turns li").allInnerTexts(), [
      "Turn 3: interrupted before the bot answered",
      "Turn 2: answered in 655 ms",
      "Turn 1: answered in 412 ms",
    ]);
    assert.equal(
      await page.locator("#latency").innerText(),
      "Last answer in 655 ms · median 655 ms over 2 turns",
    );
    assert.match(
      (await page.locator("#turns li").last().getAttribute("title"))!,
      /you spoke 1\.8 s, end of turn decided after 300 ms of silence, VAD v5/,
    );
    assert.match(await page.locator("#log").innerText(), /answered in 412 ms/);
    // The raw "turn_metrics" log text is not shown as an event.
    assert.doesNotMatch(
      await page.locator("#log").innerText(),
      /^turn_metrics/m,
    );
    const seen = await seenOf(page);
    assert.equal(seen.outputs.length, 3, "three AdditionalOutputs read");
    assert.equal(seen.turns.length, 3);
    await screenshot(page, "page_conversation.png");
    await page.emulateMedia({ colorScheme: "dark" });
    await screenshot(page, "page_conversation_dark.png");
    await page.emulateMedia({ colorScheme: "light" });

    // The bot is mid-reply when it ends the call: no stale "Bot is replying".
    script.log("response_starting");
    await page.locator("#activity", { hasText: "Bot is replying" }).waitFor();
    script.queue.put(new CloseStream("Goodbye"));
    await page.locator("#state[data-state=closed]").waitFor({
      timeout: 10_000,
    });
    assert.equal(await page.locator("#activity").innerText(), "Call ended");
    assert.equal(await page.locator("#state").innerText(), "Call ended");
    const end = page.locator("#log li.end");
    await end.waitFor();
    assert.match(
      await end.innerText(),
      /Call ended after 0:\d\d \(the bot ended the call \(Goodbye\)\)/,
    );
    assert.equal(
      await page.locator("#talk").getAttribute("aria-pressed"),
      "false",
    );
    // The level views went back to silence and the chat stays readable.
    assert.equal(await chat.locator(".message").count(), 4);
    await screenshot(page, "page_call_ended.png");
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    await stream.close();
    await server.shutdown();
  }
});

Deno.test({
  name: "page: the microphone picker lists devices and switches mid-call",
  ...options,
}, async () => {
  const script = new Script();
  const stream = new Stream({
    handler: new ScriptedHandler(script),
    verbose: false,
  });
  const { server, base } = serve(stream);
  const browser = await launch();
  try {
    const page = await browser.newPage();
    const problems = watch(page);
    await page.goto(`${base}/`);
    await page.getByRole("button", { name: "Start talking" }).click();
    await waitConnected(page);
    const picker = page.getByRole("combobox", { name: /^Microphone/ });
    // After the permission grant the list has the real (fake) devices.
    await page.waitForFunction(
      `document.querySelectorAll("#mic option").length >= 2`,
      undefined,
      { timeout: 10_000 },
    );
    const values: string[][] = await page.evaluate(
      `[...document.querySelectorAll("#mic option")]
        .map((o) => [o.value, o.textContent])`,
    );
    assert.equal(values[0][0], "", "first entry: the default microphone");
    const [id, label] = values.at(-1)!;
    await picker.selectOption(id!);
    await page.locator("#log", { hasText: `Microphone: ${label}` }).waitFor({
      timeout: 10_000,
    });
    const inUse = await page.evaluate(() =>
      (globalThis as unknown as {
        parley: { client: { inputDeviceId: string } };
      }).parley.client.inputDeviceId
    );
    assert.equal(inUse, id);
    // Still in the call after the switch.
    assert.equal(
      await page.locator("#state").getAttribute("data-state"),
      "connected",
    );
    await page.getByRole("button", { name: "Stop" }).click();
    await page.locator("#state[data-state=closed]").waitFor();
    assert.match(
      await page.locator("#log li.end").innerText(),
      /Call ended after 0:\d\d \(hung up\)/,
    );
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    await stream.close();
    await server.shutdown();
  }
});

Deno.test({
  name:
    'page: works under stream.mount(app, "/voice") without a trailing slash',
  ...options,
}, async () => {
  const script = new Script();
  const stream = new Stream({
    handler: new ScriptedHandler(script),
    uiArgs: { title: "Mounted bot" },
    verbose: false,
  });
  const app = new Hono();
  app.get("/", (c) => c.text("the app's own home page"));
  stream.mount(app, "/voice");
  const { server, base } = serve(
    stream,
    (request) => Promise.resolve(app.fetch(request)),
  );
  const browser = await launch();
  try {
    for (const path of ["/voice", "/voice/"]) {
      const page = await browser.newPage();
      const problems = watch(page);
      const requests: string[] = [];
      page.on("request", (r) => requests.push(new URL(r.url()).pathname));
      await page.goto(`${base}${path}`);
      await page.getByRole("heading", { name: "Mounted bot" }).waitFor();
      await page.waitForFunction(
        `document.documentElement.dataset.parley === "ready"`,
      );
      assert.ok(requests.includes("/voice/client.js"), requests.join(", "));
      await page.getByRole("button", { name: "Start talking" }).click();
      await waitConnected(page);
      await script.started;
      // The outputs stream is found under the prefix too.
      script.queue.put(new AdditionalOutputs("hello from under /voice"));
      await page.locator("#chat .transcript").waitFor({ timeout: 10_000 });
      assert.ok(requests.includes("/voice/outputs"), requests.join(", "));
      await page.getByRole("button", { name: "Stop" }).click();
      await page.locator("#state[data-state=closed]").waitFor();
      assert.deepEqual(problems, [], path);
      await page.close();
      script.reset();
    }
  } finally {
    await browser.close();
    await stream.close();
    await server.shutdown();
  }
});

Deno.test({
  name: "page: fits a 360 px wide screen without horizontal scrolling",
  ...options,
}, async () => {
  const script = new Script();
  const stream = new Stream({
    handler: new ScriptedHandler(script),
    uiArgs: {
      title: "A bot with a fairly long name",
      subtitle: "Press the button, talk, then pause",
    },
    verbose: false,
  });
  const { server, base } = serve(stream);
  const browser = await launch();
  try {
    const page = await browser.newPage({
      viewport: { width: 360, height: 740 },
      deviceScaleFactor: 2,
    });
    const problems = watch(page);
    await page.goto(`${base}/`);
    await page.getByRole("button", { name: "Start talking" }).click();
    await waitConnected(page);
    await script.started;
    script.queue.put(
      new AdditionalOutputs([
        {
          role: "user",
          content:
            "Read me https://example.com/a/very/long/path/that/does/not/break/naturally?with=query&and=more",
        },
        {
          role: "assistant",
          content:
            "Supercalifragilisticexpialidocious-antidisestablishmentarianism is a long word; here is the rest of a normal sentence.",
        },
      ]),
    );
    script.message(metrics(1, 512));
    await page.locator("#turns li").waitFor({ timeout: 10_000 });
    await page.locator("#chat .message").nth(1).waitFor({ timeout: 10_000 });
    script.log(
      "a_very_long_custom_log_message_without_any_spaces_at_all_to_wrap",
    );
    await page.locator("#log", { hasText: "a_very_long_custom" }).waitFor();
    const width: { scroll: number; widest: number } = await page.evaluate(`({
      scroll: document.documentElement.scrollWidth,
      widest: Math.max(...[...document.querySelectorAll("body *")]
        .map((e) => e.getBoundingClientRect().right)),
    })`);
    assert.ok(
      width.scroll <= 360 && width.widest <= 360.5,
      `page is ${width.scroll} px wide, widest element ends at ${width.widest}`,
    );
    // The button stays big enough to hit.
    const talk = await page.locator("#talk").boundingBox();
    assert.ok(talk && talk.height >= 44 && talk.width >= 200, `${talk}`);
    await screenshot(page, "page_360px.png");
    await page.getByRole("button", { name: "Stop" }).click();
    await page.locator("#state[data-state=closed]").waitFor();
    await screenshot(page, "page_360px_ended.png");
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    await stream.close();
    await server.shutdown();
  }
});

Deno.test({
  name: "page: says so when its script cannot load or throws",
  ...options,
}, async () => {
  const script = new Script();
  const stream = new Stream({
    handler: new ScriptedHandler(script),
    verbose: false,
  });
  const { server, base } = serve(stream);
  const browser = await launch();
  const cases = [
    {
      name: "missing",
      body: "down for maintenance",
      status: 503,
      detail: /The call client \(\/client\.js\) failed to load or run/,
    },
    {
      name: "throws",
      body: 'throw new Error("client blew up"); export class ParleyClient {}',
      status: 200,
      detail: /client blew up/,
    },
  ];
  try {
    for (const c of cases) {
      const page = await browser.newPage();
      await page.route("**/client.js", (route) =>
        route.fulfill({
          status: c.status,
          contentType: "text/javascript",
          body: c.body,
        }));
      await page.goto(`${base}/`);
      const fatal = page.getByRole("alert");
      await fatal.waitFor({ timeout: 10_000 });
      const text = await fatal.innerText();
      assert.match(text, /This page is not working/, c.name);
      assert.match(text, c.detail, c.name);
      assert.equal(await page.locator("#talk").isDisabled(), true, c.name);
      await screenshot(page, `page_script_${c.name}.png`);
      await page.close();
    }
  } finally {
    await browser.close();
    await stream.close();
    await server.shutdown();
  }
});

Deno.test({
  name: "page: a WebRTC call the bot ends shows the end, not a stale reply",
  ...options,
}, async () => {
  const script = new Script();
  const stream = new Stream({
    handler: new ScriptedHandler(script),
    webrtc: createWebRtcEndpoint(),
    verbose: false,
  });
  const { server, base } = serve(stream);
  const browser = await launch();
  try {
    const page = await browser.newPage();
    const problems = watch(page);
    await page.goto(`${base}/`);
    await page.getByLabel("WebRTC").check();
    await page.getByRole("button", { name: "Start talking" }).click();
    await waitConnected(page);
    await script.started;
    script.queue.put(
      new AdditionalOutputs([{ role: "assistant", content: "Hello there." }]),
    );
    await page.locator("#chat .assistant").waitFor({ timeout: 15_000 });
    script.log("response_starting");
    await page.locator("#activity", { hasText: "Bot is replying" }).waitFor();
    script.queue.put(new CloseStream("Bye"));
    await page.locator("#state[data-state=closed]").waitFor({
      timeout: 15_000,
    });
    assert.equal(await page.locator("#activity").innerText(), "Call ended");
    assert.match(
      await page.locator("#log li.end").innerText(),
      /Call ended after 0:\d\d \(the bot ended the call \(Bye\)\)/,
    );
    assert.deepEqual(problems, []);
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
});
