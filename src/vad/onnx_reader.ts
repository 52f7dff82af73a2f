/**
 * A minimal ONNX `ModelProto` decoder: enough of `onnx/onnx.proto` to read a
 * model's graph (nodes, attributes including `If` subgraphs, initializers,
 * inputs and outputs) and its weights, without any dependency. Parley uses it
 * to take the Silero VAD weights out of the official `.onnx` files for its
 * pure TypeScript backend ({@linkcode getSileroModel} with `backend: "js"`).
 *
 * Protocol buffers, as read here: a message is a sequence of fields, each a
 * varint key `(field_number << 3) | wire_type` followed by its value: wire
 * type 0 a varint, 1 eight bytes, 2 a varint length and that many bytes
 * (strings, sub-messages, packed repeated scalars), 5 four bytes. Unknown
 * fields are skipped. Field numbers (from `onnx.proto`):
 *
 * - `ModelProto`: ir_version 1, producer_name 2, producer_version 3,
 *   domain 4, model_version 5, doc_string 6, graph 7, opset_import 8.
 * - `OperatorSetIdProto`: domain 1, version 2.
 * - `GraphProto`: node 1, name 2, initializer 5, doc_string 10, input 11,
 *   output 12, value_info 13.
 * - `NodeProto`: input 1, output 2, name 3, op_type 4, attribute 5,
 *   doc_string 6, domain 7.
 * - `AttributeProto`: name 1, f 2, i 3, s 4, t 5, g 6, floats 7, ints 8,
 *   strings 9, tensors 10, graphs 11, type 20.
 * - `TensorProto`: dims 1, data_type 2, float_data 4, int32_data 5,
 *   int64_data 7, name 8, raw_data 9, double_data 10, data_location 14
 *   (1 = external data, not supported here).
 * - `ValueInfoProto`: name 1, type 2; `TypeProto`: tensor_type 1;
 *   `TypeProto.Tensor`: elem_type 1, shape 2; `TensorShapeProto`: dim 1;
 *   `Dimension`: dim_value 1, dim_param 2.
 *
 * Tensor data types decoded to typed arrays: FLOAT 1 (`Float32Array`),
 * UINT8 2, INT8 3, INT32 6, INT64 7 (`BigInt64Array`), BOOL 9 (`Uint8Array`),
 * DOUBLE 11. Other types keep their raw bytes only.
 *
 * @module
 */

/** ONNX `TensorProto.DataType` numbers this reader decodes. */
export const ONNX_DATA_TYPE = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  INT32: 6,
  INT64: 7,
  BOOL: 9,
  DOUBLE: 11,
} as const;

/** Decoded values of a tensor, by data type. */
export type OnnxTensorData =
  | Float32Array
  | Float64Array
  | Int32Array
  | Int8Array
  | Uint8Array
  | BigInt64Array;

/**
 * A constant tensor (initializer or `Constant` value).
 *
 * @example
 * ```ts
 * import { decodeOnnxModel, type OnnxTensor } from "./onnx_reader.ts";
 * function describe(t: OnnxTensor): string {
 *   return `${t.name} [${t.dims.join(", ")}] type ${t.dataType}`;
 * }
 * console.log(typeof describe, typeof decodeOnnxModel);
 * ```
 */
export interface OnnxTensor {
  /** Tensor name (may be empty for `Constant` values). */
  name: string;
  /** `TensorProto.DataType` number (1 = float32, 7 = int64, …). */
  dataType: number;
  /** Shape; `[]` is a scalar. */
  dims: number[];
  /**
   * Values row-major, or `undefined` for data types this reader does not
   * decode. Float data is copied into an aligned array.
   */
  data: OnnxTensorData | undefined;
}

/**
 * A node attribute. Exactly the fields that match its `type` are set.
 *
 * @example
 * ```ts
 * import type { OnnxAttribute } from "./onnx_reader.ts";
 * const pads: OnnxAttribute = { name: "pads", type: 7, ints: [1, 1] };
 * console.log(pads.ints);
 * ```
 */
export interface OnnxAttribute {
  /** Attribute name, e.g. `"kernel_shape"`. */
  name: string;
  /**
   * `AttributeProto.AttributeType`: 1 FLOAT, 2 INT, 3 STRING, 4 TENSOR,
   * 5 GRAPH, 6 FLOATS, 7 INTS, 8 STRINGS, 9 TENSORS, 10 GRAPHS (0 when the
   * writer left it out; then whichever value field is present decides).
   */
  type: number;
  /** FLOAT. */
  f?: number;
  /** INT. */
  i?: number;
  /** STRING (decoded as UTF-8). */
  s?: string;
  /** TENSOR. */
  t?: OnnxTensor;
  /** GRAPH (e.g. `then_branch` / `else_branch` of `If`). */
  g?: OnnxGraph;
  /** FLOATS. */
  floats?: number[];
  /** INTS. */
  ints?: number[];
  /** STRINGS. */
  strings?: string[];
  /** TENSORS. */
  tensors?: OnnxTensor[];
  /** GRAPHS. */
  graphs?: OnnxGraph[];
}

/**
 * One operator application.
 *
 * @example
 * ```ts
 * import type { OnnxNode } from "./onnx_reader.ts";
 * const isConv = (n: OnnxNode) => n.opType === "Conv" && n.domain === "";
 * console.log(typeof isConv);
 * ```
 */
export interface OnnxNode {
  /** Node name (may be empty). */
  name: string;
  /** Operator, e.g. `"Conv"`. */
  opType: string;
  /** Operator domain; `""` is the default ONNX domain. */
  domain: string;
  /** Input value names (`""` = optional input left out). */
  inputs: string[];
  /** Output value names. */
  outputs: string[];
  /** Attributes by name. */
  attributes: Map<string, OnnxAttribute>;
}

/**
 * A graph input or output with its declared element type and shape.
 *
 * @example
 * ```ts
 * import type { OnnxValueInfo } from "./onnx_reader.ts";
 * const input: OnnxValueInfo = { name: "input", elemType: 1, shape: ["N", 576] };
 * console.log(input.shape);
 * ```
 */
export interface OnnxValueInfo {
  /** Value name. */
  name: string;
  /** Element data type (0 when not a tensor or not declared). */
  elemType: number;
  /** Dimensions: a number, a symbolic name, or `undefined` if unknown. */
  shape: (number | string | undefined)[] | undefined;
}

/**
 * A graph: nodes in topological order plus named constants.
 *
 * @example
 * ```ts
 * import type { OnnxGraph } from "./onnx_reader.ts";
 * const opTypes = (g: OnnxGraph) => new Set(g.nodes.map((n) => n.opType));
 * console.log(typeof opTypes);
 * ```
 */
export interface OnnxGraph {
  /** Graph name. */
  name: string;
  /** Operators, in the file's (topological) order. */
  nodes: OnnxNode[];
  /** Initializers by name. */
  initializers: Map<string, OnnxTensor>;
  /** Declared inputs (may include initializers in old files). */
  inputs: OnnxValueInfo[];
  /** Declared outputs. */
  outputs: OnnxValueInfo[];
}

/**
 * A decoded model file.
 *
 * @example
 * ```ts
 * import type { OnnxModelProto } from "./onnx_reader.ts";
 * const opset = (m: OnnxModelProto) =>
 *   m.opsetImports.find((o) => o.domain === "")?.version;
 * console.log(typeof opset);
 * ```
 */
export interface OnnxModelProto {
  /** ONNX IR version. */
  irVersion: number;
  /** Tool that wrote the file, e.g. `"pytorch"`. */
  producerName: string;
  /** Its version. */
  producerVersion: string;
  /** Operator sets used, e.g. `[{ domain: "", version: 16 }]`. */
  opsetImports: { domain: string; version: number }[];
  /** The main graph. */
  graph: OnnxGraph;
}

/**
 * Error thrown when bytes are not a well-formed ONNX protobuf.
 *
 * @example
 * ```ts
 * import { decodeOnnxModel, OnnxDecodeError } from "./onnx_reader.ts";
 * try {
 *   decodeOnnxModel(new Uint8Array([0xff]));
 * } catch (e) {
 *   console.log(e instanceof OnnxDecodeError); // true
 * }
 * ```
 */
export class OnnxDecodeError extends Error {
  /**
   * Creates the error.
   *
   * @param message What is malformed and where.
   */
  constructor(message: string) {
    super(message);
    this.name = "OnnxDecodeError";
  }
}

const utf8 = new TextDecoder("utf-8");

/** Reads protobuf fields from a byte range. */
class ProtoReader {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  #pos: number;
  readonly #end: number;
  readonly #what: string;

  constructor(bytes: Uint8Array, what: string, start = 0, end = bytes.length) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#pos = start;
    this.#end = end;
    this.#what = what;
  }

  get done(): boolean {
    return this.#pos >= this.#end;
  }

  #fail(reason: string): never {
    throw new OnnxDecodeError(
      `Malformed ONNX file: ${reason} in ${this.#what} at byte ${this.#pos}; ` +
        `the file is truncated or not an ONNX model`,
    );
  }

  /** A varint as a JS number (int64 two's complement negatives included). */
  varint(): number {
    const b = this.#bytes;
    let result = 0, scale = 1;
    for (let n = 0; n < 10; n++) {
      if (this.#pos >= this.#end) this.#fail("truncated varint");
      const byte = b[this.#pos++];
      if (n < 7) {
        result += (byte & 0x7f) * scale;
        scale *= 128;
        if (byte < 0x80) return result;
      } else {
        // Bytes 8–10 only occur for values ≥ 2^49 or negative int64: redo
        // the varint exactly with BigInt.
        this.#pos -= n + 1;
        return this.#bigVarint();
      }
    }
    this.#fail("varint longer than 10 bytes");
  }

  #bigVarint(): number {
    let v = 0n, shift = 0n;
    for (let n = 0; n < 10; n++) {
      const byte = this.#bytes[this.#pos++];
      v |= BigInt(byte & 0x7f) << shift;
      shift += 7n;
      if (byte < 0x80) return Number(BigInt.asIntN(64, v));
    }
    this.#fail("varint longer than 10 bytes");
  }

  /** Next field key; `[field, wireType]`. */
  key(): [number, number] {
    const k = this.varint();
    return [Math.floor(k / 8), k & 7];
  }

  /** A length-delimited field: `[start, end]` byte offsets. */
  span(): [number, number] {
    const len = this.varint();
    const start = this.#pos;
    if (start + len > this.#end) this.#fail("field runs past its message");
    this.#pos = start + len;
    return [start, start + len];
  }

  bytes(): Uint8Array {
    const [s, e] = this.span();
    return this.#bytes.subarray(s, e);
  }

  string(): string {
    return utf8.decode(this.bytes());
  }

  sub(what: string): ProtoReader {
    const [s, e] = this.span();
    return new ProtoReader(this.#bytes, what, s, e);
  }

  float32(): number {
    if (this.#pos + 4 > this.#end) this.#fail("truncated float");
    const v = this.#view.getFloat32(this.#pos, true);
    this.#pos += 4;
    return v;
  }

  /** Skips a field of `wire` type. */
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.#pos += 8;
    else if (wire === 2) this.span();
    else if (wire === 5) this.#pos += 4;
    else this.#fail(`unsupported wire type ${wire}`);
    if (this.#pos > this.#end) this.#fail("field runs past its message");
  }

  /** Repeated varints, packed (wire 2) or one per field (wire 0). */
  varints(wire: number, into: number[]): void {
    if (wire === 0) {
      into.push(this.varint());
      return;
    }
    const r = this.sub(this.#what);
    while (!r.done) into.push(r.varint());
  }

  /** Repeated float32, packed (wire 2) or one per field (wire 5). */
  floats(wire: number, into: number[]): void {
    if (wire === 5) {
      into.push(this.float32());
      return;
    }
    const r = this.sub(this.#what);
    while (!r.done) into.push(r.float32());
  }
}

function tensorData(
  type: number,
  raw: Uint8Array | undefined,
  floats: number[],
  ints: number[],
  int64s: number[],
  doubles: number[],
  count: number,
  name: string,
): OnnxTensorData | undefined {
  if (raw !== undefined) {
    // Copy into a fresh, aligned buffer (raw_data may sit at any offset).
    const copy = raw.slice().buffer;
    const per = type === ONNX_DATA_TYPE.FLOAT || type === ONNX_DATA_TYPE.INT32
      ? 4
      : type === ONNX_DATA_TYPE.INT64 || type === ONNX_DATA_TYPE.DOUBLE
      ? 8
      : 1;
    if (raw.length !== count * per) {
      throw new OnnxDecodeError(
        `Malformed ONNX file: tensor "${name}" has ${raw.length} bytes of raw_data ` +
          `but its dims need ${count * per}; the file is damaged`,
      );
    }
    switch (type) {
      case ONNX_DATA_TYPE.FLOAT:
        return new Float32Array(copy);
      case ONNX_DATA_TYPE.INT32:
        return new Int32Array(copy);
      case ONNX_DATA_TYPE.INT64:
        return new BigInt64Array(copy);
      case ONNX_DATA_TYPE.DOUBLE:
        return new Float64Array(copy);
      case ONNX_DATA_TYPE.INT8:
        return new Int8Array(copy);
      case ONNX_DATA_TYPE.UINT8:
      case ONNX_DATA_TYPE.BOOL:
        return new Uint8Array(copy);
      default:
        return undefined;
    }
  }
  switch (type) {
    case ONNX_DATA_TYPE.FLOAT:
      return Float32Array.from(floats);
    case ONNX_DATA_TYPE.INT64:
      return BigInt64Array.from(int64s, (v) => BigInt(v));
    case ONNX_DATA_TYPE.DOUBLE:
      return Float64Array.from(doubles);
    case ONNX_DATA_TYPE.INT32:
      return Int32Array.from(ints);
    case ONNX_DATA_TYPE.INT8:
      return Int8Array.from(ints);
    case ONNX_DATA_TYPE.UINT8:
    case ONNX_DATA_TYPE.BOOL:
      return Uint8Array.from(ints);
    default:
      return undefined;
  }
}

function readTensor(r: ProtoReader): OnnxTensor {
  const dims: number[] = [];
  const floats: number[] = [], ints: number[] = [], int64s: number[] = [];
  const doubles: number[] = [];
  let dataType = 0, name = "", external = false;
  let raw: Uint8Array | undefined;
  while (!r.done) {
    const [f, w] = r.key();
    if (f === 1) r.varints(w, dims);
    else if (f === 2 && w === 0) dataType = r.varint();
    else if (f === 4) r.floats(w, floats);
    else if (f === 5) r.varints(w, ints);
    else if (f === 7) r.varints(w, int64s);
    else if (f === 8 && w === 2) name = r.string();
    else if (f === 9 && w === 2) raw = r.bytes();
    else if (f === 10) {
      // double_data: packed fixed64.
      const b = r.bytes();
      const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
      for (let o = 0; o + 8 <= b.length; o += 8) {
        doubles.push(dv.getFloat64(o, true));
      }
    } else if (f === 14 && w === 0) external = r.varint() === 1;
    else r.skip(w);
  }
  if (external) {
    throw new OnnxDecodeError(
      `ONNX tensor "${name}" keeps its data in an external file, which this ` +
        `reader does not load; save the model with all weights inside the .onnx file`,
    );
  }
  const count = dims.reduce((a, b) => a * b, 1);
  return {
    name,
    dataType,
    dims,
    data: tensorData(dataType, raw, floats, ints, int64s, doubles, count, name),
  };
}

function readAttribute(r: ProtoReader): OnnxAttribute {
  const a: OnnxAttribute = { name: "", type: 0 };
  while (!r.done) {
    const [f, w] = r.key();
    switch (f) {
      case 1:
        a.name = r.string();
        break;
      case 2:
        a.f = r.float32();
        break;
      case 3:
        a.i = r.varint();
        break;
      case 4:
        a.s = r.string();
        break;
      case 5:
        a.t = readTensor(r.sub("TensorProto"));
        break;
      case 6:
        a.g = readGraph(r.sub("GraphProto"));
        break;
      case 7:
        r.floats(w, a.floats ??= []);
        break;
      case 8:
        r.varints(w, a.ints ??= []);
        break;
      case 9:
        (a.strings ??= []).push(r.string());
        break;
      case 10:
        (a.tensors ??= []).push(readTensor(r.sub("TensorProto")));
        break;
      case 11:
        (a.graphs ??= []).push(readGraph(r.sub("GraphProto")));
        break;
      case 20:
        a.type = r.varint();
        break;
      default:
        r.skip(w);
    }
  }
  return a;
}

function readNode(r: ProtoReader): OnnxNode {
  const n: OnnxNode = {
    name: "",
    opType: "",
    domain: "",
    inputs: [],
    outputs: [],
    attributes: new Map(),
  };
  while (!r.done) {
    const [f, w] = r.key();
    if (w !== 2) {
      r.skip(w);
      continue;
    }
    if (f === 1) n.inputs.push(r.string());
    else if (f === 2) n.outputs.push(r.string());
    else if (f === 3) n.name = r.string();
    else if (f === 4) n.opType = r.string();
    else if (f === 7) n.domain = r.string();
    else if (f === 5) {
      const a = readAttribute(r.sub("AttributeProto"));
      n.attributes.set(a.name, a);
    } else r.skip(w);
  }
  return n;
}

function readValueInfo(r: ProtoReader): OnnxValueInfo {
  const v: OnnxValueInfo = { name: "", elemType: 0, shape: undefined };
  while (!r.done) {
    const [f, w] = r.key();
    if (f === 1 && w === 2) v.name = r.string();
    else if (f === 2 && w === 2) {
      const type = r.sub("TypeProto");
      while (!type.done) {
        const [tf, tw] = type.key();
        if (tf !== 1 || tw !== 2) {
          type.skip(tw);
          continue;
        }
        const tensor = type.sub("TypeProto.Tensor");
        while (!tensor.done) {
          const [ef, ew] = tensor.key();
          if (ef === 1 && ew === 0) v.elemType = tensor.varint();
          else if (ef === 2 && ew === 2) {
            v.shape = [];
            const shape = tensor.sub("TensorShapeProto");
            while (!shape.done) {
              const [sf, sw] = shape.key();
              if (sf !== 1 || sw !== 2) {
                shape.skip(sw);
                continue;
              }
              const dim = shape.sub("TensorShapeProto.Dimension");
              let d: number | string | undefined;
              while (!dim.done) {
                const [df, dw] = dim.key();
                if (df === 1 && dw === 0) d = dim.varint();
                else if (df === 2 && dw === 2) d = dim.string();
                else dim.skip(dw);
              }
              v.shape.push(d);
            }
          } else tensor.skip(ew);
        }
      }
    } else r.skip(w);
  }
  return v;
}

function readGraph(r: ProtoReader): OnnxGraph {
  const g: OnnxGraph = {
    name: "",
    nodes: [],
    initializers: new Map(),
    inputs: [],
    outputs: [],
  };
  while (!r.done) {
    const [f, w] = r.key();
    if (w !== 2) {
      r.skip(w);
      continue;
    }
    if (f === 1) g.nodes.push(readNode(r.sub("NodeProto")));
    else if (f === 2) g.name = r.string();
    else if (f === 5) {
      const t = readTensor(r.sub("TensorProto"));
      g.initializers.set(t.name, t);
    } else if (f === 11) g.inputs.push(readValueInfo(r.sub("ValueInfoProto")));
    else if (f === 12) {
      g.outputs.push(readValueInfo(r.sub("ValueInfoProto")));
    } else r.skip(w);
  }
  return g;
}

/**
 * Decodes the bytes of an `.onnx` file.
 *
 * @example List the operators of a model
 * ```ts
 * import { decodeOnnxModel } from "./onnx_reader.ts";
 * // A ModelProto with only ir_version = 8 and an empty graph:
 * const model = decodeOnnxModel(new Uint8Array([0x08, 0x08, 0x3a, 0x00]));
 * console.log(model.irVersion, model.graph.nodes.length); // 8 0
 * ```
 *
 * @param bytes The whole file.
 * @returns The model; throws {@linkcode OnnxDecodeError} if the bytes are
 * not a well-formed ONNX protobuf or hold no graph.
 */
export function decodeOnnxModel(bytes: Uint8Array): OnnxModelProto {
  const r = new ProtoReader(bytes, "ModelProto");
  const m: OnnxModelProto = {
    irVersion: 0,
    producerName: "",
    producerVersion: "",
    opsetImports: [],
    graph: undefined as unknown as OnnxGraph,
  };
  let graph: OnnxGraph | undefined;
  while (!r.done) {
    const [f, w] = r.key();
    if (f === 1 && w === 0) m.irVersion = r.varint();
    else if (f === 2 && w === 2) m.producerName = r.string();
    else if (f === 3 && w === 2) m.producerVersion = r.string();
    else if (f === 7 && w === 2) graph = readGraph(r.sub("GraphProto"));
    else if (f === 8 && w === 2) {
      const o = r.sub("OperatorSetIdProto");
      let domain = "", version = 0;
      while (!o.done) {
        const [of, ow] = o.key();
        if (of === 1 && ow === 2) domain = o.string();
        else if (of === 2 && ow === 0) version = o.varint();
        else o.skip(ow);
      }
      m.opsetImports.push({ domain, version });
    } else r.skip(w);
  }
  if (graph === undefined) {
    throw new OnnxDecodeError(
      "The bytes hold no ONNX graph (ModelProto field 7 is missing); " +
        "pass the bytes of an .onnx model file",
    );
  }
  m.graph = graph;
  return m;
}

/**
 * Every constant tensor of `graph` and of its subgraphs (recursively), by
 * name: initializers, and the values of `Constant` nodes under their output
 * names.
 *
 * @example
 * ```ts
 * import { collectConstants, decodeOnnxModel } from "./onnx_reader.ts";
 * const model = decodeOnnxModel(new Uint8Array([0x3a, 0x00]));
 * console.log(collectConstants(model.graph).size); // 0
 * ```
 *
 * @param graph The graph to search.
 * @returns A map from value name to tensor.
 */
export function collectConstants(graph: OnnxGraph): Map<string, OnnxTensor> {
  const out = new Map<string, OnnxTensor>();
  const visit = (g: OnnxGraph) => {
    for (const [k, t] of g.initializers) out.set(k, t);
    for (const n of g.nodes) {
      if (n.opType === "Constant") {
        const t = n.attributes.get("value")?.t;
        if (t && n.outputs[0]) out.set(n.outputs[0], t);
      }
      for (const a of n.attributes.values()) {
        if (a.g) visit(a.g);
        for (const sg of a.graphs ?? []) visit(sg);
      }
    }
  };
  visit(graph);
  return out;
}
