/**
 * A loopback stand-in for an OpenAI-compatible server, written from the
 * published API shapes (not from Parley's client code):
 *
 * - `POST /v1/audio/speech` — JSON `{model, input, voice, response_format,
 *   speed}` → raw PCM16 LE mono at 24 kHz (`pcm`) or a streamed WAV (`wav`),
 *   sent in chunks; scriptable per request: error statuses, slow first byte,
 *   wrong content-type, a connection dropped mid-stream.
 * - `POST /v1/audio/transcriptions` — `multipart/form-data` with `file`
 *   (WAV), `model`, `language`, `prompt`, `response_format` → `{"text"}`.
 *   The WAV is parsed here and must be real, non-silent 16-bit PCM audio.
 * - `POST /v1/chat/completions` — with `stream: true`, server-sent events of
 *   `chat.completion.chunk` deltas ending in `data: [DONE]`.
 *
 * Errors use OpenAI's shape `{"error":{"message","type","code"}}`.
 */

/** What one `/audio/speech` request does; unset fields use the defaults. */
export interface SpeechBehaviour {
  /** Answer with this error status (and an OpenAI error body). */
  status?: number;
  /** Error message for `status`. */
  message?: string;
  /** Send `Retry-After` with an error. */
  retryAfter?: string;
  /** Wait this long before the response headers. */
  firstByteDelayMs?: number;
  /** Wait this long between body chunks (default 5). */
  chunkDelayMs?: number;
  /** Bytes per body chunk (default 4801: odd, so samples straddle chunks). */
  chunkBytes?: number;
  /** Break the connection after this many body bytes. */
  disconnectAfterBytes?: number;
  /** Answer 200 with this content-type and an HTML body instead of audio. */
  wrongContentType?: string;
  /** Samples of audio at 24 kHz (tone mode); default 60 ms per character. */
  samples?: number;
}

export interface SpeechRequestRecord {
  body: {
    model?: string;
    input?: string;
    voice?: string;
    response_format?: string;
    speed?: number;
    [k: string]: unknown;
  };
  authorization: string | null;
  /** Body bytes handed to the connection. */
  bytesSent: number;
  /** Total audio bytes this request would send. */
  bytesTotal: number;
  /** performance.now() when the last chunk was handed over, or 0. */
  finishedAt: number;
  /** True once the client went away before the end. */
  cancelled: boolean;
}

export interface TranscriptionRecord {
  model: string | null;
  language: string | null;
  prompt: string | null;
  responseFormat: string | null;
  fileName: string;
  fileType: string;
  sampleRate: number;
  samples: number;
  /** RMS of the samples, full scale = 1. */
  rms: number;
  authorization: string | null;
}

export interface ChatRecord {
  model: string;
  messages: { role: string; content: string }[];
  stream: boolean;
  authorization: string | null;
  /** Deltas sent so far. */
  deltasSent: number;
  /** True once the client went away before `[DONE]`. */
  cancelled: boolean;
}

export interface OpenAiServerOptions {
  /** Require `Authorization: Bearer <apiKey>` (401 otherwise). */
  apiKey?: string;
  /** `tone` (default: a 440 Hz sine) or `espeak` (espeak-ng speech). */
  synth?: "tone" | "espeak";
  /** Behaviour of the n-th speech request; later ones use `speechDefault`. */
  speechScript?: SpeechBehaviour[];
  speechDefault?: SpeechBehaviour;
  /** Models `/audio/speech` accepts (404 for others); default any. */
  speechModels?: string[];
  /** Behaviour of the n-th transcription request (`status`, `firstByteDelayMs`). */
  transcriptionScript?: SpeechBehaviour[];
  /** Transcript for the n-th transcription (default "hello"). */
  transcripts?: string[];
  /** Least RMS accepted as speech (default 0.01 ≈ −40 dBFS). */
  minRms?: number;
  /** The assistant's answer to the n-th chat request. */
  replies?: string[];
  /** Delay between SSE deltas (default 10 ms). */
  tokenDelayMs?: number;
}

export interface OpenAiTestServer {
  /** API root, e.g. `http://127.0.0.1:1234/v1`. */
  baseUrl: string;
  speech: SpeechRequestRecord[];
  transcriptions: TranscriptionRecord[];
  chats: ChatRecord[];
  close(): Promise<void>;
}

const encoder = new TextEncoder();
const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (ms <= 0 || signal?.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });

function errorResponse(
  status: number,
  message: string,
  extra: Record<string, string> = {},
): Response {
  return Response.json({
    error: {
      message,
      type: status === 401 ? "invalid_request_error" : "server_error",
      code: status === 401 ? "invalid_api_key" : null,
    },
  }, { status, headers: extra });
}

/** A 440 Hz tone at 24 kHz as PCM16 LE bytes. */
function tone(samples: number): Uint8Array {
  const out = new Uint8Array(samples * 2);
  const view = new DataView(out.buffer);
  for (let i = 0; i < samples; i++) {
    const v = Math.round(0.3 * 32767 * Math.sin(2 * Math.PI * 440 * i / 24000));
    view.setInt16(i * 2, v, true);
  }
  return out;
}

/** Minimal WAV reader for the server side: PCM16 mono only. */
export function parsePcm16Wav(
  bytes: Uint8Array,
): { sampleRate: number; samples: Int16Array } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tag = (o: number) => String.fromCharCode(...bytes.subarray(o, o + 4));
  if (bytes.length < 12 || tag(0) !== "RIFF" || tag(8) !== "WAVE") {
    throw new Error("not a RIFF/WAVE file");
  }
  let rate = 0;
  for (let o = 12; o + 8 <= bytes.length;) {
    const id = tag(o);
    let size = view.getUint32(o + 4, true);
    if (id === "fmt ") {
      const format = view.getUint16(o + 8, true);
      const channels = view.getUint16(o + 10, true);
      const bits = view.getUint16(o + 22, true);
      if (format !== 1 || channels !== 1 || bits !== 16) {
        throw new Error(
          `fmt ${format}/${channels}ch/${bits}bit, not PCM16 mono`,
        );
      }
      rate = view.getUint32(o + 12, true);
    } else if (id === "data") {
      if (!rate) throw new Error("data before fmt");
      if (size === 0xffffffff || o + 8 + size > bytes.length) {
        size = bytes.length - o - 8;
      }
      const n = size >> 1;
      const samples = new Int16Array(n);
      for (let i = 0; i < n; i++) {
        samples[i] = view.getInt16(o + 8 + 2 * i, true);
      }
      return { sampleRate: rate, samples };
    }
    o += 8 + size + (size & 1);
  }
  throw new Error("no data chunk");
}

/** espeak-ng speech at 24 kHz (linear interpolation from its 22050 Hz). */
async function espeak(text: string): Promise<Uint8Array> {
  const out = await new Deno.Command("espeak-ng", {
    args: ["--stdout", text],
    stdout: "piped",
    stderr: "null",
  }).output();
  if (!out.success) throw new Error("espeak-ng failed");
  const { sampleRate, samples } = parsePcm16Wav(out.stdout);
  const n = Math.floor(samples.length * 24000 / sampleRate);
  const pcm = new Uint8Array(n * 2);
  const view = new DataView(pcm.buffer);
  for (let i = 0; i < n; i++) {
    const t = i * sampleRate / 24000;
    const k = Math.floor(t);
    const f = t - k;
    const a = samples[k] ?? 0;
    const b = samples[k + 1] ?? a;
    view.setInt16(i * 2, Math.round(a + (b - a) * f), true);
  }
  return pcm;
}

function wavStreamHeader(rate: number): Uint8Array {
  const h = new Uint8Array(44);
  const v = new DataView(h.buffer);
  const s = (o: number, t: string) => {
    for (let i = 0; i < 4; i++) h[o + i] = t.charCodeAt(i);
  };
  s(0, "RIFF");
  v.setUint32(4, 0xffffffff, true);
  s(8, "WAVE");
  s(12, "fmt ");
  v.setUint32(16, 16, true);
  v.setUint16(20, 1, true);
  v.setUint16(22, 1, true);
  v.setUint32(24, rate, true);
  v.setUint32(28, rate * 2, true);
  v.setUint16(32, 2, true);
  v.setUint16(34, 16, true);
  s(36, "data");
  v.setUint32(40, 0xffffffff, true);
  return h;
}

/** Starts the server on a random loopback port. */
export function startOpenAiServer(
  options: OpenAiServerOptions = {},
): OpenAiTestServer {
  const speech: SpeechRequestRecord[] = [];
  const transcriptions: TranscriptionRecord[] = [];
  const chats: ChatRecord[] = [];
  const pending = new Set<Promise<unknown>>();

  function authorized(req: Request): boolean {
    if (!options.apiKey) return true;
    return req.headers.get("authorization") === `Bearer ${options.apiKey}`;
  }
  const unauthorized = () =>
    errorResponse(
      401,
      "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
    );

  async function audioSpeech(req: Request): Promise<Response> {
    const state = { responded: false };
    const response = await speechResponse(req, state);
    state.responded = true;
    return response;
  }

  async function speechResponse(
    req: Request,
    state: { responded: boolean },
  ): Promise<Response> {
    const body = await req.json().catch(() => null);
    const record: SpeechRequestRecord = {
      body: body ?? {},
      authorization: req.headers.get("authorization"),
      bytesSent: 0,
      bytesTotal: 0,
      finishedAt: 0,
      cancelled: false,
    };
    const index = speech.push(record) - 1;
    // The client going away before the answer ends. (Deno.serve's legacy
    // request.signal also aborts after a complete response: ignore that.)
    let streaming = false;
    req.signal.addEventListener("abort", () => {
      if (!state.responded || (streaming && !record.finishedAt)) {
        record.cancelled = true;
      }
    });
    const b: SpeechBehaviour = {
      ...options.speechDefault,
      ...options.speechScript?.[index],
    };
    await sleep(b.firstByteDelayMs ?? 0, req.signal);
    if (!authorized(req)) return unauthorized();
    if (b.status) {
      return errorResponse(
        b.status,
        b.message ?? "The server had an error while processing your request.",
        b.retryAfter ? { "retry-after": b.retryAfter } : {},
      );
    }
    if (!body || typeof body.input !== "string" || !body.model || !body.voice) {
      return errorResponse(400, "model, input and voice are required");
    }
    if (options.speechModels && !options.speechModels.includes(body.model)) {
      return errorResponse(404, `The model '${body.model}' does not exist`);
    }
    if (b.wrongContentType) {
      return new Response("<html><body>Welcome to nginx!</body></html>", {
        headers: { "content-type": b.wrongContentType },
      });
    }
    const format = body.response_format ?? "mp3";
    if (format !== "pcm" && format !== "wav") {
      return errorResponse(400, `response_format ${format} not supported here`);
    }
    const pcm = options.synth === "espeak"
      ? await espeak(body.input)
      : tone(b.samples ?? Math.round(body.input.length * 0.06 * 24000));
    const audio = format === "wav"
      ? new Uint8Array([...wavStreamHeader(24000), ...pcm])
      : pcm;
    record.bytesTotal = audio.length;
    const chunk = b.chunkBytes ?? 4801;
    const delay = b.chunkDelayMs ?? 5;
    let offset = 0;
    const stream = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (offset > 0) await sleep(delay);
        if (record.cancelled) return;
        let end = Math.min(audio.length, offset + chunk);
        if (b.disconnectAfterBytes !== undefined) {
          if (offset >= b.disconnectAfterBytes) {
            controller.error(new Error("simulated disconnect"));
            return;
          }
          end = Math.min(end, b.disconnectAfterBytes);
        }
        controller.enqueue(audio.slice(offset, end));
        record.bytesSent = end;
        offset = end;
        if (offset >= audio.length) {
          record.finishedAt = performance.now();
          controller.close();
        }
      },
      cancel() {
        record.cancelled = true;
      },
    });
    streaming = true;
    return new Response(stream, {
      headers: { "content-type": format === "wav" ? "audio/wav" : "audio/pcm" },
    });
  }

  async function transcription(req: Request): Promise<Response> {
    const index = transcriptions.length;
    const b: SpeechBehaviour = options.transcriptionScript?.[index] ?? {};
    let form: FormData;
    try {
      form = await req.formData();
    } catch (e) {
      return errorResponse(400, `expected multipart/form-data: ${e}`);
    }
    const file = form.get("file");
    if (!(file instanceof File)) {
      return errorResponse(400, "file is required (a multipart file part)");
    }
    let wav: { sampleRate: number; samples: Int16Array };
    try {
      wav = parsePcm16Wav(new Uint8Array(await file.arrayBuffer()));
    } catch (e) {
      return errorResponse(400, `Invalid file format: ${(e as Error).message}`);
    }
    let sum = 0;
    for (const s of wav.samples) sum += (s / 32768) ** 2;
    const rms = Math.sqrt(sum / Math.max(1, wav.samples.length));
    const record: TranscriptionRecord = {
      model: form.get("model") as string | null,
      language: form.get("language") as string | null,
      prompt: form.get("prompt") as string | null,
      responseFormat: form.get("response_format") as string | null,
      fileName: file.name,
      fileType: file.type,
      sampleRate: wav.sampleRate,
      samples: wav.samples.length,
      rms,
      authorization: req.headers.get("authorization"),
    };
    transcriptions.push(record);
    await sleep(b.firstByteDelayMs ?? 0, req.signal);
    if (!authorized(req)) return unauthorized();
    if (b.status) {
      return errorResponse(
        b.status,
        b.message ?? "server error",
        b.retryAfter ? { "retry-after": b.retryAfter } : {},
      );
    }
    if (!record.model) return errorResponse(400, "model is required");
    if (
      rms < (options.minRms ?? 0.01) ||
      wav.samples.length < 0.2 * wav.sampleRate
    ) {
      return errorResponse(
        400,
        `audio is silent or too short (rms ${
          rms.toFixed(4)
        }, ${wav.samples.length} samples)`,
      );
    }
    const text = options.transcripts?.[index] ?? "hello";
    return Response.json({ text });
  }

  async function chat(req: Request): Promise<Response> {
    if (!authorized(req)) return unauthorized();
    const body = await req.json().catch(() => null);
    if (!body || !Array.isArray(body.messages) || !body.model) {
      return errorResponse(400, "model and messages are required");
    }
    const record: ChatRecord = {
      model: body.model,
      messages: body.messages,
      stream: body.stream === true,
      authorization: req.headers.get("authorization"),
      deltasSent: 0,
      cancelled: false,
    };
    const index = chats.push(record) - 1;
    let done = false;
    req.signal.addEventListener("abort", () => {
      if (!done) record.cancelled = true;
    });
    const text = options.replies?.[index] ?? "Okay.";
    const id = `chatcmpl-${index}`;
    const created = Math.floor(Date.now() / 1000);
    if (body.stream !== true) {
      done = true;
      return Response.json({
        id,
        object: "chat.completion",
        created,
        model: body.model,
        choices: [{
          index: 0,
          message: { role: "assistant", content: text },
          finish_reason: "stop",
        }],
      });
    }
    const pieces = text.match(/\S+\s*/g) ?? [];
    const delay = options.tokenDelayMs ?? 10;
    const chunk = (delta: Record<string, string>, finish: string | null) =>
      encoder.encode(
        `data: ${
          JSON.stringify({
            id,
            object: "chat.completion.chunk",
            created,
            model: body.model,
            choices: [{ index: 0, delta, finish_reason: finish }],
          })
        }\n\n`,
      );
    const stream = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(chunk({ role: "assistant", content: "" }, null));
        for (const p of pieces) {
          await sleep(delay, req.signal);
          if (req.signal.aborted) return;
          controller.enqueue(chunk({ content: p }, null));
          record.deltasSent++;
        }
        done = true;
        controller.enqueue(chunk({}, "stop"));
        controller.enqueue(encoder.encode("data: [DONE]\n\n"));
        controller.close();
      },
      cancel() {
        if (!done) record.cancelled = true;
      },
    });
    return new Response(stream, {
      headers: {
        "content-type": "text/event-stream",
        "cache-control": "no-cache",
      },
    });
  }

  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen: () => {} },
    (req) => {
      const path = new URL(req.url).pathname;
      let work: Promise<Response>;
      if (req.method === "POST" && path === "/v1/audio/speech") {
        work = audioSpeech(req);
      } else if (req.method === "POST" && path === "/v1/audio/transcriptions") {
        work = transcription(req);
      } else if (req.method === "POST" && path === "/v1/chat/completions") {
        work = chat(req);
      } else {
        return errorResponse(404, `Invalid URL (${req.method} ${path})`);
      }
      pending.add(work);
      work.finally(() => pending.delete(work)).catch(() => {});
      return work;
    },
  );
  return {
    baseUrl: `http://127.0.0.1:${server.addr.port}/v1`,
    speech,
    transcriptions,
    chats,
    async close() {
      await Promise.allSettled([...pending]);
      await server.shutdown();
    },
  };
}
