/**
 * Text-to-speech over HTTP: any server that speaks OpenAI's
 * `POST /v1/audio/speech` — OpenAI itself, Kokoro-FastAPI, Speaches,
 * LocalAI, vLLM — behind the same {@linkcode TtsModel} interface as the
 * on-device Kokoro, so a `ReplyOnPause` function does not change.
 *
 * `openAiTts(options)` returns the model right away (there is nothing to
 * load). `streamTts(text)` sends one request and yields audio **as the bytes
 * arrive**: raw PCM (`response_format: "pcm"`, 16-bit little-endian mono at
 * 24 kHz, as OpenAI and Kokoro-FastAPI send it) or a streamed WAV, an odd
 * trailing byte carried to the next chunk, converted to float32 and
 * resampled with a stateful {@linkcode StreamResampler} to `sampleRate`
 * (default: the server's rate), so chunk edges do not click. Text longer than
 * the API's 4096-character limit is sent as several requests, cut at
 * sentence ends.
 *
 * Reliability: each attempt has an idle timeout (`timeoutMs`: no response, or
 * no bytes while streaming); network errors, timeouts, 429 and 5xx answers
 * are retried with exponential backoff (`retries`, `retryDelayMs`, honouring
 * `Retry-After`) — but **never once audio has been received**, because the
 * caller may already have heard it: a stream that breaks midway throws a
 * {@linkcode SpeechApiError} of kind `"disconnect"`.
 *
 * Cancellation: the request stops when the `signal` option aborts, which
 * defaults to `getCurrentContext().signal` inside a handler — a barge-in or
 * hang-up closes the HTTP request, so the server stops synthesizing — and
 * when the consumer stops iterating (the generator's `return()`).
 *
 * Why a separate factory and not `getTtsModel({ provider: "openai" })`:
 * `getTtsModel` is about on-device models (cache folders, downloads, worker
 * threads, a shared load behind a promise); an HTTP client needs none of
 * that, is created synchronously, and this module imports nothing of the
 * Kokoro/ONNX stack. Both return a `TtsModel`, which is what handlers take.
 * There is no blocking `streamTtsSync` twin, for the reason given in
 * `tts.ts`: iterate `streamTts` with `for await`.
 *
 * Layering note: the default signal comes from `src/handlers/context.ts`,
 * the one module of the handler layer this file imports (it only holds the
 * `AsyncLocalStorage` of the call context).
 *
 * @module
 */

import { StreamResampler } from "../audio/resampler.ts";
import { assertSampleRate } from "../audio/frame.ts";
import { splitSentences } from "./text.ts";
import type { TtsModel } from "./tts.ts";
import {
  Attempt,
  backoff,
  bodySnippet,
  cap,
  contextSignal,
  type Endpoint,
  errorDetail,
  httpError,
  isRetryable,
  resolveEndpoint,
  SpeechApiError,
  transportError,
} from "./_openai_http.ts";

/** Rate of OpenAI's `pcm` format (and Kokoro-FastAPI's). */
const PCM_RATE = 24000;
/** The API's `input` limit in characters. */
const MAX_INPUT_CHARS = 4096;

/**
 * Per-call options of an {@linkcode openAiTts} model's `tts` / `streamTts`;
 * each overrides the model's default for this text.
 *
 * @example
 * ```ts
 * import type { OpenAiSpeechOptions } from "@parley/parley/speech";
 * const options: OpenAiSpeechOptions = { voice: "nova", speed: 1.2 };
 * ```
 */
export interface OpenAiSpeechOptions {
  /** Voice (`alloy`, `nova`, …; Kokoro-FastAPI: `af_heart`, …). */
  voice?: string;
  /** Speaking rate, 0.25–4 (1 is normal). */
  speed?: number;
  /** Tone instructions (`gpt-4o-mini-tts` and servers that support them). */
  instructions?: string;
  /**
   * Cancels the request (default: the current reply's
   * `getCurrentContext().signal`, none outside a handler). On abort the
   * generator rejects with the signal's reason.
   */
  signal?: AbortSignal;
}

/**
 * Options of {@linkcode openAiTts}.
 *
 * @example A self-hosted Kokoro-FastAPI server, audio for a phone call
 * ```ts
 * import type { OpenAiTtsOptions } from "@parley/parley/speech";
 * const options: OpenAiTtsOptions = {
 *   baseUrl: "http://localhost:8880/v1",
 *   model: "kokoro",
 *   voice: "af_heart",
 *   sampleRate: 8000,
 * };
 * ```
 */
export interface OpenAiTtsOptions {
  /**
   * API root, e.g. `"http://localhost:8880/v1"`; `/audio/speech` is appended.
   * Default: `OPENAI_BASE_URL` if set (and readable), else
   * `https://api.openai.com/v1`.
   */
  baseUrl?: string;
  /**
   * Bearer token. Default: `OPENAI_API_KEY`, but only when `baseUrl` is not
   * given (a key for OpenAI is never sent to a server you named). Without a
   * key no `Authorization` header is sent; `""` forces none.
   */
  apiKey?: string;
  /** Model id; default `"gpt-4o-mini-tts"` (Kokoro-FastAPI: `"kokoro"`). */
  model?: string;
  /** Default voice; default `"alloy"`. */
  voice?: string;
  /** Default speaking rate, 0.25–4; default 1. */
  speed?: number;
  /** Default tone instructions (not sent when unset). */
  instructions?: string;
  /**
   * `"pcm"` (default: raw 16-bit mono at `pcmSampleRate`, the lowest
   * latency) or `"wav"` (the rate is read from the header).
   */
  responseFormat?: "pcm" | "wav";
  /** Rate of the server's `pcm` output; default 24000 (OpenAI's). */
  pcmSampleRate?: number;
  /**
   * Rate of the audio this model yields; default `pcmSampleRate` for `pcm`,
   * 24000 for `wav` (whose real rate is known only from each response's
   * header, and is resampled to this). Set it to the rate you need (8000 for
   * a phone call) to resample once, statefully, as the audio streams.
   */
  sampleRate?: number;
  /**
   * Per attempt: most milliseconds without progress (waiting for the
   * response, or between audio bytes); default 15000, 0 for none.
   */
  timeoutMs?: number;
  /** Extra attempts after a network error, timeout, 429 or 5xx; default 2. */
  retries?: number;
  /** First backoff delay in ms, doubled on each retry; default 250. */
  retryDelayMs?: number;
  /** Extra request headers (e.g. an organization or project id). */
  headers?: HeadersInit;
  /** The `fetch` to use (a proxy-aware one, a test double); default the global. */
  fetch?: typeof fetch;
}

/**
 * Text-to-speech over an OpenAI-compatible `POST /v1/audio/speech`, as a
 * {@linkcode TtsModel}: `streamTts` yields `[sampleRate, Float32Array]`
 * chunks as the server streams them, `tts` returns the whole utterance.
 * See the module documentation for retries, timeouts and cancellation.
 *
 * @example Stream a reply to a phone caller from a local Kokoro-FastAPI
 * ```ts
 * import { openAiTts } from "@parley/parley/speech";
 * const tts = openAiTts({
 *   baseUrl: "http://localhost:8880/v1",
 *   model: "kokoro",
 *   voice: "af_heart",
 *   sampleRate: 8000,
 * });
 * async function* reply() {
 *   // In a handler the request follows the reply's signal (barge-in).
 *   yield* tts.streamTts("Hello! How can I help?");
 * }
 * ```
 *
 * @param options Server, voice, output rate and retry options.
 * @returns The model.
 * @throws {RangeError} On a bad speed, sample rate, format or retry option.
 * @throws {TypeError} If `baseUrl` is not an http(s) URL.
 */
export function openAiTts(
  options: OpenAiTtsOptions = {},
): TtsModel<OpenAiSpeechOptions> {
  const endpoint = resolveEndpoint(options, "/audio/speech", {
    timeoutMs: 15_000,
    owner: "openAiTts",
    what: "the TTS server",
  });
  endpoint.headers.set("content-type", "application/json");
  const model = options.model ?? "gpt-4o-mini-tts";
  const format = options.responseFormat ?? "pcm";
  if (format !== "pcm" && format !== "wav") {
    throw new RangeError(
      `openAiTts: responseFormat ${
        JSON.stringify(format)
      } is not streamable PCM; use "pcm" or "wav"`,
    );
  }
  const pcmRate = assertSampleRate(
    options.pcmSampleRate ?? PCM_RATE,
    "openAiTts pcmSampleRate",
  );
  const defaults = {
    voice: options.voice ?? "alloy",
    speed: checkSpeed(options.speed ?? 1),
    instructions: options.instructions,
  };
  // With WAV the server's rate is known only from the header; without an
  // explicit sampleRate, the 24 kHz default is the advertised rate.
  const outRate = options.sampleRate === undefined
    ? (format === "pcm" ? pcmRate : PCM_RATE)
    : assertSampleRate(options.sampleRate, "openAiTts sampleRate");

  async function* streamTts(
    text: string,
    call: OpenAiSpeechOptions = {},
  ): AsyncGenerator<[number, Float32Array]> {
    if (typeof text !== "string") {
      throw new TypeError(
        `streamTts() expects text as a string, got ${typeof text}`,
      );
    }
    const signal = call.signal ?? contextSignal();
    signal?.throwIfAborted();
    const voice = call.voice ?? defaults.voice;
    const speed = call.speed === undefined
      ? defaults.speed
      : checkSpeed(call.speed);
    const instructions = call.instructions ?? defaults.instructions;
    for (const input of pieces(text)) {
      const body = JSON.stringify({
        model,
        input,
        voice,
        response_format: format,
        speed,
        ...(instructions ? { instructions } : {}),
      });
      yield* speak(endpoint, {
        body,
        format,
        pcmRate,
        outRate,
        subject: `model "${model}" or voice "${voice}"`,
        signal,
      });
    }
  }

  return {
    sampleRate: outRate,
    streamTts,
    async tts(text, call) {
      const parts: Float32Array[] = [];
      for await (const [, audio] of streamTts(text, call)) parts.push(audio);
      const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
      let off = 0;
      for (const p of parts) (out.set(p, off), off += p.length);
      return [outRate, out];
    },
  };
}

function checkSpeed(speed: number): number {
  if (typeof speed !== "number" || !(speed >= 0.25 && speed <= 4)) {
    throw new RangeError(
      `openAiTts: speed ${
        String(speed)
      } is out of range; use a number from 0.25 to 4 (1 is normal)`,
    );
  }
  return speed;
}

/** The text as requests of at most MAX_INPUT_CHARS, cut at sentence ends. */
function pieces(text: string): string[] {
  const trimmed = text.trim();
  if (!trimmed) return [];
  if (trimmed.length <= MAX_INPUT_CHARS) return [trimmed];
  const out: string[] = [];
  let current = "";
  const push = (s: string) => {
    if (current && current.length + 1 + s.length > MAX_INPUT_CHARS) {
      out.push(current);
      current = "";
    }
    current = current ? `${current} ${s}` : s;
  };
  for (const sentence of splitSentences(trimmed)) {
    let rest = sentence;
    while (rest.length > MAX_INPUT_CHARS) {
      let cut = rest.lastIndexOf(" ", MAX_INPUT_CHARS);
      if (cut <= 0) cut = MAX_INPUT_CHARS;
      push(rest.slice(0, cut));
      rest = rest.slice(cut).trimStart();
    }
    if (rest) push(rest);
  }
  if (current) out.push(current);
  return out;
}

interface SpeakRequest {
  body: string;
  format: "pcm" | "wav";
  pcmRate: number;
  outRate: number;
  subject: string;
  signal: AbortSignal | undefined;
}

function isAudioType(contentType: string | null): boolean {
  if (contentType === null || contentType === "") return true;
  const t = contentType.split(";")[0].trim().toLowerCase();
  return t.startsWith("audio/") || t === "application/octet-stream" ||
    t === "binary/octet-stream";
}

/** One request, retried until audio starts; yields resampled float32 chunks. */
async function* speak(
  endpoint: Endpoint,
  req: SpeakRequest,
): AsyncGenerator<[number, Float32Array]> {
  const { signal } = req;
  for (let attempts = 1;; attempts++) {
    const attempt = new Attempt(signal, endpoint.timeoutMs);
    let received = 0;
    let phase: "connect" | "read" = "connect";
    let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
    let retryAfter: string | null = null;
    try {
      const response = await endpoint.fetch(endpoint.url, {
        method: "POST",
        headers: endpoint.headers,
        body: req.body,
        signal: attempt.signal,
      });
      attempt.touch();
      if (!response.ok) {
        retryAfter = response.headers.get("retry-after");
        throw await httpError(endpoint, response, req.subject, attempts);
      }
      const type = response.headers.get("content-type");
      if (!isAudioType(type) || !response.body) {
        const said = await bodySnippet(response);
        throw new SpeechApiError(
          `${
            cap(endpoint.what)
          } at ${endpoint.url} answered ${response.status} with ` +
            `content-type ${type} instead of audio${
              said ? ` (${JSON.stringify(said)})` : ""
            }; check that baseUrl is an OpenAI-compatible API root (…/v1) ` +
            `and that it supports response_format "${req.format}"`,
          { kind: "response", url: endpoint.url, attempts },
        );
      }
      phase = "read";
      reader = response.body.getReader();
      const decoder = new PcmDecoder(req.format, req.pcmRate, req.outRate);
      while (true) {
        const { done, value } = await reader.read();
        if (done) break;
        attempt.touch();
        received += value.length;
        const audio = decoder.push(value, endpoint.url);
        if (audio && audio.length > 0) yield [req.outRate, audio];
      }
      const tail = decoder.end(endpoint.url);
      if (tail.length > 0) yield [req.outRate, tail];
      return;
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      let error = e instanceof SpeechApiError
        ? e
        : transportError(endpoint, attempt, e, attempts, phase);
      if (received > 0 && error.kind !== "response") {
        error = new SpeechApiError(
          `The audio stream from ${endpoint.url} broke after ${received} bytes ` +
            `(${error.kind === "timeout" ? "it stalled" : errorDetail(e)}); ` +
            `that audio was already yielded (the caller may have heard it), ` +
            `so the request is not retried: catch the error to apologise or ask again`,
          { kind: "disconnect", url: endpoint.url, attempts, cause: e },
        );
      }
      if (
        received === 0 && isRetryable(error) && attempts <= endpoint.retries
      ) {
        await backoff(endpoint, attempts, retryAfter, signal);
        continue;
      }
      throw error;
    } finally {
      reader?.cancel().catch(() => {});
      attempt.end();
    }
  }
}

/**
 * Bytes of `pcm` or a streamed WAV → float32 at the output rate: carries an
 * odd byte across chunks, parses the WAV header incrementally, resamples
 * with one StreamResampler per stream.
 */
class PcmDecoder {
  #format: "pcm" | "wav";
  #outRate: number;
  #resampler: StreamResampler | undefined;
  #carry = -1;
  #header: Uint8Array | undefined;

  constructor(format: "pcm" | "wav", pcmRate: number, outRate: number) {
    this.#format = format;
    this.#outRate = outRate;
    if (format === "pcm") {
      this.#resampler = new StreamResampler({
        inputRate: pcmRate,
        outputRate: outRate,
      });
    } else {
      this.#header = new Uint8Array(0);
    }
  }

  push(bytes: Uint8Array, url: string): Float32Array | undefined {
    if (this.#header !== undefined) {
      const joined = new Uint8Array(this.#header.length + bytes.length);
      joined.set(this.#header);
      joined.set(bytes, this.#header.length);
      const parsed = parseWavHeader(joined, url);
      if (parsed === undefined) {
        this.#header = joined;
        return undefined;
      }
      this.#header = undefined;
      this.#resampler = new StreamResampler({
        inputRate: parsed.sampleRate,
        outputRate: this.#outRate,
      });
      bytes = joined.subarray(parsed.dataOffset);
    }
    return this.#resampler!.process(this.#samples(bytes));
  }

  end(url: string): Float32Array {
    if (this.#header !== undefined) {
      throw new SpeechApiError(
        `${url} ended before a complete WAV header (${this.#header.length} bytes); ` +
          `use responseFormat "pcm" or check the server`,
        { kind: "response", url },
      );
    }
    return this.#resampler?.flush() ?? new Float32Array(0);
  }

  #samples(bytes: Uint8Array): Float32Array {
    const total = bytes.length + (this.#carry >= 0 ? 1 : 0);
    const n = total >> 1;
    const out = new Float32Array(n);
    let i = 0;
    let j = 0;
    if (n > 0 && this.#carry >= 0) {
      out[0] = (((bytes[0] << 8) | this.#carry) << 16 >> 16) / 32768;
      i = 1;
      j = 1;
      this.#carry = -1;
    }
    for (; j < n; j++, i += 2) {
      out[j] = (((bytes[i + 1] << 8) | bytes[i]) << 16 >> 16) / 32768;
    }
    if (i < bytes.length) this.#carry = bytes[i];
    return out;
  }
}

/**
 * Finds the `data` chunk of a WAV prefix: undefined while more bytes are
 * needed; throws for a non-WAV or non-PCM16-mono stream.
 */
function parseWavHeader(
  b: Uint8Array,
  url: string,
): { sampleRate: number; dataOffset: number } | undefined {
  const fail = (what: string) =>
    new SpeechApiError(
      `${url} sent a WAV the client cannot stream (${what}); ` +
        `use responseFormat "pcm"`,
      { kind: "response", url },
    );
  if (b.length < 12) return undefined;
  const tag = (o: number) => String.fromCharCode(...b.subarray(o, o + 4));
  if (tag(0) !== "RIFF" || tag(8) !== "WAVE") throw fail("no RIFF/WAVE header");
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let rate = 0;
  for (let o = 12; o + 8 <= b.length;) {
    const id = tag(o);
    const size = view.getUint32(o + 4, true);
    if (id === "data") {
      if (rate === 0) throw fail("data before fmt");
      return { sampleRate: rate, dataOffset: o + 8 };
    }
    if (o + 8 + size > b.length) return undefined;
    if (id === "fmt ") {
      const format = view.getUint16(o + 8, true);
      const channels = view.getUint16(o + 10, true);
      const bits = view.getUint16(o + 22, true);
      const pcm = format === 1 ||
        (format === 0xfffe && size >= 40 && view.getUint16(o + 32, true) === 1);
      if (!pcm || bits !== 16 || channels !== 1) {
        throw fail(
          `format ${format}, ${bits}-bit, ${channels} channel(s); only 16-bit PCM mono streams`,
        );
      }
      rate = view.getUint32(o + 12, true);
      if (rate <= 0) throw fail("sample rate 0");
    }
    o += 8 + size + (size & 1);
  }
  return undefined;
}
