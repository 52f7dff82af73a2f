import assert from "node:assert/strict";
import {
  readWav,
  readWavFile,
  writeWav,
  writeWavFile,
} from "../../src/audio/wav.ts";
import { linearToMulaw } from "../../src/audio/mulaw.ts";

const hasSox = (() => {
  try {
    return new Deno.Command("sox", { args: ["--version"] }).outputSync()
      .success;
  } catch {
    return false;
  }
})();
if (!hasSox) console.log("sox not found: skipping the sox-made WAV tests");

/** Builds a WAV file from raw chunks: [id, body] pairs. */
function riff(chunks: [string, Uint8Array][]): Uint8Array {
  const size = chunks.reduce(
    (n, [, b]) => n + 8 + b.length + (b.length & 1),
    4,
  );
  const out = new Uint8Array(8 + size);
  const view = new DataView(out.buffer);
  out.set(new TextEncoder().encode("RIFF"), 0);
  view.setUint32(4, size, true);
  out.set(new TextEncoder().encode("WAVE"), 8);
  let o = 12;
  for (const [id, body] of chunks) {
    out.set(new TextEncoder().encode(id), o);
    view.setUint32(o + 4, body.length, true);
    out.set(body, o + 8);
    o += 8 + body.length + (body.length & 1);
  }
  return out;
}

function fmtChunk(
  code: number,
  channels: number,
  rate: number,
  bits: number,
): Uint8Array {
  const b = new Uint8Array(16);
  const v = new DataView(b.buffer);
  v.setUint16(0, code, true);
  v.setUint16(2, channels, true);
  v.setUint32(4, rate, true);
  v.setUint32(8, rate * channels * bits / 8, true);
  v.setUint16(12, channels * bits / 8, true);
  v.setUint16(14, bits, true);
  return b;
}

function int16Bytes(values: number[]): Uint8Array {
  const b = new Uint8Array(values.length * 2);
  const v = new DataView(b.buffer);
  values.forEach((x, i) => v.setInt16(i * 2, x, true));
  return b;
}

Deno.test("writeWav pcm16 round-trips through readWav", () => {
  const pcm = Int16Array.from([0, 1, -1, 32767, -32768, 12345]);
  const bytes = writeWav({ sampleRate: 8000, samples: pcm });
  assert.equal(bytes.length, 44 + 12);
  const wav = readWav(bytes);
  assert.equal(wav.sampleRate, 8000);
  assert.equal(wav.channels, 1);
  assert.equal(wav.format, "pcm16");
  assert.deepEqual(
    Array.from(wav.samples, (x) => Math.round(x * 32768)),
    Array.from(pcm),
  );
  // Float input is scaled by 32767 and clipped.
  const f = readWav(
    writeWav({ sampleRate: 16000, samples: Float32Array.from([0.5, -2, 2]) }),
  );
  assert.deepEqual(
    Array.from(f.samples, (x) => Math.round(x * 32768)),
    [16384, -32768, 32767],
  );
});

Deno.test("writeWav float32 round-trips exactly", () => {
  const x = Float32Array.from([0.25, -0.125, 0.999, -1, 0]);
  const wav = readWav(
    writeWav({ sampleRate: 48000, samples: x, format: "float32" }),
  );
  assert.equal(wav.format, "float32");
  assert.equal(wav.sampleRate, 48000);
  assert.deepEqual(wav.samples, x);
});

Deno.test("reads the 16 kHz PCM16 fixtures", async () => {
  const wav = await readWavFile(
    new URL("../fixtures/jfk.wav", import.meta.url),
  );
  assert.equal(wav.sampleRate, 16000);
  assert.equal(wav.channels, 1);
  assert.equal(wav.format, "pcm16");
  const bytes = await Deno.readFile(
    new URL("../fixtures/jfk.wav", import.meta.url),
  );
  // Compare against the last data sample decoded by hand.
  const last = new DataView(bytes.buffer).getInt16(bytes.length - 2, true);
  assert.equal(wav.samples[wav.samples.length - 1], last / 32768);
  assert.ok(wav.samples.some((s) => Math.abs(s) > 0.1));
});

Deno.test("writeWavFile and readWavFile use the file system", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/t.wav`;
    const samples = Int16Array.from([1, 2, 3]);
    await writeWavFile(path, { sampleRate: 22050, samples });
    const wav = await readWavFile(path);
    assert.equal(wav.sampleRate, 22050);
    assert.equal(wav.samples.length, 3);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("stereo is averaged to mono and the channel count reported", () => {
  const bytes = riff([
    ["fmt ", fmtChunk(1, 2, 8000, 16)],
    ["data", int16Bytes([1000, 3000, -2000, 0])],
  ]);
  const wav = readWav(bytes);
  assert.equal(wav.channels, 2);
  assert.deepEqual(Array.from(wav.samples, (x) => x * 32768), [2000, -1000]);
});

Deno.test("unknown chunks (odd sizes padded) are skipped", () => {
  const bytes = riff([
    ["LIST", new Uint8Array([1, 2, 3])],
    ["fmt ", fmtChunk(1, 1, 8000, 16)],
    ["junk", new Uint8Array(5)],
    ["data", int16Bytes([7, -7])],
  ]);
  assert.deepEqual(Array.from(readWav(bytes).samples, (x) => x * 32768), [
    7,
    -7,
  ]);
});

Deno.test("μ-law, 24-bit, 8-bit and extensible headers decode", () => {
  const mu = riff([
    ["fmt ", fmtChunk(7, 1, 8000, 8)],
    ["data", Uint8Array.from([linearToMulaw(0), linearToMulaw(-32768)])],
  ]);
  const m = readWav(mu);
  assert.equal(m.format, "mulaw");
  assert.deepEqual(Array.from(m.samples, (x) => x * 32768), [0, -32124]);

  const p24 = new Uint8Array([0xff, 0xff, 0x7f, 0x00, 0x00, 0x80]);
  const w24 = readWav(riff([["fmt ", fmtChunk(1, 1, 8000, 24)], [
    "data",
    p24,
  ]]));
  assert.deepEqual(Array.from(w24.samples), [8388607 / 8388608, -1]);

  const w8 = readWav(riff([["fmt ", fmtChunk(1, 1, 8000, 8)], [
    "data",
    Uint8Array.from([128, 0, 255]),
  ]]));
  assert.deepEqual(Array.from(w8.samples), [0, -1, 127 / 128]);

  // WAVE_FORMAT_EXTENSIBLE with a PCM sub-format GUID.
  const ext = new Uint8Array(40);
  ext.set(fmtChunk(0xfffe, 1, 16000, 16));
  const v = new DataView(ext.buffer);
  v.setUint16(16, 22, true);
  v.setUint16(18, 16, true);
  v.setUint32(20, 4, true);
  v.setUint16(24, 1, true);
  const we = readWav(riff([["fmt ", ext], ["data", int16Bytes([-16384])]]));
  assert.equal(we.format, "pcm16");
  assert.deepEqual(Array.from(we.samples), [-0.5]);
});

Deno.test("streamed data size 0xFFFFFFFF reads to the end of file", () => {
  const bytes = riff([
    ["fmt ", fmtChunk(1, 1, 8000, 16)],
    ["data", int16Bytes([5, 6, 7])],
  ]);
  new DataView(bytes.buffer).setUint32(bytes.length - 6 - 4, 0xffffffff, true);
  assert.equal(readWav(bytes).samples.length, 3);
});

Deno.test("a trailing partial frame is ignored", () => {
  const data = new Uint8Array(5);
  data.set(int16Bytes([100, 200]));
  const wav = readWav(riff([["fmt ", fmtChunk(1, 1, 8000, 16)], [
    "data",
    data,
  ]]));
  assert.equal(wav.samples.length, 2);
});

Deno.test("bad files give specific errors", () => {
  assert.throws(
    () => readWav(new TextEncoder().encode("ID3\x03 not a wav file")),
    /Not a WAV file.*"ID3/,
  );
  assert.throws(() => readWav(new Uint8Array(3)), /Not a WAV file/);
  const good = riff([
    ["fmt ", fmtChunk(1, 1, 8000, 16)],
    ["data", int16Bytes([1, 2, 3, 4])],
  ]);
  assert.throws(
    () => readWav(good.subarray(0, good.length - 3)),
    /Truncated WAV file: the data chunk declares 8 bytes but only 5 remain/,
  );
  assert.throws(
    () =>
      readWav(riff([["fmt ", fmtChunk(2, 1, 8000, 4)], [
        "data",
        new Uint8Array(4),
      ]])),
    /Unsupported WAV encoding: format code 2 with 4 bits/,
  );
  assert.throws(
    () => readWav(riff([["data", new Uint8Array(2)]])),
    /data chunk comes before/,
  );
  assert.throws(
    () => readWav(riff([["fmt ", fmtChunk(1, 1, 8000, 16)]])),
    /no data chunk/,
  );
  assert.throws(
    () =>
      readWav(riff([["fmt ", fmtChunk(1, 1, 0, 16)], [
        "data",
        new Uint8Array(2),
      ]])),
    (e: unknown) =>
      e instanceof RangeError && /WAV sample rate/.test(e.message),
  );
  const nan = new Uint8Array(8);
  new DataView(nan.buffer).setFloat32(4, NaN, true);
  assert.throws(
    () => readWav(riff([["fmt ", fmtChunk(3, 1, 8000, 32)], ["data", nan]])),
    (e: unknown) =>
      e instanceof RangeError && /WAV sample 1 is NaN/.test(e.message),
  );
  assert.throws(
    () => readWav("RIFF" as unknown as Uint8Array),
    TypeError,
  );
});

Deno.test("writeWav rejects bad rates, types, formats and NaN", () => {
  assert.throws(
    () => writeWav({ sampleRate: -1, samples: new Int16Array(1) }),
    (e: unknown) => e instanceof RangeError && /sampleRate/.test(e.message),
  );
  assert.throws(
    () => writeWav({ sampleRate: 8000, samples: [1] as unknown as Int16Array }),
    TypeError,
  );
  assert.throws(
    () =>
      writeWav({
        sampleRate: 8000,
        samples: new Int16Array(1),
        format: "mp3" as "pcm16",
      }),
    RangeError,
  );
  assert.throws(
    () =>
      writeWav({ sampleRate: 8000, samples: Float32Array.from([0, Infinity]) }),
    /Sample 1 is Infinity/,
  );
});

async function sox(args: string[]): Promise<void> {
  const r = await new Deno.Command("sox", { args, stderr: "piped" }).output();
  if (!r.success) throw new Error(new TextDecoder().decode(r.stderr));
}

Deno.test({
  name: "reads sox-made μ-law, 24-bit extensible, float and stereo files",
  ignore: !hasSox,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const synth = ["synth", "0.05", "sine", "440", "gain", "-3"];
      const cases: [string[], string, number][] = [
        [["-r", "8000", "-c", "1", "-e", "u-law"], "mulaw", 1],
        [["-r", "16000", "-c", "1", "-b", "24"], "pcm24", 1],
        [
          ["-r", "24000", "-c", "1", "-e", "floating-point", "-b", "32"],
          "float32",
          1,
        ],
        [["-r", "44100", "-c", "2", "-b", "16"], "pcm16", 2],
        [["-r", "8000", "-c", "1", "-e", "a-law"], "alaw", 1],
      ];
      for (const [opts, format, channels] of cases) {
        const src = `${dir}/${format}.wav`;
        const ref = `${dir}/${format}_ref.wav`;
        await sox(["-n", ...opts, src, ...synth]);
        // sox's own conversion of the same file to mono float32.
        await sox([src, "-e", "floating-point", "-b", "32", "-c", "1", ref]);
        const ours = await readWavFile(src);
        const theirs = await readWavFile(ref);
        assert.equal(ours.format, format);
        assert.equal(ours.channels, channels);
        assert.equal(ours.sampleRate, theirs.sampleRate);
        assert.equal(ours.samples.length, theirs.samples.length);
        let maxDiff = 0;
        for (let i = 0; i < ours.samples.length; i++) {
          maxDiff = Math.max(
            maxDiff,
            Math.abs(ours.samples[i] - theirs.samples[i]),
          );
        }
        assert.ok(maxDiff < 1e-4, `${format}: max diff ${maxDiff}`);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
