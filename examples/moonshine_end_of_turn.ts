/**
 * An end-of-turn analyser built on a quick Moonshine transcript: at each
 * pause it transcribes the turn's last ≤ 8 s with `moonshine/tiny` and
 * calls the turn incomplete when the words trail off ("…and", "so um",
 * "I want to"), so a caller who stops to think is not answered mid-thought.
 * `ReplyOnPause` then waits up to `maxEndpointingMs` for them to go on.
 *
 * ```sh
 * deno task models moonshine/tiny        # once, ~50 MB
 * deno run -A examples/moonshine_end_of_turn.ts            # a phone/web echo bot
 * deno run -A examples/moonshine_end_of_turn.ts --measure  # cost per pause
 * ```
 *
 * Cost per pause: one Moonshine tiny transcription of the turn's end
 * (measured by `--measure` on this repository's fixtures; see
 * bench/README.md), against the ~17 ms of features + one inference of the
 * Smart Turn adapter — a transcript is dearer, but it also gives the reply
 * function the words.
 *
 * @module
 */
import { type AudioChunk, ReplyOnPause, Stream } from "../mod.ts";
import type {
  EndOfTurnAnalyser,
  EndOfTurnInput,
  EndOfTurnResult,
} from "../src/vad/mod.ts";
import { readWavFile } from "../src/audio/mod.ts";
import { getSttModel, type SttModel } from "../src/speech/mod.ts";

/** Words after which an English sentence is rarely finished. */
const OPEN_ENDINGS = new Set([
  "and",
  "or",
  "but",
  "so",
  "because",
  "if",
  "then",
  "that",
  "which",
  "who",
  "to",
  "of",
  "for",
  "with",
  "at",
  "in",
  "on",
  "the",
  "a",
  "an",
  "my",
  "your",
  "um",
  "uh",
  "er",
  "like",
  "is",
  "are",
  "was",
  "i",
  "we",
]);

/**
 * Scores a transcript: incomplete when it ends in an open word or with a
 * comma, complete when it ends with `.`, `?` or `!`.
 *
 * @param text The transcript of the turn so far.
 * @returns The verdict.
 */
export function scoreTranscript(text: string): EndOfTurnResult {
  const t = text.trim().toLowerCase();
  if (t.length === 0) return { complete: true, probability: 0.5 };
  if (/[.?!]["')\]]*$/.test(t)) return { complete: true, probability: 0.9 };
  if (/,$/.test(t)) return { complete: false, probability: 0.2 };
  const last = t.replace(/[^\p{L}\p{N}' ]+/gu, " ").trim().split(/\s+/).at(-1)!;
  return OPEN_ENDINGS.has(last)
    ? { complete: false, probability: 0.15 }
    : { complete: true, probability: 0.7 };
}

/**
 * The analyser: Moonshine transcript (or the one given) → {@linkcode scoreTranscript}.
 */
export class MoonshineEndOfTurn implements EndOfTurnAnalyser {
  #stt: SttModel;
  /** Seconds of the turn's end that are transcribed (the end is what counts). */
  seconds = 3;
  /** Transcript and milliseconds of the last analysis. */
  last: { text: string; ms: number } = { text: "", ms: 0 };

  private constructor(stt: SttModel) {
    this.#stt = stt;
  }

  /**
   * Loads Moonshine tiny from the model cache.
   *
   * @returns The analyser.
   */
  static async load(): Promise<MoonshineEndOfTurn> {
    return new MoonshineEndOfTurn(
      await getSttModel({ model: "moonshine/tiny" }),
    );
  }

  /**
   * Transcribes the end of the turn (unless a transcript is given) and
   * scores it.
   *
   * @param input The turn's last ≤ 8 s at 16 kHz.
   * @returns The verdict.
   */
  async analyse(input: EndOfTurnInput): Promise<EndOfTurnResult> {
    const t0 = performance.now();
    const audio = input.audio.subarray(
      Math.max(0, input.audio.length - this.seconds * 16000),
    );
    const text = input.transcript ??
      await this.#stt.stt([16000, audio], { signal: input.signal });
    this.last = { text, ms: performance.now() - t0 };
    return scoreTranscript(text);
  }
}

if (import.meta.main) {
  const analyser = await MoonshineEndOfTurn.load();
  if (Deno.args.includes("--measure")) {
    // Cost per pause on the fixtures (each as one turn's end).
    const cuts: [string, number][] = [
      ["turns_espeak.wav", Infinity],
      ["turns_espeak.wav", 3.9], // "…for two people, at" — mid-sentence
      ["jfk.wav", Infinity],
    ];
    for (const [name, cutS] of cuts) {
      const wav = await readWavFile(
        new URL(`../tests/fixtures/${name}`, import.meta.url),
      );
      const end = Math.min(wav.samples.length, Math.round(cutS * 16000));
      const audio = wav.samples.subarray(Math.max(0, end - 8 * 16000), end);
      const signal = new AbortController().signal;
      const times: number[] = [];
      let verdict: EndOfTurnResult | null = null;
      for (let i = 0; i < 4; i++) {
        verdict = await analyser.analyse({ audio, sampleRate: 16000, signal });
        if (i > 0) times.push(analyser.last.ms);
      }
      console.log(
        `${name} (last ${(audio.length / 16000).toFixed(1)} s): ` +
          `"${analyser.last.text}" → ${JSON.stringify(verdict)}; ` +
          `${Math.min(...times).toFixed(0)}-${
            Math.max(...times).toFixed(0)
          } ms per pause`,
      );
    }
    Deno.exit(0);
  }
  const handler = new ReplyOnPause(async function* (audio: AudioChunk) {
    yield audio;
  }, {
    turnAnalyser: analyser,
    maxEndpointingMs: 2000,
    turnAnalyserBudgetMs: 400,
  });
  new Stream({ handler }).serve({ port: Number(Deno.env.get("PORT") ?? 8000) });
}
