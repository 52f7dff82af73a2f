/**
 * A WebSocket client on a raw TCP connection, written from RFC 6455, for
 * tests that need what a browser-style client cannot do: stop reading, send
 * control frames at will, keep a connection open without answering.
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One frame the server sent. */
export interface RawFrame {
  /** 1 text, 2 binary, 8 close, 9 ping, 10 pong. */
  opcode: number;
  payload: Uint8Array;
}

export class RawWebSocket {
  readonly conn: Deno.TcpConn;
  #buffer: Uint8Array<ArrayBuffer>;

  private constructor(conn: Deno.TcpConn, rest: Uint8Array<ArrayBuffer>) {
    this.conn = conn;
    this.#buffer = rest;
  }

  /** Opens `ws://host:port/path` and completes the opening handshake. */
  static async connect(url: string): Promise<RawWebSocket> {
    const u = new URL(url);
    const conn = await Deno.connect({
      hostname: u.hostname,
      port: Number(u.port),
    });
    const key = btoa(String.fromCharCode(...crypto.getRandomValues(
      new Uint8Array(16),
    )));
    await writeAll(
      conn,
      encoder.encode(
        `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\n` +
          `Upgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      ),
    );
    let got: Uint8Array<ArrayBuffer> = new Uint8Array(0);
    const chunk = new Uint8Array(4096);
    for (let i = 0; i < 100; i++) {
      const n = await conn.read(chunk);
      if (n === null) throw new Error("connection closed during handshake");
      got = concat(got, chunk.subarray(0, n));
      const text = decoder.decode(got);
      const end = text.indexOf("\r\n\r\n");
      if (end >= 0) {
        if (!text.startsWith("HTTP/1.1 101")) {
          conn.close();
          throw new Error(`upgrade refused: ${text.split("\r\n")[0]}`);
        }
        const headerBytes = encoder.encode(text.slice(0, end + 4)).length;
        return new RawWebSocket(conn, got.slice(headerBytes));
      }
    }
    conn.close();
    throw new Error("no handshake response");
  }

  /** Encodes one masked client frame. */
  static frame(opcode: number, payload: Uint8Array): Uint8Array {
    const len = payload.length;
    const head = len < 126 ? 2 : len < 65536 ? 4 : 10;
    const out = new Uint8Array(head + 4 + len);
    out[0] = 0x80 | opcode;
    if (len < 126) out[1] = 0x80 | len;
    else if (len < 65536) {
      out[1] = 0x80 | 126;
      out[2] = len >> 8;
      out[3] = len & 0xff;
    } else {
      out[1] = 0x80 | 127;
      new DataView(out.buffer).setBigUint64(2, BigInt(len));
    }
    // A zero mask keeps the payload as is (allowed: the mask is any value).
    out.set(payload, head + 4);
    return out;
  }

  /** Writes raw bytes (one or more frames). */
  write(bytes: Uint8Array): Promise<void> {
    return writeAll(this.conn, bytes);
  }

  sendText(text: string): Promise<void> {
    return this.write(RawWebSocket.frame(1, encoder.encode(text)));
  }

  sendBinary(bytes: Uint8Array): Promise<void> {
    return this.write(RawWebSocket.frame(2, bytes));
  }

  sendPing(payload = new Uint8Array(0)): Promise<void> {
    return this.write(RawWebSocket.frame(9, payload));
  }

  sendClose(code = 1000): Promise<void> {
    return this.write(
      RawWebSocket.frame(8, new Uint8Array([code >> 8, code & 0xff])),
    );
  }

  /**
   * Reads frames until the server closes the connection, a close frame
   * arrives, or `timeoutMs` passes.
   */
  async readFrames(timeoutMs: number): Promise<{
    frames: RawFrame[];
    ended: "close_frame" | "eof" | "timeout";
  }> {
    const frames: RawFrame[] = [];
    const end = performance.now() + timeoutMs;
    const chunk = new Uint8Array(1 << 16);
    while (true) {
      for (let f = this.#take(); f; f = this.#take()) {
        frames.push(f);
        if (f.opcode === 8) return { frames, ended: "close_frame" };
      }
      const left = end - performance.now();
      if (left <= 0) return { frames, ended: "timeout" };
      let timer: ReturnType<typeof setTimeout> | undefined;
      const n = await Promise.race([
        this.conn.read(chunk).catch(() => null),
        new Promise<"t">((r) => timer = setTimeout(() => r("t"), left)),
      ]);
      clearTimeout(timer);
      if (n === "t") return { frames, ended: "timeout" };
      if (n === null) return { frames, ended: "eof" };
      this.#buffer = concat(this.#buffer, chunk.subarray(0, n));
    }
  }

  #take(): RawFrame | null {
    const b = this.#buffer;
    if (b.length < 2) return null;
    let len = b[1] & 0x7f;
    let at = 2;
    if (len === 126) {
      if (b.length < 4) return null;
      len = (b[2] << 8) | b[3];
      at = 4;
    } else if (len === 127) {
      if (b.length < 10) return null;
      len = Number(new DataView(b.buffer, b.byteOffset).getBigUint64(2));
      at = 10;
    }
    if (b[1] & 0x80) at += 4; // servers do not mask, but be lenient
    if (b.length < at + len) return null;
    const frame = { opcode: b[0] & 0x0f, payload: b.slice(at, at + len) };
    this.#buffer = b.slice(at + len);
    return frame;
  }

  close(): void {
    try {
      this.conn.close();
    } catch {
      // Already closed.
    }
  }
}

/** The close code and reason of a close frame. */
export function closeInfo(frame: RawFrame): { code: number; reason: string } {
  if (frame.payload.length < 2) return { code: 1005, reason: "" };
  return {
    code: (frame.payload[0] << 8) | frame.payload[1],
    reason: decoder.decode(frame.payload.subarray(2)),
  };
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
