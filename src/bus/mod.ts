/**
 * The frame bus: one per call, where transports and handlers meet.
 *
 * @example
 * ```ts
 * import { FrameBus } from "@parley/parley/transports";
 * const bus = new FrameBus({
 *   callId: "c1", transportInputRate: 8000, transportOutputRate: 8000,
 *   handlerInputRate: 16000,
 * });
 * bus.close("done");
 * ```
 *
 * @module
 */
export * from "./frame_bus.ts";
export * from "./queue.ts";
// sleep.ts is internal.
