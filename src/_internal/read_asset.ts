/**
 * Reads a file that ships with Parley, wherever Parley was loaded from: a
 * `file:` URL (a checkout, a local path import), an `https:` URL (JSR, a URL
 * import) or `http:` (a loopback file server). Nothing is written to disk,
 * so it works where the disk is read-only (Deno Deploy).
 *
 * @module
 */

import { errorText, isPermissionError } from "./errors.ts";

/**
 * Reads the bytes at `url` into memory.
 *
 * @example
 * ```ts ignore
 * const bytes = await readAsset(
 *   new URL("./models/silero_vad_v5.onnx", import.meta.url),
 *   "the Silero VAD model",
 * );
 * ```
 *
 * @param url Where the file is.
 * @param what What the file is, for the error message.
 * @returns The file's bytes.
 */
export async function readAsset(
  url: URL | string,
  what: string,
): Promise<Uint8Array> {
  const u = typeof url === "string" ? toUrl(url) : url;
  try {
    if (u.protocol === "file:") return await Deno.readFile(u);
    const response = await fetch(u);
    if (!response.ok) {
      await response.body?.cancel();
      throw new Error(`HTTP ${response.status} ${response.statusText}`);
    }
    return new Uint8Array(await response.arrayBuffer());
  } catch (e) {
    const flag = u.protocol === "file:"
      ? `--allow-read=${decodeURIComponent(u.pathname)}`
      : `--allow-net=${u.host}`;
    const hint = isPermissionError(e)
      ? `; run with ${flag} (or --allow-read / --allow-net)`
      : "";
    throw new Error(
      `Cannot read ${what} from ${u.href}: ${errorText(e)}${hint}`,
      { cause: e },
    );
  }
}

function toUrl(path: string): URL {
  if (/^[a-z][a-z0-9+.-]*:/i.test(path) && !/^[a-z]:[\\/]/i.test(path)) {
    return new URL(path);
  }
  const abs = path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
  return new URL(`file://${abs.split("/").map(encodeURIComponent).join("/")}`);
}
