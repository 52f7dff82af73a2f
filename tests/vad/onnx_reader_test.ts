import assert from "node:assert/strict";
import { createRequire } from "node:module";
import {
  collectConstants,
  decodeOnnxModel,
  OnnxDecodeError,
} from "../../src/vad/onnx_reader.ts";
import { encodeOnnxModel } from "../support/onnx_writer.ts";

Deno.test("onnx reader: decodes what the test writer encodes", () => {
  const bytes = encodeOnnxModel({
    name: "g",
    opset: 17,
    inputs: [{ name: "x", type: "float32", shape: ["batch", 3] }],
    outputs: [{ name: "y", type: "int64", shape: [] }],
    initializers: [
      {
        name: "w",
        type: "float32",
        dims: [2, 3],
        values: [1, -2, 3.5, 0, 1e-3, -7],
      },
      {
        name: "k",
        type: "int64",
        dims: [3],
        values: [-1, 9007199254740991, 0],
      },
    ],
    nodes: [{
      op: "Conv",
      inputs: ["x", "w"],
      outputs: ["y"],
      attributes: {
        strides: { ints: [2] },
        pads: { ints: [1, -1] },
        group: { int: 1 },
        alpha: { float: 0.25 },
        scales: { floats: [0.5, 2] },
        mode: { string: "reflect" },
      },
    }],
  });
  const m = decodeOnnxModel(bytes);
  assert.equal(m.irVersion, 8);
  assert.equal(m.producerName, "parley-tests");
  assert.deepStrictEqual(m.opsetImports, [{ domain: "", version: 17 }]);
  const g = m.graph;
  assert.equal(g.name, "g");
  assert.deepStrictEqual(g.inputs, [{
    name: "x",
    elemType: 1,
    shape: ["batch", 3],
  }]);
  assert.deepStrictEqual(g.outputs, [{ name: "y", elemType: 7, shape: [] }]);
  const w = g.initializers.get("w")!;
  assert.deepStrictEqual(w.dims, [2, 3]);
  assert.deepStrictEqual(
    w.data,
    Float32Array.from([1, -2, 3.5, 0, 1e-3, -7]),
  );
  assert.deepStrictEqual(
    g.initializers.get("k")!.data,
    BigInt64Array.from([-1n, 9007199254740991n, 0n]),
  );
  const n = g.nodes[0];
  assert.equal(n.opType, "Conv");
  assert.deepStrictEqual(n.inputs, ["x", "w"]);
  assert.deepStrictEqual(n.attributes.get("strides")!.ints, [2]);
  assert.deepStrictEqual(n.attributes.get("pads")!.ints, [1, -1]);
  assert.equal(n.attributes.get("group")!.i, 1);
  assert.equal(n.attributes.get("alpha")!.f, 0.25);
  assert.deepStrictEqual(n.attributes.get("scales")!.floats, [0.5, 2]);
  assert.equal(n.attributes.get("mode")!.s, "reflect");
  assert.deepStrictEqual([...collectConstants(g).keys()], ["w", "k"]);
});

Deno.test("onnx reader: reads the Silero v5 graph (If subgraphs, Constant tensors)", () => {
  const path = createRequire(import.meta.url).resolve(
    "@ricky0123/vad-web/dist/silero_vad_v5.onnx",
  );
  const m = decodeOnnxModel(Deno.readFileSync(path));
  assert.deepStrictEqual(m.graph.inputs.map((i) => i.name), [
    "input",
    "state",
    "sr",
  ]);
  const top = m.graph.nodes.find((n) => n.opType === "If")!;
  const then = top.attributes.get("then_branch")!.g!;
  const c = collectConstants(then);
  const basis = c.get("If_0_then_branch__Inline_0__stft.forward_basis_buffer")!;
  assert.deepStrictEqual(basis.dims, [258, 1, 256]);
  assert.equal((basis.data as Float32Array).length, 258 * 256);
  const long = c.get("If_0_then_branch__Inline_0__/stft/Constant_4_output_0")!;
  assert.deepStrictEqual(long.data, BigInt64Array.from([9223372036854775807n]));
});

Deno.test("onnx reader: truncated or foreign bytes fail with OnnxDecodeError", () => {
  for (const bytes of [[0x0a, 0x05, 0x01], [0x3a, 0x02, 0x0a], [0x0f], []]) {
    assert.throws(
      () => decodeOnnxModel(Uint8Array.from(bytes)),
      (e) => e instanceof OnnxDecodeError,
    );
  }
});
