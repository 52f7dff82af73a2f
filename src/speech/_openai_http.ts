// HTTP plumbing shared by the OpenAI-compatible speech clients
// (openai_tts.ts, openai_stt.ts): endpoint and key resolution, permission-safe
// environment reads, one attempt's abort/idle timer, retry classification with
// exponential backoff, and errors that say what failed and what to do.
// Private to the speech layer, except SpeechApiError (re-exported by mod.ts).

import { errorText } from "../_internal/errors.ts";
import { currentCallSignal } from "../_internal/call_scope.ts";
import { env } from "../_internal/permissions.ts";

/** OpenAI's API root, the default `baseUrl`. */
export const OPENAI_BASE_URL = "https://api.openai.com/v1";

/**
 * What kind of failure a {@linkcode SpeechApiError} reports:
 * - `"http"`: the server answered with an error status (see `status`);
 * - `"network"`: the server could not be reached;
 * - `"timeout"`: no response (or no progress) within `timeoutMs`;
 * - `"disconnect"`: an audio stream broke after it had started;
 * - `"response"`: the answer was not what the API defines (not audio, not
 *   JSON with `text`, an unsupported WAV).
 *
 * @example
 * ```ts
 * import type { SpeechApiErrorKind } from "@parley/parley/speech";
 * const kind: SpeechApiErrorKind = "timeout";
 * ```
 */
export type SpeechApiErrorKind =
  | "http"
  | "network"
  | "timeout"
  | "disconnect"
  | "response";

/**
 * A request to an HTTP speech service (OpenAI-compatible TTS or STT) failed.
 * The message names the URL, what happened and what to do about it.
 *
 * @example Tell a bad key from a server that is down
 * ```ts
 * import { SpeechApiError } from "@parley/parley/speech";
 * function explain(e: unknown): string {
 *   if (e instanceof SpeechApiError && e.status === 401) return "bad key";
 *   if (e instanceof SpeechApiError && e.kind === "network") return "server down";
 *   return "other";
 * }
 * ```
 */
export class SpeechApiError extends Error {
  /** What kind of failure. */
  readonly kind: SpeechApiErrorKind;
  /** The URL requested. */
  readonly url: string;
  /** The HTTP status, for `kind: "http"`. */
  readonly status?: number;
  /** How many attempts were made (retries included). */
  readonly attempts: number;

  /**
   * Makes the error.
   *
   * @param message What went wrong and what to do.
   * @param details Kind, URL, status, attempts and the cause.
   */
  constructor(
    message: string,
    details: {
      kind: SpeechApiErrorKind;
      url: string;
      status?: number;
      attempts?: number;
      cause?: unknown;
    },
  ) {
    super(
      message,
      details.cause === undefined ? undefined : { cause: details.cause },
    );
    this.name = "SpeechApiError";
    this.kind = details.kind;
    this.url = details.url;
    this.status = details.status;
    this.attempts = details.attempts ?? 1;
  }
}

/** Reads an environment variable without prompting or throwing without `--allow-env`. */
export const envValue: (name: string) => string | undefined = env;

/** The current reply's signal (barge-in, hang-up), or undefined outside a handler. */
export function contextSignal(): AbortSignal | undefined {
  return currentCallSignal();
}

/** Connection options both clients accept. */
export interface HttpOptions {
  baseUrl?: string;
  apiKey?: string;
  timeoutMs?: number;
  retries?: number;
  retryDelayMs?: number;
  headers?: HeadersInit;
  fetch?: typeof fetch;
}

/** A resolved endpoint: URL, headers and retry policy. */
export interface Endpoint {
  url: string;
  baseUrl: string;
  headers: Headers;
  hasKey: boolean;
  timeoutMs: number;
  retries: number;
  retryDelayMs: number;
  fetch: typeof fetch;
  /** "the TTS server" / "the STT server", for messages (lower case). */
  what: string;
}

function checkNonNegative(value: number, name: string, owner: string): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new RangeError(
      `${owner}: ${name} must be a finite number ≥ 0, got ${String(value)}`,
    );
  }
  return value;
}

/**
 * Resolves `baseUrl` (option, else `OPENAI_BASE_URL`, else OpenAI's) and the
 * key (option, else `OPENAI_API_KEY` — but only when `baseUrl` was not
 * given, so a key meant for one server never goes to another you named).
 */
export function resolveEndpoint(
  options: HttpOptions,
  path: string,
  defaults: { timeoutMs: number; owner: string; what: string },
): Endpoint {
  const { owner } = defaults;
  const explicitBase = options.baseUrl !== undefined;
  const rawBase = options.baseUrl ?? envValue("OPENAI_BASE_URL") ??
    OPENAI_BASE_URL;
  let base: URL;
  try {
    base = new URL(rawBase);
  } catch {
    throw new TypeError(
      `${owner}: baseUrl ${
        JSON.stringify(rawBase)
      } is not a URL; use the API root, e.g. "http://localhost:8880/v1"`,
    );
  }
  if (base.protocol !== "http:" && base.protocol !== "https:") {
    throw new TypeError(
      `${owner}: baseUrl ${
        JSON.stringify(rawBase)
      } must start with http:// or https://`,
    );
  }
  const baseUrl = base.href.replace(/\/+$/, "");
  const apiKey = options.apiKey ??
    (explicitBase ? undefined : envValue("OPENAI_API_KEY"));
  const headers = new Headers(options.headers);
  if (apiKey) headers.set("authorization", `Bearer ${apiKey}`);
  return {
    url: `${baseUrl}${path}`,
    baseUrl,
    headers,
    hasKey: !!apiKey,
    timeoutMs: checkNonNegative(
      options.timeoutMs ?? defaults.timeoutMs,
      "timeoutMs",
      owner,
    ),
    retries: Math.floor(
      checkNonNegative(options.retries ?? 2, "retries", owner),
    ),
    retryDelayMs: checkNonNegative(
      options.retryDelayMs ?? 250,
      "retryDelayMs",
      owner,
    ),
    fetch: options.fetch ?? globalThis.fetch,
    what: defaults.what,
  };
}

/**
 * One HTTP attempt: its own abort controller (ended by the caller's signal,
 * by the idle timer, or by `end()`), and a timer re-armed by `touch()` that
 * fires when nothing arrives for `timeoutMs` (0 turns it off).
 */
export class Attempt {
  #controller = new AbortController();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timeoutMs: number;
  #timedOut = false;
  /** The signal to give fetch. */
  readonly signal: AbortSignal;

  constructor(caller: AbortSignal | undefined, timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
    this.signal = caller
      ? AbortSignal.any([caller, this.#controller.signal])
      : this.#controller.signal;
    this.touch();
  }

  /** True once the idle timer has aborted this attempt. */
  get timedOut(): boolean {
    return this.#timedOut;
  }

  /** Progress was made: restart the idle timer. */
  touch(): void {
    if (this.#timeoutMs <= 0 || this.#controller.signal.aborted) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timedOut = true;
      this.#controller.abort(
        new DOMException("speech request timed out", "TimeoutError"),
      );
    }, this.#timeoutMs);
  }

  /** Stops the timer and cancels the request if it is still open. */
  end(): void {
    clearTimeout(this.#timer);
    this.#controller.abort(
      new DOMException("speech request finished", "AbortError"),
    );
  }
}

/** Whether an error is worth another attempt (network, timeout, 429, 5xx). */
export function isRetryable(error: SpeechApiError): boolean {
  if (error.kind === "network" || error.kind === "timeout") return true;
  if (error.kind !== "http" || error.status === undefined) return false;
  return error.status === 429 || error.status >= 500;
}

/**
 * Waits before attempt `next` (1-based count of retries so far):
 * `retryDelayMs × 2^(next−1)` with ±20 % jitter, or the server's
 * `Retry-After` (seconds) when it asks for longer, capped at 30 s.
 * Rejects with the caller's reason if it aborts meanwhile.
 */
export function backoff(
  endpoint: Endpoint,
  next: number,
  retryAfter: string | null | undefined,
  signal: AbortSignal | undefined,
): Promise<void> {
  let ms = endpoint.retryDelayMs * 2 ** (next - 1) *
    (0.8 + 0.4 * Math.random());
  const asked = retryAfter ? Number(retryAfter) * 1000 : NaN;
  if (Number.isFinite(asked) && asked > ms) ms = asked;
  ms = Math.min(ms, 30_000);
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** The server's own error text: OpenAI's `{"error":{"message"}}`, or the body. */
function serverMessage(body: string): string {
  try {
    const json = JSON.parse(body);
    const m = json?.error?.message ?? json?.detail?.message ?? json?.message ??
      (typeof json?.detail === "string" ? json.detail : undefined) ??
      (typeof json?.error === "string" ? json.error : undefined);
    if (typeof m === "string" && m) return m.slice(0, 300);
  } catch {
    // Not JSON: use the text.
  }
  const text = body.replace(/\s+/g, " ").trim();
  return text.slice(0, 300);
}

/**
 * Turns an error status into a SpeechApiError whose message says what to
 * do; `subject` describes what was asked for (model, voice) for 400/404/422.
 */
export async function httpError(
  endpoint: Endpoint,
  response: Response,
  subject: string,
  attempts: number,
): Promise<SpeechApiError> {
  const body = await response.text().catch(() => "");
  const said = serverMessage(body);
  const status = `${response.status}${
    response.statusText ? ` ${response.statusText}` : ""
  }`;
  const head = `${cap(endpoint.what)} at ${endpoint.url} answered ${status}${
    said ? `: ${JSON.stringify(said)}` : ""
  }`;
  let advice: string;
  const s = response.status;
  if (s === 401 || s === 403) {
    advice = endpoint.hasKey
      ? "check the API key (the apiKey option, or OPENAI_API_KEY when baseUrl is not set) and that it may use this model"
      : "no API key was sent: pass apiKey (or set OPENAI_API_KEY and leave baseUrl unset)";
  } else if (s === 404) {
    advice = `the server does not know ${subject}, or baseUrl ` +
      `(${endpoint.baseUrl}) is not the API root (it usually ends in /v1)`;
  } else if (s === 400 || s === 422) {
    advice =
      `check ${subject} and the other options against what this server supports`;
  } else if (s === 429) {
    advice = `rate limited${
      attempts > 1 ? ` after ${attempts} attempts` : ""
    }: slow down, raise retries, or check your quota`;
  } else if (s >= 500) {
    advice = `the server failed${
      attempts > 1 ? ` on all ${attempts} attempts` : ""
    }: try again later or check its logs`;
  } else {
    advice = "check baseUrl and the request options";
  }
  return new SpeechApiError(`${head}; ${advice}`, {
    kind: "http",
    url: endpoint.url,
    status: s,
    attempts,
  });
}

/** An error thrown while fetching or reading: caller abort, timeout or network. */
export function transportError(
  endpoint: Endpoint,
  attempt: Attempt,
  error: unknown,
  attempts: number,
  phase: "connect" | "read",
): SpeechApiError {
  if (error instanceof SpeechApiError) return error;
  const detail = errorDetail(error);
  if (attempt.timedOut) {
    return new SpeechApiError(
      `${
        cap(endpoint.what)
      } at ${endpoint.url} sent nothing for ${endpoint.timeoutMs} ms ` +
        `(${
          phase === "connect" ? "waiting for the response" : "while reading it"
        }, attempt ${attempts}); check that it is up and not overloaded, or raise timeoutMs`,
      { kind: "timeout", url: endpoint.url, attempts, cause: error },
    );
  }
  if (phase === "connect") {
    return new SpeechApiError(
      `Could not reach ${endpoint.what} at ${endpoint.url} (${detail}); ` +
        `check that it is running and that baseUrl (${endpoint.baseUrl}) is right`,
      { kind: "network", url: endpoint.url, attempts, cause: error },
    );
  }
  return new SpeechApiError(
    `The connection to ${endpoint.what} at ${endpoint.url} broke while reading the answer (${detail})`,
    { kind: "network", url: endpoint.url, attempts, cause: error },
  );
}

/** The most specific text of a fetch error ("tcp connect error: Connection refused …"). */
export function errorDetail(error: unknown): string {
  let text = errorText(error);
  const cause = error instanceof Error ? error.cause : undefined;
  if (cause instanceof Error && cause.message) text = cause.message;
  return text.replace(/^error sending request for url \([^)]*\): /, "")
    .replace(/^client error \(\w+\): /, "");
}

/** The sentence-initial form of `what`. */
export function cap(what: string): string {
  return what.charAt(0).toUpperCase() + what.slice(1);
}

/** First bytes of a response body as text, for "not audio / not JSON" messages. */
export async function bodySnippet(response: Response): Promise<string> {
  const text = await response.text().catch(() => "");
  return serverMessage(text).slice(0, 200);
}
