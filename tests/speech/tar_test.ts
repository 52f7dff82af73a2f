import assert from "node:assert/strict";
import { type TarHeader, walkTar } from "../../src/speech/_tar.ts";
import { gzip, makeTar, pattern } from "./_tar_writer.ts";

interface Got {
  headers: TarHeader[];
  files: Map<string, Uint8Array>;
}

/** Reads every member into memory (test only). */
async function readAll(
  source: AsyncIterable<Uint8Array>,
  want: (h: TarHeader) => boolean = () => true,
): Promise<Got> {
  const got: Got = { headers: [], files: new Map() };
  await walkTar(source, {
    visit(h) {
      got.headers.push(h);
      if (!want(h)) return undefined;
      const chunks: Uint8Array[] = [];
      return {
        write: (c) => void chunks.push(c.slice()),
        close() {
          const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
          let off = 0;
          for (const c of chunks) {
            out.set(c, off);
            off += c.length;
          }
          got.files.set(h.name, out);
        },
      };
    },
  });
  return got;
}

/** Splits bytes into chunks of the given sizes (cycled). */
async function* chunked(
  data: Uint8Array,
  sizes: number[],
): AsyncGenerator<Uint8Array> {
  let off = 0;
  let i = 0;
  while (off < data.length) {
    const n = sizes[i++ % sizes.length];
    yield data.subarray(off, off + n);
    off += n;
  }
}

const LONG = `package/${"deep/".repeat(30)}model.onnx`; // > 100 bytes

const MEMBERS = [
  { name: "package/package.json", data: pattern(123, 1) },
  { name: "package/dir", type: "5" },
  { name: "package/a.onnx", data: pattern(5000, 2) }, // not a multiple of 512
  { name: LONG, data: pattern(1030, 3), longName: "gnu" as const },
  { name: `${LONG}.pax`, data: pattern(700, 4), longName: "pax" as const },
  {
    name: `${LONG}.prefix`,
    data: pattern(512, 5),
    longName: "prefix" as const,
  },
  { name: "package/empty.txt", data: new Uint8Array(0) },
  { name: "package/after.bin", data: pattern(77, 6) },
];

Deno.test("walkTar reads names, sizes and data, including long names", async () => {
  const tar = makeTar(MEMBERS);
  const got = await readAll(chunked(tar, [tar.length]));
  assert.deepEqual(
    got.headers.map((h) => h.name),
    MEMBERS.map((m) => m.name),
  );
  assert.equal(got.headers[1].type, "5");
  assert.equal(got.headers[1].size, 0);
  for (const m of MEMBERS) {
    if (m.type === "5") continue;
    assert.deepEqual(got.files.get(m.name), m.data, m.name);
  }
});

Deno.test("walkTar handles members split across odd chunk boundaries", async () => {
  const tar = makeTar(MEMBERS);
  for (const sizes of [[1], [7, 500, 3], [511], [513, 1]]) {
    const got = await readAll(chunked(tar, sizes));
    for (const m of MEMBERS) {
      if (m.type === "5") continue;
      assert.deepEqual(got.files.get(m.name), m.data, `${m.name} ${sizes}`);
    }
  }
});

Deno.test("walkTar reads a gzip stream and skips members it is not asked for", async () => {
  const tgz = await gzip(makeTar(MEMBERS));
  const source = new Blob([tgz]).stream().pipeThrough(
    new DecompressionStream("gzip"),
  );
  const got = await readAll(source, (h) => h.name === "package/after.bin");
  assert.equal(got.headers.length, MEMBERS.length);
  assert.deepEqual([...got.files.keys()], ["package/after.bin"]);
  assert.deepEqual(got.files.get("package/after.bin"), MEMBERS[7].data);
});

Deno.test("walkTar stops early when done() says so", async () => {
  const tar = makeTar(MEMBERS);
  let seen = 0;
  await walkTar(chunked(tar, [100]), {
    visit: () => void seen++,
    done: () => seen === 3,
  });
  assert.equal(seen, 3);
});

Deno.test("walkTar rejects a truncated archive and a non-tar stream", async () => {
  const tar = makeTar(MEMBERS);
  await assert.rejects(
    readAll(chunked(tar.subarray(0, 2000), [300])),
    /Truncated tar archive/,
  );
  await assert.rejects(
    readAll(chunked(pattern(2048, 9), [2048])),
    /Not a tar archive/,
  );
});

const hasTar = await (async () => {
  try {
    const out = await new Deno.Command("tar", { args: ["--version"] }).output();
    return out.success;
  } catch {
    return false;
  }
})();
if (!hasTar) console.log("skipping system tar test: no `tar` on PATH");

Deno.test({
  name: "walkTar reads archives made by the system tar (gnu and pax formats)",
  ignore: !hasTar,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const deep = `package/${"longfoldername/".repeat(10)}`;
      await Deno.mkdir(`${dir}/${deep}`, { recursive: true });
      const a = pattern(3333, 11);
      const b = pattern(100_000, 12);
      await Deno.writeFile(`${dir}/package/a.bin`, a);
      await Deno.writeFile(`${dir}/${deep}b.bin`, b);
      for (const format of ["gnu", "pax"]) {
        const out = await new Deno.Command("tar", {
          args: [`--format=${format}`, "-czf", "-", "-C", dir, "package"],
          stdout: "piped",
        }).output();
        assert.ok(out.success);
        const source = new Blob([out.stdout]).stream().pipeThrough(
          new DecompressionStream("gzip"),
        );
        const got = await readAll(source, (h) => h.type === "0");
        assert.deepEqual(got.files.get("package/a.bin"), a, format);
        assert.deepEqual(got.files.get(`${deep}b.bin`), b, format);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
