/**
 * Checks the layering of `src/` (see DESIGN.md, "Layers"): every import from
 * one layer (a folder under `src/`) into another must be an edge listed in
 * {@linkcode ALLOWED}, and no imports form a cycle, neither between layers
 * nor between files (type-only imports excepted: they vanish at run time).
 *
 * Imports are read from the source text: static `import`/`export … from`,
 * `import("…")` with a literal, and `new URL("….ts", import.meta.url)`
 * (workers). Lines in JSDoc and `//` comments are skipped. Modelled on Deno
 * std's `_tools/check_circular_package_dependencies.ts`.
 *
 * ```sh
 * deno run --allow-read _tools/check_layers.ts        # this repository
 * deno run --allow-read _tools/check_layers.ts DIR    # another src/ tree
 * ```
 *
 * @module
 */

import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The layers and whom each may import. Read as "`handlers` may import
 * `audio`, `bus`, …". `_internal` holds helpers any layer may use; it
 * imports nothing else of Parley's. A layer missing from this table may
 * import nothing.
 */
export const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  // Nothing of Parley's (DESIGN.md: "audio imports nothing of Parley's").
  audio: [],
  _internal: [],
  bus: ["audio", "_internal"],
  vad: ["audio", "bus", "_internal"],
  // TTS, STT, wake words and end-of-turn models: audio in, audio, text or
  // a verdict out. An end-of-turn model implements vad's interface.
  speech: ["audio", "vad", "_internal"],
  // Handlers meet transports on the bus only; they never import them.
  handlers: ["audio", "bus", "vad", "speech", "_internal"],
  // Transports never import handlers (nor vad, speech, server).
  transports: ["audio", "bus", "_internal"],
  // The server sits on top.
  server: [
    "audio",
    "bus",
    "vad",
    "speech",
    "handlers",
    "transports",
    "_internal",
  ],
  // Test clients and fakes for users' own tests: on top of everything.
  testing: [
    "audio",
    "bus",
    "vad",
    "speech",
    "handlers",
    "transports",
    "server",
    "_internal",
  ],
};

/** One import between files of `src/`. */
export interface Edge {
  /** Importing file, relative to `src/`. */
  from: string;
  /** Imported file, relative to `src/`. */
  to: string;
  /** True for `import type` / `export type`. */
  typeOnly: boolean;
}

/** One problem found. */
export interface LayerProblem {
  /** What is wrong, naming the files. */
  message: string;
}

const STATIC =
  /^[ \t]*(import|export)(\s+type)?\b(?:[^;'"`]|\n)*?\bfrom\s*["']([^"']+)["']/gm;
const SIDE_EFFECT = /^[ \t]*import\s*["']([^"']+)["']/gm;
const DYNAMIC = /\bimport\(\s*["']([^"']+)["']\s*\)/g;
const URL_REF =
  /new URL\(\s*["'](\.{1,2}\/[^"']+\.ts)["']\s*,\s*import\.meta\.url/g;

/** Blanks JSDoc blocks and `//` comment lines, keeping line numbers. */
function stripComments(text: string): string {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, " "))
    .replace(/^[ \t]*\/\/.*$/gm, "");
}

async function* tsFiles(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(dir)) {
    const path = join(dir, e.name);
    if (e.isDirectory) yield* tsFiles(path);
    else if (e.isFile && e.name.endsWith(".ts")) yield path;
  }
}

/**
 * Reads the imports between files of `srcDir`.
 *
 * @param srcDir The `src/` folder.
 * @returns The edges.
 */
export async function readEdges(srcDir: string): Promise<Edge[]> {
  const edges: Edge[] = [];
  for await (const file of tsFiles(srcDir)) {
    const text = stripComments(await Deno.readTextFile(file));
    const add = (spec: string, typeOnly: boolean) => {
      if (!spec.startsWith(".")) return;
      const target = resolve(dirname(file), spec);
      if (!target.startsWith(srcDir + sep)) return;
      edges.push({
        from: relative(srcDir, file),
        to: relative(srcDir, target),
        typeOnly,
      });
    };
    for (const m of text.matchAll(STATIC)) add(m[3], m[2] !== undefined);
    for (const m of text.matchAll(SIDE_EFFECT)) add(m[1], false);
    for (const m of text.matchAll(DYNAMIC)) add(m[1], false);
    for (const m of text.matchAll(URL_REF)) add(m[1], false);
  }
  return edges;
}

function layerOf(path: string): string {
  const first = path.split(/[\\/]/)[0];
  return first.endsWith(".ts") ? "(src root)" : first;
}

/** Finds one cycle in a graph, as the list of its nodes, or undefined. */
export function findCycle(
  graph: ReadonlyMap<string, ReadonlySet<string>>,
): string[] | undefined {
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (node: string): string[] | undefined => {
    state.set(node, "open");
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      const s = state.get(next);
      if (s === "open") return [...stack.slice(stack.indexOf(next)), next];
      if (s === undefined) {
        const found = visit(next);
        if (found) return found;
      }
    }
    stack.pop();
    state.set(node, "done");
    return undefined;
  };
  for (const node of [...graph.keys()].sort()) {
    if (state.has(node)) continue;
    const found = visit(node);
    if (found) return found;
  }
  return undefined;
}

/**
 * Checks the layering of `srcDir`.
 *
 * @param srcDir The `src/` folder.
 * @param allowed The allowed layer edges (default {@linkcode ALLOWED}).
 * @returns The problems (empty when the layering holds).
 */
export async function checkLayers(
  srcDir: string,
  allowed: Readonly<Record<string, readonly string[]>> = ALLOWED,
): Promise<LayerProblem[]> {
  const problems: LayerProblem[] = [];
  const table = new Map(
    Object.entries(allowed).map(([k, v]) => [k, new Set(v)]),
  );
  const tableCycle = findCycle(table);
  if (tableCycle) {
    problems.push({
      message: `the allowed table has a cycle: ${tableCycle.join(" → ")}`,
    });
  }
  const edges = await readEdges(resolve(srcDir));
  const layerGraph = new Map<string, Set<string>>();
  const fileGraph = new Map<string, Set<string>>();
  for (const e of edges) {
    const a = layerOf(e.from);
    const b = layerOf(e.to);
    if (!e.typeOnly) {
      if (!fileGraph.has(e.from)) fileGraph.set(e.from, new Set());
      fileGraph.get(e.from)!.add(e.to);
    }
    if (a === b) continue;
    if (!layerGraph.has(a)) layerGraph.set(a, new Set());
    layerGraph.get(a)!.add(b);
    if (!table.get(a)?.has(b)) {
      problems.push({
        message: `${e.from} imports ${e.to}: ${a} may not import ${b}` +
          ` (allowed: ${[...(table.get(a) ?? [])].join(", ") || "nothing"})`,
      });
    }
  }
  const layerCycle = findCycle(layerGraph);
  if (layerCycle) {
    problems.push({ message: `layer cycle: ${layerCycle.join(" → ")}` });
  }
  const fileCycle = findCycle(fileGraph);
  if (fileCycle) {
    problems.push({ message: `import cycle: ${fileCycle.join(" → ")}` });
  }
  return problems;
}

if (import.meta.main) {
  const root = Deno.args[0] ??
    resolve(dirname(fileURLToPath(import.meta.url)), "..");
  const problems = await checkLayers(join(resolve(root), "src"));
  for (const p of problems) console.error(p.message);
  if (problems.length > 0) {
    console.error(`check_layers: ${problems.length} problem(s)`);
    Deno.exit(1);
  }
  console.log("check_layers: ok");
}
