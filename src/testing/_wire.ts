/**
 * Small byte helpers of the carrier-side clients: base64 and 16-bit linear
 * PCM in either byte order. Private to `./testing`; written here rather than
 * shared with the server-side transports, so that a client bug and a server
 * bug cannot cancel out.
 *
 * @module
 */

/** Encodes bytes as standard base64. */
export function toBase64(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

/** Decodes standard base64; returns null when `text` is not base64. */
export function fromBase64(text: string): Uint8Array | null {
  let raw: string;
  try {
    raw = atob(text);
  } catch {
    return null;
  }
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

/** Writes PCM16 samples as L16 bytes. */
export function toL16(samples: Int16Array, littleEndian: boolean): Uint8Array {
  const out = new Uint8Array(samples.length * 2);
  const view = new DataView(out.buffer);
  for (let i = 0; i < samples.length; i++) {
    view.setInt16(i * 2, samples[i], littleEndian);
  }
  return out;
}

/** Reads L16 bytes as PCM16 samples (a trailing odd byte is ignored). */
export function fromL16(bytes: Uint8Array, littleEndian: boolean): Int16Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Int16Array(bytes.byteLength >> 1);
  for (let i = 0; i < out.length; i++) {
    out[i] = view.getInt16(i * 2, littleEndian);
  }
  return out;
}

/** True for a plain JSON object. */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A short, printable preview of a message. */
export function preview(value: unknown, max = 120): string {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** 32 random hex digits. */
export function randomHex(): string {
  return crypto.randomUUID().replaceAll("-", "");
}
