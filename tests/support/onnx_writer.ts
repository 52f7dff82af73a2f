/**
 * A tiny ONNX `ModelProto` writer for tests: builds small stand-in models
 * (a few standard operators, float32/int64 tensors) so that code which loads
 * and runs ONNX files can be tested without the real weights.
 *
 * It hand-encodes protocol buffers (varints and length-delimited fields).
 * Field numbers are those of `onnx/onnx.proto` (github.com/onnx/onnx):
 * ModelProto ir_version=1, producer_name=2, graph=7, opset_import=8;
 * OperatorSetIdProto domain=1, version=2; GraphProto node=1, name=2,
 * initializer=5, input=11, output=12; NodeProto input=1, output=2, name=3,
 * op_type=4, attribute=5; AttributeProto name=1, f=2, i=3, s=4, floats=7,
 * ints=8, type=20; TensorProto dims=1, data_type=2, name=8, raw_data=9;
 * ValueInfoProto name=1, type=2; TypeProto tensor_type=1;
 * TypeProto.Tensor elem_type=1, shape=2; TensorShapeProto dim=1;
 * Dimension dim_value=1, dim_param=2. Data types: FLOAT=1, INT64=7.
 *
 * @module
 */

/** Element types the writer supports. */
export type OnnxElemType = "float32" | "int64";

/** A dimension: a fixed size, or a symbolic name such as `"sequence_length"`. */
export type OnnxDim = number | string;

/** A graph input or output. */
export interface OnnxValueInfo {
  /** Tensor name. */
  name: string;
  /** Element type. */
  type: OnnxElemType;
  /** Shape; strings are symbolic (dynamic) dimensions. */
  shape: OnnxDim[];
}

/** A constant tensor (graph initializer). */
export interface OnnxInitializer {
  /** Tensor name. */
  name: string;
  /** Element type. */
  type: OnnxElemType;
  /** Fixed shape. */
  dims: number[];
  /** Values, row-major. */
  values: number[];
}

/** A node attribute value. */
export type OnnxAttribute =
  | { int: number }
  | { float: number }
  | { ints: number[] }
  | { floats: number[] }
  | { string: string };

/** One operator of the graph. */
export interface OnnxNode {
  /** Operator type in the default domain, e.g. `"MatMul"`. */
  op: string;
  /** Input tensor names. */
  inputs: string[];
  /** Output tensor names. */
  outputs: string[];
  /** Attributes by name. */
  attributes?: Record<string, OnnxAttribute>;
}

/** A whole model: one graph plus the default-domain opset it uses. */
export interface OnnxModel {
  /** Graph name. */
  name: string;
  /** Default-domain opset version, e.g. 17. */
  opset: number;
  /** Graph inputs. */
  inputs: OnnxValueInfo[];
  /** Graph outputs. */
  outputs: OnnxValueInfo[];
  /** Constants. */
  initializers: OnnxInitializer[];
  /** Operators, in topological order. */
  nodes: OnnxNode[];
}

const DATA_TYPE: Record<OnnxElemType, number> = { float32: 1, int64: 7 };
const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_STRING = 3;
const ATTR_FLOATS = 6;
const ATTR_INTS = 7;
const IR_VERSION = 8;

/** Appends protobuf fields to a growing byte list. */
class ProtoWriter {
  #bytes: number[] = [];

  varint(value: bigint): this {
    // int64 fields are two's complement; negatives take 10 bytes.
    let v = BigInt.asUintN(64, value);
    while (v >= 0x80n) {
      this.#bytes.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.#bytes.push(Number(v));
    return this;
  }

  #tag(field: number, wire: number): void {
    this.varint(BigInt((field << 3) | wire));
  }

  int(field: number, value: number | bigint): this {
    this.#tag(field, 0);
    this.varint(BigInt(value));
    return this;
  }

  float(field: number, value: number): this {
    this.#tag(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.#bytes.push(...b);
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.#tag(field, 2);
    this.varint(BigInt(value.length));
    for (const b of value) this.#bytes.push(b);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.#bytes);
  }
}

function packedInt64(values: number[]): Uint8Array {
  // A packed repeated int64 is its varints back to back, without tags.
  const w = new ProtoWriter();
  for (const v of values) w.varint(BigInt(v));
  return w.finish();
}

function packedFloat32(values: number[]): Uint8Array {
  const b = new Uint8Array(values.length * 4);
  const dv = new DataView(b.buffer);
  values.forEach((v, i) => dv.setFloat32(i * 4, v, true));
  return b;
}

function rawData(type: OnnxElemType, values: number[]): Uint8Array {
  if (type === "float32") return packedFloat32(values);
  const b = new Uint8Array(values.length * 8);
  const dv = new DataView(b.buffer);
  values.forEach((v, i) => dv.setBigInt64(i * 8, BigInt(v), true));
  return b;
}

function tensorProto(t: OnnxInitializer): Uint8Array {
  const size = t.dims.reduce((a, b) => a * b, 1);
  if (size !== t.values.length) {
    throw new RangeError(
      `Initializer ${t.name} has ${t.values.length} values but dims ` +
        `[${t.dims.join(", ")}] need ${size}; fix the values or the dims`,
    );
  }
  const w = new ProtoWriter();
  for (const d of t.dims) w.int(1, d);
  w.int(2, DATA_TYPE[t.type]);
  w.string(8, t.name);
  w.bytes(9, rawData(t.type, t.values));
  return w.finish();
}

function valueInfo(v: OnnxValueInfo): Uint8Array {
  const shape = new ProtoWriter();
  for (const d of v.shape) {
    const dim = new ProtoWriter();
    if (typeof d === "number") dim.int(1, d);
    else dim.string(2, d);
    shape.bytes(1, dim.finish());
  }
  const tensor = new ProtoWriter()
    .int(1, DATA_TYPE[v.type])
    .bytes(2, shape.finish());
  const type = new ProtoWriter().bytes(1, tensor.finish());
  return new ProtoWriter().string(1, v.name).bytes(2, type.finish()).finish();
}

function attribute(name: string, a: OnnxAttribute): Uint8Array {
  const w = new ProtoWriter().string(1, name);
  if ("int" in a) w.int(3, a.int).int(20, ATTR_INT);
  else if ("float" in a) w.float(2, a.float).int(20, ATTR_FLOAT);
  else if ("ints" in a) w.bytes(8, packedInt64(a.ints)).int(20, ATTR_INTS);
  else if ("floats" in a) {
    w.bytes(7, packedFloat32(a.floats)).int(20, ATTR_FLOATS);
  } else w.string(4, a.string).int(20, ATTR_STRING);
  return w.finish();
}

function nodeProto(n: OnnxNode, index: number): Uint8Array {
  const w = new ProtoWriter();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, `${n.op}_${index}`);
  w.string(4, n.op);
  for (const [k, v] of Object.entries(n.attributes ?? {})) {
    w.bytes(5, attribute(k, v));
  }
  return w.finish();
}

/**
 * Serializes `model` to the bytes of an `.onnx` file.
 *
 * @example
 * ```ts ignore
 * const bytes = encodeOnnxModel({
 *   name: "double", opset: 17,
 *   inputs: [{ name: "x", type: "float32", shape: ["n"] }],
 *   outputs: [{ name: "y", type: "float32", shape: ["n"] }],
 *   initializers: [{ name: "two", type: "float32", dims: [], values: [2] }],
 *   nodes: [{ op: "Mul", inputs: ["x", "two"], outputs: ["y"] }],
 * });
 * await Deno.writeFile("double.onnx", bytes);
 * ```
 *
 * @param model The graph and its opset.
 * @returns The protobuf-encoded `ModelProto`.
 */
export function encodeOnnxModel(model: OnnxModel): Uint8Array {
  const graph = new ProtoWriter();
  model.nodes.forEach((n, i) => graph.bytes(1, nodeProto(n, i)));
  graph.string(2, model.name);
  for (const t of model.initializers) graph.bytes(5, tensorProto(t));
  for (const v of model.inputs) graph.bytes(11, valueInfo(v));
  for (const v of model.outputs) graph.bytes(12, valueInfo(v));
  const opset = new ProtoWriter().string(1, "").int(2, model.opset);
  return new ProtoWriter()
    .int(1, IR_VERSION)
    .string(2, "parley-tests")
    .bytes(7, graph.finish())
    .bytes(8, opset.finish())
    .finish();
}
