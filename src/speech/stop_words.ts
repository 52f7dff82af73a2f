/**
 * Stop-word matching on transcripts, for the STT engine of
 * `ReplyOnStopWords` (FastRTC's rule, slightly more tolerant).
 *
 * A stop word matches case-insensitively on word boundaries; the words of a
 * multi-word phrase may be separated by any whitespace or punctuation
 * ("ok, computer" matches "ok computer", which FastRTC's `\s+` does not), and
 * trailing `.,!?` are ignored.
 *
 * @module
 */

function escape(word: string): string {
  return word.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * Builds the regular expression for one stop word or phrase.
 *
 * @example
 * ```ts
 * import { stopWordPattern } from "@parley/parley/speech";
 * stopWordPattern("ok computer").test("Ok, computer! what time is it"); // true
 * ```
 *
 * @param stopWord A word or phrase, e.g. `"computer"`, `"ok computer"`.
 * @returns A case-insensitive pattern.
 */
export function stopWordPattern(stopWord: string): RegExp {
  const words = stopWord.toLowerCase().split(/[\s,.!?;:]+/).filter(Boolean);
  if (words.length === 0) {
    throw new RangeError(
      `Empty stop word ${
        JSON.stringify(stopWord)
      }; give a word or phrase such as "computer"`,
    );
  }
  return new RegExp(
    `(?<![\\p{L}\\p{N}'])${
      words.map(escape).join("[\\s,.!?;:\\-]+")
    }(?![\\p{L}\\p{N}'])`,
    "iu",
  );
}

/**
 * Where a stop word was found.
 *
 * @example
 * ```ts
 * import { findStopWord, type StopWordMatch } from "@parley/parley/speech";
 * const m: StopWordMatch | undefined = findStopWord("ok computer, lights on", ["ok computer"]);
 * const rest = m ? "ok computer, lights on".slice(m.end) : ""; // ", lights on"
 * ```
 */
export interface StopWordMatch {
  /** The stop word as given. */
  stopWord: string;
  /** Index in the transcript where the match starts. */
  index: number;
  /** Index just after the match (the text after it is what follows the wake phrase). */
  end: number;
}

/**
 * Finds the earliest stop word in a transcript.
 *
 * @example
 * ```ts
 * import { findStopWord } from "@parley/parley/speech";
 * findStopWord("hey computer, lights on", ["computer"]);
 * // { stopWord: "computer", index: 4, end: 12 }
 * ```
 *
 * @param transcript Text from the STT model.
 * @param stopWords Words or phrases to look for.
 * @returns The earliest match, or `undefined`.
 */
export function findStopWord(
  transcript: string,
  stopWords: readonly string[],
): StopWordMatch | undefined {
  let best: StopWordMatch | undefined;
  for (const stopWord of stopWords) {
    const m = stopWordPattern(stopWord).exec(transcript);
    if (m && (!best || m.index < best.index)) {
      best = { stopWord, index: m.index, end: m.index + m[0].length };
    }
  }
  return best;
}
