import assert from "node:assert/strict";
import { closeSileroModels, getSileroModel } from "../../src/vad/mod.ts";
import { loaders } from "../../src/vad/silero.ts";
import { ortLoaders } from "../../src/_internal/ort.ts";
import { readWavMono16, windows } from "./_helpers.ts";

// The model files ship inside Parley, next to src/vad/silero.ts.
const SHIPPED = new URL("../../src/vad/models/", import.meta.url);
const jfk = readWavMono16(new URL("../fixtures/jfk.wav", import.meta.url));

async function probabilities(
  model: Awaited<ReturnType<typeof getSileroModel>>,
): Promise<number[]> {
  const s = model.createStream(16000);
  try {
    const out: number[] = [];
    for (const w of windows(jfk.samples.subarray(0, 16000 * 2), s.windowSize)) {
      out.push(await s.process(w));
    }
    return out;
  } finally {
    s.close();
  }
}

Deno.test("silero: the shipped v5/v6 files load from a file: URL and from an http URL with the same results", async () => {
  const requests: string[] = [];
  // A loopback file server over the checkout's model folder, as when Parley
  // is imported by URL.
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (req) => {
      const name = new URL(req.url).pathname.slice(1);
      requests.push(name);
      try {
        return new Response(await Deno.readFile(new URL(name, SHIPPED)));
      } catch {
        return new Response("not found", { status: 404 });
      }
    },
  );
  try {
    for (const version of ["v5", "v6"] as const) {
      const local = await getSileroModel({ version });
      assert.equal(
        local.modelPath,
        decodeURIComponent(
          new URL(`silero_vad_${version}.onnx`, SHIPPED).pathname,
        ),
      );
      const url =
        `http://127.0.0.1:${server.addr.port}/silero_vad_${version}.onnx`;
      const remote = await getSileroModel({ modelPath: url, version });
      assert.equal(remote.modelPath, url);
      assert.notEqual(remote, local);
      const a = await probabilities(local);
      const b = await probabilities(remote);
      assert.ok(a.some((p) => p > 0.5), "jfk has speech");
      assert.deepEqual(b, a);
    }
    assert.deepEqual(requests, ["silero_vad_v5.onnx", "silero_vad_v6.onnx"]);
  } finally {
    await closeSileroModels();
    await server.shutdown();
  }
});

Deno.test("silero: an unreadable model gives an error naming the file, the permission and the fix", async () => {
  const original = { ...loaders };
  try {
    loaders.readModel = (url) =>
      Promise.reject(
        new Error(
          `Cannot read the Silero VAD model from ${url.href}: Requires read ` +
            `access; run with --allow-read=${decodeURIComponent(url.pathname)}`,
          { cause: new Deno.errors.NotCapable("Requires read access") },
        ),
      );
    const err = await getSileroModel({ version: "v6" }).then(
      () => undefined,
      (e) => e as Error,
    );
    assert.ok(err instanceof Error);
    assert.match(err.message, /Silero model not found/);
    assert.match(err.message, /silero_vad_v6\.onnx/);
    assert.match(err.message, /--allow-read=/);
    assert.match(err.message, /pass modelPath/);
  } finally {
    Object.assign(loaders, original);
    await closeSileroModels();
  }
  // A missing file, read for real: the error names the path.
  const missing = await getSileroModel({ modelPath: "/nonexistent/vad.onnx" })
    .then(() => undefined, (e) => e as Error);
  assert.ok(missing instanceof Error);
  assert.match(missing.message, /\/nonexistent\/vad\.onnx/);
  assert.match(missing.message, /No such file|not found|NotFound/i);
});

Deno.test("silero: without --allow-ffi the TypeScript backend is used, no ONNX Runtime is imported, and one line says so", async () => {
  await closeSileroModels();
  const original = { ...ortLoaders };
  const lines: string[] = [];
  let nativeImports = 0;
  let wasmImports = 0;
  ortLoaders.ffiAllowed = () => false;
  ortLoaders.node = () => {
    nativeImports++;
    return original.node();
  };
  ortLoaders.wasm = () => {
    wasmImports++;
    return original.wasm();
  };
  ortLoaders.log = (m) => lines.push(m);
  try {
    const model = await getSileroModel();
    assert.equal(model.backend, "js");
    assert.equal(nativeImports, 0);
    assert.equal(wasmImports, 0);
    const again = await getSileroModel({ version: "v6" });
    assert.equal(again.backend, "js");
    assert.equal(lines.length, 1, lines.join("\n"));
    assert.match(lines[0], /no --allow-ffi.*TypeScript backend/);
    const p = await probabilities(model);
    assert.ok(p.some((x) => x > 0.5));
  } finally {
    Object.assign(ortLoaders, original);
    await closeSileroModels();
  }
});
