import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { RtpHeader, RtpPacket } from "werift";
import { FrameBus } from "../../src/bus/frame_bus.ts";
import { decodeMulaw } from "../../src/audio/mulaw.ts";
import { createOpusCodec } from "../../src/transports/opus.ts";
import { createRtpAudioCodec } from "../../src/transports/webrtc_codec.ts";
import { createWebRtcEndpoint } from "../../src/transports/webrtc.ts";
import { until } from "../support/server.ts";
import { type Post, TestClient, tone } from "./_webrtc_client.ts";

/** μ-law code of packet `i`: distinct, never silence (0x7f/0xff decode to 0). */
const code = (i: number) => i + 1;

Deno.test("webrtc: the jitter buffer reorders, drops duplicates and counts loss (werift loopback)", async () => {
  const webrtc = createWebRtcEndpoint({ codecs: ["pcmu"] });
  let bus: FrameBus | null = null;
  const post: Post = (body) =>
    webrtc.handle(body, (info) => {
      bus = new FrameBus({
        callId: info.webrtcId,
        transportInputRate: info.sampleRate,
        transportOutputRate: info.sampleRate,
        handlerInputRate: info.sampleRate,
      });
      return { bus };
    });
  const client = new TestClient({ id: "jitter", codec: "pcmu" });
  try {
    await client.connect(post);
    await client.waitOpen();
    assert.ok(bus, "the call started");
    const callBus: FrameBus = bus;

    // The sender's schedule: packets 0-59 (20 ms each), with 10/11 swapped,
    // 32 before 30 and 31, 20 sent late (after 26: given up by then), 40 and
    // 41 never sent, and 50 sent twice.
    const order: number[] = [];
    for (let i = 0; i < 60; i++) {
      if (i === 10 || i === 20 || i === 30 || i === 31) continue;
      if (i === 40 || i === 41) continue;
      if (i === 12) order.push(11, 10, 12);
      else if (i === 11) continue;
      else if (i === 32) order.push(32, 30, 31);
      else if (i === 27) order.push(20, 27);
      else if (i === 50) order.push(50, 50);
      else order.push(i);
    }
    const firstSeq = 4000;
    const firstTs = 90_000;
    for (const i of order) {
      const header = new RtpHeader({
        payloadType: 0,
        sequenceNumber: firstSeq + i,
        timestamp: firstTs + i * 160,
        ssrc: 4242,
      });
      const payload = Buffer.alloc(160, code(i));
      client.track.writeRtp(new RtpPacket(header, payload));
      await new Promise((r) => setTimeout(r, 20));
    }

    // What the handler side of the bus receives, one 20 ms chunk per packet.
    const chunks: number[] = [];
    const expected = Array.from(
      { length: 60 },
      (_, i) => i === 20 || i === 40 || i === 41 ? -1 : i,
    );
    const values = new Map(
      expected.map((
        i,
      ) => [i < 0 ? 0 : decodeMulaw(Uint8Array.of(code(i)))[0], i]),
    );
    while (chunks.length < expected.length) {
      const chunk = await Promise.race([
        callBus.readInput(),
        new Promise<null>((r) => setTimeout(() => r(null), 3000)),
      ]);
      assert.ok(chunk, `audio stopped after ${chunks.length} chunks`);
      const samples = chunk[1] as Int16Array;
      assert.equal(samples.length, 160);
      assert.ok(samples.every((s) => s === samples[0]), "one packet per chunk");
      assert.ok(values.has(samples[0]), `unexpected sample ${samples[0]}`);
      chunks.push(values.get(samples[0])!);
    }
    // In sequence order; the three lost packets concealed (PCMU: silence).
    assert.deepEqual(chunks, expected);

    await until(
      () => (webrtc.stats("jitter")?.received ?? 0) >= order.length,
      2000,
      "stats",
    );
    const stats = webrtc.stats("jitter")!;
    assert.equal(stats.received, order.length);
    assert.equal(stats.reordered, 3, "10, 30 and 31 came after a newer packet");
    assert.equal(stats.duplicates, 1, "50 came twice");
    assert.equal(stats.late, 1, "20 came after playout had given up on it");
    assert.equal(stats.lost, 3, "20, 40 and 41 were not played");
    assert.equal(stats.concealed, 3);
    assert.equal(stats.played, 57);
    assert.equal(stats.held, 0);
    assert.equal(webrtc.stats("nobody"), undefined);
  } finally {
    await client.close();
    await webrtc.close();
  }
  assert.equal(webrtc.connections, 0);
});

Deno.test("webrtc: held packets are released when the sender goes quiet", async () => {
  const webrtc = createWebRtcEndpoint({ codecs: ["pcmu"], jitterBufferMs: 40 });
  let bus: FrameBus | null = null;
  const post: Post = (body) =>
    webrtc.handle(body, (info) => {
      bus = new FrameBus({
        callId: info.webrtcId,
        transportInputRate: 8000,
        transportOutputRate: 8000,
        handlerInputRate: 8000,
      });
      return { bus };
    });
  const client = new TestClient({ id: "quiet", codec: "pcmu" });
  try {
    await client.connect(post);
    await client.waitOpen();
    const callBus: FrameBus = bus!;
    // 0, 1, (2 lost), 3, 4 — then nothing: 3 and 4 wait behind the hole.
    for (const i of [0, 1, 3, 4]) {
      const header = new RtpHeader({
        payloadType: 0,
        sequenceNumber: 100 + i,
        timestamp: 7000 + i * 160,
        ssrc: 9,
      });
      client.track.writeRtp(new RtpPacket(header, Buffer.alloc(160, code(i))));
      await new Promise((r) => setTimeout(r, 20));
    }
    const got: number[] = [];
    const started = performance.now();
    while (got.length < 5) {
      const chunk = await callBus.readInput();
      assert.ok(chunk);
      got.push(chunk[1][0]);
    }
    const waited = performance.now() - started;
    const v = (i: number) => decodeMulaw(Uint8Array.of(code(i)))[0];
    assert.deepEqual(got, [v(0), v(1), 0, v(3), v(4)]);
    assert.ok(waited < 1000, `released after ${waited} ms`);
    assert.equal(webrtc.stats("quiet")!.lost, 1);
  } finally {
    await client.close();
    await webrtc.close();
  }
});

Deno.test("webrtc: outbound RTP numbers talkspurts (werift loopback)", async () => {
  const webrtc = createWebRtcEndpoint({ codecs: ["pcmu"] });
  let bus: FrameBus | null = null;
  const post: Post = (body) =>
    webrtc.handle(body, (info) => {
      bus = new FrameBus({
        callId: info.webrtcId,
        transportInputRate: 8000,
        transportOutputRate: 8000,
        handlerInputRate: 8000,
      });
      return { bus };
    });
  const client = new TestClient({ id: "spurts", codec: "pcmu" });
  const headers: { seq: number; ts: number; marker: boolean }[] = [];
  client.pc.onTrack.subscribe((track) => {
    track.onReceiveRtp.subscribe((rtp) => {
      headers.push({
        seq: rtp.header.sequenceNumber,
        ts: rtp.header.timestamp,
        marker: rtp.header.marker,
      });
    });
  });
  try {
    await client.connect(post);
    await client.waitOpen();
    const callBus: FrameBus = bus!;
    await callBus.sendOutput([8000, tone(8000, 300, 0.2)]); // 10 frames
    await until(() => headers.length >= 10, 3000, "first talkspurt");
    await new Promise((r) => setTimeout(r, 300));
    await callBus.sendOutput([8000, tone(8000, 300, 0.2)]);
    await until(() => headers.length >= 20, 3000, "second talkspurt");
    for (let i = 1; i < 20; i++) {
      assert.equal(headers[i].seq, (headers[i - 1].seq + 1) & 0xffff);
    }
    assert.deepEqual(
      headers.map((h, i) => h.marker ? i : -1).filter((i) => i >= 0),
      [0, 10],
      "the marker starts each talkspurt",
    );
    for (let i = 1; i < 20; i++) {
      const step = (headers[i].ts - headers[i - 1].ts) >>> 0;
      if (i === 10) {
        // The 300 ms pause shows in the timestamps (less the 60 ms lead the
        // first talkspurt was sent with).
        assert.ok(step >= 0.2 * 8000, `talkspurt gap ${step}`);
      } else {
        assert.equal(step, 160, `frame ${i}`);
      }
    }
    assert.equal(webrtc.stats("spurts")!.sent, 20);
    assert.equal(webrtc.stats("spurts")!.talkspurts, 2);
  } finally {
    await client.close();
    await webrtc.close();
  }
});

Deno.test("webrtc: Opus loss is concealed by libopus PLC", async () => {
  const opus = await createOpusCodec();
  try {
    assert.deepEqual(opus.conceal(), new Int16Array(960), "silence first");
    const pcm = tone(48000, 440, 0.2);
    for (let i = 0; i < 10; i++) {
      opus.decode(opus.encode(pcm.subarray(i * 960, (i + 1) * 960)));
    }
    const hidden = opus.conceal();
    assert.equal(hidden.length, 960, "one 20 ms frame per lost packet");
    let energy = 0;
    for (const s of hidden) energy += s * s;
    assert.ok(Math.sqrt(energy / 960) > 1000, "PLC continues the tone");
  } finally {
    opus.close();
  }
  const pcmu = await createRtpAudioCodec("pcmu");
  pcmu.decode(new Uint8Array(80));
  assert.deepEqual(pcmu.conceal(), new Int16Array(80));
  pcmu.close();
});

Deno.test("webrtc: jitterBufferMs is validated", () => {
  assert.throws(
    () => createWebRtcEndpoint({ jitterBufferMs: 0 }),
    /jitterBufferMs must be a number of ms from 1 to 1000, got 0/,
  );
});
