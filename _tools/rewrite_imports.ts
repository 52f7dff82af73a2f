/**
 * Rewrites imports after the public API moved (issue 15), so a branch that
 * still imports a moved name from the root gets the right subpath.
 *
 * 1. Renames identifiers (`turnOptionsFromFastRTC` → `turnOptionsFromFastRtc`
 *    and the rest of {@linkcode RENAMES}) in every `.ts` and `.md` file.
 * 2. For every `import`/`export … from` whose specifier is one of the
 *    package's entry points (`@parley/parley`, `@parley/parley/<sub>`, or a
 *    relative path to `mod.ts` / `src/<sub>/mod.ts`), moves each name the
 *    entry point no longer exports to the entry point that does (root
 *    first, then the subpaths), or, when no entry point exports it, to the
 *    source file that declares it (relative specifiers and `src/` JSDoc
 *    only; anything else is reported).
 *
 * It reads the exports from `deno doc --json`, so it follows whatever the
 * entry points export when it runs. Run it after a merge, then `deno fmt`:
 *
 * ```sh
 * deno run -A _tools/rewrite_imports.ts          # rewrite in place
 * deno run -A _tools/rewrite_imports.ts --check  # list, change nothing; exit 1 if any
 * ```
 *
 * @module
 */

import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** Identifiers renamed for one casing (`FastRtc`, `WebRtc`, `Tts`). */
export const RENAMES: Readonly<Record<string, string>> = {
  turnOptionsFromFastRTC: "turnOptionsFromFastRtc",
  FastRTCVadOptions: "FastRtcVadOptions",
  KokoroTTSOptions: "KokoroTtsOptions",
};

/** Folders and files the rewrite visits, relative to the repository. */
export const DEFAULT_PATHS = [
  "src",
  "tests",
  "bench",
  "examples",
  "docs",
  "_tools",
  "README.md",
  "mod.ts",
];

/**
 * Files the rewrite never changes: they name the old spellings on purpose
 * (the changelog, the FastRTC name map, this tool and its planted tests).
 */
const SKIP = new Set([
  "CHANGELOG.md",
  "docs/fastrtc_names.md",
  "_tools/rewrite_imports.ts",
  "tests/tools/rewrite_imports_test.ts",
]);

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const PACKAGE = "@parley/parley";

/** One entry point: its subpath (`.`, `./audio`), file and exported names. */
export interface Entry {
  /** `.` or `./name`. */
  subpath: string;
  /** Absolute path of the module. */
  file: string;
  /** Names it exports. */
  names: Set<string>;
}

/** Reads the entry points of `deno.json` and what each exports. */
export async function readEntries(root = ROOT): Promise<Entry[]> {
  const config = JSON.parse(await Deno.readTextFile(join(root, "deno.json")));
  const exports = config.exports as Record<string, string>;
  const files = Object.values(exports).map((f) => resolve(root, f));
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--json", ...files],
    cwd: root,
    stdout: "piped",
    stderr: "null",
  }).output();
  const doc = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    nodes: Record<string, { symbols: { name: string }[] }>;
  };
  return Object.entries(exports).map(([subpath, f]) => {
    const file = resolve(root, f);
    const node = doc.nodes["file://" + file];
    return {
      subpath,
      file,
      names: new Set((node?.symbols ?? []).map((s) => s.name)),
    };
  });
}

/** Maps each exported declaration in `src/` to the files declaring it. */
export async function readDeclarations(
  root = ROOT,
): Promise<Map<string, string[]>> {
  const found = new Map<string, string[]>();
  const decl =
    /^export\s+(?:declare\s+)?(?:async\s+)?(?:abstract\s+)?(?:function\*?|class|const|let|interface|type|enum)\s+([A-Za-z_$][\w$]*)/gm;
  for await (const file of walk(join(root, "src"))) {
    if (!file.endsWith(".ts") || file.endsWith("/mod.ts")) continue;
    const text = await Deno.readTextFile(file);
    for (const m of text.matchAll(decl)) {
      found.set(m[1], [...(found.get(m[1]) ?? []), file]);
    }
  }
  return found;
}

async function* walk(path: string): AsyncGenerator<string> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch {
    return;
  }
  if (info.isFile) {
    yield path;
    return;
  }
  for await (const e of Deno.readDir(path)) {
    if (e.name === "node_modules" || e.name.startsWith(".")) continue;
    if (e.name === "fixtures") continue;
    yield* walk(join(path, e.name));
  }
}

/** A change the rewrite made or would make. */
export interface Change {
  /** The file, relative to the repository. */
  file: string;
  /** What changed. */
  what: string;
}

const IMPORT =
  /(^[ \t]*(?:\*[ \t]*)?|[ \t]*)(import|export)(\s+type)?\s*\{([^}]*)\}\s*from\s*"([^"]+)";?/gm;

interface Spec {
  text: string;
  name: string;
  type: boolean;
}

function parseSpecs(body: string, allType: boolean): Spec[] {
  return body
    .replace(/^\s*\*\s?/gm, " ")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((text) => {
      const type = allType || text.startsWith("type ");
      const bare = text.replace(/^type\s+/, "");
      const name = bare.split(/\s+as\s+/)[0].trim();
      return { text: type ? `type ${bare}` : bare, name, type };
    });
}

/**
 * Applies {@linkcode RENAMES} to one file's text.
 *
 * @param rel The file, relative to the repository (for `changes`).
 * @param text Its contents.
 * @param changes Collects what changed.
 * @returns The new text.
 */
export function renameText(
  rel: string,
  text: string,
  changes: Change[],
): string {
  let out = text;
  for (const [from, to] of Object.entries(RENAMES)) {
    const re = new RegExp(`\\b${from}\\b`, "g");
    if (re.test(out)) {
      changes.push({ file: rel, what: `rename ${from} → ${to}` });
      out = out.replace(re, to);
    }
  }
  return out;
}

/**
 * Moves names in one file's imports to the entry point (or private file)
 * that exports them now.
 *
 * @param file Absolute path.
 * @param text Its contents.
 * @param entries The entry points.
 * @param declarations Where private names are declared.
 * @param changes Collects what changed.
 * @param root The repository.
 * @returns The new text.
 */
export function rewriteImports(
  file: string,
  text: string,
  entries: Entry[],
  declarations: Map<string, string[]>,
  changes: Change[],
  root: string = ROOT,
): string {
  const rel = relative(root, file);
  const bySubpath = new Map(entries.map((e) => [e.subpath, e]));
  const byFile = new Map(entries.map((e) => [e.file, e]));
  const root0 = bySubpath.get(".")!;
  const inSrc = rel.startsWith("src/");
  const out = rewriteNamespaces(file, text, entries, changes, root);
  return out.replace(
    IMPORT,
    (whole, prefix: string, kw: string, typeKw, body: string, spec: string) => {
      let entry: Entry | undefined;
      let packaged = false;
      if (spec === PACKAGE || spec.startsWith(PACKAGE + "/")) {
        entry = bySubpath.get("." + spec.slice(PACKAGE.length));
        packaged = true;
      } else if (spec.startsWith(".")) {
        entry = byFile.get(resolve(dirname(file), spec));
      }
      if (!entry) return whole;
      const specs = parseSpecs(body, typeKw !== undefined);
      const keep: Spec[] = [];
      const moved = new Map<string, Spec[]>();
      for (const s of specs) {
        if (entry.names.has(s.name)) {
          keep.push(s);
          continue;
        }
        const home = root0.names.has(s.name)
          ? root0
          : entries.find((e) => e.subpath !== "." && e.names.has(s.name));
        let target: string | undefined;
        if (home) {
          target = packaged
            ? PACKAGE + home.subpath.slice(1)
            : relSpec(file, home.file);
        } else {
          const decl = closest(file, declarations.get(s.name) ?? []);
          if (decl && (!packaged || inSrc)) target = relSpec(file, decl);
        }
        if (!target) {
          changes.push({
            file: rel,
            what: `cannot place ${s.name} (imported from ${spec})`,
          });
          keep.push(s);
          continue;
        }
        changes.push({ file: rel, what: `${s.name}: ${spec} → ${target}` });
        moved.set(target, [...(moved.get(target) ?? []), s]);
      }
      if (moved.size === 0) return whole;
      const lead = prefix.replace(/^\n/, "");
      const statements: string[] = [];
      if (keep.length > 0) statements.push(statement(kw, keep, spec));
      for (const [target, list] of moved) {
        statements.push(statement(kw, list, target));
      }
      return lead + statements.join("\n" + lead);
    },
  );
}

const NAMESPACE = /(import\s+\*\s+as\s+(\w+)\s+from\s+)"([^"]+)"/g;

/**
 * Points `import * as ns from <entry>` at the one entry point that exports
 * every `ns.name` the file uses, when its own entry no longer does; reports
 * it when no single entry point does.
 */
function rewriteNamespaces(
  file: string,
  text: string,
  entries: Entry[],
  changes: Change[],
  root: string,
): string {
  return text.replace(NAMESPACE, (whole, head: string, ns: string, spec) => {
    const packaged = spec.startsWith(PACKAGE);
    const entry = packaged
      ? entries.find((e) => "." + spec.slice(PACKAGE.length) === e.subpath)
      : spec.startsWith(".")
      ? entries.find((e) => e.file === resolve(dirname(file), spec))
      : undefined;
    if (!entry) return whole;
    const used = [
      ...new Set(
        [...text.matchAll(new RegExp(`\\b${ns}\\.(\\w+)`, "g"))].map((m) =>
          m[1]
        ),
      ),
    ];
    if (used.every((n) => entry.names.has(n))) return whole;
    const home = entries.find((e) => used.every((n) => e.names.has(n)));
    const rel = relative(root, file);
    if (!home) {
      changes.push({
        file: rel,
        what: `cannot place ${ns}.* (namespace import of ${spec}): ${
          used.filter((n) => !entry.names.has(n)).join(", ")
        }`,
      });
      return whole;
    }
    const target = packaged
      ? PACKAGE + home.subpath.slice(1)
      : relSpec(file, home.file);
    changes.push({ file: rel, what: `${ns}.*: ${spec} → ${target}` });
    return `${head}"${target}"`;
  });
}

/** The declaring file nearest `file`: itself, its folder, then any. */
function closest(file: string, candidates: string[]): string | undefined {
  return candidates.find((c) => c === file) ??
    candidates.find((c) => dirname(c) === dirname(file)) ?? candidates[0];
}

function statement(kw: string, specs: Spec[], spec: string): string {
  const sorted = [...specs].sort((a, b) =>
    a.name.toLowerCase().localeCompare(b.name.toLowerCase())
  );
  const allType = sorted.every((s) => s.type);
  const parts = sorted.map((s) =>
    allType ? s.text.replace(/^type\s+/, "") : s.text
  );
  return `${kw}${allType ? " type" : ""} { ${
    parts.join(", ")
  } } from "${spec}";`;
}

function relSpec(from: string, to: string): string {
  const r = relative(dirname(from), to).replaceAll("\\", "/");
  return r.startsWith(".") ? r : "./" + r;
}

if (import.meta.main) {
  const check = Deno.args.includes("--check");
  const paths = Deno.args.filter((a) => !a.startsWith("--"));
  const files: string[] = [];
  for (const p of paths.length > 0 ? paths : DEFAULT_PATHS) {
    for await (const file of walk(resolve(ROOT, p))) {
      if (!/\.(ts|md)$/.test(file)) continue;
      if (!SKIP.has(relative(ROOT, file))) files.push(file);
    }
  }
  const changes: Change[] = [];
  // Pass 1: renames everywhere (src too), so pass 2 sees the new names.
  const texts = new Map<string, string>();
  for (const file of files) {
    const text = await Deno.readTextFile(file);
    const next = renameText(relative(ROOT, file), text, changes);
    texts.set(file, next);
    if (next !== text && !check) await Deno.writeTextFile(file, next);
  }
  // Pass 2: imports, against what the entry points export now.
  const entries = await readEntries();
  const declarations = await readDeclarations();
  for (const file of files) {
    const text = texts.get(file)!;
    const next = rewriteImports(file, text, entries, declarations, changes);
    if (next !== text && !check) await Deno.writeTextFile(file, next);
  }
  for (const c of changes) console.log(`${c.file}: ${c.what}`);
  const stuck = changes.filter((c) => c.what.startsWith("cannot"));
  if (stuck.length > 0) {
    console.error(`${stuck.length} import(s) need a hand edit`);
  }
  if (check && changes.length > 0) Deno.exit(1);
  if (stuck.length > 0) Deno.exit(2);
}
