/**
 * A scripted call: the caller says the same clip N times with silence
 * between, the way a tester would on a phone, and the call is measured per
 * turn — end of caller speech → first reply frame, reply length, what a
 * clear cut — plus helpers to find speech in a clip and to compare a reply
 * with what was said (envelope correlation).
 *
 * @module
 */

import type {
  CallClient,
  ProtocolProblem,
  ReceivedAudio,
  ReceivedClear,
} from "./call_client.ts";

/**
 * Where speech is in a clip, in ms from its start.
 *
 * @example
 * ```ts
 * import { findSpeech, type SpeechSpan } from "@parley/parley/testing";
 * const span: SpeechSpan | null = findSpeech(new Int16Array(800).fill(1000), 8000);
 * console.log(span); // { startMs: 0, endMs: 100 }
 * ```
 */
export interface SpeechSpan {
  /** Start of the first loud frame. */
  startMs: number;
  /** End of the last loud frame. */
  endMs: number;
}

/**
 * Options of {@linkcode findSpeech}.
 *
 * @example
 * ```ts
 * import { findSpeech, type FindSpeechOptions } from "@parley/parley/testing";
 * const options: FindSpeechOptions = { frameMs: 10, rangeDb: 25 };
 * findSpeech(new Int16Array(1600), 16000, options); // null: digital silence
 * ```
 */
export interface FindSpeechOptions {
  /** Frame length in ms (default 20). */
  frameMs?: number;
  /** A frame is speech when its RMS is within this many dB of the loudest frame's (default 35). */
  rangeDb?: number;
}

/**
 * Finds the span from the first to the last loud frame of a clip: frames
 * whose RMS is within `rangeDb` of the loudest frame's. Returns null for
 * digital silence.
 *
 * @example
 * ```ts
 * import { findSpeech } from "@parley/parley/testing";
 * const clip = new Int16Array(8000); // 1 s at 8 kHz
 * clip.fill(3000, 2000, 6000); // "speech" from 250 to 750 ms
 * console.log(findSpeech(clip, 8000)); // { startMs: 240, endMs: 760 }
 * ```
 *
 * @param samples PCM16 mono.
 * @param rate Their rate in Hz.
 * @param options Frame length and range.
 * @returns The span, or null.
 */
export function findSpeech(
  samples: Int16Array,
  rate: number,
  options: FindSpeechOptions = {},
): SpeechSpan | null {
  const frameMs = options.frameMs ?? 20;
  const env = envelope(samples, rate, frameMs);
  let peak = 0;
  for (const v of env) peak = Math.max(peak, v);
  if (peak === 0) return null;
  const floor = peak * 10 ** (-(options.rangeDb ?? 35) / 20);
  let first = -1;
  let last = -1;
  for (let i = 0; i < env.length; i++) {
    if (env[i] >= floor) {
      if (first < 0) first = i;
      last = i;
    }
  }
  const clipMs = samples.length * 1000 / rate;
  return {
    startMs: first * frameMs,
    endMs: Math.min(clipMs, (last + 1) * frameMs),
  };
}

/** RMS per `frameMs` window. */
function envelope(
  samples: Int16Array,
  rate: number,
  frameMs: number,
): Float64Array {
  const step = Math.max(1, Math.round(rate * frameMs / 1000));
  const out = new Float64Array(Math.ceil(samples.length / step));
  for (let f = 0; f < out.length; f++) {
    let sum = 0;
    const end = Math.min(samples.length, (f + 1) * step);
    for (let i = f * step; i < end; i++) sum += samples[i] * samples[i];
    out[f] = Math.sqrt(sum / Math.max(1, end - f * step));
  }
  return out;
}

/**
 * Sample indices where speech starts: frames within 20 dB of the loudest
 * after at least `quietFrames` quieter ones, and the first such frame. The
 * range is narrower than findSpeech's so that the background noise of a
 * real recording's pauses counts as quiet.
 */
function speechOnsets(
  samples: Int16Array,
  rate: number,
  quietFrames = 10,
): number[] {
  const env = envelope(samples, rate, 20);
  let peak = 0;
  for (const v of env) peak = Math.max(peak, v);
  if (peak === 0) return [];
  const floor = peak * 10 ** (-20 / 20);
  const step = Math.max(1, Math.round(rate / 50));
  const onsets: number[] = [];
  let quiet = Infinity;
  for (let i = 0; i < env.length; i++) {
    if (env[i] >= floor) {
      if (quiet >= quietFrames) onsets.push(i * step);
      quiet = 0;
    } else {
      quiet++;
    }
  }
  return onsets;
}

/**
 * Audio with its rate.
 *
 * @example
 * ```ts
 * import type { RatedAudio } from "@parley/parley/testing";
 * const second: RatedAudio = { rate: 8000, samples: new Int16Array(8000) };
 * ```
 */
export interface RatedAudio {
  /** Rate in Hz. */
  rate: number;
  /** PCM16 mono. */
  samples: Int16Array;
}

/**
 * Result of {@linkcode envelopeCorrelation}.
 *
 * @example
 * ```ts
 * import { envelopeCorrelation, type EnvelopeMatch } from "@parley/parley/testing";
 * const a = { rate: 8000, samples: new Int16Array(8000).fill(100, 2000, 4000) };
 * const match: EnvelopeMatch = envelopeCorrelation(a, a);
 * console.log(match.correlation.toFixed(2), match.lagMs); // 1.00 0
 * ```
 */
export interface EnvelopeMatch {
  /** Best Pearson correlation of the two loudness envelopes, −1..1. */
  correlation: number;
  /** Where `needle` fits best in `haystack`, in ms from the haystack's start. */
  lagMs: number;
}

/**
 * Slides the loudness envelope (RMS per 20 ms) of `needle` over that of
 * `haystack` and returns the best Pearson correlation and where it is. An
 * echo of a clip correlates near 1 with it, whatever codec and resampling
 * it went through; unrelated audio stays low. Rates may differ.
 *
 * @example Find a clip inside a longer recording
 * ```ts
 * import { envelopeCorrelation } from "@parley/parley/testing";
 * const clip = Int16Array.from({ length: 8000 }, (_, i) => Math.sin(i / 3) * 8000 * Math.sin(i / 900));
 * const recording = new Int16Array(24000);
 * recording.set(clip, 8000); // the clip 1 s in
 * const match = envelopeCorrelation({ rate: 8000, samples: clip }, { rate: 8000, samples: recording });
 * console.log(match.correlation > 0.99, match.lagMs); // true 1000
 * ```
 *
 * @param needle The clip.
 * @param haystack The recording to look in (longer or shorter).
 * @param frameMs Envelope window (default 20).
 * @returns The best match.
 */
export function envelopeCorrelation(
  needle: RatedAudio,
  haystack: RatedAudio,
  frameMs = 20,
): EnvelopeMatch {
  const a = envelope(needle.samples, needle.rate, frameMs);
  const b = envelope(haystack.samples, haystack.rate, frameMs);
  let best = { correlation: 0, lagMs: 0 };
  const minOverlap = Math.max(2, Math.floor(Math.min(a.length, b.length) / 2));
  for (
    let lag = -(a.length - minOverlap);
    lag <= b.length - minOverlap;
    lag++
  ) {
    const from = Math.max(0, -lag);
    const to = Math.min(a.length, b.length - lag);
    const n = to - from;
    if (n < minOverlap) continue;
    let sa = 0, sb = 0;
    for (let i = from; i < to; i++) {
      sa += a[i];
      sb += b[i + lag];
    }
    const ma = sa / n, mb = sb / n;
    let cov = 0, va = 0, vb = 0;
    for (let i = from; i < to; i++) {
      const x = a[i] - ma, y = b[i + lag] - mb;
      cov += x * y;
      va += x * x;
      vb += y * y;
    }
    if (va === 0 || vb === 0) continue;
    const r = cov / Math.sqrt(va * vb);
    if (r > best.correlation) best = { correlation: r, lagMs: lag * frameMs };
  }
  return best;
}

/**
 * Options of {@linkcode runCallScript}.
 *
 * @example
 * ```ts
 * import type { CallScriptOptions } from "@parley/parley/testing";
 * const script: CallScriptOptions = {
 *   clip: new Int16Array(8000),
 *   turns: 3,
 *   gapMs: 800, // shorter than the replies: each turn barges in
 *   replyTimeoutMs: 5000,
 * };
 * ```
 */
export interface CallScriptOptions {
  /** What the caller says, PCM16 at the client's `inputRate`. */
  clip: Int16Array;
  /** How many times the caller says it (default 1). */
  turns?: number;
  /** Digital silence between the turns, in ms (default 3000). */
  gapMs?: number;
  /**
   * True (default): one 20 ms frame every 20 ms, like a phone. False: each
   * turn (clip and gap) goes out as fast as the socket takes it, then the
   * caller stays silent in real time until the reply has finished.
   */
  realtime?: boolean;
  /** After a turn, how long to wait for a reply to start, in ms (default 10000). */
  replyTimeoutMs?: number;
  /** A reply has finished once nothing arrived for this many ms and it has played (default 1000). */
  settleMs?: number;
  /** The longest the caller waits after the last turn, in ms (default 60000). */
  maxWaitMs?: number;
  /** Stops the script when aborted (the call is hung up). */
  signal?: AbortSignal;
}

/**
 * A clear during a turn's reply.
 *
 * @example
 * ```ts
 * import type { BargeInReport, CallReport } from "@parley/parley/testing";
 * export function bargeIns(report: CallReport): BargeInReport[] {
 *   return report.turns.flatMap((t) => t.bargeIns);
 * }
 * ```
 */
export interface BargeInReport {
  /** When the clear arrived (call time, ms). */
  atMs: number;
  /** From the last audio frame before the clear to the clear, in ms. */
  sinceLastFrameMs: number | null;
  /**
   * From the latest start of caller speech (after 200 ms or more of quiet)
   * before the clear to the clear, in ms; null if the caller had not spoken.
   */
  sinceCallerSpeechMs: number | null;
  /** Received audio that had not played and was dropped, in ms. */
  flushedMs: number;
}

/**
 * One turn of the script.
 *
 * @example
 * ```ts
 * import type { CallReport, TurnReport } from "@parley/parley/testing";
 * export function slowest(report: CallReport): TurnReport | undefined {
 *   return report.turns.toSorted((a, b) => (b.latencyMs ?? Infinity) - (a.latencyMs ?? Infinity))[0];
 * }
 * ```
 */
export interface TurnReport {
  /** 1-based. */
  turn: number;
  /** Caller speech start (call time, ms; ±20 ms: frame resolution). */
  speechStartMs: number;
  /** Caller speech end (call time, ms). */
  speechEndMs: number;
  /** Arrival of the first reply frame (call time, ms), or null if none came. */
  firstReplyMs: number | null;
  /** End of caller speech → first reply frame, in ms, or null. */
  latencyMs: number | null;
  /** Audio the bot sent in reply, in ms. */
  replyMs: number;
  /** Of that, what played before a clear cut it, in ms. */
  playedMs: number;
  /** Clears during the reply. */
  bargeIns: BargeInReport[];
}

/**
 * What a scripted call measured.
 *
 * @example
 * ```ts
 * import type { CallReport } from "@parley/parley/testing";
 * export function passed(report: CallReport): boolean {
 *   return report.problems.length === 0 && report.turns.every((t) => t.latencyMs !== null);
 * }
 * ```
 */
export interface CallReport {
  /** The protocol spoken. */
  carrier: string;
  /** Caller audio rate, Hz. */
  inputRate: number;
  /** Bot audio rate, Hz. */
  outputRate: number;
  /** Where speech is in the clip. */
  speech: SpeechSpan;
  /** The turns, in order (only those that were said). */
  turns: TurnReport[];
  /** Bot audio that arrived before the end of the first turn (a greeting), in ms. */
  earlyAudioMs: number;
  /** Clears that arrived before the end of the first turn. */
  earlyBargeIns: BargeInReport[];
  /** Marks / checkpoints / notifies the bot sent. */
  marksSent: number;
  /** Of those, how many the client answered. */
  marksAnswered: number;
  /** Messages the carrier would not accept, and an abnormal close by the bot. */
  problems: ProtocolProblem[];
  /** Other text messages the bot sent (FastRTC `log`, `send_input`, …), counted by name. */
  otherMessages: Record<string, number>;
  /** Caller frames sent. */
  framesSent: number;
  /** Length of the call, in ms. */
  durationMs: number;
  /** Who ended the call. */
  endedBy: "caller" | "bot";
  /** Close code and reason of the socket. */
  close: { code: number; reason: string };
}

type Segment =
  | { kind: "clip"; turn: number; paced: boolean }
  | { kind: "gap"; paced: boolean }
  | { kind: "wait"; turn: number; last: boolean };

/**
 * Runs a scripted call on a connected client and hangs up: says `clip`
 * `turns` times with `gapMs` of digital silence between, keeps sending
 * silence until the last reply has finished playing (or none came within
 * `replyTimeoutMs`), then measures each turn.
 *
 * @example Two turns against an echo bot
 * ```ts
 * import { connectCallClient, runCallScript } from "@parley/parley/testing";
 * export async function check(url: string, clip: Int16Array): Promise<void> {
 *   const call = await connectCallClient(url, { carrier: "twilio" });
 *   const report = await runCallScript(call, { clip, turns: 2, gapMs: 2500 });
 *   for (const t of report.turns) console.log(t.turn, t.latencyMs, t.replyMs);
 * }
 * ```
 *
 * @param client A connected call client.
 * @param options The script.
 * @returns The measurements.
 * @throws {RangeError} On an empty clip or a turn count below 1.
 */
export async function runCallScript(
  client: CallClient,
  options: CallScriptOptions,
): Promise<CallReport> {
  if (options.clip.length === 0) {
    throw new RangeError(
      "runCallScript(): the clip is empty; give it some audio",
    );
  }
  const turns = options.turns ?? 1;
  if (!Number.isInteger(turns) || turns < 1) {
    throw new RangeError(
      `runCallScript(): turns must be a whole number ≥ 1, got ${turns}`,
    );
  }
  const gapMs = Math.max(0, options.gapMs ?? 3000);
  const realtime = options.realtime ?? true;
  const replyTimeoutMs = options.replyTimeoutMs ?? 10_000;
  const settleMs = options.settleMs ?? 1000;
  const maxWaitMs = options.maxWaitMs ?? 60_000;
  const rate = client.inputRate;
  const frame = rate / 50;
  // A phone sends whole 20 ms frames: pad the clip's last one with silence.
  const clip = new Int16Array(Math.ceil(options.clip.length / frame) * frame);
  clip.set(options.clip);
  const speech = findSpeech(clip, rate) ??
    { startMs: 0, endMs: clip.length * 1000 / rate };
  const startSample = Math.round(speech.startMs * rate / 1000);
  const endSample = Math.max(0, Math.round(speech.endMs * rate / 1000) - 1);
  const onsetSamples = speechOnsets(clip, rate);
  const onsets: number[] = [];
  const silence = new Int16Array(frame);
  const gapFrames = Math.round(gapMs / 20);

  const segments: Segment[] = [];
  for (let t = 0; t < turns; t++) {
    segments.push({ kind: "clip", turn: t, paced: realtime });
    if (t < turns - 1) {
      segments.push({ kind: "gap", paced: realtime });
      if (!realtime) segments.push({ kind: "wait", turn: t, last: false });
    }
  }
  segments.push({ kind: "wait", turn: turns - 1, last: true });

  const starts: number[] = [];
  const ends: number[] = [];
  let next = performance.now();
  const tick = async (paced: boolean) => {
    if (paced) {
      const wait = next - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      next += 20;
    } else {
      next = performance.now() + 20;
    }
  };
  const live = () => client.isOpen && !options.signal?.aborted;

  script: for (const seg of segments) {
    if (seg.kind === "clip") {
      for (let i = 0; i < clip.length && live(); i += frame) {
        await tick(seg.paced);
        if (!live()) break script;
        const now = client.now();
        if (startSample >= i && startSample < i + frame) {
          starts[seg.turn] = now + (startSample - i) * 1000 / rate;
        }
        for (const o of onsetSamples) {
          if (o >= i && o < i + frame) onsets.push(now + (o - i) * 1000 / rate);
        }
        if (endSample >= i && endSample < i + frame) {
          ends[seg.turn] = now + (endSample + 1 - i) * 1000 / rate;
        }
        client.sendFrame(clip.subarray(i, Math.min(i + frame, clip.length)));
      }
    } else if (seg.kind === "gap") {
      for (let n = 0; n < gapFrames && live(); n++) {
        await tick(seg.paced);
        client.sendFrame(silence);
      }
    } else {
      const from = ends[seg.turn] ?? client.now();
      const giveUp = client.now() + (seg.last ? maxWaitMs : replyTimeoutMs * 2);
      while (live() && client.now() < giveUp) {
        await tick(true);
        if (!live()) break script;
        client.sendFrame(silence);
        const now = client.now();
        const last = client.audio.at(-1);
        const replied = last !== undefined && last.at >= from;
        if (!replied && now - from >= replyTimeoutMs) break;
        if (replied && now - last.at >= settleMs && client.queuedMs === 0) {
          break;
        }
      }
    }
  }
  const endedBy = client.isOpen ? "caller" : "bot";
  await client.hangUp();
  return analyse(client, { speech, starts, ends, onsets, endedBy });
}

function analyse(
  client: CallClient,
  run: {
    speech: SpeechSpan;
    starts: number[];
    ends: number[];
    onsets: number[];
    endedBy: "caller" | "bot";
  },
): CallReport {
  const rate = client.outputRate;
  const ms = (n: number) => n * 1000 / rate;
  const { starts, ends } = run;
  const bargeIn = (c: ReceivedClear): BargeInReport => {
    const onset = run.onsets.findLast((o) => o <= c.at);
    return {
      atMs: c.at,
      sinceLastFrameMs: c.lastAudioAt === null ? null : c.at - c.lastAudioAt,
      sinceCallerSpeechMs: onset === undefined ? null : c.at - onset,
      flushedMs: c.flushedMs,
    };
  };
  // Replies are bursts of frames: a new one starts after 150 ms without
  // audio or after a clear. A burst belongs to the turn whose speech ended
  // before it started, so a reply still playing when the caller stops
  // talking is not taken for the answer to that turn.
  const bursts: { start: number; frames: ReceivedAudio[] }[] = [];
  let clearIndex = 0;
  for (const a of client.audio) {
    const last = bursts.at(-1);
    let cleared = false;
    while (
      clearIndex < client.clears.length && client.clears[clearIndex].at <= a.at
    ) {
      cleared = true;
      clearIndex++;
    }
    const prev = last?.frames.at(-1);
    if (!last || !prev || cleared || a.at - prev.at > 150) {
      bursts.push({ start: a.at, frames: [a] });
    } else {
      last.frames.push(a);
    }
  }
  const turns: TurnReport[] = [];
  for (let t = 0; t < ends.length; t++) {
    const from = ends[t];
    const to = ends[t + 1] ?? Infinity;
    const mine = bursts.filter((b) => b.start >= from && b.start < to);
    const frames = mine.flatMap((b) => b.frames);
    const clears = client.clears.filter((c) => c.at >= from && c.at < to);
    const first = mine[0]?.start ?? null;
    turns.push({
      turn: t + 1,
      speechStartMs: starts[t] ?? from,
      speechEndMs: from,
      firstReplyMs: first,
      latencyMs: first === null ? null : first - from,
      replyMs: frames.reduce((s, a) => s + ms(a.samples.length), 0),
      playedMs: frames.reduce((s, a) => s + ms(a.kept), 0),
      bargeIns: clears.map((c) => bargeIn(c)),
    });
  }
  const firstEnd = ends[0] ?? Infinity;
  const problems = [...client.problems];
  if (
    run.endedBy === "bot" && client.closeCode !== 1000 &&
    client.closeCode !== 1005
  ) {
    problems.push({
      at: client.closedAt ?? client.now(),
      kind: "error",
      message: `the bot closed the socket with code ${client.closeCode}` +
        (client.closeReason ? ` (${client.closeReason})` : "") +
        "; a normal end of call is 1000",
    });
  }
  const otherMessages: Record<string, number> = {};
  for (const { message } of client.messages) {
    const name = String(message.event ?? message.type ?? message.action ?? "?");
    if (
      [
        "media",
        "playAudio",
        "mark",
        "checkpoint",
        "clear",
        "clearAudio",
        "notify",
      ].includes(name)
    ) {
      continue;
    }
    otherMessages[name] = (otherMessages[name] ?? 0) + 1;
  }
  return {
    carrier: client.carrier,
    inputRate: client.inputRate,
    outputRate: rate,
    speech: run.speech,
    turns,
    earlyAudioMs: bursts.filter((b) => b.start < firstEnd)
      .flatMap((b) => b.frames)
      .reduce((s, a) => s + ms(a.samples.length), 0),
    earlyBargeIns: client.clears.filter((c) => c.at < firstEnd)
      .map((c) => bargeIn(c)),
    marksSent: client.marks.length,
    marksAnswered: client.marks.filter((m) => m.answeredAt !== null).length,
    problems,
    otherMessages,
    framesSent: client.framesSent,
    durationMs: client.closedAt ?? client.now(),
    endedBy: run.endedBy,
    close: { code: client.closeCode, reason: client.closeReason },
  };
}
