/**
 * Handler primitives: `StreamHandler`, `AdditionalOutputs`, `CloseStream`,
 * `getCurrentContext`, and the runner that drives a handler on a bus.
 *
 * @example
 * ```ts
 * import { AdditionalOutputs } from "@parley/parley";
 * const out = new AdditionalOutputs("transcript");
 * ```
 *
 * @module
 */
export * from "./context.ts";
export * from "./outputs.ts";
export * from "./runner.ts";
export * from "./stream_handler.ts";
export * from "./reply_on_pause.ts";
export * from "./reply_on_stop_words.ts";
export * from "./turn_metrics.ts";
