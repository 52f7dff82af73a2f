/**
 * The shared part of Parley's carrier-side call clients: the socket, the
 * caller's 20 ms frame clock, a phone-like playout model of what the bot
 * sends, and the record of everything that happened on the call.
 *
 * A client plays the carrier (Twilio, Telnyx, …) talking to a bot: it sends
 * the carrier's start message and caller audio, and answers marks and
 * checkpoints when the audio before them has "played" on its playout clock,
 * the way the carrier's media server does. A `clear` drops the audio that
 * had not played yet. {@linkcode CallClient.timeline} renders what a caller
 * would have heard.
 *
 * @module
 */

import { fromBase64, isObject, preview } from "./_wire.ts";

/**
 * The protocols a call client can speak.
 *
 * @example
 * ```ts
 * import type { Carrier } from "@parley/parley/testing";
 * const carrier: Carrier = "telnyx";
 * ```
 */
export type Carrier =
  | "twilio"
  | "telnyx"
  | "plivo"
  | "vonage"
  | "exotel"
  | "signalwire"
  | "websocket";

/**
 * Every {@linkcode Carrier}, in the order the CLI lists them.
 *
 * @example
 * ```ts
 * import { CARRIERS } from "@parley/parley/testing";
 * console.log(CARRIERS.includes("vonage")); // true
 * ```
 */
export const CARRIERS: readonly Carrier[] = Object.freeze(
  [
    "twilio",
    "telnyx",
    "plivo",
    "vonage",
    "exotel",
    "signalwire",
    "websocket",
  ] as const,
);

/**
 * How a client plays the audio it receives.
 *
 * @example
 * ```ts
 * import type { Playback } from "@parley/parley/testing";
 * const playback: Playback = "instant"; // marks answered on arrival
 * ```
 */
export type Playback = "realtime" | "instant";

/**
 * Options every client's `connect` takes.
 *
 * @example
 * ```ts
 * import type { CallClientOptions } from "@parley/parley/testing";
 * const options: CallClientOptions = {
 *   headers: { "x-api-key": "test" },
 *   playback: "realtime",
 *   connectTimeoutMs: 5000,
 * };
 * ```
 */
export interface CallClientOptions {
  /** Extra headers on the WebSocket upgrade (Deno's `WebSocket` option). */
  headers?: HeadersInit;
  /**
   * `"realtime"` (default): received audio plays on a clock like a phone,
   * marks are answered when the audio before them has played, and a clear
   * drops what has not played. `"instant"`: everything "plays" on arrival.
   */
  playback?: Playback;
  /** Milliseconds to wait for the upgrade (default 10000). */
  connectTimeoutMs?: number;
}

/**
 * One audio message the bot sent.
 *
 * @example
 * ```ts
 * import type { CallClient, ReceivedAudio } from "@parley/parley/testing";
 * export function heardMs(call: CallClient): number {
 *   return call.audio.reduce((ms: number, a: ReceivedAudio) => ms + a.kept * 1000 / call.outputRate, 0);
 * }
 * ```
 */
export interface ReceivedAudio {
  /** Arrival, in ms since the socket opened. */
  at: number;
  /** When it starts playing on the playout clock, in ms since the socket opened. */
  playAt: number;
  /** The samples, at {@linkcode CallClient.outputRate}. */
  samples: Int16Array;
  /** How many of the samples played before a clear cut them (all, if none did). */
  kept: number;
}

/**
 * One clear (barge-in flush) the bot sent.
 *
 * @example
 * ```ts
 * import type { CallClient, ReceivedClear } from "@parley/parley/testing";
 * export function droppedMs(call: CallClient): number {
 *   return call.clears.reduce((ms: number, c: ReceivedClear) => ms + c.flushedMs, 0);
 * }
 * ```
 */
export interface ReceivedClear {
  /** Arrival, in ms since the socket opened. */
  at: number;
  /** Arrival of the last audio message before it, or null if there was none. */
  lastAudioAt: number | null;
  /** Milliseconds of received audio that had not played yet and was dropped. */
  flushedMs: number;
}

/**
 * One mark (checkpoint, notify) the bot sent.
 *
 * @example
 * ```ts
 * import type { CallClient, ReceivedMark } from "@parley/parley/testing";
 * export function unanswered(call: CallClient): ReceivedMark[] {
 *   return call.marks.filter((m) => m.answeredAt === null);
 * }
 * ```
 */
export interface ReceivedMark {
  /** The mark's name (Vonage: its payload as JSON). */
  name: string;
  /** Arrival, in ms since the socket opened. */
  at: number;
  /** When the client answered it, or null if it was not (yet) answered. */
  answeredAt: number | null;
}

/**
 * Something the bot sent that the carrier would not accept.
 *
 * @example
 * ```ts
 * import type { CallClient, ProtocolProblem } from "@parley/parley/testing";
 * export function errors(call: CallClient): ProtocolProblem[] {
 *   return call.problems.filter((p) => p.kind === "error");
 * }
 * ```
 */
export interface ProtocolProblem {
  /** When, in ms since the socket opened. */
  at: number;
  /** `error`: malformed or wrong; `unknown`: a message the carrier does not define. */
  kind: "error" | "unknown";
  /** What was wrong. */
  message: string;
}

/**
 * A connection that could not be opened, with what to do about it.
 *
 * @example
 * ```ts
 * import { CallConnectError, TwilioCallClient } from "@parley/parley/testing";
 * export async function tryCall(url: string): Promise<string> {
 *   try {
 *     await (await TwilioCallClient.connect(url)).hangUp();
 *     return "ok";
 *   } catch (e) {
 *     if (e instanceof CallConnectError && e.status === 403) return "needs a signature";
 *     throw e;
 *   }
 * }
 * ```
 */
export class CallConnectError extends Error {
  /** The HTTP status of a refused upgrade, if the server answered. */
  readonly status: number | null;
  /** The body of the refusal (the server's reason), if any. */
  readonly body: string;

  /**
   * Makes the error.
   *
   * @example
   * ```ts
   * import { CallConnectError } from "@parley/parley/testing";
   * const e = new CallConnectError("upgrade refused", 403, "Invalid X-Twilio-Signature");
   * console.log(e.status); // 403
   * ```
   *
   * @param message What went wrong and what to do.
   * @param status The HTTP status, if any.
   * @param body The response body, if any.
   */
  constructor(message: string, status: number | null = null, body = "") {
    super(message);
    this.name = "CallConnectError";
    this.status = status;
    this.body = body;
  }
}

/** What the upgrade needs per carrier when it is refused with 401/403. */
const AUTH_HINTS: Record<Carrier, string> = {
  twilio: "the bot checks X-Twilio-Signature on the upgrade: pass the " +
    "account's auth token (`authToken`, CLI `--auth-token TOKEN`) so the " +
    "client signs the URL the way Twilio does",
  signalwire: "the bot checks `Authorization: Bearer <authBearerToken>` (or " +
    "X-SignalWire-Signature) on the upgrade: pass the token with " +
    "`authToken` (CLI `--auth-token TOKEN`)",
  telnyx: "the bot checks the x-telnyx-streaming-auth-token header: pass " +
    "the stream's token with `authToken` (CLI `--auth-token TOKEN`)",
  exotel: "the bot checks HTTP Basic credentials, which Exotel sends from " +
    "the stream URL: put them in the URL, ws://KEY:TOKEN@host/…",
  plivo: "the bot checks a signature or token on the upgrade: send the " +
    "header it wants with `headers` (CLI `--header 'Name: value'`)",
  vonage: "the bot checks a token on the upgrade (Vonage can send an " +
    "Authorization header from the NCCO endpoint): send it with `headers` " +
    "(CLI `--header 'Authorization: Bearer …'`)",
  websocket: "the bot refused the browser protocol's upgrade: send the " +
    "header it wants with `headers` (CLI `--header 'Name: value'`)",
};

/**
 * The socket path Parley serves each carrier on.
 *
 * @example
 * ```ts
 * import { CARRIER_PATHS } from "@parley/parley/testing";
 * console.log(CARRIER_PATHS.twilio, CARRIER_PATHS.plivo); // /telephone/handler /telephone/plivo/handler
 * ```
 */
export const CARRIER_PATHS: Readonly<Record<Carrier, string>> = Object.freeze({
  twilio: "/telephone/handler",
  telnyx: "/telephone/telnyx/handler",
  plivo: "/telephone/plivo/handler",
  vonage: "/telephone/vonage/handler",
  exotel: "/telephone/exotel/handler",
  signalwire: "/telephone/signalwire/handler",
  websocket: "/websocket/offer",
});

/**
 * Opens a WebSocket as `carrier`'s media server would, with errors that say
 * what went wrong: a URL that is not `ws://`/`wss://`, nothing listening,
 * an upgrade refused (the status, the server's reason and, for 401/403,
 * which header the carrier would have sent). Credentials in the URL
 * (`ws://KEY:TOKEN@host/…`, as Exotel takes them) become an
 * `Authorization: Basic` header.
 *
 * @example
 * ```ts
 * import { CallConnectError, openCarrierSocket } from "@parley/parley/testing";
 * export async function reachable(url: string): Promise<boolean> {
 *   try {
 *     const socket = await openCarrierSocket(url, { carrier: "twilio" });
 *     socket.close();
 *     return true;
 *   } catch (e) {
 *     if (e instanceof CallConnectError) console.error(e.message);
 *     return false;
 *   }
 * }
 * ```
 *
 * @param url The bot's socket URL.
 * @param options The carrier (for hints), headers and timeout.
 * @returns The open socket.
 * @throws {CallConnectError} If the socket could not be opened.
 */
export async function openCarrierSocket(
  url: string,
  options: { carrier: Carrier; headers?: HeadersInit; timeoutMs?: number },
): Promise<WebSocket> {
  const target = checkSocketUrl(url, options.carrier);
  const headers = new Headers(options.headers);
  if (target.username) {
    const user = decodeURIComponent(target.username);
    const pass = decodeURIComponent(target.password);
    if (!headers.has("authorization")) {
      headers.set("authorization", `Basic ${btoa(`${user}:${pass}`)}`);
    }
    target.username = "";
    target.password = "";
  }
  const href = target.href;
  const socket = new WebSocket(href, { headers });
  socket.binaryType = "arraybuffer";
  const timeoutMs = options.timeoutMs ?? 10_000;
  const failure = await new Promise<string | null>((resolve) => {
    const timer = setTimeout(() => {
      resolve(`no answer to the upgrade within ${timeoutMs} ms`);
    }, timeoutMs);
    socket.onopen = () => {
      clearTimeout(timer);
      resolve(null);
    };
    socket.onerror = (e) => {
      clearTimeout(timer);
      resolve((e as ErrorEvent).message ?? "connection failed");
    };
  });
  socket.onopen = null;
  socket.onerror = null;
  if (failure === null) return socket;
  try {
    socket.close();
  } catch {
    // Never opened.
  }
  const status = /status code:? (\d{3})/i.exec(failure);
  if (!status) {
    const where = `${target.hostname}:${
      target.port || (target.protocol === "wss:" ? 443 : 80)
    }`;
    throw new CallConnectError(
      /tcp connect|refused|dns|resolve/i.test(failure)
        ? `Could not connect to ${where}: nothing accepted the connection ` +
          `(${failure}). Is the bot running, and is the host and port right?`
        : `Could not open ${href}: ${failure}`,
    );
  }
  const code = Number(status[1]);
  const body = await refusalBody(href, headers);
  const reason = body ? `: ${preview(body.trim(), 200)}` : "";
  let hint: string;
  if (code === 401 || code === 403) {
    hint = AUTH_HINTS[options.carrier];
  } else if (code === 404) {
    const expected = CARRIER_PATHS[options.carrier];
    hint = target.pathname.replace(/\/+$/, "").endsWith(expected)
      ? `this server has no ${options.carrier} route: it serves other ` +
        "carriers only, or a Parley version without this carrier (Twilio " +
        "is at /telephone/handler, the browser protocol at /websocket/offer)"
      : `no route at ${target.pathname}; Parley serves ` +
        `${options.carrier} at ${expected}` +
        (options.carrier === "twilio"
          ? " (other carriers at /telephone/<carrier>/handler)"
          : "");
  } else if (code === 426 || code === 400) {
    hint = "the server did not accept a WebSocket upgrade at this path";
  } else {
    hint = "the server refused the call; see its logs";
  }
  throw new CallConnectError(
    `The bot refused the WebSocket upgrade at ${href} with HTTP ${code}` +
      `${reason}. ${hint[0].toUpperCase()}${hint.slice(1)}.`,
    code,
    body,
  );
}

/**
 * Checks that `url` can be a carrier's socket URL (`ws://` or `wss://`) and
 * returns it parsed; an `http(s)://` webhook URL gets the socket URL to use
 * instead.
 *
 * @example
 * ```ts
 * import { checkSocketUrl } from "@parley/parley/testing";
 * try {
 *   checkSocketUrl("http://127.0.0.1:8000/telephone/incoming", "twilio");
 * } catch (e) {
 *   console.log((e as Error).message); // … use ws://127.0.0.1:8000/telephone/handler …
 * }
 * ```
 *
 * @param url The URL to check.
 * @param carrier The carrier, for the example in the error.
 * @returns The parsed URL.
 * @throws {CallConnectError} If it is not a WebSocket URL.
 */
export function checkSocketUrl(url: string, carrier: Carrier): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new CallConnectError(
      `${JSON.stringify(url)} is not a URL; give the bot's socket, e.g. ` +
        `ws://127.0.0.1:8000${CARRIER_PATHS[carrier]}`,
    );
  }
  if (parsed.protocol === "http:" || parsed.protocol === "https:") {
    const ws = parsed.protocol === "http:" ? "ws:" : "wss:";
    const path = parsed.pathname.endsWith("/incoming")
      ? parsed.pathname.replace(/\/incoming$/, "/handler")
      : parsed.pathname;
    throw new CallConnectError(
      `${url} is an HTTP URL; the call goes over a WebSocket: use ` +
        `${ws}//${parsed.host}${path}` +
        (path === parsed.pathname ? "" : " (the socket, not the webhook)"),
    );
  }
  if (parsed.protocol !== "ws:" && parsed.protocol !== "wss:") {
    throw new CallConnectError(
      `${url} has the scheme ${parsed.protocol}; use ws:// or wss://`,
    );
  }
  return parsed;
}

/** Asks again over plain HTTP to read the reason of a refused upgrade. */
async function refusalBody(href: string, headers: Headers): Promise<string> {
  const url = href.replace(/^ws/, "http");
  const probe = new Headers(headers);
  probe.set("upgrade", "websocket");
  probe.set("connection", "Upgrade");
  probe.set("sec-websocket-version", "13");
  probe.set(
    "sec-websocket-key",
    btoa(String.fromCharCode(...new Uint8Array(16))),
  );
  try {
    const response = await fetch(url, {
      headers: probe,
      signal: AbortSignal.timeout(2000),
    });
    const text = await response.text();
    return text.slice(0, 500);
  } catch {
    return "";
  }
}

/**
 * Options of {@linkcode CallClient.play}.
 *
 * @example
 * ```ts
 * import type { CallClient, PlayOptions } from "@parley/parley/testing";
 * export async function burst(call: CallClient, pcm: Int16Array): Promise<void> {
 *   const options: PlayOptions = { realtime: false, frameMs: 20 };
 *   await call.play(pcm, options);
 * }
 * ```
 */
export interface PlayOptions {
  /** Send one frame every `frameMs` like a phone (default true); false sends as fast as possible. */
  realtime?: boolean;
  /** Frame length in ms (default 20). */
  frameMs?: number;
  /** Stops playing when aborted. */
  signal?: AbortSignal;
}

interface PendingMark {
  mark: ReceivedMark;
  answer: () => void;
  timer: ReturnType<typeof setTimeout> | null;
}

/**
 * Base of the carrier-side clients. Subclasses encode the carrier's
 * messages; this class owns the socket, the playout clock and the record.
 * Times are milliseconds since the socket opened.
 *
 * @example Play a second of silence to a Twilio bot and hang up
 * ```ts
 * import { type CallClient, TwilioCallClient } from "@parley/parley/testing";
 * export async function sayNothing(url: string): Promise<CallClient> {
 *   const call = await TwilioCallClient.connect(url);
 *   await call.play(new Int16Array(8000)); // 1 s of silence in 20 ms frames
 *   await call.hangUp();
 *   console.log(call.audio.length, call.marks, call.clears, call.problems);
 *   return call;
 * }
 * ```
 */
export abstract class CallClient {
  /** The protocol this client speaks. */
  abstract readonly carrier: Carrier;
  /** Rate of the caller audio this client sends, in Hz. */
  readonly inputRate: number;
  /** Audio the bot sent, in arrival order. */
  readonly audio: ReceivedAudio[] = [];
  /** Clears the bot sent. */
  readonly clears: ReceivedClear[] = [];
  /** Marks (checkpoints, notifies) the bot sent. */
  readonly marks: ReceivedMark[] = [];
  /** Messages the carrier would not accept. */
  readonly problems: ProtocolProblem[] = [];
  /** Every text message the bot sent, parsed, with its arrival time. */
  readonly messages: { at: number; message: Record<string, unknown> }[] = [];
  /** Caller frames sent so far. */
  framesSent = 0;
  /** The close code, once closed (0 before). */
  closeCode = 0;
  /** The close reason, once closed. */
  closeReason = "";
  /** When the socket closed, or null while open. */
  closedAt: number | null = null;
  /** True when the client hung up (rather than the bot). */
  hungUp = false;
  #socket: WebSocket;
  #t0: number;
  #outputRate: number;
  #playback: Playback;
  #playhead = 0;
  #pending: PendingMark[] = [];
  #listeners = new Set<() => void>();
  #closed: Promise<void>;

  /**
   * Wraps an open socket. Subclasses call this, then send their start.
   *
   * @param socket The open socket.
   * @param rates Caller and bot audio rates, in Hz.
   * @param playback How received audio plays.
   */
  protected constructor(
    socket: WebSocket,
    rates: { inputRate: number; outputRate: number },
    playback: Playback = "realtime",
  ) {
    this.#socket = socket;
    this.#t0 = performance.now();
    this.inputRate = rates.inputRate;
    this.#outputRate = rates.outputRate;
    this.#playback = playback;
    socket.binaryType = "arraybuffer";
    this.#closed = new Promise((resolve) => {
      socket.addEventListener("close", (e) => {
        this.closeCode = e.code;
        this.closeReason = e.reason;
        this.closedAt = this.now();
        for (const p of this.#pending) if (p.timer) clearTimeout(p.timer);
        this.#pending = [];
        resolve();
        this.#notify();
      });
    });
    socket.addEventListener("message", (e) => {
      const data = e.data;
      if (typeof data === "string") {
        let message: unknown;
        try {
          message = JSON.parse(data);
        } catch {
          this.problem("error", `text message is not JSON: ${preview(data)}`);
          this.#notify();
          return;
        }
        if (!isObject(message)) {
          this.problem(
            "error",
            `JSON message is not an object: ${preview(data)}`,
          );
        } else {
          this.messages.push({ at: this.now(), message });
          this.onText(message);
        }
      } else {
        const bytes = data instanceof ArrayBuffer
          ? new Uint8Array(data)
          : new Uint8Array(data as ArrayBufferLike);
        this.onBinary(bytes);
      }
      this.#notify();
    });
  }

  /** Rate of the audio the bot sends, in Hz. */
  get outputRate(): number {
    return this.#outputRate;
  }

  /** Milliseconds since the socket opened. */
  now(): number {
    return performance.now() - this.#t0;
  }

  /** True while the socket is open. */
  get isOpen(): boolean {
    return this.#socket.readyState === WebSocket.OPEN;
  }

  /** Resolves when the socket has closed. */
  get closed(): Promise<void> {
    return this.#closed;
  }

  /** Milliseconds of received audio still waiting to play. */
  get queuedMs(): number {
    return Math.max(0, this.#playhead - this.now());
  }

  /**
   * Sends one frame of caller audio in the carrier's format.
   *
   * @param samples PCM16 at {@linkcode CallClient.inputRate}.
   */
  sendFrame(samples: Int16Array): void {
    if (!this.isOpen) return;
    this.framesSent++;
    this.sendWire(this.encodeAudio(samples));
  }

  /**
   * Plays caller audio as frames (20 ms by default) on a real-time clock.
   *
   * @param samples PCM16 at {@linkcode CallClient.inputRate}.
   * @param options Pacing.
   */
  async play(samples: Int16Array, options: PlayOptions = {}): Promise<void> {
    const frameMs = options.frameMs ?? 20;
    const step = Math.max(1, Math.round(this.inputRate * frameMs / 1000));
    const start = performance.now();
    for (let i = 0, n = 0; i < samples.length; i += step, n++) {
      if (options.realtime ?? true) {
        const wait = start + n * frameMs - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      if (!this.isOpen || options.signal?.aborted) return;
      this.sendFrame(samples.subarray(i, Math.min(i + step, samples.length)));
    }
  }

  /**
   * Sends a DTMF key press the carrier's way.
   *
   * @param digit `0-9`, `*`, `#` or `A-D`.
   */
  abstract dtmf(digit: string): void;

  /**
   * Hangs up: sends the carrier's stop message (if it has one), closes the
   * socket and waits for the close.
   */
  async hangUp(): Promise<void> {
    if (this.isOpen) {
      this.hungUp = true;
      const stop = this.stopMessage();
      if (stop !== null) this.sendWire(stop);
      this.#socket.close(1000, "hang up");
    }
    await this.#closed;
  }

  /**
   * Resolves when `predicate` holds (checked after every message).
   *
   * @param predicate The condition.
   * @param timeoutMs Rejects after this many ms (default 5000).
   * @param what Named in the timeout error.
   */
  waitFor(
    predicate: () => boolean,
    timeoutMs = 5000,
    what = "condition",
  ): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!predicate()) return;
        cleanup();
        resolve();
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(
          new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`),
        );
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.#listeners.delete(check);
      };
      this.#listeners.add(check);
    });
  }

  /**
   * Renders what the caller heard: received audio at its playout times,
   * silence where nothing played, cut where a clear dropped it, from the
   * socket's opening to `untilMs` (default: the end of the call so far).
   *
   * @param untilMs End of the timeline, in ms since the socket opened.
   * @returns PCM16 at {@linkcode CallClient.outputRate}.
   */
  timeline(untilMs?: number): Int16Array {
    const rate = this.#outputRate;
    let end = untilMs ?? Math.max(this.closedAt ?? this.now(), this.#playhead);
    if (untilMs === undefined) {
      for (const a of this.audio) {
        end = Math.max(end, a.playAt + a.kept * 1000 / rate);
      }
    }
    const out = new Int16Array(Math.ceil(end * rate / 1000));
    for (const a of this.audio) {
      const at = Math.round(a.playAt * rate / 1000);
      if (at >= out.length) continue;
      const part = a.samples.subarray(0, Math.min(a.kept, out.length - at));
      out.set(part, at);
    }
    return out;
  }

  /** Sends one message built by a subclass, if the socket is open. */
  protected sendWire(message: string | Uint8Array): void {
    if (this.isOpen) this.#socket.send(message);
  }

  /** Sends one JSON message. */
  protected sendJson(message: unknown): void {
    this.sendWire(JSON.stringify(message));
  }

  /** Sets the bot's audio rate (for protocols that announce it late). */
  protected setOutputRate(rate: number): void {
    this.#outputRate = rate;
  }

  /** Encodes one caller frame as the carrier's media message. */
  protected abstract encodeAudio(samples: Int16Array): string | Uint8Array;

  /** The carrier's stop message, or null when it just closes the socket. */
  protected abstract stopMessage(): string | null;

  /** Handles one parsed text message from the bot. */
  protected abstract onText(message: Record<string, unknown>): void;

  /**
   * Handles one binary message from the bot (default: a protocol error).
   *
   * @param bytes The message.
   */
  protected onBinary(bytes: Uint8Array): void {
    this.problem(
      "error",
      `binary message of ${bytes.length} bytes; ${this.carrier} carries ` +
        "audio in JSON text messages",
    );
  }

  /**
   * Records audio from the bot and queues it on the playout clock.
   *
   * @param samples PCM16 at the output rate.
   */
  protected receiveAudio(samples: Int16Array): void {
    const at = this.now();
    const playAt = this.#playback === "instant"
      ? at
      : Math.max(at, this.#playhead);
    this.#playhead = Math.max(
      this.#playhead,
      playAt + samples.length * 1000 / this.#outputRate,
    );
    this.audio.push({ at, playAt, samples, kept: samples.length });
  }

  /**
   * Records a mark and answers it once the audio queued before it has
   * played (at once with `instant` playback).
   *
   * @param name The mark's name.
   * @param answer Sends the carrier's answer.
   */
  protected receiveMark(name: string, answer: () => void): void {
    const mark: ReceivedMark = { name, at: this.now(), answeredAt: null };
    this.marks.push(mark);
    const pending: PendingMark = { mark, answer, timer: null };
    const wait = this.#playhead - this.now();
    if (this.#playback === "instant" || wait <= 0) {
      this.#answer(pending);
      return;
    }
    pending.timer = setTimeout(() => {
      this.#pending = this.#pending.filter((p) => p !== pending);
      this.#answer(pending);
      this.#notify();
    }, wait);
    this.#pending.push(pending);
  }

  /**
   * Records a clear: drops the audio not played yet, and answers the marks
   * waiting behind it (`"answer"`, as Twilio and Telnyx do) or drops them
   * (`"drop"`, as Plivo does).
   *
   * @param pendingMarks What happens to marks behind the dropped audio.
   */
  protected receiveClear(pendingMarks: "answer" | "drop"): void {
    const now = this.now();
    const last = this.audio.at(-1);
    let flushed = 0;
    for (let i = this.audio.length - 1; i >= 0; i--) {
      const a = this.audio[i];
      const endMs = a.playAt + a.kept * 1000 / this.#outputRate;
      if (endMs <= now) break;
      const keep = Math.max(
        0,
        Math.min(
          a.kept,
          Math.round((now - a.playAt) * this.#outputRate / 1000),
        ),
      );
      flushed += (a.kept - keep) * 1000 / this.#outputRate;
      a.kept = keep;
    }
    this.#playhead = Math.min(this.#playhead, now);
    this.clears.push({
      at: now,
      lastAudioAt: last?.at ?? null,
      flushedMs: flushed,
    });
    const pending = this.#pending;
    this.#pending = [];
    for (const p of pending) {
      if (p.timer) clearTimeout(p.timer);
      if (pendingMarks === "answer") this.#answer(p);
    }
  }

  /**
   * Records a protocol problem.
   *
   * @param kind `error` or `unknown`.
   * @param message What was wrong.
   */
  protected problem(kind: "error" | "unknown", message: string): void {
    this.problems.push({ at: this.now(), kind, message });
  }

  /**
   * The bytes of a `media` message's base64 `media.payload` (the shape
   * Twilio, Telnyx, Exotel, SignalWire and FastRTC share), or null after
   * recording the problem.
   *
   * @param msg The parsed message.
   * @returns The payload bytes, or null.
   */
  protected mediaPayload(msg: Record<string, unknown>): Uint8Array | null {
    const payload = (msg.media as Record<string, unknown> | undefined)
      ?.payload;
    const bytes = typeof payload === "string" ? fromBase64(payload) : null;
    if (!bytes) {
      this.problem(
        "error",
        `media without a base64 media.payload: ${preview(msg)}`,
      );
    }
    return bytes;
  }

  /**
   * The `mark.name` of a `mark` message, or null after recording the
   * problem.
   *
   * @param msg The parsed message.
   * @returns The mark's name, or null.
   */
  protected markName(msg: Record<string, unknown>): string | null {
    const name = (msg.mark as Record<string, unknown> | undefined)?.name;
    if (typeof name === "string") return name;
    this.problem("error", `mark without a mark.name string: ${preview(msg)}`);
    return null;
  }

  #answer(pending: PendingMark): void {
    pending.mark.answeredAt = this.now();
    pending.answer();
  }

  #notify(): void {
    for (const listener of [...this.#listeners]) listener();
  }
}
