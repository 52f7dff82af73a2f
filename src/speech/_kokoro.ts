// Kokoro synthesis itself: phonemes, token ids, the voice's style row and one
// ONNX run per chunk through transformers.js. getTtsModel runs it on the
// calling thread (workers: 0) or inside _kokoro_worker.ts; both load it with
// loadKokoro. Files are resolved beforehand, on the main thread (the model
// cache may download, report progress or use a caller's fetch), so this only
// reads local paths. Private to the speech layer; tts.ts re-exports
// phonemizeForKokoro.

import type { ResolvedKokoroOptions } from "./tts.ts";
import {
  loadLocal,
  loadPhonemizer,
  loadTransformers,
} from "./_transformers.ts";

/**
 * Converts English text to phonemes in the form Kokoro's tokenizer expects:
 * eSpeak NG (npm `phonemizer`) for the words, punctuation kept, plus
 * Kokoro's conventions (`r` → `ɹ`, …).
 *
 * @example
 * ```ts ignore
 * import { phonemizeForKokoro } from "@parley/parley/speech";
 * await phonemizeForKokoro("Hello world!", "en-us"); // "həlˈoʊ wˈɜːld!"
 * ```
 *
 * @param text English text.
 * @param lang `"en-us"` or `"en-gb"`.
 * @returns The phoneme string.
 */
export async function phonemizeForKokoro(
  text: string,
  lang: "en-us" | "en-gb",
): Promise<string> {
  const { phonemize } = await loadPhonemizer();
  const normalized = normalizeText(text);
  // Runs of punctuation (with their spaces) are kept verbatim: they are
  // tokens of Kokoro's vocabulary and shape its prosody.
  const punct = /(\s*[;:,.!?¡¿—…"«»“”()]+\s*)+/g;
  const parts: string[] = [];
  let last = 0;
  const espeakLang = lang === "en-us" ? "en-us" : "en";
  for (const m of normalized.matchAll(punct)) {
    const words = normalized.slice(last, m.index);
    if (words.trim()) {
      parts.push((await phonemize(words, espeakLang)).join(" "));
    }
    parts.push(m[0]);
    last = m.index + m[0].length;
  }
  const tail = normalized.slice(last);
  if (tail.trim()) parts.push((await phonemize(tail, espeakLang)).join(" "));
  let ph = parts.join("")
    .replace(/kəkˈoːɹoʊ/g, "kˈoʊkəɹoʊ")
    .replace(/kəkˈɔːɹəʊ/g, "kˈəʊkəɹəʊ")
    .replace(/ʲ/g, "j")
    .replace(/r/g, "ɹ")
    .replace(/x/g, "k")
    .replace(/ɬ/g, "l")
    .replace(/ z(?=[;:,.!?¡¿—…"«»“” ]|$)/g, "z");
  if (lang === "en-us") ph = ph.replace(/(?<=nˈaɪn)ti(?!ː)/g, "di");
  return ph.trim();
}

function normalizeText(text: string): string {
  return text
    .replace(/[‘’]/g, "'")
    .replace(/[“”]/g, '"')
    .replace(/\bDr\.(?= [A-Z])/g, "Doctor")
    .replace(/\bMr\.(?= [A-Z])/g, "Mister")
    .replace(/\bMrs\.(?= [A-Z])/g, "Missus")
    .replace(/\bMs\.(?= [A-Z])/g, "Miss")
    .replace(/\be\.g\./gi, "for example")
    .replace(/\bi\.e\./gi, "that is")
    .replace(/(?<=\d),(?=\d{3}\b)/g, "") // 1,000 → 1000
    .replace(
      /\$(\d+)(?:\.(\d\d))?\b/g,
      (_m, d: string, c?: string) =>
        `${d} dollar${d === "1" ? "" : "s"}${
          c && c !== "00"
            ? ` and ${Number(c)} cent${c === "01" ? "" : "s"}`
            : ""
        }`,
    )
    .replace(
      /(\d+)\.(\d+)/g,
      (_m, a: string, b: string) => `${a} point ${b.split("").join(" ")}`,
    )
    .replace(/[^\S\n]+/g, " ")
    .trim();
}
/** One chunk to synthesize. */
export interface KokoroJob {
  /** A sentence or clause. */
  text: string;
  /** Voice, speed and accent (plain data, so it can cross to a worker). */
  options: ResolvedKokoroOptions;
  /** Local path of `voices/<voice>.bin` (float32 rows of 256 styles). */
  voicePath: string;
}

/** A loaded Kokoro model: the calling thread's, or one worker's. */
export interface KokoroSynth {
  /** Synthesizes one chunk to float32 samples at 24 kHz. */
  run(job: KokoroJob, signal?: AbortSignal): Promise<Float32Array<ArrayBuffer>>;
  /** Releases the ONNX session after the runs already going. */
  close(): Promise<void>;
}

/** Kokoro's output rate. */
export const KOKORO_SAMPLE_RATE = 24000;

/** Style vector length of one voice row. */
const STYLE = 256;

/** Kokoro's phoneme limit per model run (512 token ids minus the two ends). */
const MAX_PHONEMES = 510;

/**
 * Loads Kokoro's ONNX model (8-bit) and tokenizer from the local model
 * folder `dir` with transformers.js. Voice files are read on first use.
 */
export async function loadKokoro(dir: string): Promise<KokoroSynth> {
  const tf = await loadTransformers();
  // Model first, then tokenizer (sequential, so a broken folder always
  // reports the same file first).
  const [model, tokenizer] = await loadLocal(dir, async (id) => {
    const m = await tf.StyleTextToSpeech2Model.from_pretrained(id, {
      dtype: "q8",
      device: "cpu",
    });
    try {
      return [m, await tf.AutoTokenizer.from_pretrained(id)] as const;
    } catch (e) {
      await m.dispose();
      throw e;
    }
  });
  const voices = new Map<string, Promise<Float32Array>>();
  const voiceStyles = (path: string): Promise<Float32Array> => {
    let v = voices.get(path);
    if (!v) {
      v = Deno.readFile(path).then((bytes) =>
        new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 2)
      );
      v.catch(() => voices.delete(path));
      voices.set(path, v);
    }
    return v;
  };
  // One model run takes at most 510 phonemes (512 ids with the two ends).
  // Text chunks are capped in characters, but digits and abbreviations can
  // phonemize to several times their length: such a chunk is halved at the
  // space nearest its middle until every piece fits, so nothing is cut off.
  const speak = async (
    text: string,
    job: KokoroJob,
    signal: AbortSignal | undefined,
  ): Promise<Float32Array<ArrayBuffer>> => {
    signal?.throwIfAborted();
    const phonemes = await phonemizeForKokoro(text, job.options.lang);
    const halves = phonemes.length > MAX_PHONEMES ? halve(text) : undefined;
    if (halves) {
      const a = await speak(halves[0], job, signal);
      const b = await speak(halves[1], job, signal);
      const out = new Float32Array(a.length + b.length);
      out.set(a);
      out.set(b, a.length);
      return out;
    }
    const { input_ids } = tokenizer(phonemes, { truncation: true });
    const n = input_ids.dims[input_ids.dims.length - 1];
    const styles = await voiceStyles(job.voicePath);
    const rows = styles.length / STYLE;
    const row = Math.min(Math.max(n - 2, 0), rows - 1);
    const style = styles.slice(row * STYLE, (row + 1) * STYLE);
    signal?.throwIfAborted();
    const { waveform } = await model({
      input_ids,
      style: new tf.Tensor("float32", style, [1, STYLE]),
      speed: new tf.Tensor("float32", [job.options.speed], [1]),
    });
    return Float32Array.from(waveform.data as ArrayLike<number>);
  };
  const running = new Set<Promise<unknown>>();
  let closing: Promise<void> | undefined;
  return {
    run(job, signal) {
      if (closing) {
        return Promise.reject(
          new Error("This Kokoro model was closed; load it again"),
        );
      }
      const work = speak(job.text, job, signal);
      const settled = work.catch(() => {});
      running.add(settled);
      settled.then(() => running.delete(settled));
      return work;
    },
    close() {
      closing ??= Promise.all(running).then(() => model.dispose());
      return closing;
    },
  };
}

/** Splits text in two at the space nearest its middle (else the middle). */
function halve(text: string): [string, string] | undefined {
  const t = text.trim();
  if (t.length < 2) return undefined;
  const mid = t.length >> 1;
  let cut = -1;
  for (let d = 0; d < mid; d++) {
    if (t[mid + d] === " ") {
      cut = mid + d;
      break;
    }
    if (t[mid - d] === " ") {
      cut = mid - d;
      break;
    }
  }
  if (cut <= 0) cut = mid;
  return [t.slice(0, cut).trim(), t.slice(cut).trim()];
}
