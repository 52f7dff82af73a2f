// Runs ensureModel in its own isolate (own module instance, so its own
// in-process locks), as a second `deno serve --parallel` worker or a second
// process would. Used by speech_review_test.ts.
import {
  ensureModel,
  type EnsureModelOptions,
} from "../../src/speech/model_cache.ts";

// A worker's global scope, typed without the deno.worker lib.
const scope = self as unknown as {
  onmessage: (e: MessageEvent<EnsureModelOptions>) => void;
  postMessage(message: unknown): void;
};

scope.onmessage = async (e) => {
  try {
    const m = await ensureModel("m/x", e.data);
    scope.postMessage({ ok: true, files: m.files });
  } catch (err) {
    scope.postMessage({ ok: false, error: String(err) });
  }
};
