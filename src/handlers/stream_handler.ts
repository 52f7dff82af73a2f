/**
 * `StreamHandler`: the base class of every audio handler, FastRTC's
 * `AsyncStreamHandler` in TypeScript. Subclass it and implement `receive`,
 * `emit` and `copy`; Parley makes one copy per call.
 *
 * @module
 */

import type { AudioChunk } from "../audio/frame.ts";
import { assertSampleRate } from "../audio/frame.ts";
import type { ClientMessage, FrameBus } from "../bus/frame_bus.ts";
import type { CallContext } from "./context.ts";
import type { AdditionalOutputs, CloseStream } from "./outputs.ts";

/** What `emit()` may return (FastRTC's `EmitType`). */
export type EmitType =
  | AudioChunk
  | [AudioChunk, AdditionalOutputs]
  | AdditionalOutputs
  | CloseStream
  | null
  | undefined
  | void;

/** Options shared by every handler. */
export interface StreamHandlerOptions {
  /** Channel layout the handler expects; only `"mono"` is supported. */
  expectedLayout?: "mono";
  /** Rate of the audio `receive` gets (default 48000, as in FastRTC). */
  inputSampleRate?: number;
  /** Rate the handler usually yields (default 24000, as in FastRTC). */
  outputSampleRate?: number;
}

/** Placeholder in `latestArgs[0]`, FastRTC's `"__webrtc_value__"`. */
export const WEBRTC_VALUE = "__webrtc_value__";

interface Binding {
  bus: FrameBus;
  context: CallContext;
}

const bindings = new WeakMap<StreamHandler, Binding>();

/**
 * Connects a handler copy to its call. Called by the runner; user code never
 * needs it.
 *
 * @example
 * ```ts
 * import { StreamHandler } from "@parley/parley";
 * import { bindHandler } from "./stream_handler.ts";
 * import { FrameBus } from "@parley/parley/transports";
 * import type { CallContext } from "@parley/parley";
 * function attach(handler: StreamHandler, bus: FrameBus, context: CallContext) {
 *   bindHandler(handler, { bus, context });
 * }
 * ```
 *
 * @param handler The handler copy.
 * @param binding The call's bus and context.
 */
export function bindHandler(
  handler: StreamHandler,
  binding: { bus: FrameBus; context: CallContext },
): void {
  bindings.set(handler, binding);
  handler.phoneMode = binding.context.phoneMode;
}

/**
 * Base class of audio handlers. `receive` gets the caller's audio as
 * `[inputSampleRate, Int16Array]`; `emit` returns the next thing to send
 * (audio, {@linkcode AdditionalOutputs}, {@linkcode CloseStream}) or null when
 * there is nothing yet. `emit` may await: the runner never polls a busy loop.
 *
 * @example An echo handler
 * ```ts
 * import { type AudioChunk, StreamHandler, waitForItem } from "@parley/parley";
 * import { AsyncQueue } from "@parley/parley/transports";
 *
 * class Echo extends StreamHandler {
 *   #queue = new AsyncQueue<AudioChunk>();
 *   receive(frame: AudioChunk) {
 *     this.#queue.put(frame);
 *   }
 *   async emit() {
 *     return await waitForItem(this.#queue, 100);
 *   }
 *   copy() {
 *     return new Echo({ inputSampleRate: this.inputSampleRate });
 *   }
 * }
 * ```
 */
export abstract class StreamHandler {
  /** Channel layout; only mono is supported. */
  readonly expectedLayout: "mono" = "mono";
  /** Rate of the audio `receive` gets. */
  inputSampleRate: number;
  /** Rate the handler usually yields (any rate is accepted and resampled). */
  outputSampleRate: number;
  /** True when the call is a phone call. */
  phoneMode = false;
  /** Extra inputs set with `stream.setInput(id, …)`; index 0 is a placeholder. */
  latestArgs: unknown[] = [WEBRTC_VALUE];
  #argsSet = false;
  #argsWaiters: (() => void)[] = [];

  /**
   * Sets the rates.
   *
   * @param options Rates and layout.
   */
  constructor(options: StreamHandlerOptions = {}) {
    if (options.expectedLayout && options.expectedLayout !== "mono") {
      throw new RangeError(
        `expectedLayout "${options.expectedLayout}" is not supported; Parley ` +
          `handlers are mono (stereo input is mixed down at the transport)`,
      );
    }
    this.inputSampleRate = assertSampleRate(
      options.inputSampleRate ?? 48000,
      "inputSampleRate",
    );
    this.outputSampleRate = assertSampleRate(
      options.outputSampleRate ?? 24000,
      "outputSampleRate",
    );
    if (this.outputSampleRate % 50 !== 0) {
      throw new RangeError(
        `outputSampleRate ${this.outputSampleRate} is not a multiple of 50; ` +
          `use a rate that divides into 20 ms frames such as 24000`,
      );
    }
  }

  /**
   * Receives one chunk of the caller's audio.
   *
   * @param frame `[inputSampleRate, Int16Array]`.
   */
  abstract receive(frame: AudioChunk): void | Promise<void>;

  /**
   * Returns the next output, or null/undefined when there is none yet.
   *
   * @returns The output.
   */
  abstract emit(): EmitType | Promise<EmitType>;

  /**
   * Returns a fresh handler with the same configuration (one per call).
   *
   * @returns The copy.
   */
  abstract copy(): StreamHandler;

  /** Runs once when the call starts, before any audio. */
  startUp(): void | Promise<void> {}

  /** Runs once when the call ends, whatever the reason. */
  shutdown(): void | Promise<void> {}

  /**
   * Whether the call's audio may reach `receive` at the transport's own rate
   * (each frame carries its rate) instead of being resampled to
   * `inputSampleRate` first. Default false; `ReplyOnPause` says true and
   * resamples each utterance once for `fn`.
   */
  get receivesTransportRate(): boolean {
    return false;
  }

  /**
   * Loads what every call will need (models, runtimes) ahead of the first
   * call; `Stream.serve()` calls it once while it starts listening, so the
   * first caller does not wait for a download. Default: nothing.
   */
  warmUp(): void | Promise<void> {}

  /**
   * Called for each DTMF key the caller presses (phone calls).
   *
   * @param _digit The key: 0-9, *, #, A-D.
   */
  onDtmf(_digit: string): void | Promise<void> {}

  /**
   * Called when the caller has heard everything up to a mark (Twilio
   * echoes the mark back).
   *
   * @param _name The mark's name.
   */
  onPlayed(_name: string): void | Promise<void> {}

  /** The current call's context; throws before the call starts. */
  get context(): CallContext {
    return this.#binding().context;
  }

  /** Whether extra inputs have arrived since the last `reset()`. */
  get argsSet(): boolean {
    return this.#argsSet;
  }

  /**
   * Sends a message to the client (data channel or websocket text frame).
   *
   * @param message A `{type, data}` message or a string (sent as a log).
   */
  sendMessage(message: ClientMessage | string): void {
    const b = bindings.get(this);
    if (!b) return;
    b.context.send(
      typeof message === "string" ? { type: "log", data: message } : message,
    );
  }

  /**
   * Asks the client for extra inputs (`send_input`) and waits until
   * `stream.setInput(id, …)` delivers them. Resolves at once in phone mode
   * (a phone has no inputs to send) or when they are already set.
   */
  async waitForArgs(): Promise<void> {
    if (this.phoneMode || this.#argsSet) return;
    this.sendMessage({ type: "send_input", data: [] });
    const signal = bindings.get(this)?.bus.signal;
    signal?.throwIfAborted();
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => reject(signal!.reason);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#argsWaiters.push(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      });
    });
  }

  /**
   * Sets the extra inputs (what `stream.setInput` calls). `latestArgs`
   * becomes `[placeholder, ...args]`.
   *
   * @param args The inputs.
   */
  setArgs(args: unknown[]): void {
    this.latestArgs = [WEBRTC_VALUE, ...args];
    this.#argsSet = true;
    for (const w of this.#argsWaiters.splice(0)) w();
  }

  /** Forgets that inputs were set, so the next `waitForArgs` asks again. */
  reset(): void {
    this.#argsSet = false;
  }

  /**
   * Drops audio queued for the caller (and sends Twilio `clear`): use it when
   * the handler is interrupted.
   */
  clearQueue(): void {
    bindings.get(this)?.bus.interrupt("clearQueue");
  }

  /**
   * The call's frame bus; for handlers that need marks or raw events.
   *
   * @returns The bus.
   */
  get bus(): FrameBus {
    return this.#binding().bus;
  }

  #binding(): Binding {
    const b = bindings.get(this);
    if (!b) {
      throw new Error(
        "This handler is not attached to a call yet: the context and bus are " +
          "available from startUp() on, inside the copy Parley makes per call",
      );
    }
    return b;
  }
}
