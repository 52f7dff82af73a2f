/**
 * The docs-written carrier test clients against Parley's codecs over a real
 * loopback WebSocket, with a tiny echo server standing in for the socket
 * adapter: caller audio comes back as 20 ms frames, then a mark; `clear` and
 * held marks are exercised too. Two independent implementations of each
 * protocol have to agree here.
 */
import assert from "node:assert/strict";
import { createExotelCodec } from "../../src/transports/exotel.ts";
import { createTelnyxCodec } from "../../src/transports/telnyx.ts";
import type { WireCodec } from "../../src/transports/codec.ts";
import {
  type CarrierMessage,
  ExotelTestClient,
  TelnyxTestClient,
} from "../support/carrier_clients.ts";

interface EchoServer {
  url: string;
  events: string[];
  close(): Promise<void>;
}

/** Echoes each start's audio back in 20 ms frames, then sends a mark. */
function echoServer(makeCodec: () => WireCodec): EchoServer {
  const events: string[] = [];
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen() {} },
    (req) => {
      const { socket, response } = Deno.upgradeWebSocket(req);
      const codec = makeCodec();
      let rate = 8000;
      let pending = new Int16Array(0);
      let marks = 0;
      socket.onmessage = (e) => {
        for (const d of codec.decode(e.data)) {
          events.push(d.kind === "error" ? `error:${d.reason}` : d.kind);
          if (d.kind === "start") {
            rate = d.call.outputRate ?? d.call.inputRate ?? rate;
          }
          if (d.kind === "audio") {
            const joined = new Int16Array(pending.length + d.samples.length);
            joined.set(pending);
            joined.set(d.samples, pending.length);
            pending = joined;
            const step = rate / 50;
            while (pending.length >= step) {
              socket.send(codec.encodeAudio(pending.slice(0, step)) as string);
              pending = pending.slice(step);
            }
          }
          if (d.kind === "dtmf" && d.digit === "#") {
            socket.send(codec.encodeMark(`m${++marks}`) as string);
          }
          if (d.kind === "dtmf" && d.digit === "*") {
            socket.send(codec.encodeClear() as string);
          }
          if (d.kind === "played") events.push(`played:${d.name}`);
          if (d.kind === "stop") socket.close(1000, "stopped");
        }
      };
      return response;
    },
  );
  const { port } = server.addr as Deno.NetAddr;
  return {
    url: `ws://127.0.0.1:${port}/telephone/x/handler`,
    events,
    close: () => server.shutdown(),
  };
}

function tone(n: number, rate: number): Int16Array {
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = Math.round(6000 * Math.sin(2 * Math.PI * 300 * i / rate));
  }
  return out;
}

function correlation(a: Int16Array, b: Int16Array): number {
  const n = Math.min(a.length, b.length);
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < n; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb);
}

for (
  const [label, encoding, rate, outbound] of [
    ["PCMU", "PCMU", 8000, "PCMU"],
    ["PCMA", "PCMA", 8000, "PCMA"],
    ["L16 16 kHz", "L16", 16000, "L16"],
  ] as const
) {
  Deno.test(`carrier clients: Telnyx ${label} call echoes through the codec`, async () => {
    const server = echoServer(() =>
      createTelnyxCodec({
        outboundEncoding: outbound,
        outboundSampleRate: rate,
      })
    );
    try {
      const client = await TelnyxTestClient.connect(server.url, {
        encoding,
        sampleRate: rate,
        outboundEncoding: outbound,
        customParameters: { lang: "en" },
      });
      const speech = tone(rate / 2, rate); // 0.5 s
      await client.play(speech, { realtime: label === "PCMU" });
      await client.waitFor(
        () => client.receivedPcm().length >= speech.length,
        5000,
        "the echoed audio",
      );
      assert.ok(correlation(speech, client.receivedPcm()) > 0.99);
      client.dtmf("#");
      await client.waitFor(() => client.echoed.length === 1, 5000, "a mark");
      assert.deepEqual(client.marks, ["m1"]);
      // Hold the next mark as if audio were still playing; clear returns it.
      client.echoMarks = false;
      client.dtmf("#");
      await client.waitFor(() => client.marks.length === 2, 5000, "mark 2");
      assert.equal(client.echoed.length, 1);
      client.dtmf("*");
      await client.waitFor(() => client.clears === 1, 5000, "clear");
      assert.deepEqual(client.echoed, ["m1", "m2"]);
      client.stop();
      await client.closed;
      assert.deepEqual(client.protocolErrors, []);
      assert.ok(
        !server.events.some((e) => e.startsWith("error")),
        server.events.join("\n"),
      );
      assert.deepEqual(
        server.events.filter((e) => e.startsWith("played:")),
        ["played:m1", "played:m2"],
      );
      assert.equal(server.events[0], "start");
      assert.equal(server.events.at(-1), "stop");
    } finally {
      await server.close();
    }
  });
}

for (
  const [label, encoding, rate] of [
    ["slin 8 kHz", "slin", 8000],
    ["slin 16 kHz", "slin", 16000],
    ["μ-law", "mulaw", 8000],
  ] as const
) {
  Deno.test(`carrier clients: Exotel ${label} call echoes through the codec`, async () => {
    const server = echoServer(createExotelCodec);
    try {
      const client = await ExotelTestClient.connect(server.url, {
        encoding,
        sampleRate: rate,
        customParameters: { flow: "test" },
      });
      const speech = tone(rate / 2, rate);
      await client.play(speech, { realtime: label === "slin 8 kHz" });
      await client.waitFor(
        () => client.receivedPcm().length >= speech.length,
        5000,
        "the echoed audio",
      );
      assert.ok(correlation(speech, client.receivedPcm()) > 0.99);
      client.dtmf("#");
      await client.waitFor(() => client.echoed.length === 1, 5000, "a mark");
      client.dtmf("*");
      await client.waitFor(() => client.clears === 1, 5000, "clear");
      client.stop();
      await client.closed;
      assert.deepEqual(client.protocolErrors, []);
      assert.ok(
        !server.events.some((e) => e.startsWith("error")),
        server.events.join("\n"),
      );
      assert.ok(server.events.includes("played:m1"));
      const media = client.messages.filter((m: CarrierMessage) =>
        m.event === "media"
      );
      assert.ok(media.every((m) => m.stream_sid === client.streamSid));
    } finally {
      await server.close();
    }
  });
}

Deno.test("carrier clients: Exotel URL credentials become a Basic header", async () => {
  let seen: string | null = null;
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen() {} },
    (req) => {
      seen = req.headers.get("authorization");
      const { socket, response } = Deno.upgradeWebSocket(req);
      socket.onmessage = () => {};
      return response;
    },
  );
  try {
    const { port } = server.addr as Deno.NetAddr;
    const client = await ExotelTestClient.connect(
      `ws://key:s3cret@127.0.0.1:${port}/telephone/exotel/handler`,
      { sendStart: false },
    );
    assert.equal(seen, `Basic ${btoa("key:s3cret")}`);
    await client.close();
  } finally {
    await server.shutdown();
  }
});
