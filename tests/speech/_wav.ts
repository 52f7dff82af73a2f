// Minimal PCM16 mono WAV reader for the speech tests and bench.
export function readWav(
  path: string,
): { sampleRate: number; samples: Int16Array } {
  const bytes = Deno.readFileSync(path);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tag = (o: number) => String.fromCharCode(...bytes.subarray(o, o + 4));
  if (tag(0) !== "RIFF" || tag(8) !== "WAVE") {
    throw new Error(`${path} is not a WAV file`);
  }
  let off = 12;
  let sampleRate = 0;
  let channels = 0;
  let bits = 0;
  while (off + 8 <= bytes.length) {
    const id = tag(off);
    const size = view.getUint32(off + 4, true);
    if (id === "fmt ") {
      channels = view.getUint16(off + 10, true);
      sampleRate = view.getUint32(off + 12, true);
      bits = view.getUint16(off + 22, true);
    } else if (id === "data") {
      if (channels !== 1 || bits !== 16) {
        throw new Error(`${path}: need mono PCM16`);
      }
      const n = Math.floor(Math.min(size, bytes.length - off - 8) / 2);
      const samples = new Int16Array(n);
      for (let i = 0; i < n; i++) {
        samples[i] = view.getInt16(off + 8 + 2 * i, true);
      }
      return { sampleRate, samples };
    }
    off += 8 + size + (size & 1);
  }
  throw new Error(`${path} has no data chunk`);
}
