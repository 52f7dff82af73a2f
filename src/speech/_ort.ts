// The speech layer's ONNX runtimes come from the one shared loader,
// src/_internal/ort.ts; new code imports that directly (moonshine.ts and
// wakeword.ts do). This re-export stays for branches that import it.
export {
  loadOrt,
  type OrtBackend,
  type OrtModule,
  resolveOrtBackend,
} from "../_internal/ort.ts";
