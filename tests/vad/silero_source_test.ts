import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { closeSileroModels, getSileroModel } from "../../src/vad/mod.ts";
import { loaders } from "../../src/vad/silero.ts";
import {
  MODEL_MANIFEST,
  type ModelManifest,
  ModelNotAvailableError,
} from "../../src/speech/model_cache.ts";
import { gzip, makeTar } from "../speech/_tar_writer.ts";
import { readWavMono16, windows } from "./_helpers.ts";

// A local stand-in for the @ricky0123/vad-web tarball, made from the
// installed package's real model files (no network in tests).
const require = createRequire(import.meta.url);
const installed = {
  v5: require.resolve("@ricky0123/vad-web/dist/silero_vad_v5.onnx"),
  v6: require.resolve("@ricky0123/vad-web/dist/silero_vad_v6.onnx"),
};
const TGZ = await gzip(makeTar([
  { name: "package/package.json", data: new TextEncoder().encode("{}") },
  {
    name: "package/dist/silero_vad_v5.onnx",
    data: Deno.readFileSync(installed.v5),
  },
  {
    name: "package/dist/silero_vad_v6.onnx",
    data: Deno.readFileSync(installed.v6),
  },
]));
const TGZ_PATH = "/@ricky0123/vad-web/-/vad-web-0.0.31.tgz";

function fakeManifest(): ModelManifest {
  const silero = MODEL_MANIFEST.models.silero;
  return {
    version: 1,
    models: {
      silero: {
        ...silero,
        // A package name that cannot resolve, as when imported from JSR.
        package: "parley-not-installed-vad-web",
        archive: {
          url: `https://registry.npmjs.org${TGZ_PATH}`,
          size: TGZ.length,
          sha256: null,
        },
      },
    },
  };
}

const jfk = readWavMono16(new URL("../fixtures/jfk.wav", import.meta.url));

Deno.test("silero: without the npm package, the model comes from its tarball via the model cache", async () => {
  const requests: string[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) => {
      const path = new URL(req.url).pathname;
      requests.push(path);
      return path === TGZ_PATH
        ? new Response(TGZ)
        : new Response("not found", { status: 404 });
    },
  );
  const cacheDir = await Deno.makeTempDir();
  const original = { ...loaders };
  try {
    const reference = await getSileroModel({ version: "v5" });
    assert.equal(reference.modelPath, installed.v5);

    loaders.packageFile = (spec) => {
      throw new Error(`not installed: ${spec}`);
    };
    loaders.modelCache = {
      cacheDir,
      manifest: fakeManifest(),
      npmRegistry: `http://127.0.0.1:${server.addr.port}`,
      progress: false,
    };
    const model = await getSileroModel({ version: "v5" });
    assert.equal(model.modelPath, `${cacheDir}/silero/dist/silero_vad_v5.onnx`);
    assert.notEqual(model, reference);
    assert.deepEqual(requests, [TGZ_PATH]);

    // Same weights, same results as the installed package's file.
    const a = reference.createStream(16000);
    const b = model.createStream(16000);
    try {
      const audio = jfk.samples.subarray(0, 16000 * 2);
      const pa: number[] = [], pb: number[] = [];
      for (const w of windows(audio, a.windowSize)) {
        pa.push(await a.process(w));
        pb.push(await b.process(w));
      }
      assert.ok(pa.some((p) => p > 0.5), "jfk has speech");
      assert.deepEqual(pb, pa);
    } finally {
      a.close();
      b.close();
    }

    // v6 was extracted by the same download: no further request.
    const v6 = await getSileroModel({ version: "v6" });
    assert.equal(v6.modelPath, `${cacheDir}/silero/dist/silero_vad_v6.onnx`);
    assert.equal(requests.length, 1);
  } finally {
    Object.assign(loaders, original);
    await closeSileroModels();
    await server.shutdown();
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("silero: without the npm package and offline, the error says how to get the model", async () => {
  const cacheDir = await Deno.makeTempDir();
  const original = { ...loaders };
  try {
    loaders.packageFile = (spec) => {
      throw new Error(`not installed: ${spec}`);
    };
    loaders.modelCache = { cacheDir, manifest: fakeManifest(), offline: true };
    const err = await getSileroModel({ version: "v6" }).then(
      () => undefined,
      (e) => e,
    );
    assert.ok(err instanceof ModelNotAvailableError, String(err));
    assert.ok(
      err.message.includes(
        '"parley-not-installed-vad-web": "npm:parley-not-installed-vad-web@0.0.31" to the imports of your deno.json',
      ),
      err.message,
    );
    assert.ok(err.message.includes("`deno task models silero`"), err.message);
    // modelPath still bypasses every lookup.
    const custom = await getSileroModel({ modelPath: installed.v6 });
    assert.equal(custom.modelPath, installed.v6);
  } finally {
    Object.assign(loaders, original);
    await closeSileroModels();
    await Deno.remove(cacheDir, { recursive: true });
  }
});
