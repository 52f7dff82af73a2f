/**
 * The voice-chat example end to end over a phone call: a Twilio test caller
 * plays real recorded speech → Parley's VAD ends the turn → the example's
 * handler posts the utterance to an OpenAI-shaped transcription server
 * (which checks it got real, non-silent audio at the declared rate) → the
 * chat server streams an answer as SSE → each sentence is spoken by the
 * speech server (espeak-ng) → the audio reaches the caller as μ-law.
 * Everything is chosen through the example's environment settings.
 */
import assert from "node:assert/strict";
import {
  type ChatMessage,
  createVoiceChat,
  SettingsError,
  voiceChatFromEnv,
} from "../../examples/llm_voice_chat.ts";
import { readWavFile } from "../../src/audio/wav.ts";
import { closeSttModels } from "../../src/speech/mod.ts";
import { modelInCache } from "../support/models.ts";
import { startOpenAiServer } from "../support/openai_server.ts";
import { serveStream } from "../support/server.ts";
import { readFixture, TwilioTestClient } from "../support/twilio_client.ts";

const SILENCE = 0xff; // μ-law 0

/** Sends 20 ms frames of silence in real time until `done()` or the timeout. */
async function silenceUntil(
  client: TwilioTestClient,
  done: () => boolean,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const frame = new Uint8Array(160).fill(SILENCE);
  const start = performance.now();
  for (let n = 0; !done(); n++) {
    if (performance.now() - start > timeoutMs) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    client.sendMulaw(frame);
    const wait = start + (n + 1) * 20 - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
}

function rms(pcm: Int16Array): number {
  let s = 0;
  for (const x of pcm) s += (x / 32768) ** 2;
  return Math.sqrt(s / Math.max(1, pcm.length));
}

Deno.test({
  name:
    "llm_voice_chat over Twilio: speech → STT → streamed chat → TTS per sentence → audio to the caller, history grows across two turns",
  // Real-time playback of two turns plus the paced replies.
  async fn() {
    const replies = [
      "Of course, I can book that for you. For how many people, and at what time?",
      "You're welcome. Enjoy your dinner!",
    ];
    const heard = ["I would like to book a table.", "Thank you very much."];
    const api = startOpenAiServer({
      synth: "espeak",
      transcripts: heard,
      replies,
      tokenDelayMs: 15,
    });
    const env: Record<string, string> = {
      STT: "openai",
      TTS: "openai",
      LLM_BASE_URL: api.baseUrl,
      LLM_MODEL: "test-llm",
      STT_BASE_URL: api.baseUrl,
      STT_MODEL: "whisper-test",
      STT_LANGUAGE: "en",
      TTS_BASE_URL: api.baseUrl,
      TTS_MODEL: "kokoro",
      TTS_VOICE: "af_heart",
    };
    const logs: string[] = [];
    const options = await voiceChatFromEnv((name) => env[name]);
    const stream = createVoiceChat({
      ...options,
      log: (line) => logs.push(line),
      stream: { verbose: false },
    });
    const server = serveStream(stream);
    try {
      const client = await TwilioTestClient.connect(
        `${server.wsUrl}/telephone/handler`,
      );
      // turns_8k.ulaw: "I would like to book a table" at 0.5–1.9455 s and
      // "Thank you very much." at 6.0515–7.1656 s (tests/fixtures/README.md).
      const fixture = await readFixture("turns_8k.ulaw");
      const turns = [
        { audio: fixture.subarray(0, 8000 * 2.1), speechEndS: 1.9455 },
        {
          audio: fixture.subarray(8000 * 6.0, 8000 * 7.3),
          speechEndS: 7.165625 - 6.0,
        },
      ];
      const firstAudioMs: number[] = [];
      for (const [i, turn] of turns.entries()) {
        const mediaBefore = client.media.length;
        const t0 = performance.now();
        await client.play(turn.audio, { realtime: true });
        const speechEnd = t0 + turn.speechEndS * 1000;
        // Keep the line open with silence, as a phone does, until the reply
        // was spoken and its audio stopped arriving.
        const botLines = () => logs.filter((l) => l.includes(" bot: ")).length;
        await silenceUntil(
          client,
          () => {
            const last = client.media.at(-1);
            return botLines() > i && client.media.length > mediaBefore &&
              last !== undefined && performance.now() - last.at > 400;
          },
          20000,
          `reply ${i + 1}`,
        );
        const first = client.media[mediaBefore];
        firstAudioMs.push(first.at - speechEnd);
      }
      console.log(
        `time to first reply audio at the caller (end of speech → first media frame): ${
          firstAudioMs.map((ms) => `${ms.toFixed(0)} ms`).join(", ")
        }`,
      );
      for (const line of logs) console.log(line);

      // The STT server got real speech, as a 16 kHz WAV (the handler's rate).
      assert.equal(api.transcriptions.length, 2);
      for (const t of api.transcriptions) {
        assert.equal(t.sampleRate, 16000);
        assert.ok(t.samples > 16000, `${t.samples} samples`);
        assert.ok(t.rms > 0.01, `rms ${t.rms}`);
        assert.equal(t.model, "whisper-test");
        assert.equal(t.language, "en");
        assert.equal(t.authorization, null, "no key configured, none sent");
      }

      // The chat history grew: turn 2's request carries turn 1 (phone mode:
      // the AdditionalOutputs came back as the next call's argument).
      assert.equal(api.chats.length, 2);
      const strip = (m: ChatMessage[]) => m.filter((x) => x.role !== "system");
      assert.equal(api.chats[0].stream, true);
      assert.equal(api.chats[0].model, "test-llm");
      assert.deepEqual(strip(api.chats[0].messages as ChatMessage[]), [
        { role: "user", content: heard[0] },
      ]);
      assert.deepEqual(strip(api.chats[1].messages as ChatMessage[]), [
        { role: "user", content: heard[0] },
        { role: "assistant", content: replies[0] },
        { role: "user", content: heard[1] },
      ]);

      // Sentence by sentence: reply 1 went to the TTS in pieces, in order.
      const inputs = api.speech.map((s) => s.body.input);
      assert.ok(inputs.length >= 4, `TTS requests: ${JSON.stringify(inputs)}`);
      assert.equal(inputs.join(" "), replies.join(" "));
      assert.ok(api.speech.every((s) => s.body.voice === "af_heart"));
      assert.ok(api.speech.every((s) => s.body.model === "kokoro"));

      // The spoken audio reached the caller: about as long as what the TTS
      // server sent (24 kHz PCM16 → 8 kHz μ-law), and not silence.
      const ttsSeconds = api.speech.reduce((n, s) => n + s.bytesTotal / 2, 0) /
        24000;
      const got = client.receivedPcm();
      const gotSeconds = got.length / 8000;
      assert.ok(
        gotSeconds > 0.9 * ttsSeconds && gotSeconds < ttsSeconds + 1,
        `caller got ${gotSeconds.toFixed(2)} s of ${ttsSeconds.toFixed(2)} s`,
      );
      assert.ok(rms(got) > 0.02, `reply rms ${rms(got)}`);
      await client.close();
    } finally {
      await server.close();
      await api.close();
    }
  },
});

Deno.test("llm_voice_chat settings: a key follows its base URL, keyless servers need none, bad settings say what to set", async () => {
  const api = startOpenAiServer();
  try {
    const env: Record<string, string> = {
      OPENAI_BASE_URL: api.baseUrl,
      OPENAI_API_KEY: "sk-openai",
      STT: "openai",
      STT_BASE_URL: api.baseUrl, // named without STT_API_KEY: no key
      TTS: "openai",
      TTS_API_KEY: "sk-tts",
    };
    const options = await voiceChatFromEnv((name) => env[name]);
    assert.equal(options.llm.baseUrl, api.baseUrl);
    assert.equal(options.llm.apiKey, "sk-openai", "LLM uses the OPENAI_* pair");
    assert.equal(options.llm.model, "gpt-4o-mini");
    const jfk = await readWavFile(
      new URL("../fixtures/jfk.wav", import.meta.url),
    );
    await options.stt.stt([jfk.sampleRate, jfk.samples]);
    assert.equal(api.transcriptions[0].authorization, null);
    await options.tts.tts("Hi.");
    assert.equal(api.speech[0].authorization, "Bearer sk-tts");
  } finally {
    await api.close();
  }
  await assert.rejects(
    voiceChatFromEnv(() => undefined),
    (e) =>
      e instanceof SettingsError &&
      /needs a key: set OPENAI_API_KEY/.test(e.message),
  );
  await assert.rejects(
    voiceChatFromEnv((name) =>
      ({ LLM_BASE_URL: "http://127.0.0.1:11434/v1", STT: "whisper" })[name]
    ),
    /STT=whisper is unknown; use STT=moonshine or STT=openai/,
  );
  // Checked before any model loads, naming the variable.
  await assert.rejects(
    voiceChatFromEnv((name) =>
      ({
        LLM_BASE_URL: "http://127.0.0.1:11434/v1",
        TTS: "openai",
        TTS_BASE_URL: "http://127.0.0.1:8880/v1",
        TTS_SPEED: "fast",
      })[name]
    ),
    (e) =>
      e instanceof SettingsError &&
      /^Check TTS_BASE_URL and TTS_SPEED: .*speed NaN/.test(e.message),
  );
  await assert.rejects(
    voiceChatFromEnv((name) =>
      ({ LLM_BASE_URL: "http://127.0.0.1:11434/v1", TTS_VOICE: "alloy" })[name]
    ),
    /Check TTS_VOICE and TTS_SPEED: Unknown Kokoro voice "alloy"/,
  );
});

Deno.test({
  name:
    "llm_voice_chat barge-in: talking over the reply clears the phone's audio, cancels the streaming chat request, and the history keeps only what was spoken",
  async fn() {
    const long = "Sure. " +
      "Once upon a time there was a small robot who wanted to learn every song in the world, "
        .repeat(3) +
      "and that is the end.";
    const heard = [
      "Tell me a long story.",
      "Wait, stop, I have a question about my order.",
    ];
    const api = startOpenAiServer({
      synth: "espeak",
      transcripts: heard,
      replies: [long, "Of course, go ahead."],
      tokenDelayMs: 120,
    });
    const env: Record<string, string> = {
      STT: "openai",
      TTS: "openai",
      LLM_BASE_URL: api.baseUrl,
      STT_BASE_URL: api.baseUrl,
      TTS_BASE_URL: api.baseUrl,
    };
    const logs: string[] = [];
    const stream = createVoiceChat({
      ...await voiceChatFromEnv((name) => env[name]),
      log: (line) => logs.push(line),
      stream: { verbose: false },
    });
    const server = serveStream(stream);
    try {
      const client = await TwilioTestClient.connect(
        `${server.wsUrl}/telephone/handler`,
      );
      const fixture = await readFixture("turns_8k.ulaw");
      await client.play(fixture.subarray(0, 8000 * 2.1), { realtime: true });
      await silenceUntil(
        client,
        () => client.media.length > 0,
        10000,
        "the reply to start",
      );
      // Talk over the reply.
      const interrupt = await readFixture("interrupt_8k.ulaw");
      await client.play(interrupt, { realtime: true });
      await silenceUntil(
        client,
        () => logs.some((l) => l.includes(" bot: ")),
        20000,
        "the answer to the interruption",
      );
      assert.ok(
        client.messages.some((m) => m.event === "clear"),
        "Twilio got clear",
      );
      assert.equal(api.chats[0].cancelled, true, "chat request 1 cancelled");
      const words = long.split(/\s+/).length;
      assert.ok(
        api.chats[0].deltasSent < words,
        `${api.chats[0].deltasSent} of ${words} deltas were sent`,
      );
      assert.equal(api.transcriptions.length, 2);
      // The history kept the interrupted turn: the caller's question and
      // the sentences spoken before the barge-in, not the unspoken rest.
      const second = api.chats[1].messages.filter((m) => m.role !== "system");
      assert.deepEqual(second[0], { role: "user", content: heard[0] });
      assert.deepEqual(second.at(-1), { role: "user", content: heard[1] });
      assert.equal(second.length, 3, JSON.stringify(second));
      assert.equal(second[1].role, "assistant");
      assert.ok(second[1].content.startsWith("Sure."), second[1].content);
      assert.ok(
        second[1].content.length < long.length,
        `kept ${second[1].content.length} of ${long.length} characters`,
      );
      await client.close();
    } finally {
      await server.close();
      await api.close();
    }
  },
});

const hasMoonshine = await modelInCache("moonshine/base");
if (!hasMoonshine) {
  console.log(
    "Skipping the on-device STT voice-chat test: run `deno task models moonshine/base` once",
  );
}

Deno.test({
  name:
    "llm_voice_chat with STT=moonshine (on-device) and HTTP TTS: the caller's words are really transcribed and answered",
  ignore: !hasMoonshine,
  async fn() {
    const api = startOpenAiServer({
      synth: "espeak",
      replies: ["Sure, for how many people?"],
    });
    const env: Record<string, string> = {
      STT: "moonshine",
      TTS: "openai",
      LLM_BASE_URL: api.baseUrl,
      TTS_BASE_URL: api.baseUrl,
    };
    const logs: string[] = [];
    const stream = createVoiceChat({
      ...await voiceChatFromEnv((name) => env[name]),
      log: (line) => logs.push(line),
      stream: { verbose: false },
    });
    const server = serveStream(stream);
    try {
      const client = await TwilioTestClient.connect(
        `${server.wsUrl}/telephone/handler`,
      );
      const fixture = await readFixture("turns_8k.ulaw");
      const t0 = performance.now();
      await client.play(fixture.subarray(0, 8000 * 2.1), { realtime: true });
      await silenceUntil(
        client,
        () => {
          const last = client.media.at(-1);
          return logs.some((l) => l.includes(" bot: ")) &&
            last !== undefined && performance.now() - last.at > 400;
        },
        30000,
        "the reply",
      );
      const firstAudio = client.media[0].at - (t0 + 1945.5);
      console.log(
        `Moonshine STT: time to first reply audio ${firstAudio.toFixed(0)} ms`,
      );
      for (const line of logs) console.log(line);
      assert.equal(api.transcriptions.length, 0, "no HTTP STT was used");
      const user = api.chats[0].messages.at(-1)!;
      assert.equal(user.role, "user");
      // Moonshine base on this espeak clip gets "book a table" right for only
      // 3 of 20 plausible utterance boundaries ("look at Able", "work at
      // Abel", …; measured with /tmp-style sweeps over start 0.1–0.45 s and
      // end 1.95–2.1 s), so the words that survive every boundary are what
      // proves real transcription here.
      assert.match(user.content, /\bI would like to\b/i);
      assert.ok(
        logs.some((l) => l.includes(`caller: ${user.content}`)),
        "the transcript is what the chat got",
      );
      assert.ok(client.receivedPcm().length > 8000 * 0.5, "reply audio came");
      await client.close();
    } finally {
      await server.close();
      await api.close();
      await closeSttModels();
    }
  },
});
