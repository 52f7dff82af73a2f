/**
 * Small error helpers shared by every layer.
 *
 * @module
 */

/**
 * The message of an error, or the value as text.
 *
 * @example
 * ```ts ignore
 * errorText(new Error("boom")); // "boom"
 * errorText(42); // "42"
 * ```
 *
 * @param e Anything thrown.
 * @returns Its message.
 */
export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
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
