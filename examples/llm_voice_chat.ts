/**
 * Talk to an LLM: speech → Moonshine STT → any OpenAI-compatible chat
 * endpoint (streamed) → Kokoro TTS, sentence by sentence. Phone (Twilio) and
 * browser (the built-in page at `/`).
 *
 * ```sh
 * deno task models kokoro moonshine/base   # once, ~160 MB
 * OPENAI_API_KEY=sk-… deno run -A examples/llm_voice_chat.ts
 * ```
 *
 * Environment:
 * - `OPENAI_API_KEY` (required): the endpoint's key.
 * - `OPENAI_BASE_URL` (default `https://api.openai.com/v1`): any
 *   OpenAI-compatible server (Ollama `http://localhost:11434/v1`, vLLM,
 *   llama.cpp, Groq, OpenRouter, …).
 * - `OPENAI_MODEL` (default `gpt-4o-mini`).
 * - `PORT` (default 8000).
 *
 * The chat history travels as {@linkcode AdditionalOutputs}: each reply
 * yields the updated history, which the page can show (`GET /outputs`) and
 * which, on a phone call, comes back as the next turn's extra argument
 * (Parley's phone-mode rule). The reply's `AbortSignal` goes to `fetch` and
 * to the TTS, so a barge-in or hang-up stops the LLM request and synthesis.
 *
 * @module
 */
import {
  AdditionalOutputs,
  type AudioChunk,
  createWebRtcEndpoint,
  getCurrentContext,
  ReplyOnPause,
  Stream,
} from "../mod.ts";
import {
  getSttModel,
  getTtsModel,
  ModelNotAvailableError,
  SentenceStream,
  type SttModel,
  type TtsModel,
} from "../src/speech/mod.ts";

/** One chat message, OpenAI style. */
interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

const SYSTEM: ChatMessage = {
  role: "system",
  content: "You are a helpful voice assistant on a phone call. Answer in one " +
    "to three short spoken sentences, with no lists, markdown or emoji.",
};

/** Settings read from the environment; exits with a clear message without a key. */
function settings(): { key: string; baseUrl: string; model: string } {
  const key = Deno.env.get("OPENAI_API_KEY");
  if (!key) {
    console.error(
      "OPENAI_API_KEY is not set: export the key of your OpenAI-compatible " +
        "endpoint (and OPENAI_BASE_URL for a server other than " +
        "https://api.openai.com/v1), then run this example again",
    );
    Deno.exit(2);
  }
  return {
    key,
    baseUrl: (Deno.env.get("OPENAI_BASE_URL") ?? "https://api.openai.com/v1")
      .replace(/\/+$/, ""),
    model: Deno.env.get("OPENAI_MODEL") ?? "gpt-4o-mini",
  };
}

/**
 * Streams the assistant's answer from `POST {baseUrl}/chat/completions`
 * (server-sent events), yielding text pieces as they arrive.
 */
async function* chat(
  config: { key: string; baseUrl: string; model: string },
  messages: ChatMessage[],
  signal: AbortSignal,
): AsyncGenerator<string> {
  const res = await fetch(`${config.baseUrl}/chat/completions`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      authorization: `Bearer ${config.key}`,
    },
    body: JSON.stringify({ model: config.model, messages, stream: true }),
    signal,
  });
  if (!res.ok || !res.body) {
    const detail = (await res.text().catch(() => "")).slice(0, 300);
    throw new Error(
      `The chat endpoint ${config.baseUrl} answered ${res.status} ${res.statusText}: ` +
        `${detail}; check OPENAI_API_KEY, OPENAI_BASE_URL and OPENAI_MODEL`,
    );
  }
  const lines = res.body.pipeThrough(new TextDecoderStream());
  let buffer = "";
  for await (const text of lines) {
    buffer += text;
    let nl: number;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl).trim();
      buffer = buffer.slice(nl + 1);
      if (!line.startsWith("data:")) continue;
      const data = line.slice(5).trim();
      if (data === "[DONE]") return;
      try {
        const piece = JSON.parse(data).choices?.[0]?.delta?.content;
        if (typeof piece === "string" && piece) yield piece;
      } catch {
        // A keep-alive or a provider's extra event: skip it.
      }
    }
  }
}

/** Loads both speech models, or exits naming the command that fetches them. */
async function loadSpeech(): Promise<{ stt: SttModel; tts: TtsModel }> {
  try {
    const stt = await getSttModel({ model: "moonshine/base" });
    const tts = await getTtsModel();
    return { stt, tts };
  } catch (e) {
    if (e instanceof ModelNotAvailableError) {
      console.error(
        `Speech model weights are missing (${e.message}).\n` +
          "Fetch both models once with: deno task models kokoro moonshine/base",
      );
      Deno.exit(3);
    }
    throw e;
  }
}

/**
 * Makes the voice-chat handler.
 *
 * @param config The chat endpoint.
 * @param speech The STT and TTS models.
 * @returns The handler.
 */
export function createHandler(
  config: { key: string; baseUrl: string; model: string },
  speech: { stt: SttModel; tts: TtsModel },
): ReplyOnPause {
  // Web calls have no phone-mode argument passing; keep their history here
  // by call id (bounded).
  const webHistory = new Map<string, ChatMessage[]>();
  return new ReplyOnPause(
    async function* (audio: AudioChunk, history?: ChatMessage[]) {
      const { callId, phoneMode, signal } = getCurrentContext();
      const past = history ?? webHistory.get(callId) ?? [];
      const heard = (await speech.stt.stt(audio)).trim();
      if (!heard) return;
      console.log(`[llm_voice_chat] ${callId} caller: ${heard}`);
      const messages: ChatMessage[] = [
        ...past,
        { role: "user", content: heard },
      ];
      const sentences = new SentenceStream();
      let answer = "";
      const speak = async function* (parts: string[]) {
        for (const part of parts) {
          yield* speech.tts.streamTts(part, { signal });
        }
      };
      for await (const piece of chat(config, [SYSTEM, ...messages], signal)) {
        answer += piece;
        yield* speak(sentences.push(piece));
      }
      yield* speak(sentences.flush());
      console.log(`[llm_voice_chat] ${callId} bot: ${answer}`);
      const updated = [
        ...messages,
        { role: "assistant", content: answer } as ChatMessage,
      ].slice(-20);
      if (!phoneMode) {
        webHistory.delete(callId);
        webHistory.set(callId, updated);
        if (webHistory.size > 200) {
          webHistory.delete(webHistory.keys().next().value!);
        }
      }
      yield new AdditionalOutputs(updated);
    },
    { inputSampleRate: 16000, outputSampleRate: 24000, needsArgs: false },
  );
}

if (import.meta.main) {
  const config = settings();
  const speech = await loadSpeech();
  new Stream({
    handler: createHandler(config, speech),
    webrtc: createWebRtcEndpoint(),
    twilio: { say: "Connecting you to the assistant." },
    uiArgs: {
      title: "Voice chat",
      subtitle: `Talk to ${config.model}; pause to let it answer`,
    },
  }).serve();
}
