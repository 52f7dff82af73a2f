/**
 * Test clients that act as Plivo, Vonage and SignalWire towards a media
 * WebSocket, written from each carrier's published protocol pages (see the
 * class docs), not from Parley's codecs — nothing here imports `src/`.
 * μ-law comes from the independent npm `alawmulaw` package; L16 is written
 * with a DataView.
 *
 * Each client opens a real WebSocket, sends the carrier's start message,
 * plays audio as 20 ms frames (in real time with `realtime: true`),
 * answers marks / checkpoints / notifies and clears the way the carrier
 * does, and collects everything that comes back.
 */
import alawmulaw from "alawmulaw";
const { mulaw } = alawmulaw;

/** One audio message received from the server. */
export interface ReceivedAudio {
  /** performance.now() when it arrived. */
  at: number;
  /** Decoded PCM16 samples. */
  samples: Int16Array;
}

/** Shared socket plumbing of the three clients. */
abstract class CarrierClient {
  readonly socket: WebSocket;
  /** Every text message received, parsed. */
  readonly messages: Record<string, unknown>[] = [];
  /** Audio received, decoded, in order. */
  readonly audio: ReceivedAudio[] = [];
  /** Text messages that were not JSON (a protocol error by the server). */
  readonly badText: string[] = [];
  closeCode = 0;
  closeReason = "";
  /**
   * How received audio "plays": `instant` answers marks at once; `realtime`
   * plays queued audio on a clock like a phone, answers a mark when the
   * audio before it has played, and on a clear drops what was not played
   * yet (counted in `flushedMs`).
   */
  playback: "instant" | "realtime" = "instant";
  /** Milliseconds of queued audio a clear dropped before it played. */
  flushedMs = 0;
  #closed: Promise<void>;
  #listeners = new Set<() => void>();
  /** performance.now() at which the queued audio ends. */
  #playhead = 0;
  #markers = new Map<ReturnType<typeof setTimeout>, () => void>();

  protected constructor(socket: WebSocket) {
    this.socket = socket;
    socket.addEventListener("close", () => {
      for (const timer of this.#markers.keys()) clearTimeout(timer);
      this.#markers.clear();
    });
    socket.binaryType = "arraybuffer";
    this.#closed = new Promise((resolve) => {
      socket.addEventListener("close", (e) => {
        this.closeCode = e.code;
        this.closeReason = e.reason;
        resolve();
        this.notify();
      });
    });
    socket.addEventListener("message", (e) => {
      if (typeof e.data === "string") {
        let msg: Record<string, unknown>;
        try {
          msg = JSON.parse(e.data);
        } catch {
          this.badText.push(e.data);
          this.notify();
          return;
        }
        this.messages.push(msg);
        this.onText(msg);
      } else {
        this.onBinary(new Uint8Array(e.data as ArrayBuffer));
      }
      this.notify();
    });
  }

  protected static open(
    url: string,
    headers?: HeadersInit,
  ): Promise<WebSocket> {
    const socket = headers
      ? new WebSocket(url, { headers })
      : new WebSocket(url);
    return new Promise((resolve, reject) => {
      socket.onopen = () => {
        socket.onerror = null;
        resolve(socket);
      };
      socket.onerror = (e) =>
        reject(new Error(`connect failed: ${(e as ErrorEvent).message}`));
    });
  }

  protected abstract onText(msg: Record<string, unknown>): void;

  protected onBinary(_bytes: Uint8Array): void {
    this.badText.push("<unexpected binary message>");
  }

  /** Samples per 20 ms frame. */
  protected abstract get frameSamples(): number;

  /** Sends one 20 ms frame of caller audio. */
  protected abstract sendFrame(samples: Int16Array): void;

  /** Queues received audio on the playout clock. */
  protected queueAudio(samples: Int16Array, rate: number): void {
    this.audio.push({ at: performance.now(), samples });
    const start = Math.max(performance.now(), this.#playhead);
    this.#playhead = start + (samples.length * 1000) / rate;
  }

  /** Runs `answer` once the audio queued so far has played. */
  protected afterPlayback(answer: () => void): void {
    const wait = this.#playhead - performance.now();
    if (this.playback === "instant" || wait <= 0) return answer();
    const timer = setTimeout(() => {
      this.#markers.delete(timer);
      answer();
      this.notify();
    }, wait);
    this.#markers.set(timer, answer);
  }

  /**
   * Drops unplayed audio; returns the answers of the marks that were
   * waiting for it (the carrier decides whether they are still sent).
   */
  protected flushPlayback(): (() => void)[] {
    const now = performance.now();
    if (this.#playhead > now) this.flushedMs += this.#playhead - now;
    this.#playhead = now;
    const pending = [...this.#markers.entries()];
    this.#markers.clear();
    for (const [timer] of pending) clearTimeout(timer);
    return pending.map(([, answer]) => answer);
  }

  /** Sends one JSON message if the socket is open. */
  send(msg: unknown): void {
    if (this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(msg));
    }
  }

  /**
   * Plays PCM16 audio (at the stream's rate) as 20 ms frames; with
   * `realtime`, one frame every 20 ms like a phone call.
   */
  async play(
    pcm: Int16Array,
    options: { realtime?: boolean } = {},
  ): Promise<void> {
    const start = performance.now();
    const n = this.frameSamples;
    for (let i = 0, k = 0; i < pcm.length; i += n, k++) {
      if (options.realtime) {
        const wait = start + k * 20 - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      if (this.socket.readyState !== WebSocket.OPEN) return;
      this.sendFrame(pcm.subarray(i, Math.min(i + n, pcm.length)));
    }
  }

  /** All received audio, concatenated. */
  receivedPcm(): Int16Array {
    const total = this.audio.reduce((s, a) => s + a.samples.length, 0);
    const out = new Int16Array(total);
    let o = 0;
    for (const a of this.audio) {
      out.set(a.samples, o);
      o += a.samples.length;
    }
    return out;
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

  /** Resolves when the socket has closed. */
  get closed(): Promise<void> {
    return this.#closed;
  }

  /** Hangs up: closes the socket and waits for the close. */
  async close(): Promise<void> {
    if (
      this.socket.readyState === WebSocket.OPEN ||
      this.socket.readyState === WebSocket.CONNECTING
    ) {
      this.socket.close(1000, "hang up");
    }
    await this.#closed;
  }

  protected notify(): void {
    for (const l of [...this.#listeners]) l();
  }
}

function base64(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

function unbase64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

function l16Bytes(
  samples: Int16Array,
  little: boolean,
  length = samples.length,
) {
  const out = new Uint8Array(length * 2);
  const view = new DataView(out.buffer);
  for (let i = 0; i < samples.length && i < length; i++) {
    view.setInt16(i * 2, samples[i], little);
  }
  return out;
}

function l16Samples(bytes: Uint8Array, little: boolean): Int16Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Int16Array(bytes.byteLength >> 1);
  for (let i = 0; i < out.length; i++) out[i] = view.getInt16(i * 2, little);
  return out;
}

// ---------------------------------------------------------------- Plivo ---

/** Content types of a Plivo `<Stream>`. */
export type PlivoContentType =
  | "audio/x-mulaw;rate=8000"
  | "audio/x-l16;rate=8000"
  | "audio/x-l16;rate=16000";

/**
 * Acts as Plivo Audio Streams (plivo.com/docs/voice/audio-streaming/
 * audio-streaming): sends `start`, `media`, `dtmf`; answers `checkpoint`
 * with `playedStream` and `clearAudio` with `clearedAudio`; decodes
 * `playAudio` by its `media.contentType`. L16 is little-endian.
 */
export class PlivoTestClient extends CarrierClient {
  readonly streamId: string;
  readonly callId: string;
  readonly contentType: PlivoContentType;
  readonly rate: number;
  /** Answer checkpoints with playedStream (default true). */
  answerCheckpoints = true;
  /** Checkpoint names received, in order. */
  readonly checkpoints: string[] = [];
  /** Number of clearAudio messages received. */
  clears = 0;
  /** playAudio messages whose contentType/sampleRate were not the stream's. */
  readonly formatMismatches: string[] = [];
  #seq = 0;
  #chunk = 0;
  #extraHeaders: string;
  #t0 = Date.now();

  private constructor(
    socket: WebSocket,
    options: PlivoConnectOptions,
  ) {
    super(socket);
    this.streamId = options.streamId ?? crypto.randomUUID();
    this.callId = options.callId ?? crypto.randomUUID();
    this.contentType = options.contentType ?? "audio/x-mulaw;rate=8000";
    this.rate = Number(this.contentType.split("rate=")[1]);
    this.#extraHeaders = Object.entries(options.extraHeaders ?? {})
      .map(([k, v]) => `${k}=${v}`).join(";");
  }

  /** Opens the socket and (by default) sends `start`. */
  static async connect(
    url: string,
    options: PlivoConnectOptions = {},
  ): Promise<PlivoTestClient> {
    const client = new PlivoTestClient(await CarrierClient.open(url), options);
    client.playback = options.playback ?? "instant";
    if (options.sendStart ?? true) client.start();
    return client;
  }

  /** Sends the start message. */
  start(): void {
    this.send({
      event: "start",
      sequenceNumber: ++this.#seq,
      start: {
        callId: this.callId,
        streamId: this.streamId,
        accountId: "MAXXXXXXXXXXXXXXXXXX",
        tracks: ["inbound"],
        mediaFormat: {
          encoding: this.contentType.split(";")[0],
          sampleRate: this.rate,
        },
      },
      extra_headers: this.#extraHeaders,
    });
  }

  protected get frameSamples(): number {
    return this.rate / 50;
  }

  protected sendFrame(samples: Int16Array): void {
    const bytes = this.contentType.startsWith("audio/x-mulaw")
      ? mulaw.encode(samples) as Uint8Array
      : l16Bytes(samples, true);
    this.sendMedia(bytes);
  }

  /** Sends raw payload bytes as one media message. */
  sendMedia(bytes: Uint8Array): void {
    this.#chunk++;
    this.send({
      event: "media",
      sequenceNumber: ++this.#seq,
      streamId: this.streamId,
      media: {
        track: "inbound",
        timestamp: String(this.#t0 + this.#chunk * 20),
        chunk: this.#chunk,
        payload: base64(bytes),
      },
      extra_headers: this.#extraHeaders,
    });
  }

  /** Sends a key press. */
  dtmf(digit: string): void {
    this.send({
      event: "dtmf",
      sequenceNumber: ++this.#seq,
      streamId: this.streamId,
      dtmf: { track: "inbound", digit, timestamp: String(Date.now()) },
      extra_headers: this.#extraHeaders,
    });
  }

  protected onText(msg: Record<string, unknown>): void {
    switch (msg.event) {
      case "playAudio": {
        const media = msg.media as Record<string, unknown>;
        const type = String(media?.contentType);
        if (
          type !== this.contentType.split(";")[0] ||
          media.sampleRate !== this.rate
        ) {
          this.formatMismatches.push(`${type}@${media?.sampleRate}`);
        }
        const bytes = unbase64(String(media.payload));
        const samples = type === "audio/x-mulaw"
          ? mulaw.decode(bytes) as Int16Array
          : l16Samples(bytes, true);
        this.queueAudio(samples, Number(media.sampleRate) || this.rate);
        return;
      }
      case "checkpoint": {
        const name = String(msg.name);
        this.checkpoints.push(name);
        // Plivo answers once the audio queued before it has played.
        if (this.answerCheckpoints) {
          this.afterPlayback(() =>
            this.send({
              event: "playedStream",
              sequenceNumber: ++this.#seq,
              streamId: this.streamId,
              name,
            })
          );
        }
        return;
      }
      case "clearAudio":
        this.clears++;
        // "playedStream will only be emitted if the preceding events were
        // played successfully": checkpoints behind cleared audio are dropped.
        this.flushPlayback();
        this.send({
          event: "clearedAudio",
          sequenceNumber: ++this.#seq,
          streamId: this.streamId,
        });
        return;
    }
  }
}

/** Options of {@linkcode PlivoTestClient.connect}. */
export interface PlivoConnectOptions {
  streamId?: string;
  callId?: string;
  contentType?: PlivoContentType;
  extraHeaders?: Record<string, string>;
  sendStart?: boolean;
  /** How received audio plays (default `instant`). */
  playback?: "instant" | "realtime";
}

// --------------------------------------------------------------- Vonage ---

/**
 * Acts as the Vonage Voice API WebSocket (developer.vonage.com/en/voice/
 * voice-api/guides/websockets): sends `websocket:connected` with the
 * content type and headers, then binary 20 ms frames of 16-bit
 * little-endian PCM; `websocket:dtmf`; answers `{"action":"notify"}` with
 * `websocket:notify` and `{"action":"clear"}` with `websocket:cleared`.
 */
export class VonageTestClient extends CarrierClient {
  readonly rate: number;
  readonly headers: Record<string, unknown>;
  /** Payloads of notify actions received, in order. */
  readonly notifies: unknown[] = [];
  /** Number of clear actions received. */
  clears = 0;
  /** Byte sizes of received binary frames that were not exactly 20 ms. */
  readonly badFrameSizes: number[] = [];
  /** Answer notify actions (default true). */
  answerNotifies = true;

  private constructor(
    socket: WebSocket,
    rate: number,
    headers: Record<string, unknown>,
  ) {
    super(socket);
    this.rate = rate;
    this.headers = headers;
  }

  /** Opens the socket and (by default) sends `websocket:connected`. */
  static async connect(
    url: string,
    options: {
      rate?: 8000 | 16000;
      headers?: Record<string, unknown>;
      sendConnected?: boolean;
      /** How received audio plays (default `instant`). */
      playback?: "instant" | "realtime";
    } = {},
  ): Promise<VonageTestClient> {
    const client = new VonageTestClient(
      await CarrierClient.open(url),
      options.rate ?? 16000,
      options.headers ?? { uuid: crypto.randomUUID() },
    );
    client.playback = options.playback ?? "instant";
    if (options.sendConnected ?? true) client.connected();
    return client;
  }

  /** Sends the first message. */
  connected(): void {
    this.send({
      event: "websocket:connected",
      "content-type": `audio/l16;rate=${this.rate}`,
      ...this.headers,
    });
  }

  protected get frameSamples(): number {
    return this.rate / 50;
  }

  protected sendFrame(samples: Int16Array): void {
    // Vonage sends exactly 20 ms per message; pad the last frame.
    if (this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(l16Bytes(samples, true, this.frameSamples));
    }
  }

  /** Sends a key press. */
  dtmf(digit: string): void {
    this.send({ event: "websocket:dtmf", digit, duration: 260 });
  }

  protected override onBinary(bytes: Uint8Array): void {
    if (bytes.byteLength !== this.frameSamples * 2) {
      this.badFrameSizes.push(bytes.byteLength);
    }
    this.queueAudio(l16Samples(bytes, true), this.rate);
  }

  protected onText(msg: Record<string, unknown>): void {
    if (msg.action === "notify") {
      this.notifies.push(msg.payload);
      if (this.answerNotifies) {
        this.afterPlayback(() =>
          this.send({ event: "websocket:notify", payload: msg.payload })
        );
      }
    } else if (msg.action === "clear") {
      this.clears++;
      // Vonage does not say what happens to a notify queued behind cleared
      // audio; this client assumes it is cleared with the audio.
      this.flushPlayback();
      this.send({ event: "websocket:cleared" });
    }
  }
}

// ----------------------------------------------------------- SignalWire ---

/** Codecs of a SignalWire `<Stream>`. */
export type SignalWireCodec = "PCMU@8000h" | "L16@16000h" | "L16@24000h";

/**
 * Acts as SignalWire's cXML bidirectional stream (developer.signalwire.com/
 * compatibility-api/cxml/voice/stream): `connected`, `start`, `media`,
 * `dtmf`, `stop`, by default inside the documented envelope
 * `{timestamp, direction, eventType, streamSid, rawEvent}`; echoes `mark`
 * and answers `clear` with a `clear` acknowledgement. L16 is little-endian.
 */
export class SignalWireTestClient extends CarrierClient {
  readonly streamSid: string;
  readonly callSid: string;
  readonly codec: SignalWireCodec;
  readonly rate: number;
  /** Wrap messages in SignalWire's documented envelope (default true). */
  readonly envelope: boolean;
  /** Mark names received, in order. */
  readonly marks: string[] = [];
  /** Number of clear messages received. */
  clears = 0;
  /** Echo marks back (default true). */
  echoMarks = true;
  #seq = 0;
  #chunk = 0;

  private constructor(socket: WebSocket, options: SignalWireConnectOptions) {
    super(socket);
    this.streamSid = options.streamSid ?? crypto.randomUUID();
    this.callSid = options.callSid ?? crypto.randomUUID();
    this.codec = options.codec ?? "PCMU@8000h";
    this.rate = Number(/@(\d+)h$/.exec(this.codec)![1]);
    this.envelope = options.envelope ?? true;
  }

  /** Opens the socket and (by default) sends `connected` and `start`. */
  static async connect(
    url: string,
    options: SignalWireConnectOptions = {},
  ): Promise<SignalWireTestClient> {
    const client = new SignalWireTestClient(
      await CarrierClient.open(url, options.headers),
      options,
    );
    client.playback = options.playback ?? "instant";
    client.event({ event: "connected", protocol: "Call", version: "0.2.0" });
    if (options.sendStart ?? true) client.start(options.customParameters ?? {});
    return client;
  }

  /** Sends one event, wrapped in the envelope when `envelope` is set. */
  event(raw: Record<string, unknown>): void {
    if (!this.envelope) return this.send(raw);
    this.send({
      timestamp: new Date().toISOString(),
      direction: "inbound",
      eventType: raw.event,
      streamSid: this.streamSid,
      sequenceNumber: raw.sequenceNumber,
      rawEvent: raw,
    });
  }

  /** Sends the start message. */
  start(customParameters: Record<string, string> = {}): void {
    this.event({
      event: "start",
      sequenceNumber: String(++this.#seq),
      start: {
        streamSid: this.streamSid,
        accountSid: "b08dacad-2f6c-4de1-93d6-cc732e0c69c5",
        callSid: this.callSid,
        tracks: ["inbound"],
        customParameters,
        mediaFormat: {
          encoding: this.codec === "PCMU@8000h"
            ? "audio/x-mulaw"
            : "audio/x-L16",
          sampleRate: this.rate,
          channels: 1,
        },
      },
    });
  }

  protected get frameSamples(): number {
    return this.rate / 50;
  }

  protected sendFrame(samples: Int16Array): void {
    const bytes = this.codec === "PCMU@8000h"
      ? mulaw.encode(samples) as Uint8Array
      : l16Bytes(samples, true);
    this.#chunk++;
    this.event({
      event: "media",
      sequenceNumber: String(++this.#seq),
      media: {
        track: "inbound",
        chunk: String(this.#chunk),
        timestamp: String(this.#chunk * 20),
        payload: base64(bytes),
      },
    });
  }

  /** Sends a key press. */
  dtmf(digit: string): void {
    this.event({
      event: "dtmf",
      streamSid: this.streamSid,
      sequenceNumber: String(++this.#seq),
      dtmf: { duration: 120, digit },
    });
  }

  /** Sends stop (the caller hung up). */
  stop(): void {
    this.event({ event: "stop", sequenceNumber: String(++this.#seq) });
  }

  protected onText(msg: Record<string, unknown>): void {
    switch (msg.event) {
      case "media": {
        const media = msg.media as Record<string, unknown>;
        const bytes = unbase64(String(media?.payload));
        const samples = this.codec === "PCMU@8000h"
          ? mulaw.decode(bytes) as Int16Array
          : l16Samples(bytes, true);
        this.queueAudio(samples, this.rate);
        return;
      }
      case "mark": {
        const mark = msg.mark as { name: string };
        this.marks.push(mark.name);
        if (this.echoMarks) {
          this.afterPlayback(() =>
            this.event({ event: "mark", streamSid: this.streamSid, mark })
          );
        }
        return;
      }
      case "clear":
        this.clears++;
        // SignalWire acknowledges the clear and returns the marks of the
        // flushed audio at once.
        this.event({ event: "clear", streamSid: this.streamSid });
        for (const answer of this.flushPlayback()) answer();
        return;
    }
  }
}

/** Options of {@linkcode SignalWireTestClient.connect}. */
export interface SignalWireConnectOptions {
  streamSid?: string;
  callSid?: string;
  codec?: SignalWireCodec;
  customParameters?: Record<string, string>;
  envelope?: boolean;
  sendStart?: boolean;
  /**
   * Upgrade headers, e.g. `Authorization: Bearer …` as SignalWire sends it
   * when `<Stream authBearerToken>` is set.
   */
  headers?: HeadersInit;
  /** How received audio plays (default `instant`). */
  playback?: "instant" | "realtime";
}
