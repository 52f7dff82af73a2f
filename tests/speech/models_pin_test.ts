// The Kokoro pinning workflow: a manifest entry with null checksums is
// downloaded once, and `deno task models --pin ID` prints the size and
// sha256 of each file (hashed from disk, cross-checked with the .sha256 the
// loader recorded) ready to paste into the manifest — which then verifies.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { main, pinnedFiles } from "../../src/speech/models_cli.ts";
import {
  ChecksumError,
  ensureModel,
  type ModelManifest,
} from "../../src/speech/model_cache.ts";
import { withFileServer } from "../support/file_server.ts";

const BYTES = Uint8Array.from({ length: 50_000 }, (_, i) => (i * 31) & 255);
const SHA = createHash("sha256").update(BYTES).digest("hex");

function manifest(sha256: string | null, size: number | null): ModelManifest {
  return {
    version: 1,
    models: {
      voice: {
        description: "a stand-in for kokoro",
        source: "huggingface",
        repo: "test/voice",
        revision: "main",
        license: "Apache-2.0",
        files: [{
          name: "onnx/model.onnx",
          url: "https://huggingface.co/test/voice/resolve/main/model.onnx",
          size,
          sha256,
        }],
      },
    },
  };
}

Deno.test("models --pin: prints the size and sha256 to pin, and the pinned entry verifies", async () => {
  await withFileServer({
    files: { "/test/voice/resolve/main/model.onnx": BYTES },
  }, async (server, cacheDir) => {
    const log: string[] = [];
    const original = console.log;
    const err = console.error;
    console.log = (...a: unknown[]) => log.push(a.join(" "));
    console.error = () => {};
    let code: number;
    try {
      code = await main(["--pin", "voice"], {
        cacheDir,
        manifest: manifest(null, null),
        baseUrl: server.url,
      });
    } finally {
      console.log = original;
      console.error = err;
    }
    assert.equal(code, 0);
    const text = log.join("\n");
    const json = text.slice(text.indexOf("["));
    assert.deepEqual(JSON.parse(json), [
      { name: "onnx/model.onnx", size: BYTES.length, sha256: SHA },
    ]);
    // Pasted into the manifest, the pin holds for this file…
    const pinned = manifest(SHA, BYTES.length);
    const again = await ensureModel("voice", {
      cacheDir,
      manifest: pinned,
      baseUrl: server.url,
      progress: false,
    });
    assert.deepEqual(await pinnedFiles(again), JSON.parse(json));
    // …and a file that changed since its first download is caught.
    const path = again.files["onnx/model.onnx"];
    await Deno.writeFile(path, BYTES.map((b) => b ^ 1));
    await assert.rejects(pinnedFiles(again), /no longer matches the sha256/);
  });
});

Deno.test("models: a wrong pinned sha256 fails the download with ChecksumError", async () => {
  await withFileServer({
    files: { "/test/voice/resolve/main/model.onnx": BYTES },
  }, async (server, cacheDir) => {
    await assert.rejects(
      ensureModel("voice", {
        cacheDir,
        manifest: manifest("0".repeat(64), BYTES.length),
        baseUrl: server.url,
        progress: false,
        retries: 0,
      }),
      ChecksumError,
    );
  });
});
