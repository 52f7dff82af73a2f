/**
 * A tiny tar writer for tests: ustar headers, and long names as GNU `L`
 * records, pax `x` records or the ustar prefix field.
 *
 * @module
 */

const enc = new TextEncoder();

/** One member to write. */
export interface TarInput {
  name: string;
  data?: Uint8Array;
  /** Type flag; default "0" (file). */
  type?: string;
  /** How a name longer than 100 bytes is stored; default "pax". */
  longName?: "gnu" | "pax" | "prefix";
}

function header(
  name: string,
  size: number,
  type: string,
  prefix = "",
): Uint8Array {
  const h = new Uint8Array(512);
  const put = (s: string, at: number, len: number) => {
    const b = enc.encode(s);
    if (b.length > len) throw new Error(`field too long: ${s}`);
    h.set(b, at);
  };
  const octal = (n: number, at: number, len: number) =>
    put(n.toString(8).padStart(len - 1, "0"), at, len);
  put(name, 0, 100);
  octal(0o644, 100, 8);
  octal(0, 108, 8);
  octal(0, 116, 8);
  octal(size, 124, 12);
  octal(0, 136, 12);
  h[156] = type.charCodeAt(0);
  put("ustar", 257, 6);
  put("00", 263, 2);
  put(prefix, 345, 155);
  h.fill(32, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  put(sum.toString(8).padStart(6, "0") + "\0 ", 148, 8);
  return h;
}

function padded(data: Uint8Array): Uint8Array[] {
  const pad = (512 - (data.length % 512)) % 512;
  return [data, new Uint8Array(pad)];
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = enc.encode(body).length + 1;
  while (String(len).length + enc.encode(body).length !== len) len++;
  return `${len}${body}`;
}

/** Builds an uncompressed tar archive. */
export function makeTar(inputs: TarInput[]): Uint8Array<ArrayBuffer> {
  const parts: Uint8Array[] = [];
  for (const input of inputs) {
    const data = input.data ?? new Uint8Array(0);
    const type = input.type ?? "0";
    const nameBytes = enc.encode(input.name).length;
    let name = input.name;
    let prefix = "";
    if (nameBytes > 100) {
      const how = input.longName ?? "pax";
      if (how === "gnu") {
        const long = enc.encode(input.name + "\0");
        parts.push(header("././@LongLink", long.length, "L"), ...padded(long));
        name = input.name.slice(0, 100);
      } else if (how === "pax") {
        const rec = enc.encode(paxRecord("path", input.name));
        parts.push(header("PaxHeader/x", rec.length, "x"), ...padded(rec));
        name = input.name.slice(0, 100);
      } else {
        const cut = input.name.lastIndexOf("/", 155);
        prefix = input.name.slice(0, cut);
        name = input.name.slice(cut + 1);
      }
    }
    parts.push(header(name, data.length, type, prefix), ...padded(data));
  }
  parts.push(new Uint8Array(1024));
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** gzip-compresses bytes with `CompressionStream`. */
export async function gzip(
  data: Uint8Array<ArrayBuffer>,
): Promise<Uint8Array<ArrayBuffer>> {
  const stream = new Blob([data]).stream().pipeThrough(
    new CompressionStream("gzip"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Bytes with non-repeating content. */
export function pattern(length: number, seed: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    out[i] = (i * 31 + seed * 7 + (i >> 9)) & 255;
  }
  return out;
}
