/**
 * The carrier-side call clients of `./testing`, checked on plain values
 * against Parley's server-side wire codecs (no network): each client's
 * start, media, DTMF, mark answers and stop decode as the server expects,
 * and what the server encodes (audio, marks, clears) the client decodes and
 * answers as the carrier would. Also: the playout model, the Twilio
 * signature and the envelope correlation.
 */
import assert from "node:assert/strict";

const assertEquals = (a: unknown, b: unknown, msg = "values differ") =>
  assert.deepEqual(a, b, msg);
const assertAlmostEquals = (a: number, b: number, tolerance: number) =>
  assert.ok(
    Math.abs(a - b) <= tolerance,
    `${a} is not within ${tolerance} of ${b}`,
  );
import { decodeAlaw, encodeAlaw } from "../../src/audio/alaw.ts";
import { decodeMulaw, encodeMulaw } from "../../src/audio/mulaw.ts";
import { isValidTwilioSignature } from "../../src/server/twilio_webhook.ts";
import type { Decoded, WireCodec } from "../../src/transports/codec.ts";
import { createExotelCodec } from "../../src/transports/exotel.ts";
import { createPlivoCodec } from "../../src/transports/plivo.ts";
import { createSignalWireCodec } from "../../src/transports/signalwire.ts";
import { createTelnyxCodec } from "../../src/transports/telnyx.ts";
import { createVonageCodec } from "../../src/transports/vonage.ts";
import {
  type CallClient,
  envelopeCorrelation,
  ExotelCallClient,
  findSpeech,
  PlivoCallClient,
  SignalWireCallClient,
  TelnyxCallClient,
  TwilioCallClient,
  twilioSignature,
  VonageCallClient,
} from "../../src/testing/mod.ts";

/** Stands in for an open WebSocket: records what is sent, delivers what is given. */
class FakeSocket extends EventTarget {
  readyState: number = WebSocket.OPEN;
  binaryType = "blob";
  sent: (string | Uint8Array)[] = [];
  send(data: string | Uint8Array): void {
    this.sent.push(data);
  }
  close(code = 1000, reason = ""): void {
    if (this.readyState === WebSocket.CLOSED) return;
    this.readyState = WebSocket.CLOSED;
    this.dispatchEvent(new CloseEvent("close", { code, reason }));
  }
  deliver(data: string | Uint8Array): void {
    const payload = typeof data === "string"
      ? data
      : data.slice().buffer as ArrayBuffer;
    this.dispatchEvent(new MessageEvent("message", { data: payload }));
  }
  /** Takes the messages sent since the last call. */
  take(): (string | Uint8Array)[] {
    return this.sent.splice(0);
  }
}

function decodeAll(codec: WireCodec, messages: (string | Uint8Array)[]) {
  return messages.flatMap((m) => codec.decode(m));
}

function kinds(values: Decoded[]): string[] {
  return values.map((v) => v.kind);
}

/** 20 ms of a 440 Hz tone at `rate`. */
function tone(rate: number, amplitude = 8000): Int16Array {
  return Int16Array.from(
    { length: rate / 50 },
    (_, i) => Math.round(amplitude * Math.sin(2 * Math.PI * 440 * i / rate)),
  );
}

interface Case {
  name: string;
  codec: () => WireCodec;
  attach: (socket: WebSocket) => CallClient;
  /** What the server decodes from the client's frame of `tone`. */
  wireIn: (pcm: Int16Array) => Int16Array;
  /** What the client decodes from the server's frame of `tone`. */
  wireOut: (pcm: Int16Array) => Int16Array;
  /** Whether the server sees a stop message on hang-up. */
  stop: boolean;
  /** Whether the clear's answer is a message the codec reads. */
  clearReply: boolean;
  dtmf: boolean;
}

const ulaw = (pcm: Int16Array) => decodeMulaw(encodeMulaw(pcm));
const same = (pcm: Int16Array) => pcm;

const CASES: Case[] = [
  {
    name: "telnyx PCMU",
    codec: () => createTelnyxCodec(),
    attach: (s) => TelnyxCallClient.attach(s, { playback: "instant" }),
    wireIn: ulaw,
    wireOut: ulaw,
    stop: true,
    clearReply: false,
    dtmf: true,
  },
  {
    name: "telnyx PCMA",
    codec: () => createTelnyxCodec({ outboundEncoding: "PCMA" }),
    attach: (s) =>
      TelnyxCallClient.attach(s, {
        playback: "instant",
        encoding: "PCMA",
        outboundEncoding: "PCMA",
      }),
    wireIn: (p) => decodeAlaw(encodeAlaw(p)),
    wireOut: (p) => decodeAlaw(encodeAlaw(p)),
    stop: true,
    clearReply: false,
    dtmf: true,
  },
  {
    name: "telnyx L16 16 kHz",
    codec: () =>
      createTelnyxCodec({ outboundEncoding: "L16", outboundSampleRate: 16000 }),
    attach: (s) =>
      TelnyxCallClient.attach(s, {
        playback: "instant",
        encoding: "L16",
        outboundEncoding: "L16",
        sampleRate: 16000,
      }),
    wireIn: same,
    wireOut: same,
    stop: true,
    clearReply: false,
    dtmf: true,
  },
  {
    name: "plivo μ-law",
    codec: () => createPlivoCodec(),
    attach: (s) => PlivoCallClient.attach(s, { playback: "instant" }),
    wireIn: ulaw,
    wireOut: ulaw,
    stop: false,
    clearReply: true,
    dtmf: true,
  },
  {
    name: "plivo L16 16 kHz",
    codec: () => createPlivoCodec(),
    attach: (s) =>
      PlivoCallClient.attach(s, {
        playback: "instant",
        contentType: "audio/x-l16;rate=16000",
      }),
    wireIn: same,
    wireOut: same,
    stop: false,
    clearReply: true,
    dtmf: true,
  },
  {
    name: "vonage 16 kHz",
    codec: () => createVonageCodec(),
    attach: (s) => VonageCallClient.attach(s, { playback: "instant" }),
    wireIn: same,
    wireOut: same,
    stop: false,
    clearReply: true,
    dtmf: true,
  },
  {
    name: "vonage 8 kHz",
    codec: () => createVonageCodec(),
    attach: (s) =>
      VonageCallClient.attach(s, { playback: "instant", sampleRate: 8000 }),
    wireIn: same,
    wireOut: same,
    stop: false,
    clearReply: true,
    dtmf: true,
  },
  {
    name: "exotel slin 8 kHz",
    codec: () => createExotelCodec(),
    attach: (s) => ExotelCallClient.attach(s, { playback: "instant" }),
    wireIn: same,
    wireOut: same,
    stop: true,
    clearReply: false,
    dtmf: true,
  },
  {
    name: "exotel slin 24 kHz",
    codec: () => createExotelCodec(),
    attach: (s) =>
      ExotelCallClient.attach(s, { playback: "instant", sampleRate: 24000 }),
    wireIn: same,
    wireOut: same,
    stop: true,
    clearReply: false,
    dtmf: true,
  },
  {
    name: "exotel μ-law",
    codec: () => createExotelCodec(),
    attach: (s) =>
      ExotelCallClient.attach(s, { playback: "instant", encoding: "mulaw" }),
    wireIn: ulaw,
    wireOut: ulaw,
    stop: true,
    clearReply: false,
    dtmf: true,
  },
  {
    name: "signalwire PCMU, envelope",
    codec: () => createSignalWireCodec(),
    attach: (s) => SignalWireCallClient.attach(s, { playback: "instant" }),
    wireIn: ulaw,
    wireOut: ulaw,
    stop: true,
    clearReply: true,
    dtmf: true,
  },
  {
    name: "signalwire L16 24 kHz, bare",
    codec: () => createSignalWireCodec(),
    attach: (s) =>
      SignalWireCallClient.attach(s, {
        playback: "instant",
        codec: "L16@24000h",
        envelope: false,
      }),
    wireIn: same,
    wireOut: same,
    stop: true,
    clearReply: true,
    dtmf: true,
  },
];

for (const c of CASES) {
  Deno.test(`call client ↔ server codec: ${c.name}`, async () => {
    const socket = new FakeSocket();
    const client = c.attach(socket as unknown as WebSocket);
    const codec = c.codec();

    // The start the client sent starts a call at the client's rate.
    const start = decodeAll(codec, socket.take());
    assertEquals(kinds(start), ["start"], JSON.stringify(start));
    const call = (start[0] as Extract<Decoded, { kind: "start" }>).call;
    assertEquals(call.inputRate, client.inputRate);
    if (call.outputRate === undefined) codec.setOutputRate?.(client.outputRate);
    else assertEquals(call.outputRate, client.outputRate);

    // Caller audio arrives as the same samples (through the wire's codec).
    const pcm = tone(client.inputRate);
    client.sendFrame(pcm);
    const audio = decodeAll(codec, socket.take());
    assertEquals(kinds(audio), ["audio"]);
    assertEquals(
      (audio[0] as Extract<Decoded, { kind: "audio" }>).samples,
      c.wireIn(pcm),
    );

    // DTMF.
    if (c.dtmf) {
      client.dtmf("7");
      assertEquals(decodeAll(codec, socket.take()), [{
        kind: "dtmf",
        digit: "7",
      }]);
    }

    // Bot audio, a mark and its answer.
    const reply = tone(client.outputRate, 5000);
    socket.deliver(codec.encodeAudio(reply));
    assertEquals(client.audio.length, 1);
    assertEquals(client.audio[0].samples, c.wireOut(reply));
    const mark = codec.encodeMark("reply-1");
    assert(mark !== null);
    socket.deliver(mark);
    assertEquals(client.marks.map((m) => m.name).length, 1);
    assert(client.marks[0].answeredAt !== null, "mark answered");
    assertEquals(decodeAll(codec, socket.take()), [{
      kind: "played",
      name: "reply-1",
    }]);

    // A clear is honoured; its acknowledgement (if any) is not an error.
    const clear = codec.encodeClear();
    assert(clear !== null);
    socket.deliver(clear);
    assertEquals(client.clears.length, 1);
    const afterClear = decodeAll(codec, socket.take());
    assertEquals(
      afterClear.filter((d) => d.kind === "error"),
      [],
      "clear answer accepted",
    );
    if (!c.clearReply) assertEquals(afterClear, []);

    // Hang-up: a stop message where the carrier has one.
    await client.hangUp();
    const stop = decodeAll(codec, socket.take());
    assertEquals(kinds(stop), c.stop ? ["stop"] : []);
    assertEquals(client.problems, []);
  });
}

Deno.test("call clients flag what the carrier would reject", () => {
  const socket = new FakeSocket();
  const twilio = TwilioCallClient.attach(socket as unknown as WebSocket);
  socket.deliver(JSON.stringify({ event: "media", streamSid: "MZwrong" }));
  socket.deliver(
    JSON.stringify({ event: "dance", streamSid: twilio.streamSid }),
  );
  socket.deliver("not json");
  socket.deliver(new Uint8Array(4));
  assertEquals(twilio.problems.map((p) => p.kind), [
    "error",
    "unknown",
    "error",
    "error",
  ]);
  assertEquals(twilio.audio.length, 0);

  const vonageSocket = new FakeSocket();
  const vonage = VonageCallClient.attach(vonageSocket as unknown as WebSocket);
  vonageSocket.deliver(new Uint8Array(100));
  assertEquals(vonage.problems.length, 1);
  assert(vonage.problems[0].message.includes("640 bytes"));
});

Deno.test("playout: marks wait for playback, a clear drops what has not played", async () => {
  const socket = new FakeSocket();
  const client = TwilioCallClient.attach(socket as unknown as WebSocket);
  socket.take();
  const frame = (v: number) =>
    JSON.stringify({
      event: "media",
      streamSid: client.streamSid,
      media: {
        payload: btoa(
          String.fromCharCode(...encodeMulaw(new Int16Array(160).fill(v))),
        ),
      },
    });
  for (let i = 0; i < 50; i++) socket.deliver(frame(4000)); // 1 s at once
  socket.deliver(
    JSON.stringify({
      event: "mark",
      streamSid: client.streamSid,
      mark: { name: "m" },
    }),
  );
  assertEquals(client.marks[0].answeredAt, null, "not played yet");
  assertEquals(socket.take(), []);
  assert(client.queuedMs > 900);
  await new Promise((r) => setTimeout(r, 200));
  socket.deliver(
    JSON.stringify({ event: "clear", streamSid: client.streamSid }),
  );
  const clear = client.clears[0];
  // About 800 ms were still queued; Twilio returns the mark on a clear.
  assertAlmostEquals(clear.flushedMs, 800, 60);
  assert(client.marks[0].answeredAt !== null);
  assertEquals(JSON.parse(socket.take()[0] as string).mark, { name: "m" });
  // The timeline holds only what played: ~200 ms of audio, then silence.
  const heard = client.timeline();
  let loud = 0;
  for (const v of heard) if (v !== 0) loud++;
  assertAlmostEquals(loud / 8, 200, 60);
  await client.hangUp();
});

Deno.test("twilioSignature matches the server's X-Twilio-Signature check", async () => {
  const url = "ws://127.0.0.1:8000/telephone/handler";
  const signature = await twilioSignature("secret-token", url);
  assert(isValidTwilioSignature({ authToken: "secret-token", signature, url }));
  assert(!isValidTwilioSignature({ authToken: "other", signature, url }));
  const params = { CallSid: "CA1", From: "+1555" };
  assert(isValidTwilioSignature({
    authToken: "t",
    signature: await twilioSignature("t", "https://x.example/in", params),
    url: "https://x.example/in",
    params,
  }));
});

Deno.test("findSpeech and envelopeCorrelation", () => {
  const rate = 8000;
  const clip = new Int16Array(rate * 2);
  for (let i = 4000; i < 12000; i++) {
    clip[i] = Math.round(
      6000 * Math.sin(i / 4) * (0.5 + 0.5 * Math.sin(i / 700)),
    );
  }
  const span = findSpeech(clip, rate);
  assert(span !== null);
  assertAlmostEquals(span.startMs, 500, 20);
  assertAlmostEquals(span.endMs, 1500, 20);
  assertEquals(findSpeech(new Int16Array(800), rate), null);

  // An echo at another rate, 1.3 s late, matches; noise does not.
  const up = new Int16Array(clip.length * 2);
  for (let i = 0; i < up.length; i++) up[i] = clip[i >> 1];
  const recording = new Int16Array(16000 * 5);
  recording.set(up, 16000 * 1.3);
  const echo = envelopeCorrelation({ rate, samples: clip }, {
    rate: 16000,
    samples: recording,
  });
  assert(echo.correlation > 0.95, `r = ${echo.correlation}`);
  assertAlmostEquals(echo.lagMs, 1300, 20);
  let seed = 1;
  const noise = Int16Array.from({ length: rate * 4 }, () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return (seed % 2000) - 1000;
  });
  const unrelated = envelopeCorrelation({ rate, samples: clip }, {
    rate,
    samples: noise,
  });
  assert(unrelated.correlation < 0.5, `r = ${unrelated.correlation}`);
});
