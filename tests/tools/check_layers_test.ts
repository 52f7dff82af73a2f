// The layer check passes on this repository and fails on planted violations.
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { checkLayers, findCycle } from "../../_tools/check_layers.ts";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

async function tree(files: Record<string, string>): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "parley_layers_" });
  for (const [path, text] of Object.entries(files)) {
    await Deno.mkdir(dirname(join(dir, path)), { recursive: true });
    await Deno.writeTextFile(join(dir, path), text);
  }
  return dir;
}

const CLEAN = {
  "audio/frame.ts": "export const rate = 8000;\n",
  "bus/frame_bus.ts":
    'import { rate } from "../audio/frame.ts";\nexport const r = rate;\n',
  "handlers/reply.ts":
    'import { r } from "../bus/frame_bus.ts";\nexport const h = r;\n',
  "transports/twilio.ts":
    'import { r } from "../bus/frame_bus.ts";\nexport const t = r;\n',
  "server/stream.ts":
    'import { h } from "../handlers/reply.ts";\nimport { t } from "../transports/twilio.ts";\nexport const s = h + t;\n',
};

Deno.test("check_layers: this repository's src/ is layered", async () => {
  assert.deepEqual(await checkLayers(join(REPO, "src")), []);
});

Deno.test("check_layers: a clean planted tree passes", async () => {
  const dir = await tree(CLEAN);
  try {
    assert.deepEqual(await checkLayers(dir), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("check_layers: a handler importing a transport fails", async () => {
  const dir = await tree({
    ...CLEAN,
    "handlers/reply.ts":
      'import { t } from "../transports/twilio.ts";\nexport const h = t;\n',
  });
  try {
    const problems = await checkLayers(dir);
    assert.ok(
      problems.some((p) =>
        p.message.includes("handlers may not import transports")
      ),
      JSON.stringify(problems),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("check_layers: audio importing anything of Parley's fails, even lazily", async () => {
  const dir = await tree({
    ...CLEAN,
    "audio/frame.ts":
      'export const rate = 8000;\nexport const load = () => import("../bus/frame_bus.ts");\n',
  });
  try {
    const messages = (await checkLayers(dir)).map((p) => p.message);
    assert.ok(
      messages.some((m) => m.includes("audio may not import bus")),
      messages.join("\n"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("check_layers: a transport importing a handler's types fails", async () => {
  const dir = await tree({
    ...CLEAN,
    "transports/twilio.ts":
      'import type { h } from "../handlers/reply.ts";\nexport const t = 1;\n',
  });
  try {
    const messages = (await checkLayers(dir)).map((p) => p.message);
    assert.ok(
      messages.some((m) => m.includes("transports may not import handlers")),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("check_layers: an import cycle between files fails", async () => {
  const dir = await tree({
    ...CLEAN,
    "bus/a.ts": 'import { b } from "./b.ts";\nexport const a = b;\n',
    "bus/b.ts": 'import { a } from "./a.ts";\nexport const b = () => a;\n',
  });
  try {
    const messages = (await checkLayers(dir)).map((p) => p.message);
    assert.ok(
      messages.some((m) => m.startsWith("import cycle: bus/a.ts → bus/b.ts")),
      messages.join("\n"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("check_layers: imports in comments do not count", async () => {
  const dir = await tree({
    ...CLEAN,
    "audio/frame.ts": [
      "/**",
      " * @example",
      " * ```ts",
      ' * import { s } from "../server/stream.ts";',
      " * ```",
      " */",
      '// import { s } from "../server/stream.ts";',
      "export const rate = 8000;",
      "",
    ].join("\n"),
  });
  try {
    assert.deepEqual(await checkLayers(dir), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("check_layers: a cycle in the allowed table itself fails", async () => {
  const dir = await tree(CLEAN);
  try {
    const problems = await checkLayers(dir, {
      audio: ["bus"],
      bus: ["audio"],
      handlers: ["bus"],
      transports: ["bus"],
      server: ["handlers", "transports"],
    });
    assert.ok(
      problems.some((p) =>
        p.message.startsWith("the allowed table has a cycle")
      ),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("findCycle: finds a cycle and nothing in a DAG", () => {
  assert.deepEqual(
    findCycle(new Map([["a", new Set(["b"])], ["b", new Set(["a"])]])),
    ["a", "b", "a"],
  );
  assert.equal(
    findCycle(new Map([["a", new Set(["b"])], ["b", new Set<string>()]])),
    undefined,
  );
});

Deno.test("check_layers: the CLI exits 1 and names the import", async () => {
  const dir = await tree({
    ...Object.fromEntries(
      Object.entries(CLEAN).map(([k, v]) => [`src/${k}`, v]),
    ),
    "src/transports/twilio.ts":
      'import { h } from "../handlers/reply.ts";\nexport const t = h;\n',
  });
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-read",
        join(REPO, "_tools", "check_layers.ts"),
        dir,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 1);
    assert.match(
      new TextDecoder().decode(out.stderr),
      /transports\/twilio\.ts imports handlers\/reply\.ts: transports may not import handlers/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
