/**
 * Silero VAD v5 / v6 inference in plain TypeScript: no ONNX Runtime, no FFI,
 * no WebAssembly, no disk writes. The weights are read by name from the
 * official `.onnx` files (`silero_vad_v5.onnx`, `silero_vad_v6.onnx`, MIT)
 * with {@linkcode decodeOnnxModel}; the forward pass is a few hand-written,
 * fused loops over `Float32Array`s. Used by {@linkcode getSileroModel} with
 * `backend: "js"`.
 *
 * ## What the ONNX graphs contain
 *
 * Both files (exported by `spox`, IR 8, opset 16) have the same graph; only
 * the weight values differ. Inputs `input` [B, L] float32, `state`
 * [2, B, 128] float32, `sr` int64 scalar; outputs `output` [B, 1] and
 * `stateN` [2, B, 128]. 341 `Constant` nodes carry every weight and shape
 * constant (there are no initializers). The top node is
 * `If(Equal(sr, 16000))`: the then-branch holds the 16 kHz network, the else
 * branch the 8 kHz one (so any `sr` other than 16000 runs the 8 kHz
 * weights). Tensor names are prefixed by the branch, e.g.
 * `If_0_then_branch__Inline_0__encoder.0.reparam_conv.weight`. Each branch,
 * with N = 256, hop 128 at 16 kHz and N = 128, hop 64 at 8 kHz:
 *
 * 1. `Pad` reflect, N/4 samples at the right end only (64 / 32), then an
 *    STFT as `Conv(stft.forward_basis_buffer [N + 2, 1, N], stride hop)`;
 *    rows 0…N/2 are the real parts, N/2+1… the imaginary parts; magnitude
 *    `Sqrt(Pow(re, 2) + Pow(im, 2))` → [B, N/2 + 1, T]. The basis is a
 *    periodic-Hann-windowed DFT to float32 precision (max error 6e-8), so
 *    this module computes it with a real FFT when it verifies that, and as
 *    the plain convolution with the file's basis otherwise. For the
 *    windows Parley feeds (64 + 512 and 32 + 256 samples), T = 4.
 * 2. Encoder: four `Conv` (kernel 3, pads 1) + `Relu`:
 *    `encoder.{0..3}.reparam_conv.{weight,bias}`, channels
 *    (N/2 + 1) → 128 → 64 → 64 → 128, strides 1, 2, 2, 1; time 4 → 4 → 2 →
 *    1 → 1.
 * 3. Decoder: `Squeeze` of the last axis when it is 1 (it must be), then an
 *    `LSTM` (hidden 128, one step, default sigmoid/tanh/tanh, no peepholes)
 *    whose W, R and B are `decoder.rnn.{weight_ih,weight_hh,bias_ih,bias_hh}`
 *    in PyTorch gate order i, f, g, o, re-sliced by `Slice`/`Concat` into
 *    ONNX order i, o, f, c; initial h = `state[0]`, c = `state[1]`;
 *    `stateN` = [h', c'].
 * 4. `Relu(h')`, `Conv` 1×1 `decoder.decoder.2.{weight [1, 128, 1], bias}`,
 *    `Sigmoid`, then `Squeeze`/`ReduceMean` over a length-1 axis
 *    (identity) → `output` [B, 1].
 *
 * The rest (25 `If`, `Shape`, `Gather`, `Equal`, `Cast`, `Squeeze`,
 * `Unsqueeze`, `Identity`, `Size`, `Not`, `Reshape`, `Transpose`,
 * `ConstantOfShape`, 60 `Slice`, 26 `Concat`) is shape bookkeeping exported
 * from PyTorch: batched-versus-unbatched LSTMCell input, the empty-state
 * case, and the reflect-pad amounts. This module implements the network
 * directly rather than interpreting the graph.
 *
 * ## How it runs
 *
 * Activations are kept channel-last ([b][t][c]) with a zero row before and
 * after each sequence, so every convolution output is one dot product of a
 * contiguous 3·C slice with a repacked weight row ([o][k][c]). The first
 * convolution (dense input: the magnitudes) runs as register-blocked loops
 * (4 outputs × 4, 2 or 1 columns) over the whole batch, so each weight loaded
 * serves up to four streams or time steps. The inputs of the other three
 * and of the LSTM's x half are ReLU outputs, 47–81 % zeros on speech: those
 * gather each column's non-zero inputs and add their (transposed,
 * contiguous) weight rows, skipping the zeros. The LSTM's dense h half
 * computes the four gates of one hidden unit together and updates h, c and
 * the decoder sum in the same pass. Scratch memory is allocated per
 * batch-size high-water mark, not per window; only the returned
 * `probabilities` and `state` arrays are new per call (pass `out` to reuse
 * them).
 *
 * Weights and activations are held as float64 (the loops run ~12 % faster
 * than over float32 in V8; ~3.7 MB for both rates) and sums are float64, so
 * results are slightly more precise than ONNX Runtime's float32 arithmetic:
 * on real speech the probabilities differ from onnxruntime-node's by at most
 * 2.5e-6 (`tests/vad/silero_js_test.ts`). Batch rows are computed in the
 * same order as a batch of one, so batching never changes a result. Cost per
 * window, about one multiply-add per CPU cycle (the scalar JavaScript
 * ceiling): see `bench/README.md`.
 *
 * @module
 */

import { errorText } from "../_internal/errors.ts";
import {
  collectConstants,
  decodeOnnxModel,
  type OnnxGraph,
  type OnnxNode,
  type OnnxTensor,
} from "./onnx_reader.ts";

/**
 * Sample rates of Silero VAD.
 *
 * @example
 * ```ts
 * import type { SileroJsSampleRate } from "./silero_js.ts";
 * const phone: SileroJsSampleRate = 8000;
 * console.log(phone);
 * ```
 */
export type SileroJsSampleRate = 8000 | 16000;

/**
 * How the STFT front end is computed.
 *
 * - `"auto"` (default): `"fft"` when the file's STFT basis is verified to be
 *   a windowed DFT (true for Silero v5 and v6), else `"conv"`.
 * - `"fft"`: real FFT with the window taken from the file's basis; throws
 *   when the basis is not a windowed DFT.
 * - `"conv"`: the basis as a strided convolution, as the ONNX graph does
 *   (about 1.6× slower in total).
 *
 * @example
 * ```ts
 * import type { SileroJsStft } from "./silero_js.ts";
 * const stft: SileroJsStft = "conv"; // bit-for-bit the graph's formulation
 * console.log(stft);
 * ```
 */
export type SileroJsStft = "auto" | "fft" | "conv";

/**
 * Options of {@linkcode SileroJsModel.fromBytes} and
 * {@linkcode SileroJsModel.load}.
 *
 * @example
 * ```ts
 * import type { SileroJsOptions } from "./silero_js.ts";
 * const options: SileroJsOptions = { stft: "auto" };
 * console.log(options);
 * ```
 */
export interface SileroJsOptions {
  /** STFT method (default `"auto"`). */
  stft?: SileroJsStft;
}

/**
 * Result of {@linkcode SileroJsModel.run}.
 *
 * @example
 * ```ts
 * import type { SileroJsResult } from "./silero_js.ts";
 * const first = (r: SileroJsResult) => r.probabilities[0];
 * console.log(typeof first);
 * ```
 */
export interface SileroJsResult {
  /** Speech probability per batch row (`output`, [B, 1]). */
  probabilities: Float32Array;
  /** New state [2, B, 128] (`stateN`): h of every row, then c. */
  state: Float32Array;
}

/** Width of the LSTM state (`state` is [2, B, HIDDEN]). */
const HIDDEN = 128;
const GATES = 4 * HIDDEN;

/** Tensor names inside each branch (after the branch's prefix). */
const TENSOR = {
  basis: "stft.forward_basis_buffer",
  enc: [0, 1, 2, 3].map((i) => ({
    weight: `encoder.${i}.reparam_conv.weight`,
    bias: `encoder.${i}.reparam_conv.bias`,
  })),
  wih: "decoder.rnn.weight_ih",
  whh: "decoder.rnn.weight_hh",
  bih: "decoder.rnn.bias_ih",
  bhh: "decoder.rnn.bias_hh",
  decW: "decoder.decoder.2.weight",
  decB: "decoder.decoder.2.bias",
} as const;

const FIX =
  "pass the silero_vad_v5.onnx or silero_vad_v6.onnx file from @ricky0123/vad-web or the " +
  "snakers4/silero-vad repository (the legacy v4 model with h/c inputs is not supported)";

function notSilero(what: string): Error {
  return new Error(`Not a Silero VAD v5/v6 model: ${what}; ${FIX}`);
}

/** One branch's named constants, looked up by the unprefixed name. */
class BranchTensors {
  #all: Map<string, OnnxTensor>;
  #label: string;

  constructor(graph: OnnxGraph, label: string) {
    this.#all = collectConstants(graph);
    this.#label = label;
  }

  /** Full name of `name` in this branch (`…__name` or `name`). */
  fullName(name: string): string | undefined {
    if (this.#all.has(name)) return name;
    for (const k of this.#all.keys()) if (k.endsWith(`__${name}`)) return k;
    return undefined;
  }

  float(name: string, dims: (number | undefined)[]): OnnxTensor & {
    data: Float32Array;
  } {
    const full = this.fullName(name);
    const t = full === undefined ? undefined : this.#all.get(full);
    if (t === undefined) {
      throw notSilero(`the ${this.#label} branch has no tensor "${name}"`);
    }
    if (!(t.data instanceof Float32Array)) {
      throw notSilero(
        `tensor "${name}" of the ${this.#label} branch is not float32 (data type ${t.dataType})`,
      );
    }
    const ok = t.dims.length === dims.length &&
      dims.every((d, i) => d === undefined || d === t.dims[i]);
    if (!ok) {
      throw notSilero(
        `tensor "${name}" of the ${this.#label} branch has shape [${
          t.dims.join(", ")
        }], expected [${dims.map((d) => d ?? "?").join(", ")}]`,
      );
    }
    return t as OnnxTensor & { data: Float32Array };
  }
}

function allNodes(graph: OnnxGraph, out: OnnxNode[] = []): OnnxNode[] {
  for (const n of graph.nodes) {
    out.push(n);
    for (const a of n.attributes.values()) {
      if (a.g) allNodes(a.g, out);
      for (const g of a.graphs ?? []) allNodes(g, out);
    }
  }
  return out;
}

interface ConvLayer {
  /**
   * Dense layers (the first): weights repacked [cout][3][cin] (k-major,
   * then channel). Sparse layers (after a ReLU): transposed, [3][cin][cout].
   */
  w: Float64Array;
  /** Whether the input is a ReLU output, run by {@linkcode sparseGemm}. */
  sparse: boolean;
  bias: Float64Array;
  cin: number;
  cout: number;
  stride: number;
}

/** Sequence lengths and buffer sizes for one input row length. */
interface Plan {
  /** Row length (context + window). */
  len: number;
  /** STFT frames. */
  t0: number;
  /** Time steps after encoder layers 0..3 (t[3] is 1). */
  t: number[];
  /** Padded-input index → input index (reflect padding at the right). */
  reflect: Int32Array;
}

/** The network of one sample rate (one `If` branch). */
class RateNet {
  readonly label: string;
  readonly n: number;
  readonly hop: number;
  readonly pad: number;
  readonly bins: number;
  readonly stft: "fft" | "conv";
  /** STFT basis [N + 2][N]; dropped once the FFT path is chosen. */
  #basis: Float64Array;
  readonly #zeroBias: Float64Array;
  readonly #window: Float64Array = new Float64Array(0);
  readonly #enc: ConvLayer[] = [];
  /** LSTM W_ih transposed: [input k][unit · 4 + gate (i, f, g, o)]. */
  readonly #wx: Float64Array;
  /** LSTM W_hh as [unit][gate i, f, g, o][h (128)]. */
  readonly #wh: Float64Array;
  /** b_ih + b_hh as [unit][gate]. */
  readonly #bl: Float64Array;
  readonly #decW: Float64Array;
  readonly #decB: number;
  // FFT tables (size m = n / 2 complex points).
  readonly #bitrev = new Int32Array(0);
  readonly #cosM = new Float64Array(0);
  readonly #sinM = new Float64Array(0);
  readonly #cosN = new Float64Array(0);
  readonly #sinN = new Float64Array(0);
  readonly #re = new Float64Array(0);
  readonly #im = new Float64Array(0);
  // Scratch, grown to the largest batch seen.
  #plans = new Map<number, Plan>();
  #cap = 0;
  #capLen = 0;
  #mag = new Float64Array(0);
  #act: Float64Array[] = [];
  #z = new Float64Array(0);
  #dec = new Float64Array(0);
  #padded = new Float64Array(0);
  #frames = new Float64Array(0);
  #colIn = new Int32Array(0);
  #colOut = new Int32Array(0);
  #colLo = new Int32Array(0);
  #colHi = new Int32Array(0);
  #gx = new Float64Array(0);
  readonly #sparseIdx: Int32Array;
  readonly #sparseVal: Float64Array;

  constructor(graph: OnnxGraph, label: string, stft: SileroJsStft) {
    this.label = label;
    const t = new BranchTensors(graph, label);
    const basis = t.float(TENSOR.basis, [undefined, 1, undefined]);
    const n = basis.dims[2];
    const bins = n / 2 + 1;
    if (n < 8 || (n & (n - 1)) !== 0 || basis.dims[0] !== 2 * bins) {
      throw notSilero(
        `tensor "${TENSOR.basis}" of the ${label} branch has shape [${
          basis.dims.join(", ")
        }], expected [N + 2, 1, N] with N a power of two`,
      );
    }
    this.n = n;
    this.bins = bins;
    this.#basis = Float64Array.from(basis.data);
    this.#zeroBias = new Float64Array(2 * bins);
    const nodes = allNodes(graph);
    const convOf = (name: string) => {
      const full = t.fullName(name);
      const node = nodes.find((x) =>
        x.opType === "Conv" && x.inputs[1] === full
      );
      if (!node) {
        throw notSilero(
          `no Conv of the ${label} branch uses tensor "${name}"`,
        );
      }
      const ints = (k: string) => node.attributes.get(k)?.ints;
      const group = node.attributes.get("group")?.i ?? 1;
      const dil = ints("dilations") ?? [1];
      if (group !== 1 || dil.some((d) => d !== 1)) {
        throw notSilero(
          `the Conv on "${name}" uses groups or dilation, which Silero v5/v6 does not`,
        );
      }
      return { strides: ints("strides") ?? [1], pads: ints("pads") ?? [0, 0] };
    };
    const stftConv = convOf(TENSOR.basis);
    this.hop = stftConv.strides[0];
    if (stftConv.pads.some((p) => p !== 0) || this.hop !== n / 2) {
      throw notSilero(
        `the STFT Conv of the ${label} branch has stride ${this.hop} and pads [${stftConv.pads}], expected stride ${
          n / 2
        } and no pads`,
      );
    }
    if (!nodes.some((x) => x.opType === "Pad")) {
      throw notSilero(`the ${label} branch has no reflect Pad before its STFT`);
    }
    // Silero pads filter_length / 4 samples at the right (reflect).
    this.pad = n / 4;

    let cin = bins;
    for (const e of TENSOR.enc) {
      const w = t.float(e.weight, [undefined, cin, 3]);
      const cout = w.dims[0];
      const bias = t.float(e.bias, [cout]);
      const conv = convOf(e.weight);
      if (conv.pads.some((p) => p !== 1)) {
        throw notSilero(
          `the Conv on "${e.weight}" has pads [${conv.pads}], expected [1, 1]`,
        );
      }
      // Repack [o][c][k] → [o][k][c] (dense: contiguous dot products) or
      // [k][c][o] (sparse: contiguous weight rows per input).
      const sparse = this.#enc.length > 0;
      const packed = new Float64Array(cout * 3 * cin);
      for (let o = 0; o < cout; o++) {
        for (let c = 0; c < cin; c++) {
          for (let k = 0; k < 3; k++) {
            const v = w.data[(o * cin + c) * 3 + k];
            if (sparse) packed[(k * cin + c) * cout + o] = v;
            else packed[o * 3 * cin + k * cin + c] = v;
          }
        }
      }
      this.#enc.push({
        w: packed,
        sparse,
        bias: Float64Array.from(bias.data),
        cin,
        cout,
        stride: conv.strides[0],
      });
      cin = cout;
    }
    if (cin !== HIDDEN) {
      throw notSilero(
        `the encoder ends with ${cin} channels, but the LSTM state is ${HIDDEN} wide`,
      );
    }
    const lstm = nodes.find((x) => x.opType === "LSTM");
    const hs = lstm?.attributes.get("hidden_size")?.i;
    if (!lstm || hs !== HIDDEN) {
      throw notSilero(
        `the ${label} branch has no LSTM with hidden_size ${HIDDEN} (found ${
          lstm ? `hidden_size ${hs}` : "none"
        })`,
      );
    }
    for (const k of ["activations", "clip", "input_forget", "direction"]) {
      const a = lstm.attributes.get(k);
      if (a && !(k === "direction" && a.s === "forward")) {
        throw notSilero(
          `its LSTM sets "${k}", which Silero v5/v6 does not (only the default forward LSTM is implemented)`,
        );
      }
    }
    const wih = t.float(TENSOR.wih, [GATES, HIDDEN]).data;
    const whh = t.float(TENSOR.whh, [GATES, HIDDEN]).data;
    const bih = t.float(TENSOR.bih, [GATES]).data;
    const bhh = t.float(TENSOR.bhh, [GATES]).data;
    this.#wx = new Float64Array(GATES * HIDDEN);
    this.#wh = new Float64Array(GATES * HIDDEN);
    this.#bl = new Float64Array(GATES);
    for (let j = 0; j < HIDDEN; j++) {
      for (let g = 0; g < 4; g++) {
        const row = g * HIDDEN + j; // PyTorch order i, f, g, o
        for (let k = 0; k < HIDDEN; k++) {
          this.#wx[k * GATES + j * 4 + g] = wih[row * HIDDEN + k];
        }
        this.#wh.set(
          whh.subarray(row * HIDDEN, (row + 1) * HIDDEN),
          (j * 4 + g) * HIDDEN,
        );
        this.#bl[j * 4 + g] = bih[row] + bhh[row];
      }
    }
    const widest = Math.max(GATES, ...this.#enc.map((e) => 3 * e.cin));
    this.#sparseIdx = new Int32Array(widest);
    this.#sparseVal = new Float64Array(widest);
    this.#decW = Float64Array.from(t.float(TENSOR.decW, [1, HIDDEN, 1]).data);
    this.#decB = t.float(TENSOR.decB, [1]).data[0];

    // STFT: FFT when the basis is a windowed DFT.
    const window = this.#dftWindow();
    if (stft === "fft" && window === undefined) {
      throw new Error(
        `The STFT basis of the ${label} branch is not a windowed DFT, so stft: "fft" ` +
          `cannot reproduce it; use stft: "auto" or "conv"`,
      );
    }
    this.stft = stft !== "conv" && window !== undefined ? "fft" : "conv";
    if (this.stft === "fft") {
      const m = n / 2;
      this.#basis = new Float64Array(0);
      this.#window = window!;
      this.#bitrev = new Int32Array(m);
      const bits = Math.log2(m);
      for (let i = 0; i < m; i++) {
        let r = 0;
        for (let b = 0; b < bits; b++) r |= ((i >> b) & 1) << (bits - 1 - b);
        this.#bitrev[i] = r;
      }
      this.#cosM = new Float64Array(m / 2);
      this.#sinM = new Float64Array(m / 2);
      for (let i = 0; i < m / 2; i++) {
        this.#cosM[i] = Math.cos((2 * Math.PI * i) / m);
        this.#sinM[i] = Math.sin((2 * Math.PI * i) / m);
      }
      this.#cosN = new Float64Array(m + 1);
      this.#sinN = new Float64Array(m + 1);
      for (let k = 0; k <= m; k++) {
        this.#cosN[k] = Math.cos((2 * Math.PI * k) / n);
        this.#sinN[k] = Math.sin((2 * Math.PI * k) / n);
      }
      this.#re = new Float64Array(m);
      this.#im = new Float64Array(m);
    }
  }

  /**
   * The window w if basis rows are w·cos(2πkn/N) (real, k = 0…N/2) and
   * −w·sin(2πkn/N) (imaginary) within 1e-6, else undefined.
   */
  #dftWindow(): Float64Array | undefined {
    const n = this.n, bins = this.bins, b = this.#basis;
    const w = Float64Array.from(b.subarray(0, n)); // bin 0: cos(0) = 1
    for (let k = 0; k < bins; k++) {
      for (let i = 0; i < n; i++) {
        const phase = (2 * Math.PI * ((k * i) % n)) / n;
        const re = w[i] * Math.cos(phase), im = -w[i] * Math.sin(phase);
        if (
          Math.abs(b[k * n + i] - re) > 1e-6 ||
          Math.abs(b[(bins + k) * n + i] - im) > 1e-6
        ) return undefined;
      }
    }
    return w;
  }

  #plan(len: number): Plan {
    let p = this.#plans.get(len);
    if (p) return p;
    const padded = len + this.pad;
    if (padded < this.n || this.pad >= len) {
      throw new RangeError(
        `Silero (${this.label}) input rows of ${len} samples are too short; ` +
          `pass context + window samples (${
            this.n === 256 ? "64 + 512" : "32 + 256"
          })`,
      );
    }
    const t0 = Math.floor((padded - this.n) / this.hop) + 1;
    const t: number[] = [];
    let tin = t0;
    for (const e of this.#enc) {
      tin = Math.floor((tin + 2 - 3) / e.stride) + 1;
      t.push(tin);
    }
    if (t[3] !== 1) {
      throw new RangeError(
        `Silero (${this.label}) input rows of ${len} samples give ${
          t[3]
        } encoder steps, but the model's decoder needs exactly 1; pass context + window samples ` +
          `(${this.n === 256 ? "64 + 512" : "32 + 256"})`,
      );
    }
    const reflect = new Int32Array(padded);
    for (let i = 0; i < padded; i++) reflect[i] = i < len ? i : 2 * len - 2 - i;
    p = { len, t0, t, reflect };
    this.#plans.set(len, p);
    return p;
  }

  #ensure(batch: number, plan: Plan): void {
    if (batch <= this.#cap && plan.len === this.#capLen) return;
    const cap = Math.max(batch, plan.len === this.#capLen ? this.#cap : 0);
    const { t0, t } = plan;
    this.#mag = new Float64Array(cap * (t0 + 2) * this.bins);
    this.#act = [0, 1, 2].map((i) =>
      new Float64Array(cap * (t[i] + 2) * this.#enc[i].cout)
    );
    this.#z = new Float64Array(cap * 2 * HIDDEN);
    this.#dec = new Float64Array(cap);
    this.#gx = new Float64Array(cap * GATES);
    const cols = cap * Math.max(t0, ...t);
    this.#colIn = new Int32Array(cols);
    this.#colOut = new Int32Array(cols);
    this.#colLo = new Int32Array(cols);
    this.#colHi = new Int32Array(cols);
    if (this.stft === "conv") {
      this.#padded = new Float64Array(cap * (plan.len + this.pad));
      this.#frames = new Float64Array(cap * t0 * 2 * this.bins);
    }
    this.#cap = cap;
    this.#capLen = plan.len;
  }

  run(
    input: Float32Array,
    state: Float32Array,
    batch: number,
    probs: Float32Array,
    stateOut: Float32Array,
  ): void {
    const len = input.length / batch;
    const plan = this.#plan(len);
    this.#ensure(batch, plan);
    if (this.stft === "fft") this.#stftFft(input, batch, plan);
    else this.#stftConv(input, batch, plan);
    // Encoder: mag → act0 → act1 → act2 → z (x half).
    let src: Float64Array = this.#mag, tin = plan.t0;
    for (let l = 0; l < 4; l++) {
      const e = this.#enc[l];
      const tout = plan.t[l];
      const last = l === 3;
      const dst = last ? this.#z : this.#act[l];
      const inRows = tin + 2, outRows = tout + 2;
      // Columns t-major (blocks of 4 share t, hence their range), or, for
      // the dense layer with frames in fours, stream-major (a block is
      // frames t…t+3 of one stream; gemm skips the padding at its ends).
      const byStream = !e.sparse && tout % 4 === 0;
      for (let t = 0; t < tout; t++) {
        const ts = t * e.stride; // window = padded rows ts .. ts + 2
        const lo = (Math.max(ts, 1) - ts) * e.cin;
        const hi = (Math.min(ts + 2, tin) - ts + 1) * e.cin;
        for (let b = 0; b < batch; b++) {
          const n = byStream ? b * tout + t : t * batch + b;
          this.#colIn[n] = (b * inRows + ts) * e.cin;
          this.#colLo[n] = lo;
          this.#colHi[n] = hi;
          this.#colOut[n] = last
            ? b * 2 * HIDDEN
            : (b * outRows + t + 1) * e.cout;
        }
      }
      const n = tout * batch;
      if (e.sparse) {
        sparseGemm(
          e.w,
          e.bias,
          e.cout,
          src,
          this.#colIn,
          this.#colLo,
          this.#colHi,
          dst,
          this.#colOut,
          n,
          true,
          this.#sparseIdx,
          this.#sparseVal,
        );
      } else {
        gemm(
          e.w,
          3 * e.cin,
          e.bias,
          e.cout,
          src,
          this.#colIn,
          this.#colLo,
          this.#colHi,
          dst,
          this.#colOut,
          n,
          true,
        );
      }
      src = dst;
      tin = tout;
    }
    // LSTM input: h from the state next to x.
    const z = this.#z;
    for (let b = 0; b < batch; b++) {
      z.set(
        state.subarray(b * HIDDEN, (b + 1) * HIDDEN),
        b * 2 * HIDDEN + HIDDEN,
      );
    }
    this.#lstm(batch, state, stateOut, probs);
  }

  /** Reflect pad, Hann-windowed real FFT, magnitude → #mag interior rows. */
  #stftFft(input: Float32Array, batch: number, plan: Plan): void {
    const n = this.n, m = n >> 1, bins = this.bins, hop = this.hop;
    const w = this.#window, br = this.#bitrev, reflect = plan.reflect;
    const re = this.#re, im = this.#im;
    const cosM = this.#cosM, sinM = this.#sinM;
    const cosN = this.#cosN, sinN = this.#sinN;
    const mag = this.#mag, rows = plan.t0 + 2;
    for (let b = 0; b < batch; b++) {
      const base = b * plan.len;
      for (let f = 0; f < plan.t0; f++) {
        const s = f * hop;
        // Pack even/odd samples as one complex sequence, bit-reversed.
        for (let i = 0; i < m; i++) {
          const k = br[i];
          re[k] = input[base + reflect[s + 2 * i]] * w[2 * i];
          im[k] = input[base + reflect[s + 2 * i + 1]] * w[2 * i + 1];
        }
        // Iterative radix-2 FFT of size m.
        for (let size = 2, step = m >> 1; size <= m; size <<= 1, step >>= 1) {
          const half = size >> 1;
          for (let start = 0; start < m; start += size) {
            for (let k = 0; k < half; k++) {
              const wr = cosM[k * step], wi = -sinM[k * step];
              const a = start + k, c = a + half;
              const xr = re[c], xi = im[c];
              const tr = wr * xr - wi * xi, ti = wr * xi + wi * xr;
              const ar = re[a], ai = im[a];
              re[c] = ar - tr;
              im[c] = ai - ti;
              re[a] = ar + tr;
              im[a] = ai + ti;
            }
          }
        }
        // Split into the spectrum of the real sequence; magnitude.
        const out = (b * rows + f + 1) * bins;
        for (let k = 0; k <= m; k++) {
          const k1 = k === m ? 0 : k, k2 = k === 0 ? 0 : m - k;
          const zr = re[k1], zi = im[k1], yr = re[k2], yi = im[k2];
          const er = 0.5 * (zr + yr), ei = 0.5 * (zi - yi);
          const or = 0.5 * (zi + yi), oi = 0.5 * (yr - zr);
          const c = cosN[k], sn = sinN[k];
          const xr = er + c * or + sn * oi;
          const xi = ei + c * oi - sn * or;
          mag[out + k] = Math.sqrt(xr * xr + xi * xi);
        }
      }
    }
  }

  /** Reflect pad, the basis as a strided convolution, magnitude. */
  #stftConv(input: Float32Array, batch: number, plan: Plan): void {
    const n = this.n, bins = this.bins, ch = 2 * bins;
    const plen = plan.len + this.pad, reflect = plan.reflect;
    const padded = this.#padded, frames = this.#frames;
    let c = 0;
    for (let b = 0; b < batch; b++) {
      for (let i = 0; i < plen; i++) {
        padded[b * plen + i] = input[b * plan.len + reflect[i]];
      }
      for (let f = 0; f < plan.t0; f++, c++) {
        this.#colIn[c] = b * plen + f * this.hop;
        this.#colLo[c] = 0;
        this.#colHi[c] = n;
        this.#colOut[c] = c * ch;
      }
    }
    gemm(
      this.#basis,
      n,
      this.#zeroBias,
      ch,
      padded,
      this.#colIn,
      this.#colLo,
      this.#colHi,
      frames,
      this.#colOut,
      c,
      false,
    );
    const mag = this.#mag, rows = plan.t0 + 2;
    for (let b = 0; b < batch; b++) {
      for (let f = 0; f < plan.t0; f++) {
        const src = (b * plan.t0 + f) * ch, out = (b * rows + f + 1) * bins;
        for (let k = 0; k < bins; k++) {
          const r = frames[src + k], i = frames[src + bins + k];
          mag[out + k] = Math.sqrt(r * r + i * i);
        }
      }
    }
  }

  /**
   * One LSTM step for every row, fused with the state update and the
   * decoder. The x half of the gate sums (x is the encoder's ReLU output,
   * ~80 % zeros on speech) goes through {@linkcode sparseGemm} into #gx; the
   * dense h half then runs the four gate rows of one hidden unit against up
   * to four rows' h at once, starting from #gx.
   */
  #lstm(
    batch: number,
    state: Float32Array,
    out: Float32Array,
    probs: Float32Array,
  ): void {
    const z = this.#z, w = this.#wh, bl = this.#bl, dw = this.#decW;
    const gx = this.#gx, dec = this.#dec, H = HIDDEN, Z = 2 * HIDDEN;
    const cOff = batch * HIDDEN, even = batch & ~1;
    for (let b = 0; b < batch; b++) {
      this.#colIn[b] = b * Z;
      this.#colLo[b] = 0;
      this.#colHi[b] = H;
      this.#colOut[b] = b * GATES;
    }
    sparseGemm(
      this.#wx,
      bl,
      GATES,
      z,
      this.#colIn,
      this.#colLo,
      this.#colHi,
      gx,
      this.#colOut,
      batch,
      false,
      this.#sparseIdx,
      this.#sparseVal,
    );
    dec.fill(0, 0, batch);
    for (let j = 0; j < HIDDEN; j++) {
      const wi = j * 4 * H, wf = wi + H, wg = wf + H, wo = wg + H;
      const dj = dw[j], gj = 4 * j;
      let b = 0;
      for (; b + 4 <= even; b += 4) {
        const x0 = b * Z + H, x1 = x0 + Z, x2 = x1 + Z, x3 = x2 + Z;
        const q0 = b * GATES + gj, q1 = q0 + GATES, q2 = q1 + GATES;
        const q3 = q2 + GATES;
        let i0 = gx[q0], i1 = gx[q1], i2 = gx[q2], i3 = gx[q3];
        let f0 = gx[q0 + 1], f1 = gx[q1 + 1], f2 = gx[q2 + 1], f3 = gx[q3 + 1];
        let g0 = gx[q0 + 2], g1 = gx[q1 + 2], g2 = gx[q2 + 2], g3 = gx[q3 + 2];
        let o0 = gx[q0 + 3], o1 = gx[q1 + 3], o2 = gx[q2 + 3], o3 = gx[q3 + 3];
        for (let k = 0; k < H; k++) {
          const a = z[x0 + k], bb = z[x1 + k], c = z[x2 + k], d = z[x3 + k];
          const u = w[wi + k];
          i0 += u * a;
          i1 += u * bb;
          i2 += u * c;
          i3 += u * d;
          const v = w[wf + k];
          f0 += v * a;
          f1 += v * bb;
          f2 += v * c;
          f3 += v * d;
          const q = w[wg + k];
          g0 += q * a;
          g1 += q * bb;
          g2 += q * c;
          g3 += q * d;
          const r = w[wo + k];
          o0 += r * a;
          o1 += r * bb;
          o2 += r * c;
          o3 += r * d;
        }
        lstmCell(state, out, dec, cOff, dj, b, j, i0, f0, g0, o0);
        lstmCell(state, out, dec, cOff, dj, b + 1, j, i1, f1, g1, o1);
        lstmCell(state, out, dec, cOff, dj, b + 2, j, i2, f2, g2, o2);
        lstmCell(state, out, dec, cOff, dj, b + 3, j, i3, f3, g3, o3);
      }
      if (b + 2 <= even) {
        const x0 = b * Z + H, x1 = x0 + Z;
        const q0 = b * GATES + gj, q1 = q0 + GATES;
        let i0 = gx[q0], i1 = gx[q1], f0 = gx[q0 + 1], f1 = gx[q1 + 1];
        let g0 = gx[q0 + 2], g1 = gx[q1 + 2], o0 = gx[q0 + 3], o1 = gx[q1 + 3];
        for (let k = 0; k < H; k++) {
          const a = z[x0 + k], bb = z[x1 + k];
          const u = w[wi + k], v = w[wf + k], q = w[wg + k], r = w[wo + k];
          i0 += u * a;
          i1 += u * bb;
          f0 += v * a;
          f1 += v * bb;
          g0 += q * a;
          g1 += q * bb;
          o0 += r * a;
          o1 += r * bb;
        }
        lstmCell(state, out, dec, cOff, dj, b, j, i0, f0, g0, o0);
        lstmCell(state, out, dec, cOff, dj, b + 1, j, i1, f1, g1, o1);
      }
    }
    if (even < batch) {
      // The odd row: two units (eight gate rows) per pass.
      const b = even, x0 = b * Z + H, q = b * GATES;
      for (let j = 0; j < HIDDEN; j += 2) {
        const wi = j * 4 * H, wf = wi + H, wg = wf + H, wo = wg + H;
        const vi = wo + H, vf = vi + H, vg = vf + H, vo = vg + H;
        const q0 = q + 4 * j, q1 = q0 + 4;
        let i0 = gx[q0], f0 = gx[q0 + 1], g0 = gx[q0 + 2], o0 = gx[q0 + 3];
        let i1 = gx[q1], f1 = gx[q1 + 1], g1 = gx[q1 + 2], o1 = gx[q1 + 3];
        for (let k = 0; k < H; k++) {
          const a = z[x0 + k];
          i0 += w[wi + k] * a;
          f0 += w[wf + k] * a;
          g0 += w[wg + k] * a;
          o0 += w[wo + k] * a;
          i1 += w[vi + k] * a;
          f1 += w[vf + k] * a;
          g1 += w[vg + k] * a;
          o1 += w[vo + k] * a;
        }
        lstmCell(state, out, dec, cOff, dw[j], b, j, i0, f0, g0, o0);
        lstmCell(state, out, dec, cOff, dw[j + 1], b, j + 1, i1, f1, g1, o1);
      }
    }
    const db = this.#decB;
    for (let b = 0; b < batch; b++) {
      probs[b] = 1 / (1 + Math.exp(-(db + dec[b])));
    }
  }
}

/**
 * LSTM cell update of one unit of one row from its gate pre-activations
 * (PyTorch order i, f, g, o); adds relu(h') to the row's decoder sum.
 */
function lstmCell(
  state: Float32Array,
  out: Float32Array,
  dec: Float64Array,
  cOff: number,
  dj: number,
  row: number,
  unit: number,
  gi: number,
  gf: number,
  gg: number,
  go: number,
): void {
  const at = row * HIDDEN + unit;
  const c = state[cOff + at] / (1 + Math.exp(-gf)) +
    Math.tanh(gg) / (1 + Math.exp(-gi));
  const h = Math.tanh(c) / (1 + Math.exp(-go));
  out[at] = h;
  out[cOff + at] = c;
  if (h > 0) dec[row] += dj * Math.fround(h);
}

/**
 * The same result as {@linkcode gemm} for inputs with many zeros (ReLU
 * outputs), with the weights transposed (Wt[j·M + o]): per column, gathers
 * the non-zero inputs of [colLo, colHi), then adds each one's contiguous
 * weight row to the column's M sums in Y, eight inputs per pass. Costs
 * about 1.5× a dense multiply-add per non-zero input, so it pays from
 * ~35 % zeros (Silero's ReLU outputs have 47–81 %).
 */
function sparseGemm(
  Wt: Float64Array,
  bias: Float64Array,
  M: number,
  X: Float64Array,
  colIn: Int32Array,
  colLo: Int32Array,
  colHi: Int32Array,
  Y: Float64Array,
  colOut: Int32Array,
  n: number,
  relu: boolean,
  idx: Int32Array,
  val: Float64Array,
): void {
  for (let c = 0; c < n; c++) {
    const x0 = colIn[c], hi = colHi[c], y = colOut[c];
    let nz = 0;
    for (let j = colLo[c]; j < hi; j++) {
      const v = X[x0 + j];
      if (v !== 0) {
        idx[nz] = j * M;
        val[nz++] = v;
      }
    }
    for (let o = 0; o < M; o++) Y[y + o] = bias[o];
    let t = 0;
    for (; t + 8 <= nz; t += 8) {
      const r0 = idx[t], r1 = idx[t + 1], r2 = idx[t + 2], r3 = idx[t + 3];
      const r4 = idx[t + 4], r5 = idx[t + 5], r6 = idx[t + 6];
      const r7 = idx[t + 7];
      const a0 = val[t], a1 = val[t + 1], a2 = val[t + 2], a3 = val[t + 3];
      const a4 = val[t + 4], a5 = val[t + 5], a6 = val[t + 6];
      const a7 = val[t + 7];
      for (let o = 0; o < M; o++) {
        Y[y + o] += a0 * Wt[r0 + o] + a1 * Wt[r1 + o] + a2 * Wt[r2 + o] +
          a3 * Wt[r3 + o] + a4 * Wt[r4 + o] + a5 * Wt[r5 + o] +
          a6 * Wt[r6 + o] + a7 * Wt[r7 + o];
      }
    }
    for (; t + 4 <= nz; t += 4) {
      const r0 = idx[t], r1 = idx[t + 1], r2 = idx[t + 2], r3 = idx[t + 3];
      const a0 = val[t], a1 = val[t + 1], a2 = val[t + 2], a3 = val[t + 3];
      for (let o = 0; o < M; o++) {
        Y[y + o] += a0 * Wt[r0 + o] + a1 * Wt[r1 + o] + a2 * Wt[r2 + o] +
          a3 * Wt[r3 + o];
      }
    }
    for (; t < nz; t++) {
      const r0 = idx[t], a0 = val[t];
      for (let o = 0; o < M; o++) Y[y + o] += a0 * Wt[r0 + o];
    }
    if (relu) {
      for (let o = 0; o < M; o++) if (Y[y + o] < 0) Y[y + o] = 0;
    }
  }
}

/**
 * Y[colOut[c] + o] = act(bias[o] + Σ_j W[o·K + j] · X[colIn[c] + j]) for
 * j in [colLo[c], colHi[c]), every output o < M and column c < n. Blocks of
 * 4 outputs × 4 columns share their loads (a block of columns uses the union
 * of their ranges: the extra terms read the zero padding rows).
 */
function gemm(
  W: Float64Array,
  K: number,
  bias: Float64Array,
  M: number,
  X: Float64Array,
  colIn: Int32Array,
  colLo: Int32Array,
  colHi: Int32Array,
  Y: Float64Array,
  colOut: Int32Array,
  n: number,
  relu: boolean,
): void {
  let c = 0;
  for (; c + 4 <= n; c += 4) {
    const x0 = colIn[c], x1 = colIn[c + 1], x2 = colIn[c + 2];
    const x3 = colIn[c + 3];
    const l0 = colLo[c], l1 = colLo[c + 1], l2 = colLo[c + 2];
    const l3 = colLo[c + 3], h0 = colHi[c], h1 = colHi[c + 1];
    const h2 = colHi[c + 2], h3 = colHi[c + 3];
    // Four consecutive frames of one stream (first starts late, last ends
    // early): three segments, the outer ones without the idle column.
    // Otherwise one segment over the union of the ranges.
    const framed = l1 === l2 && l2 === l3 && l0 >= l1 && l0 <= h3 &&
      h0 === h1 && h1 === h2 && h3 <= h0;
    const lo = framed ? l0 : Math.min(l0, l1, l2, l3);
    const hi = framed ? h3 : Math.max(h0, h1, h2, h3);
    const first = framed ? l1 : lo, last = framed ? h0 : hi;
    const y0 = colOut[c], y1 = colOut[c + 1], y2 = colOut[c + 2];
    const y3 = colOut[c + 3];
    let o = 0;
    for (; o + 4 <= M; o += 4) {
      const w0 = o * K, w1 = w0 + K, w2 = w1 + K, w3 = w2 + K;
      let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0;
      let s13 = 0, s20 = 0, s21 = 0, s22 = 0, s23 = 0, s30 = 0, s31 = 0;
      let s32 = 0, s33 = 0;
      for (let j = first; j < lo; j++) {
        const b = X[x1 + j], cc = X[x2 + j], d = X[x3 + j];
        const u = W[w0 + j], v = W[w1 + j], q = W[w2 + j], r = W[w3 + j];
        s01 += u * b;
        s02 += u * cc;
        s03 += u * d;
        s11 += v * b;
        s12 += v * cc;
        s13 += v * d;
        s21 += q * b;
        s22 += q * cc;
        s23 += q * d;
        s31 += r * b;
        s32 += r * cc;
        s33 += r * d;
      }
      for (let j = lo; j < hi; j++) {
        const a = X[x0 + j], b = X[x1 + j], cc = X[x2 + j], d = X[x3 + j];
        const u = W[w0 + j];
        s00 += u * a;
        s01 += u * b;
        s02 += u * cc;
        s03 += u * d;
        const v = W[w1 + j];
        s10 += v * a;
        s11 += v * b;
        s12 += v * cc;
        s13 += v * d;
        const q = W[w2 + j];
        s20 += q * a;
        s21 += q * b;
        s22 += q * cc;
        s23 += q * d;
        const r = W[w3 + j];
        s30 += r * a;
        s31 += r * b;
        s32 += r * cc;
        s33 += r * d;
      }
      for (let j = hi; j < last; j++) {
        const a = X[x0 + j], b = X[x1 + j], cc = X[x2 + j];
        const u = W[w0 + j], v = W[w1 + j], q = W[w2 + j], r = W[w3 + j];
        s00 += u * a;
        s01 += u * b;
        s02 += u * cc;
        s10 += v * a;
        s11 += v * b;
        s12 += v * cc;
        s20 += q * a;
        s21 += q * b;
        s22 += q * cc;
        s30 += r * a;
        s31 += r * b;
        s32 += r * cc;
      }
      const b0 = bias[o], b1 = bias[o + 1], b2 = bias[o + 2], b3 = bias[o + 3];
      if (relu) {
        Y[y0 + o] = Math.max(0, s00 + b0);
        Y[y1 + o] = Math.max(0, s01 + b0);
        Y[y2 + o] = Math.max(0, s02 + b0);
        Y[y3 + o] = Math.max(0, s03 + b0);
        Y[y0 + o + 1] = Math.max(0, s10 + b1);
        Y[y1 + o + 1] = Math.max(0, s11 + b1);
        Y[y2 + o + 1] = Math.max(0, s12 + b1);
        Y[y3 + o + 1] = Math.max(0, s13 + b1);
        Y[y0 + o + 2] = Math.max(0, s20 + b2);
        Y[y1 + o + 2] = Math.max(0, s21 + b2);
        Y[y2 + o + 2] = Math.max(0, s22 + b2);
        Y[y3 + o + 2] = Math.max(0, s23 + b2);
        Y[y0 + o + 3] = Math.max(0, s30 + b3);
        Y[y1 + o + 3] = Math.max(0, s31 + b3);
        Y[y2 + o + 3] = Math.max(0, s32 + b3);
        Y[y3 + o + 3] = Math.max(0, s33 + b3);
      } else {
        Y[y0 + o] = s00 + b0;
        Y[y1 + o] = s01 + b0;
        Y[y2 + o] = s02 + b0;
        Y[y3 + o] = s03 + b0;
        Y[y0 + o + 1] = s10 + b1;
        Y[y1 + o + 1] = s11 + b1;
        Y[y2 + o + 1] = s12 + b1;
        Y[y3 + o + 1] = s13 + b1;
        Y[y0 + o + 2] = s20 + b2;
        Y[y1 + o + 2] = s21 + b2;
        Y[y2 + o + 2] = s22 + b2;
        Y[y3 + o + 2] = s23 + b2;
        Y[y0 + o + 3] = s30 + b3;
        Y[y1 + o + 3] = s31 + b3;
        Y[y2 + o + 3] = s32 + b3;
        Y[y3 + o + 3] = s33 + b3;
      }
    }
    for (; o < M; o++) {
      const w0 = o * K;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let j = first; j < last; j++) {
        const u = W[w0 + j];
        s0 += u * X[x0 + j];
        s1 += u * X[x1 + j];
        s2 += u * X[x2 + j];
        s3 += u * X[x3 + j];
      }
      const b0 = bias[o];
      Y[y0 + o] = relu ? Math.max(0, s0 + b0) : s0 + b0;
      Y[y1 + o] = relu ? Math.max(0, s1 + b0) : s1 + b0;
      Y[y2 + o] = relu ? Math.max(0, s2 + b0) : s2 + b0;
      Y[y3 + o] = relu ? Math.max(0, s3 + b0) : s3 + b0;
    }
  }
  if (c + 2 <= n) {
    const x0 = colIn[c], x1 = colIn[c + 1], y0 = colOut[c], y1 = colOut[c + 1];
    const lo = Math.min(colLo[c], colLo[c + 1]);
    const hi = Math.max(colHi[c], colHi[c + 1]);
    for (let o = 0; o < M; o += 4) {
      if (o + 4 > M) {
        for (; o < M; o++) {
          const w0 = o * K;
          let s0 = bias[o], s1 = bias[o];
          for (let j = lo; j < hi; j++) {
            const u = W[w0 + j];
            s0 += u * X[x0 + j];
            s1 += u * X[x1 + j];
          }
          Y[y0 + o] = relu ? Math.max(0, s0) : s0;
          Y[y1 + o] = relu ? Math.max(0, s1) : s1;
        }
        break;
      }
      const w0 = o * K, w1 = w0 + K, w2 = w1 + K, w3 = w2 + K;
      let s00 = 0, s01 = 0, s10 = 0, s11 = 0, s20 = 0, s21 = 0, s30 = 0;
      let s31 = 0;
      for (let j = lo; j < hi; j++) {
        const a = X[x0 + j], b = X[x1 + j];
        const u = W[w0 + j], v = W[w1 + j], q = W[w2 + j], r = W[w3 + j];
        s00 += u * a;
        s01 += u * b;
        s10 += v * a;
        s11 += v * b;
        s20 += q * a;
        s21 += q * b;
        s30 += r * a;
        s31 += r * b;
      }
      const b0 = bias[o], b1 = bias[o + 1], b2 = bias[o + 2], b3 = bias[o + 3];
      if (relu) {
        Y[y0 + o] = Math.max(0, s00 + b0);
        Y[y1 + o] = Math.max(0, s01 + b0);
        Y[y0 + o + 1] = Math.max(0, s10 + b1);
        Y[y1 + o + 1] = Math.max(0, s11 + b1);
        Y[y0 + o + 2] = Math.max(0, s20 + b2);
        Y[y1 + o + 2] = Math.max(0, s21 + b2);
        Y[y0 + o + 3] = Math.max(0, s30 + b3);
        Y[y1 + o + 3] = Math.max(0, s31 + b3);
      } else {
        Y[y0 + o] = s00 + b0;
        Y[y1 + o] = s01 + b0;
        Y[y0 + o + 1] = s10 + b1;
        Y[y1 + o + 1] = s11 + b1;
        Y[y0 + o + 2] = s20 + b2;
        Y[y1 + o + 2] = s21 + b2;
        Y[y0 + o + 3] = s30 + b3;
        Y[y1 + o + 3] = s31 + b3;
      }
    }
    c += 2;
  }
  for (; c < n; c++) {
    const x0 = colIn[c], lo = colLo[c], hi = colHi[c], y0 = colOut[c];
    let o = 0;
    for (; o + 4 <= M; o += 4) {
      const w0 = o * K, w1 = w0 + K, w2 = w1 + K, w3 = w2 + K;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let j = lo; j < hi; j++) {
        const a = X[x0 + j];
        s0 += W[w0 + j] * a;
        s1 += W[w1 + j] * a;
        s2 += W[w2 + j] * a;
        s3 += W[w3 + j] * a;
      }
      s0 += bias[o];
      s1 += bias[o + 1];
      s2 += bias[o + 2];
      s3 += bias[o + 3];
      Y[y0 + o] = relu ? Math.max(0, s0) : s0;
      Y[y0 + o + 1] = relu ? Math.max(0, s1) : s1;
      Y[y0 + o + 2] = relu ? Math.max(0, s2) : s2;
      Y[y0 + o + 3] = relu ? Math.max(0, s3) : s3;
    }
    for (; o < M; o++) {
      const w0 = o * K;
      let s = bias[o];
      for (let j = lo; j < hi; j++) s += W[w0 + j] * X[x0 + j];
      Y[y0 + o] = relu ? Math.max(0, s) : s;
    }
  }
}

/**
 * Silero VAD v5 or v6 loaded from its ONNX file, runnable without ONNX
 * Runtime. One instance can serve any number of streams: {@linkcode run}
 * takes a batch of rows, each with its own state, like the ONNX graph.
 * Not safe for re-entrant use from several workers (it reuses scratch
 * memory); give each worker its own instance.
 *
 * @example Score one 32 ms window of silence at 16 kHz
 * ```ts
 * import { createRequire } from "node:module";
 * import { SileroJsModel } from "./silero_js.ts";
 * const file = createRequire(import.meta.url).resolve(
 *   "@ricky0123/vad-web/dist/silero_vad_v5.onnx",
 * );
 * const model = await SileroJsModel.load(file);
 * const input = new Float32Array(64 + 512); // context + window
 * const state = new Float32Array(2 * 1 * 128); // [2, B, 128], B = 1
 * const { probabilities, state: next } = model.run(input, state, 1, 16000);
 * console.log(probabilities[0] < 0.5, next.length); // true 256
 * ```
 */
export class SileroJsModel {
  /** STFT method in use: `"fft"` or `"conv"` (see {@linkcode SileroJsStft}). */
  readonly stft: "fft" | "conv";
  #nets: Record<SileroJsSampleRate, RateNet>;

  private constructor(nets: Record<SileroJsSampleRate, RateNet>) {
    this.#nets = nets;
    this.stft = nets[16000].stft === "fft" && nets[8000].stft === "fft"
      ? "fft"
      : "conv";
  }

  /**
   * Builds the model from the bytes of a Silero v5/v6 `.onnx` file.
   *
   * @example
   * ```ts
   * import { createRequire } from "node:module";
   * import { SileroJsModel } from "./silero_js.ts";
   * const file = createRequire(import.meta.url).resolve(
   *   "@ricky0123/vad-web/dist/silero_vad_v6.onnx",
   * );
   * const model = SileroJsModel.fromBytes(await Deno.readFile(file));
   * console.log(model.stft); // "fft"
   * ```
   *
   * @param bytes The file's contents.
   * @param options STFT method.
   * @returns The model; throws an error naming the missing or mismatched
   * tensor when the file is not a Silero v5/v6 model.
   */
  static fromBytes(
    bytes: Uint8Array,
    options: SileroJsOptions = {},
  ): SileroJsModel {
    const stft = options.stft ?? "auto";
    if (stft !== "auto" && stft !== "fft" && stft !== "conv") {
      throw new RangeError(
        `Unknown stft option "${stft}"; use "auto", "fft" or "conv"`,
      );
    }
    const model = decodeOnnxModel(bytes);
    const g = model.graph;
    const names = (v: { name: string }[]) => v.map((x) => x.name);
    for (const want of ["input", "state", "sr"]) {
      if (!names(g.inputs).includes(want)) {
        throw notSilero(
          `it has no input "${want}" (inputs: ${names(g.inputs).join(", ")})`,
        );
      }
    }
    for (const want of ["output", "stateN"]) {
      if (!names(g.outputs).includes(want)) {
        throw notSilero(
          `it has no output "${want}" (outputs: ${
            names(g.outputs).join(", ")
          })`,
        );
      }
    }
    // Top-level If(Equal(sr, <rate>)): then = that rate, else = the other.
    const consts = collectConstants({ ...g, nodes: g.nodes });
    let branches: Record<SileroJsSampleRate, OnnxGraph> | undefined;
    for (const node of g.nodes) {
      if (node.opType !== "If") continue;
      const eq = g.nodes.find((x) =>
        x.opType === "Equal" && x.outputs[0] === node.inputs[0]
      );
      if (!eq || !eq.inputs.includes("sr")) continue;
      const other = eq.inputs.find((x) => x !== "sr");
      const c = other === undefined ? undefined : consts.get(other)?.data;
      const rate = c instanceof BigInt64Array ? Number(c[0]) : undefined;
      const then = node.attributes.get("then_branch")?.g;
      const otherwise = node.attributes.get("else_branch")?.g;
      if (!then || !otherwise) continue;
      if (rate === 16000) branches = { 16000: then, 8000: otherwise };
      else if (rate === 8000) branches = { 8000: then, 16000: otherwise };
    }
    if (!branches) {
      throw notSilero(
        "its graph has no If on sr == 16000 choosing the 16 kHz and 8 kHz networks",
      );
    }
    return new SileroJsModel({
      16000: new RateNet(branches[16000], "16 kHz", stft),
      8000: new RateNet(branches[8000], "8 kHz", stft),
    });
  }

  /**
   * Loads the model from a file path, a `file:` / `http(s):` URL, or the
   * file's bytes. Reads the file into memory; writes nothing.
   *
   * @example
   * ```ts
   * import { SileroJsModel } from "./silero_js.ts";
   * const url = new URL(
   *   "../../node_modules/@ricky0123/vad-web/dist/silero_vad_v5.onnx",
   *   import.meta.url,
   * ); // or a path string, an https: URL, or the bytes
   * const model = await SileroJsModel.load(url);
   * console.log(model.stft); // "fft"
   * ```
   *
   * @param source Path, URL or bytes of a Silero v5/v6 `.onnx` file.
   * @param options STFT method.
   * @returns The model.
   */
  static async load(
    source: string | URL | Uint8Array,
    options: SileroJsOptions = {},
  ): Promise<SileroJsModel> {
    if (source instanceof Uint8Array) {
      return SileroJsModel.fromBytes(source, options);
    }
    let url: URL | undefined;
    if (source instanceof URL) url = source;
    else if (/^(https?|file):/i.test(source)) url = new URL(source);
    let bytes: Uint8Array;
    try {
      if (url && url.protocol !== "file:") {
        const res = await fetch(url);
        if (!res.ok) {
          await res.body?.cancel();
          throw new Error(`HTTP ${res.status} ${res.statusText}`);
        }
        bytes = new Uint8Array(await res.arrayBuffer());
      } else {
        bytes = await Deno.readFile(url ?? (source as string));
      }
    } catch (e) {
      throw new Error(
        `Cannot read the Silero model ${String(source)}: ${
          errorText(e)
        }; check the path or URL (reading a file needs --allow-read, a URL --allow-net)`,
        { cause: e },
      );
    }
    try {
      return SileroJsModel.fromBytes(bytes, options);
    } catch (e) {
      if (e instanceof Error) e.message = `${String(source)}: ${e.message}`;
      throw e;
    }
  }

  /**
   * Runs one step for `batch` independent rows, exactly like the ONNX
   * graph's `output` and `stateN` for inputs `input` [batch, L], `state`
   * [2, batch, 128] and `sr`.
   *
   * @example Two streams at 8 kHz in one call
   * ```ts
   * import { createRequire } from "node:module";
   * import { SileroJsModel } from "./silero_js.ts";
   * const file = createRequire(import.meta.url).resolve(
   *   "@ricky0123/vad-web/dist/silero_vad_v6.onnx",
   * );
   * const model = await SileroJsModel.load(file);
   * const input = new Float32Array(2 * (32 + 256));
   * const r = model.run(input, new Float32Array(2 * 2 * 128), 2, 8000);
   * console.log(r.probabilities.length); // 2
   * ```
   *
   * @param input `batch` rows of context + window samples (64 + 512 at
   * 16 kHz, 32 + 256 at 8 kHz), row-major.
   * @param state [2, batch, 128]: h of every row, then c (zeros to start).
   * @param batch Number of rows.
   * @param sampleRate 16000 or 8000 (selects the network, as `sr` does).
   * @param out Optional output arrays to fill instead of allocating
   * (`probabilities` ≥ batch values, `state` 2·batch·128 values, not
   * aliasing `state`).
   * @returns Probabilities and new state.
   */
  run(
    input: Float32Array,
    state: Float32Array,
    batch: number,
    sampleRate: SileroJsSampleRate,
    out?: SileroJsResult,
  ): SileroJsResult {
    const net = this.#nets[sampleRate];
    if (!net) {
      throw new RangeError(
        `Silero VAD runs at 16000 or 8000 Hz, not ${sampleRate}; resample the audio first`,
      );
    }
    if (
      !Number.isInteger(batch) || batch < 1 || input.length % batch !== 0 ||
      state.length !== 2 * batch * HIDDEN
    ) {
      throw new RangeError(
        `Silero inputs do not form a batch of ${batch}: input has ${input.length} values, ` +
          `state ${state.length} (need batch × row length and 2 × batch × ${HIDDEN})`,
      );
    }
    const probabilities = out?.probabilities ?? new Float32Array(batch);
    const next = out?.state ?? new Float32Array(2 * batch * HIDDEN);
    if (probabilities.length < batch || next.length !== 2 * batch * HIDDEN) {
      throw new RangeError(
        `The out arrays are too small for a batch of ${batch}: probabilities has ` +
          `${probabilities.length} values, state ${next.length} (need ${batch} and ${
            2 * batch * HIDDEN
          })`,
      );
    }
    if (next === state || next.buffer === state.buffer) {
      throw new RangeError(
        "The output state must not share memory with the input state; pass a separate array",
      );
    }
    net.run(input, state, batch, probabilities, next);
    return { probabilities, state: next };
  }
}

/** Structural twin of an ONNX Runtime tensor, for {@linkcode sileroJsOrtShim}. */
interface ShimTensor {
  readonly data: unknown;
  readonly dims: readonly number[];
}

/**
 * @internal Wraps a {@linkcode SileroJsModel} in the small part of the ONNX
 * Runtime API that {@linkcode getSileroModel}'s batch scheduler uses
 * (`new Tensor(type, data, dims)`, `session.run({ input, state, sr })`), so
 * the js backend plugs in without changing the scheduler.
 *
 * @example
 * ```ts
 * import { createRequire } from "node:module";
 * import { SileroJsModel, sileroJsOrtShim } from "./silero_js.ts";
 * const file = createRequire(import.meta.url).resolve(
 *   "@ricky0123/vad-web/dist/silero_vad_v5.onnx",
 * );
 * const { ort, session } = sileroJsOrtShim(await SileroJsModel.load(file));
 * const out = await session.run({
 *   input: new ort.Tensor("float32", new Float32Array(576), [1, 576]),
 *   state: new ort.Tensor("float32", new Float32Array(256), [2, 1, 128]),
 *   sr: new ort.Tensor("int64", BigInt64Array.from([16000n]), []),
 * });
 * console.log(out.output.data);
 * ```
 *
 * @param model The loaded model.
 * @returns An `ort`-like module and session.
 */
export function sileroJsOrtShim(model: SileroJsModel): {
  ort: {
    Tensor: new (
      type: string,
      data: Float32Array | BigInt64Array,
      dims: readonly number[],
    ) => ShimTensor;
    InferenceSession: {
      create(...args: unknown[]): Promise<never>;
    };
    env: Record<string, never>;
  };
  session: {
    readonly inputNames: readonly string[];
    run(feeds: Record<string, ShimTensor>): Promise<Record<string, ShimTensor>>;
    release(): Promise<void>;
  };
} {
  class Tensor implements ShimTensor {
    readonly data: Float32Array | BigInt64Array;
    readonly dims: readonly number[];
    constructor(
      _type: string,
      data: Float32Array | BigInt64Array,
      dims: readonly number[],
    ) {
      this.data = data;
      this.dims = dims;
    }
  }
  return {
    ort: {
      Tensor,
      InferenceSession: {
        create: () =>
          Promise.reject(
            new Error("The js backend has no ONNX sessions; use SileroJsModel"),
          ),
      },
      env: {},
    },
    session: {
      inputNames: ["input", "state", "sr"],
      run(feeds) {
        try {
          const { input, state, sr } = feeds;
          const rate = Number((sr.data as BigInt64Array)[0]);
          const batch = input.dims[0];
          const r = model.run(
            input.data as Float32Array,
            state.data as Float32Array,
            batch,
            rate === 16000 ? 16000 : 8000,
          );
          return Promise.resolve({
            output: new Tensor("float32", r.probabilities, [batch, 1]),
            stateN: new Tensor("float32", r.state, [2, batch, HIDDEN]),
          });
        } catch (e) {
          return Promise.reject(e);
        }
      },
      release: () => Promise.resolve(),
    },
  };
}
