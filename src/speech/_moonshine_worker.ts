// Worker entry: runs one MoonshineRunner off the main thread, so onnxruntime's
// blocking session runs (the encoder takes tens to hundreds of milliseconds)
// never stall the event loop that paces every call's audio. Private to the
// speech layer; getSttModel starts it through _worker_pool.ts.

import { MoonshineRunner, type MoonshineRunnerOptions } from "./moonshine.ts";
import { serveWorker } from "./_worker_entry.ts";

/** One transcription: 16 kHz mono audio (moved here) and a token limit. */
export interface MoonshineJob {
  audio: Float32Array<ArrayBuffer>;
  maxTokens?: number;
}

serveWorker<MoonshineRunnerOptions, MoonshineJob, number[]>({
  async load(options) {
    const runner = await MoonshineRunner.load(options);
    return {
      run: (job, signal) =>
        runner.transcribe(job.audio, { maxTokens: job.maxTokens, signal }),
      close: () => runner.close(),
    };
  },
});
