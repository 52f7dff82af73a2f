// The root's exports are a deliberate list: a change to mod.ts's public names
// must update tests/api_snapshot.txt in the same commit (regenerate it with
// `deno run -A tests/api_snapshot_test.ts --update`).
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { checkExports } from "../_tools/check_exports.ts";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..");
const SNAPSHOT = join(REPO, "tests", "api_snapshot.txt");

async function rootNames(): Promise<string[]> {
  const { rootNames } = await checkExports(REPO);
  return rootNames;
}

function parse(text: string): string[] {
  return text.split("\n").map((l) => l.trim()).filter((l) =>
    l.length > 0 && !l.startsWith("#")
  );
}

Deno.test("public API: the root's exports equal tests/api_snapshot.txt", async () => {
  const expected = parse(await Deno.readTextFile(SNAPSHOT));
  assert.deepEqual(await rootNames(), expected);
});

if (import.meta.main && Deno.args.includes("--update")) {
  const names = await rootNames();
  await Deno.writeTextFile(
    SNAPSHOT,
    "# The root exports of @parley/parley (mod.ts), sorted. A change here is\n" +
      "# a change to the public API: note it in CHANGELOG.md.\n" +
      names.join("\n") + "\n",
  );
  console.log(`wrote ${names.length} names to ${SNAPSHOT}`);
}
