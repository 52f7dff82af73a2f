/**
 * One way to load optional npm packages on first use.
 *
 * Parley imports every npm package by its full versioned `npm:` specifier
 * (never a bare name that only Parley's own import map resolves), so it
 * resolves from JSR, from a local path in a project with its own
 * `deno.json`, and from an http(s) URL. Packages that only some features need
 * (onnxruntime-node, werift, opusscript, the TTS/STT stack, the Twilio SDK)
 * are loaded through {@linkcode lazyImport}: the specifier is not a literal
 * in an `import()` call, so Deno neither downloads nor installs the package
 * until the feature is used, and an echo bot's install stays small.
 *
 * @module
 */

import { errorText } from "./errors.ts";
import { inRootContext } from "./root_context.ts";

/** Options of {@linkcode lazyImport}. */
export interface LazyImportOptions {
  /**
   * Imports the module (default: `import(specifier)`); runs in the root
   * async context like the default.
   */
  load?: (specifier: string) => Promise<unknown>;
  /** What the error tells the user to check (default: network and permissions). */
  advice?: string;
}

const DEFAULT_ADVICE = "Check the network access to the npm registry (or " +
  "NPM_CONFIG_REGISTRY) and the permissions the error names";

/**
 * Returns a loader that imports `specifier` once (concurrent callers share
 * the promise) and forgets a failed attempt so the next call tries again.
 * This is Parley's one "import once, reset on failure" helper.
 *
 * @example
 * ```ts ignore
 * const loadWerift = lazyImport<typeof import("npm:werift@0.25.2")>(
 *   "npm:werift@0.25.2",
 *   "WebRTC",
 * );
 * const werift = await loadWerift();
 * ```
 *
 * @param specifier The full `npm:name@version` (or URL) to import.
 * @param feature What needs it, for the error message.
 * @param options A custom importer, the error's advice.
 * @returns The loader.
 */
export function lazyImport<T>(
  specifier: string,
  feature: string,
  options: LazyImportOptions = {},
): () => Promise<T> {
  const load = options.load ?? ((s: string) => import(s));
  const advice = options.advice ?? DEFAULT_ADVICE;
  let loading: Promise<T> | undefined;
  return () => {
    // In the root async context: a first import() started inside a call
    // would otherwise leave that call's context behind (root_context.ts).
    loading ??= (inRootContext(() => load(specifier)) as Promise<T>).catch(
      (e) => {
        loading = undefined;
        throw new Error(
          `Cannot load ${specifier}, which ${feature} needs: ${
            errorText(e)
          }. ${advice}`,
          { cause: e },
        );
      },
    );
    return loading;
  };
}
