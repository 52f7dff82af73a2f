/**
 * Looking at what a test left on disk (e.g. in a model cache folder).
 *
 * @module
 */

/**
 * Whether `path` exists (file or folder).
 *
 * @example
 * ```ts ignore
 * assert.equal(await exists(`${path}.part`), false);
 * ```
 *
 * @param path File or folder path.
 * @returns True when `Deno.stat` succeeds.
 */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * The files below `dir`, as sorted paths relative to it (folders are walked,
 * not listed); empty when `dir` does not exist.
 *
 * @example
 * ```ts ignore
 * assert.deepEqual(await listFiles(model.dir), ["encoder.onnx", "sub/decoder.onnx"]);
 * ```
 *
 * @param dir The folder to walk.
 * @returns Relative file paths with `/` separators, sorted.
 */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(d: string, rel: string): Promise<void> {
    for await (const e of Deno.readDir(d)) {
      if (e.isDirectory) await walk(`${d}/${e.name}`, `${rel}${e.name}/`);
      else out.push(`${rel}${e.name}`);
    }
  }
  if (await exists(dir)) await walk(dir, "");
  return out.sort();
}
