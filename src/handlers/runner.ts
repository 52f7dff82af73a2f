/**
 * The handler runner: drives one handler copy on one call's frame bus.
 * It feeds `receive`, awaits `emit` (no polling loop while a handler is
 * idle), routes audio, extra outputs and `CloseStream`, turns handler errors
 * into client `error` messages, and always runs `shutdown`.
 *
 * @module
 */

import { assertAudioChunk, type AudioChunk, describe } from "../audio/frame.ts";
import type { ClientMessage, FrameBus } from "../bus/frame_bus.ts";
import { sleep } from "../bus/sleep.ts";
import { errorText } from "../_internal/errors.ts";
import {
  type CallContext,
  runWithContext,
  type TransportKind,
} from "./context.ts";
import { AdditionalOutputs, CloseStream } from "./outputs.ts";
import {
  bindHandler,
  type EmitType,
  type StreamHandler,
} from "./stream_handler.ts";
import { log } from "../_internal/log.ts";

/** Options of {@linkcode runHandler}. */
export interface RunHandlerOptions {
  /** The call's bus. */
  bus: FrameBus;
  /** The handler copy for this call. */
  handler: StreamHandler;
  /** The transport carrying the call. */
  transport: TransportKind;
  /** Twilio ids and parameters for phone calls. */
  phone?: {
    streamSid?: string;
    callSid?: string;
    accountSid?: string;
    customParameters?: Record<string, string>;
  };
  /** Called for each `AdditionalOutputs` the handler yields. */
  onAdditionalOutputs?: (outputs: AdditionalOutputs) => void;
  /** Longest a `startUp` or `receive` call may take, in ms (default 30000). */
  handlerTimeoutMs?: number;
  /** Longest `shutdown` may take, in ms (default 5000). */
  shutdownTimeoutMs?: number;
  /**
   * Called when the handler yields `CloseStream`, before the call closes
   * (the server reads `hangUp` from it for the auto hang-up).
   */
  onCloseStream?: (item: CloseStream) => void;
}

/** Error raised when a handler call does not settle in time. */
export class HandlerTimeoutError extends Error {
  /**
   * Makes the error.
   *
   * @example
   * ```ts
   * import { HandlerTimeoutError } from "@parley/parley/server";
   * new HandlerTimeoutError("receive", 30000);
   * ```
   *
   * @param method The handler method.
   * @param ms The limit.
   */
  constructor(method: string, ms: number) {
    super(
      `The handler's ${method}() did not finish within ${ms} ms; the call was ` +
        `ended. Keep ${method}() short and move slow work into emit() or a ` +
        `background task`,
    );
    this.name = "HandlerTimeoutError";
  }
}

/**
 * Sends a message to the client through the bus, using the `log` event for
 * FastRTC log messages.
 *
 * @example
 * ```ts
 * import { FrameBus } from "@parley/parley/transports";
 * import { sendClientMessage } from "@parley/parley/server";
 * const bus = new FrameBus({
 *   callId: "x", transportInputRate: 8000, transportOutputRate: 8000,
 *   handlerInputRate: 16000,
 * });
 * sendClientMessage(bus, { type: "log", data: "pause_detected" });
 * bus.close("done");
 * ```
 *
 * @param bus The call's bus.
 * @param message The message.
 */
export function sendClientMessage(bus: FrameBus, message: ClientMessage): void {
  // A plain log line travels as a bus `log` event; a log message with more
  // fields (e.g. `turn_metrics` with its `metrics`) keeps them all.
  if (
    message.type === "log" && typeof message.data === "string" &&
    Object.keys(message).every((k) => k === "type" || k === "data")
  ) {
    bus.emit({ type: "log", data: message.data });
  } else {
    bus.emit({ type: "message", message });
  }
}

/**
 * Runs a handler on a call until the call ends; resolves after `shutdown`.
 *
 * @example
 * ```ts
 * import { ReplyOnPause } from "@parley/parley";
 * import { FrameBus } from "@parley/parley/transports";
 * import { runHandler } from "@parley/parley/server";
 * const handler = new ReplyOnPause(function* (audio) {
 *   yield audio;
 * }, { model: { backend: "js" } });
 * const bus = new FrameBus({
 *   callId: "x", transportInputRate: 16000, transportOutputRate: 16000,
 *   handlerInputRate: 16000,
 * });
 * const done = runHandler({ bus, handler: handler.copy(), transport: "local" });
 * bus.close("hang up");
 * await done;
 * ```
 *
 * @param options The bus, handler and limits.
 */
export async function runHandler(options: RunHandlerOptions): Promise<void> {
  const { bus, handler } = options;
  const timeoutMs = options.handlerTimeoutMs ?? 30_000;
  const context: CallContext = {
    callId: bus.callId,
    webrtcId: bus.callId,
    transport: options.transport,
    // Every carrier is a phone call; browsers and local calls are not.
    phoneMode: !["websocket", "webrtc", "local"].includes(options.transport),
    signal: bus.signal,
    ...options.phone,
    send: (message) => sendClientMessage(bus, message),
  };
  bindHandler(handler, { bus, context });
  const reportError = (where: string, error: unknown) => {
    if (bus.closed) return;
    log.error(`[parley] call ${bus.callId}: ${where} failed:`, error);
    context.send({ type: "error", message: errorText(error, { name: true }) });
  };

  await runWithContext(context, async () => {
    const offDtmf = bus.on("dtmf", (e) => {
      safeCall(
        () => handler.onDtmf(e.digit),
        (err) => reportError("onDtmf", err),
      );
    });
    const offPlayed = bus.on("played", (e) => {
      safeCall(
        () => handler.onPlayed(e.name),
        (err) => reportError("onPlayed", err),
      );
    });
    try {
      try {
        await withTimeout(handler.startUp(), timeoutMs, "startUp", bus.signal);
      } catch (e) {
        if (bus.closed) return;
        reportError("startUp", e);
        bus.close(`startUp failed: ${errorText(e, { name: true })}`);
        return;
      }
      await Promise.race([
        Promise.all([receiveLoop(), emitLoop()]),
        closed(bus),
      ]);
    } finally {
      offDtmf();
      offPlayed();
      if (!bus.closed) bus.close("handler finished");
      try {
        await withTimeout(
          handler.shutdown(),
          options.shutdownTimeoutMs ?? 5000,
          "shutdown",
        );
      } catch (e) {
        log.error(`[parley] call ${bus.callId}: shutdown failed:`, e);
      }
    }
  });

  async function receiveLoop(): Promise<void> {
    // One watchdog per call rather than a timer and two promises per frame:
    // a receive() that hangs past the limit ends the call from the watchdog,
    // and the race in runHandler stops waiting for this loop.
    const watchdog = new Watchdog(timeoutMs, () => {
      if (bus.closed) return;
      const e = new HandlerTimeoutError("receive", timeoutMs);
      reportError("receive", e);
      bus.close(e.message);
    });
    // A receive() still hanging when the call ends must not keep a timer.
    const onClose = () => watchdog.dispose();
    bus.signal.addEventListener("abort", onClose, { once: true });
    try {
      while (true) {
        const chunk = await bus.readInput();
        if (!chunk) return;
        try {
          const pending: unknown = handler.receive(chunk);
          if (isThenable(pending)) {
            watchdog.start();
            try {
              await pending;
            } finally {
              watchdog.stop();
            }
          }
        } catch (e) {
          if (bus.closed) return;
          reportError("receive", e);
        }
        if (bus.closed) return;
      }
    } finally {
      watchdog.dispose();
      bus.signal.removeEventListener("abort", onClose);
    }
  }

  async function emitLoop(): Promise<void> {
    let idle = 0;
    while (!bus.closed) {
      let item: EmitType;
      try {
        item = await handler.emit();
      } catch (e) {
        if (bus.closed) return;
        reportError("emit", e);
        await sleep(20, bus.signal);
        continue;
      }
      if (bus.closed) return;
      if (item === null || item === undefined) {
        // Nothing yet: wait a little before asking again. The wait grows to
        // 20 ms while the handler stays idle, so an emit() that returns at
        // once never spins a core.
        idle = Math.min(idle + 1, 20);
        await sleep(idle, bus.signal);
        continue;
      }
      idle = 0;
      try {
        if (await route(item)) return;
      } catch (e) {
        if (bus.closed) return;
        reportError("emit", e);
      }
    }
  }

  /** Sends one emitted item; returns true when the call should end. */
  async function route(item: NonNullable<EmitType>): Promise<boolean> {
    if (item instanceof CloseStream) {
      options.onCloseStream?.(item);
      context.send({ type: "end_stream", data: item.msg });
      // Let the caller hear the goodbye to its last frame before hanging up.
      await bus.playedOut();
      bus.close(`handler closed the stream: ${item.msg}`);
      return true;
    }
    if (item instanceof AdditionalOutputs) {
      deliverOutputs(item);
      return false;
    }
    if (
      Array.isArray(item) && item.length === 2 &&
      item[1] instanceof AdditionalOutputs
    ) {
      await bus.sendOutput(
        assertAudioChunk(item[0], "audio the handler emitted"),
      );
      deliverOutputs(item[1]);
      return false;
    }
    if (Array.isArray(item)) {
      await bus.sendOutput(assertAudioChunk(item, "audio the handler emitted"));
      return false;
    }
    throw new TypeError(
      `emit() returned ${describe(item)}; return [sampleRate, samples], ` +
        `AdditionalOutputs, CloseStream or null`,
    );
  }

  function deliverOutputs(outputs: AdditionalOutputs): void {
    options.onAdditionalOutputs?.(outputs);
    context.send({ type: "fetch_output", data: [] });
  }
}

/**
 * Checks that an emitted item is audio and returns it typed.
 *
 * @example
 * ```ts
 * import { isAudioChunk } from "./runner.ts";
 * isAudioChunk([16000, new Int16Array(4)]); // true
 * ```
 *
 * @param item Anything.
 * @returns Whether it is `[rate, Int16Array | Float32Array]`.
 */
export function isAudioChunk(item: unknown): item is AudioChunk {
  return Array.isArray(item) && item.length >= 2 &&
    typeof item[0] === "number" &&
    (item[1] instanceof Int16Array || item[1] instanceof Float32Array);
}

function safeCall(
  fn: () => void | Promise<void>,
  onError: (e: unknown) => void,
): void {
  try {
    const r = fn();
    if (r instanceof Promise) r.catch(onError);
  } catch (e) {
    onError(e);
  }
}

function closed(bus: FrameBus): Promise<void> {
  if (bus.closed) return Promise.resolve();
  return new Promise((resolve) =>
    bus.signal.addEventListener("abort", () => resolve(), { once: true })
  );
}

/**
 * Notices a handler call that runs too long. `start()`/`stop()` cost a
 * timestamp; the one timer is re-armed only when it fires while a call is
 * running, so a call that handles 50 frames a second sets about one timer per
 * `ms` instead of one per frame.
 */
/** setTimeout's largest delay (2³¹ − 1 ms); longer limits are "none". */
const MAX_TIMER_MS = 2 ** 31 - 1;

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === "function";
}

class Watchdog {
  #ms: number;
  #onExpire: () => void;
  #since = -1;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #disposed = false;

  constructor(ms: number, onExpire: () => void) {
    this.#ms = ms;
    this.#onExpire = onExpire;
  }

  start(): void {
    // An infinite (or absurd) limit means no watchdog at all.
    if (!(this.#ms < MAX_TIMER_MS)) return;
    this.#since = performance.now();
    if (this.#timer === undefined && !this.#disposed) this.#arm(this.#ms);
  }

  stop(): void {
    this.#since = -1;
  }

  dispose(): void {
    this.#disposed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#since < 0 || this.#disposed) return;
      const left = this.#since + this.#ms - performance.now();
      if (left <= 0) this.#onExpire();
      else this.#arm(left);
    }, ms);
  }
}

/**
 * Awaits `value` but rejects with {@linkcode HandlerTimeoutError} after `ms`.
 * If `signal` aborts first, resolves so the caller can notice the call ended.
 */
async function withTimeout<T>(
  value: T | Promise<T>,
  ms: number,
  method: string,
  signal?: AbortSignal,
): Promise<T | undefined> {
  if (!(value instanceof Promise)) return value;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  try {
    return await Promise.race([
      value,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new HandlerTimeoutError(method, ms)),
          ms,
        );
      }),
      new Promise<undefined>((resolve) => {
        if (!signal) return;
        onAbort = () => resolve(undefined);
        signal.addEventListener("abort", onAbort, { once: true });
      }),
    ]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener("abort", onAbort);
  }
}
