// Lazy access to the two ONNX runtimes the speech layer can use, shared by
// wake words and Moonshine. Private to the speech layer.
//
// "node" is onnxruntime-node (native, fastest); "wasm" is onnxruntime-web
// (no native code: Deno Deploy, locked-down hosts). Each is imported once per
// process, on first use.

import { inRootContext } from "../_root_context.ts";
import type * as ort from "onnxruntime-node";

/** The onnxruntime module (node and web share this surface). */
export type OrtModule = typeof ort;

/** Which ONNX runtime runs a model. */
export type OrtBackend = "node" | "wasm";

const runtimes = new Map<OrtBackend, Promise<OrtModule>>();

/** Imports the runtime for `backend` once per process. */
export function loadOrt(backend: OrtBackend): Promise<OrtModule> {
  let p = runtimes.get(backend);
  if (!p) {
    p = backend === "node"
      ? inRootContext(() => import("onnxruntime-node")).then((m) =>
        m as OrtModule
      )
      : inRootContext(() => import("onnxruntime-web")).then((m) => {
        const web = m as unknown as OrtModule;
        web.env.wasm.numThreads = 1; // no worker threads; stable cost per call
        return web;
      });
    p.catch(() => runtimes.delete(backend));
    runtimes.set(backend, p);
  }
  return p;
}

/**
 * The backend actually used: `node` falls back to `wasm`, with a warning
 * naming `what` (e.g. "wake words"), when the native addon cannot load.
 */
export async function resolveOrtBackend(
  wanted: OrtBackend,
  what: string,
): Promise<OrtBackend> {
  if (wanted === "wasm") return "wasm";
  try {
    await loadOrt("node");
    return "node";
  } catch (e) {
    console.warn(
      `Parley: onnxruntime-node could not be loaded (${
        e instanceof Error ? e.message : String(e)
      }); using the slower onnxruntime-web WASM backend for ${what} instead`,
    );
    return "wasm";
  }
}
