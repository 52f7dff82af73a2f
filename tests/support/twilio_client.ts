/**
 * A Twilio Media Streams client for tests, written from Twilio's published
 * protocol (connected/start/media/dtmf/mark/stop in, media/mark/clear out),
 * not from Parley's server code. μ-law comes from the independent npm
 * `alawmulaw` package.
 */
import alawmulaw from "alawmulaw";
const { mulaw } = alawmulaw;

export interface TwilioMessage {
  event: string;
  streamSid?: string;
  media?: { payload: string };
  mark?: { name: string };
  [key: string]: unknown;
}

export interface ReceivedMedia {
  /** performance.now() when the message arrived. */
  at: number;
  /** μ-law bytes. */
  bytes: Uint8Array;
}

export class TwilioTestClient {
  readonly socket: WebSocket;
  readonly streamSid: string;
  readonly callSid: string;
  readonly messages: TwilioMessage[] = [];
  readonly media: ReceivedMedia[] = [];
  /** When true, marks are echoed back as Twilio does once audio "played". */
  echoMarks = true;
  #seq = 0;
  #chunk = 0;
  #closed: Promise<void>;
  #listeners = new Set<() => void>();
  closeCode = 0;

  private constructor(socket: WebSocket, streamSid: string, callSid: string) {
    this.socket = socket;
    this.streamSid = streamSid;
    this.callSid = callSid;
    this.#closed = new Promise((resolve) => {
      socket.addEventListener("close", (e) => {
        this.closeCode = e.code;
        resolve();
        this.#notify();
      });
    });
    socket.addEventListener("message", (e) => {
      const msg = JSON.parse(e.data as string) as TwilioMessage;
      this.messages.push(msg);
      if (msg.event === "media" && msg.media) {
        this.media.push({
          at: performance.now(),
          bytes: Uint8Array.from(
            atob(msg.media.payload),
            (c) => c.charCodeAt(0),
          ),
        });
      }
      if (msg.event === "mark" && this.echoMarks && msg.mark) {
        // Twilio echoes a mark once the audio before it has played; the
        // test client "plays" instantly.
        this.send({ event: "mark", streamSid: this.streamSid, mark: msg.mark });
      }
      this.#notify();
    });
  }

  static async connect(
    url: string,
    options: {
      streamSid?: string;
      callSid?: string;
      customParameters?: Record<string, string>;
      sendStart?: boolean;
      /** Upgrade request headers (e.g. `x-twilio-signature`). */
      headers?: Record<string, string>;
    } = {},
  ): Promise<TwilioTestClient> {
    const socket = new WebSocket(url, { headers: options.headers });
    await new Promise<void>((resolve, reject) => {
      socket.onopen = () => resolve();
      socket.onerror = (e) =>
        reject(new Error(`connect failed: ${(e as ErrorEvent).message}`));
    });
    socket.onerror = null;
    const client = new TwilioTestClient(
      socket,
      options.streamSid ?? `MZ${crypto.randomUUID().replaceAll("-", "")}`,
      options.callSid ?? `CA${crypto.randomUUID().replaceAll("-", "")}`,
    );
    client.send({ event: "connected", protocol: "Call", version: "1.0.0" });
    if (options.sendStart ?? true) client.start(options.customParameters ?? {});
    return client;
  }

  send(msg: unknown): void {
    if (this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(msg));
    }
  }

  start(customParameters: Record<string, string> = {}): void {
    this.send({
      event: "start",
      sequenceNumber: String(++this.#seq),
      streamSid: this.streamSid,
      start: {
        streamSid: this.streamSid,
        accountSid: "AC00000000000000000000000000000000",
        callSid: this.callSid,
        tracks: ["inbound"],
        customParameters,
        mediaFormat: {
          encoding: "audio/x-mulaw",
          sampleRate: 8000,
          channels: 1,
        },
      },
    });
  }

  /** Sends raw μ-law bytes as one media message. */
  sendMulaw(bytes: Uint8Array): void {
    this.#chunk++;
    this.send({
      event: "media",
      sequenceNumber: String(++this.#seq),
      streamSid: this.streamSid,
      media: {
        track: "inbound",
        chunk: String(this.#chunk),
        timestamp: String(this.#chunk * 20),
        payload: btoa(String.fromCharCode(...bytes)),
      },
    });
  }

  /**
   * Plays μ-law audio as 20 ms frames. With `realtime`, frames are sent at
   * 20 ms intervals like a phone call; otherwise as fast as possible.
   */
  async play(
    bytes: Uint8Array,
    options: { realtime?: boolean } = {},
  ): Promise<void> {
    const start = performance.now();
    for (let i = 0, n = 0; i < bytes.length; i += 160, n++) {
      if (options.realtime) {
        const due = start + n * 20;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      if (this.socket.readyState !== WebSocket.OPEN) return;
      this.sendMulaw(bytes.subarray(i, Math.min(i + 160, bytes.length)));
    }
  }

  /** Plays PCM16 audio (8 kHz), encoded with alawmulaw. */
  playPcm(
    pcm: Int16Array,
    options: { realtime?: boolean } = {},
  ): Promise<void> {
    return this.play(encodeMulawRef(pcm), options);
  }

  dtmf(digit: string): void {
    this.send({
      event: "dtmf",
      streamSid: this.streamSid,
      sequenceNumber: String(++this.#seq),
      dtmf: { track: "inbound_track", digit },
    });
  }

  stop(): void {
    this.send({
      event: "stop",
      sequenceNumber: String(++this.#seq),
      streamSid: this.streamSid,
      stop: {
        accountSid: "AC00000000000000000000000000000000",
        callSid: this.callSid,
      },
    });
  }

  /** All received audio decoded to PCM16. */
  receivedPcm(): Int16Array {
    const total = this.media.reduce((n, m) => n + m.bytes.length, 0);
    const all = new Uint8Array(total);
    let o = 0;
    for (const m of this.media) {
      all.set(m.bytes, o);
      o += m.bytes.length;
    }
    return decodeMulawRef(all);
  }

  /** Resolves when `predicate` holds, rejects after `timeoutMs`. */
  waitFor(
    predicate: () => boolean,
    timeoutMs = 5000,
    what = "condition",
  ): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (predicate()) {
          cleanup();
          resolve();
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(
          new Error(`timed out after ${timeoutMs} ms waiting for ${what}`),
        );
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.#listeners.delete(check);
      };
      this.#listeners.add(check);
    });
  }

  get closed(): Promise<void> {
    return this.#closed;
  }

  async close(): Promise<void> {
    if (
      this.socket.readyState === WebSocket.OPEN ||
      this.socket.readyState === WebSocket.CONNECTING
    ) {
      this.socket.close();
    }
    await this.#closed;
  }

  #notify(): void {
    for (const l of [...this.#listeners]) l();
  }
}

export function encodeMulawRef(pcm: Int16Array): Uint8Array {
  return mulaw.encode(pcm) as Uint8Array;
}

export function decodeMulawRef(bytes: Uint8Array): Int16Array {
  return mulaw.decode(bytes) as Int16Array;
}

/** Reads a raw μ-law fixture. */
export async function readFixture(name: string): Promise<Uint8Array> {
  return await Deno.readFile(new URL(`../fixtures/${name}`, import.meta.url));
}
