/**
 * PCM16 fixtures as int16 samples, read with Parley's own WAV reader.
 *
 * @module
 */

import { readWavFile } from "../../src/audio/wav.ts";

/**
 * Reads a mono PCM16 WAV file (a test fixture) with `readWavFile` and returns
 * the exact int16 values it holds. `readWavFile` gives float32 divided by
 * 32768, which float32 represents exactly, so multiplying back is lossless
 * (unlike `audioToInt16`, which scales by 32767).
 *
 * @example
 * ```ts ignore
 * const { sampleRate, samples } = await readPcm16Wav("tests/fixtures/jfk.wav");
 * // sampleRate === 16000, samples is an Int16Array
 * ```
 *
 * @param path File path or `file:` URL.
 * @returns The file's sample rate and samples.
 * @throws {Error} If the file is not mono PCM16.
 */
export async function readPcm16Wav(
  path: string | URL,
): Promise<{ sampleRate: number; samples: Int16Array }> {
  const wav = await readWavFile(path);
  if (wav.format !== "pcm16" || wav.channels !== 1) {
    throw new Error(
      `${path} holds ${wav.channels}-channel ${wav.format} audio, but this ` +
        "reader wants mono PCM16; convert it with " +
        "`sox in.wav -c 1 -e signed -b 16 out.wav`",
    );
  }
  return {
    sampleRate: wav.sampleRate,
    samples: Int16Array.from(wav.samples, (v) => v * 32768),
  };
}
