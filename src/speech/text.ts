/**
 * Sentence splitting for streaming text-to-speech.
 *
 * Text is cut after `.`, `!`, `?` or `…` (optionally followed by closing
 * quotes or brackets) when whitespace follows, as FastRTC's Kokoro streaming
 * does, but abbreviations such as "Dr.", "e.g.", "U.S." and single initials
 * stay with their sentence. For a low time to first audio, a long first
 * sentence is cut once more at its first comma (or `;`, `:`, dash), so the
 * synthesizer can start on a short phrase.
 *
 * @module
 */

const ABBREVIATIONS = new Set([
  "mr",
  "mrs",
  "ms",
  "mx",
  "dr",
  "prof",
  "sr",
  "jr",
  "st",
  "mt",
  "ft",
  "vs",
  "etc",
  "e.g",
  "i.e",
  "cf",
  "al",
  "approx",
  "dept",
  "est",
  "fig",
  "inc",
  "ltd",
  "co",
  "corp",
  "no",
  "nos",
  "vol",
  "gen",
  "col",
  "capt",
  "lt",
  "sgt",
  "gov",
  "sen",
  "rep",
  "rev",
  "hon",
  "jan",
  "feb",
  "mar",
  "apr",
  "jun",
  "jul",
  "aug",
  "sep",
  "sept",
  "oct",
  "nov",
  "dec",
  "mon",
  "tue",
  "wed",
  "thu",
  "fri",
  "sat",
  "sun",
  "a.m",
  "p.m",
]);

const END = /[.!?…]+["'”’)\]]*(?=\s)/g;

/** Whether the word ending at a single "." is an abbreviation or initial. */
function isAbbreviation(text: string, dotIndex: number): boolean {
  let start = dotIndex;
  while (start > 0 && !/\s/.test(text[start - 1])) start--;
  const word = text.slice(start, dotIndex).replace(/^["'“‘(\[]+/, "");
  if (word.length === 0) return false;
  const lower = word.toLowerCase();
  if (ABBREVIATIONS.has(lower)) return true;
  if (/^[A-Za-z]$/.test(word)) return true; // an initial: "J. Smith"
  if (/^([A-Za-z]\.)+[A-Za-z]$/.test(word)) return true; // "U.S", "e.g"
  return false;
}

/** Index just after each sentence end in `text` (ends followed by whitespace). */
function sentenceEnds(text: string): number[] {
  const ends: number[] = [];
  END.lastIndex = 0;
  for (let m = END.exec(text); m; m = END.exec(text)) {
    const punct = m[0].replace(/["'”’)\]]+$/, "");
    if (punct === "." && isAbbreviation(text, m.index)) continue;
    ends.push(m.index + m[0].length);
  }
  return ends;
}

/**
 * Splits text into sentences (trimmed, empty ones dropped).
 *
 * @example
 * ```ts
 * import { splitSentences } from "@parley/parley/speech";
 * splitSentences("Dr. Smith is in. Call e.g. tomorrow! Ok?");
 * // ["Dr. Smith is in.", "Call e.g. tomorrow!", "Ok?"]
 * ```
 *
 * @param text Any text.
 * @returns The sentences in order.
 */
export function splitSentences(text: string): string[] {
  const out: string[] = [];
  let last = 0;
  for (const end of sentenceEnds(text)) {
    const s = text.slice(last, end).trim();
    if (s) out.push(s);
    last = end;
  }
  const rest = text.slice(last).trim();
  if (rest) out.push(rest);
  return out;
}

/**
 * Options of {@linkcode splitForTts} and {@linkcode SentenceStream}.
 *
 * @example
 * ```ts
 * import { splitForTts, type TtsChunkOptions } from "@parley/parley/speech";
 * const options: TtsChunkOptions = { firstChunkMaxChars: 40 };
 * splitForTts("A long first sentence, which is cut early. Then more.", options);
 * ```
 */
export interface TtsChunkOptions {
  /**
   * A first sentence longer than this (characters) is cut at its first
   * comma, semicolon, colon or dash; default 60. `Infinity` turns it off.
   */
  firstChunkMaxChars?: number;
  /** The first piece of such a cut has at least this many characters; default 10. */
  firstChunkMinChars?: number;
}

/** Where to cut a long first sentence: [end of head, start of tail], or undefined. */
function firstCut(
  sentence: string,
  options: TtsChunkOptions,
): [number, number] | undefined {
  const max = options.firstChunkMaxChars ?? 60;
  const min = options.firstChunkMinChars ?? 10;
  if (sentence.trim().length <= max) return undefined;
  const re = /[,;:]\s+|\s+[—–-]\s+/g;
  for (let m = re.exec(sentence); m; m = re.exec(sentence)) {
    const headEnd = /^\s/.test(m[0]) ? m.index : m.index + 1;
    if (sentence.slice(0, headEnd).trim().length < min) continue;
    const tailStart = m.index + m[0].length;
    if (sentence.slice(tailStart).trim() === "") return undefined;
    return [headEnd, tailStart];
  }
  return undefined;
}

function splitFirst(sentence: string, options: TtsChunkOptions): string[] {
  const cut = firstCut(sentence, options);
  if (!cut) return [sentence];
  return [sentence.slice(0, cut[0]).trim(), sentence.slice(cut[1]).trim()];
}

/**
 * Splits text into the chunks to synthesize one after another: sentences,
 * with a long first sentence cut at its first comma so the first audio comes
 * sooner.
 *
 * @example
 * ```ts
 * import { splitForTts } from "@parley/parley/speech";
 * splitForTts(
 *   "The weather in Paris today, as far as I can tell, is sunny and warm. Enjoy!",
 * );
 * // ["The weather in Paris today,", "as far as I can tell, is sunny and warm.", "Enjoy!"]
 * ```
 *
 * @param text Text to speak.
 * @param options First-chunk limits.
 * @returns Chunks in speaking order.
 */
export function splitForTts(
  text: string,
  options: TtsChunkOptions = {},
): string[] {
  const sentences = splitSentences(text);
  if (sentences.length === 0) return [];
  return [...splitFirst(sentences[0], options), ...sentences.slice(1)];
}

/**
 * Incremental sentence splitter for text that arrives in pieces (an LLM's
 * token stream): `push` returns the sentences completed so far, `flush`
 * returns the rest at the end. The first sentence gets the same short-first-
 * chunk treatment as {@linkcode splitForTts}.
 *
 * @example Speak an LLM reply sentence by sentence
 * ```ts
 * import { SentenceStream } from "@parley/parley/speech";
 * const s = new SentenceStream();
 * s.push("Hello there. How are"); // ["Hello there."]
 * s.push(" you today? I am"); // ["How are you today?"]
 * s.flush(); // ["I am"]
 * ```
 */
export class SentenceStream {
  #buffer = "";
  #first = true;
  readonly #options: TtsChunkOptions;

  /**
   * Creates an empty stream.
   *
   * @param options First-chunk limits.
   */
  constructor(options: TtsChunkOptions = {}) {
    this.#options = options;
  }

  /**
   * Adds text and returns the sentences it completed.
   *
   * @param text The next piece of text.
   * @returns Completed chunks (possibly none).
   */
  push(text: string): string[] {
    this.#buffer += text;
    const ends = sentenceEnds(this.#buffer);
    if (ends.length === 0) return this.#early();
    const last = ends[ends.length - 1];
    const done = splitSentences(this.#buffer.slice(0, last));
    this.#buffer = this.#buffer.slice(last);
    return this.#emit(done);
  }

  /**
   * Ends the text: returns whatever is left and resets the stream.
   *
   * @returns The remaining chunks.
   */
  flush(): string[] {
    const rest = this.#buffer.trim();
    this.#buffer = "";
    const out = rest ? this.#emit([rest]) : [];
    this.#first = true;
    return out;
  }

  // While the first sentence is still arriving, send its first clause as
  // soon as it is longer than firstChunkMaxChars and a comma has been seen.
  #early(): string[] {
    if (!this.#first) return [];
    const cut = firstCut(this.#buffer, this.#options);
    if (!cut) return [];
    this.#first = false;
    const head = this.#buffer.slice(0, cut[0]).trim();
    this.#buffer = this.#buffer.slice(cut[1]); // keeps trailing spaces
    return [head];
  }

  #emit(sentences: string[]): string[] {
    if (sentences.length === 0) return [];
    if (!this.#first) return sentences;
    this.#first = false;
    return [...splitFirst(sentences[0], this.#options), ...sentences.slice(1)];
  }
}
