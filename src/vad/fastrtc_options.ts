/**
 * FastRTC's `AlgoOptions` and `SileroVadOptions`, and their translation to
 * {@linkcode TurnDetectorOptions}.
 *
 * FastRTC runs Silero on accumulated 0.6 s chunks and decides per chunk;
 * Parley decides per 32 ms window. The translation keeps the *meaning* of each
 * FastRTC setting (how much speech starts a turn, how much silence ends it)
 * while dropping the chunk granularity, so the same settings react up to one
 * chunk sooner.
 *
 * @module
 */

import type { TurnDetectorOptions } from "./turn.ts";

/**
 * FastRTC's `AlgoOptions` (camelCase). Defaults are FastRTC's.
 *
 * @example
 * ```ts
 * import type { AlgoOptions } from "@parley/parley/vad";
 * const algo: AlgoOptions = { audioChunkDuration: 0.6, speechThreshold: 0.1 };
 * ```
 */
export interface AlgoOptions {
  /** Seconds of audio FastRTC gathers per VAD decision. Default 0.6. */
  audioChunkDuration?: number;
  /** Seconds of speech in a chunk that mark "started talking". Default 0.2. */
  startedTalkingThreshold?: number;
  /** After starting, a chunk with less speech than this (s) is a pause. Default 0.1. */
  speechThreshold?: number;
  /**
   * Force a turn after this many seconds of speech. FastRTC's default is
   * `Infinity`; when omitted, Parley's `TurnDetector` default (60 s) applies.
   */
  maxContinuousSpeechS?: number;
}

/**
 * FastRTC's `SileroVadOptions` (camelCase). Defaults are FastRTC's.
 *
 * @example
 * ```ts
 * import type { SileroVadOptions } from "@parley/parley/vad";
 * const vad: SileroVadOptions = { threshold: 0.6, speechPadMs: 200 };
 * ```
 */
export interface SileroVadOptions {
  /** Speech probability threshold. Default 0.5. */
  threshold?: number;
  /** Speech segments shorter than this are ignored (ms). Default 250. */
  minSpeechDurationMs?: number;
  /** Segments longer than this are split (s). Default `Infinity`. */
  maxSpeechDurationS?: number;
  /** Silence that separates segments within a chunk (ms). Default 2000. */
  minSilenceDurationMs?: number;
  /** Window length (FastRTC default 1024). Default 1024. */
  windowSizeSamples?: number;
  /** Padding added around each speech segment (ms). Default 400. */
  speechPadMs?: number;
}

/**
 * Input of {@linkcode turnOptionsFromFastRtc}.
 *
 * @example
 * ```ts
 * import type { FastRtcVadOptions } from "@parley/parley/vad";
 * const fastrtc: FastRtcVadOptions = {
 *   algoOptions: { maxContinuousSpeechS: 20 },
 *   modelOptions: { threshold: 0.6 },
 * };
 * ```
 */
export interface FastRtcVadOptions {
  /** FastRTC `algo_options`. */
  algoOptions?: AlgoOptions;
  /** FastRTC `model_options`. */
  modelOptions?: SileroVadOptions;
}

function seconds(name: string, v: number | undefined, dflt: number): number {
  const x = v ?? dflt;
  if (typeof x !== "number" || Number.isNaN(x) || x < 0) {
    throw new RangeError(
      `Invalid ${name}: ${String(v)}; use a number of seconds ≥ 0`,
    );
  }
  return x;
}

/**
 * Translates FastRTC's `ReplyOnPause` options to {@linkcode TurnDetectorOptions}.
 * Missing fields take FastRTC's defaults, so `turnOptionsFromFastRtc({})`
 * behaves like FastRTC out of the box (minus the chunk delay).
 *
 * | FastRTC | Parley | why |
 * | --- | --- | --- |
 * | `startedTalkingThreshold` (0.2 s) and `minSpeechDurationMs` (250) | `minSpeechMs = max(startedTalkingThreshold·1000, minSpeechDurationMs)` (250) | FastRTC drops segments shorter than `minSpeechDurationMs` before comparing the rest with the threshold |
 * | `audioChunkDuration` (0.6 s) − `speechThreshold` (0.1 s) | `minSilenceMs` (500) | a chunk with less than `speechThreshold` of speech holds at least `audioChunkDuration − speechThreshold` of silence; Parley waits for exactly that much silence, window by window, so `audioChunkDuration` adds no latency |
 * | `maxContinuousSpeechS` (∞) | `maxContinuousSpeechS` (60 when omitted) | same meaning; Parley does not keep a never-ending turn's audio forever by default |
 * | `threshold` (0.5) | `activationThreshold`; `deactivationThreshold = max(threshold − 0.15, 0.01)` | Silero's own hysteresis (`neg_threshold`) |
 * | `speechPadMs` (400) | `prefixPaddingMs` (400) | audio kept before the onset |
 * | `minSilenceDurationMs`, `maxSpeechDurationS` | — | they only merge or split segments inside one 0.6 s chunk; they never end a turn in FastRTC |
 * | `windowSizeSamples` | — | Silero v5/v6 windows are fixed (512 at 16 kHz, 256 at 8 kHz) |
 *
 * @example
 * ```ts
 * import { TurnDetector, turnOptionsFromFastRtc } from "@parley/parley/vad";
 * const options = turnOptionsFromFastRtc({
 *   algoOptions: { audioChunkDuration: 0.5, speechThreshold: 0.1 },
 *   modelOptions: { threshold: 0.6 },
 * });
 * console.log(options.minSilenceMs); // 400
 * const turns = new TurnDetector({ ...options, sampleRate: 8000 });
 * ```
 *
 * @param options FastRTC's `algoOptions` and `modelOptions`.
 * @returns Options for {@linkcode TurnDetector} (sample rate not included).
 */
export function turnOptionsFromFastRtc(
  options: FastRtcVadOptions = {},
): TurnDetectorOptions {
  const a = options.algoOptions ?? {};
  const m = options.modelOptions ?? {};
  const chunk = seconds("audioChunkDuration", a.audioChunkDuration, 0.6);
  const started = seconds(
    "startedTalkingThreshold",
    a.startedTalkingThreshold,
    0.2,
  );
  const speech = seconds("speechThreshold", a.speechThreshold, 0.1);
  const maxSpeech = a.maxContinuousSpeechS === undefined
    ? undefined
    : seconds("maxContinuousSpeechS", a.maxContinuousSpeechS, 60);
  const threshold = m.threshold ?? 0.5;
  if (!(threshold >= 0 && threshold <= 1)) {
    throw new RangeError(
      `Invalid threshold: ${
        String(m.threshold)
      }; use a probability from 0 to 1`,
    );
  }
  const minSpeechDurationMs = seconds(
    "minSpeechDurationMs",
    m.minSpeechDurationMs,
    250,
  );
  const speechPadMs = seconds("speechPadMs", m.speechPadMs, 400);
  return {
    activationThreshold: threshold,
    deactivationThreshold: Math.min(
      threshold,
      Math.max(threshold - 0.15, 0.01),
    ),
    minSpeechMs: Math.max(started * 1000, minSpeechDurationMs),
    minSilenceMs: Math.max(32, Math.round((chunk - speech) * 1000)),
    prefixPaddingMs: speechPadMs,
    ...(maxSpeech === undefined ? {} : { maxContinuousSpeechS: maxSpeech }),
  };
}
