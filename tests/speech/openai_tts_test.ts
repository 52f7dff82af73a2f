import assert from "node:assert/strict";
import { openAiTts, SpeechApiError } from "../../src/speech/mod.ts";
import { runWithContext } from "../../src/handlers/context.ts";
import { startOpenAiServer } from "../support/openai_server.ts";
import { until } from "../support/server.ts";

const fast = { retryDelayMs: 5 } as const;

/** The server's 440 Hz tone, evaluated at `rate`. */
function toneAt(n: number, rate: number): number {
  return 0.3 * Math.sin(2 * Math.PI * 440 * n / rate);
}

function join(chunks: [number, Float32Array][]): Float32Array {
  const out = new Float32Array(chunks.reduce((n, [, c]) => n + c.length, 0));
  let o = 0;
  for (const [, c] of chunks) (out.set(c, o), o += c.length);
  return out;
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error("expected a rejection");
}

Deno.test("openAiTts streams pcm as it arrives: first chunk before the server finished, odd bytes carried, resampled 24 kHz → 8 kHz", async () => {
  // 1 s of tone in 4801-byte chunks (odd: samples straddle chunk edges),
  // 20 ms apart: the server needs ~200 ms to send it all.
  const server = startOpenAiServer({
    speechDefault: { samples: 24000, chunkDelayMs: 20 },
  });
  try {
    const tts = openAiTts({
      baseUrl: server.baseUrl,
      model: "tts-1",
      voice: "nova",
      speed: 1.25,
      sampleRate: 8000,
    });
    assert.equal(tts.sampleRate, 8000);
    const chunks: [number, Float32Array][] = [];
    let serverDoneAtFirstChunk: boolean | undefined;
    let sentAtFirstChunk = 0;
    for await (const chunk of tts.streamTts("Hello there, caller.")) {
      if (chunks.length === 0) {
        serverDoneAtFirstChunk = server.speech[0].finishedAt !== 0;
        sentAtFirstChunk = server.speech[0].bytesSent;
      }
      chunks.push(chunk);
    }
    assert.equal(serverDoneAtFirstChunk, false, "first chunk came early");
    assert.ok(sentAtFirstChunk < 48000, `sent ${sentAtFirstChunk} bytes`);
    assert.ok(chunks.length >= 5, `${chunks.length} chunks`);
    assert.ok(chunks.every(([rate]) => rate === 8000));
    const audio = join(chunks);
    // ceil(24000 × 8000 / 24000): the resampler is time-aligned and flushed.
    assert.equal(audio.length, 8000);
    // The samples are the tone at 8 kHz (a wrong byte carry would be noise).
    let maxErr = 0;
    for (let n = 100; n < 7900; n++) {
      maxErr = Math.max(maxErr, Math.abs(audio[n] - toneAt(n, 8000)));
    }
    assert.ok(maxErr < 0.01, `max error ${maxErr}`);
    const req = server.speech[0];
    assert.deepEqual(req.body, {
      model: "tts-1",
      input: "Hello there, caller.",
      voice: "nova",
      response_format: "pcm",
      speed: 1.25,
    });
    assert.equal(req.authorization, null, "no key → no Authorization header");
  } finally {
    await server.close();
  }
});

Deno.test("openAiTts: native rate passes samples through exactly; wav streams parse the header; the key is sent; per-call voice wins", async () => {
  const server = startOpenAiServer({
    apiKey: "sk-test",
    speechDefault: { samples: 2400, chunkBytes: 7, chunkDelayMs: 0 },
  });
  try {
    const pcm = openAiTts({ baseUrl: server.baseUrl, apiKey: "sk-test" });
    assert.equal(pcm.sampleRate, 24000);
    const [rate, audio] = await pcm.tts("Hi.", { voice: "echo" });
    assert.equal(rate, 24000);
    assert.equal(audio.length, 2400);
    for (let n = 0; n < 2400; n++) {
      const want =
        Math.round(0.3 * 32767 * Math.sin(2 * Math.PI * 440 * n / 24000)) /
        32768;
      assert.ok(audio[n] === Math.fround(want), `sample ${n}`);
    }
    assert.equal(server.speech[0].authorization, "Bearer sk-test");
    assert.equal(server.speech[0].body.voice, "echo");
    assert.equal(server.speech[0].body.model, "gpt-4o-mini-tts");

    const wav = openAiTts({
      baseUrl: server.baseUrl,
      apiKey: "sk-test",
      responseFormat: "wav",
      sampleRate: 16000,
    });
    const [wavRate, wavAudio] = await wav.tts("Hi.");
    assert.equal(wavRate, 16000);
    assert.equal(wavAudio.length, 1600);
    assert.equal(server.speech[1].body.response_format, "wav");
  } finally {
    await server.close();
  }
});

Deno.test("openAiTts: aborting the signal, or stopping iteration, cancels the server-side request", async () => {
  const server = startOpenAiServer({
    speechDefault: { samples: 24000 * 5, chunkDelayMs: 30 },
  });
  try {
    const tts = openAiTts({ baseUrl: server.baseUrl, ...fast });
    // 1. Explicit signal, aborted after the first chunk.
    const ac = new AbortController();
    let got = 0;
    const err = await rejection((async () => {
      for await (
        const _ of tts.streamTts("A long answer.", { signal: ac.signal })
      ) {
        got++;
        if (got === 1) ac.abort(new Error("caller barged in"));
      }
    })());
    assert.equal((err as Error).message, "caller barged in");
    await until(
      () => server.speech[0].cancelled,
      2000,
      "server saw the cancel",
    );
    assert.ok(server.speech[0].bytesSent < server.speech[0].bytesTotal);

    // 2. Default signal: the handler context's (barge-in aborts it).
    const reply = new AbortController();
    const ctx = {
      callId: "c1",
      webrtcId: "c1",
      transport: "local" as const,
      phoneMode: true,
      signal: reply.signal,
      send: () => {},
    };
    const err2 = await rejection(runWithContext(ctx, async () => {
      for await (const _ of tts.streamTts("Another long answer.")) {
        reply.abort(new DOMException("barge-in", "AbortError"));
      }
    }));
    assert.equal((err2 as DOMException).message, "barge-in");
    await until(
      () => server.speech[1].cancelled,
      2000,
      "context abort cancels",
    );

    // 3. The consumer stops iterating (the handler's generator was closed).
    for await (const _ of tts.streamTts("Third.")) break;
    await until(() => server.speech[2].cancelled, 2000, "return() cancels");
    assert.equal(server.speech.length, 3, "no retries after an abort");
  } finally {
    await server.close();
  }
});

Deno.test("openAiTts retries 500, 503 and a slow first byte with backoff, then streams", async () => {
  const server = startOpenAiServer({
    speechScript: [{ status: 500 }, { status: 503, retryAfter: "0" }, {
      firstByteDelayMs: 1000,
    }],
    speechDefault: { samples: 2400 },
  });
  try {
    const tts = openAiTts({
      baseUrl: server.baseUrl,
      retries: 3,
      timeoutMs: 200,
      ...fast,
    });
    const [, audio] = await tts.tts("Retry me.");
    assert.equal(audio.length, 2400);
    assert.equal(server.speech.length, 4);
    await until(
      () => server.speech[2].cancelled,
      2000,
      "timed-out attempt cancelled",
    );

    // Out of retries: the last status is reported with what to do.
    const failing = startOpenAiServer({ speechDefault: { status: 502 } });
    try {
      const e = await rejection(
        openAiTts({ baseUrl: failing.baseUrl, retries: 1, ...fast }).tts("x"),
      ) as SpeechApiError;
      assert.ok(e instanceof SpeechApiError);
      assert.equal(e.status, 502);
      assert.equal(e.attempts, 2);
      assert.match(e.message, /answered 502.*failed on all 2 attempts/);
      assert.equal(failing.speech.length, 2);
    } finally {
      await failing.close();
    }
  } finally {
    await server.close();
  }
});

Deno.test("openAiTts never retries once audio has streamed: a mid-stream disconnect is an error naming the bytes received", async () => {
  const server = startOpenAiServer({
    speechDefault: { samples: 24000, disconnectAfterBytes: 9602 },
  });
  try {
    const tts = openAiTts({ baseUrl: server.baseUrl, retries: 3, ...fast });
    const chunks: [number, Float32Array][] = [];
    const e = await rejection((async () => {
      for await (const c of tts.streamTts("Break please.")) chunks.push(c);
    })()) as SpeechApiError;
    assert.ok(e instanceof SpeechApiError, String(e));
    assert.equal(e.kind, "disconnect");
    assert.match(e.message, /broke after 9602 bytes.*not retried/);
    assert.equal(join(chunks).length > 0, true, "audio before the break came");
    assert.equal(server.speech.length, 1, "no second request");
    console.log(e.message);
  } finally {
    await server.close();
  }
});

Deno.test("openAiTts errors say what to do: 401 (bad or missing key), unknown model, wrong content-type, unreachable host", async () => {
  const server = startOpenAiServer({
    apiKey: "sk-right",
    speechModels: ["tts-1"],
  });
  try {
    const bad = await rejection(
      openAiTts({ baseUrl: server.baseUrl, apiKey: "sk-wrong", model: "tts-1" })
        .tts("x"),
    ) as SpeechApiError;
    assert.equal(bad.status, 401);
    assert.match(
      bad.message,
      /answered 401.*Incorrect API key.*check the API key/,
    );
    assert.equal(bad.attempts, 1, "401 is not retried");
    const none = await rejection(
      openAiTts({ baseUrl: server.baseUrl, model: "tts-1" }).tts("x"),
    ) as SpeechApiError;
    assert.match(none.message, /no API key was sent/);

    const unknown = await rejection(
      openAiTts({
        baseUrl: server.baseUrl,
        apiKey: "sk-right",
        model: "tts-9",
        voice: "zed",
      }).tts("x"),
    ) as SpeechApiError;
    assert.equal(unknown.status, 404);
    assert.match(
      unknown.message,
      /does not know model "tts-9" or voice "zed".*ends in \/v1/,
    );
  } finally {
    await server.close();
  }

  const html = startOpenAiServer({
    speechDefault: { wrongContentType: "text/html" },
  });
  try {
    const e = await rejection(
      openAiTts({ baseUrl: html.baseUrl, ...fast }).tts("x"),
    ) as SpeechApiError;
    assert.equal(e.kind, "response");
    assert.match(e.message, /content-type text\/html instead of audio.*nginx/);
  } finally {
    await html.close();
  }

  // A port nobody listens on.
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  const url = `http://127.0.0.1:${port}/v1`;
  const down = await rejection(
    openAiTts({ baseUrl: url, retries: 1, ...fast }).tts("x"),
  ) as SpeechApiError;
  assert.equal(down.kind, "network");
  assert.equal(down.attempts, 2, "network errors are retried");
  assert.ok(
    down.message.startsWith(
      `Could not reach the TTS server at ${url}/audio/speech (`,
    ),
    down.message,
  );
  console.log(down.message);
  assert.match(down.message, /check that it is running/);
});

Deno.test("openAiTts splits text over the API's 4096-character limit at sentence ends", async () => {
  const server = startOpenAiServer({ speechDefault: { samples: 240 } });
  try {
    const sentence = "This sentence is about fifty characters long, ok. ";
    const text = sentence.repeat(120); // ≈ 6000 characters
    const [, audio] = await openAiTts({ baseUrl: server.baseUrl }).tts(text);
    assert.equal(server.speech.length, 2);
    for (const r of server.speech) {
      assert.ok(r.body.input!.length <= 4096);
      assert.ok(r.body.input!.endsWith("ok."));
    }
    assert.equal(audio.length, 480);
  } finally {
    await server.close();
  }
});

Deno.test({
  name:
    "openAiTts without --allow-env: no throw, no prompt; bad options throw RangeError",
  permissions: { env: false, net: false },
  fn() {
    const tts = openAiTts();
    assert.equal(tts.sampleRate, 24000);
    assert.throws(() => openAiTts({ speed: 9 }), RangeError);
    assert.throws(() => openAiTts({ baseUrl: "localhost:8880" }), TypeError);
    assert.throws(
      () => openAiTts({ responseFormat: "mp3" as "pcm" }),
      /use "pcm" or "wav"/,
    );
  },
});
