/**
 * Model-cache checks for tests that need real weights.
 *
 * @module
 */

import { ensureModel } from "../../src/speech/model_cache.ts";

/**
 * Whether model `id` of the manifest is already in the model cache
 * (`PARLEY_MODELS_DIR` or the default); nothing is downloaded. Tests use it
 * to skip, with a printed reason, when the weights are absent.
 *
 * @example
 * ```ts ignore
 * const hasTiny = await modelInCache("moonshine/tiny");
 * if (!hasTiny) console.log("Skipping: run `deno task models moonshine/tiny` once");
 * ```
 *
 * @param id A model id of the manifest, e.g. `"moonshine/tiny"`.
 * @returns True when `ensureModel(id, { offline: true })` resolves.
 */
export function modelInCache(id: string): Promise<boolean> {
  return ensureModel(id, { offline: true }).then(() => true, () => false);
}
