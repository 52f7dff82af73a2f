/**
 * Opus for WebRTC calls, on the WASM build of libopus shipped by the npm
 * package `opusscript`.
 *
 * `opusscript`'s own class keeps typed-array views of the WASM heap that go
 * stale when the heap grows (after a few dozen encoders exist, every older
 * encoder throws "detached ArrayBuffer"). This wrapper drives the same WASM
 * module directly and re-reads the heap on every call, so any number of
 * calls can share one module. (Its native layer exchanges PCM as one byte
 * per 16-bit heap slot; the wrapper converts.)
 *
 * @module
 */

import { lazyImport } from "../_internal/lazy_import.ts";

const importOpusWasm = lazyImport<
  { default?: unknown } & Record<string, unknown>
>("npm:opusscript@0.1.1/build/opusscript_native_wasm.js", "Opus (WebRTC)");

/** The parts of the Emscripten module of `opusscript` used here. */
interface OpusWasmModule {
  HEAPU8: Uint8Array;
  _malloc(bytes: number): number;
  _free(pointer: number): void;
  OpusScriptHandler: {
    new (rate: number, channels: number, application: number): OpusWasmHandler;
    destroy_handler(handler: OpusWasmHandler): void;
  };
}

interface OpusWasmHandler {
  _encode(
    pcm: number,
    pcmBytes: number,
    out: number,
    frameSize: number,
  ): number;
  _decode(packet: number, packetBytes: number, pcm: number): number;
  _encoder_ctl(ctl: number, arg: number): number;
}

/** Opus works at 48 kHz here (what WebRTC's `opus/48000/2` carries). */
export const OPUS_SAMPLE_RATE = 48000;
const MAX_FRAME = 5760; // 120 ms at 48 kHz
const MAX_PACKET = 4000;
const OPUS_SET_BITRATE = 4002;
const OPUS_SET_COMPLEXITY = 4010;
const APPLICATION_VOIP = 2048;

let modulePromise: Promise<OpusWasmModule> | null = null;
let loaded: OpusWasmModule | null = null;

/**
 * Loads the shared libopus WASM module (once per process).
 *
 * @example
 * ```ts
 * import { loadOpus } from "./opus.ts";
 * import { OpusCodec } from "@parley/parley/transports";
 * await loadOpus();
 * const codec = new OpusCodec();
 * codec.close();
 * ```
 *
 * @returns A promise that resolves once Opus can be used.
 */
export function loadOpus(): Promise<void> {
  if (!modulePromise) {
    modulePromise = (async () => {
      const imported = await importOpusWasm();
      const factory = (imported.default ?? imported) as (
        options?: Record<string, unknown>,
      ) => OpusWasmModule;
      loaded = factory();
      return loaded;
    })();
    modulePromise.catch(() => modulePromise = null);
  }
  return modulePromise.then(() => {});
}

/** Options of {@linkcode OpusCodec}. */
export interface OpusCodecOptions {
  /** Encoder bitrate in bit/s (default 32000). */
  bitrate?: number;
  /**
   * Encoder complexity 0-10 (default 5). The WASM encoder costs about
   * 490 µs per 20 ms frame at 10 and 180 µs at 5 on a 2020s server core;
   * voice at 32 kbit/s sounds the same. libwebrtc itself uses 5 to 9.
   */
  complexity?: number;
}

/**
 * One call's Opus encoder and decoder: mono PCM16 at 48 kHz in, Opus packets
 * out, and back. Call {@linkcode loadOpus} once before constructing.
 *
 * @example Round trip one 20 ms frame
 * ```ts
 * import { loadOpus } from "./opus.ts";
 * import { OpusCodec } from "@parley/parley/transports";
 * await loadOpus();
 * const codec = new OpusCodec();
 * const packet = codec.encode(new Int16Array(960));
 * const pcm = codec.decode(packet); // Int16Array(960)
 * codec.close();
 * ```
 */
export class OpusCodec {
  #mod: OpusWasmModule;
  #encoder: OpusWasmHandler;
  #decoder: OpusWasmHandler;
  #pcm: number;
  #packet: number;
  #closed = false;
  /** TOC byte of the last packet decoded; -1 before the first. */
  #lastToc = -1;

  /**
   * Makes an encoder/decoder pair.
   *
   * @param options Encoder settings.
   */
  constructor(options: OpusCodecOptions = {}) {
    if (!loaded) {
      throw new Error(
        "Opus is not loaded yet; await loadOpus() before creating an OpusCodec",
      );
    }
    this.#mod = loaded;
    this.#encoder = new this.#mod.OpusScriptHandler(
      OPUS_SAMPLE_RATE,
      1,
      APPLICATION_VOIP,
    );
    this.#decoder = new this.#mod.OpusScriptHandler(
      OPUS_SAMPLE_RATE,
      1,
      APPLICATION_VOIP,
    );
    this.#pcm = this.#mod._malloc(MAX_FRAME * 4);
    this.#packet = this.#mod._malloc(MAX_PACKET);
    const bitrate = options.bitrate ?? 32000;
    if (!Number.isInteger(bitrate) || bitrate < 6000 || bitrate > 510000) {
      this.close();
      throw new RangeError(
        `Opus bitrate ${bitrate} is out of range; use 6000 to 510000 bit/s`,
      );
    }
    const complexity = options.complexity ?? 5;
    if (!Number.isInteger(complexity) || complexity < 0 || complexity > 10) {
      this.close();
      throw new RangeError(
        `Opus complexity ${complexity} is out of range; use 0 to 10`,
      );
    }
    this.#encoder._encoder_ctl(OPUS_SET_BITRATE, bitrate);
    this.#encoder._encoder_ctl(OPUS_SET_COMPLEXITY, complexity);
  }

  /**
   * Encodes one frame (2.5, 5, 10, 20, 40 or 60 ms at 48 kHz; WebRTC uses 20).
   *
   * @param samples Mono PCM16 at 48 kHz.
   * @returns One Opus packet.
   */
  encode(samples: Int16Array): Uint8Array {
    this.#assertOpen();
    if (samples.length > MAX_FRAME) {
      throw new RangeError(
        `An Opus frame holds at most ${MAX_FRAME} samples, got ${samples.length}`,
      );
    }
    // The native side takes PCM as one byte per 16-bit heap slot.
    const bytes = new Uint8Array(
      samples.buffer,
      samples.byteOffset,
      samples.length * 2,
    );
    new Uint16Array(this.#mod.HEAPU8.buffer, this.#pcm, bytes.length).set(
      bytes,
    );
    const n = this.#encoder._encode(
      this.#pcm,
      samples.length * 2,
      this.#packet,
      samples.length,
    );
    if (n < 0) {
      throw new Error(
        `Opus encode failed (code ${n}); frames must be 120, 240, 480, 960, ` +
          `1920 or 2880 samples at 48 kHz`,
      );
    }
    return this.#mod.HEAPU8.slice(this.#packet, this.#packet + n);
  }

  /**
   * Decodes one Opus packet (mono or stereo; stereo is mixed down).
   *
   * @param packet An Opus packet.
   * @returns Mono PCM16 at 48 kHz.
   */
  decode(packet: Uint8Array): Int16Array {
    this.#assertOpen();
    if (packet.length > MAX_PACKET) {
      throw new RangeError(
        `Opus packet of ${packet.length} bytes is larger than ${MAX_PACKET}`,
      );
    }
    this.#mod.HEAPU8.set(packet, this.#packet);
    const n = this.#decoder._decode(this.#packet, packet.length, this.#pcm);
    if (n < 0) {
      throw new Error(`Opus decode failed (code ${n}); the packet is corrupt`);
    }
    if (packet.length > 1) this.#lastToc = packet[0];
    // …and gives PCM back the same way: one byte per 16-bit slot.
    const bytes = new Uint8Array(n * 2);
    bytes.set(new Uint16Array(this.#mod.HEAPU8.buffer, this.#pcm, n * 2));
    return new Int16Array(bytes.buffer);
  }

  /**
   * Conceals one lost packet with libopus's packet loss concealment: a frame
   * as long as the last packet decoded, continuing its sound and fading out
   * over consecutive losses. (It decodes a packet of just the last TOC byte,
   * which libopus treats as lost; an empty packet would conceal 120 ms.)
   * Before any packet was decoded it returns 20 ms of silence.
   *
   * @example
   * ```ts
   * import { loadOpus } from "./opus.ts";
   * import { OpusCodec } from "@parley/parley/transports";
   * await loadOpus();
   * const codec = new OpusCodec();
   * codec.decode(codec.encode(new Int16Array(960)));
   * codec.conceal().length; // 960
   * codec.close();
   * ```
   *
   * @returns Mono PCM16 at 48 kHz.
   */
  conceal(): Int16Array {
    this.#assertOpen();
    if (this.#lastToc < 0) return new Int16Array(OPUS_SAMPLE_RATE / 50);
    // Code 0 (one frame) with zero frame bytes: libopus runs its PLC.
    return this.decode(Uint8Array.of(this.#lastToc & 0xfc));
  }

  /** Frees the encoder and decoder; the codec can no longer be used. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#mod.OpusScriptHandler.destroy_handler(this.#encoder);
    this.#mod.OpusScriptHandler.destroy_handler(this.#decoder);
    this.#mod._free(this.#pcm);
    this.#mod._free(this.#packet);
  }

  #assertOpen(): void {
    if (this.#closed) {
      throw new Error("This OpusCodec is closed; create a new one per call");
    }
  }
}

/**
 * Loads Opus and makes a codec in one step.
 *
 * @example
 * ```ts
 * import { createOpusCodec } from "@parley/parley/transports";
 * const codec = await createOpusCodec({ bitrate: 24000 });
 * codec.close();
 * ```
 *
 * @param options Encoder settings.
 * @returns A ready codec.
 */
export async function createOpusCodec(
  options: OpusCodecOptions = {},
): Promise<OpusCodec> {
  await loadOpus();
  return new OpusCodec(options);
}
