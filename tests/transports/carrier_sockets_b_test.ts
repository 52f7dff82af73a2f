/**
 * The carrier test clients (tests/support/carrier_clients_b.ts, written from
 * the carriers' docs) against a tiny loopback echo server built on Parley's
 * Plivo, Vonage and SignalWire codecs: real sockets, real-time frames, marks
 * and clears answered by the clients, no protocol errors either way.
 */
import assert from "node:assert/strict";
import type { Decoded, WireCodec } from "../../src/transports/codec.ts";
import { createPlivoCodec } from "../../src/transports/plivo.ts";
import { createVonageCodec } from "../../src/transports/vonage.ts";
import { createSignalWireCodec } from "../../src/transports/signalwire.ts";
import {
  PlivoTestClient,
  SignalWireTestClient,
  VonageTestClient,
} from "../support/carrier_clients_b.ts";

/**
 * Echo server: audio back in 20 ms frames, a mark on DTMF `5`, a clear on
 * DTMF `#`. Records everything each connection decoded.
 */
function echoServer(
  makeCodec: () => WireCodec,
  options: { greetingMs?: number } = {},
) {
  const logs: Decoded[][] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (req) => {
      const { socket, response } = Deno.upgradeWebSocket(req);
      socket.binaryType = "arraybuffer";
      const codec = makeCodec();
      const log: Decoded[] = [];
      logs.push(log);
      let frame = 160;
      socket.onmessage = (e) => {
        const message = typeof e.data === "string"
          ? e.data
          : new Uint8Array(e.data as ArrayBuffer);
        for (const d of codec.decode(message)) {
          log.push(d);
          if (d.kind === "start") {
            frame = (d.call.outputRate ?? 8000) / 50;
            // A "reply" sent well ahead of real time, then its mark.
            const rate = d.call.outputRate ?? 8000;
            const frames = (options.greetingMs ?? 0) / 20;
            for (let i = 0; i < frames; i++) {
              socket.send(codec.encodeAudio(tone(frame, rate)));
            }
            if (frames > 0) socket.send(codec.encodeMark!("greeting")!);
          }
          if (d.kind === "audio") {
            for (let i = 0; i < d.samples.length; i += frame) {
              socket.send(codec.encodeAudio(d.samples.subarray(i, i + frame)));
            }
          }
          if (d.kind === "dtmf" && d.digit === "5") {
            socket.send(codec.encodeMark!("after-5")!);
          }
          if (d.kind === "dtmf" && d.digit === "#") {
            socket.send(codec.encodeClear()!);
          }
          if (d.kind === "stop") socket.close(1000, "stopped");
        }
      };
      return response;
    },
  );
  const url = `ws://127.0.0.1:${server.addr.port}/`;
  return { server, url, logs };
}

/** Polls a server-side condition (client events do not wake it). */
async function poll(predicate: () => boolean, timeoutMs: number, what: string) {
  const end = performance.now() + timeoutMs;
  while (!predicate()) {
    if (performance.now() > end) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
}

function tone(samples: number, rate: number): Int16Array {
  return new Int16Array(samples).map((_, i) =>
    Math.round(6000 * Math.sin((2 * Math.PI * 440 * i) / rate))
  );
}

function errors(log: Decoded[]): string[] {
  return log.filter((d) => d.kind === "error").map((d) =>
    (d as { reason: string }).reason
  );
}

Deno.test("plivo client ↔ codec over a real socket (μ-law and L16 16k)", async () => {
  const { server, url, logs } = echoServer(() => createPlivoCodec());
  try {
    for (
      const contentType of [
        "audio/x-mulaw;rate=8000",
        "audio/x-l16;rate=16000",
      ] as const
    ) {
      const client = await PlivoTestClient.connect(url, {
        contentType,
        extraHeaders: { tenant: "acme" },
      });
      const pcm = tone(client.rate / 5, client.rate); // 200 ms
      await client.play(pcm, { realtime: true });
      await client.waitFor(
        () => client.receivedPcm().length >= pcm.length,
        3000,
        "echo",
      );
      client.dtmf("5");
      await client.waitFor(
        () => client.checkpoints.length === 1,
        3000,
        "checkpoint",
      );
      client.dtmf("#");
      await client.waitFor(() => client.clears === 1, 3000, "clearAudio");
      const log = logs.at(-1)!;
      await poll(
        () => log.some((d) => d.kind === "played") && log.length >= 14,
        3000,
        "server saw playedStream",
      );
      await client.close();
      const start = log[0];
      assert.ok(start.kind === "start");
      assert.equal(start.call.callId, client.streamId);
      assert.equal(start.call.carrierCallId, client.callId);
      assert.deepEqual(start.call.customParameters, { tenant: "acme" });
      assert.deepEqual(errors(log), []);
      assert.deepEqual(client.formatMismatches, []);
      assert.deepEqual(client.badText, []);
      assert.equal(client.checkpoints[0], "after-5");
      assert.deepEqual(log.find((d) => d.kind === "played"), {
        kind: "played",
        name: "after-5",
      });
      assert.equal(client.receivedPcm().length, pcm.length);
      if (contentType.startsWith("audio/x-l16")) {
        assert.deepEqual(client.receivedPcm(), pcm);
      }
    }
  } finally {
    await server.shutdown();
  }
});

Deno.test("vonage client ↔ codec over a real socket (binary L16 8k and 16k)", async () => {
  const { server, url, logs } = echoServer(() => createVonageCodec());
  try {
    for (const rate of [8000, 16000] as const) {
      const uuid = crypto.randomUUID();
      const client = await VonageTestClient.connect(url, {
        rate,
        headers: { uuid, app: "demo" },
      });
      const pcm = tone(rate / 5, rate);
      await client.play(pcm, { realtime: true });
      await client.waitFor(
        () => client.receivedPcm().length >= pcm.length,
        3000,
        "echo",
      );
      client.dtmf("5");
      await client.waitFor(() => client.notifies.length === 1, 3000, "notify");
      client.dtmf("#");
      await client.waitFor(() => client.clears === 1, 3000, "clear");
      const log = logs.at(-1)!;
      await poll(
        () => log.some((d) => d.kind === "played"),
        3000,
        "played",
      );
      await client.close();
      const start = log[0];
      assert.ok(start.kind === "start");
      assert.equal(start.call.callId, uuid);
      assert.equal(start.call.inputRate, rate);
      assert.deepEqual(errors(log), []);
      assert.deepEqual(
        client.badFrameSizes,
        [],
        "every frame is exactly 20 ms",
      );
      assert.deepEqual(client.badText, []);
      assert.deepEqual(client.receivedPcm(), pcm);
    }
  } finally {
    await server.shutdown();
  }
});

Deno.test("signalwire client ↔ codec over a real socket (envelope, bare, L16)", async () => {
  const { server, url, logs } = echoServer(() => createSignalWireCodec());
  try {
    const variants = [
      { codec: "PCMU@8000h", envelope: true },
      { codec: "L16@16000h", envelope: false },
      { codec: "L16@24000h", envelope: true },
    ] as const;
    for (const variant of variants) {
      const client = await SignalWireTestClient.connect(url, {
        ...variant,
        customParameters: { FirstName: "Jane" },
      });
      const pcm = tone(client.rate / 5, client.rate);
      await client.play(pcm, { realtime: true });
      await client.waitFor(
        () => client.receivedPcm().length >= pcm.length,
        3000,
        "echo",
      );
      client.dtmf("5");
      await client.waitFor(() => client.marks.length === 1, 3000, "mark");
      client.dtmf("#");
      await client.waitFor(() => client.clears === 1, 3000, "clear");
      client.stop();
      await client.closed;
      const log = logs.at(-1)!;
      const start = log[0];
      assert.ok(start.kind === "start");
      assert.equal(start.call.callId, client.streamSid);
      assert.equal(start.call.carrierCallId, client.callSid);
      assert.deepEqual(start.call.customParameters, { FirstName: "Jane" });
      assert.deepEqual(errors(log), [], variant.codec);
      assert.ok(log.some((d) => d.kind === "played"));
      assert.equal(log.at(-1)?.kind, "stop");
      assert.equal(client.receivedPcm().length, pcm.length);
      if (variant.codec !== "PCMU@8000h") {
        assert.deepEqual(client.receivedPcm(), pcm);
      }
    }
  } finally {
    await server.shutdown();
  }
});

Deno.test("barge-in: clear flushes unplayed audio and its mark (realtime playback)", async () => {
  const cases = [
    {
      name: "plivo",
      make: () => createPlivoCodec(),
      connect: (url: string) =>
        PlivoTestClient.connect(url, { playback: "realtime" }),
      marksReturnedOnClear: false,
    },
    {
      name: "vonage",
      make: () => createVonageCodec(),
      connect: (url: string) =>
        VonageTestClient.connect(url, { rate: 8000, playback: "realtime" }),
      marksReturnedOnClear: false,
    },
    {
      name: "signalwire",
      make: () => createSignalWireCodec(),
      connect: (url: string) =>
        SignalWireTestClient.connect(url, { playback: "realtime" }),
      marksReturnedOnClear: true,
    },
  ];
  for (const c of cases) {
    const { server, url, logs } = echoServer(c.make, { greetingMs: 1000 });
    try {
      const client = await c.connect(url);
      const rate = (client as { rate: number }).rate;
      await client.waitFor(
        () => client.receivedPcm().length >= rate,
        3000,
        `${c.name} greeting`,
      );
      const log = logs.at(-1)!;
      await new Promise((r) => setTimeout(r, 200));
      assert.ok(
        !log.some((d) => d.kind === "played"),
        `${c.name}: mark not played yet`,
      );
      client.dtmf("#");
      await client.waitFor(
        () => (client as { clears: number }).clears === 1,
        3000,
        "clear",
      );
      assert.ok(
        client.flushedMs > 500,
        `${c.name}: flushed ${client.flushedMs} ms`,
      );
      if (c.marksReturnedOnClear) {
        await poll(
          () => log.some((d) => d.kind === "played"),
          1000,
          "mark on clear",
        );
      } else {
        await new Promise((r) => setTimeout(r, 900));
        assert.ok(
          !log.some((d) => d.kind === "played"),
          `${c.name}: cleared mark dropped`,
        );
      }
      assert.deepEqual(errors(log), [], c.name);
      await client.close();
    } finally {
      await server.shutdown();
    }
  }
});
