/**
 * `ReplyOnPause`: calls your generator with the caller's whole utterance as
 * soon as they pause, and plays what it yields — FastRTC's handler, with
 * streaming turn detection (32 ms Silero windows instead of 0.6 s chunks)
 * and barge-in on speech *onset* instead of at the end of the interruption.
 *
 * Turn taking over a whole call:
 * - **Resume-merge** (`mergeResumedTurns`, on by default): a caller who goes
 *   on talking after `pause_detected`, before the reply reached them, is
 *   heard as one turn; the pending reply is dropped silently and `fn` gets
 *   the whole utterance. Clients see `{"type":"log","data":"turn_merged"}`.
 * - **Preemptive generation** (`preemptiveSilenceMs`): `fn` starts early, its
 *   output is held until the turn is confirmed.
 * - **End-of-turn analysers** (`turnAnalyser`, `maxEndpointingMs`): a model
 *   consulted at each pause may ask to wait for more speech.
 * - **Per-turn metrics**: each turn ends with one `turn_metrics` log event
 *   on the bus (see `TurnMetrics`, `onTurnMetrics`, `TurnCounters`) and in
 *   {@linkcode ReplyOnPause.turnMetrics}.
 *
 * @module
 */

import {
  assertAudioChunk,
  type AudioChunk,
  audioToFloat32,
  audioToInt16,
  describe,
} from "../audio/frame.ts";
import { resample, StreamResampler } from "../audio/resampler.ts";
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
import {
  getSileroModel,
  type SileroModelOptions,
  SileroStream,
} from "../vad/silero.ts";
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
import type { EndOfTurnAnalyser, EndOfTurnResult } from "../vad/end_of_turn.ts";
import { emitTurnMetrics, type TurnMetrics } from "./turn_metrics.ts";
import { log } from "../_internal/log.ts";

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
  /**
   * Resume-merge (default true): when the caller starts speaking again after
   * `pause_detected` but before any reply audio has reached them (or within
   * `mergeGraceMs` of the first reply frame), the pending reply is cancelled
   * silently — generator closed, its `AbortSignal` aborted, nothing sent —
   * and the next `fn` call gets the whole utterance, from the first onset to
   * the new end. The client gets `{"type":"log","data":"turn_merged"}`.
   * A reply whose first audio is ready while the caller has just started
   * to speak again (not yet confirmed) waits until that speech is confirmed
   * (merge) or discarded (a cough: the reply goes out). Needs
   * `canInterrupt`; turns ended by `maxContinuousSpeechS` are never merged.
   * With false, resuming is a barge-in as before.
   */
  mergeResumedTurns?: boolean;
  /**
   * How long after the first reply frame went out a caller who started
   * speaking is still taken to be continuing (they cannot have heard the
   * reply yet); that reply audio is then flushed (Twilio `clear`). Default
   * 100 ms, measured on the call's audio clock against the resumed speech's
   * onset.
   */
  mergeGraceMs?: number;
  /**
   * Preemptive generation: start `fn` once the caller has been silent this
   * long (e.g. 200), before the turn is confirmed at `minSilenceMs`; its
   * output is held back until the turn is confirmed, and it is cancelled
   * silently if the caller resumes. Default: off. Must be below
   * `minSilenceMs`. First audio then comes about
   * `max(minSilence, preemptiveSilenceMs + time to first chunk)` after the
   * speech instead of `minSilence + time to first chunk`.
   */
  preemptiveSilenceMs?: number;
  /**
   * A semantic end-of-turn model consulted at each pause (see
   * {@linkcode EndOfTurnAnalyser}); when it says "incomplete", the reply
   * waits up to `maxEndpointingMs` for the caller to go on.
   */
  turnAnalyser?: EndOfTurnAnalyser;
  /**
   * Longest wait for more speech after a pause the analyser called
   * incomplete, in ms of call audio. Default 2000.
   */
  maxEndpointingMs?: number;
  /**
   * Time the analyser gets per pause, in ms; a later (or failed) answer
   * counts as "complete". Default 300.
   */
  turnAnalyserBudgetMs?: number;
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

/** One caller turn, from its first onset until its metrics are reported. */
interface TurnRecord {
  startMs: number;
  speechStartMs: number;
  speechEndMs: number;
  endMs: number;
  decisionMs: number;
  firstReplyMs: number | null;
  interrupted: boolean;
  merged: number;
  reason: "silence" | "max_speech" | "end" | "trigger";
  /** The reply's mark, once its generator has finished. */
  replyName: string | null;
  /** Metrics reported. */
  done: boolean;
  /** Merged into a later turn: its reply must not start. */
  absorbed: boolean;
  /** Verdict of the end-of-turn analyser, if one ran. */
  endOfTurn: EndOfTurnResult | null;
}

/** An utterance waiting for (or being given to) `fn`. */
interface Pending {
  audio: AudioChunk;
  span: UtteranceSpan;
  turn: TurnRecord | null;
  /** Preemptive: output held until the turn is confirmed. */
  held: boolean;
  cancelled: boolean;
}

/** A turn fragment being continued (resume-merge or endpointing). */
interface Merge {
  startMs: number;
  speechStartMs: number;
  speechEndMs: number;
  merged: number;
}

/** Waiting for the end-of-turn analyser, or for more speech after "incomplete". */
interface Endpointing {
  turn: TurnRecord;
  span: UtteranceSpan;
  seq: number;
  abort: AbortController;
  incomplete: boolean;
  deadlineMs: number;
}

/** Most items a held (preemptive) reply buffers before it waits. */
const MAX_HELD_ITEMS = 256;

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
  turn: TurnRecord | null;
  /** Output held back (preemptive generation) until released. */
  held: boolean;
  buffer: ReplyItem[];
  heldDone: boolean;
  /** Resolves when a held reply is let out (replaced at each hold). */
  gate: PromiseWithResolvers<void>;
  /** Held only because the caller may be resuming (an unconfirmed onset). */
  onsetHeld: boolean;
  /** Whether its utterance passed `filterUtterance`. */
  filtered: boolean;
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
  /**
   * Metrics of the turns reported so far (newest last, at most 100); each is
   * also sent on the bus as a `turn_metrics` log event.
   */
  readonly turnMetrics: TurnMetrics[] = [];
  /** Whether resumed turns are merged (see `mergeResumedTurns`). */
  readonly mergeResumedTurns: boolean;
  #mergeGraceMs: number;
  #preemptiveMs: number;
  #analyser: EndOfTurnAnalyser | null;
  #maxEndpointingMs: number;
  #analyserBudgetMs: number;
  #analyserFailed = false;
  #vadLabel = "custom";
  #turnCount = 0;
  #turn: TurnRecord | null = null;
  #merge: Merge | null = null;
  #endpoint: Endpointing | null = null;
  #endpointSeq = 0;
  #pending: Pending | null = null;
  #starting: Pending | null = null;
  #turnOptions: TurnDetectorOptions;
  #vad: PauseDetectionStream | null = null;
  #vadRate = 16000;
  /** Rate of the caller frames this call delivers (see receivesTransportRate). */
  #historyRate = 0;
  #resampler: StreamResampler | null = null;
  #feeder: WindowFeeder | null = null;
  /** Float copy of the latest caller frame (reused). */
  #f32 = new Float32Array(0);
  #turns: TurnDetector | null = null;
  // Caller audio at #historyRate, by absolute sample index.
  #history = new SampleHistory();
  #reply: Reply | null = null;
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
    this.mergeResumedTurns = options.mergeResumedTurns ?? true;
    this.#mergeGraceMs = nonNegative("mergeGraceMs", options.mergeGraceMs, 100);
    this.#preemptiveMs = options.preemptiveSilenceMs === undefined
      ? Infinity
      : nonNegative("preemptiveSilenceMs", options.preemptiveSilenceMs, 0);
    // Validate now rather than at the first call.
    const probe = new TurnDetector(this.#turnOptions);
    if (
      Number.isFinite(this.#preemptiveMs) &&
      this.#preemptiveMs >= probe.options.minSilenceMs
    ) {
      throw new RangeError(
        `preemptiveSilenceMs (${this.#preemptiveMs}) must be below minSilenceMs ` +
          `(${probe.options.minSilenceMs}); use e.g. 200, or leave it out to ` +
          `start replies only once the turn is confirmed`,
      );
    }
    const analyser = options.turnAnalyser;
    if (analyser !== undefined && typeof analyser?.analyse !== "function") {
      throw new TypeError(
        `turnAnalyser must have an analyse(input) method returning ` +
          `Promise<{ complete, probability }>; got ${describe(analyser)}`,
      );
    }
    this.#analyser = analyser ?? null;
    this.#maxEndpointingMs = nonNegative(
      "maxEndpointingMs",
      options.maxEndpointingMs,
      2000,
    );
    this.#analyserBudgetMs = nonNegative(
      "turnAnalyserBudgetMs",
      options.turnAnalyserBudgetMs,
      300,
    );
    this.#needsArgs = options.needsArgs ?? fn.length > 1;
  }

  /**
   * Whether a reply is running or its audio is still playing (queued on the
   * bus, or sent but its mark not yet reported as played).
   */
  get responding(): boolean {
    // A held (preemptive) reply is not audible yet.
    if (this.#reply !== null && !this.#reply.held) return true;
    if (this.#unplayed.size > 0) return true;
    try {
      return this.bus.outputQueuedMs > 0;
    } catch {
      return false;
    }
  }

  /**
   * Caller audio this handler currently keeps, in ms (for memory checks):
   * the turn in progress plus prefix padding, or a turn that may still be
   * continued.
   */
  get bufferedMs(): number {
    return (this.#history.end - this.#history.start) * 1000 /
      this.#rate;
  }

  /**
   * True: the call's audio reaches this handler at the transport's own rate
   * (8 kHz for phones) and is resampled once per utterance, for `fn`, to
   * `inputSampleRate`; the VAD then hears phone audio natively (no 8 → 48 →
   * 8 kHz round trip per frame, which cost ~40 % of a phone server's CPU and
   * made Silero miss speech after a turn). False when a subclass overrides
   * `onCallerAudio` (it was written for frames at `inputSampleRate`).
   */
  override get receivesTransportRate(): boolean {
    return this.onCallerAudio === ReplyOnPause.prototype.onCallerAudio;
  }

  /** The rate of the kept caller audio. */
  get #rate(): number {
    return this.#historyRate || this.inputSampleRate;
  }

  /** An utterance at `inputSampleRate`, as `fn` receives it. */
  #atInputRate(audio: AudioChunk): AudioChunk {
    const [rate, samples] = audio;
    if (rate === this.inputSampleRate) return audio;
    const pcm = samples instanceof Int16Array ? samples : audioToInt16(samples);
    const out = resample(pcm, {
      inputRate: rate,
      outputRate: this.inputSampleRate,
    });
    return [this.inputSampleRate, out];
  }

  /**
   * Notes that the caller heard a reply to its end.
   *
   * @param name The reply's mark.
   */
  override onPlayed(name: string): void {
    this.#unplayed.delete(name);
    const t = this.#turn;
    if (t && t.replyName === name) this.#closeTurn(t, false);
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
    let delivered = this.inputSampleRate;
    try {
      delivered = this.bus.handlerInputRate;
    } catch {
      // Not attached to a call (unit use): frames come at inputSampleRate.
    }
    this.#historyRate = delivered;
    // Phone audio is band-limited to 4 kHz: Silero's native 8 kHz mode
    // hears it better than an upsampled copy (and costs half as much).
    this.#vadRate = this.phoneMode && model.sampleRates.includes(8000)
      ? 8000
      : model.sampleRates.includes(delivered)
      ? delivered
      : model.sampleRate;
    this.#vad = model.createStream(this.#vadRate);
    this.#feeder = new WindowFeeder(this.#vad, {
      streamCopiesWindows: this.#vad instanceof SileroStream,
    });
    this.#resampler = this.#vadRate === delivered ? null : new StreamResampler({
      inputRate: delivered,
      outputRate: this.#vadRate,
    });
    this.#turns = new TurnDetector({
      ...this.#turnOptions,
      sampleRate: this.#vadRate,
      windowSize: this.#vad.windowSize,
      tentativeSilenceMs: this.#preemptiveMs,
    });
    const version = (model as { version?: unknown }).version;
    this.#vadLabel = typeof version === "string" ? version : "custom";
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
    this.#endpoint?.abort.abort(new Error("The call ended"));
    this.#endpoint = null;
    if (this.#turn) this.#closeTurn(this.#turn, false);
    this.#cancelReply("call ended");
    this.#vad?.close();
    this.#vad = null;
    this.#wake?.();
  }

  /**
   * Feeds caller audio to the VAD and the utterance buffer.
   *
   * @param frame `[rate, Int16Array]` at the rate the call delivers.
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
    const hook = this.onCallerAudio([this.#rate, pcm]);
    if (hook instanceof Promise) await hook;
    this.#history.push(pcm);
    // The feeder copies what it is given at once: one float buffer per call.
    if (this.#f32.length !== pcm.length) {
      this.#f32 = new Float32Array(pcm.length);
    }
    let f32 = audioToFloat32(pcm, this.#f32);
    if (this.#resampler) f32 = this.#resampler.process(f32);
    const feeder = this.#feeder!;
    let probs: number[];
    try {
      probs = await feeder.feedProbabilities(f32);
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
      const ep = this.#endpoint;
      if (
        ep && ep.incomplete && turns.state === "idle" &&
        turns.positionMs >= ep.deadlineMs
      ) {
        // The caller did not go on: answer what they said.
        this.#endpoint = null;
        this.#decide(ep.turn, ep.span);
      }
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
      if (!this.#reply && this.#pending) {
        const pending = this.#pending;
        this.#pending = null;
        await this.#startReply(pending);
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
      if (!reply.held && reply.buffer.length > 0) {
        result = { done: false, value: reply.buffer.shift()! };
      } else if (!reply.held && reply.heldDone) {
        result = { done: true, value: undefined };
      } else if (
        reply.held && (reply.heldDone || reply.buffer.length >= MAX_HELD_ITEMS)
      ) {
        // Generated ahead as far as we go: wait for the turn's confirmation.
        await Promise.race([reply.gate.promise, reply.aborted]);
        continue;
      } else {
        let raced: IteratorResult<ReplyItem> | void;
        try {
          // A cancelled reply may be stuck in an await that ignores its
          // signal; do not wait for it (its next() result is dropped).
          const next = runWithContext(
            { ...this.context, signal: reply.signal },
            () => reply.iterator.next(),
          );
          raced = await Promise.race([next, reply.aborted]);
          if (!raced) {
            Promise.resolve(next).catch(() => {});
            continue;
          }
        } catch (e) {
          if (this.#reply !== reply) continue; // cancelled by barge-in
          this.#finishReply(reply);
          if (reply.signal.aborted) continue;
          log.error(
            `[parley] call ${this.context.callId}: reply failed:`,
            e,
          );
          this.sendMessage({
            type: "error",
            message: `The reply function failed: ${
              errorText(e, { name: true })
            }`,
          });
          continue;
        }
        if (this.#reply !== reply) continue; // cancelled while waiting
        if (reply.held) {
          if (raced.done) reply.heldDone = true;
          else reply.buffer.push(raced.value);
          continue;
        }
        result = raced;
      }
      if (result.done) {
        this.#finishReply(reply);
        continue;
      }
      const item = result.value;
      if (item === null || item === undefined) continue;
      if (!reply.audioSent && hasAudio(item) && this.#mayBeResuming(reply)) {
        // The caller has started to speak again but it is not confirmed
        // yet: keep the reply's first audio until we know, so a merge
        // needs nothing flushed.
        reply.buffer.unshift(item);
        reply.held = true;
        reply.onsetHeld = true;
        reply.gate = Promise.withResolvers<void>();
        continue;
      }
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
    if (this.#turn) this.#closeTurn(this.#turn, true);
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
    const endMs = this.#history.end * 1000 / this.#rate;
    const span = {
      startMs: endMs - audio[1].length * 1000 / this.#rate,
      speechEndMs: endMs,
      endMs,
    };
    if (this.#turn) this.#closeTurn(this.#turn, false);
    const turn = this.#newTurn(span, span.startMs, 0, "trigger");
    turn.decisionMs = endMs;
    this.#turn = turn;
    this.#queue({ audio, span, turn, held: false, cancelled: false });
  }

  /**
   * Hook for subclasses: a reply whose utterance passed
   * {@linkcode ReplyOnPause.filterUtterance} was withdrawn before the caller
   * heard it (resume-merge, or a preemptive reply the caller talked over);
   * the same speech will be offered again, extended. `ReplyOnStopWords`
   * re-arms itself here.
   */
  protected onReplyWithdrawn(): void {}

  // --------------------------------------------------------------- internal

  /** The call's audio clock: caller audio received so far, in ms. */
  #clockMs(): number {
    let queued = 0;
    try {
      queued = this.bus.inputQueuedMs;
    } catch {
      // Not attached (unit use): only the audio seen.
    }
    return this.#history.end * 1000 / this.#rate + queued;
  }

  #onTurnEvent(event: TurnEvent): void {
    switch (event.type) {
      case "interrupt_confirmed":
        if (this.#continueTurn(event.speechStartMs)) return;
        this.#releaseOnsetHold();
        if (this.canInterrupt && this.bargeInEnabled) {
          this.interruptReply("barge-in");
        }
        return;
      case "started_talking":
        if (this.responding && !this.canInterrupt) return;
        if (!this.#continueTurn(event.speechStartMs)) this.#releaseOnsetHold();
        if (this.announceTurns) {
          this.sendMessage({ type: "log", data: "started_talking" });
        }
        return;
      case "pause_tentative":
        this.#preempt(event.utterance);
        return;
      case "speech_resumed":
        this.#withdrawHeld();
        return;
      case "speech_discarded": {
        this.#releaseOnsetHold();
        // A continuation that turned out to be a cough: answer the turn as
        // it was.
        const m = this.#merge;
        if (m && this.turnState === "idle") {
          this.#merge = null;
          const span = {
            startMs: m.startMs,
            speechEndMs: m.speechEndMs,
            endMs: event.atMs,
          };
          const turn = this.#newTurn(
            span,
            m.speechStartMs,
            m.merged,
            "silence",
          );
          this.#turn = turn;
          this.#decide(turn, span);
        }
        return;
      }
      case "pause_detected": {
        if (this.responding && !this.canInterrupt) {
          this.#turns?.reset();
          return;
        }
        const u = event.utterance;
        const span: UtteranceSpan = {
          startMs: u.startMs,
          speechEndMs: u.speechEndMs,
          endMs: u.endMs,
        };
        let speechStartMs = u.speechStartMs;
        let merged = 0;
        const m = this.#merge;
        if (m) {
          this.#merge = null;
          span.startMs = m.startMs;
          speechStartMs = m.speechStartMs;
          merged = m.merged;
        }
        if (this.announceTurns) {
          this.sendMessage({ type: "log", data: "pause_detected" });
        }
        this.timings.push({
          pauseDetectedAt: performance.now(),
          firstAudioAt: 0,
          speechEndMs: u.speechEndMs,
        });
        if (this.timings.length > 100) this.timings.shift();
        const old = this.#turn;
        if (old) this.#closeTurn(old, false);
        const turn = this.#newTurn(span, speechStartMs, merged, event.reason);
        this.#turn = turn;
        // A preemptive reply already running belongs to this turn now.
        const held = this.#heldReply();
        if (held) held.turn = turn;
        if (this.#analyser && event.reason === "silence") {
          this.#startEndpointing(turn, span);
        } else {
          this.#decide(turn, span);
        }
        return;
      }
      default:
        return;
    }
  }

  #newTurn(
    span: UtteranceSpan,
    speechStartMs: number,
    merged: number,
    reason: TurnRecord["reason"],
  ): TurnRecord {
    return {
      startMs: span.startMs,
      speechStartMs,
      speechEndMs: span.speechEndMs,
      endMs: span.endMs,
      decisionMs: span.endMs,
      firstReplyMs: null,
      interrupted: false,
      merged,
      reason,
      replyName: null,
      done: false,
      absorbed: false,
      endOfTurn: null,
    };
  }

  /** The caller audio of `span`, at the kept rate. */
  #audioOf(span: UtteranceSpan): AudioChunk {
    const rate = this.#rate;
    const from = Math.round(span.startMs * rate / 1000);
    const to = Math.round(span.endMs * rate / 1000);
    return [rate, this.#history.slice(from, to)];
  }

  /** The end of the turn is decided: reply (or let the held reply out). */
  #decide(turn: TurnRecord, span: UtteranceSpan): void {
    turn.decisionMs = Math.max(turn.endMs, this.#turns?.positionMs ?? 0);
    const held = this.#heldReply();
    if (held) {
      held.turn = turn;
      held.held = false;
      if ("iterator" in held) held.gate.resolve();
      return;
    }
    this.#queue({
      audio: this.#audioOf(span),
      span,
      turn,
      held: false,
      cancelled: false,
    });
  }

  /** Whether a reply's first audio should wait for an unconfirmed onset. */
  #mayBeResuming(reply: Reply): boolean {
    const t = reply.turn;
    return this.mergeResumedTurns && this.canInterrupt && t !== null &&
      !t.done && t.reason === "silence" && this.turnState === "onset";
  }

  /** Lets out a reply held for an onset that did not continue the turn. */
  #releaseOnsetHold(): void {
    const reply = this.#reply;
    if (reply?.onsetHeld) {
      reply.onsetHeld = false;
      reply.held = false;
      reply.gate.resolve();
    }
  }

  /** The preemptive reply (running, starting or queued), if any. */
  #heldReply(): Reply | Pending | null {
    if (this.#reply?.held && !this.#reply.onsetHeld) return this.#reply;
    if (this.#starting?.held && !this.#starting.cancelled) {
      return this.#starting;
    }
    if (this.#pending?.held) return this.#pending;
    return null;
  }

  /** Silence reached `preemptiveSilenceMs`: start `fn`, holding its output. */
  #preempt(u: { startMs: number; speechEndMs: number; endMs: number }): void {
    if (this.#reply || this.#pending || this.#starting || this.#endpoint) {
      return;
    }
    const span: UtteranceSpan = {
      startMs: this.#merge?.startMs ?? u.startMs,
      speechEndMs: u.speechEndMs,
      endMs: u.endMs,
    };
    this.#queue({
      audio: this.#audioOf(span),
      span,
      turn: null,
      held: true,
      cancelled: false,
    });
  }

  /** The caller went on before the turn was confirmed: drop the held reply. */
  #withdrawHeld(): void {
    const reply = this.#reply;
    if (reply?.held) {
      this.#cancelReply("caller resumed");
      if (reply.filtered) this.onReplyWithdrawn();
    }
    if (this.#starting?.held) this.#starting.cancelled = true;
    if (this.#pending?.held) this.#pending = null;
  }

  /**
   * The caller speaks again: when the last turn's reply has not reached them
   * (or the turn was still being analysed), cancel it silently and continue
   * the turn. Returns whether the speech is a continuation.
   */
  #continueTurn(speechStartMs: number): boolean {
    if (this.#merge) return true;
    const t = this.#turn;
    if (!t || t.done || !this.canInterrupt) return false;
    const ep = this.#endpoint;
    const analysing = ep !== null && ep.turn === t;
    if (!analysing) {
      if (!this.mergeResumedTurns || t.reason !== "silence") return false;
      if (
        t.firstReplyMs !== null &&
        speechStartMs > t.firstReplyMs + this.#mergeGraceMs
      ) {
        return false;
      }
      const maxS = this.#turns?.options.maxContinuousSpeechS ?? Infinity;
      if (this.#clockMs() - t.speechStartMs > maxS * 1000) return false;
    } else {
      ep.abort.abort(new Error("The caller resumed"));
      this.#endpoint = null;
    }
    t.absorbed = true;
    const reply = this.#reply;
    let withdrawn = false;
    if (reply && (reply.turn === t || reply.held)) {
      const heard = reply.audioSent;
      withdrawn = reply.filtered;
      this.#cancelReply("caller resumed");
      if (heard) {
        this.#unplayed.clear();
        this.bus.interrupt("turn merged");
      }
    } else if (t.firstReplyMs !== null && this.responding) {
      // The reply finished generating but is still queued or playing.
      this.#unplayed.clear();
      this.bus.interrupt("turn merged");
      withdrawn = true;
    }
    if (this.#starting && (this.#starting.turn === t || this.#starting.held)) {
      // #startReply notices, and calls onReplyWithdrawn once its
      // filterUtterance has run.
      this.#starting.cancelled = true;
    }
    if (this.#pending && (this.#pending.turn === t || this.#pending.held)) {
      this.#pending = null;
    }
    if (withdrawn) this.onReplyWithdrawn();
    this.#merge = {
      startMs: t.startMs,
      speechStartMs: t.speechStartMs,
      speechEndMs: t.speechEndMs,
      merged: t.merged + 1,
    };
    this.#turn = null;
    if (this.announceTurns) {
      this.sendMessage({ type: "log", data: "turn_merged" });
    }
    return true;
  }

  #startEndpointing(turn: TurnRecord, span: UtteranceSpan): void {
    const analyser = this.#analyser!;
    const seq = ++this.#endpointSeq;
    const abort = new AbortController();
    const ep: Endpointing = {
      turn,
      span,
      seq,
      abort,
      incomplete: false,
      deadlineMs: span.endMs + this.#maxEndpointingMs,
    };
    this.#endpoint = ep;
    const rate = this.#rate;
    const to = Math.round(span.endMs * rate / 1000);
    const from = Math.max(
      Math.round(span.startMs * rate / 1000),
      to - 8 * rate,
    );
    let audio = audioToFloat32(this.#history.slice(from, to));
    if (rate !== 16000) {
      audio = resample(audio, { inputRate: rate, outputRate: 16000 });
    }
    const budget = setTimeout(
      () =>
        abort.abort(
          new DOMException(
            "End-of-turn analysis took too long",
            "TimeoutError",
          ),
        ),
      this.#analyserBudgetMs,
    );
    const aborted = new Promise<never>((_, reject) =>
      abort.signal.addEventListener(
        "abort",
        () => reject(abort.signal.reason),
        { once: true },
      )
    );
    aborted.catch(() => {});
    Promise.race([
      Promise.resolve().then(() =>
        analyser.analyse({ audio, sampleRate: 16000, signal: abort.signal })
      ),
      aborted,
    ]).then((result) => {
      if (this.#endpoint !== ep) return;
      turn.endOfTurn = result;
      if (result.complete) {
        this.#endpoint = null;
        this.#decide(turn, span);
      } else {
        ep.incomplete = true;
      }
    }, (e) => {
      if (this.#endpoint !== ep) return;
      if (!this.#analyserFailed) {
        this.#analyserFailed = true;
        log.error(
          `[parley] end-of-turn analyser failed or was late (taken as complete):`,
          e,
        );
      }
      this.#endpoint = null;
      this.#decide(turn, span);
    }).finally(() => clearTimeout(budget));
  }

  /** Reports a turn's metrics, once. */
  #closeTurn(t: TurnRecord, interrupted: boolean): void {
    if (t.done) return;
    t.done = true;
    t.interrupted = interrupted && t.firstReplyMs !== null;
    if (this.#turn === t) this.#turn = null;
    const metrics: TurnMetrics = {
      turn: ++this.#turnCount,
      vad: this.#vadLabel,
      speechStartMs: t.speechStartMs,
      speechEndMs: t.speechEndMs,
      decisionMs: t.decisionMs,
      firstReplyMs: t.firstReplyMs,
      latencyMs: t.firstReplyMs === null
        ? null
        : t.firstReplyMs - t.speechEndMs,
      interrupted: t.interrupted,
      merged: t.merged,
    };
    this.turnMetrics.push(metrics);
    if (this.turnMetrics.length > 100) this.turnMetrics.shift();
    try {
      emitTurnMetrics(this.bus, metrics);
    } catch {
      // Not attached to a call.
    }
  }

  #queue(pending: Pending): void {
    this.#pending = pending;
    this.#wake?.();
  }

  async #startReply(p: Pending): Promise<void> {
    this.#starting = p;
    try {
      const audio = await this.filterUtterance(p.audio, p.span);
      if (!audio || p.cancelled || p.turn?.absorbed) {
        // Not for us (or withdrawn meanwhile): no turn to report.
        if (audio && (p.cancelled || p.turn?.absorbed)) {
          this.onReplyWithdrawn();
        }
        if (!audio && p.turn && this.#turn === p.turn) this.#turn = null;
        return;
      }
      if (this.#needsArgs && !this.phoneMode) {
        await this.waitForArgs();
      } else if (this.phoneMode && this.latestArgs.length === 0) {
        this.latestArgs = [WEBRTC_VALUE];
      }
      const gen = await this.fn(
        this.#atInputRate(audio),
        ...this.latestArgs.slice(1),
      );
      if (p.cancelled || p.turn?.absorbed) {
        closeQuietly(gen);
        this.onReplyWithdrawn();
        return;
      }
      this.#begin(gen, false, p);
    } finally {
      if (this.#starting === p) this.#starting = null;
    }
  }

  #begin(gen: ReplyGenerator, startup: boolean, p?: Pending): void {
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
      turn: p?.turn ?? null,
      held: p?.held ?? false,
      buffer: [],
      heldDone: false,
      gate: Promise.withResolvers<void>(),
      onsetHeld: false,
      filtered: p !== undefined,
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
      if (reply.turn && reply.turn.firstReplyMs === null) {
        reply.turn.firstReplyMs = this.#clockMs();
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
    const t = reply.turn;
    if (t && !t.done) {
      // Reported once the caller has heard it (or now, if it was silent).
      if (reply.audioSent) t.replyName = reply.name;
      else this.#closeTurn(t, false);
    }
    if (!this.phoneMode && !reply.startup) this.reset();
  }

  #cancelReply(reason: string): void {
    const reply = this.#reply;
    if (!reply) return;
    this.#reply = null;
    reply.abort.abort(
      new DOMException(`Reply cancelled: ${reason}`, "AbortError"),
    );
    reply.gate.resolve();
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
    const rate = this.#rate;
    if (!this.#turns || this.#turns.state === "idle") {
      return [rate, new Int16Array(0)];
    }
    return [rate, this.#history.slice(this.#history.start, this.#history.end)];
  }

  #trimAudio(): void {
    // Keep the utterance in progress (from its onset minus padding), the
    // prefix padding plus a margin, and a turn that may still be continued
    // (merge, endpointing); drop the rest.
    if (!this.#turns) return;
    const rate = this.#rate;
    const keepMs = (this.#turns.options.prefixPaddingMs ?? 0) + 1000;
    let keep = Math.ceil(keepMs * rate / 1000);
    let fromMs = this.#turns.utteranceStartMs ?? Infinity;
    if (this.#merge) fromMs = Math.min(fromMs, this.#merge.startMs);
    if (this.#endpoint) fromMs = Math.min(fromMs, this.#endpoint.span.startMs);
    const t = this.#turn;
    if (
      t && !t.done && this.mergeResumedTurns &&
      (t.firstReplyMs === null ||
        this.#clockMs() <= t.firstReplyMs + this.#mergeGraceMs + 1000)
    ) {
      fromMs = Math.min(fromMs, t.startMs);
    }
    const pending = this.#pending ?? this.#starting;
    if (pending) fromMs = Math.min(fromMs, pending.span.startMs);
    if (Number.isFinite(fromMs)) {
      keep = Math.max(
        keep,
        this.#history.end - Math.floor(fromMs * rate / 1000),
      );
    }
    this.#history.keepLast(keep);
  }
}

function nonNegative(
  name: string,
  value: number | undefined,
  dflt: number,
): number {
  const v = value ?? dflt;
  if (typeof v !== "number" || Number.isNaN(v) || v < 0) {
    throw new RangeError(
      `Invalid ${name}: ${String(value)}; use a number of milliseconds ≥ 0`,
    );
  }
  return v;
}

function hasAudio(item: ReplyItem): boolean {
  const audio = Array.isArray(item) && item.length === 2 &&
      item[1] instanceof AdditionalOutputs
    ? item[0]
    : item;
  return Array.isArray(audio) && audio.length >= 2 &&
    ArrayBuffer.isView(audio[1]) && (audio[1] as Int16Array).length > 0;
}

function closeQuietly(gen: ReplyGenerator): void {
  try {
    const it = toIterator(gen);
    const r = it.return?.();
    if (r instanceof Promise) r.catch(() => {});
  } catch {
    // Nothing to close.
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
