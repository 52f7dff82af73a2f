/**
 * Turn taking over a whole call (issue 11): the same utterance gives the
 * same turns whatever preceded it, a caller who resumes before hearing the
 * reply is heard as one turn, preemptive generation, end-of-turn analysers,
 * per-turn metrics, and bounded memory over a long call.
 */
import assert from "node:assert/strict";
import {
  type AudioChunk,
  getCurrentContext,
  ReplyOnPause,
  type ReplyOnPauseOptions,
  Stream,
} from "../../mod.ts";
import type { ClientMessage } from "../../src/transports/mod.ts";
import { decodeMulaw, encodeMulaw, readWavFile } from "../../src/audio/mod.ts";
import type { EndOfTurnAnalyser } from "../../src/vad/mod.ts";
import {
  isTurnMetricsMessage,
  type TurnMetrics,
} from "../../src/handlers/turn_metrics.ts";
import { serveStream, until } from "../support/server.ts";
import { readFixture, TwilioTestClient } from "../support/twilio_client.ts";
import { startLocalCall } from "../support/local_call.ts";

const quiet = { verbose: false } as const;
const SILENCE = 0xff; // μ-law code of 0

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) (out.set(p, o), o += p.length);
  return out;
}

/** μ-law line noise: white noise at `dbfs`, deterministic per seed. */
function lineNoise(samples: number, dbfs: number, seed: number): Uint8Array {
  let a = seed >>> 0;
  const amp = Math.pow(10, dbfs / 20) * Math.sqrt(3) * 32767;
  const pcm = Int16Array.from({ length: samples }, () => {
    a = (a * 1103515245 + 12345) >>> 0;
    return Math.round((a / 4294967296 * 2 - 1) * amp);
  });
  return encodeMulaw(pcm);
}

/**
 * Copies of `speech` with gaps between them; each copy + gap lasts a whole
 * number of 160 ms (20 ms frames × 32 ms VAD windows), so every copy meets
 * the same window phase. Returns the audio and each copy's start in ms.
 */
function repeated(
  speech: Uint8Array,
  gapsS: number[],
  gap: (samples: number, k: number) => Uint8Array,
): { audio: Uint8Array; starts: number[] } {
  const parts: Uint8Array[] = [];
  const starts: number[] = [];
  let at = 0;
  gapsS.forEach((g, k) => {
    const n = Math.ceil((speech.length + g * 8000) / 1280) * 1280 -
      speech.length;
    starts.push(at / 8);
    parts.push(speech, gap(n, k));
    at += speech.length + n;
  });
  return { audio: concat(parts), starts };
}

/** Plays μ-law at `speed` × real time as 20 ms media messages. */
async function playPaced(
  client: TwilioTestClient,
  bytes: Uint8Array,
  speed: number,
): Promise<void> {
  const start = performance.now();
  for (let i = 0, n = 0; i < bytes.length; i += 160, n++) {
    const wait = start + n * 20 / speed - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    if (client.socket.readyState !== WebSocket.OPEN) return;
    client.sendMulaw(bytes.subarray(i, Math.min(i + 160, bytes.length)));
  }
}

/** A ReplyOnPause whose per-call copies the test can inspect. */
function probe(
  fn: ConstructorParameters<typeof ReplyOnPause>[0],
  options: ReplyOnPauseOptions,
): { handler: ReplyOnPause; copies: ReplyOnPause[] } {
  const copies: ReplyOnPause[] = [];
  class Probe extends ReplyOnPause {
    override copy(): Probe {
      const c = new Probe(this.fn, this.options);
      copies.push(c);
      return c;
    }
  }
  return { handler: new Probe(fn, options), copies };
}

function tone(ms: number, rate = 8000): AudioChunk {
  return [
    rate,
    Int16Array.from(
      { length: rate * ms / 1000 },
      (_, i) => Math.round(4000 * Math.sin(i / 3)),
    ),
  ];
}

/** Groups turns by the copy their speech starts in, relative to the copy. */
function perCopy(
  metrics: TurnMetrics[],
  starts: number[],
  endMs = Infinity,
): number[][][] {
  return starts.map((s, k) =>
    metrics.filter((m) =>
      m.speechStartMs >= s - 300 &&
      m.speechStartMs < (starts[k + 1] ?? endMs) - 300
    ).map((m) => [
      m.speechStartMs - s,
      m.speechEndMs - s,
      m.decisionMs - s,
    ])
  );
}

for (const kind of ["digital silence", "line noise"] as const) {
  Deno.test(`turns over Twilio: the espeak sentences 5 times and JFK twice in one call, separated by 3-5 s of ${kind}, give the same turns every time`, async () => {
    const { handler, copies } = probe(async function* () {
      yield tone(100);
    }, {
      inputSampleRate: 8000,
      outputSampleRate: 8000,
      // Turn boundaries only: no merging at 4× real time.
      mergeResumedTurns: false,
    });
    const stream = new Stream({ handler, ...quiet });
    const server = serveStream(stream);
    try {
      const gap = kind === "digital silence"
        ? (n: number) => new Uint8Array(n).fill(SILENCE)
        : (n: number, k: number) => lineNoise(n, -50, 7 + k);
      const espeak = repeated(
        await readFixture("turns_8k.ulaw"),
        [3.5, 4, 4.5, 5, 3],
        gap,
      );
      const jfk = repeated(await readFixture("jfk_8k.ulaw"), [4, 2], gap);
      const client = await TwilioTestClient.connect(
        `${server.wsUrl}/telephone/handler`,
      );
      await playPaced(client, concat([espeak.audio, jfk.audio]), 4);
      await until(() => copies.length === 1, 2000, "the call's handler");
      const call = copies[0];
      await until(
        () => call.turnMetrics.length >= 5 * 2 + 2 * 4,
        5000,
        "every turn's metrics",
      );
      const offset = espeak.audio.length / 8;
      const e = perCopy(call.turnMetrics, espeak.starts, offset);
      const j = perCopy(call.turnMetrics, jfk.starts.map((s) => s + offset));
      console.log(
        `${kind}: espeak turns per copy ${e.map((c) => c.length)}, ` +
          `jfk ${j.map((c) => c.length)}; first copies ${
            JSON.stringify(e[0])
          } ${JSON.stringify(j[0])}`,
      );
      // Nothing lost: 2 turns per espeak copy (the 0.3 s pause is not a
      // cut), 4 per JFK copy (its phrases are 0.68-1.18 s apart).
      assert.deepEqual(e.map((c) => c.length), [2, 2, 2, 2, 2]);
      assert.deepEqual(j.map((c) => c.length), [4, 4]);
      let worst = 0;
      for (const copiesOf of [e, j]) {
        for (const c of copiesOf.slice(1)) {
          c.forEach((t, i) =>
            t.forEach((x, k) =>
              worst = Math.max(worst, Math.abs(x - copiesOf[0][i][k]))
            )
          );
        }
      }
      console.log(
        `${kind}: largest turn-time difference between copies ${worst} ms`,
      );
      if (kind === "digital silence") {
        assert.equal(worst, 0, "identical turns after digital silence");
      } else {
        assert.ok(worst <= 200, `turns moved by ${worst} ms`);
      }
      assert.ok(call.turnMetrics.every((m) => m.vad === "v5"));
      await client.close();
    } finally {
      await server.close();
    }
  });
}

Deno.test("resume-merge over Twilio: JFK through a bot that waits 1 s before yielding its echo → exactly one reply, with all of the speech", async () => {
  const got: number[] = [];
  const aborted: boolean[] = [];
  const signals: AbortSignal[] = [];
  const { handler, copies } = probe(async function* (audio: AudioChunk) {
    got.push(audio[1].length / audio[0]);
    const signal = getCurrentContext().signal;
    signals.push(signal);
    await new Promise((r) => setTimeout(r, 1000));
    if (signal.aborted) {
      aborted.push(true);
      return;
    }
    yield audio;
  }, { inputSampleRate: 8000, outputSampleRate: 8000 });
  const stream = new Stream({ handler, ...quiet });
  const server = serveStream(stream);
  try {
    const client = await TwilioTestClient.connect(
      `${server.wsUrl}/telephone/handler`,
    );
    const jfk = await readFixture("jfk_8k.ulaw");
    const interrupts: string[] = [];
    until(() => copies.length > 0, 2000, "the call").then(() =>
      copies[0].bus.on("interrupt", (e) => interrupts.push(e.reason))
    );
    await client.play(concat([jfk, new Uint8Array(8000 * 3).fill(SILENCE)]), {
      realtime: true,
    });
    await until(() => copies[0]?.turnMetrics.length === 1, 15000, "metrics");
    const m = copies[0].turnMetrics[0];
    console.log(
      `1 s bot: fn calls with ${got.map((x) => x.toFixed(2))} s, ` +
        `metrics ${JSON.stringify(m)}`,
    );
    // Every fragment's reply was cancelled before it played, silently.
    assert.equal(got.length, m.merged + 1);
    assert.ok(m.merged >= 2, `merged ${m.merged}`);
    assert.ok(signals.slice(0, -1).every((s) => s.aborted));
    assert.deepEqual(interrupts, [], "no interrupt");
    assert.ok(!client.messages.some((x) => x.event === "clear"), "no clear");
    // The last call got the whole sentence (speech 0.3-10.5 s).
    assert.ok(got.at(-1)! > 10, `last utterance ${got.at(-1)} s`);
    assert.ok(m.speechStartMs < 500 && m.speechEndMs > 10000);
    // Exactly one reply reached the caller: all of the echo, once.
    const replySamples = client.media.reduce((n, x) => n + x.bytes.length, 0);
    assert.ok(
      Math.abs(replySamples / 8000 - got.at(-1)!) < 0.1,
      `${replySamples / 8000} s of reply audio`,
    );
    assert.equal(
      client.messages.filter((x) => x.event === "mark").length,
      1,
      "one reply",
    );
    assert.equal(m.interrupted, false);
    assert.ok(m.latencyMs! >= 1000, `latency ${m.latencyMs}`);
    await client.close();
  } finally {
    await server.close();
  }
});

Deno.test("preemptive generation over Twilio: time to first audio for a 300 ms-to-first-chunk bot, with and without, in one run", async () => {
  const bot = async function* (audio: AudioChunk) {
    const signal = getCurrentContext().signal;
    await new Promise((r) => setTimeout(r, 300));
    if (signal.aborted) return;
    yield [audio[0], audio[1].subarray(0, audio[0] / 2)] as AudioChunk;
  };
  const run = async (preemptiveSilenceMs?: number) => {
    const { handler, copies } = probe(bot, {
      inputSampleRate: 8000,
      outputSampleRate: 8000,
      preemptiveSilenceMs,
    });
    const stream = new Stream({ handler, ...quiet });
    const server = serveStream(stream);
    try {
      const client = await TwilioTestClient.connect(
        `${server.wsUrl}/telephone/handler`,
      );
      await client.play(
        concat([
          await readFixture("turns_8k.ulaw"),
          new Uint8Array(8000 * 1.5).fill(SILENCE),
        ]),
        { realtime: true },
      );
      await until(() => copies[0]?.turnMetrics.length === 2, 5000, "turns");
      await client.close();
      return copies[0].turnMetrics.map((m) => m.latencyMs!);
    } finally {
      await server.close();
    }
  };
  // Both calls at once, so they share the machine's load.
  const [without, withPreemption] = await Promise.all([run(), run(200)]);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  console.log(
    `end of speech → first reply frame, bot with 300 ms to its first chunk: ` +
      `without preemption ${without.map((x) => x.toFixed(0))} ms (mean ${
        mean(without).toFixed(0)
      }), with preemptiveSilenceMs 200 ${
        withPreemption.map((x) => x.toFixed(0))
      } ms (mean ${mean(withPreemption).toFixed(0)})`,
  );
  assert.ok(mean(withPreemption) < mean(without));
});

async function espeak16k(): Promise<Int16Array> {
  const wav = await readWavFile(
    new URL("../fixtures/turns_espeak.wav", import.meta.url),
  );
  return Int16Array.from(wav.samples, (x) => Math.round(x * 32767));
}

Deno.test("long call: 10 minutes of speech and silence fed through the bus faster than real time — every utterance answered, metrics per turn, memory bounded", async () => {
  let replies = 0;
  const handler = new ReplyOnPause(async function* (audio: AudioChunk) {
    replies++;
    yield [audio[0], audio[1].subarray(0, 1600)] as AudioChunk;
  }, { inputSampleRate: 16000, outputSampleRate: 16000 });
  const call = startLocalCall(handler, { rate: 16000 });
  const speech = await espeak16k(); // 2 turns, 8.17 s
  const silence = new Int16Array(16000 * 2);
  const self = call.handler as ReplyOnPause;
  let copies = 0;
  let maxBuffered = 0;
  const heap0 = Deno.memoryUsage().heapUsed;
  while (copies * 10.17 < 600) {
    for (let i = 0; i < speech.length; i += 8000) {
      await call.feed(speech.subarray(i, i + 8000), 3200);
      maxBuffered = Math.max(maxBuffered, self.bufferedMs);
    }
    await call.feed(silence, 3200);
    maxBuffered = Math.max(maxBuffered, self.bufferedMs);
    copies++;
  }
  await call.feed(new Int16Array(16000), 3200);
  const heap1 = Deno.memoryUsage().heapUsed;
  await call.end();
  const metrics = call.messages.filter(isTurnMetricsMessage).map((m) =>
    m.metrics
  );
  console.log(
    `10-minute call: ${copies} copies, ${replies} replies, ${metrics.length} turn_metrics, ` +
      `caller audio kept at most ${
        maxBuffered.toFixed(0)
      } ms (sampled every 0.5 s), heap ${
        ((heap1 - heap0) / 1e6).toFixed(1)
      } MB more than at the start`,
  );
  assert.equal(replies, 2 * copies, "every utterance answered");
  assert.equal(metrics.length, 2 * copies, "one metrics event per turn");
  assert.ok(
    metrics.every((m, i) => m.turn === i + 1 && m.firstReplyMs !== null),
  );
  // The longest turn (5 s of speech + padding) plus the kept margin.
  assert.ok(maxBuffered < 8000, `kept ${maxBuffered} ms`);
  assert.equal(self.turnMetrics.length, 100, "the handler keeps the last 100");
});

Deno.test("a turn that never ends is answered at maxContinuousSpeechS (default 60 s) and does not keep all its audio", async () => {
  // Speech with every pause removed, looped to 150 s.
  const wav = await readWavFile(
    new URL("../fixtures/silero_test.wav", import.meta.url),
  );
  const loud: number[] = [];
  for (let i = 0; i + 320 <= wav.samples.length; i += 320) {
    let e = 0;
    for (let j = i; j < i + 320; j++) e += wav.samples[j] ** 2;
    if (Math.sqrt(e / 320) > 0.02) {
      for (let j = i; j < i + 320; j++) loud.push(wav.samples[j] * 32767);
    }
  }
  const one = Int16Array.from(loud);
  const turns: number[] = [];
  const handler = new ReplyOnPause(async function* (audio: AudioChunk) {
    turns.push(audio[1].length / audio[0]);
    yield null;
  }, { inputSampleRate: 16000 });
  const call = startLocalCall(handler, { rate: 16000 });
  const self = call.handler as ReplyOnPause;
  let maxBuffered = 0;
  for (let fed = 0; fed < 150 * 16000; fed += one.length) {
    for (let i = 0; i < one.length; i += 16000) {
      await call.feed(one.subarray(i, i + 16000), 3200);
      maxBuffered = Math.max(maxBuffered, self.bufferedMs);
    }
  }
  await call.end();
  console.log(
    `150 s monologue: turns ${turns.map((t) => t.toFixed(1))} s, kept at most ${
      (maxBuffered / 1000).toFixed(1)
    } s`,
  );
  assert.ok(turns.length >= 2, `turns ${turns}`);
  assert.ok(turns.every((t) => t <= 61), `turns ${turns}`);
  assert.ok(maxBuffered <= 62_000, `kept ${maxBuffered} ms`);
});

/** Feeds 16 kHz audio through a local call at real-time pace. */
async function feedRealtime(
  call: ReturnType<typeof startLocalCall>,
  pcm: Int16Array,
): Promise<void> {
  const start = performance.now();
  for (let i = 0, n = 0; i < pcm.length; i += 320, n++) {
    const wait = start + n * 20 - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    call.bus.sendInput([16000, pcm.subarray(i, i + 320)]);
  }
  await new Promise((r) => setTimeout(r, 50));
}

Deno.test("end-of-turn analyser: 'incomplete' waits for more speech and merges it; a silent caller is answered after maxEndpointingMs; a late analyser counts as complete", async () => {
  const speech = await espeak16k(); // turn 1 ends 5.05 s, turn 2 6.05-7.17 s
  const tail = new Int16Array(16000 * 3);
  const all = new Int16Array(speech.length + tail.length);
  all.set(speech);
  // 1) Incomplete at the first pause, complete at the second: one reply.
  {
    const seen: number[] = [];
    const analyser: EndOfTurnAnalyser = {
      analyse({ audio, sampleRate }) {
        assert.equal(sampleRate, 16000);
        assert.ok(audio.length <= 8 * 16000);
        seen.push(audio.length / 16000);
        return Promise.resolve(
          seen.length === 1
            ? { complete: false, probability: 0.2 }
            : { complete: true, probability: 0.9 },
        );
      },
    };
    const got: number[] = [];
    const handler = new ReplyOnPause(async function* (audio: AudioChunk) {
      got.push(audio[1].length / audio[0]);
      yield tone(100, 16000);
    }, { inputSampleRate: 16000, turnAnalyser: analyser });
    const call = startLocalCall(handler, { rate: 16000 });
    await call.feed(all, 3200);
    await call.end();
    const m = call.messages.filter(isTurnMetricsMessage).map((x) => x.metrics);
    console.log(
      `analyser: saw ${seen.map((x) => x.toFixed(2))} s, fn got ${got}`,
    );
    assert.equal(got.length, 1, `replies ${got}`);
    assert.ok(got[0] > 6.5, `one utterance with both sentences: ${got[0]} s`);
    assert.equal(m.length, 1);
    assert.equal(m[0].merged, 1);
    assert.ok(call.logs.includes("turn_merged"));
  }
  // 2) Always incomplete: answered maxEndpointingMs after each pause.
  {
    const handler = new ReplyOnPause(async function* () {
      yield tone(100, 16000);
    }, {
      inputSampleRate: 16000,
      maxEndpointingMs: 500,
      turnAnalyser: {
        analyse: () => Promise.resolve({ complete: false, probability: 0 }),
      },
    });
    const call = startLocalCall(handler, { rate: 16000 });
    await call.feed(all, 3200);
    await call.end();
    const m = call.messages.filter(isTurnMetricsMessage).map((x) => x.metrics);
    assert.equal(m.length, 2, JSON.stringify(m));
    for (const t of m) {
      const wait = t.decisionMs - t.speechEndMs;
      assert.ok(wait >= 900 && wait < 1100, `decided ${wait} ms after speech`);
    }
  }
  // 3) An analyser that never answers: complete once the budget is over.
  {
    let calls = 0;
    const errs: unknown[] = [];
    const orig = console.error;
    console.error = (...a: unknown[]) => errs.push(a);
    const handler = new ReplyOnPause(async function* () {
      yield tone(100, 16000);
    }, {
      inputSampleRate: 16000,
      turnAnalyserBudgetMs: 50,
      turnAnalyser: {
        analyse: ({ signal }) => {
          calls++;
          return new Promise((_, reject) =>
            signal.addEventListener("abort", () => reject(signal.reason))
          );
        },
      },
    });
    const call = startLocalCall(handler, { rate: 16000 });
    try {
      await feedRealtime(call, speech.subarray(0, 16000 * 6));
      await until(() => call.logs.includes("response_starting"), 2000, "reply");
    } finally {
      await call.end();
      console.error = orig;
    }
    assert.equal(calls, 1);
    assert.equal(errs.length, 1, "one warning for a late analyser");
  }
});

Deno.test("turn metrics reach the bus as {type:'message', message:{type:'log', data:'turn_metrics', metrics}}; merging can be turned off", async () => {
  const handler = new ReplyOnPause(async function* () {
    yield tone(100, 16000);
  }, { inputSampleRate: 16000, mergeResumedTurns: false });
  const call = startLocalCall(handler, { rate: 16000 });
  const raw: ClientMessage[] = [];
  call.bus.on("message", (e) => raw.push(e.message));
  await call.feed(await espeak16k(), 3200);
  await call.feed(new Int16Array(16000), 3200);
  await call.end();
  const m = raw.find(isTurnMetricsMessage)!;
  assert.deepEqual(Object.keys(m.metrics).sort(), [
    "decisionMs",
    "firstReplyMs",
    "interrupted",
    "latencyMs",
    "merged",
    "speechEndMs",
    "speechStartMs",
    "turn",
    "vad",
  ]);
  assert.equal(m.type, "log");
  assert.equal(m.data, "turn_metrics");
  assert.equal(
    m.metrics.latencyMs,
    m.metrics.firstReplyMs! - m.metrics.speechEndMs,
  );
  assert.equal(m.metrics.vad, "v5");
  assert.ok(!call.logs.includes("turn_merged"));
  assert.throws(
    () => new ReplyOnPause(function* () {}, { preemptiveSilenceMs: 500 }),
    /preemptiveSilenceMs \(500\) must be below minSilenceMs/,
  );
  assert.throws(
    () => new ReplyOnPause(function* () {}, { turnAnalyser: {} as never }),
    /turnAnalyser must have an analyse/,
  );
  // μ-law helpers are the ones the Twilio tests use.
  assert.equal(decodeMulaw(new Uint8Array([SILENCE]))[0], 0);
});

Deno.test("resume-merge with ReplyOnStopWords: 'hey jarvis, what is the weather today' ‖ 'thank you very much' to a 1 s bot → one reply with the whole request after the wake phrase", async () => {
  const { ReplyOnStopWords } = await import("../../mod.ts");
  const read = async (name: string) => {
    const wav = await readWavFile(
      new URL(`../fixtures/${name}`, import.meta.url),
    );
    return Int16Array.from(wav.samples, (x) => Math.round(x * 32767));
  };
  const wake = await read("hey_jarvis_weather.wav"); // request 1.40-2.65 s
  const more = (await read("turns_espeak.wav")).subarray(
    Math.round(5.9 * 16000),
    Math.round(7.4 * 16000),
  ); // "Thank you very much."
  const audio = new Int16Array(wake.length + more.length + 16000 * 3);
  audio.set(wake);
  audio.set(more, wake.length);
  const got: number[] = [];
  const handler = new ReplyOnStopWords(async function* (a: AudioChunk) {
    got.push(a[1].length / a[0]);
    const signal = getCurrentContext().signal;
    await new Promise((r) => setTimeout(r, 1000));
    if (signal.aborted) return;
    yield [a[0], a[1].subarray(0, 1600)] as AudioChunk;
  }, { stopWords: ["hey jarvis"], inputSampleRate: 16000 });
  const call = startLocalCall(handler, { rate: 16000 });
  try {
    await feedRealtime(call, audio);
    await until(() => call.logs.includes("response_starting"), 3000, "reply");
  } finally {
    await call.end();
  }
  console.log(`stop words + merge: fn got ${got.map((x) => x.toFixed(2))} s`);
  assert.equal(got.length, 2, "the first reply was withdrawn, then one more");
  // From the end of the wake phrase (1.25 s) to the end of the
  // continuation (~4.9 s) plus the closing silence.
  assert.ok(got[1] > got[0] + 1.5, `merged request ${got[1]} s`);
  assert.ok(call.logs.includes("turn_merged"));
  assert.equal(call.messages.filter((m) => m.type === "stopword").length, 1);
  const m = call.messages.filter(isTurnMetricsMessage).map((x) => x.metrics);
  assert.equal(m.length, 1);
  assert.equal(m[0].merged, 1);
});

Deno.test("onTurnMetrics and TurnCounters: the hook a server hangs its onTurn callback and counters on", async () => {
  const { FrameBus } = await import("../../src/transports/mod.ts");
  const { onTurnMetrics, emitTurnMetrics, TurnCounters } = await import(
    "../../src/server/mod.ts"
  );
  const bus = new FrameBus({
    callId: "metrics",
    transportInputRate: 8000,
    transportOutputRate: 8000,
    handlerInputRate: 8000,
  });
  const counters = new TurnCounters();
  const seen: TurnMetrics[] = [];
  const off = onTurnMetrics(bus, (m) => {
    seen.push(m);
    counters.add(m);
  });
  const base: TurnMetrics = {
    turn: 1,
    vad: "v5",
    speechStartMs: 0,
    speechEndMs: 1000,
    decisionMs: 1416,
    firstReplyMs: 1500,
    latencyMs: 500,
    interrupted: false,
    merged: 0,
  };
  emitTurnMetrics(bus, base);
  bus.emit({ type: "message", message: { type: "log", data: "other" } });
  emitTurnMetrics(bus, { ...base, turn: 2, latencyMs: 700, merged: 2 });
  emitTurnMetrics(bus, {
    ...base,
    turn: 3,
    firstReplyMs: null,
    latencyMs: null,
    interrupted: true,
  });
  off();
  emitTurnMetrics(bus, { ...base, turn: 4 });
  bus.close();
  assert.deepEqual(seen.map((m) => m.turn), [1, 2, 3]);
  assert.deepEqual(counters.snapshot(), {
    turns: 3,
    answered: 2,
    interrupted: 1,
    merges: 2,
    latencyP50Ms: 700,
    latencyP90Ms: 700,
  });
});
