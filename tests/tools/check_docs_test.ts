// The doc checks in `deno task check` fail on a planted bad example:
// `deno check --doc-only` on Markdown (check:docs) and `deno test --doc` on
// JSDoc (check:examples).
import assert from "node:assert/strict";
import { join } from "node:path";

async function deno(cwd: string, ...args: string[]): Promise<number> {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    stdout: "null",
    stderr: "null",
  }).output();
  return out.code;
}

Deno.test("check:docs: a Markdown code block that does not type-check fails", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley_docs_" });
  try {
    await Deno.writeTextFile(join(dir, "deno.json"), "{}");
    await Deno.writeTextFile(
      join(dir, "good.md"),
      "# Good\n\n```ts\nconst rate: number = 8000;\nconsole.log(rate);\n```\n\n```sh\nnot typescript\n```\n",
    );
    await Deno.writeTextFile(
      join(dir, "bad.md"),
      '# Bad\n\n```ts\nconst rate: number = "8000";\n```\n',
    );
    assert.equal(await deno(dir, "check", "--doc-only", "good.md"), 0);
    assert.notEqual(await deno(dir, "check", "--doc-only", "bad.md"), 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("check:examples: a JSDoc example whose assertion fails fails", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley_examples_" });
  try {
    await Deno.writeTextFile(join(dir, "deno.json"), "{}");
    const module = (body: string) =>
      `/**\n * Doubles.\n *\n * @example\n * \`\`\`ts\n${
        body.split("\n").map((l) => ` * ${l}`).join("\n")
      }\n * \`\`\`\n */\nexport function twice(n: number): number {\n  return 2 * n;\n}\n`;
    await Deno.writeTextFile(
      join(dir, "good.ts"),
      module(
        'import { twice } from "./good.ts";\nif (twice(2) !== 4) throw new Error("no");',
      ),
    );
    await Deno.writeTextFile(
      join(dir, "bad.ts"),
      module(
        'import { twice } from "./bad.ts";\nif (twice(2) !== 5) throw new Error("twice(2) is not 5");',
      ),
    );
    assert.equal(await deno(dir, "test", "--doc", "good.ts"), 0);
    assert.notEqual(await deno(dir, "test", "--doc", "bad.ts"), 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
