import assert from "node:assert/strict";
import {
  AdditionalOutputs,
  type AudioChunk,
  CloseStream,
  getCurrentContext,
  ReplyOnPause,
  Stream,
} from "../../mod.ts";
import { serveStream, until } from "../support/server.ts";
import { readFixture, TwilioTestClient } from "../support/twilio_client.ts";

const quiet = { verbose: false } as const;
const SILENCE = 0xff; // μ-law code of 0

function silence(ms: number): Uint8Array {
  return new Uint8Array(ms * 8).fill(SILENCE);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) (out.set(p, o), o += p.length);
  return out;
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
}

/** Plays audio in real time and records when each reply's first frame arrives. */
async function playAndMeasure(
  client: TwilioTestClient,
  audio: Uint8Array,
  speechEndsS: number[],
): Promise<{ latencies: number[]; replyStarts: number[]; t0: number }> {
  const t0 = performance.now();
  await client.play(audio, { realtime: true });
  // Replies are separated by silence: a new reply starts when a frame comes
  // more than 150 ms after the previous one.
  const replyStarts: number[] = [];
  let prev = -Infinity;
  for (const m of client.media) {
    if (m.at - prev > 150) replyStarts.push(m.at - t0);
    prev = m.at;
  }
  const latencies = speechEndsS.map((end) => {
    const start = replyStarts.find((s) => s > end * 1000);
    return start === undefined ? Infinity : start - end * 1000;
  });
  return { latencies, replyStarts, t0 };
}

Deno.test({
  name:
    "ReplyOnPause over Twilio: every turn of real speech is answered, none cut at short pauses, p50 latency < 600 ms",
  // Real-time playback of ~27 s of speech.
  async fn() {
    const turns: number[] = [];
    const echo = new ReplyOnPause(async function* (audio: AudioChunk) {
      turns.push(audio[1].length / audio[0]);
      yield audio;
    }, { inputSampleRate: 16000, outputSampleRate: 16000 });
    const logs: string[] = [];
    const stream = new Stream({ handler: echo, ...quiet });
    const server = serveStream(stream);
    try {
      const all: number[] = [];
      // turns_8k: speech 0.5–1.9455 s (then a 0.3 s pause inside the turn),
      // 2.2455–5.0515 s, 6.0515–7.1656 s. Two turns expected.
      {
        const client = await TwilioTestClient.connect(
          `${server.wsUrl}/telephone/handler`,
        );
        const audio = concat(await readFixture("turns_8k.ulaw"), silence(1500));
        const r = await playAndMeasure(client, audio, [5.0515, 7.165625]);
        all.push(...r.latencies);
        assert.equal(
          turns.length,
          2,
          `turns: ${turns.map((t) => t.toFixed(2))}`,
        );
        // The first turn spans both phrases (4.55 s of speech + padding).
        assert.ok(turns[0] > 4.5 && turns[0] < 5.5, `first turn ${turns[0]} s`);
        await client.close();
      }
      // jfk.wav: one sentence with intra-sentence pauses, speech ends ≈ 10.5 s.
      {
        turns.length = 0;
        const client = await TwilioTestClient.connect(
          `${server.wsUrl}/telephone/handler`,
        );
        client.socket.addEventListener(
          "message",
          (e) => logs.push(String(e.data).slice(0, 40)),
        );
        const jfk = await readFixture("jfk_8k.ulaw");
        const audio = concat(jfk, silence(1500));
        // Phrase ends of jfk.wav (see tests/fixtures/README.md); the pauses
        // between them last 0.68-1.18 s, so each phrase is a turn.
        const ends = [2.11, 4.29, 7.51, 10.35];
        const r = await playAndMeasure(client, audio, ends);
        console.log(
          `jfk: turns ${turns.map((t) => t.toFixed(2))}, replies start at ${
            r.replyStarts.map((x) => x.toFixed(0))
          } ms`,
        );
        all.push(...r.latencies);
        assert.equal(turns.length, 4, `jfk turns: ${turns.length}`);
        await client.close();
      }
      const p50 = percentile(all, 0.5);
      const p90 = percentile(all, 0.9);
      console.log(
        `end-of-speech → first reply frame at the client: ${
          all.map((x) => x.toFixed(0)).join(", ")
        } ms; ` +
          `p50 ${p50.toFixed(0)} ms, p90 ${
            p90.toFixed(0)
          } ms (FastRTC's 0.6 s chunks: 600-1200 ms)`,
      );
      assert.ok(all.every(Number.isFinite), "every turn was answered");
      assert.ok(p50 < 600, `p50 ${p50} ms`);
    } finally {
      await server.close();
    }
  },
});

Deno.test("ReplyOnPause barge-in: caller speech during a long reply sends clear and closes the generator within 250 ms", async () => {
  let closedAt = 0;
  let replies = 0;
  let signal: AbortSignal | null = null;
  const handler = new ReplyOnPause(async function* () {
    replies++;
    if (replies > 1) return; // the interruption's own reply: nothing
    signal = getCurrentContext().signal;
    const tone = Int16Array.from(
      { length: 160 },
      (_, i) => Math.round(6000 * Math.sin(i / 3)),
    );
    try {
      for (let i = 0; i < 1000; i++) yield [8000, tone] as AudioChunk;
    } finally {
      closedAt = performance.now();
    }
  }, { inputSampleRate: 8000, outputSampleRate: 8000 });
  const stream = new Stream({ handler, ...quiet });
  const server = serveStream(stream);
  try {
    const client = await TwilioTestClient.connect(
      `${server.wsUrl}/telephone/handler`,
    );
    // A first utterance starts the long reply.
    await client.play(
      concat(await readFixture("turns_8k.ulaw")).subarray(0, 8000 * 2.1),
      { realtime: true },
    );
    await client.play(silence(800), { realtime: true });
    await client.waitFor(() => client.media.length > 10, 3000, "reply playing");
    // Keep sending silence for a moment while the reply plays, then talk.
    await client.play(silence(400), { realtime: true });
    const onset = performance.now();
    const playing = client.play(
      concat(await readFixture("interrupt_8k.ulaw"), silence(1000)),
      { realtime: true },
    );
    await client.waitFor(
      () => client.messages.some((m) => m.event === "clear"),
      3000,
      "clear",
    );
    const clearAt = performance.now();
    await until(() => closedAt > 0, 1000, "generator closed");
    await playing;
    const clearMs = clearAt - onset;
    const closeMs = closedAt - onset;
    console.log(
      `barge-in: clear ${clearMs.toFixed(0)} ms, generator closed ${
        closeMs.toFixed(0)
      } ms after speech onset`,
    );
    assert.ok(clearMs < 250, `clear after ${clearMs} ms`);
    assert.ok(closeMs < 250, `generator closed after ${closeMs} ms`);
    assert.equal(signal!.aborted, true, "the reply's AbortSignal aborted");
    // The new utterance was captured and answered (its own reply).
    await until(() => replies === 2, 3000, "reply to the interruption");
    await client.close();
  } finally {
    await server.close();
  }
});

Deno.test("ReplyOnPause with canInterrupt false ignores caller audio during the reply", async () => {
  let replies = 0;
  const handler = new ReplyOnPause(async function* () {
    replies++;
    const tone = new Int16Array(160).fill(3000);
    for (let i = 0; i < 250; i++) yield [8000, tone] as AudioChunk; // 5 s
  }, { inputSampleRate: 8000, outputSampleRate: 8000, canInterrupt: false });
  const stream = new Stream({ handler, ...quiet });
  const server = serveStream(stream);
  try {
    const client = await TwilioTestClient.connect(
      `${server.wsUrl}/telephone/handler`,
    );
    const speech = (await readFixture("turns_8k.ulaw")).subarray(0, 8000 * 2.1);
    await client.play(concat(speech, silence(700)), { realtime: true });
    await client.waitFor(() => client.media.length > 5, 3000, "reply");
    await client.play(
      concat(await readFixture("interrupt_8k.ulaw"), silence(700)),
      { realtime: true },
    );
    assert.ok(
      !client.messages.some((m) => m.event === "clear"),
      "no clear without canInterrupt",
    );
    assert.equal(replies, 1, "speech during the reply was ignored");
    await client.close();
  } finally {
    await server.close();
  }
});

Deno.test("ReplyOnPause: startupFn greets, fn errors reach the client and listening continues, phone AdditionalOutputs become next args, CloseStream hangs up", async () => {
  const seenArgs: unknown[][] = [];
  const errs: string[] = [];
  const orig = console.error;
  console.error = (...a: unknown[]) => errs.push(a.map(String).join(" "));
  let n = 0;
  const handler = new ReplyOnPause(
    async function* (_audio: AudioChunk, ...args: unknown[]) {
      n++;
      seenArgs.push(args);
      assert.ok(getCurrentContext().signal instanceof AbortSignal);
      if (n === 1) throw new Error("LLM unavailable");
      if (n === 2) {
        yield new AdditionalOutputs(["history", n]);
        yield [8000, new Int16Array(160).fill(1000)] as AudioChunk;
        return;
      }
      yield new CloseStream("bye");
    },
    {
      inputSampleRate: 8000,
      outputSampleRate: 8000,
      needsArgs: false,
      startupFn: async function* () {
        yield [8000, new Int16Array(800).fill(2000)] as AudioChunk;
      },
    },
  );
  const stream = new Stream({ handler, ...quiet });
  const server = serveStream(stream);
  try {
    const client = await TwilioTestClient.connect(
      `${server.wsUrl}/telephone/handler`,
    );
    await client.waitFor(
      () => client.messages.some((m) => m.event === "mark"),
      3000,
      "mark after the greeting",
    );
    assert.equal(client.media.length, 5, "the 100 ms greeting came first");
    const speech = (await readFixture("turns_8k.ulaw")).subarray(0, 8000 * 2.1);
    for (
      let turn = 0;
      turn < 3 && client.socket.readyState === WebSocket.OPEN;
      turn++
    ) {
      await client.play(concat(speech, silence(900)), { realtime: true });
    }
    await client.closed;
    assert.equal(n, 3);
    assert.deepEqual(seenArgs[0], []);
    assert.deepEqual(
      seenArgs[2],
      [["history", 2]],
      "phone mode: outputs become the next call's args",
    );
    assert.ok(errs.some((e) => e.includes("LLM unavailable")));
  } finally {
    console.error = orig;
    await server.close();
  }
});

Deno.test("ReplyOnPause: bad constructor input and bad yields give clear errors", async () => {
  assert.throws(
    () => new ReplyOnPause("nope" as never),
    /needs a generator function/,
  );
  assert.throws(
    () =>
      new ReplyOnPause(function* () {}, { turnOptions: { minSilenceMs: -5 } }),
    /minSilenceMs/,
  );
  const errors: string[] = [];
  const handler = new ReplyOnPause(async function* () {
    yield "hello" as never;
  }, { inputSampleRate: 8000, outputSampleRate: 8000 });
  const stream = new Stream({ handler, ...quiet });
  const server = serveStream(stream);
  const orig = console.error;
  console.error = (...a: unknown[]) => errors.push(a.map(String).join(" "));
  try {
    const c = await TwilioTestClient.connect(
      `${server.wsUrl}/telephone/handler`,
    );
    const speech = (await readFixture("turns_8k.ulaw")).subarray(0, 8000 * 2.1);
    await c.play(concat(speech, silence(900)), { realtime: true });
    await until(
      () => errors.some((e) => e.includes("yielded a string")),
      2000,
      "type error",
    );
    await c.close();
  } finally {
    console.error = orig;
    await server.close();
  }
});
