/**
 * The frame bus: one per call, the only place where a transport (Twilio,
 * WebSocket, WebRTC) and a handler meet.
 *
 * - Inbound audio arrives from the transport at the transport's rate, is
 *   resampled by a stateful streaming resampler to the handler's
 *   `inputSampleRate` and queued in order.
 * - Outbound audio arrives from the handler at any rate, is resampled to the
 *   transport's rate, cut into fixed frames (20 ms by default) and queued for
 *   the transport, with marks in band so the transport can report what the
 *   caller has actually heard.
 * - Control events (`interrupt`, `played`, `dtmf`, `log`, `message`,
 *   `overflow`, `close`) go both ways through {@linkcode FrameBus.on} and
 *   {@linkcode FrameBus.emit}.
 *
 * Backpressure is explicit: `sendOutput` resolves only once the outbound
 * queue is below its high-water mark, and an input queue that overflows drops
 * its oldest frames with an `overflow` event and a counter — never silently.
 *
 * @module
 */

import {
  assertSampleRate,
  type AudioChunk,
  audioToFloat32,
  audioToInt16,
} from "../audio/frame.ts";
import { StreamResampler } from "../audio/resampler.ts";
import { AsyncQueue, QueueClosedError } from "./queue.ts";
import type { TurnMetrics } from "./turn_metrics.ts";
import { log } from "../_internal/log.ts";

/** A message for the client, FastRTC's data-channel shape. */
export interface ClientMessage {
  /** `log`, `send_input`, `fetch_output`, `stopword`, `end_stream`, `error`, `warning`, … */
  type: string;
  /** Payload for most types. */
  data?: unknown;
  /** Text for `error` and `warning` (FastRTC puts it under `message`). */
  message?: string;
  /**
   * Per-turn numbers of a `{type: "log", data: "turn_metrics"}` event (see
   * `TurnMetrics`).
   */
  metrics?: TurnMetrics;
}

/** Control events carried by the bus. */
export type BusEvent =
  | {
    /** Barge-in: transports flush queued audio (Twilio gets `clear`). */
    type: "interrupt";
    /** Why the interrupt happened. */
    reason: string;
    /** How many queued output frames were dropped. */
    flushedFrames: number;
  }
  | {
    /** The transport reports that playback reached a mark. */
    type: "played";
    /** The mark's name. */
    name: string;
  }
  | {
    /** A DTMF key press from the caller. */
    type: "dtmf";
    /** The key: 0-9, *, #, A-D. */
    digit: string;
  }
  | {
    /** A FastRTC log event for the client (`started_talking`, …). */
    type: "log";
    /** The log text. */
    data: string;
  }
  | {
    /** Any other message for the client. */
    type: "message";
    /** The message. */
    message: ClientMessage;
  }
  | {
    /** A queue overflowed and frames were dropped. */
    type: "overflow";
    /** Which queue. */
    direction: "input" | "output";
    /** Frames dropped by this overflow. */
    dropped: number;
  }
  | {
    /** The call is over. */
    type: "close";
    /** Why. */
    reason: string;
  };

/** The `type` of a {@linkcode BusEvent}. */
export type BusEventType = BusEvent["type"];

/** One item the transport reads from the outbound queue. */
export type OutputItem =
  | {
    /** A frame of audio at the transport's output rate. */
    kind: "audio";
    /** PCM16 samples, exactly `outputFrameSamples` long. */
    samples: Int16Array;
    /**
     * The bus's {@linkcode FrameBus.outputEpoch} when the frame was queued: a
     * transport drops a frame whose epoch is no longer current (an interrupt
     * came while it held the frame).
     */
    epoch: number;
  }
  | {
    /** Everything queued before this point belongs to one reply. */
    kind: "mark";
    /** The mark's name. */
    name: string;
    /** As for audio frames. */
    epoch: number;
  };

/** Counters kept by every bus; read them with {@linkcode FrameBus.stats}. */
export interface BusStats {
  /** Inbound chunks accepted from the transport. */
  inputChunks: number;
  /** Inbound chunks dropped because the handler fell behind. */
  droppedInputChunks: number;
  /** Outbound frames queued for the transport. */
  outputFrames: number;
  /** Outbound frames dropped by interrupts. */
  flushedOutputFrames: number;
  /** Number of interrupts. */
  interrupts: number;
  /** Number of overflow events. */
  overflows: number;
  /** Times `sendOutput` had to wait for the transport (backpressure). */
  outputWaits: number;
  /** Largest outbound queue seen, in milliseconds of audio. */
  maxOutputQueuedMs: number;
}

/** Options of {@linkcode FrameBus}. */
export interface FrameBusOptions {
  /** The call's id (Twilio `streamSid`, websocket id or WebRTC id). */
  callId: string;
  /** Sample rate of the audio the transport delivers. */
  transportInputRate: number;
  /** Sample rate of the audio the transport sends. */
  transportOutputRate: number;
  /** Sample rate the handler receives (its `inputSampleRate`). */
  handlerInputRate: number;
  /** Samples per outbound frame (default: 20 ms at `transportOutputRate`). */
  outputFrameSamples?: number;
  /** Outbound high-water mark in ms of audio (default 1000). */
  maxOutputQueueMs?: number;
  /** Inbound queue limit in ms of audio before the oldest is dropped (default 30000). */
  maxInputQueueMs?: number;
  /**
   * Which way audio flows (`Stream`'s `mode`): `"send-receive"` (default);
   * `"receive"`: the client only listens, so its audio never reaches the
   * handler; `"send"`: the client only talks, so handler audio is not
   * queued (extra outputs and messages still flow).
   */
  mode?: "send-receive" | "receive" | "send";
}

type Listener = (event: BusEvent) => void;

/**
 * One call's frame bus. Transports call `sendInput`, `readOutput` and emit
 * `played`/`dtmf`; handlers call `readInput`, `sendOutput`, `mark`,
 * `interrupt` and emit `log`/`message`.
 *
 * @example Loop audio straight back (an echo) through the bus
 * ```ts
 * import { FrameBus } from "@parley/parley/transports";
 * const bus = new FrameBus({
 *   callId: "demo",
 *   transportInputRate: 8000,
 *   transportOutputRate: 8000,
 *   handlerInputRate: 16000,
 * });
 * bus.sendInput([8000, new Int16Array(160)]); // from the transport
 * const chunk = await bus.readInput(); // [16000, Int16Array(320)] for the handler
 * await bus.sendOutput(chunk!); // handler → transport, resampled to 8 kHz
 * bus.close("done");
 * ```
 */
export class FrameBus {
  /** The call's id. */
  readonly callId: string;
  /** Rate of inbound audio from the transport. */
  readonly transportInputRate: number;
  /** Rate of outbound audio for the transport. */
  readonly transportOutputRate: number;
  /** Rate of the audio the handler receives. */
  readonly handlerInputRate: number;
  /** Samples per outbound frame. */
  readonly outputFrameSamples: number;
  #maxOutputQueueMs: number;
  #maxInputQueueMs: number;
  #input = new AsyncQueue<AudioChunk>();
  #inputQueuedSamples = 0;
  #inputResampler: StreamResampler | null;
  #output = new AsyncQueue<OutputItem>();
  #outputQueuedFrames = 0;
  #outputResamplers = new Map<number, StreamResampler>();
  /** The outbound frame being filled, PCM16 (int16 audio is copied as is). */
  #pending: Int16Array;
  #pendingLength = 0;
  /** Reused inbound buffers: int16 → float for the resampler, and its output. */
  #inFloat = new Float32Array(0);
  #inResampled = new Float32Array(0);
  #spaceWaiters: (() => void)[] = [];
  #drainWaiters: (() => void)[] = [];
  #listeners = new Map<BusEventType, Set<Listener>>();
  #anyListeners = new Set<Listener>();
  #acceptInput: boolean;
  #acceptOutput: boolean;
  #abort = new AbortController();
  #closeReason: string | null = null;
  #epoch = 0;
  #playedOutCounter = 0;
  #stats: BusStats = {
    inputChunks: 0,
    droppedInputChunks: 0,
    outputFrames: 0,
    flushedOutputFrames: 0,
    interrupts: 0,
    overflows: 0,
    outputWaits: 0,
    maxOutputQueuedMs: 0,
  };

  /**
   * Makes a bus for one call.
   *
   * @param options Rates and limits.
   */
  constructor(options: FrameBusOptions) {
    this.callId = options.callId;
    this.transportInputRate = assertSampleRate(
      options.transportInputRate,
      "transportInputRate",
    );
    this.transportOutputRate = assertSampleRate(
      options.transportOutputRate,
      "transportOutputRate",
    );
    this.handlerInputRate = assertSampleRate(
      options.handlerInputRate,
      "handlerInputRate",
    );
    this.outputFrameSamples = options.outputFrameSamples ??
      Math.round(this.transportOutputRate / 50);
    if (
      !Number.isInteger(this.outputFrameSamples) || this.outputFrameSamples <= 0
    ) {
      throw new RangeError(
        `Invalid outputFrameSamples: ${options.outputFrameSamples}; use a ` +
          `positive whole number of samples`,
      );
    }
    this.#maxOutputQueueMs = options.maxOutputQueueMs ?? 1000;
    this.#maxInputQueueMs = options.maxInputQueueMs ?? 30_000;
    this.#inputResampler = this.transportInputRate === this.handlerInputRate
      ? null
      : new StreamResampler({
        inputRate: this.transportInputRate,
        outputRate: this.handlerInputRate,
      });
    this.#pending = new Int16Array(this.outputFrameSamples);
    const mode = options.mode ?? "send-receive";
    if (!["send-receive", "receive", "send"].includes(mode)) {
      throw new RangeError(
        `Unknown mode "${mode}"; use "send-receive", "receive" or "send"`,
      );
    }
    this.#acceptInput = mode !== "receive";
    this.#acceptOutput = mode !== "send";
  }

  /** Aborts when the call closes: pass it to `fetch` and friends. */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /** Whether the call is closed. */
  get closed(): boolean {
    return this.#closeReason !== null;
  }

  /** Why the call closed, or null while it is open. */
  get closeReason(): string | null {
    return this.#closeReason;
  }

  /** A snapshot of the bus counters. */
  get stats(): BusStats {
    return { ...this.#stats };
  }

  /** Counts interrupts: queued items from an older epoch are stale. */
  get outputEpoch(): number {
    return this.#epoch;
  }

  /** Milliseconds of audio queued for the transport. */
  get outputQueuedMs(): number {
    return this.#outputQueuedFrames * this.outputFrameSamples * 1000 /
      this.transportOutputRate;
  }

  // ---------------------------------------------------------------- inbound

  /**
   * Transport side: hands the caller's audio to the handler. The chunk must be
   * at `transportInputRate`; it is resampled (with carried state, so chunk
   * edges do not click) to `handlerInputRate`.
   *
   * @param chunk `[rate, samples]` from the transport.
   * @returns False when the call is already closed.
   */
  sendInput(chunk: AudioChunk): boolean {
    if (this.closed) return false;
    if (!this.#acceptInput) return true; // mode "receive": the client listens
    const [rate, samples] = chunk;
    if (rate !== this.transportInputRate) {
      throw new RangeError(
        `Inbound audio is ${rate} Hz but this bus expects ` +
          `${this.transportInputRate} Hz from its transport`,
      );
    }
    let out: Int16Array;
    if (this.#inputResampler) {
      // Only the chunk for the handler is allocated (the handler may keep
      // it); the float copy and the resampler output reuse buffers.
      const n = samples.length;
      let f32: Float32Array;
      if (samples instanceof Float32Array) {
        f32 = samples;
      } else {
        if (this.#inFloat.length !== n) this.#inFloat = new Float32Array(n);
        f32 = audioToFloat32(samples, this.#inFloat);
      }
      const most = Math.ceil(n * this.handlerInputRate / rate) + 2;
      if (this.#inResampled.length < most) {
        this.#inResampled = new Float32Array(most);
      }
      out = audioToInt16(this.#inputResampler.process(f32, this.#inResampled));
    } else {
      out = samples instanceof Int16Array ? samples : audioToInt16(samples);
    }
    this.#stats.inputChunks++;
    if (out.length === 0) return true;
    this.#input.put([this.handlerInputRate, out]);
    this.#inputQueuedSamples += out.length;
    const maxSamples = this.#maxInputQueueMs * this.handlerInputRate / 1000;
    if (this.#inputQueuedSamples > maxSamples) {
      let dropped = 0;
      while (this.#inputQueuedSamples > maxSamples / 2) {
        const old = this.#input.tryGet();
        if (!old) break;
        this.#inputQueuedSamples -= old[1].length;
        dropped++;
      }
      this.#stats.droppedInputChunks += dropped;
      this.#stats.overflows++;
      this.emit({ type: "overflow", direction: "input", dropped });
    }
    return true;
  }

  /**
   * Handler side: the next inbound chunk at `handlerInputRate`, or null once
   * the call is closed.
   *
   * @param signal Aborts the wait.
   * @returns The chunk or null.
   */
  async readInput(signal?: AbortSignal): Promise<AudioChunk | null> {
    try {
      const chunk = await this.#input.get(signal);
      this.#inputQueuedSamples -= chunk[1].length;
      return chunk;
    } catch (e) {
      if (e instanceof QueueClosedError) return null;
      throw e;
    }
  }

  /** Inbound chunks waiting for the handler. */
  get inputQueued(): number {
    return this.#input.size;
  }

  /** Milliseconds of inbound audio waiting for the handler. */
  get inputQueuedMs(): number {
    return Math.max(0, this.#inputQueuedSamples) * 1000 /
      this.handlerInputRate;
  }

  // --------------------------------------------------------------- outbound

  /**
   * Handler side: queues audio for the caller. Any rate is accepted (it is
   * resampled to the transport's rate); the promise resolves once the
   * outbound queue is below its high-water mark, so awaiting it paces a fast
   * generator to playback.
   *
   * @param chunk `[rate, samples]` from the handler.
   */
  async sendOutput(chunk: AudioChunk): Promise<void> {
    if (this.closed || !this.#acceptOutput) return;
    const [rate, samples] = chunk;
    assertSampleRate(rate, "sample rate of the audio the handler yielded");
    if (rate !== this.transportOutputRate) {
      let r = this.#outputResamplers.get(rate);
      if (!r) {
        r = new StreamResampler({
          inputRate: rate,
          outputRate: this.transportOutputRate,
        });
        this.#outputResamplers.set(rate, r);
      }
      if (samples instanceof Int16Array) {
        // PCM16 in and out of the resampler: no float copy of the reply.
        this.#appendInt16(r.process(samples), true);
      } else {
        this.#appendFloat(r.process(samples));
      }
    } else if (samples instanceof Int16Array) {
      // Int16 at the transport's rate goes to the frames unconverted.
      this.#appendInt16(samples);
    } else {
      const f32 = audioToFloat32(samples);
      for (let i = 0; i < f32.length; i++) {
        if (!Number.isFinite(f32[i])) {
          throw new RangeError(
            `Sample ${i} of the audio the handler yielded is ${
              f32[i]
            }; audio must hold finite numbers`,
          );
        }
      }
      this.#appendFloat(f32);
    }
    await this.#waitForSpace();
  }

  /**
   * Handler side: ends the current reply. Pads a partial frame with silence,
   * flushes resampler tails, and queues a mark named `name` so the transport
   * can report (`played`) when the caller has heard everything before it.
   *
   * @param name The mark's name.
   */
  mark(name: string): void {
    if (this.closed) return;
    for (const r of this.#outputResamplers.values()) {
      this.#appendFloat(r.flush());
    }
    this.#outputResamplers.clear();
    if (this.#pendingLength > 0) {
      this.#pending.fill(0, this.#pendingLength);
      this.#pushFrame(this.#pending.slice());
      this.#pendingLength = 0;
    }
    this.#output.put({ kind: "mark", name, epoch: this.#epoch });
  }

  /**
   * Transport side: the next outbound item, or null once the call is closed.
   *
   * @param signal Aborts the wait.
   * @returns An audio frame or a mark, or null.
   */
  async readOutput(signal?: AbortSignal): Promise<OutputItem | null> {
    try {
      while (true) {
        const item = await this.#output.get(signal);
        // An item handed to this reader just before an interrupt is stale:
        // the interrupt already took it off the books.
        if (item.epoch !== this.#epoch) continue;
        if (item.kind === "audio") {
          this.#outputQueuedFrames = Math.max(0, this.#outputQueuedFrames - 1);
        }
        this.#wakeSpace();
        return item;
      }
    } catch (e) {
      if (e instanceof QueueClosedError) return null;
      throw e;
    }
  }

  /**
   * Resolves once the transport has taken every queued outbound item (or the
   * call closed). Used to finish playback before hanging up.
   *
   * @returns A promise.
   */
  drained(): Promise<void> {
    if (this.#output.size === 0 || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  /**
   * Resolves once the caller has heard everything queued so far: queues a
   * mark and waits for the transport's `played` report for it (Twilio echoes
   * marks; other transports report them by their playback clock). Resolves
   * false on timeout, on an interrupt that flushed the mark, or when the call
   * closes first.
   *
   * @param timeoutMs Longest wait in ms (default: queued audio + 2000).
   * @returns Whether playback reached the mark.
   */
  playedOut(timeoutMs?: number): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    const name = `played-out-${++this.#playedOutCounter}`;
    const limit = timeoutMs ?? this.outputQueuedMs + 2000;
    return new Promise<boolean>((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        offPlayed();
        offInterrupt();
        offClose();
        resolve(ok);
      };
      const timer = setTimeout(() => done(false), limit);
      const offPlayed = this.on("played", (e) => {
        if (e.name === name) done(true);
      });
      const offInterrupt = this.on("interrupt", () => done(false));
      const offClose = this.on("close", () => done(false));
      this.mark(name);
    });
  }

  /**
   * Barge-in: drops every queued outbound frame and mark, resets the output
   * resamplers, and emits an `interrupt` event so transports flush what they
   * hold (Twilio gets `clear`).
   *
   * @param reason Why (for logs and the event).
   * @returns How many frames were dropped.
   */
  interrupt(reason = "interrupted"): number {
    if (this.closed) return 0;
    this.#epoch++;
    const items = this.#output.drain();
    const flushed = items.filter((i) => i.kind === "audio").length;
    this.#outputQueuedFrames = 0;
    this.#pendingLength = 0;
    for (const r of this.#outputResamplers.values()) r.reset();
    this.#stats.flushedOutputFrames += flushed;
    this.#stats.interrupts++;
    this.#wakeSpace();
    this.emit({ type: "interrupt", reason, flushedFrames: flushed });
    return flushed;
  }

  // ----------------------------------------------------------------- events

  /**
   * Subscribes to one event type, or to every event with `"*"`.
   *
   * @param type The event type or `"*"`.
   * @param listener Called synchronously for each event; errors are logged.
   * @returns A function that unsubscribes.
   */
  on<T extends BusEventType>(
    type: T | "*",
    listener: (event: Extract<BusEvent, { type: T }>) => void,
  ): () => void {
    const l = listener as Listener;
    if (type === "*") {
      this.#anyListeners.add(l);
      return () => this.#anyListeners.delete(l);
    }
    let set = this.#listeners.get(type);
    if (!set) this.#listeners.set(type, set = new Set());
    set.add(l);
    return () => set.delete(l);
  }

  /**
   * Delivers an event to its listeners, now. A listener that throws is
   * logged and does not stop the others. Nothing is kept for listeners that
   * attach later: the server wires both sides of a call before its handler
   * starts, so there is nobody to wait for.
   *
   * @param event The event.
   */
  emit(event: BusEvent): void {
    if (this.closed && event.type !== "close") return;
    const typed = this.#listeners.get(event.type);
    for (const l of [...(typed ?? []), ...this.#anyListeners]) {
      this.#deliver(l, event);
    }
  }

  #deliver(l: Listener, event: BusEvent): void {
    try {
      l(event);
    } catch (e) {
      log.error(
        `[parley] call ${this.callId}: a "${event.type}" listener threw:`,
        e,
      );
    }
  }

  /**
   * Ends the call: emits `close` once, aborts {@linkcode FrameBus.signal},
   * and makes `readInput`/`readOutput` return null.
   *
   * @param reason Why the call ended.
   */
  close(reason = "closed"): void {
    if (this.closed) return;
    // Closed first, so a close listener that calls close() again is a no-op.
    this.#closeReason = reason;
    this.emit({ type: "close", reason });
    this.#input.close();
    this.#input.drain();
    this.#output.drain();
    this.#output.close();
    this.#outputQueuedFrames = 0;
    this.#wakeSpace();
    this.#abort.abort(new DOMException(`Call ended: ${reason}`, "AbortError"));
    this.#listeners.clear();
    this.#anyListeners.clear();
  }

  // --------------------------------------------------------------- internal

  /** Appends finite float samples, converted as `audioToInt16` does. */
  #appendFloat(f32: Float32Array): void {
    const pcm = new Int16Array(f32.length);
    for (let i = 0; i < f32.length; i++) {
      const v = Math.round(f32[i] * 32767);
      pcm[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
    }
    this.#appendInt16(pcm, true);
  }

  /**
   * Cuts samples into frames. `owned`: nobody else holds `samples`, so whole
   * frames are views of it (one buffer per reply chunk rather than one per
   * 20 ms frame); otherwise each frame is a copy.
   */
  #appendInt16(samples: Int16Array, owned = false): void {
    const n = this.outputFrameSamples;
    let i = 0;
    while (i < samples.length) {
      const take = Math.min(n - this.#pendingLength, samples.length - i);
      if (this.#pendingLength === 0 && take === n) {
        this.#pushFrame(
          owned ? samples.subarray(i, i + n) : samples.slice(i, i + n),
        );
      } else {
        this.#pending.set(samples.subarray(i, i + take), this.#pendingLength);
        this.#pendingLength += take;
        if (this.#pendingLength === n) {
          this.#pushFrame(this.#pending.slice());
          this.#pendingLength = 0;
        }
      }
      i += take;
    }
  }

  #pushFrame(samples: Int16Array): void {
    this.#output.put({ kind: "audio", samples, epoch: this.#epoch });
    this.#outputQueuedFrames++;
    this.#stats.outputFrames++;
    const ms = this.outputQueuedMs;
    if (ms > this.#stats.maxOutputQueuedMs) this.#stats.maxOutputQueuedMs = ms;
  }

  async #waitForSpace(): Promise<void> {
    if (this.outputQueuedMs <= this.#maxOutputQueueMs || this.closed) return;
    this.#stats.outputWaits++;
    while (this.outputQueuedMs > this.#maxOutputQueueMs && !this.closed) {
      await new Promise<void>((resolve) => this.#spaceWaiters.push(resolve));
    }
  }

  #wakeSpace(): void {
    if (
      this.outputQueuedMs <= this.#maxOutputQueueMs || this.closed
    ) {
      for (const w of this.#spaceWaiters.splice(0)) w();
    }
    if (this.#output.size === 0 || this.closed) {
      for (const w of this.#drainWaiters.splice(0)) w();
    }
  }
}
