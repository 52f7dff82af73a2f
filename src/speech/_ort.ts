// The speech layer's ONNX runtimes come from the one shared loader.
export {
  loadOrt,
  type OrtBackend,
  type OrtModule,
  resolveOrtBackend,
} from "../_internal/ort.ts";
