/**
 * Checks the public API of every entry point in `deno.json`'s `exports`:
 *
 * - each exported symbol has a JSDoc description, and each exported
 *   function and class an `@example` (on the symbol or its constructor);
 * - each entry point has a module doc (`@module`);
 * - no entry point exports an internal helper ({@linkcode INTERNAL_NAMES});
 * - exported names use one casing: `FastRtc`, `WebRtc` (never `FastRTC`,
 *   `WebRTC`);
 * - the root (`.`) exports at most {@linkcode MAX_ROOT_EXPORTS} names;
 * - `deno doc --lint` passes on all entry points together (skip with
 *   `--no-doc-lint`).
 *
 * Modelled on Deno std's `_tools/check_mod_exports.ts`, but reading what
 * `deno doc --json` reports, so re-exports and `export *` count as they
 * resolve.
 *
 * ```sh
 * deno run -A _tools/check_exports.ts          # this repository
 * deno run -A _tools/check_exports.ts DIR      # another tree (tests)
 * ```
 *
 * @module
 */

import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** Helpers that stay private: no entry point may export them. */
export const INTERNAL_NAMES: ReadonlySet<string> = new Set([
  "describe",
  "errorText",
  "isAudioChunk",
  "runWithContext",
  "sleep",
  "escapeHtml",
  "Pacer",
  "pumpOutput",
  "loadOpus",
  "chooseOfferCodec",
  "toSttInput",
  "bindHandler",
  "lazyImport",
  "env",
  "loadOrt",
]);

/** Most names the root entry point may export. */
export const MAX_ROOT_EXPORTS = 45;

/** Spellings of an acronym that break the one-casing rule. */
const BAD_CASING = /FastRTC|WebRTC|WebRtC/;

interface JsDoc {
  doc?: string;
  tags?: { kind: string }[];
}

interface Declaration {
  kind: string;
  jsDoc?: JsDoc;
  location: { filename: string; line: number };
  def?: {
    constructors?: { jsDoc?: JsDoc }[];
  };
}

interface DocSymbol {
  name: string;
  declarations: Declaration[];
}

/** One problem found. */
export interface Problem {
  /** The entry point (`.`, `./audio`). */
  entry: string;
  /** The symbol, or `(module)`. */
  name: string;
  /** What is wrong. */
  message: string;
}

async function docJson(root: string, file: string): Promise<{
  moduleDoc?: JsDoc;
  symbols: DocSymbol[];
}> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--json", file],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(
      `deno doc failed for ${file}: ${new TextDecoder().decode(out.stderr)}`,
    );
  }
  const json = JSON.parse(new TextDecoder().decode(out.stdout));
  const url = "file://" + resolve(root, file);
  const node = json.nodes[url] ?? Object.values(json.nodes)[0];
  return { moduleDoc: node?.module_doc, symbols: node?.symbols ?? [] };
}

function hasExample(d: Declaration): boolean {
  const tags = [
    ...(d.jsDoc?.tags ?? []),
    ...(d.def?.constructors ?? []).flatMap((c) => c.jsDoc?.tags ?? []),
  ];
  return tags.some((t) => t.kind === "example");
}

/**
 * Checks the tree at `root`.
 *
 * @param root A folder with a `deno.json` that has `exports`.
 * @returns The problems, and the root's sorted export names.
 */
export async function checkExports(root: string): Promise<{
  problems: Problem[];
  rootNames: string[];
}> {
  const config = JSON.parse(await Deno.readTextFile(join(root, "deno.json")));
  const exports: Record<string, string> = typeof config.exports === "string"
    ? { ".": config.exports }
    : config.exports;
  const problems: Problem[] = [];
  let rootNames: string[] = [];
  for (const [entry, file] of Object.entries(exports)) {
    const { moduleDoc, symbols } = await docJson(root, file);
    const add = (name: string, message: string) =>
      problems.push({ entry, name, message });
    if (!moduleDoc?.doc?.trim()) add("(module)", "has no module doc");
    const names = symbols.map((s) => s.name).sort();
    if (entry === ".") rootNames = names;
    for (const s of symbols) {
      if (INTERNAL_NAMES.has(s.name)) {
        add(s.name, "is an internal helper and must not be exported");
      }
      if (BAD_CASING.test(s.name)) {
        add(s.name, "breaks the casing rule (write FastRtc, WebRtc)");
      }
      const decls = s.declarations.filter((d) => d.kind !== "reference");
      if (!decls.some((d) => d.jsDoc?.doc?.trim())) {
        add(s.name, "has no JSDoc description");
      }
      const needsExample = decls.some((d) =>
        d.kind === "function" || d.kind === "class"
      );
      if (needsExample && !decls.some(hasExample)) {
        add(s.name, "has no @example");
      }
    }
    if (entry === "." && names.length > MAX_ROOT_EXPORTS) {
      add(
        "(module)",
        `exports ${names.length} names; the root may have ${MAX_ROOT_EXPORTS}`,
      );
    }
  }
  return { problems, rootNames };
}

/**
 * Runs `deno doc --lint` on every entry point at once (so a type one entry
 * point references may be exported by another), printing its report.
 *
 * @param root A folder with a `deno.json` that has `exports`.
 * @returns Whether the lint passed.
 */
export async function docLint(root: string): Promise<boolean> {
  const config = JSON.parse(await Deno.readTextFile(join(root, "deno.json")));
  const exports: Record<string, string> = typeof config.exports === "string"
    ? { ".": config.exports }
    : config.exports;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--lint", ...Object.values(exports)],
    cwd: root,
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  return out.success;
}

if (import.meta.main) {
  const root = resolve(
    Deno.args.find((a) => !a.startsWith("--")) ??
      join(dirname(fileURLToPath(import.meta.url)), ".."),
  );
  const { problems, rootNames } = await checkExports(root);
  for (const p of problems) {
    console.error(`${p.entry} ${p.name}: ${p.message}`);
  }
  if (problems.length > 0) {
    console.error(`check_exports: ${problems.length} problem(s)`);
    Deno.exit(1);
  }
  // Every entry point of deno.json, so one added by a merge is linted too.
  if (!Deno.args.includes("--no-doc-lint") && !(await docLint(root))) {
    console.error("check_exports: deno doc --lint failed");
    Deno.exit(1);
  }
  console.log(`check_exports: ok (${rootNames.length} root exports)`);
}
