/**
 * Small error helpers shared by every layer.
 *
 * @module
 */

/**
 * The message of an error, or the value as text. Parley's one way to turn
 * something thrown into text.
 *
 * @example
 * ```ts
 * import { errorText } from "./errors.ts";
 * errorText(new Error("boom")); // "boom"
 * errorText(new TypeError("boom"), { name: true }); // "TypeError: boom"
 * errorText(42); // "42"
 * ```
 *
 * @param e Anything thrown.
 * @param options `name`: prefix the error's name (`"TypeError: boom"`),
 *   as the `error` messages sent to clients do.
 * @returns Its message.
 */
export function errorText(e: unknown, options?: { name?: boolean }): string {
  if (!(e instanceof Error)) return String(e);
  return options?.name ? `${e.name}: ${e.message}` : e.message;
}

/**
 * Whether `e` is Deno's error for a permission the process lacks
 * (`NotCapable` in Deno 2, `PermissionDenied` for some operating-system
 * refusals).
 *
 * @example
 * ```ts ignore
 * try {
 *   Deno.readTextFileSync("/etc/hostname");
 * } catch (e) {
 *   if (isPermissionError(e)) console.log("run with --allow-read");
 * }
 * ```
 *
 * @param e Anything thrown.
 * @returns True for a permission error.
 */
export function isPermissionError(e: unknown): boolean {
  return e instanceof Deno.errors.NotCapable ||
    e instanceof Deno.errors.PermissionDenied;
}
