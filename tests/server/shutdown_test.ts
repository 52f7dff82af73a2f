// Issue 13 items 7 and 8, "Prove it" shutdown: a bot subprocess with live
// calls in every state exits within 5 s on SIGINT and on SIGTERM, every
// handler's shutdown() runs once, and every socket gets a clean close frame
// with Parley's reason.
import assert from "node:assert/strict";
import { Stream } from "../../mod.ts";
import { EchoHandler, Journal } from "../support/handlers.ts";
import { RawWebSocket } from "../support/raw_ws.ts";
import { serveStream, until } from "../support/server.ts";
import { TwilioTestClient } from "../support/twilio_client.ts";

const server = new URL("../support/shutdown_server.ts", import.meta.url);
const fixture = (name: string) =>
  Deno.readFile(new URL(`../fixtures/${name}`, import.meta.url));

/** The bot subprocess and the lines it printed. */
class Bot {
  readonly child: Deno.ChildProcess;
  readonly lines: string[] = [];
  readonly exited: Promise<{ code: number; at: number }>;
  port = 0;

  constructor(args: string[] = []) {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", server.pathname, ...args],
      stdout: "piped",
      stderr: "inherit",
      stdin: "null",
    }).spawn();
    this.child = child;
    const reading = (async () => {
      const decoder = new TextDecoderStream();
      let rest = "";
      for await (const text of child.stdout.pipeThrough(decoder)) {
        const parts = (rest + text).split("\n");
        rest = parts.pop()!;
        this.lines.push(...parts);
      }
    })();
    this.exited = child.status.then(async (s) => {
      const at = performance.now();
      await reading;
      return { code: s.code, at };
    });
  }

  async ready(): Promise<void> {
    await until(() => this.has("READY"), 60_000, "the bot to load");
    this.port = Number(this.find("LISTENING ")!.split(" ")[1]);
  }

  has(prefix: string): boolean {
    return this.lines.some((l) => l.startsWith(prefix));
  }

  find(prefix: string): string | undefined {
    return this.lines.find((l) => l.startsWith(prefix));
  }

  count(prefix: string): number {
    return this.lines.filter((l) => l.startsWith(prefix)).length;
  }
}

/** A Twilio client that also keeps its close reason. */
async function phone(
  port: number,
  options: Parameters<typeof TwilioTestClient.connect>[1] = {},
) {
  const client = await TwilioTestClient.connect(
    `ws://127.0.0.1:${port}/telephone/handler`,
    options,
  );
  const close = new Promise<{ code: number; reason: string; clean: boolean }>(
    (r) =>
      client.socket.addEventListener(
        "close",
        (e) => r({ code: e.code, reason: e.reason, clean: e.wasClean }),
      ),
  );
  return { client, close };
}

/** Sends μ-law in real time (20 ms frames) until stopped. */
function talk(
  client: TwilioTestClient,
  audio: Uint8Array,
  options: { loop?: boolean; thenSilenceMs?: number } = {},
): { stop(): void; done: Promise<void> } {
  let stopped = false;
  const done = (async () => {
    const silence = new Uint8Array(
      Math.round((options.thenSilenceMs ?? 0) * 8),
    ).fill(0xff);
    const all = new Uint8Array(audio.length + silence.length);
    all.set(audio);
    all.set(silence, audio.length);
    const start = performance.now();
    let sent = 0;
    do {
      for (let i = 0; i < all.length && !stopped; i += 160) {
        if (client.socket.readyState !== WebSocket.OPEN) return;
        client.sendMulaw(all.subarray(i, i + 160));
        sent += 20;
        const wait = start + sent - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
    } while (options.loop && !stopped);
  })();
  return { stop: () => (stopped = true), done };
}

async function shutdownInEveryState(signal: "SIGINT" | "SIGTERM") {
  const bot = new Bot();
  const talkers: { stop(): void; done: Promise<void> }[] = [];
  const closes: Promise<{ code: number; reason: string; clean: boolean }>[] =
    [];
  try {
    await bot.ready();
    const speech = await fixture("hello_there_weather_8k.ulaw");
    const long = await fixture("jfk_8k.ulaw");

    // Idle before start: connected, never sent start.
    const idle = await phone(bot.port, { sendStart: false });
    closes.push(idle.close);
    // Started, silent, with a browser reading its outputs.
    const silent = await phone(bot.port);
    closes.push(silent.close);
    // After STT use: one short turn, transcribed and answered, now idle.
    const after = await phone(bot.port, { customParameters: { reply: "200" } });
    closes.push(after.close);
    talkers.push(talk(after.client, speech, { thenSilenceMs: 3000 }));
    // Mid-reply: a 30 s answer is playing.
    const replying = await phone(bot.port, {
      customParameters: { reply: "30000" },
    });
    closes.push(replying.close);
    talkers.push(talk(replying.client, speech, { thenSilenceMs: 3000 }));
    await until(
      () => bot.has(`REPLY_DONE ${after.client.streamSid}`),
      30_000,
      "the short reply to finish",
    );
    await until(
      () => replying.client.media.length >= 10,
      30_000,
      "the long reply to start playing",
    );
    // Mid-turn: talking now (after the others, so still mid-sentence).
    const turn = await phone(bot.port);
    closes.push(turn.close);
    talkers.push(talk(turn.client, long, { loop: true }));
    await until(
      () => bot.has(`LOG ${turn.client.streamSid} started_talking`),
      10_000,
      "the caller to be mid-turn",
    );
    const sse = await fetch(
      `http://127.0.0.1:${bot.port}/outputs?webrtc_id=${silent.client.streamSid}`,
    );
    assert.ok(!bot.has(`REPLY ${turn.client.streamSid}`), "still mid-turn");
    assert.ok(!bot.has(`REPLY_DONE ${replying.client.streamSid}`), "mid-reply");

    const sentAt = performance.now();
    bot.child.kill(signal);
    const { code, at } = await bot.exited;
    const seconds = (at - sentAt) / 1000;
    const results = await Promise.all(closes);
    await sse.body?.cancel().catch(() => {});

    assert.equal(code, 0, bot.lines.join("\n"));
    assert.ok(seconds < 5, `exited ${seconds.toFixed(2)} s after ${signal}`);
    for (const [i, r] of results.entries()) {
      assert.deepEqual(
        r,
        { code: 1001, reason: "server shutting down", clean: true },
        `socket ${i}`,
      );
    }
    // The four started calls each ran shutdown() exactly once.
    const ids = [silent, after, replying, turn].map((c) => c.client.streamSid);
    for (const id of ids) {
      assert.equal(bot.count(`SHUTDOWN ${id}`), 1, `shutdown of ${id}`);
    }
    assert.equal(bot.count("SHUTDOWN "), 4);
    assert.equal(bot.count("ONSHUTDOWN"), 1);
    console.log(
      `${signal}: exit ${code} after ${seconds.toFixed(2)} s, ` +
        `${results.length} sockets closed 1001`,
    );
  } finally {
    for (const t of talkers) t.stop();
    await Promise.all(talkers.map((t) => t.done));
    try {
      bot.child.kill("SIGKILL");
    } catch {
      // Already exited.
    }
    await bot.exited;
  }
}

Deno.test({
  name:
    "shutdown: SIGINT with calls idle, mid-turn, mid-reply and after STT exits within 5 s, clean 1001 closes, shutdown() once each",
  fn: () => shutdownInEveryState("SIGINT"),
});

Deno.test({
  name:
    "shutdown: SIGTERM with calls idle, mid-turn, mid-reply and after STT exits within 5 s, clean 1001 closes, shutdown() once each",
  fn: () => shutdownInEveryState("SIGTERM"),
});

Deno.test("shutdown: a second SIGINT exits at once (130); a hung shutdown still exits at the deadline (1)", async () => {
  for (const second of [true, false]) {
    const bot = new Bot(["--hang", "--no-stt"]);
    try {
      await bot.ready();
      const call = await phone(bot.port);
      const sentAt = performance.now();
      bot.child.kill("SIGINT");
      await until(() => bot.has("ONSHUTDOWN"), 10_000, "onShutdown to run");
      if (second) bot.child.kill("SIGINT");
      const { code, at } = await bot.exited;
      const seconds = (at - sentAt) / 1000;
      assert.deepEqual(
        await call.close,
        { code: 1001, reason: "server shutting down", clean: true },
      );
      if (second) {
        assert.equal(code, 130);
      } else {
        assert.equal(code, 1);
        // shutdownTimeoutMs is 4.5 s: past it the bot exits anyway.
        assert.ok(seconds >= 4 && seconds < 10, `${seconds} s`);
      }
      assert.ok(seconds < 10, `${seconds} s`);
    } finally {
      try {
        bot.child.kill("SIGKILL");
      } catch {
        // Already exited.
      }
      await bot.exited;
    }
  }
});

Deno.test("shutdown: serve({ signal }) aborting closes live sockets with 1001 and stops the server", async () => {
  const journal = new Journal();
  const stream = new Stream({
    handler: new EchoHandler(journal),
    verbose: false,
  });
  const ac = new AbortController();
  const server = stream.serve({
    port: 0,
    hostname: "127.0.0.1",
    onListen: () => {},
    handleSignals: false,
    signal: ac.signal,
  });
  const started = await phone(server.addr.port);
  const idle = await phone(server.addr.port, { sendStart: false });
  await until(() => journal.started === 1, 3000, "the call");
  ac.abort();
  assert.deepEqual(await started.close, {
    code: 1001,
    reason: "server shutting down",
    clean: true,
  });
  assert.equal((await idle.close).code, 1001);
  await server.finished;
  await until(() => journal.shutdowns === 1, 3000, "shutdown()");
});

Deno.test("shutdown: Stream.close() does not hang on a client that never reads or answers", async () => {
  const stream = new Stream({ handler: new EchoHandler(), verbose: false });
  const server = serveStream(stream);
  const raw = await RawWebSocket.connect(`${server.wsUrl}/telephone/handler`);
  try {
    await raw.sendText(JSON.stringify({
      event: "start",
      streamSid: "MZsilent",
      start: { streamSid: "MZsilent", callSid: "CA1" },
    }));
    await until(() => stream.activeCalls === 1, 3000, "the call");
    const t0 = performance.now();
    await stream.close({ closeTimeoutMs: 3000 });
    const seconds = (performance.now() - t0) / 1000;
    // The adapter gives up after closeGraceMs (2 s); close() is bounded.
    assert.ok(seconds < 4, `close() took ${seconds.toFixed(2)} s`);
    assert.equal(stream.activeCalls, 0);
    assert.equal(stream.socketStats.unclean, 1);
  } finally {
    raw.close();
    await server.close();
  }
});
