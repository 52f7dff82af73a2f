/**
 * `deno task models <id…>`: pre-fetches models into the cache so the first
 * call does not wait for a download (and so a machine can go offline).
 *
 * ```sh
 * deno task models kokoro moonshine/base
 * deno task models silero openwakeword  # installed npm package, or its tarball
 * deno task models            # lists the model ids and the cache folder
 * ```
 *
 * @module
 */

import {
  defaultModelsDir,
  ensureModel,
  MODEL_MANIFEST,
  modelDir,
} from "./model_cache.ts";

function describeSource(id: string, cacheDir: string): string {
  const entry = MODEL_MANIFEST.models[id];
  if (entry.source !== "npm") return entry.source;
  try {
    const dir = modelDir(id, { cacheDir });
    return dir.startsWith(cacheDir)
      ? `npm (${entry.package} not installed: from its tarball)`
      : `npm (installed: ${dir})`;
  } catch {
    return `npm (${entry.package} not installed)`;
  }
}

async function main(args: string[]): Promise<number> {
  const cacheDir = defaultModelsDir();
  if (args.length === 0 || args.includes("--help") || args.includes("-h")) {
    console.log(`usage: deno task models <id…>   (cache: ${cacheDir})\n`);
    for (const [id, entry] of Object.entries(MODEL_MANIFEST.models)) {
      console.log(
        `  ${id.padEnd(16)} ${describeSource(id, cacheDir)}\n` +
          `  ${"".padEnd(16)} licence: ${entry.license}`,
      );
    }
    return args.length === 0 ? 1 : 0;
  }
  let failed = 0;
  for (const id of args) {
    try {
      const model = await ensureModel(id, { cacheDir, files: "all" });
      const entry = MODEL_MANIFEST.models[id];
      const installed = entry.source === "npm" &&
        !model.dir.startsWith(cacheDir);
      console.log(
        installed
          ? `${id}: ready in the installed npm package ${entry.package} at ${model.dir} (nothing downloaded)`
          : `${id}: ready in ${model.dir}`,
      );
      for (const [name, path] of Object.entries(model.files)) {
        const { size } = await Deno.stat(path);
        console.log(`  ${name} (${size} bytes)`);
      }
    } catch (e) {
      failed++;
      console.error(`${id}: ${e instanceof Error ? e.message : String(e)}`);
      try {
        console.error(`  (folder: ${modelDir(id, { cacheDir })})`);
      } catch { /* unknown id or package: message above says so */ }
    }
  }
  return failed === 0 ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
