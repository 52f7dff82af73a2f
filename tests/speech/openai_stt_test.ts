import assert from "node:assert/strict";
import { openAiStt, SpeechApiError } from "../../src/speech/mod.ts";
import { readWavFile } from "../../src/audio/wav.ts";
import { decodeMulaw } from "../../src/audio/mulaw.ts";
import { runWithContext } from "../../src/handlers/context.ts";
import { startOpenAiServer } from "../support/openai_server.ts";
import { readFixture } from "../support/twilio_client.ts";
import { until } from "../support/server.ts";

const fast = { retryDelayMs: 5 } as const;

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error("expected a rejection");
}

Deno.test("openAiStt posts real speech as a multipart PCM16 WAV at the audio's rate with model, language, prompt; returns the text", async () => {
  const server = startOpenAiServer({
    transcripts: [
      " And so my fellow Americans, ask not. ",
      "phone audio",
      "upsampled",
    ],
  });
  try {
    const jfk = await readWavFile(
      new URL("../fixtures/jfk.wav", import.meta.url),
    );
    const stt = openAiStt({
      baseUrl: server.baseUrl,
      model: "Systran/faster-whisper-small",
      language: "en",
    });
    assert.equal(stt.model, "Systran/faster-whisper-small");
    const text = await stt.stt([jfk.sampleRate, jfk.samples], {
      prompt: "Kennedy",
    });
    assert.equal(text, "And so my fellow Americans, ask not.");
    const r = server.transcriptions[0];
    assert.equal(r.model, "Systran/faster-whisper-small");
    assert.equal(r.language, "en");
    assert.equal(r.prompt, "Kennedy");
    assert.equal(r.responseFormat, "json");
    assert.equal(r.fileType, "audio/wav");
    assert.ok(r.fileName.endsWith(".wav"));
    assert.equal(r.sampleRate, 16000);
    assert.equal(r.samples, jfk.samples.length);
    assert.ok(r.rms > 0.02, `rms ${r.rms}`);
    assert.equal(r.authorization, null, "no key → no Authorization header");

    // A phone caller's 8 kHz int16 audio goes up as it is …
    const phone = decodeMulaw(await readFixture("jfk_8k.ulaw"));
    assert.equal(await stt.stt([8000, phone]), "phone audio");
    assert.equal(server.transcriptions[1].sampleRate, 8000);
    assert.equal(server.transcriptions[1].samples, phone.length);
    assert.equal(server.transcriptions[1].prompt, null);
    // … or resampled when asked to.
    const up = openAiStt({ baseUrl: server.baseUrl, uploadSampleRate: 16000 });
    assert.equal(await up.stt([8000, phone]), "upsampled");
    assert.equal(server.transcriptions[2].sampleRate, 16000);
    assert.equal(server.transcriptions[2].samples, phone.length * 2);
    assert.equal(server.transcriptions[2].model, "whisper-1");

    // Empty audio: no request.
    assert.equal(await stt.stt([8000, new Int16Array(0)]), "");
    assert.equal(server.transcriptions.length, 3);
  } finally {
    await server.close();
  }
});

Deno.test("openAiStt retries 500 and 429 (Retry-After) with backoff, then succeeds; 401 is not retried and says to check the key", async () => {
  const audio: [number, Int16Array] = [
    8000,
    decodeMulaw(await readFixture("jfk_8k.ulaw")).subarray(0, 16000),
  ];
  const server = startOpenAiServer({
    transcriptionScript: [{ status: 500 }, { status: 429, retryAfter: "0" }],
    transcripts: ["", "", "third time"],
  });
  try {
    const stt = openAiStt({ baseUrl: server.baseUrl, retries: 2, ...fast });
    assert.equal(await stt.stt(audio), "third time");
    assert.equal(server.transcriptions.length, 3);
  } finally {
    await server.close();
  }
  const locked = startOpenAiServer({ apiKey: "sk-right" });
  try {
    const e = await rejection(
      openAiStt({ baseUrl: locked.baseUrl, apiKey: "sk-nope", ...fast }).stt(
        audio,
      ),
    ) as SpeechApiError;
    assert.ok(e instanceof SpeechApiError);
    assert.equal(e.status, 401);
    assert.equal(e.attempts, 1);
    assert.match(
      e.message,
      /STT server at http:\/\/127\.0\.0\.1:\d+\/v1\/audio\/transcriptions answered 401.*check the API key/,
    );
    assert.equal(locked.transcriptions[0].authorization, "Bearer sk-nope");
  } finally {
    await locked.close();
  }
});

Deno.test("openAiStt: abort (explicit or the handler context's) cancels the upload; a slow server times out; an unreachable host is named", async () => {
  const audio: [number, Int16Array] = [
    8000,
    decodeMulaw(await readFixture("jfk_8k.ulaw")).subarray(0, 16000),
  ];
  const server = startOpenAiServer({
    transcriptionScript: [
      { firstByteDelayMs: 3000 },
      { firstByteDelayMs: 3000 },
      { firstByteDelayMs: 3000 },
    ],
  });
  try {
    const stt = openAiStt({ baseUrl: server.baseUrl, ...fast });
    const ac = new AbortController();
    const started = performance.now();
    const pending = stt.stt(audio, { signal: ac.signal });
    await until(() => server.transcriptions.length === 1, 2000, "upload");
    ac.abort(new Error("caller hung up"));
    const e = await rejection(pending) as Error;
    assert.equal(e.message, "caller hung up");
    assert.ok(
      performance.now() - started < 2500,
      "did not wait for the server",
    );

    const reply = new AbortController();
    const ctx = {
      callId: "c",
      webrtcId: "c",
      transport: "local" as const,
      phoneMode: true,
      signal: reply.signal,
      send: () => {},
    };
    const p2 = runWithContext(ctx, () => stt.stt(audio));
    await until(() => server.transcriptions.length === 2, 2000, "upload 2");
    reply.abort(new DOMException("barge-in", "AbortError"));
    assert.equal(((await rejection(p2)) as DOMException).name, "AbortError");

    const slow = openAiStt({
      baseUrl: server.baseUrl,
      timeoutMs: 100,
      retries: 0,
    });
    const t = await rejection(slow.stt(audio)) as SpeechApiError;
    assert.equal(t.kind, "timeout");
    assert.match(t.message, /sent nothing for 100 ms.*raise timeoutMs/);
  } finally {
    await server.close();
  }
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  const down = await rejection(
    openAiStt({ baseUrl: `http://127.0.0.1:${port}/v1`, retries: 1, ...fast })
      .stt(audio),
  ) as SpeechApiError;
  assert.equal(down.kind, "network");
  assert.equal(down.attempts, 2);
  assert.match(
    down.message,
    new RegExp(
      `^Could not reach the STT server at http://127\\.0\\.0\\.1:${port}/v1/audio/transcriptions \\(.*Connection refused`,
    ),
  );
});
