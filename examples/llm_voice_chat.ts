/**
 * Talk to an LLM over the phone or in the browser: the caller's speech →
 * speech-to-text → any OpenAI-compatible chat endpoint (streamed) →
 * text-to-speech, sentence by sentence.
 *
 * Speech runs on-device (Moonshine + Kokoro) or on any HTTP service that
 * speaks OpenAI's audio API (OpenAI, Kokoro-FastAPI, Speaches, LocalAI,
 * vLLM), chosen by environment variables. No API key is needed when the
 * servers need none (Ollama, a local Kokoro-FastAPI).
 *
 * ```sh
 * # Everything local: Ollama for the LLM, Kokoro-FastAPI for the voice,
 * # Moonshine on-device for the ears.
 * LLM_BASE_URL=http://localhost:11434/v1 LLM_MODEL=llama3.2 \
 * TTS=openai TTS_BASE_URL=http://localhost:8880/v1 TTS_MODEL=kokoro TTS_VOICE=af_heart \
 *   deno run -A examples/llm_voice_chat.ts
 *
 * # Everything on OpenAI.
 * OPENAI_API_KEY=sk-… STT=openai TTS=openai deno run -A examples/llm_voice_chat.ts
 *
 * # Everything on-device but the LLM (fetch the weights once, ~160 MB).
 * deno task models kokoro moonshine/base
 * OPENAI_API_KEY=sk-… deno run -A examples/llm_voice_chat.ts
 * ```
 *
 * Environment (every variable is optional):
 * - `LLM_BASE_URL` (default `OPENAI_BASE_URL`, else
 *   `https://api.openai.com/v1`), `LLM_MODEL` (default `OPENAI_MODEL`, else
 *   `gpt-4o-mini`), `LLM_API_KEY`.
 * - `STT`: `moonshine` (default, on-device) or `openai` (HTTP), with
 *   `STT_BASE_URL`, `STT_API_KEY`, `STT_MODEL` (default `whisper-1`),
 *   `STT_LANGUAGE`.
 * - `TTS`: `kokoro` (default, on-device) or `openai` (HTTP), with
 *   `TTS_BASE_URL`, `TTS_API_KEY`, `TTS_MODEL` (default `gpt-4o-mini-tts`),
 *   `TTS_VOICE` (default `alloy`; Kokoro `af_heart`), `TTS_SPEED`.
 * - `PORT` (default 8000).
 *
 * Keys: each `*_API_KEY` falls back to `OPENAI_API_KEY` only when that
 * service's `*_BASE_URL` is unset (so it talks to the same server as
 * `OPENAI_BASE_URL`); a key is never sent to a server you named without one.
 *
 * The chat history travels as {@linkcode AdditionalOutputs}: each reply
 * yields the updated history, which the page can show (`GET /outputs`) and
 * which, on a phone call, comes back as the next turn's extra argument
 * (FastRTC's phone-mode rule). Browser calls have no such round trip; their
 * history is kept here by call id. The history is sent as soon as it changes
 * (the caller's words, then each spoken sentence), so a reply cut by a
 * barge-in stays in it as far as it was spoken. The reply's `AbortSignal` goes to every request (STT, LLM,
 * TTS), so a barge-in or hang-up stops them.
 *
 * Import it to embed or test the bot: {@linkcode createVoiceChat} builds the
 * `Stream`, {@linkcode voiceChatFromEnv} reads the settings above.
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
  type StreamOptions,
} from "../mod.ts";
import {
  getSttModel,
  getTtsModel,
  type KokoroVoice,
  ModelNotAvailableError,
  openAiStt,
  openAiTts,
  resolveKokoroOptions,
  SentenceStream,
  type SttModel,
  type TtsModel,
} from "../src/speech/mod.ts";

/**
 * One chat message, OpenAI style.
 *
 * @example
 * ```ts ignore
 * const m: ChatMessage = { role: "user", content: "Book a table for two." };
 * ```
 */
export interface ChatMessage {
  /** Who said it. */
  role: "system" | "user" | "assistant";
  /** What was said. */
  content: string;
}

/**
 * Where the chat completions come from.
 *
 * @example Ollama (no key)
 * ```ts ignore
 * const llm: LlmSettings = { baseUrl: "http://localhost:11434/v1", model: "llama3.2" };
 * ```
 */
export interface LlmSettings {
  /** API root, e.g. `http://localhost:11434/v1`. */
  baseUrl: string;
  /** Model id. */
  model: string;
  /** Bearer token; none sent when unset. */
  apiKey?: string;
}

/**
 * Options of {@linkcode createVoiceChat}.
 *
 * @example HTTP speech, local LLM
 * ```ts ignore
 * const options: VoiceChatOptions = {
 *   stt: openAiStt({ baseUrl: "http://localhost:8000/v1" }),
 *   tts: openAiTts({ baseUrl: "http://localhost:8880/v1", model: "kokoro", voice: "af_heart" }),
 *   llm: { baseUrl: "http://localhost:11434/v1", model: "llama3.2" },
 * };
 * ```
 */
export interface VoiceChatOptions {
  /** Speech-to-text: Moonshine (`getSttModel`) or `openAiStt`. */
  stt: SttModel;
  /** Text-to-speech: Kokoro (`getTtsModel`) or `openAiTts`. */
  tts: TtsModel;
  /** The chat endpoint. */
  llm: LlmSettings;
  /** System prompt; default: short spoken answers. */
  system?: string;
  /** Most history messages kept (default 20). */
  maxHistory?: number;
  /** Where per-turn lines go (transcript, reply, timings); default console.log. */
  log?: (line: string) => void;
  /** Everything else `Stream` takes (Twilio, WebRTC, limits, page title). */
  stream?: Omit<StreamOptions, "handler">;
}

const SYSTEM = "You are a helpful voice assistant on a phone call. Answer in " +
  "one to three short spoken sentences, with no lists, markdown or emoji.";

/**
 * Streams the assistant's answer from `POST {baseUrl}/chat/completions` with
 * `stream: true` (server-sent events), yielding text deltas as they arrive.
 *
 * @example
 * ```ts ignore
 * const llm = { baseUrl: "http://localhost:11434/v1", model: "llama3.2" };
 * for await (const piece of streamChat(llm, [{ role: "user", content: "Hi" }])) {
 *   console.log(piece);
 * }
 * ```
 *
 * @param llm The endpoint.
 * @param messages The conversation so far.
 * @param signal Stops the request (barge-in, hang-up).
 * @returns The text deltas.
 */
export async function* streamChat(
  llm: LlmSettings,
  messages: ChatMessage[],
  signal?: AbortSignal,
): AsyncGenerator<string> {
  const url = `${llm.baseUrl.replace(/\/+$/, "")}/chat/completions`;
  const headers: Record<string, string> = {
    "content-type": "application/json",
    accept: "text/event-stream",
  };
  if (llm.apiKey) headers.authorization = `Bearer ${llm.apiKey}`;
  let res: Response;
  try {
    res = await fetch(url, {
      method: "POST",
      headers,
      body: JSON.stringify({ model: llm.model, messages, stream: true }),
      signal,
    });
  } catch (e) {
    if (signal?.aborted) throw signal.reason;
    throw new Error(
      `Could not reach the LLM at ${url} (${
        (e as Error).cause ?? (e as Error).message
      }); check LLM_BASE_URL (Ollama: http://localhost:11434/v1)`,
    );
  }
  if (!res.ok || !res.body) {
    const detail = (await res.text().catch(() => "")).slice(0, 300);
    const hint = res.status === 401 || res.status === 403
      ? "check LLM_API_KEY"
      : res.status === 404
      ? `check LLM_MODEL ("${llm.model}") and that LLM_BASE_URL ends in /v1`
      : "check LLM_BASE_URL, LLM_MODEL and the server's logs";
    throw new Error(
      `The LLM at ${url} answered ${res.status} ${res.statusText}: ${detail}; ${hint}`,
    );
  }
  // Server-sent events: lines, events separated by blank lines; only the
  // `data:` fields matter here.
  let buffer = "";
  let data: string[] = [];
  for await (const text of res.body.pipeThrough(new TextDecoderStream())) {
    buffer += text;
    let nl: number;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl).replace(/\r$/, "");
      buffer = buffer.slice(nl + 1);
      if (line.startsWith("data:")) {
        data.push(line.slice(5).replace(/^ /, ""));
        continue;
      }
      if (line !== "" || data.length === 0) continue;
      const event = data.join("\n");
      data = [];
      if (event === "[DONE]") return;
      let json;
      try {
        json = JSON.parse(event);
      } catch {
        continue; // a keep-alive or a provider's extra event
      }
      if (json?.error) {
        throw new Error(
          `The LLM at ${url} failed mid-answer: ${
            json.error.message ?? JSON.stringify(json.error)
          }`,
        );
      }
      const piece = json?.choices?.[0]?.delta?.content;
      if (typeof piece === "string" && piece) yield piece;
    }
  }
}

/**
 * Builds the voice chat: a `ReplyOnPause` handler (STT → streamed chat →
 * TTS per sentence, history in `AdditionalOutputs`) inside a `Stream` that
 * serves Twilio (`/telephone/*`), the built-in page and whatever
 * `options.stream` adds.
 *
 * @example Serve it with settings from the environment
 * ```ts ignore
 * createVoiceChat(await voiceChatFromEnv()).serve();
 * ```
 *
 * @param options Speech models, chat endpoint and stream options.
 * @returns The stream; call `.serve()` or mount `.fetch`.
 */
export function createVoiceChat(options: VoiceChatOptions): Stream {
  const { stt, tts, llm } = options;
  const system: ChatMessage = {
    role: "system",
    content: options.system ?? SYSTEM,
  };
  const maxHistory = options.maxHistory ?? 20;
  const log = options.log ?? ((line: string) => console.log(line));
  // Browser calls have no phone-mode argument passing: keep their history
  // here by call id (bounded).
  const webHistory = new Map<string, ChatMessage[]>();
  const handler = new ReplyOnPause(
    async function* (audio: AudioChunk, history?: ChatMessage[]) {
      const { callId, phoneMode, signal } = getCurrentContext();
      const t0 = performance.now();
      const ms = () => `${Math.round(performance.now() - t0)} ms`;
      const past = Array.isArray(history)
        ? history
        : webHistory.get(callId) ?? [];
      const heard = (await stt.stt(audio, { signal })).trim();
      if (!heard) return;
      log(`[voice_chat] ${callId} caller: ${heard} (stt ${ms()})`);
      const messages: ChatMessage[] = [
        ...past,
        { role: "user", content: heard },
      ];
      // The history goes out as soon as it changes: first with the caller's
      // words, then after each spoken sentence. On a phone call each
      // AdditionalOutputs becomes the next turn's argument, so a reply cut
      // by a barge-in stays in the history as far as it was spoken.
      const remember = (history: ChatMessage[]): AdditionalOutputs => {
        const kept = history.slice(-maxHistory);
        if (!phoneMode) {
          webHistory.delete(callId);
          webHistory.set(callId, kept);
          if (webHistory.size > 200) {
            webHistory.delete(webHistory.keys().next().value!);
          }
        }
        return new AdditionalOutputs(kept);
      };
      yield remember(messages);
      const sentences = new SentenceStream();
      const spoken: string[] = [];
      let answer = "";
      let firstAudio = "";
      let firstToken = "";
      const speak = async function* (parts: string[]) {
        for (const part of parts) {
          for await (const chunk of tts.streamTts(part, { signal })) {
            firstAudio ||= ms();
            yield chunk;
          }
          spoken.push(part);
          yield remember([
            ...messages,
            { role: "assistant", content: spoken.join(" ") },
          ]);
        }
      };
      for await (
        const piece of streamChat(llm, [system, ...messages], signal)
      ) {
        firstToken ||= ms();
        answer += piece;
        yield* speak(sentences.push(piece));
      }
      yield* speak(sentences.flush());
      log(
        `[voice_chat] ${callId} bot: ${answer.trim()} (first token ${firstToken}, ` +
          `first audio ${
            firstAudio || "none"
          }, done ${ms()} after the turn ended)`,
      );
      yield remember([
        ...messages,
        { role: "assistant", content: answer.trim() },
      ]);
    },
    { inputSampleRate: 16000, outputSampleRate: 24000, needsArgs: false },
  );
  return new Stream({
    twilio: { say: "Connecting you to the assistant." },
    uiArgs: {
      title: "Voice chat",
      subtitle: `Talk to ${llm.model}; pause to let it answer`,
    },
    ...options.stream,
    handler,
  });
}

/** Reads an environment variable without prompting or throwing. */
function readEnv(name: string): string | undefined {
  try {
    if (
      Deno.permissions.querySync({ name: "env", variable: name }).state !==
        "granted"
    ) {
      return undefined;
    }
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined;
  }
}

/**
 * A setting the user got wrong; `main` prints it and exits.
 *
 * @example
 * ```ts ignore
 * try {
 *   await voiceChatFromEnv();
 * } catch (e) {
 *   if (e instanceof SettingsError) console.error(e.message);
 * }
 * ```
 */
export class SettingsError extends Error {
  /**
   * Makes the error.
   *
   * @param message What to set.
   */
  constructor(message: string) {
    super(message);
    this.name = "SettingsError";
  }
}

/** Base URL and key for a service: its own, else the OPENAI_* pair. */
function service(
  env: (name: string) => string | undefined,
  prefix: "LLM" | "STT" | "TTS",
): { baseUrl: string; apiKey: string } {
  const own = env(`${prefix}_BASE_URL`);
  const baseUrl = (own ?? env("OPENAI_BASE_URL") ?? "https://api.openai.com/v1")
    .replace(/\/+$/, "");
  const apiKey = env(`${prefix}_API_KEY`) ??
    (own === undefined ? env("OPENAI_API_KEY") : undefined) ?? "";
  if (!apiKey && new URL(baseUrl).hostname === "api.openai.com") {
    throw new SettingsError(
      `${prefix} uses ${baseUrl}, which needs a key: set OPENAI_API_KEY ` +
        `(or ${prefix}_API_KEY), or point ${prefix}_BASE_URL at a server ` +
        `that needs none (e.g. Ollama http://localhost:11434/v1)`,
    );
  }
  return { baseUrl, apiKey };
}

/**
 * Reads the settings documented in this module and loads the speech models
 * they name (on-device ones from the model cache).
 *
 * @example Settings from a map (as tests do)
 * ```ts ignore
 * const env: Record<string, string> = { STT: "openai", TTS: "openai", LLM_BASE_URL: "http://localhost:11434/v1" };
 * const options = await voiceChatFromEnv((name) => env[name]);
 * ```
 *
 * @param env Where variables come from; default the process environment
 *   (read without prompting; unreadable variables count as unset).
 * @returns Options for {@linkcode createVoiceChat} (without `stream`).
 * @throws {SettingsError} On a bad or missing setting, saying what to set.
 * @throws {ModelNotAvailableError} When on-device weights are missing.
 */
export async function voiceChatFromEnv(
  env: (name: string) => string | undefined = readEnv,
): Promise<VoiceChatOptions> {
  const llm = service(env, "LLM");
  const sttKind = env("STT") ?? "moonshine";
  const ttsKind = env("TTS") ?? "kokoro";
  if (sttKind !== "moonshine" && sttKind !== "openai") {
    throw new SettingsError(
      `STT=${sttKind} is unknown; use STT=moonshine or STT=openai`,
    );
  }
  if (ttsKind !== "kokoro" && ttsKind !== "openai") {
    throw new SettingsError(
      `TTS=${ttsKind} is unknown; use TTS=kokoro or TTS=openai`,
    );
  }
  const speed = env("TTS_SPEED") === undefined
    ? undefined
    : Number(env("TTS_SPEED"));
  // Every setting is checked before anything loads: a typo fails at once,
  // naming the variable, instead of after the on-device models load.
  const setting = <T>(names: string, make: () => T): T => {
    try {
      return make();
    } catch (e) {
      if (!(e instanceof RangeError || e instanceof TypeError)) throw e;
      throw new SettingsError(`Check ${names}: ${e.message}`);
    }
  };
  let stt: SttModel | undefined;
  if (sttKind === "openai") {
    stt = setting("STT_BASE_URL", () =>
      openAiStt({
        ...service(env, "STT"),
        model: env("STT_MODEL"),
        language: env("STT_LANGUAGE"),
      }));
  }
  let tts: TtsModel | undefined;
  let kokoroDefaults: { voice: KokoroVoice; speed?: number } | undefined;
  if (ttsKind === "openai") {
    tts = setting("TTS_BASE_URL and TTS_SPEED", () =>
      openAiTts({
        ...service(env, "TTS"),
        model: env("TTS_MODEL"),
        voice: env("TTS_VOICE"),
        speed,
      }));
  } else {
    const voice = (env("TTS_VOICE") ?? "af_heart") as KokoroVoice;
    kokoroDefaults = { voice, ...(speed === undefined ? {} : { speed }) };
    setting(
      "TTS_VOICE and TTS_SPEED",
      () => resolveKokoroOptions(kokoroDefaults),
    );
  }
  stt ??= await getSttModel({ model: "moonshine/base" });
  if (!tts) {
    const kokoro = await getTtsModel();
    const defaults = kokoroDefaults!;
    tts = {
      sampleRate: kokoro.sampleRate,
      tts: (text, o) => kokoro.tts(text, { ...defaults, ...o }),
      streamTts: (text, o) => kokoro.streamTts(text, { ...defaults, ...o }),
    };
  }
  return {
    stt,
    tts,
    llm: {
      baseUrl: llm.baseUrl,
      model: env("LLM_MODEL") ?? env("OPENAI_MODEL") ?? "gpt-4o-mini",
      apiKey: llm.apiKey || undefined,
    },
  };
}

if (import.meta.main) {
  let options: VoiceChatOptions;
  try {
    options = await voiceChatFromEnv();
  } catch (e) {
    if (e instanceof SettingsError) {
      console.error(e.message);
      Deno.exit(2);
    }
    if (e instanceof ModelNotAvailableError) {
      console.error(
        `On-device speech weights are missing (${e.message}).\n` +
          "Fetch them once with: deno task models kokoro moonshine/base\n" +
          "or use an HTTP speech server instead, e.g. Kokoro-FastAPI:\n" +
          "  TTS=openai TTS_BASE_URL=http://localhost:8880/v1 TTS_MODEL=kokoro TTS_VOICE=af_heart",
      );
      Deno.exit(3);
    }
    throw e;
  }
  createVoiceChat({
    ...options,
    stream: { webrtc: createWebRtcEndpoint() },
  }).serve();
}
