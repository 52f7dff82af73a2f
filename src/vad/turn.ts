/**
 * Streaming turn detection over per-window speech probabilities.
 *
 * A {@linkcode TurnDetector} takes one VAD probability per window (32 ms for
 * Silero) and reports when the caller starts talking, when a barge-in is
 * confirmed, and when the turn ends. Decisions are made window by window, so
 * end of turn is declared `minSilenceMs` (rounded up to whole windows) after
 * the probability drops — not at FastRTC's 0.6 s chunk granularity.
 *
 * @module
 */

/**
 * Options of {@linkcode TurnDetector}; every field has a default.
 *
 * @example A patient detector for dictation over the phone
 * ```ts
 * import { TurnDetector, type TurnDetectorOptions } from "@parley/parley/vad";
 * const options: TurnDetectorOptions = {
 *   sampleRate: 8000,
 *   minSilenceMs: 900,
 *   maxContinuousSpeechS: 30,
 * };
 * const turns = new TurnDetector(options);
 * ```
 */
export interface TurnDetectorOptions {
  /** Sample rate of the VAD windows in hertz. Default 16000. */
  sampleRate?: number;
  /** Samples per window. Default: 32 ms at `sampleRate` (512 at 16 kHz, 256 at 8 kHz). */
  windowSize?: number;
  /**
   * A window with probability ≥ this starts speech (or ends a silence run).
   * Default 0.5 (Silero's threshold).
   */
  activationThreshold?: number;
  /**
   * While speaking, only a window with probability below this counts as
   * silence; values between the two thresholds continue the current run
   * (hysteresis). Default 0.35 (Silero's `threshold − 0.15`).
   */
  deactivationThreshold?: number;
  /**
   * Speech needed (counted since onset) before the turn is confirmed and
   * `started_talking` is reported; shorter bursts are discarded. Default 250.
   */
  minSpeechMs?: number;
  /**
   * Silence that ends a confirmed turn (`pause_detected`). Default 400: the
   * event fires 416 ms (13 windows) after the probability drops, under
   * 0.5 s after the last word, while the usual 150–350 ms pauses between
   * words and phrases do not cut the turn.
   */
  minSilenceMs?: number;
  /** Audio kept from before the speech onset and returned with the utterance. Default 300. */
  prefixPaddingMs?: number;
  /**
   * Longest utterance, in seconds from the onset; when a speech window reaches
   * it, `pause_detected` is reported with reason `"max_speech"` even while the
   * caller keeps talking. Default 60: a turn that never ends (a monologue,
   * or line noise the VAD takes for speech) is answered after a minute
   * instead of keeping its audio forever (about 5.8 MB per minute at
   * 48 kHz). FastRTC's `max_continuous_speech_s` defaults to `Infinity`;
   * pass `Infinity` for that, knowing the whole turn is then kept.
   */
  maxContinuousSpeechS?: number;
  /**
   * Silence after which a confirmed turn *may* be ending: `pause_tentative`
   * is reported once per silence run when it lasts this long (before
   * `minSilenceMs`), and `speech_resumed` if speech comes back before the
   * turn ends. For preemptive generation. Default `Infinity` (never).
   */
  tentativeSilenceMs?: number;
  /**
   * Speech (since onset) after which `interrupt_confirmed` is reported, for
   * barge-in while a reply plays. Default 160 (5 windows). It may come before
   * `started_talking`.
   */
  interruptConfirmMs?: number;
}

/**
 * Times of one utterance reported with `pause_detected`.
 *
 * @example Slice the caller's 48 kHz audio kept by a handler
 * ```ts
 * import type { Utterance } from "@parley/parley/vad";
 * function slice48k(own: Float32Array, u: Utterance): Float32Array {
 *   const at = (ms: number) => Math.round((ms * 48000) / 1000);
 *   return own.subarray(at(u.startMs), at(u.endMs));
 * }
 * ```
 */
export interface Utterance {
  /** Start of the returned audio: the onset minus prefix padding (ms since the detector started). */
  startMs: number;
  /** Start of the first speech window. */
  speechStartMs: number;
  /** End of the last window that counted as speech. */
  speechEndMs: number;
  /** End of the returned audio (the window where the pause was decided). */
  endMs: number;
  /** Total duration of windows that counted as speech. */
  speechMs: number;
  /** `startMs` as a sample offset at the detector's sample rate. */
  startSample: number;
  /** `endMs` as a sample offset at the detector's sample rate. */
  endSample: number;
  /**
   * Samples `startSample .. endSample` at the detector's rate, when every
   * window was pushed with its samples; otherwise `undefined`.
   */
  audio?: Float32Array;
}

/**
 * First window at or above the activation threshold (not yet confirmed).
 *
 * @example
 * ```ts
 * import { TurnDetector } from "@parley/parley/vad";
 * const [onset] = new TurnDetector().push(0.9);
 * console.log(onset.type); // "speech_onset"
 * ```
 */
export interface SpeechOnsetEvent {
  /** Event kind. */
  type: "speech_onset";
  /** Time of the decision: end of the current window (ms since start). */
  atMs: number;
  /** Start of the first speech window. */
  speechStartMs: number;
}

/**
 * Speech has lasted `interruptConfirmMs`: safe to cut a playing reply.
 *
 * @example Barge-in
 * ```ts
 * import { TurnDetector } from "@parley/parley/vad";
 * const turns = new TurnDetector({ interruptConfirmMs: 96 });
 * const abort = new AbortController();
 * for (const p of [0.9, 0.9, 0.9]) {
 *   for (const e of turns.push(p)) {
 *     if (e.type === "interrupt_confirmed") abort.abort();
 *   }
 * }
 * console.log(abort.signal.aborted); // true
 * ```
 */
export interface InterruptConfirmedEvent {
  /** Event kind. */
  type: "interrupt_confirmed";
  /** Time of the decision. */
  atMs: number;
  /** Start of the first speech window. */
  speechStartMs: number;
  /** Speech counted so far. */
  speechMs: number;
}

/**
 * Speech has lasted `minSpeechMs`: the turn is real (FastRTC's
 * `started_talking`).
 *
 * @example
 * ```ts
 * import { TurnDetector } from "@parley/parley/vad";
 * const turns = new TurnDetector({ minSpeechMs: 64 });
 * const events = [...turns.push(0.9), ...turns.push(0.9)];
 * console.log(events.some((e) => e.type === "started_talking")); // true
 * ```
 */
export interface StartedTalkingEvent {
  /** Event kind. */
  type: "started_talking";
  /** Time of the decision. */
  atMs: number;
  /** Start of the first speech window. */
  speechStartMs: number;
}

/**
 * End of a confirmed turn (FastRTC's `pause_detected`).
 *
 * @example
 * ```ts
 * import type { PauseDetectedEvent } from "@parley/parley/vad";
 * function onPause(e: PauseDetectedEvent): void {
 *   const u = e.utterance;
 *   console.log(e.reason, u.speechStartMs, u.speechEndMs, u.audio?.length);
 * }
 * ```
 */
export interface PauseDetectedEvent {
  /** Event kind. */
  type: "pause_detected";
  /** Time of the decision (= `utterance.endMs`). */
  atMs: number;
  /**
   * `"silence"`: `minSilenceMs` of silence; `"max_speech"`:
   * `maxContinuousSpeechS` reached; `"end"`: {@linkcode TurnDetector.finish}.
   */
  reason: "silence" | "max_speech" | "end";
  /** Times (and audio) of the utterance. */
  utterance: Utterance;
}

/**
 * Speech that stopped before `minSpeechMs` (a cough, a click): ignored.
 *
 * @example
 * ```ts
 * import { TurnDetector } from "@parley/parley/vad";
 * const turns = new TurnDetector({ minSilenceMs: 32 });
 * const events = [...turns.push(0.9), ...turns.push(0.0)];
 * console.log(events.at(-1)?.type); // "speech_discarded"
 * ```
 */
export interface SpeechDiscardedEvent {
  /** Event kind. */
  type: "speech_discarded";
  /** Time of the decision. */
  atMs: number;
  /** Start of the first speech window. */
  speechStartMs: number;
  /** Speech counted before it stopped. */
  speechMs: number;
}

/**
 * A confirmed turn has been silent for `tentativeSilenceMs`: it may be
 * ending (preemptive generation starts here).
 *
 * @example
 * ```ts
 * import { TurnDetector } from "@parley/parley/vad";
 * const turns = new TurnDetector({ minSpeechMs: 32, tentativeSilenceMs: 64 });
 * const events = [0.9, 0.9, 0, 0].flatMap((p) => turns.push(p));
 * console.log(events.at(-1)?.type); // "pause_tentative"
 * ```
 */
export interface PauseTentativeEvent {
  /** Event kind. */
  type: "pause_tentative";
  /** Time of the decision. */
  atMs: number;
  /** The utterance so far (no `audio`). */
  utterance: Utterance;
}

/**
 * Speech came back after a `pause_tentative`, before the turn ended.
 *
 * @example
 * ```ts
 * import type { SpeechResumedEvent } from "@parley/parley/vad";
 * const e: SpeechResumedEvent = { type: "speech_resumed", atMs: 1000 };
 * ```
 */
export interface SpeechResumedEvent {
  /** Event kind. */
  type: "speech_resumed";
  /** Time of the decision. */
  atMs: number;
}

/**
 * Everything {@linkcode TurnDetector.push} can report.
 *
 * @example
 * ```ts
 * import type { TurnEvent } from "@parley/parley/vad";
 * function describe(e: TurnEvent): string {
 *   return e.type === "pause_detected" ? `turn ended (${e.reason})` : e.type;
 * }
 * ```
 */
export type TurnEvent =
  | SpeechOnsetEvent
  | InterruptConfirmedEvent
  | StartedTalkingEvent
  | PauseDetectedEvent
  | SpeechDiscardedEvent
  | PauseTentativeEvent
  | SpeechResumedEvent;

/**
 * Phase of a {@linkcode TurnDetector}.
 *
 * @example
 * ```ts
 * import { TurnDetector, type TurnState } from "@parley/parley/vad";
 * const state: TurnState = new TurnDetector().state; // "idle"
 * ```
 */
export type TurnState = "idle" | "onset" | "speaking";

function checkNumber(
  name: string,
  value: number,
  min: number,
  max = Infinity,
  allowInfinity = false,
): number {
  if (
    typeof value !== "number" || Number.isNaN(value) ||
    (!allowInfinity && !Number.isFinite(value)) || value < min || value > max
  ) {
    throw new RangeError(
      `Invalid ${name}: ${String(value)}; use a number from ${min} to ${max}`,
    );
  }
  return value;
}

/**
 * Streaming turn detector: push one speech probability per VAD window and
 * act on the returned events.
 *
 * Algorithm (a Schmitt trigger with durations): while idle, a window with
 * `p ≥ activationThreshold` starts an utterance (`speech_onset`). In an
 * utterance, a speech run continues while `p ≥ deactivationThreshold`; a
 * window below it starts a silence run, which continues until a window with
 * `p ≥ activationThreshold`. Windows in speech runs add to `speechMs`;
 * `interrupt_confirmed` and `started_talking` fire when `speechMs` reaches
 * `interruptConfirmMs` and `minSpeechMs`. A silence run of `minSilenceMs`
 * ends the utterance: `pause_detected` if it was confirmed, otherwise
 * `speech_discarded`.
 *
 * Times are milliseconds of audio since the detector was created, counted
 * from the windows pushed (`atMs` is the end of the window just pushed).
 * A handler that keeps its caller's audio at another rate (say 48 kHz) can
 * slice its own buffer with `Math.round(utterance.startMs * rate / 1000)`, as
 * long as its buffer and the VAD input start at the same moment. If windows
 * are pushed with their samples, `pause_detected` also carries the utterance
 * audio at the VAD rate (prefix padding included). Utterances never overlap:
 * prefix padding does not reach back past the end of the previous one.
 *
 * @example Detect turns in a stream of probabilities
 * ```ts
 * import { TurnDetector } from "@parley/parley/vad";
 * const turns = new TurnDetector({ sampleRate: 16000 });
 * const probs = [...Array(20).fill(0.9), ...Array(20).fill(0.02)];
 * for (const p of probs) {
 *   for (const event of turns.push(p)) {
 *     if (event.type === "pause_detected") {
 *       console.log(event.utterance.speechStartMs, event.utterance.speechEndMs); // 0 640
 *     }
 *   }
 * }
 * ```
 */
export class TurnDetector {
  /** Sample rate of the windows. */
  readonly sampleRate: number;
  /** Samples per window. */
  readonly windowSize: number;
  /** Duration of one window in milliseconds. */
  readonly windowMs: number;
  /** The options in effect, defaults filled in. */
  readonly options: Readonly<Required<TurnDetectorOptions>>;

  #state: TurnState = "idle";
  #windows = 0; // windows pushed so far
  #floor = 0; // first window the next utterance may include
  #onset = 0; // window index of the onset
  #startWin = 0; // first window of the utterance audio (with padding)
  #lastSpeechEnd = 0; // window index after the last speech window
  #speechWindows = 0;
  #silenceWindows = 0;
  #inSilence = false;
  #interruptSent = false;
  #tentativeSent = false;
  #tentativeWindows: number;
  #prefix: (Float32Array | undefined)[] = [];
  #audio: (Float32Array | undefined)[] = [];
  #prefixWindows: number;
  #minSpeechWindows: number;
  #minSilenceWindows: number;
  #interruptWindows: number;
  #maxWindows: number;

  /**
   * Creates a detector.
   *
   * @param options Thresholds and durations; see {@linkcode TurnDetectorOptions}.
   */
  constructor(options: TurnDetectorOptions = {}) {
    const sampleRate = checkNumber(
      "sampleRate",
      options.sampleRate ?? 16000,
      1,
      384000,
    );
    const windowSize = checkNumber(
      "windowSize",
      options.windowSize ?? Math.round(sampleRate * 0.032),
      1,
    );
    const activationThreshold = checkNumber(
      "activationThreshold",
      options.activationThreshold ?? 0.5,
      0,
      1,
    );
    const deactivationThreshold = checkNumber(
      "deactivationThreshold",
      options.deactivationThreshold ??
        Math.min(0.35, Math.max(activationThreshold - 0.15, 0.01)),
      0,
      activationThreshold,
    );
    const o: Required<TurnDetectorOptions> = {
      sampleRate,
      windowSize,
      activationThreshold,
      deactivationThreshold,
      minSpeechMs: checkNumber("minSpeechMs", options.minSpeechMs ?? 250, 0),
      minSilenceMs: checkNumber(
        "minSilenceMs",
        options.minSilenceMs ?? 400,
        0,
      ),
      prefixPaddingMs: checkNumber(
        "prefixPaddingMs",
        options.prefixPaddingMs ?? 300,
        0,
      ),
      maxContinuousSpeechS: checkNumber(
        "maxContinuousSpeechS",
        options.maxContinuousSpeechS ?? 60,
        0,
        Infinity,
        true,
      ),
      tentativeSilenceMs: checkNumber(
        "tentativeSilenceMs",
        options.tentativeSilenceMs ?? Infinity,
        0,
        Infinity,
        true,
      ),
      interruptConfirmMs: checkNumber(
        "interruptConfirmMs",
        options.interruptConfirmMs ?? 160,
        0,
        Infinity,
        true,
      ),
    };
    if (!Number.isInteger(windowSize)) {
      throw new RangeError(
        `Invalid windowSize: ${windowSize}; use a whole number of samples such as 512`,
      );
    }
    this.options = Object.freeze(o);
    this.sampleRate = sampleRate;
    this.windowSize = windowSize;
    this.windowMs = (windowSize * 1000) / sampleRate;
    const w = this.windowMs;
    // Durations round up to whole windows (a tiny tolerance absorbs float error).
    const win = (ms: number) => Math.max(1, Math.ceil(ms / w - 1e-9));
    this.#minSpeechWindows = win(o.minSpeechMs);
    this.#minSilenceWindows = win(o.minSilenceMs);
    this.#interruptWindows = Number.isFinite(o.interruptConfirmMs)
      ? win(o.interruptConfirmMs)
      : Infinity;
    this.#prefixWindows = o.prefixPaddingMs > 0
      ? Math.ceil(o.prefixPaddingMs / w - 1e-9)
      : 0;
    this.#tentativeWindows = Number.isFinite(o.tentativeSilenceMs)
      ? win(o.tentativeSilenceMs)
      : Infinity;
    this.#maxWindows = Number.isFinite(o.maxContinuousSpeechS)
      ? win(o.maxContinuousSpeechS * 1000)
      : Infinity;
  }

  /** `"idle"`, `"onset"` (speech not yet confirmed) or `"speaking"` (confirmed turn). */
  get state(): TurnState {
    return this.#state;
  }

  /** Speech counted in the current utterance, in ms (0 when idle). */
  get speechMs(): number {
    return this.#speechWindows * this.windowMs;
  }

  /** Length of the current silence run inside an utterance, in ms. */
  get silenceMs(): number {
    return this.#silenceWindows * this.windowMs;
  }

  /**
   * Start of the current utterance's audio (onset minus prefix padding), in
   * ms; null when idle.
   */
  get utteranceStartMs(): number | null {
    return this.#state === "idle" ? null : this.#ms(this.#startWin);
  }

  /** Audio time pushed so far, in ms (end of the last window). */
  get positionMs(): number {
    return this.#windows * this.windowMs;
  }

  /**
   * Processes the probability of the next window and returns what happened
   * (usually nothing).
   *
   * @param probability Speech probability of the window, 0..1.
   * @param samples The window's samples (exactly `windowSize`, at
   * `sampleRate`) if the utterance audio should be collected; copied.
   * @returns Events in order; often empty.
   */
  push(probability: number, samples?: Float32Array): TurnEvent[] {
    if (
      typeof probability !== "number" || !(probability >= 0 && probability <= 1)
    ) {
      throw new RangeError(
        `Invalid speech probability ${
          String(probability)
        }; pass the VAD output, a number from 0 to 1`,
      );
    }
    if (samples !== undefined && samples.length !== this.windowSize) {
      throw new RangeError(
        `Window has ${samples.length} samples but the detector expects ${this.windowSize}; ` +
          `push exactly one VAD window per call`,
      );
    }
    const copy = samples ? samples.slice() : undefined;
    const index = this.#windows++;
    const events: TurnEvent[] = [];
    const o = this.options;

    if (this.#state === "idle") {
      if (probability >= o.activationThreshold) {
        this.#state = "onset";
        this.#onset = index;
        const pad = Math.min(this.#prefix.length, index - this.#floor);
        this.#startWin = index - pad;
        this.#audio = this.#prefix.slice(this.#prefix.length - pad);
        this.#audio.push(copy);
        this.#prefix = [];
        this.#speechWindows = 1;
        this.#silenceWindows = 0;
        this.#inSilence = false;
        this.#interruptSent = false;
        this.#tentativeSent = false;
        this.#lastSpeechEnd = index + 1;
        events.push({
          type: "speech_onset",
          atMs: this.#ms(index + 1),
          speechStartMs: this.#ms(index),
        });
        this.#afterSpeech(index, events);
      } else {
        this.#remember(copy);
      }
      return events;
    }

    this.#audio.push(copy);
    const speech = this.#inSilence
      ? probability >= o.activationThreshold
      : probability >= o.deactivationThreshold;
    if (speech) {
      if (this.#tentativeSent) {
        this.#tentativeSent = false;
        events.push({ type: "speech_resumed", atMs: this.#ms(index + 1) });
      }
      this.#inSilence = false;
      this.#silenceWindows = 0;
      this.#speechWindows++;
      this.#lastSpeechEnd = index + 1;
      this.#afterSpeech(index, events);
    } else {
      this.#inSilence = true;
      this.#silenceWindows++;
      if (this.#silenceWindows >= this.#minSilenceWindows) {
        if (this.#state === "speaking") {
          events.push(this.#pause("silence", index + 1));
        } else {
          events.push(this.#discard(index + 1));
        }
        return events;
      }
      if (
        this.#state === "speaking" && !this.#tentativeSent &&
        this.#silenceWindows >= this.#tentativeWindows
      ) {
        this.#tentativeSent = true;
        events.push({
          type: "pause_tentative",
          atMs: this.#ms(index + 1),
          utterance: this.#utterance(index + 1, false),
        });
      }
    }
    // Only a speech window can hit the limit: a turn already ending in
    // silence is left to end by itself.
    if (
      speech && this.#state === "speaking" &&
      index + 1 - this.#onset >= this.#maxWindows
    ) {
      events.push(this.#pause("max_speech", index + 1));
    }
    return events;
  }

  /**
   * Ends the stream: a confirmed turn in progress is reported as
   * `pause_detected` with reason `"end"`, unconfirmed speech as
   * `speech_discarded`. The detector is then idle.
   *
   * @returns The final events (possibly none).
   */
  finish(): TurnEvent[] {
    if (this.#state === "speaking") return [this.#pause("end", this.#windows)];
    if (this.#state === "onset") return [this.#discard(this.#windows)];
    return [];
  }

  /**
   * Forgets the current utterance and the prefix audio (for instance when a
   * reply starts and speech heard so far should not count). The clock keeps
   * running: later times stay comparable with earlier ones.
   */
  reset(): void {
    this.#toIdle(this.#windows);
    this.#prefix = [];
  }

  #ms(windows: number): number {
    return windows * this.windowMs;
  }

  #remember(copy: Float32Array | undefined): void {
    if (this.#prefixWindows === 0) return;
    this.#prefix.push(copy);
    if (this.#prefix.length > this.#prefixWindows) this.#prefix.shift();
  }

  #afterSpeech(index: number, events: TurnEvent[]): void {
    if (!this.#interruptSent && this.#speechWindows >= this.#interruptWindows) {
      this.#interruptSent = true;
      events.push({
        type: "interrupt_confirmed",
        atMs: this.#ms(index + 1),
        speechStartMs: this.#ms(this.#onset),
        speechMs: this.speechMs,
      });
    }
    if (
      this.#state === "onset" && this.#speechWindows >= this.#minSpeechWindows
    ) {
      this.#state = "speaking";
      events.push({
        type: "started_talking",
        atMs: this.#ms(index + 1),
        speechStartMs: this.#ms(this.#onset),
      });
    }
  }

  #pause(
    reason: PauseDetectedEvent["reason"],
    end: number,
  ): PauseDetectedEvent {
    const utterance = this.#utterance(end, true);
    this.#toIdle(end);
    this.#prefix = [];
    return { type: "pause_detected", atMs: utterance.endMs, reason, utterance };
  }

  #utterance(end: number, withAudio: boolean): Utterance {
    const parts = this.#audio;
    let audio: Float32Array | undefined;
    if (
      withAudio && parts.length > 0 && parts.every((p) => p !== undefined)
    ) {
      audio = new Float32Array(parts.length * this.windowSize);
      parts.forEach((p, i) => audio!.set(p!, i * this.windowSize));
    }
    return {
      startMs: this.#ms(this.#startWin),
      speechStartMs: this.#ms(this.#onset),
      speechEndMs: this.#ms(this.#lastSpeechEnd),
      endMs: this.#ms(end),
      speechMs: this.speechMs,
      startSample: this.#startWin * this.windowSize,
      endSample: end * this.windowSize,
      audio,
    };
  }

  #discard(end: number): SpeechDiscardedEvent {
    const event: SpeechDiscardedEvent = {
      type: "speech_discarded",
      atMs: this.#ms(end),
      speechStartMs: this.#ms(this.#onset),
      speechMs: this.speechMs,
    };
    // The discarded windows may still serve as padding for the next onset.
    const keep = this.#audio.slice(-this.#prefixWindows || this.#audio.length);
    this.#toIdle(this.#floor);
    this.#prefix = this.#prefixWindows === 0 ? [] : keep;
    return event;
  }

  #toIdle(floor: number): void {
    this.#state = "idle";
    this.#floor = floor;
    this.#audio = [];
    this.#speechWindows = 0;
    this.#silenceWindows = 0;
    this.#inSilence = false;
    this.#interruptSent = false;
    this.#tentativeSent = false;
  }
}
