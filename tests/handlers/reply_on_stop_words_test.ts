import assert from "node:assert/strict";
import {
  type AudioChunk,
  ReplyOnStopWords,
  type ReplyOnStopWordsOptions,
  Stream,
  type Transcriber,
} from "../../mod.ts";
import type { ClientMessage } from "../../src/transports/mod.ts";
import type { UtteranceSpan } from "../../src/server/mod.ts";
import { readWavFile } from "../../src/audio/wav.ts";
import { createWakeWordDetector } from "../../src/speech/wakeword.ts";
import { getSttModel } from "../../src/speech/stt.ts";
import {
  ensureModel,
  ModelNotAvailableError,
} from "../../src/speech/model_cache.ts";
import { serveStream, type TestServer, until } from "../support/server.ts";
import { readFixture, TwilioTestClient } from "../support/twilio_client.ts";
import { modelInCache } from "../support/models.ts";

const quiet = { verbose: false } as const;
const SILENCE = 0xff; // μ-law code of 0
// hey_jarvis_weather / hello_there_weather (tests/fixtures/README.md):
// 0.5 s silence, wake phrase ("hey jarvis" ends at 1.246875 s), 0.15 s gap,
// "what is the weather today" 1.396875–2.654 s, 1 s silence.
const WAKE_END_MS = 1246.875;
const REQUEST_START_MS = 1396.875;
const REQUEST_END_MS = 2654;

function silence(ms: number): Uint8Array {
  return new Uint8Array(ms * 8).fill(SILENCE);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) (out.set(p, o), o += p.length);
  return out;
}

/** What the handler copies of one Stream did, shared across its calls. */
interface Journal {
  stopwords: number[];
  messages: ClientMessage[];
  replies: { audio: AudioChunk; at: number }[];
  filtered: { span: UtteranceSpan; inLen: number; outLen: number | null }[];
}

function journal(): Journal {
  return { stopwords: [], messages: [], replies: [], filtered: [] };
}

/** ReplyOnStopWords that records what it sends and decides (server side). */
class Recorder extends ReplyOnStopWords {
  readonly journal: Journal;
  constructor(options: ReplyOnStopWordsOptions, j: Journal) {
    super(async function* (audio: AudioChunk) {
      j.replies.push({ audio, at: performance.now() });
      yield audio; // echo the request
    }, options);
    this.journal = j;
  }
  override copy(): Recorder {
    return new Recorder(this.options, this.journal);
  }
  override sendMessage(message: ClientMessage | string): void {
    if (typeof message === "object") {
      this.journal.messages.push(message);
      if (message.type === "stopword") {
        this.journal.stopwords.push(performance.now());
      }
    }
    super.sendMessage(message);
  }
  protected override async filterUtterance(
    utterance: AudioChunk,
    span: UtteranceSpan,
  ): Promise<AudioChunk | null> {
    const out = await super.filterUtterance(utterance, span);
    this.journal.filtered.push({
      span,
      inLen: utterance[1].length,
      outLen: out ? out[1].length : null,
    });
    return out;
  }
}

async function phoneCall(
  server: TestServer,
  audio: Uint8Array,
): Promise<{ client: TwilioTestClient; t0: number }> {
  const client = await TwilioTestClient.connect(
    `${server.wsUrl}/telephone/handler`,
  );
  const t0 = performance.now();
  await client.play(audio, { realtime: true });
  return { client, t0 };
}

const phone = { inputSampleRate: 8000, outputSampleRate: 8000 } as const;

Deno.test({
  name:
    "ReplyOnStopWords wakeword over Twilio: 'hey jarvis, what is the weather today' → stopword after the phrase, fn gets only the request, reply plays",
  async fn() {
    const j = journal();
    const handler = new Recorder({ stopWords: ["hey jarvis"], ...phone }, j);
    assert.equal(handler.engine, "wakeword");
    assert.deepEqual(handler.wakeWordModels, ["hey_jarvis"]);
    const server = serveStream(new Stream({ handler, ...quiet }));
    try {
      const audio = concat(
        await readFixture("hey_jarvis_weather_8k.ulaw"),
        silence(500),
      );
      const { client, t0 } = await phoneCall(server, audio);
      await until(() => j.replies.length === 1, 3000, "the reply");
      await client.waitFor(
        () => client.media.length * 20 >= 1200,
        4000,
        "the echoed request",
      );
      assert.equal(j.stopwords.length, 1, "one stopword event");
      const latency = j.stopwords[0] - (t0 + WAKE_END_MS);
      // Not before the wake phrase is over (real-time playback).
      assert.ok(latency > 0, `stopword ${latency.toFixed(0)} ms`);
      assert.equal(j.replies.length, 1);
      // The request fn got: from the gap after "hey jarvis" to the end of
      // the turn. Position it with the utterance span the VAD reported.
      const f = j.filtered.find((x) => x.outLen !== null)!;
      const cutMs = f.span.startMs + (f.inLen - f.outLen!) / 8;
      const [rate, samples] = j.replies[0].audio;
      assert.equal(rate, 8000);
      const durMs = samples.length / 8;
      console.log(
        `wakeword over Twilio: stopword ${
          latency.toFixed(0)
        } ms after the wake phrase ended (wall clock, real-time call); ` +
          `fn got ${(durMs / 1000).toFixed(3)} s from ${
            (cutMs / 1000).toFixed(3)
          } s (utterance ${(f.span.startMs / 1000).toFixed(3)}–${
            (f.span.endMs / 1000).toFixed(3)
          } s, request 1.397–2.654 s)`,
      );
      assert.ok(
        cutMs >= WAKE_END_MS - 40 && cutMs <= REQUEST_START_MS + 10,
        `cut at ${cutMs} ms: between the wake phrase and the request`,
      );
      assert.ok(f.span.startMs < 500, "the VAD utterance included the wake");
      assert.ok(cutMs + durMs >= REQUEST_END_MS, "the request is complete");
      assert.ok(durMs < (REQUEST_END_MS - REQUEST_START_MS) + 1000, `${durMs}`);
      // The wake phrase itself did not reach fn.
      const d = await createWakeWordDetector({
        models: ["hey_jarvis"],
        sampleRate: 8000,
      });
      const hits = await d.process(samples as Int16Array);
      await d.close();
      assert.equal(hits.length, 0, "no 'hey jarvis' in fn's audio");
      // The reply (the echo) was played back to the caller after the stopword.
      const firstMedia = client.media[0].at;
      assert.ok(firstMedia > j.stopwords[0]);
      await client.close();
    } finally {
      await server.close();
    }
  },
});

Deno.test({
  name:
    "ReplyOnStopWords wakeword over Twilio: 'hello there, …' and jfk → no stopword, fn never called, nothing played",
  async fn() {
    const j = journal();
    const handler = new Recorder({ stopWords: ["hey jarvis"], ...phone }, j);
    const server = serveStream(new Stream({ handler, ...quiet }));
    try {
      const calls = await Promise.all([
        phoneCall(
          server,
          concat(
            await readFixture("hello_there_weather_8k.ulaw"),
            silence(800),
          ),
        ),
        phoneCall(
          server,
          concat(await readFixture("jfk_8k.ulaw"), silence(800)),
        ),
      ]);
      await new Promise((r) => setTimeout(r, 300));
      // The VAD heard the turns (they were filtered, not missed).
      assert.ok(j.filtered.length >= 2, `${j.filtered.length} utterances`);
      assert.ok(j.filtered.every((f) => f.outLen === null));
      assert.equal(j.stopwords.length, 0);
      assert.equal(j.replies.length, 0);
      assert.ok(
        !j.messages.some((m) => m.data === "started_talking"),
        "no turn logs while not armed",
      );
      for (const { client } of calls) {
        assert.equal(client.media.length, 0);
        await client.close();
      }
    } finally {
      await server.close();
    }
  },
});

Deno.test({
  name:
    "ReplyOnStopWords wakeword: the wake phrase is needed every turn; stayAwakeMs opens a follow-up window",
  async fn() {
    const hey = await readFixture("hey_jarvis_weather_8k.ulaw");
    const hello = await readFixture("hello_there_weather_8k.ulaw");
    const run = async (stayAwakeMs: number) => {
      const j = journal();
      const handler = new Recorder(
        { stopWords: ["hey jarvis"], stayAwakeMs, ...phone },
        j,
      );
      const server = serveStream(new Stream({ handler, ...quiet }));
      try {
        const client = await TwilioTestClient.connect(
          `${server.wsUrl}/telephone/handler`,
        );
        await client.play(concat(hey, silence(300)), { realtime: true });
        await until(() => j.replies.length === 1, 3000, "first reply");
        // Let the echo play out (the test client acks marks at once, so
        // "played" means the server finished sending), then follow up.
        await client.play(silence(2000), { realtime: true });
        await client.play(concat(hello, silence(600)), { realtime: true });
        await new Promise((r) => setTimeout(r, 300));
        await client.close();
        return j;
      } finally {
        await server.close();
      }
    };
    const [once, awake] = await Promise.all([run(0), run(6000)]);
    assert.equal(once.replies.length, 1, "no wake phrase, no second reply");
    assert.equal(once.stopwords.length, 1);
    assert.equal(awake.replies.length, 2, "the follow-up was answered");
    assert.equal(awake.stopwords.length, 1);
    // The follow-up went to fn whole (no wake phrase to trim).
    const last = awake.filtered.at(-1)!;
    assert.equal(last.outLen, last.inLen);
  },
});

Deno.test({
  name:
    "ReplyOnStopWords wakeword barge-in: other speech does not cut a reply, 'hey jarvis' does (clear, generator closed), and its request is answered",
  async fn() {
    let replies = 0;
    let closedAt = 0;
    const handler = new ReplyOnStopWords(async function* () {
      replies++;
      if (replies > 1) return;
      const tone = Int16Array.from(
        { length: 160 },
        (_, i) => Math.round(4000 * Math.sin(i / 4)),
      );
      try {
        for (let i = 0; i < 1000; i++) yield [8000, tone] as AudioChunk; // 20 s
      } finally {
        closedAt = performance.now();
      }
    }, { stopWords: ["hey jarvis"], ...phone });
    const server = serveStream(new Stream({ handler, ...quiet }));
    try {
      const client = await TwilioTestClient.connect(
        `${server.wsUrl}/telephone/handler`,
      );
      const hey = await readFixture("hey_jarvis_weather_8k.ulaw");
      await client.play(concat(hey, silence(300)), { realtime: true });
      await client.waitFor(() => client.media.length > 10, 3000, "reply");
      const cleared = () => client.messages.some((m) => m.event === "clear");
      await client.play(
        concat(await readFixture("hello_there_weather_8k.ulaw"), silence(300)),
        { realtime: true },
      );
      assert.ok(!cleared(), "speech without the wake phrase did not cut it");
      assert.equal(closedAt, 0);
      const t0 = performance.now();
      await client.play(concat(hey, silence(600)), { realtime: true });
      assert.ok(cleared(), "the wake phrase cut the reply");
      assert.ok(closedAt - t0 > WAKE_END_MS, "cut after the wake phrase");
      console.log(
        `barge-in by wake word: generator closed ${
          (closedAt - t0 - WAKE_END_MS).toFixed(0)
        } ms after "hey jarvis" ended`,
      );
      await until(() => replies === 2, 3000, "the new request's reply");
      await client.close();
    } finally {
      await server.close();
    }
  },
});

/** A FastRTC websocket client: collects text messages with arrival times. */
async function wsCall(
  server: TestServer,
  pcm16k: Int16Array,
): Promise<
  {
    messages: { at: number; msg: Record<string, unknown> }[];
    t0: number;
    close(): Promise<void>;
  }
> {
  const socket = new WebSocket(`${server.wsUrl}/websocket/offer`);
  await new Promise<void>((resolve, reject) => {
    socket.onopen = () => resolve();
    socket.onerror = () => reject(new Error("connect failed"));
  });
  const messages: { at: number; msg: Record<string, unknown> }[] = [];
  const closed = new Promise<void>((r) =>
    socket.addEventListener("close", () => r())
  );
  socket.onmessage = (e) =>
    messages.push({ at: performance.now(), msg: JSON.parse(e.data) });
  socket.send(JSON.stringify({
    event: "start",
    websocket_id: crypto.randomUUID(),
    format: { encoding: "pcm16", sampleRate: 16000 },
  }));
  const t0 = performance.now();
  for (let i = 0, n = 0; i < pcm16k.length; i += 320, n++) {
    const wait = t0 + n * 20 - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    if (socket.readyState !== WebSocket.OPEN) break;
    const chunk = pcm16k.slice(i, i + 320);
    const bytes = new Uint8Array(chunk.buffer);
    socket.send(JSON.stringify({
      event: "media",
      media: { payload: btoa(String.fromCharCode(...bytes)) },
    }));
  }
  return {
    messages,
    t0,
    async close() {
      if (socket.readyState <= WebSocket.OPEN) socket.close();
      await closed;
    },
  };
}

function toPcm16(x: Float32Array): Int16Array {
  return Int16Array.from(
    x,
    (v) => Math.max(-32768, Math.min(32767, Math.round(v * 32767))),
  );
}

Deno.test({
  name:
    "ReplyOnStopWords wakeword over the FastRTC websocket (16 kHz): the client gets stopword, then pause_detected; detection latency",
  async fn() {
    const wav = await readWavFile(
      new URL("../fixtures/hey_jarvis_weather.wav", import.meta.url),
    );
    const pcm = toPcm16(wav.samples);
    const padded = new Int16Array(pcm.length + 9600); // + 0.6 s of silence
    padded.set(pcm);
    const latencies: number[] = [];
    let replies = 0;
    const handler = new ReplyOnStopWords(async function* (audio) {
      replies++;
      yield audio;
    }, { stopWords: ["Hey, Jarvis!"], inputSampleRate: 16000 });
    const server = serveStream(new Stream({ handler, ...quiet }));
    try {
      for (let round = 0; round < 3; round++) {
        const call = await wsCall(server, padded);
        await until(
          () => call.messages.some((m) => m.msg.event === "media"),
          4000,
          "reply audio",
        );
        const types = call.messages
          .filter((m) => m.msg.type)
          .map((m) => `${m.msg.type}${m.msg.data ? `:${m.msg.data}` : ""}`);
        const stop = call.messages.find((m) => m.msg.type === "stopword")!;
        assert.ok(stop, `messages: ${types}`);
        assert.equal(stop.msg.data, "");
        const iStop = types.indexOf("stopword");
        const iPause = types.indexOf("log:pause_detected");
        assert.ok(iStop >= 0 && iPause > iStop, `order: ${types}`);
        assert.ok(!types.includes("log:started_talking"), `${types}`);
        latencies.push(stop.at - (call.t0 + WAKE_END_MS));
        await call.close();
      }
      assert.equal(replies, 3);
      console.log(
        `wakeword detection latency at the websocket client (end of "hey jarvis" → stopword): ${
          latencies.map((x) => x.toFixed(0)).join(", ")
        } ms (openWakeWord scores every 80 ms; FastRTC's STT engine checks every 600 ms and then transcribes)`,
      );
      assert.ok(latencies.every((x) => x > 0));
    } finally {
      await server.close();
    }
  },
});

// ---------------------------------------------------------------- stt engine

/**
 * A stand-in for Moonshine, whose weights are not on this machine (the real
 * model is exercised by tests/speech/roundtrip_test.ts when they are). It
 * "hears" the loud segments of the window (10 ms RMS > 500; gaps of 120 ms
 * or more split them, shorter ones are inside a phrase) and gives the n-th segment the words of `script[n]` in
 * proportion to how much of that segment's expected length it has heard, so
 * a partial window yields a partial transcript, as real STT does.
 */
class FakeStt implements Transcriber {
  readonly calls: { ms: number; peak: number; text: string }[] = [];
  constructor(
    readonly script: { words: string[]; ms: number }[],
  ) {}
  stt([rate, samples]: AudioChunk): Promise<string> {
    const block = Math.round(rate / 100);
    const segs: number[] = []; // durations in ms
    let gap = 999, peak = 0;
    for (let b = 0; b + block <= samples.length; b += block) {
      let e = 0;
      for (let i = b; i < b + block; i++) e += samples[i] ** 2;
      const rms = Math.sqrt(e / block);
      peak = Math.max(peak, rms);
      if (rms > 500) {
        if (segs.length === 0 || gap >= 12) segs.push(0);
        segs[segs.length - 1] += 10 * (gap < 12 ? gap + 1 : 1);
        gap = 0;
      } else gap++;
    }
    const words: string[] = [];
    segs.forEach((ms, i) => {
      const s = this.script[i];
      if (!s) return;
      const n = Math.floor(s.words.length * Math.min(1, ms / s.ms) + 1e-9);
      words.push(...s.words.slice(0, n));
    });
    const text = words.join(" ");
    this.calls.push({ ms: samples.length * 1000 / rate, peak, text });
    return Promise.resolve(text);
  }
}

Deno.test({
  name:
    "ReplyOnStopWords stt engine (injected transcriber) over Twilio: rolling 2 s VAD-gated windows, stopword, request trimmed after the stop word",
  async fn() {
    // Two calls whose rolling checks fall differently: with 1 s of silence
    // first, a check ends just before the request ("Hey Computer," → the
    // request starts at the window's end); with 0.7 s, a check hears
    // "Hey Computer, what" and the stop word's end is estimated in it.
    const run = async (leadMs: number) => {
      const fake = new FakeStt([
        { words: ["Hey", "Computer,"], ms: 630 },
        { words: ["what", "is", "the", "weather", "today?"], ms: 1260 },
      ]);
      const j = journal();
      const handler = new Recorder(
        { stopWords: ["computer"], sttModel: fake, ...phone },
        j,
      );
      assert.equal(handler.engine, "stt");
      const server = serveStream(new Stream({ handler, ...quiet }));
      try {
        const { client } = await phoneCall(
          server,
          concat(
            silence(leadMs),
            await readFixture("hey_jarvis_weather_8k.ulaw"),
            silence(300),
          ),
        );
        await until(() => j.replies.length === 1, 3000, "the reply");
        await client.waitFor(() => client.media.length > 10, 3000, "echo");
        await client.close();
      } finally {
        await server.close();
      }
      const f = j.filtered.find((x) => x.outLen !== null)!;
      const cutMs = f.span.startMs + (f.inLen - f.outLen!) / 8 - leadMs;
      const durMs = j.replies[0].audio[1].length / 8;
      console.log(
        `stt engine, ${leadMs} ms lead: ${fake.calls.length} transcriptions (${
          fake.calls.map((c) => `${c.ms.toFixed(0)} ms "${c.text}"`).join("; ")
        }); request cut at ${(cutMs / 1000).toFixed(3)} s`,
      );
      return { fake, j, cutMs, durMs };
    };
    for (const r of await Promise.all([run(1000), run(700)])) {
      assert.equal(r.j.stopwords.length, 1);
      assert.equal(r.j.replies.length, 1);
      // Rolling window: at most 2 s each, and only while the caller talks
      // (the call opens with silence: no transcription of it alone).
      assert.ok(r.fake.calls.length >= 2 && r.fake.calls.length <= 8);
      assert.ok(
        r.fake.calls.every((c) => c.ms <= 2000 + 20 && c.peak > 500),
        JSON.stringify(r.fake.calls),
      );
      // The cut lies between "computer" and "what" (±150 ms), and the whole
      // request reaches fn.
      assert.ok(
        r.cutMs > WAKE_END_MS - 150 && r.cutMs < REQUEST_START_MS + 150,
        `cut at ${r.cutMs} ms`,
      );
      assert.ok(r.cutMs + r.durMs >= REQUEST_END_MS);
    }
  },
});

Deno.test({
  name:
    "ReplyOnStopWords stt engine (injected transcriber): no stop word or only a longer word ('computers') → no reply",
  async fn() {
    const fake = new FakeStt([
      { words: ["Hello", "computers,"], ms: 660 },
      { words: ["what", "is", "the", "weather", "today?"], ms: 1260 },
    ]);
    const j = journal();
    const handler = new Recorder(
      { stopWords: ["computer", "ok computer"], sttModel: fake, ...phone },
      j,
    );
    const server = serveStream(new Stream({ handler, ...quiet }));
    try {
      const { client } = await phoneCall(
        server,
        concat(await readFixture("hello_there_weather_8k.ulaw"), silence(600)),
      );
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(fake.calls.length >= 1, "it listened");
      assert.ok(fake.calls.some((c) => c.text.includes("computers")));
      assert.equal(j.stopwords.length, 0);
      assert.equal(j.replies.length, 0);
      assert.equal(client.media.length, 0);
      await client.close();
    } finally {
      await server.close();
    }
  },
});

// computer_weather_8k.ulaw (tests/fixtures/README.md): 0.5 s silence,
// "Computer" 0.5–1.045562 s, 0.15 s gap, "what is the weather today"
// 1.195562–2.452688 s, 1 s silence.
const COMPUTER_END_MS = 1045.562;
const WEATHER_START_MS = 1195.562;
const WEATHER_END_MS = 2452.688;

const hasTiny = await modelInCache("moonshine/tiny");
if (!hasTiny) {
  console.log(
    "Skipping the real-Moonshine ReplyOnStopWords tests: moonshine/tiny is " +
      "not in the model cache; run `deno task models moonshine/tiny` once",
  );
}

Deno.test({
  name:
    "ReplyOnStopWords stt engine with real Moonshine over Twilio: 'computer, what is the weather today' wakes it, 'hello there, …' does not",
  ignore: !hasTiny,
  async fn() {
    const stt = await getSttModel({ model: "moonshine/tiny" });
    // Counts what the engine transcribes (the real model does the work).
    let transcribed = 0;
    let busyMs = 0;
    const counting: Transcriber = {
      async stt(audio) {
        const t = performance.now();
        try {
          return await stt.stt(audio);
        } finally {
          busyMs += performance.now() - t;
          transcribed += audio[1].length / audio[0];
        }
      },
    };
    const run = async (fixture: string) => {
      const j = journal();
      const handler = new Recorder({
        stopWords: ["computer"],
        sttModel: counting,
        ...phone,
      }, j);
      const server = serveStream(new Stream({ handler, ...quiet }));
      try {
        const { client, t0 } = await phoneCall(
          server,
          concat(await readFixture(fixture), silence(600)),
        );
        if (fixture.startsWith("computer")) {
          await until(() => j.replies.length === 1, 4000, "the reply");
          await client.waitFor(() => client.media.length > 10, 3000, "echo");
        } else {
          await new Promise((r) => setTimeout(r, 400));
        }
        await client.close();
        return { j, t0 };
      } finally {
        await server.close();
      }
    };
    const woke = await run("computer_weather_8k.ulaw");
    assert.equal(woke.j.stopwords.length, 1, "one stopword event");
    const latency = woke.j.stopwords[0] - (woke.t0 + COMPUTER_END_MS);
    assert.ok(latency > 0, `stopword ${latency.toFixed(0)} ms`);
    // fn got the request, and Moonshine hears the request in it but not
    // the stop word.
    const [rate, samples] = woke.j.replies[0].audio;
    assert.equal(rate, 8000);
    const request = await stt.stt([rate, samples]);
    const f = woke.j.filtered.find((x) => x.outLen !== null)!;
    const cutMs = f.span.startMs + (f.inLen - f.outLen!) / 8;
    console.log(
      `stt engine (moonshine/tiny) over Twilio: stopword ${
        latency.toFixed(0)
      } ms after "computer" ended (wall clock, real-time call); request cut at ${
        (cutMs / 1000).toFixed(3)
      } s ("computer" ends 1.046 s, request 1.196–2.453 s); fn's audio heard as ${
        JSON.stringify(request)
      }; ${transcribed.toFixed(1)} s of audio transcribed in ${
        busyMs.toFixed(0)
      } ms`,
    );
    // (tiny hears espeak-ng's "weather" as "winner"; the sentence is whole.)
    assert.match(request.toLowerCase(), /^what is the \w+ today\W*$/);
    assert.doesNotMatch(request.toLowerCase(), /computer/);
    assert.ok(
      cutMs > COMPUTER_END_MS - 200 && cutMs < WEATHER_START_MS + 200,
      `cut at ${cutMs} ms`,
    );
    assert.ok(cutMs + samples.length / 8 >= WEATHER_END_MS - 50);
    const before = transcribed;
    const asleep = await run("hello_there_weather_8k.ulaw");
    assert.ok(transcribed > before, "it listened to the second call");
    assert.equal(asleep.j.stopwords.length, 0);
    assert.equal(asleep.j.replies.length, 0);
  },
});

Deno.test({
  name:
    "ReplyOnStopWords stt engine: when the caller hangs up, the pending transcription is aborted (no warning)",
  async fn() {
    const seen: AbortSignal[] = [];
    const hanging: Transcriber = {
      stt(_audio, options) {
        const signal = options?.signal;
        assert.ok(signal, "the engine passes a signal");
        seen.push(signal);
        // A slow recognizer: settles only when told to stop.
        return new Promise((_, reject) =>
          signal.addEventListener("abort", () => reject(signal.reason))
        );
      },
    };
    const errors: unknown[][] = [];
    const orig = console.error;
    console.error = (...a: unknown[]) => errors.push(a);
    const j = journal();
    const handler = new Recorder(
      { stopWords: ["computer"], sttModel: hanging, ...phone },
      j,
    );
    const server = serveStream(new Stream({ handler, ...quiet }));
    try {
      const client = await TwilioTestClient.connect(
        `${server.wsUrl}/telephone/handler`,
      );
      client.play(await readFixture("computer_weather_8k.ulaw"), {
        realtime: true,
      }).catch(() => {});
      await until(() => seen.length > 0, 4000, "a transcription");
      assert.equal(seen[0].aborted, false);
      await client.close();
      await until(() => seen[0].aborted, 3000, "the abort");
      assert.match(String(seen[0].reason), /call ended/);
      assert.equal(j.stopwords.length, 0);
      assert.deepEqual(
        errors.filter((e) => String(e[0]).includes("transcription")),
        [],
      );
    } finally {
      console.error = orig;
      await server.close();
    }
  },
});

Deno.test("ReplyOnStopWords stt engine without Moonshine weights: startUp fails with the model cache's ModelNotAvailableError, which reaches the client", async () => {
  const cacheDir = await Deno.makeTempDir();
  const errors: unknown[][] = [];
  const orig = console.error;
  console.error = (...a: unknown[]) => errors.push(a);
  try {
    const options: ReplyOnStopWordsOptions = {
      stopWords: ["computer"],
      sttModelOptions: { cacheDir, offline: true },
    };
    const expected = await ensureModel("moonshine/base", {
      cacheDir,
      offline: true,
    }).then(() => null, (e) => e);
    assert.ok(expected instanceof ModelNotAvailableError);
    // Directly.
    const handler = new ReplyOnStopWords(async function* () {}, options);
    assert.equal(handler.engine, "stt");
    await assert.rejects(handler.copy().startUp(), (e) => {
      assert.ok(e instanceof ModelNotAvailableError);
      assert.equal(e.message, expected.message);
      assert.match(e.message, /deno task models moonshine\/base/);
      return true;
    });
    // Through a call: the client is told why, then the call ends.
    const server = serveStream(new Stream({ handler, ...quiet }));
    try {
      const call = await wsCall(server, new Int16Array(3200));
      await until(
        () => call.messages.some((m) => m.msg.type === "error"),
        3000,
        "error message",
      );
      const err = call.messages.find((m) => m.msg.type === "error")!;
      assert.equal(
        err.msg.message,
        `ModelNotAvailableError: ${expected.message}`,
      );
      await call.close();
    } finally {
      await server.close();
    }
  } finally {
    console.error = orig;
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("ReplyOnStopWords options: engine choice and clear errors", () => {
  const fn = async function* () {};
  assert.equal(
    new ReplyOnStopWords(fn, { stopWords: ["alexa", "hey mycroft"] }).engine,
    "wakeword",
  );
  assert.deepEqual(
    new ReplyOnStopWords(fn, { stopWords: ["Hey Rhasspy", "hey_jarvis"] })
      .wakeWordModels,
    ["hey_rhasspy", "hey_jarvis"],
  );
  assert.equal(
    new ReplyOnStopWords(fn, { stopWords: ["hey jarvis", "computer"] }).engine,
    "stt",
  );
  assert.equal(
    new ReplyOnStopWords(fn, {
      stopWords: ["hey bob"],
      wakeWordModels: ["./hey_bob.onnx"],
    }).engine,
    "wakeword",
  );
  assert.throws(
    () =>
      new ReplyOnStopWords(fn, { stopWords: ["computer"], engine: "wakeword" }),
    /No pretrained wake-word model for "computer".*engine: "stt"/,
  );
  assert.throws(
    () => new ReplyOnStopWords(fn, { stopWords: [] }),
    /at least one stop word/,
  );
  assert.throws(
    // deno-lint-ignore no-explicit-any
    () => new ReplyOnStopWords(fn, {} as any),
    /needs stopWords/,
  );
  assert.throws(
    () => new ReplyOnStopWords(fn, { stopWords: [" , "] }),
    /Empty stop word/,
  );
  assert.throws(
    () =>
      new ReplyOnStopWords(fn, {
        stopWords: ["alexa"],
        // deno-lint-ignore no-explicit-any
        engine: "whisper" as any,
      }),
    /Unknown stop-word engine "whisper"/,
  );
  assert.throws(
    () => new ReplyOnStopWords(fn, { stopWords: ["alexa"], stayAwakeMs: -1 }),
    /Invalid stayAwakeMs/,
  );
  assert.throws(
    () =>
      new ReplyOnStopWords(fn, { stopWords: ["alexa"], wakeWordThreshold: 2 }),
    /Invalid wakeWordThreshold/,
  );
  assert.throws(
    () =>
      new ReplyOnStopWords(fn, {
        stopWords: ["computer"],
        // deno-lint-ignore no-explicit-any
        sttModel: "whisper" as any,
      }),
    /Invalid sttModel/,
  );
});
