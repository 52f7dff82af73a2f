/**
 * The one ONNX Runtime loader, shared by Silero VAD, wake words and
 * Moonshine.
 *
 * `"node"` is onnxruntime-node (native addon, fastest; needs `--allow-ffi`);
 * `"wasm"` is onnxruntime-web (no native code: Deno Deploy, locked-down
 * hosts). Each is imported once per process, on first use, through
 * {@linkcode lazyImport}, so a process that never uses one never downloads
 * it. onnxruntime-web is pinned to the version transformers.js depends on,
 * so a graph that has both holds one copy.
 *
 * @module
 */

import type * as ort from "npm:onnxruntime-node@1.30.0";
import { errorText } from "./errors.ts";
import { lazyImport } from "./lazy_import.ts";
import { hasPermission } from "./permissions.ts";
import { log } from "./log.ts";

/** The native backend's package. */
export const ORT_NODE = "npm:onnxruntime-node@1.30.0";
/** The WASM backend's package (the version transformers.js 4.3 pins). */
export const ORT_WEB = "npm:onnxruntime-web@1.31.0-dev.20260914-8d85527a0";

/** The onnxruntime module (node and web share this surface). */
export type OrtModule = typeof ort;

/** Which ONNX runtime runs a model. */
export type OrtBackend = "node" | "wasm";

const importNode = lazyImport<OrtModule>(ORT_NODE, "the native ONNX backend");
const importWeb = lazyImport<OrtModule>(ORT_WEB, "the WASM ONNX backend");

/** @internal Hooks, replaceable in tests. */
export const ortLoaders: {
  node: () => Promise<OrtModule>;
  wasm: () => Promise<OrtModule>;
  ffiAllowed: () => boolean;
  log: (message: string) => void;
} = {
  node: importNode,
  wasm: async () => {
    const web = await importWeb();
    // One thread: no worker threads, and a stable cost per call.
    // onnxruntime-web finds its .wasm next to its own module.
    if (web.env?.wasm) web.env.wasm.numThreads = 1;
    return web;
  },
  ffiAllowed: () => hasPermission({ name: "ffi" }),
  log: (m) => log.warn(m),
};

/**
 * Imports the runtime for `backend` (once per process).
 *
 * @example
 * ```ts ignore
 * const ort = await loadOrt("wasm");
 * ```
 *
 * @param backend Which runtime.
 * @returns The module.
 */
export function loadOrt(backend: OrtBackend): Promise<OrtModule> {
  return backend === "node" ? ortLoaders.node() : ortLoaders.wasm();
}

const told = new Set<string>();

/**
 * The backend actually used for `what`: `node` becomes `wasm` when the
 * process has no `--allow-ffi` (the addon is then not even downloaded) or
 * when the addon fails to load; one line says so, once per reason.
 *
 * @example
 * ```ts ignore
 * const backend = await resolveOrtBackend("node", "Silero VAD");
 * ```
 *
 * @param wanted The backend asked for.
 * @param what The feature, for the log line.
 * @returns The backend to use.
 */
export async function resolveOrtBackend(
  wanted: OrtBackend,
  what: string,
): Promise<OrtBackend> {
  if (wanted === "wasm") return "wasm";
  if (!ortLoaders.ffiAllowed()) {
    tell(
      `[parley] ${what}: no --allow-ffi (as on Deno Deploy), so the native ` +
        `onnxruntime-node backend is off; using onnxruntime-web (WASM)`,
    );
    return "wasm";
  }
  try {
    await ortLoaders.node();
    return "node";
  } catch (e) {
    tell(
      `[parley] ${what}: onnxruntime-node could not be loaded (${
        errorText(e)
      }); using the slower onnxruntime-web (WASM) backend instead`,
    );
    return "wasm";
  }
}

function tell(message: string): void {
  if (told.has(message)) return;
  told.add(message);
  ortLoaders.log(message);
}
