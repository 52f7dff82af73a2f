/**
 * Permission checks that never prompt and never throw.
 *
 * @module
 */

/**
 * Whether a permission is granted, without prompting. Under Deno Deploy and
 * `deno run` without the flag this is false; where the permission API itself
 * is missing it is false as well.
 *
 * @example
 * ```ts ignore
 * if (!hasPermission({ name: "ffi" })) console.log("native addons are off");
 * ```
 *
 * @param descriptor What to ask about.
 * @returns True when granted.
 */
export function hasPermission(descriptor: Deno.PermissionDescriptor): boolean {
  try {
    return Deno.permissions.querySync(descriptor).state === "granted";
  } catch {
    return false;
  }
}

/**
 * Reads an environment variable, or `undefined` when it is unset, empty or
 * the process may not read it (no `--allow-env`). Asks the permission API
 * first, so it never prompts. Parley's one `env()`.
 *
 * @example
 * ```ts ignore
 * const port = Number(env("PORT") ?? 8000);
 * ```
 *
 * @param name The variable.
 * @returns Its value, or `undefined`.
 */
export function env(name: string): string | undefined {
  try {
    const state = Deno.permissions.querySync?.({ name: "env", variable: name })
      .state;
    if (state !== undefined && state !== "granted") return undefined;
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined;
  }
}
