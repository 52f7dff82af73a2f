/**
 * A small streaming tar reader (private): walks the members of a tar stream
 * (ustar, with GNU `L` long names and pax `x` headers) and hands the bytes of
 * the members a visitor asks for to a sink, chunk by chunk, without ever
 * holding more than one input chunk plus one 512-byte header in memory.
 *
 * @module
 */

/**
 * The header of one tar member, after long-name and pax records were applied.
 *
 * @example
 * ```ts ignore
 * const header: TarHeader = { name: "package/a.onnx", size: 10, type: "0" };
 * ```
 */
export interface TarHeader {
  /** Full path inside the archive (ustar prefix, GNU long name or pax path applied). */
  name: string;
  /** Size of the member's data in bytes. */
  size: number;
  /** Tar type flag: `"0"` regular file, `"5"` folder, `"2"` symlink, … */
  type: string;
}

/**
 * Receives the data of one member.
 *
 * @example
 * ```ts ignore
 * const chunks: Uint8Array[] = [];
 * const sink: TarSink = { write: (c) => void chunks.push(c.slice()), close() {} };
 * ```
 */
export interface TarSink {
  /** Called with the member's bytes in order (the chunk is only valid during the call). */
  write(chunk: Uint8Array): void | Promise<void>;
  /** Called once after the last byte. */
  close(): void | Promise<void>;
}

/**
 * Options of {@linkcode walkTar}.
 *
 * @example
 * ```ts ignore
 * const options: WalkTarOptions = { visit: () => undefined };
 * ```
 */
export interface WalkTarOptions {
  /**
   * Called for every member; returns a sink to receive its data, or
   * `undefined` to skip it. Only regular files (`"0"`, NUL, `"7"`) have data
   * worth reading; the visitor decides.
   */
  visit(
    header: TarHeader,
  ): TarSink | undefined | Promise<TarSink | undefined>;
  /** Checked after each member; `true` stops reading early. */
  done?: () => boolean;
}

const BLOCK = 512;
const decoder = new TextDecoder();

/** Reads exact byte counts from a stream of chunks of any size. */
class ChunkReader {
  #it: AsyncIterator<Uint8Array>;
  #chunk: Uint8Array = new Uint8Array(0);
  #pos = 0;
  #ended = false;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.#it = source[Symbol.asyncIterator]();
  }

  async #fill(): Promise<boolean> {
    while (this.#pos >= this.#chunk.length) {
      if (this.#ended) return false;
      const r = await this.#it.next();
      if (r.done) {
        this.#ended = true;
        return false;
      }
      this.#chunk = r.value;
      this.#pos = 0;
    }
    return true;
  }

  /** Exactly `n` bytes (copied), or `null` at a clean end of stream. */
  async readExact(n: number): Promise<Uint8Array | null> {
    const out = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      if (!(await this.#fill())) {
        if (got === 0) return null;
        throw new Error(
          `Truncated tar archive: the stream ended ${got} bytes into a ${n}-byte block`,
        );
      }
      const take = Math.min(n - got, this.#chunk.length - this.#pos);
      out.set(this.#chunk.subarray(this.#pos, this.#pos + take), got);
      this.#pos += take;
      got += take;
    }
    return out;
  }

  /** Passes the next `n` bytes to `write` (or drops them when it is undefined). */
  async pass(
    n: number,
    write: ((chunk: Uint8Array) => void | Promise<void>) | undefined,
  ): Promise<void> {
    let left = n;
    while (left > 0) {
      if (!(await this.#fill())) {
        throw new Error(
          `Truncated tar archive: the stream ended ${left} bytes before the end of a member`,
        );
      }
      const take = Math.min(left, this.#chunk.length - this.#pos);
      if (write) await write(this.#chunk.subarray(this.#pos, this.#pos + take));
      this.#pos += take;
      left -= take;
    }
  }

  async cancel(): Promise<void> {
    if (!this.#ended) {
      this.#ended = true;
      await this.#it.return?.();
    }
  }
}

function text(block: Uint8Array, start: number, length: number): string {
  const field = block.subarray(start, start + length);
  const nul = field.indexOf(0);
  return decoder.decode(nul === -1 ? field : field.subarray(0, nul));
}

function number(block: Uint8Array, start: number, length: number): number {
  const field = block.subarray(start, start + length);
  if (field[0] & 0x80) {
    // GNU base-256: big-endian, the top bit of the first byte is a flag.
    let n = field[0] & 0x7f;
    for (let i = 1; i < field.length; i++) n = n * 256 + field[i];
    return n;
  }
  const s = text(block, start, length).trim();
  return s === "" ? 0 : parseInt(s, 8);
}

function checksumOk(block: Uint8Array): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) {
    sum += i >= 148 && i < 156 ? 32 : block[i];
  }
  return sum === number(block, 148, 8);
}

/** Parses pax records (`"<len> key=value\n"`…). */
function paxRecords(data: Uint8Array): Map<string, string> {
  const out = new Map<string, string>();
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    if (space === -1) break;
    const len = parseInt(decoder.decode(data.subarray(pos, space)), 10);
    if (!(len > 0) || pos + len > data.length) {
      throw new Error("Malformed pax header record in tar archive");
    }
    const record = decoder.decode(data.subarray(space + 1, pos + len - 1));
    const eq = record.indexOf("=");
    if (eq > 0) out.set(record.slice(0, eq), record.slice(eq + 1));
    pos += len;
  }
  return out;
}

async function readData(
  reader: ChunkReader,
  size: number,
): Promise<Uint8Array> {
  const data = await reader.readExact(size);
  if (data === null && size > 0) throw new Error("Truncated tar archive");
  await reader.pass((BLOCK - (size % BLOCK)) % BLOCK, undefined);
  return data ?? new Uint8Array(0);
}

/**
 * Walks a tar stream (already decompressed), calling `visit` for every member
 * and streaming the data of the members it returns a sink for.
 *
 * @example Extract one member of a .tgz
 * ```ts ignore
 * const file = await Deno.open("pkg.tgz");
 * await walkTar(file.readable.pipeThrough(new DecompressionStream("gzip")), {
 *   visit: (h) => h.name === "package/a.onnx" ? mySink : undefined,
 * });
 * ```
 *
 * @param source Decompressed tar bytes in chunks of any size.
 * @param options The visitor and an optional early stop.
 * @returns When the end-of-archive block (or the stream's end) is reached.
 */
export async function walkTar(
  source: AsyncIterable<Uint8Array>,
  options: WalkTarOptions,
): Promise<void> {
  const reader = new ChunkReader(source);
  let longName: string | undefined;
  let pax = new Map<string, string>();
  try {
    while (true) {
      const block = await reader.readExact(BLOCK);
      if (block === null || block.every((b) => b === 0)) return;
      if (!checksumOk(block)) {
        throw new Error(
          "Not a tar archive or corrupt tar header (checksum mismatch)",
        );
      }
      const type = String.fromCharCode(block[156] || 0x30);
      let size = number(block, 124, 12);
      if (type === "L" || type === "x" || type === "g" || type === "K") {
        const data = await readData(reader, size);
        if (type === "L") longName = text(data, 0, data.length);
        if (type === "x") pax = paxRecords(data);
        continue; // "g" (global pax) and "K" (long link name) are not needed
      }
      let name = text(block, 0, 100);
      const magic = text(block, 257, 6);
      if (magic.startsWith("ustar")) {
        const prefix = text(block, 345, 155);
        if (prefix) name = `${prefix}/${name}`;
      }
      if (longName !== undefined) name = longName;
      const paxPath = pax.get("path");
      if (paxPath !== undefined) name = paxPath;
      const paxSize = pax.get("size");
      if (paxSize !== undefined) size = Number(paxSize);
      longName = undefined;
      pax = new Map();
      const hasData = type !== "5" && type !== "2" && type !== "1";
      const dataSize = hasData ? size : 0;
      const sink = await options.visit({ name, size: dataSize, type });
      if (sink) {
        await reader.pass(dataSize, (c) => sink.write(c));
        await sink.close();
      } else {
        await reader.pass(dataSize, undefined);
      }
      await reader.pass((BLOCK - (dataSize % BLOCK)) % BLOCK, undefined);
      if (options.done?.()) return;
    }
  } finally {
    await reader.cancel();
  }
}
