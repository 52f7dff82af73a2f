/**
 * Test clients that act as a carrier's media server: they open a real
 * WebSocket to Parley, send the carrier's `connected`/`start`, stream caller
 * audio as media messages (20 ms frames by default, in real time if asked),
 * and collect what Parley sends back — audio, marks, clears.
 *
 * Written from the carriers' published protocol docs, NOT from Parley's
 * codecs (nothing under src/ is imported): Telnyx "Media Streaming over
 * WebSockets" and its AsyncAPI reference; Exotel's AgentStream "WebSocket
 * protocol" and Voicebot applet pages. G.711 comes from the independent npm
 * `alawmulaw` package; L16/slin byte order is written out by hand here.
 *
 * Behaviour mirrored from the docs: a mark Parley sends is echoed back once
 * the audio before it has "played" (here: at once, or held while
 * `echoMarks` is false), and a `clear` returns the marks still queued
 * (Telnyx documents this; for Exotel it is assumed the same way).
 */
import alawmulaw from "alawmulaw";
const { alaw, mulaw } = alawmulaw;

/** A JSON message as sent by Parley. */
export interface CarrierMessage {
  event: string;
  media?: { payload: string };
  mark?: { name: string };
  [key: string]: unknown;
}

/** One audio message Parley sent, decoded to PCM16. */
export interface ReceivedAudio {
  /** performance.now() when it arrived. */
  at: number;
  /** The samples at the outbound rate. */
  samples: Int16Array;
}

/** How audio is carried on the wire. */
export type WireAudio = "PCMU" | "PCMA" | "L16BE" | "L16LE";

function b64encode(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

function b64decode(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

/** Encodes PCM16 to wire bytes, independently of Parley. */
export function encodeWire(pcm: Int16Array, format: WireAudio): Uint8Array {
  if (format === "PCMU") return mulaw.encode(pcm) as Uint8Array;
  if (format === "PCMA") return alaw.encode(pcm) as Uint8Array;
  const out = new Uint8Array(pcm.length * 2);
  const view = new DataView(out.buffer);
  const little = format === "L16LE";
  for (let i = 0; i < pcm.length; i++) view.setInt16(i * 2, pcm[i], little);
  return out;
}

/** Decodes wire bytes to PCM16, independently of Parley. */
export function decodeWire(bytes: Uint8Array, format: WireAudio): Int16Array {
  if (format === "PCMU") return mulaw.decode(bytes) as Int16Array;
  if (format === "PCMA") return alaw.decode(bytes) as Int16Array;
  const n = bytes.length >> 1;
  const out = new Int16Array(n);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const little = format === "L16LE";
  for (let i = 0; i < n; i++) out[i] = view.getInt16(i * 2, little);
  return out;
}

/** Shared socket handling of the carrier clients. */
abstract class CarrierClient {
  readonly socket: WebSocket;
  /** Every JSON message Parley sent, in order. */
  readonly messages: CarrierMessage[] = [];
  /** Audio Parley sent, decoded. */
  readonly audio: ReceivedAudio[] = [];
  /** Marks Parley sent, in order. */
  readonly marks: string[] = [];
  /** Marks echoed back (played). */
  readonly echoed: string[] = [];
  /** `clear` messages received. */
  clears = 0;
  /** Non-JSON or binary messages received (a protocol error by Parley). */
  protocolErrors: string[] = [];
  /** When true, marks are echoed as soon as they arrive ("played"). */
  echoMarks = true;
  closeCode = 0;
  closeReason = "";
  #held: string[] = [];
  #listeners = new Set<() => void>();
  #closed: Promise<void>;
  #seq = 0;
  #chunk = 0;
  #sentMs = 0;

  protected constructor(
    socket: WebSocket,
    protected readonly outboundFormat: WireAudio,
    protected readonly rate: number,
  ) {
    this.socket = socket;
    this.#closed = new Promise((resolve) => {
      socket.addEventListener("close", (e) => {
        this.closeCode = e.code;
        this.closeReason = e.reason;
        resolve();
        this.#notify();
      });
    });
    socket.addEventListener("message", (e) => {
      if (typeof e.data !== "string") {
        this.protocolErrors.push("binary frame");
        this.#notify();
        return;
      }
      let msg: CarrierMessage;
      try {
        msg = JSON.parse(e.data);
      } catch {
        this.protocolErrors.push(`invalid JSON: ${e.data.slice(0, 80)}`);
        this.#notify();
        return;
      }
      this.messages.push(msg);
      this.onMessage(msg);
      this.#notify();
    });
  }

  /** Carrier-specific checks of each message; records audio/marks/clears. */
  protected onMessage(msg: CarrierMessage): void {
    switch (msg.event) {
      case "media":
        if (typeof msg.media?.payload !== "string") {
          this.protocolErrors.push("media without media.payload");
          return;
        }
        this.audio.push({
          at: performance.now(),
          samples: decodeWire(
            b64decode(msg.media.payload),
            this.outboundFormat,
          ),
        });
        return;
      case "mark":
        if (typeof msg.mark?.name !== "string") {
          this.protocolErrors.push("mark without mark.name");
          return;
        }
        this.marks.push(msg.mark.name);
        if (this.echoMarks) this.echoMark(msg.mark.name);
        else this.#held.push(msg.mark.name);
        return;
      case "clear":
        this.clears++;
        // Queued marks come back when playback is cleared.
        for (const name of this.#held.splice(0)) this.echoMark(name);
        return;
      default:
        this.protocolErrors.push(`unexpected event ${msg.event}`);
    }
  }

  /** Releases marks held while `echoMarks` was false. */
  releaseMarks(): void {
    for (const name of this.#held.splice(0)) this.echoMark(name);
  }

  /** Sends the carrier's mark echo. */
  protected abstract echoMark(name: string): void;
  /** Wraps one payload as the carrier's media message. */
  protected abstract mediaMessage(
    payload: string,
    seq: string,
    chunk: string,
    timestampMs: string,
  ): unknown;
  /** Format of the caller audio this client sends. */
  protected abstract get inboundFormat(): WireAudio;

  /** Sends one JSON message if the socket is open. */
  send(msg: unknown): void {
    if (this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(msg));
    }
  }

  /** Next sequence number, as the string the carriers send. */
  protected nextSeq(): string {
    return String(++this.#seq);
  }

  /** Sends raw wire bytes as one media message. */
  sendBytes(bytes: Uint8Array): void {
    this.#chunk++;
    const ms = this.#sentMs;
    const bytesPerSample = this.inboundFormat.startsWith("L16") ? 2 : 1;
    this.#sentMs += (bytes.length / bytesPerSample) / this.rate * 1000;
    this.send(
      this.mediaMessage(
        b64encode(bytes),
        this.nextSeq(),
        String(this.#chunk),
        String(Math.round(ms)),
      ),
    );
  }

  /**
   * Plays PCM16 caller audio at the stream's rate as `frameMs` frames
   * (default 20 ms); with `realtime`, frames leave on a 20 ms clock like a
   * phone call, otherwise as fast as possible.
   */
  async play(
    pcm: Int16Array,
    options: { realtime?: boolean; frameMs?: number } = {},
  ): Promise<void> {
    const frameMs = options.frameMs ?? 20;
    const step = Math.round(this.rate * frameMs / 1000);
    const t0 = performance.now();
    for (let i = 0, n = 0; i < pcm.length; i += step, n++) {
      if (options.realtime) {
        const wait = t0 + n * frameMs - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      if (this.socket.readyState !== WebSocket.OPEN) return;
      this.sendBytes(
        encodeWire(
          pcm.subarray(i, Math.min(i + step, pcm.length)),
          this.inboundFormat,
        ),
      );
    }
  }

  /** All audio Parley sent, concatenated. */
  receivedPcm(): Int16Array {
    const total = this.audio.reduce((n, a) => n + a.samples.length, 0);
    const out = new Int16Array(total);
    let o = 0;
    for (const a of this.audio) {
      out.set(a.samples, o);
      o += a.samples.length;
    }
    return out;
  }

  /** Resolves when `predicate` holds; rejects after `timeoutMs`. */
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

  /** Resolves when the socket has closed. */
  get closed(): Promise<void> {
    return this.#closed;
  }

  /** Closes the socket (as the carrier does on hang-up) and waits. */
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

async function open(
  url: string,
  headers?: HeadersInit,
): Promise<WebSocket> {
  const socket = headers ? new WebSocket(url, { headers }) : new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    socket.onopen = () => resolve();
    socket.onerror = (e) =>
      reject(
        new Error(`connect to ${url} failed: ${(e as ErrorEvent).message}`),
      );
  });
  socket.onerror = null;
  return socket;
}

// --- Telnyx ----------------------------------------------------------------

/** Options of {@linkcode TelnyxTestClient.connect}. */
export interface TelnyxClientOptions {
  /** `stream_id` (default: a random UUID, upper case as in the docs). */
  streamId?: string;
  /** `start.call_control_id` (default: a random `v3:` id). */
  callControlId?: string;
  /** Encoding of the caller audio in `start.media_format`. Default PCMU. */
  encoding?: "PCMU" | "PCMA" | "L16";
  /** `start.media_format.sample_rate`. Default 8000. */
  sampleRate?: number;
  /**
   * What the answer document set for audio back (`bidirectionalCodec`).
   * Default PCMU; L16 is read big-endian (network order).
   */
  outboundEncoding?: "PCMU" | "PCMA" | "L16";
  /** `start.custom_parameters`. */
  customParameters?: Record<string, string>;
  /** Send `connected` + `start` at once (default true). */
  sendStart?: boolean;
  /** A stream auth token, sent as the `x-telnyx-streaming-auth-token` header and in `connected`. */
  streamingAuthToken?: string;
}

/** Acts as Telnyx media streaming towards Parley. */
export class TelnyxTestClient extends CarrierClient {
  readonly streamId: string;
  readonly callControlId: string;
  readonly #encoding: "PCMU" | "PCMA" | "L16";
  readonly #options: TelnyxClientOptions;

  private constructor(socket: WebSocket, options: TelnyxClientOptions) {
    const out = options.outboundEncoding ?? "PCMU";
    super(
      socket,
      out === "L16" ? "L16BE" : out,
      options.sampleRate ?? 8000,
    );
    this.#options = options;
    this.#encoding = options.encoding ?? "PCMU";
    this.streamId = options.streamId ?? crypto.randomUUID().toUpperCase();
    this.callControlId = options.callControlId ??
      `v3:${crypto.randomUUID().replaceAll("-", "")}`;
  }

  /** Opens the socket and (by default) sends `connected` and `start`. */
  static async connect(
    url: string,
    options: TelnyxClientOptions = {},
  ): Promise<TelnyxTestClient> {
    const token = options.streamingAuthToken;
    const socket = await open(
      url,
      token ? { "x-telnyx-streaming-auth-token": token } : undefined,
    );
    const client = new TelnyxTestClient(socket, options);
    client.send(
      token
        ? {
          event: "connected",
          version: "1.0.0",
          connected: { "x-telnyx-streaming-auth-token": token },
        }
        : { event: "connected", version: "1.0.0" },
    );
    if (options.sendStart ?? true) client.start();
    return client;
  }

  protected get inboundFormat(): WireAudio {
    return this.#encoding === "L16" ? "L16BE" : this.#encoding;
  }

  /** Sends the `start` frame. */
  start(): void {
    this.send({
      event: "start",
      sequence_number: this.nextSeq(),
      stream_id: this.streamId,
      start: {
        user_id: "3E6F995F-85F7-4705-9741-53B116D28237",
        call_control_id: this.callControlId,
        call_session_id: crypto.randomUUID(),
        from: "+13122010094",
        to: "+13122123456",
        tags: [],
        client_state: null,
        custom_parameters: this.#options.customParameters ?? {},
        media_format: {
          encoding: this.#encoding,
          sample_rate: this.rate,
          channels: 1,
        },
      },
    });
  }

  protected mediaMessage(
    payload: string,
    seq: string,
    chunk: string,
    timestamp: string,
  ): unknown {
    return {
      event: "media",
      sequence_number: seq,
      media: { track: "inbound", chunk, timestamp, payload },
      stream_id: this.streamId,
    };
  }

  protected echoMark(name: string): void {
    this.echoed.push(name);
    this.send({
      event: "mark",
      sequence_number: this.nextSeq(),
      stream_id: this.streamId,
      mark: { name },
    });
  }

  /** Sends a DTMF key press. */
  dtmf(digit: string): void {
    this.send({
      event: "dtmf",
      stream_id: this.streamId,
      occurred_at: new Date().toISOString(),
      sequence_number: this.nextSeq(),
      dtmf: { digit },
    });
  }

  /** Sends a Telnyx stream error frame. */
  error(code: number, title: string, detail: string): void {
    this.send({
      event: "error",
      sequence_number: this.nextSeq(),
      stream_id: this.streamId,
      payload: { code, title, detail },
    });
  }

  /** Sends `stop` (the call or the stream ended). */
  stop(): void {
    this.send({
      event: "stop",
      sequence_number: this.nextSeq(),
      stop: {
        user_id: "3E6F995F-85F7-4705-9741-53B116D28237",
        call_control_id: this.callControlId,
      },
      stream_id: this.streamId,
    });
  }

  protected override onMessage(msg: CarrierMessage): void {
    // Telnyx's client frames are media/mark/clear; anything else is a bug.
    if (!["media", "mark", "clear"].includes(msg.event)) {
      this.protocolErrors.push(`unexpected event ${msg.event}`);
      return;
    }
    super.onMessage(msg);
  }
}

// --- Exotel ----------------------------------------------------------------

/** Options of {@linkcode ExotelTestClient.connect}. */
export interface ExotelClientOptions {
  /** `stream_sid` (default: `MZ` + 32 hex digits). */
  streamSid?: string;
  /** `start.call_sid` (default: random). */
  callSid?: string;
  /** 8000 (default), 16000 or 24000 — what `?sample-rate=` asked for. */
  sampleRate?: number;
  /** `slin` (the Voicebot applet's raw PCM, default) or `mulaw`. */
  encoding?: "slin" | "mulaw";
  /** `start.custom_parameters` (Exotel: the stream URL's query values). */
  customParameters?: Record<string, string>;
  /** Send `connected` + `start` at once (default true). */
  sendStart?: boolean;
}

/** Acts as Exotel's Voicebot applet towards Parley. */
export class ExotelTestClient extends CarrierClient {
  readonly streamSid: string;
  readonly callSid: string;
  readonly #encoding: "slin" | "mulaw";
  readonly #options: ExotelClientOptions;

  private constructor(socket: WebSocket, options: ExotelClientOptions) {
    const encoding = options.encoding ?? "slin";
    super(
      socket,
      encoding === "mulaw" ? "PCMU" : "L16LE",
      options.sampleRate ?? 8000,
    );
    this.#encoding = encoding;
    this.#options = options;
    const hex = () => crypto.randomUUID().replaceAll("-", "");
    this.streamSid = options.streamSid ?? `MZ${hex()}`;
    this.callSid = options.callSid ?? `CA${hex()}`;
  }

  /**
   * Opens the socket and (by default) sends `connected` and `start`.
   * Credentials in the URL (`ws://KEY:TOKEN@host/…`) are sent as an
   * `Authorization: Basic` header, as Exotel does.
   */
  static async connect(
    url: string,
    options: ExotelClientOptions = {},
  ): Promise<ExotelTestClient> {
    const u = new URL(url);
    let headers: HeadersInit | undefined;
    if (u.username) {
      const user = decodeURIComponent(u.username);
      const pass = decodeURIComponent(u.password);
      headers = { authorization: `Basic ${btoa(`${user}:${pass}`)}` };
      u.username = "";
      u.password = "";
    }
    const socket = await open(u.toString(), headers);
    const client = new ExotelTestClient(socket, options);
    client.send({ event: "connected" });
    if (options.sendStart ?? true) client.start();
    return client;
  }

  protected get inboundFormat(): WireAudio {
    return this.#encoding === "mulaw" ? "PCMU" : "L16LE";
  }

  /** Sends the `start` frame. */
  start(): void {
    this.send({
      event: "start",
      sequence_number: this.nextSeq(),
      stream_sid: this.streamSid,
      start: {
        stream_sid: this.streamSid,
        call_sid: this.callSid,
        account_sid: "exotel_test_account",
        from: "+919876543210",
        to: "+918047491899",
        custom_parameters: this.#options.customParameters ?? {},
        media_format: this.#encoding === "mulaw"
          ? { encoding: "audio/x-mulaw", sample_rate: "8000", bit_rate: "8" }
          : {
            encoding: "audio/x-raw",
            sample_rate: String(this.rate),
            bit_rate: "16",
          },
      },
    });
  }

  protected mediaMessage(
    payload: string,
    seq: string,
    chunk: string,
    timestamp: string,
  ): unknown {
    return {
      event: "media",
      sequence_number: seq,
      stream_sid: this.streamSid,
      media: { chunk, timestamp, payload },
    };
  }

  protected echoMark(name: string): void {
    this.echoed.push(name);
    this.send({
      event: "mark",
      sequence_number: this.nextSeq(),
      stream_sid: this.streamSid,
      mark: { name },
    });
  }

  /** Sends a DTMF key press. */
  dtmf(digit: string, durationMs = 100): void {
    this.send({
      event: "dtmf",
      sequence_number: this.nextSeq(),
      stream_sid: this.streamSid,
      dtmf: { digit, duration: String(durationMs) },
    });
  }

  /** Sends `stop` (`reason`: `stopped` or `callended`). */
  stop(reason: "stopped" | "callended" = "callended"): void {
    this.send({
      event: "stop",
      sequence_number: this.nextSeq(),
      stream_sid: this.streamSid,
      stop: {
        call_sid: this.callSid,
        account_sid: "exotel_test_account",
        reason,
      },
    });
  }

  protected override onMessage(msg: CarrierMessage): void {
    // Exotel expects stream_sid on every message it receives.
    if (msg.stream_sid !== this.streamSid) {
      this.protocolErrors.push(
        `${msg.event} with stream_sid ${String(msg.stream_sid)}`,
      );
    }
    if (
      this.#encoding === "slin" && msg.event === "media" &&
      typeof msg.media?.payload === "string"
    ) {
      const size = b64decode(msg.media.payload).length;
      if (size % 320 !== 0) {
        this.protocolErrors.push(
          `media of ${size} bytes (not a multiple of 320)`,
        );
      }
    }
    super.onMessage(msg);
  }
}
