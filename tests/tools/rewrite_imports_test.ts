// The import rewrite moves names to the entry point that exports them now.
import assert from "node:assert/strict";
import {
  type Change,
  type Entry,
  renameText,
  rewriteImports,
} from "../../_tools/rewrite_imports.ts";

const ROOT = "/repo";
const ENTRIES: Entry[] = [
  {
    subpath: ".",
    file: "/repo/mod.ts",
    names: new Set(["Stream", "waitForItem"]),
  },
  {
    subpath: "./transports",
    file: "/repo/src/transports/mod.ts",
    names: new Set(["FrameBus", "AsyncQueue", "waitForItem"]),
  },
  {
    subpath: "./server",
    file: "/repo/src/server/mod.ts",
    names: new Set(["runHandler", "buildConnectTwiml", "buildTelnyxTexml"]),
  },
];
const DECLARATIONS = new Map([["sleep", ["/repo/src/bus/sleep.ts"]]]);

function rewrite(file: string, text: string, changes: Change[] = []): string {
  return rewriteImports(file, text, ENTRIES, DECLARATIONS, changes, ROOT);
}

Deno.test("rewrite_imports: a test's root import is split by entry point", () => {
  const out = rewrite(
    "/repo/tests/x/a_test.ts",
    'import { FrameBus, runHandler, Stream, type AsyncQueue } from "../../mod.ts";\n',
  );
  assert.equal(
    out,
    'import { Stream } from "../../mod.ts";\n' +
      'import { type AsyncQueue, FrameBus } from "../../src/transports/mod.ts";\n' +
      'import { runHandler } from "../../src/server/mod.ts";\n',
  );
});

Deno.test("rewrite_imports: private names go to their source file", () => {
  const out = rewrite(
    "/repo/tests/a_test.ts",
    'import { sleep } from "../mod.ts";\n',
  );
  assert.equal(out, 'import { sleep } from "../src/bus/sleep.ts";\n');
});

Deno.test("rewrite_imports: package specifiers in JSDoc keep the comment prefix", () => {
  const out = rewrite(
    "/repo/src/bus/queue.ts",
    ' * ```ts\n * import { AsyncQueue, waitForItem } from "@parley/parley";\n * ```\n',
  );
  assert.equal(
    out,
    ' * ```ts\n * import { waitForItem } from "@parley/parley";\n' +
      ' * import { AsyncQueue } from "@parley/parley/transports";\n * ```\n',
  );
});

Deno.test("rewrite_imports: a namespace import moves when one entry has every name", () => {
  const changes: Change[] = [];
  const out = rewrite(
    "/repo/tests/a_test.ts",
    'import * as parley from "../mod.ts";\nparley.buildConnectTwiml();\nparley.buildTelnyxTexml();\n',
    changes,
  );
  assert.match(out, /import \* as parley from "\.\.\/src\/server\/mod\.ts";/);
  assert.equal(changes.length, 1);
});

Deno.test("rewrite_imports: unplaceable names are reported and left alone", () => {
  const changes: Change[] = [];
  const text = 'import { Missing } from "../mod.ts";\n';
  assert.equal(rewrite("/repo/tests/a_test.ts", text, changes), text);
  assert.match(changes[0].what, /cannot place Missing/);
});

Deno.test("rewrite_imports: imports that need nothing are untouched", () => {
  const text = 'import {\n  Stream,\n  waitForItem,\n} from "../../mod.ts";\n';
  assert.equal(rewrite("/repo/tests/x/a_test.ts", text), text);
});

Deno.test("rewrite_imports: renames are whole words", () => {
  const changes: Change[] = [];
  assert.equal(
    renameText(
      "a.ts",
      "turnOptionsFromFastRTC(x); myturnOptionsFromFastRTCs",
      changes,
    ),
    "turnOptionsFromFastRtc(x); myturnOptionsFromFastRTCs",
  );
  assert.equal(changes.length, 1);
});
