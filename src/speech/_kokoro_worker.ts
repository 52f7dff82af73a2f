// Worker entry: runs Kokoro off the main thread, so onnxruntime's blocking
// runs (hundreds of milliseconds per sentence on a CPU) never stall the event
// loop that paces every call's audio. Private to the speech layer;
// getTtsModel starts it through _worker_pool.ts with the model folder.

import { type KokoroJob, loadKokoro } from "./_kokoro.ts";
import { serveWorker } from "./_worker_entry.ts";

serveWorker<string, KokoroJob, Float32Array<ArrayBuffer>>({
  load: (dir) => loadKokoro(dir),
  // The samples move to the main thread instead of being copied.
  transfer: (audio) => [audio.buffer],
});
