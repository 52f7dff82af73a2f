// The exports check passes on this repository and fails on planted
// violations.
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { checkExports, MAX_ROOT_EXPORTS } from "../../_tools/check_exports.ts";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

const MODULE_DOC = "/**\n * A module.\n *\n * @module\n */\n";
const GOOD_FN = [
  "/**",
  " * Adds one.",
  " *",
  " * @example",
  " * ```ts",
  " * addOne(1);",
  " * ```",
  " */",
  "export function addOne(n: number): number {",
  "  return n + 1;",
  "}",
  "",
].join("\n");

async function pkg(files: Record<string, string>): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "parley_exports_" });
  await Deno.writeTextFile(
    join(dir, "deno.json"),
    JSON.stringify({ name: "@x/y", exports: { ".": "./mod.ts" } }),
  );
  for (const [path, text] of Object.entries(files)) {
    await Deno.writeTextFile(join(dir, path), text);
  }
  return dir;
}

async function problemsOf(files: Record<string, string>): Promise<string[]> {
  const dir = await pkg(files);
  try {
    const { problems } = await checkExports(dir);
    return problems.map((p) => `${p.name}: ${p.message}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("check_exports: this repository's entry points pass", async () => {
  const { problems, rootNames } = await checkExports(REPO);
  assert.deepEqual(problems, []);
  assert.ok(rootNames.length <= MAX_ROOT_EXPORTS);
});

Deno.test("check_exports: a clean planted package passes", async () => {
  assert.deepEqual(await problemsOf({ "mod.ts": MODULE_DOC + GOOD_FN }), []);
});

Deno.test("check_exports: an undocumented export fails", async () => {
  const problems = await problemsOf({
    "mod.ts": MODULE_DOC + GOOD_FN + "export const bare = 1;\n",
  });
  assert.deepEqual(problems, ["bare: has no JSDoc description"]);
});

Deno.test("check_exports: a function without an example fails", async () => {
  const problems = await problemsOf({
    "mod.ts": MODULE_DOC +
      "/** Doubles. */\nexport function twice(n: number): number {\n  return 2 * n;\n}\n",
  });
  assert.deepEqual(problems, ["twice: has no @example"]);
});

Deno.test("check_exports: an internal helper on an entry point fails", async () => {
  const problems = await problemsOf({
    "mod.ts": MODULE_DOC + GOOD_FN +
      "/**\n * Message of an error.\n *\n * @example\n * ```ts\n * errorText(1);\n * ```\n */\nexport function errorText(e: unknown): string {\n  return String(e);\n}\n",
  });
  assert.deepEqual(problems, [
    "errorText: is an internal helper and must not be exported",
  ]);
});

Deno.test("check_exports: the other casing fails", async () => {
  const problems = await problemsOf({
    "mod.ts": MODULE_DOC +
      "/** Options. */\nexport interface FastRTCOptions {\n  /** A. */\n  a?: number;\n}\n",
  });
  assert.deepEqual(problems, [
    "FastRTCOptions: breaks the casing rule (write FastRtc, WebRtc)",
  ]);
});

Deno.test("check_exports: a missing module doc fails", async () => {
  const problems = await problemsOf({ "mod.ts": GOOD_FN });
  assert.deepEqual(problems, ["(module): has no module doc"]);
});

Deno.test("check_exports: too many root exports fails", async () => {
  const many = Array.from(
    { length: MAX_ROOT_EXPORTS + 1 },
    (_, i) => `/** Value ${i}. */\nexport const v${i} = ${i};\n`,
  ).join("");
  const problems = await problemsOf({ "mod.ts": MODULE_DOC + many });
  assert.deepEqual(problems, [
    `(module): exports ${
      MAX_ROOT_EXPORTS + 1
    } names; the root may have ${MAX_ROOT_EXPORTS}`,
  ]);
});

Deno.test("check_exports: the CLI exits 1 and names the symbol", async () => {
  const dir = await pkg({
    "mod.ts": MODULE_DOC + GOOD_FN + "export function sleep(): void {}\n",
  });
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-read",
        "--allow-run",
        join(REPO, "_tools", "check_exports.ts"),
        "--no-doc-lint",
        dir,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 1);
    const stderr = new TextDecoder().decode(out.stderr);
    assert.match(stderr, /\. sleep: is an internal helper/);
    assert.match(stderr, /\. sleep: has no JSDoc description/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("check_exports: the CLI runs deno doc --lint on every entry point", async () => {
  const dir = await pkg({
    "mod.ts": MODULE_DOC +
      "/** Options. */\nexport interface Opts {\n  a?: number;\n}\n",
  });
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", join(REPO, "_tools", "check_exports.ts"), dir],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 1);
    assert.match(
      new TextDecoder().decode(out.stderr),
      /deno doc --lint failed/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
