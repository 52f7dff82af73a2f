/**
 * `ReplyOnPause`: calls your generator with the caller's whole utterance as
 * soon as they pause, and plays what it yields — FastRTC's handler, with
 * streaming turn detection (32 ms Silero windows instead of 0.6 s chunks)
 * and barge-in on speech *onset* instead of at the end of the interruption.
 *
 * @module
 */

import {
  assertAudioChunk,
  type AudioChunk,
  audioToFloat32,
  describe,
} from "../audio/frame.ts";
import { StreamResampler } from "../audio/resampler.ts";
import { SampleHistory } from "../audio/sample_history.ts";
import { runWithContext } from "./context.ts";
import { AdditionalOutputs, CloseStream } from "./outputs.ts";
import {
  type EmitType,
  StreamHandler,
  type StreamHandlerOptions,
  WEBRTC_VALUE,
} from "./stream_handler.ts";
import type {
  PauseDetectionModel,
  PauseDetectionStream,
} from "../vad/pause_model.ts";
import { getSileroModel, type SileroModelOptions } from "../vad/silero.ts";
import { WindowFeeder } from "../vad/window_feeder.ts";
import { errorText } from "../_internal/errors.ts";
import {
  type AlgoOptions,
  type SileroVadOptions,
  turnOptionsFromFastRtc,
} from "../vad/fastrtc_options.ts";
import {
  TurnDetector,
  type TurnDetectorOptions,
  type TurnEvent,
  type TurnState,
} from "../vad/turn.ts";

/** What a reply function may yield: what `emit()` may return. */
export type ReplyItem = EmitType;

/** What a reply function returns: a sync or async iterable of items. */
export type ReplyGenerator =
  | AsyncIterable<ReplyItem>
  | Iterable<ReplyItem>;

/**
 * The reply function: gets the utterance `[inputSampleRate, Int16Array]`
 * plus the extra inputs (`latestArgs`), yields audio chunks and outputs.
 * The reply's `AbortSignal` is `getCurrentContext().signal`.
 */
export type ReplyFn = (
  audio: AudioChunk,
  // deno-lint-ignore no-explicit-any
  ...args: any[]
) => ReplyGenerator | Promise<ReplyGenerator>;

/** Options of {@linkcode ReplyOnPause}. */
export interface ReplyOnPauseOptions extends StreamHandlerOptions {
  /** FastRTC's `AlgoOptions` (mapped onto the streaming detector). */
  algoOptions?: AlgoOptions;
  /** FastRTC's `SileroVadOptions` (mapped onto the streaming detector). */
  modelOptions?: SileroVadOptions;
  /**
   * Parley's own turn detector options; they win over `algoOptions` and
   * `modelOptions`. Defaults: see {@linkcode TurnDetectorOptions} (400 ms of
   * silence ends a turn, 160 ms of speech confirms a barge-in).
   */
  turnOptions?: TurnDetectorOptions;
  /**
   * Cut the reply when the caller starts talking over it (default true).
   * With false, caller audio during a reply is ignored (FastRTC's rule).
   */
  canInterrupt?: boolean;
  /** A generator played when the call starts (a greeting). */
  startupFn?: (
    // deno-lint-ignore no-explicit-any
    ...args: any[]
  ) => ReplyGenerator | Promise<ReplyGenerator>;
  /**
   * The VAD: a {@linkcode PauseDetectionModel}, or options for the shared
   * Silero model (default: Silero v5 on onnxruntime-node).
   */
  model?: PauseDetectionModel | SileroModelOptions;
  /** Wait for `setInput` before each reply (default: when `fn` takes more than one parameter). */
  needsArgs?: boolean;
}

/** Timing of one turn, for latency measurements (all `performance.now()` ms). */
export interface TurnTiming {
  /** When the pause was detected. */
  pauseDetectedAt: number;
  /** When the first audio of the reply was emitted (0 until then). */
  firstAudioAt: number;
  /** Audio time (ms since the call started) of the end of the caller's speech. */
  speechEndMs: number;
}

/**
 * Where an utterance lies in the call's audio, for
 * {@linkcode ReplyOnPause.filterUtterance} (ms of caller audio since the
 * call started).
 *
 * @example
 * ```ts
 * import type { UtteranceSpan } from "@parley/parley/server";
 * const span: UtteranceSpan = { startMs: 500, speechEndMs: 2600, endMs: 3000 };
 * console.log(span.endMs - span.startMs); // 2500
 * ```
 */
export interface UtteranceSpan {
  /** Start of the utterance audio (prefix padding included). */
  startMs: number;
  /** End of the last speech in it. */
  speechEndMs: number;
  /** End of the utterance audio (where the pause was decided). */
  endMs: number;
}

interface Reply {
  iterator: AsyncIterator<ReplyItem> | Iterator<ReplyItem>;
  abort: AbortController;
  /** Aborts with the reply or the call. */
  signal: AbortSignal;
  /** Resolves when `signal` aborts. */
  aborted: Promise<void>;
  audioSent: boolean;
  name: string;
  startup: boolean;
}

let replyCounter = 0;

/**
 * Replies to each utterance once the caller pauses.
 *
 * @example An echo bot
 * ```ts
 * import { ReplyOnPause, Stream } from "@parley/parley";
 * const handler = new ReplyOnPause(async function* (audio) {
 *   yield audio; // [sampleRate, Int16Array]
 * });
 * new Stream({ handler }).serve();
 * ```
 */
export class ReplyOnPause extends StreamHandler {
  /** The reply function. */
  readonly fn: ReplyFn;
  /** Whether caller speech cuts a reply (barge-in). */
  readonly canInterrupt: boolean;
  /** The options this handler was made with (copies reuse them). */
  readonly options: ReplyOnPauseOptions;
  /** Timings of the turns so far (newest last, at most 100). */
  readonly timings: TurnTiming[] = [];
  #turnOptions: TurnDetectorOptions;
  #vad: PauseDetectionStream | null = null;
  #vadRate = 16000;
  #resampler: StreamResampler | null = null;
  #feeder: WindowFeeder | null = null;
  #turns: TurnDetector | null = null;
  // Caller audio at inputSampleRate, by absolute sample index.
  #history = new SampleHistory();
  #reply: Reply | null = null;
  #pendingUtterance: AudioChunk | null = null;
  #pendingSpan: UtteranceSpan = { startMs: 0, speechEndMs: 0, endMs: 0 };
  #wake: (() => void) | null = null;
  #unplayed = new Set<string>();
  #needsArgs: boolean;

  /**
   * Makes the handler.
   *
   * @param fn The reply generator function.
   * @param options Turn-taking, VAD and rate options.
   */
  constructor(fn: ReplyFn, options: ReplyOnPauseOptions = {}) {
    super(options);
    if (typeof fn !== "function") {
      throw new TypeError(
        `ReplyOnPause needs a generator function, got ${describe(fn)}`,
      );
    }
    this.fn = fn;
    this.options = options;
    this.canInterrupt = options.canInterrupt ?? true;
    const fastrtc = options.algoOptions || options.modelOptions
      ? turnOptionsFromFastRtc({
        algoOptions: options.algoOptions,
        modelOptions: options.modelOptions,
      })
      : {};
    this.#turnOptions = { ...fastrtc, ...options.turnOptions };
    // Validate now rather than at the first call.
    new TurnDetector(this.#turnOptions);
    this.#needsArgs = options.needsArgs ?? fn.length > 1;
  }

  /**
   * Whether a reply is running or its audio is still playing (queued on the
   * bus, or sent but its mark not yet reported as played).
   */
  get responding(): boolean {
    if (this.#reply !== null || this.#unplayed.size > 0) return true;
    try {
      return this.bus.outputQueuedMs > 0;
    } catch {
      return false;
    }
  }

  /**
   * Notes that the caller heard a reply to its end.
   *
   * @param name The reply's mark.
   */
  override onPlayed(name: string): void {
    this.#unplayed.delete(name);
  }

  /**
   * A fresh handler with the same function and options.
   *
   * @returns The copy.
   */
  copy(): ReplyOnPause {
    return new ReplyOnPause(this.fn, this.options);
  }

  /** Loads the VAD model (shared by every call) before the first call. */
  override async warmUp(): Promise<void> {
    await resolveModel(this.options.model);
  }

  /** Loads the VAD for this call and starts the greeting, if any. */
  override async startUp(): Promise<void> {
    const model = await resolveModel(this.options.model);
    // Phone audio is band-limited to 4 kHz: Silero's native 8 kHz mode
    // hears it better than an upsampled copy (and costs half as much).
    this.#vadRate = this.phoneMode && model.sampleRates.includes(8000)
      ? 8000
      : model.sampleRates.includes(this.inputSampleRate)
      ? this.inputSampleRate
      : model.sampleRate;
    this.#vad = model.createStream(this.#vadRate);
    this.#feeder = new WindowFeeder(this.#vad);
    this.#resampler = this.#vadRate === this.inputSampleRate
      ? null
      : new StreamResampler({
        inputRate: this.inputSampleRate,
        outputRate: this.#vadRate,
      });
    this.#turns = new TurnDetector({
      ...this.#turnOptions,
      sampleRate: this.#vadRate,
      windowSize: this.#vad.windowSize,
    });
    // Marks flushed by an interrupt (ours or the handler's clearQueue) will
    // never be reported as played.
    this.bus.on("interrupt", () => this.#unplayed.clear());
    if (this.options.startupFn) {
      if (this.#needsArgs) await this.waitForArgs();
      const gen = await this.options.startupFn(...this.latestArgs.slice(1));
      this.#begin(gen, true);
    }
  }

  /** Releases the VAD stream and closes a running reply. */
  override shutdown(): void {
    this.#cancelReply("call ended");
    this.#vad?.close();
    this.#vad = null;
    this.#wake?.();
  }

  /**
   * Feeds caller audio to the VAD and the utterance buffer.
   *
   * @param frame `[inputSampleRate, Int16Array]`.
   */
  async receive(frame: AudioChunk): Promise<void> {
    const vad = this.#vad;
    const turns = this.#turns;
    if (!vad || !turns) return;
    const [, samples] = frame;
    const pcm = samples instanceof Int16Array
      ? samples
      : Int16Array.from(samples, (x) =>
        Math.max(-32768, Math.min(32767, Math.round(x * 32767))));
    await this.onCallerAudio([this.inputSampleRate, pcm]);
    this.#history.push(pcm);
    let f32 = audioToFloat32(pcm);
    if (this.#resampler) f32 = this.#resampler.process(f32);
    const feeder = this.#feeder!;
    let probs: number[];
    try {
      probs = (await feeder.feed(f32)).map((w) => w.probability);
    } catch (e) {
      if (this.#vad !== vad) return; // the call ended while windows waited
      throw e;
    }
    for (const p of probs) {
      const events = turns.push(p);
      if (!this.canInterrupt && this.responding) {
        // FastRTC's rule: while replying, the caller is not listened to.
        if (turns.state !== "idle") turns.reset();
        continue;
      }
      for (const event of events) this.#onTurnEvent(event);
    }
    this.#trimAudio();
  }

  /**
   * Returns the next item of the running reply; waits while there is none.
   *
   * @returns Audio, outputs, `CloseStream`, or null when the call ends.
   */
  async emit(): Promise<EmitType> {
    while (true) {
      if (!this.#reply && this.#pendingUtterance) {
        const audio = this.#pendingUtterance;
        const span = this.#pendingSpan;
        this.#pendingUtterance = null;
        await this.#startReply(audio, span);
        continue;
      }
      const reply = this.#reply;
      if (!reply) {
        if (!this.#vad) return null;
        await new Promise<void>((resolve) => (this.#wake = resolve));
        this.#wake = null;
        continue;
      }
      let result: IteratorResult<ReplyItem>;
      try {
        // A cancelled reply may be stuck in an await that ignores its
        // signal; do not wait for it (its next() result is dropped).
        const next = runWithContext(
          { ...this.context, signal: reply.signal },
          () => reply.iterator.next(),
        );
        const raced = await Promise.race([next, reply.aborted]);
        if (!raced) {
          Promise.resolve(next).catch(() => {});
          continue;
        }
        result = raced;
      } catch (e) {
        if (this.#reply !== reply) continue; // cancelled by barge-in
        this.#finishReply(reply);
        if (reply.signal.aborted) continue;
        console.error(`[parley] call ${this.context.callId}: reply failed:`, e);
        this.sendMessage({
          type: "error",
          message: `The reply function failed: ${errorText(e, { name: true })}`,
        });
        continue;
      }
      if (this.#reply !== reply) continue; // cancelled while waiting
      if (result.done) {
        this.#finishReply(reply);
        continue;
      }
      const item = result.value;
      if (item === null || item === undefined) continue;
      if (item instanceof CloseStream) {
        this.#finishReply(reply);
        return item;
      }
      if (item instanceof AdditionalOutputs) {
        this.#phoneArgs(item);
        return item;
      }
      if (
        Array.isArray(item) && item.length === 2 &&
        item[1] instanceof AdditionalOutputs
      ) {
        this.#phoneArgs(item[1]);
        const audio = this.#checkAudio(item[0], reply);
        return audio ? [audio, item[1]] : item[1];
      }
      const audio = this.#checkAudio(item, reply);
      if (audio) return audio;
    }
  }

  /**
   * Hook for subclasses: sees every caller frame (at `inputSampleRate`)
   * before the VAD does. `ReplyOnStopWords` runs its wake-word engine here.
   *
   * @param _frame The frame.
   */
  protected onCallerAudio(_frame: AudioChunk): void | Promise<void> {}

  /**
   * Hook for subclasses: decides whether an utterance gets a reply. Return
   * the audio to pass to `fn` (possibly trimmed), or null to stay silent.
   *
   * @param utterance The caller's utterance.
   * @param _span Where it lies in the call's audio.
   * @returns The audio to reply to, or null.
   */
  protected filterUtterance(
    utterance: AudioChunk,
    _span: UtteranceSpan,
  ): AudioChunk | null | Promise<AudioChunk | null> {
    return utterance;
  }

  /**
   * Whether caller speech during a reply cuts it (with `canInterrupt`).
   * Subclasses turn it off while waiting for a wake word, so only the wake
   * word interrupts (see {@linkcode ReplyOnPause.interruptReply}).
   */
  protected get bargeInEnabled(): boolean {
    return true;
  }

  /**
   * The turn detector's state for the audio heard so far (`"idle"` before
   * the call starts): subclasses use it to work only while the caller talks.
   */
  protected get turnState(): TurnState {
    return this.#turns?.state ?? "idle";
  }

  /**
   * Cuts the running reply now, as a barge-in does: closes the generator,
   * aborts its signal and flushes queued audio (Twilio gets `clear`).
   * Does nothing when no reply is running or playing.
   *
   * @param reason Why, for the abort reason.
   * @returns Whether a reply was cut.
   */
  protected interruptReply(reason: string): boolean {
    if (!this.responding) return false;
    this.#cancelReply(reason);
    this.#unplayed.clear();
    this.bus.interrupt(reason);
    return true;
  }

  /**
   * Whether `started_talking` and `pause_detected` are sent to the client
   * (subclasses turn it off while waiting for a wake word).
   */
  protected get announceTurns(): boolean {
    return true;
  }

  /**
   * Starts a reply now, without waiting for a pause (FastRTC's
   * `trigger_response`): for typed text or a button. The reply function gets
   * the speech heard so far in the current turn, or empty audio.
   */
  triggerResponse(): void {
    const audio = this.#currentTurnAudio();
    const endMs = this.#history.end * 1000 / this.inputSampleRate;
    this.#queueUtterance(audio, {
      startMs: endMs - audio[1].length * 1000 / this.inputSampleRate,
      speechEndMs: endMs,
      endMs,
    });
  }

  // --------------------------------------------------------------- internal

  #onTurnEvent(event: TurnEvent): void {
    switch (event.type) {
      case "interrupt_confirmed":
        if (this.canInterrupt && this.bargeInEnabled) {
          this.interruptReply("barge-in");
        }
        return;
      case "started_talking":
        if (this.responding && !this.canInterrupt) return;
        if (this.announceTurns) {
          this.sendMessage({ type: "log", data: "started_talking" });
        }
        return;
      case "pause_detected": {
        if (this.responding && !this.canInterrupt) {
          this.#turns?.reset();
          return;
        }
        const u = event.utterance;
        const rate = this.inputSampleRate;
        const from = Math.round(u.startMs * rate / 1000);
        const to = Math.round(u.endMs * rate / 1000);
        if (this.announceTurns) {
          this.sendMessage({ type: "log", data: "pause_detected" });
        }
        this.timings.push({
          pauseDetectedAt: performance.now(),
          firstAudioAt: 0,
          speechEndMs: u.speechEndMs,
        });
        if (this.timings.length > 100) this.timings.shift();
        this.#queueUtterance([rate, this.#history.slice(from, to)], {
          startMs: u.startMs,
          speechEndMs: u.speechEndMs,
          endMs: u.endMs,
        });
        return;
      }
      default:
        return;
    }
  }

  #queueUtterance(audio: AudioChunk, span: UtteranceSpan): void {
    this.#pendingUtterance = audio;
    this.#pendingSpan = span;
    this.#wake?.();
  }

  async #startReply(
    utterance: AudioChunk,
    span: UtteranceSpan,
  ): Promise<void> {
    const audio = await this.filterUtterance(utterance, span);
    if (!audio) return;
    if (this.#needsArgs && !this.phoneMode) {
      await this.waitForArgs();
    } else if (this.phoneMode && this.latestArgs.length === 0) {
      this.latestArgs = [WEBRTC_VALUE];
    }
    const gen = await this.fn(audio, ...this.latestArgs.slice(1));
    this.#begin(gen, false);
  }

  #begin(gen: ReplyGenerator, startup: boolean): void {
    const iterator = toIterator(gen);
    const abort = new AbortController();
    // A dependent signal: no listener is left on the call's signal.
    const signal = AbortSignal.any([this.context.signal, abort.signal]);
    const aborted = new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      else signal.addEventListener("abort", () => resolve(), { once: true });
    });
    this.#reply = {
      iterator,
      abort,
      signal,
      aborted,
      audioSent: false,
      name: `reply-${++replyCounter}`,
      startup,
    };
    this.#wake?.();
  }

  #checkAudio(item: unknown, reply: Reply): AudioChunk | null {
    let chunk: AudioChunk;
    try {
      chunk = assertAudioChunk(item, "the reply function's output");
    } catch (e) {
      throw new TypeError(
        `The reply function yielded ${describe(item)}; yield ` +
          `[sampleRate, Int16Array | Float32Array], AdditionalOutputs or ` +
          `CloseStream (${(e as Error).message})`,
      );
    }
    if (chunk[1].length === 0) return null;
    if (!reply.audioSent) {
      reply.audioSent = true;
      this.sendMessage({ type: "log", data: "response_starting" });
      const t = this.timings.at(-1);
      if (t && t.firstAudioAt === 0 && !reply.startup) {
        t.firstAudioAt = performance.now();
      }
    }
    return chunk;
  }

  #finishReply(reply: Reply): void {
    if (this.#reply !== reply) return;
    this.#reply = null;
    if (!reply.audioSent && !reply.startup) {
      this.sendMessage({ type: "log", data: "response_starting" });
    }
    this.#unplayed.add(reply.name);
    this.bus.mark(reply.name);
    if (!this.phoneMode && !reply.startup) this.reset();
  }

  #cancelReply(reason: string): void {
    const reply = this.#reply;
    if (!reply) return;
    this.#reply = null;
    reply.abort.abort(
      new DOMException(`Reply cancelled: ${reason}`, "AbortError"),
    );
    try {
      const r = reply.iterator.return?.();
      if (r instanceof Promise) r.catch(() => {});
    } catch {
      // A generator that is running cannot be closed synchronously; the
      // abort signal stops it.
    }
    this.#wake?.();
  }

  #phoneArgs(outputs: AdditionalOutputs): void {
    if (this.phoneMode) this.latestArgs = [WEBRTC_VALUE, ...outputs.args];
  }

  #currentTurnAudio(): AudioChunk {
    const rate = this.inputSampleRate;
    if (!this.#turns || this.#turns.state === "idle") {
      return [rate, new Int16Array(0)];
    }
    return [rate, this.#history.slice(this.#history.start, this.#history.end)];
  }

  #trimAudio(): void {
    // While a turn is in progress keep everything (the detector may return
    // all of it); between turns keep the prefix padding plus a margin.
    if (!this.#turns || this.#turns.state !== "idle") return;
    const keepMs = (this.#turns.options.prefixPaddingMs ?? 0) + 1000;
    const keep = Math.ceil(keepMs * this.inputSampleRate / 1000);
    this.#history.keepLast(keep);
  }
}

async function resolveModel(
  model: PauseDetectionModel | SileroModelOptions | undefined,
): Promise<PauseDetectionModel> {
  if (model && "createStream" in model) return model;
  return await getSileroModel(model);
}

function toIterator(
  gen: ReplyGenerator,
): AsyncIterator<ReplyItem> | Iterator<ReplyItem> {
  if (
    gen &&
    typeof (gen as AsyncIterable<ReplyItem>)[Symbol.asyncIterator] ===
      "function"
  ) {
    return (gen as AsyncIterable<ReplyItem>)[Symbol.asyncIterator]();
  }
  if (
    gen && typeof (gen as Iterable<ReplyItem>)[Symbol.iterator] === "function"
  ) {
    return (gen as Iterable<ReplyItem>)[Symbol.iterator]();
  }
  throw new TypeError(
    `The reply function returned ${describe(gen)}; write it as a generator ` +
      `(function* or async function*) that yields audio chunks`,
  );
}
