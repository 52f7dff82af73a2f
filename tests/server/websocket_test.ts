import assert from "node:assert/strict";
import alawmulaw from "alawmulaw";
import {
  AdditionalOutputs,
  type AudioChunk,
  type EmitType,
  Stream,
  StreamHandler,
} from "../../mod.ts";
import { EchoHandler, Journal } from "../support/handlers.ts";
import { serveStream, until } from "../support/server.ts";

const { mulaw } = alawmulaw;
const quiet = { verbose: false } as const;

interface Msg {
  event?: string;
  type?: string;
  data?: unknown;
  message?: string;
  status?: string;
  token?: string;
  meta?: Record<string, unknown>;
  media?: { payload: string };
}

/** A FastRTC websocket client written from the protocol description. */
class WsClient {
  readonly socket: WebSocket;
  readonly messages: Msg[] = [];
  readonly closed: Promise<void>;
  closeCode = 0;
  constructor(socket: WebSocket) {
    this.socket = socket;
    socket.onmessage = (e) => this.messages.push(JSON.parse(e.data));
    this.closed = new Promise((r) =>
      socket.addEventListener("close", (e) => {
        this.closeCode = e.code;
        r();
      })
    );
  }
  static async open(url: string): Promise<WsClient> {
    const socket = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      socket.onopen = () => resolve();
      socket.onerror = () => reject(new Error("connect failed"));
    });
    return new WsClient(socket);
  }
  send(msg: unknown): void {
    this.socket.send(typeof msg === "string" ? msg : JSON.stringify(msg));
  }
  media(bytes: Uint8Array): void {
    this.send({
      event: "media",
      media: { payload: btoa(String.fromCharCode(...bytes)) },
    });
  }
  async waitFor(
    pred: (m: Msg) => boolean,
    what: string,
    timeoutMs = 5000,
  ): Promise<Msg> {
    await until(() => this.messages.some(pred), timeoutMs, what);
    return this.messages.find(pred)!;
  }
  receivedBytes(): number {
    return this.messages.filter((m) => m.event === "media").reduce(
      (n, m) => n + atob(m.media!.payload).length,
      0,
    );
  }
  async close(): Promise<void> {
    if (this.socket.readyState <= WebSocket.OPEN) this.socket.close();
    await this.closed;
  }
}

function tone(n: number, rate: number, hz = 440, amp = 8000): Int16Array {
  return Int16Array.from(
    { length: n },
    (_, i) => Math.round(amp * Math.sin(2 * Math.PI * hz * i / rate)),
  );
}

Deno.test("websocket: FastRTC protocol round trip (μ-law), ping/pong, errors for malformed input", async () => {
  const journal = new Journal();
  const stream = new Stream({
    handler: new EchoHandler(journal, {
      inputSampleRate: 16000,
      outputSampleRate: 16000,
    }),
    ...quiet,
  });
  const server = serveStream(stream);
  try {
    const c = await WsClient.open(`${server.wsUrl}/websocket/offer`);
    c.send({ event: "ping" });
    await c.waitFor((m) => m.event === "pong", "pong");
    c.media(new Uint8Array(10)); // before start
    await c.waitFor(
      (m) => m.type === "error" && /before start/.test(m.message!),
      "media-before-start error",
    );
    c.send({ event: "start", websocket_id: "ws-1" });
    await until(() => stream.activeCalls === 1, 2000, "call start");
    c.send("{oops");
    await c.waitFor(
      (m) => m.type === "error" && /Invalid JSON/.test(m.message!),
      "json error",
    );
    c.send({ event: "dance" });
    await c.waitFor(
      (m) => m.type === "error" && /Unknown event/.test(m.message!),
      "unknown event error",
    );
    c.send({ event: "media", media: { payload: "!!!" } });
    await c.waitFor(
      (m) => m.type === "error" && /base64/.test(m.message!),
      "base64 error",
    );
    c.send({ event: "media", media: { payload: "A".repeat(2_000_000) } });
    await c.waitFor(
      (m) => m.type === "error" && /exceeds/.test(m.message!),
      "oversize error",
    );
    const pcm = tone(3200, 16000);
    c.media(mulaw.encode(pcm));
    await until(() => c.receivedBytes() >= 3200, 3000, "echo");
    const echoed = c.messages.filter((m) => m.event === "media")
      .map((m) =>
        Uint8Array.from(atob(m.media!.payload), (ch) => ch.charCodeAt(0))
      );
    const bytes = new Uint8Array(echoed.reduce((n, b) => n + b.length, 0));
    let o = 0;
    for (const b of echoed) (bytes.set(b, o), o += b.length);
    const back = mulaw.decode(bytes.subarray(0, 3200));
    const ref = mulaw.decode(mulaw.encode(pcm));
    for (let i = 0; i < ref.length; i++) {
      assert.equal(back[i], ref[i], `sample ${i}`);
    }
    c.send({ event: "stop" });
    await c.closed;
    await until(() => journal.shutdowns === 1, 2000, "shutdown");
  } finally {
    await server.close();
  }
});

Deno.test("websocket: opt-in PCM16 format resamples the client's rate to the handler's", async () => {
  const stream = new Stream({
    handler: new EchoHandler(new Journal(), {
      inputSampleRate: 16000,
      outputSampleRate: 16000,
    }),
    ...quiet,
  });
  const server = serveStream(stream);
  try {
    const c = await WsClient.open(`${server.wsUrl}/websocket/offer`);
    c.send({
      event: "start",
      websocket_id: "pcm",
      format: { encoding: "pcm16", sampleRate: 48000 },
    });
    const started = await c.waitFor((m) => m.event === "started", "started");
    assert.deepEqual((started as unknown as { format: unknown }).format, {
      encoding: "pcm16",
      inputSampleRate: 48000,
      outputSampleRate: 16000,
    });
    await until(() => stream.activeCalls === 1, 2000, "call start");
    const pcm = tone(48000 / 2, 48000, 300);
    c.media(new Uint8Array(pcm.buffer));
    // 0.5 s at 48 kHz → 0.5 s at 16 kHz = 16000 bytes of PCM16 back.
    await until(() => c.receivedBytes() >= 15000, 3000, "pcm16 echo");
    c.send({ event: "media", media: { payload: btoa("abc") } });
    await c.waitFor(
      (m) => m.type === "error" && /odd byte count/.test(m.message!),
      "odd bytes error",
    );
    await c.close();
  } finally {
    await server.close();
  }
});

Deno.test("websocket: concurrency limit rejection uses FastRTC's failure message", async () => {
  const stream = new Stream({
    handler: new EchoHandler(),
    concurrencyLimit: 1,
    ...quiet,
  });
  const server = serveStream(stream);
  try {
    const a = await WsClient.open(`${server.wsUrl}/websocket/offer`);
    a.send({ event: "start", websocket_id: "a" });
    await until(() => stream.activeCalls === 1, 2000, "first call");
    const b = await WsClient.open(`${server.wsUrl}/websocket/offer`);
    b.send({ event: "start", websocket_id: "b" });
    const failed = await b.waitFor((m) => m.status === "failed", "failure");
    assert.deepEqual(failed.meta, {
      error: "concurrency_limit_reached",
      limit: 1,
    });
    await b.closed;
    const dup = await WsClient.open(`${server.wsUrl}/websocket/offer`);
    dup.send({ event: "start", websocket_id: "a" });
    const d = await dup.waitFor(
      (m) => m.status === "failed",
      "duplicate failure",
    );
    // A taken id is not a reason to fail (the call would get an id of its
    // own, issue 13 item 6); the limit still is.
    assert.equal(d.meta?.error, "concurrency_limit_reached");
    await dup.closed;
    await a.close();
  } finally {
    await server.close();
  }
});

Deno.test("websocket: time limit ends the call with end_stream and runs shutdown", async () => {
  const journal = new Journal();
  const stream = new Stream({
    handler: new EchoHandler(journal),
    timeLimit: 0.3,
    ...quiet,
  });
  const server = serveStream(stream);
  try {
    const c = await WsClient.open(`${server.wsUrl}/websocket/offer`);
    c.send({ event: "start", websocket_id: "t" });
    await c.closed;
    assert.ok(
      c.messages.some((m) =>
        m.type === "end_stream" && m.data === "Time limit reached"
      ),
    );
    await until(() => journal.shutdowns === 1, 2000, "shutdown");
  } finally {
    await server.close();
  }
});

/** Waits for extra inputs, then emits them as AdditionalOutputs. */
class InputsHandler extends StreamHandler {
  #done = false;
  receive(_frame: AudioChunk): void {}
  async emit(): Promise<EmitType> {
    if (this.#done) {
      await new Promise((r) => setTimeout(r, 20));
      return null;
    }
    await this.waitForArgs();
    this.#done = true;
    return new AdditionalOutputs(...this.latestArgs.slice(1));
  }
  copy(): InputsHandler {
    return new InputsHandler();
  }
}

Deno.test("websocket: setInput → waitForArgs, AdditionalOutputs → outputStream, /input_hook and /outputs SSE", async () => {
  const stream = new Stream({ handler: new InputsHandler(), ...quiet });
  const server = serveStream(stream);
  try {
    const c = await WsClient.open(`${server.wsUrl}/websocket/offer`);
    c.send({ event: "start", websocket_id: "in-1" });
    await c.waitFor((m) => m.type === "send_input", "send_input");
    // The call's token comes in the `started` message.
    const { token } = await c.waitFor((m) => m.event === "started", "started");
    const sse = await fetch(
      `${server.url}/outputs?webrtc_id=in-1&token=${token}`,
    );
    assert.equal(sse.headers.get("content-type"), "text/event-stream");
    const json = { "content-type": "application/json" };
    const hook = await fetch(`${server.url}/input_hook`, {
      method: "POST",
      headers: json,
      body: JSON.stringify({ webrtc_id: "in-1", token, args: ["hello", 42] }),
    });
    assert.deepEqual(await hook.json(), { status: "success" });
    await c.waitFor((m) => m.type === "fetch_output", "fetch_output");
    const reader = sse.body!.pipeThrough(new TextDecoderStream()).getReader();
    const { value } = await reader.read();
    assert.equal(value, `event: output\ndata: ["hello",42]\n\n`);
    await reader.cancel();

    const unknown = await fetch(`${server.url}/input_hook`, {
      method: "POST",
      headers: json,
      body: JSON.stringify({ webrtc_id: "nope" }),
    });
    assert.equal(unknown.status, 404);
    assert.deepEqual(await unknown.json(), {
      status: "failed",
      meta: { error: "unknown_connection" },
    });
    const bad = await fetch(`${server.url}/input_hook`, {
      method: "POST",
      headers: json,
      body: "{",
    });
    assert.equal(bad.status, 400);
    await bad.body?.cancel();
    assert.throws(() => stream.setInput("nope", 1), /No live call/);

    // The programmatic API: a second call, outputs read with outputStream().
    const c2 = await WsClient.open(`${server.wsUrl}/websocket/offer`);
    c2.send({ event: "start", websocket_id: "in-2" });
    await c2.waitFor((m) => m.type === "send_input", "send_input 2");
    const it = stream.outputStream("in-2");
    stream.setInput("in-2", { topic: "weather" });
    const first = await it.next();
    assert.deepEqual(first.value?.args, [{ topic: "weather" }]);
    await c2.close();
    assert.equal((await it.next()).done, true);
    await c.close();
  } finally {
    await server.close();
  }
});
