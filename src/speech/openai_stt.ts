/**
 * Speech-to-text over HTTP: any server that speaks OpenAI's
 * `POST /v1/audio/transcriptions` — OpenAI (`whisper-1`,
 * `gpt-4o-mini-transcribe`), Speaches / faster-whisper-server, LocalAI,
 * vLLM, whisper.cpp's server — behind the same {@linkcode SttModel}
 * interface as the on-device Moonshine, so a `ReplyOnPause` function (or
 * `ReplyOnStopWords`' `Transcriber`) does not change.
 *
 * `openAiStt(options)` returns the model right away. `stt([rate, samples])`
 * encodes the utterance as a 16-bit PCM mono WAV (at the audio's own rate,
 * or resampled to `uploadSampleRate`), posts it as `multipart/form-data`
 * with `model`, `response_format: "json"` and the optional `language` and
 * `prompt`, and returns the response's `text`. Empty audio returns `""`
 * without a request.
 *
 * Reliability and cancellation are as in `openai_tts.ts`: a per-attempt
 * timeout (`timeoutMs`, the whole request), retries with exponential
 * backoff on network errors, timeouts, 429 and 5xx, and the `signal` option
 * defaulting to `getCurrentContext().signal` so a hang-up or barge-in
 * cancels the upload. Errors are {@linkcode SpeechApiError}s that name the
 * URL and say what to do.
 *
 * Streaming STT over a WebSocket (Deepgram live, OpenAI Realtime
 * transcription) is deliberately not offered here: those services transcribe
 * while the caller is still talking, which needs audio pushed frame by frame
 * and partial results coming back — a per-call session, not the
 * `stt(utterance) → text` call this interface (and `ReplyOnPause`, which
 * hands over the utterance only once the caller paused) is built on. Fitted
 * into `stt()`, a live socket would be opened, fed the finished utterance and
 * closed: a slower batch request with none of the benefit. It belongs in a
 * `StreamHandler` that forwards `receive()` frames to the socket and acts on
 * its end-of-speech events, a separate design.
 *
 * @module
 */

import {
  assertSampleRate,
  type AudioChunk,
  audioToFloat32,
} from "../audio/frame.ts";
import { resample } from "../audio/resampler.ts";
import { writeWav } from "../audio/wav.ts";
import type { SttModel } from "./stt.ts";
import {
  Attempt,
  backoff,
  bodySnippet,
  contextSignal,
  httpError,
  isRetryable,
  resolveEndpoint,
  SpeechApiError,
  transportError,
} from "./_openai_http.ts";

/**
 * Per-call options of an {@linkcode openAiStt} model's `stt`; each overrides
 * the model's default for this utterance.
 *
 * @example
 * ```ts
 * import type { OpenAiTranscribeOptions } from "@parley/parley/speech";
 * const options: OpenAiTranscribeOptions = { language: "de", prompt: "Parley, Twilio" };
 * ```
 */
export interface OpenAiTranscribeOptions {
  /** ISO-639-1 language of the audio (e.g. `"en"`); improves speed and accuracy. */
  language?: string;
  /** Text that guides spelling and style (names, jargon, the previous turn). */
  prompt?: string;
  /**
   * Cancels the request (default: the current reply's
   * `getCurrentContext().signal`, none outside a handler). On abort the
   * promise rejects with the signal's reason.
   */
  signal?: AbortSignal;
}

/**
 * Options of {@linkcode openAiStt}.
 *
 * @example A self-hosted Speaches server
 * ```ts
 * import type { OpenAiSttOptions } from "@parley/parley/speech";
 * const options: OpenAiSttOptions = {
 *   baseUrl: "http://localhost:8000/v1",
 *   model: "Systran/faster-whisper-small",
 *   language: "en",
 * };
 * ```
 */
export interface OpenAiSttOptions {
  /**
   * API root, e.g. `"http://localhost:8000/v1"`; `/audio/transcriptions` is
   * appended. Default: `OPENAI_BASE_URL` if set (and readable), else
   * `https://api.openai.com/v1`.
   */
  baseUrl?: string;
  /**
   * Bearer token. Default: `OPENAI_API_KEY`, but only when `baseUrl` is not
   * given. Without a key no `Authorization` header is sent; `""` forces none.
   */
  apiKey?: string;
  /** Model id; default `"whisper-1"`. */
  model?: string;
  /** Default language (ISO-639-1); default none (the server detects it). */
  language?: string;
  /** Default prompt; default none. */
  prompt?: string;
  /**
   * Rate of the uploaded WAV. Default: the audio's own rate (8 kHz phone
   * audio is sent as it is; the server resamples anyway).
   */
  uploadSampleRate?: number;
  /** Per attempt: most milliseconds for the whole request; default 30000, 0 for none. */
  timeoutMs?: number;
  /** Extra attempts after a network error, timeout, 429 or 5xx; default 2. */
  retries?: number;
  /** First backoff delay in ms, doubled on each retry; default 250. */
  retryDelayMs?: number;
  /** Extra request headers. */
  headers?: HeadersInit;
  /** The `fetch` to use; default the global. */
  fetch?: typeof fetch;
}

/**
 * The {@linkcode SttModel} {@linkcode openAiStt} returns: its `stt` also
 * takes a language and a prompt per call.
 *
 * @example
 * ```ts
 * import { openAiStt, type OpenAiSttModel } from "@parley/parley/speech";
 * const stt: OpenAiSttModel = openAiStt({ baseUrl: "http://localhost:8000/v1" });
 * console.log(stt.model); // "whisper-1"
 * ```
 */
export interface OpenAiSttModel extends SttModel {
  /**
   * Transcribes one utterance.
   *
   * @param audio `[sampleRate, samples]`, int16 or float32, any rate.
   * @param options Language, prompt and signal for this utterance.
   * @returns The text, trimmed (empty for empty audio).
   */
  stt(audio: AudioChunk, options?: OpenAiTranscribeOptions): Promise<string>;
}

/**
 * Speech-to-text over an OpenAI-compatible `POST /v1/audio/transcriptions`,
 * as an {@linkcode SttModel}. See the module documentation.
 *
 * @example Transcribe the caller's turn in a handler
 * ```ts
 * import { openAiStt } from "@parley/parley/speech";
 * import type { AudioChunk } from "@parley/parley";
 * const stt = openAiStt({ baseUrl: "http://localhost:8000/v1", language: "en" });
 * async function* reply(audio: AudioChunk) {
 *   const text = await stt.stt(audio); // follows the reply's signal
 *   console.log("caller said", text);
 * }
 * ```
 *
 * @param options Server, model, language and retry options.
 * @returns The model.
 * @throws {TypeError} If `baseUrl` is not an http(s) URL.
 * @throws {RangeError} On a bad upload rate or retry option.
 */
export function openAiStt(options: OpenAiSttOptions = {}): OpenAiSttModel {
  const endpoint = resolveEndpoint(options, "/audio/transcriptions", {
    timeoutMs: 30_000,
    owner: "openAiStt",
    what: "the STT server",
  });
  const model = options.model ?? "whisper-1";
  const uploadRate = options.uploadSampleRate === undefined
    ? undefined
    : assertSampleRate(options.uploadSampleRate, "openAiStt uploadSampleRate");

  async function stt(
    audio: AudioChunk,
    call: OpenAiTranscribeOptions = {},
  ): Promise<string> {
    if (!Array.isArray(audio) || audio.length !== 2) {
      throw new TypeError(
        "stt() expects an audio chunk [sampleRate, samples], e.g. [8000, new Int16Array(n)]",
      );
    }
    const signal = call.signal ?? contextSignal();
    signal?.throwIfAborted();
    const [rate, samples] = audio;
    assertSampleRate(rate, "stt() sample rate");
    if (samples.length === 0) return "";
    const sendRate = uploadRate ?? rate;
    const wav = writeWav({
      sampleRate: sendRate,
      samples: sendRate === rate ? samples : resample(audioToFloat32(samples), {
        inputRate: rate,
        outputRate: sendRate,
      }),
    });
    const form = new FormData();
    form.append(
      "file",
      new Blob([wav as Uint8Array<ArrayBuffer>], { type: "audio/wav" }),
      "audio.wav",
    );
    form.append("model", model);
    form.append("response_format", "json");
    const language = call.language ?? options.language;
    const prompt = call.prompt ?? options.prompt;
    if (language) form.append("language", language);
    if (prompt) form.append("prompt", prompt);
    const subject = `model "${model}"${
      language ? ` or language "${language}"` : ""
    }`;

    for (let attempts = 1;; attempts++) {
      const attempt = new Attempt(signal, endpoint.timeoutMs);
      let retryAfter: string | null = null;
      let phase: "connect" | "read" = "connect";
      try {
        const response = await endpoint.fetch(endpoint.url, {
          method: "POST",
          headers: endpoint.headers,
          body: form,
          signal: attempt.signal,
        });
        if (!response.ok) {
          retryAfter = response.headers.get("retry-after");
          throw await httpError(endpoint, response, subject, attempts);
        }
        phase = "read";
        const type = response.headers.get("content-type") ?? "";
        if (!type.toLowerCase().includes("json")) {
          const said = await bodySnippet(response);
          throw notATranscript(endpoint.url, `content-type ${type}`, said);
        }
        const json = await response.json().catch((e) => {
          throw notATranscript(endpoint.url, `invalid JSON (${e})`, "");
        });
        if (typeof json?.text !== "string") {
          throw notATranscript(
            endpoint.url,
            "JSON without a text field",
            JSON.stringify(json).slice(0, 200),
          );
        }
        return json.text.trim();
      } catch (e) {
        if (signal?.aborted) throw signal.reason;
        const error = e instanceof SpeechApiError
          ? e
          : transportError(endpoint, attempt, e, attempts, phase);
        if (isRetryable(error) && attempts <= endpoint.retries) {
          await backoff(endpoint, attempts, retryAfter, signal);
          continue;
        }
        throw error;
      } finally {
        attempt.end();
      }
    }
  }

  return { model, stt };
}

function notATranscript(url: string, got: string, said: string) {
  return new SpeechApiError(
    `${url} answered with ${got} instead of a JSON transcript {"text": …}${
      said ? ` (${JSON.stringify(said)})` : ""
    }; check that baseUrl is an OpenAI-compatible API root (…/v1)`,
    { kind: "response", url },
  );
}
