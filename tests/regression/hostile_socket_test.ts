// Regression tests for issue 13, items 1, 3 and 4: what a hostile WebSocket
// client can cost the server (memory, replies, file descriptors, log lines).
import assert from "node:assert/strict";
import { Stream } from "../../mod.ts";
import {
  createTwilioCodec,
  FrameBus,
  serveSocket,
  type SocketStats,
} from "../../src/transports/mod.ts";
import { EchoHandler, Journal } from "../support/handlers.ts";
import { serveStream, until } from "../support/server.ts";
import { closeInfo, RawWebSocket } from "../support/raw_ws.ts";
import { TwilioTestClient } from "../support/twilio_client.ts";

const encoder = new TextEncoder();

/** `count` copies of one client frame, in one buffer to write at once. */
function repeated(frame: Uint8Array, count: number): Uint8Array {
  const out = new Uint8Array(frame.length * count);
  for (let i = 0; i < count; i++) out.set(frame, i * frame.length);
  return out;
}

/** Captures console.warn (the adapter's default problem sink). */
function captureWarnings(): { lines: string[]; restore(): void } {
  const lines: string[] = [];
  const orig = console.warn;
  console.warn = (...a: unknown[]) => lines.push(a.map(String).join(" "));
  return { lines, restore: () => (console.warn = orig) };
}

/** A server around serveSocket alone, for the adapter's own limits. */
function adapterServer(
  options: Partial<
    Omit<Parameters<typeof serveSocket>[0], "socket" | "codec">
  > = {},
) {
  const served: Promise<SocketStats>[] = [];
  const buses: FrameBus[] = [];
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen: () => {} },
    (req) => {
      const { socket, response } = Deno.upgradeWebSocket(req);
      served.push(serveSocket({
        onProblem: () => {},
        ...options,
        socket,
        codec: createTwilioCodec(),
        startCall: options.startCall ?? ((call) => {
          const bus = new FrameBus({
            callId: call.callId,
            transportInputRate: 8000,
            transportOutputRate: 8000,
            handlerInputRate: 8000,
          });
          buses.push(bus);
          return { bus };
        }),
      }));
      return response;
    },
  );
  return { server, served, buses, url: `ws://127.0.0.1:${server.addr.port}/` };
}

const twilioStart = (sid: string) =>
  JSON.stringify({
    event: "start",
    streamSid: sid,
    start: { streamSid: sid, callSid: "CA1", accountSid: "AC1" },
  });

Deno.test("issue 13 item 1: a client that floods invalid messages and pings but never reads gets a bounded number of replies; memory stays bounded", async () => {
  const log = captureWarnings();
  const stream = new Stream({ handler: new EchoHandler(), verbose: false });
  const server = serveStream(stream);
  const raw = await RawWebSocket.connect(`${server.wsUrl}/websocket/offer`);
  try {
    const rssBefore = Deno.memoryUsage().rss;
    const t0 = performance.now();
    // 50,000 one-byte invalid JSON messages, 10,000 WebSocket pings and
    // 10,000 protocol pings, written without reading a single reply (before
    // the 10 s start timeout).
    // (Today's issue: 3.5 MB of such messages queued ~25 MB of replies.)
    await raw.write(repeated(RawWebSocket.frame(1, encoder.encode("x")), 5e4));
    await raw.write(repeated(RawWebSocket.frame(9, new Uint8Array(0)), 1e4));
    await raw.write(
      repeated(RawWebSocket.frame(1, encoder.encode('{"event":"ping"}')), 1e4),
    );
    // Let the server work through the backlog (it reads as we write).
    await new Promise((r) => setTimeout(r, 500));
    const seconds = (performance.now() - t0) / 1000;
    const growthMb = (Deno.memoryUsage().rss - rssBefore) / 1e6;
    const { frames } = await raw.readFrames(1500);
    // Logging goes on while the server works through the backlog: the log
    // budget is counted over everything that elapsed (a busy machine takes
    // longer, and may log 1 line per second longer).
    const total = (performance.now() - t0) / 1000;
    const replies = frames.filter((f) => f.opcode === 1).length;
    const pongs = frames.filter((f) => f.opcode === 10).length;
    // Error replies and protocol pongs share one bucket: 20 at once, then
    // 5 per second.
    assert.ok(
      replies <= 20 + 5 * (seconds + 2) + 1,
      `${replies} text replies in ${seconds.toFixed(1)} s`,
    );
    // Deno answers WebSocket pings itself; those pongs wait in the kernel
    // socket buffer, not in the server's memory.
    assert.ok(pongs <= 1e4, `${pongs} pongs`);
    // A sanity bound (this process also runs the client); the reply count
    // above is what tells a bounded server from an unbounded one.
    assert.ok(growthMb < 100, `RSS grew ${growthMb.toFixed(1)} MB`);
    // Logged problems are rate-limited too: 10 at once, then 1 per second.
    assert.ok(
      log.lines.length <= 10 + total + 2,
      `${log.lines.length} log lines: ${log.lines.slice(0, 6).join(" | ")}`,
    );
  } finally {
    raw.close();
    log.restore();
    await server.close();
  }
});

Deno.test("issue 13 item 1: a socket that stays over maxBufferedBytes for drainTimeoutMs is closed and its call ends, even though the client never reads the close frame", async () => {
  const { server, served, buses, url } = adapterServer({
    // Send all audio at once so the socket fills quickly.
    leadMs: 3_600_000,
    maxBufferedBytes: 64 * 1024,
    drainTimeoutMs: 300,
    closeGraceMs: 300,
  });
  const raw = await RawWebSocket.connect(url);
  try {
    await raw.sendText(twilioStart("MZflood"));
    await until(() => buses.length === 1, 3000, "call started");
    const bus = buses[0];
    // One hour of audio offered to a client that reads nothing.
    const feeding = (async () => {
      for (let i = 0; i < 3600 && !bus.closed; i++) {
        await bus.sendOutput([8000, new Int16Array(8000)]);
      }
    })();
    const stats = await served[0];
    await feeding;
    assert.equal(stats.closedBy, "not_reading");
    assert.equal(stats.closedCleanly, false);
    assert.equal(bus.closeReason, "client is not reading");
    // Only about the cap (plus what the kernel took) was ever queued.
    assert.ok(
      stats.audioOut < 3600,
      `${stats.audioOut} frames sent before closing`,
    );
  } finally {
    raw.close();
    await server.shutdown();
  }
});

Deno.test("issue 13 item 3: sockets that never send start are closed (1008) after the start timeout, on both socket routes", async () => {
  const stream = new Stream({ handler: new EchoHandler(), verbose: false });
  const server = serveStream(stream);
  const log = captureWarnings();
  const sockets: { ws: WebSocket; closed: Promise<CloseEvent> }[] = [];
  try {
    const t0 = performance.now();
    for (let i = 0; i < 100; i++) {
      const route = i % 2 ? "/websocket/offer" : "/telephone/handler";
      // A well-behaved socket otherwise: it answers pings and close frames.
      const ws = new WebSocket(`${server.wsUrl}${route}`);
      const closed = new Promise<CloseEvent>((r) =>
        ws.addEventListener("close", r)
      );
      await new Promise((r) => ws.addEventListener("open", r));
      sockets.push({ ws, closed });
    }
    const events = await Promise.all(sockets.map((s) => s.closed));
    const seconds = (performance.now() - t0) / 1000;
    for (const e of events) {
      assert.equal(e.code, 1008);
      assert.equal(e.reason, "no start message");
    }
    // The default start timeout is 10 s (generous bounds for a busy CI).
    assert.ok(seconds >= 9 && seconds < 30, `closed after ${seconds} s`);
    assert.equal(stream.activeCalls, 0);
  } finally {
    for (const s of sockets) s.ws.close();
    log.restore();
    await server.close();
  }
});

Deno.test("issue 13 item 3: a silent client that never answers the close frame is released after closeGraceMs", async () => {
  const { server, served, url } = adapterServer({
    startCall: () => {
      throw new Error("unused");
    },
    startTimeoutMs: 200,
    closeGraceMs: 300,
  });
  const raw = await RawWebSocket.connect(url);
  try {
    const stats = await served[0];
    assert.equal(stats.closedBy, "start_timeout");
    assert.equal(stats.closedCleanly, false);
    // The close frame was sent, with the reason.
    const { frames } = await raw.readFrames(1000);
    const close = frames.find((f) => f.opcode === 8);
    assert.ok(close, "a close frame");
    assert.deepEqual(closeInfo(close), {
      code: 1008,
      reason: "no start message",
    });
  } finally {
    raw.close();
    await server.shutdown();
  }
});

Deno.test("issue 13 item 4: rejected messages are logged rate-limited, truncated and with control characters escaped", async () => {
  const log = captureWarnings();
  const stream = new Stream({ handler: new EchoHandler(), verbose: false });
  const server = serveStream(stream);
  const raw = await RawWebSocket.connect(`${server.wsUrl}/telephone/handler`);
  try {
    const t0 = performance.now();
    const forged = "\n[parley] call MZ1 ended: done\u001b[31m RED \u001b[0m\r";
    await raw.sendText(JSON.stringify({ event: forged }));
    await raw.sendText(`not json ${forged}`);
    // 1 MiB - 1 of text: under the size limit, so it reaches the codec.
    await raw.sendText("y".repeat((1 << 20) - 1));
    const flood = repeated(RawWebSocket.frame(1, encoder.encode("{")), 5000);
    await raw.write(flood);
    await until(() => log.lines.length >= 10, 5000, "log lines");
    // A problem after the bucket refills reports how many were dropped.
    await new Promise((r) => setTimeout(r, 1200));
    const before = log.lines.length;
    await raw.sendText("{");
    await until(() => log.lines.length > before, 5000, "the count line");
    const lines = log.lines;
    const seconds = (performance.now() - t0) / 1000;
    // 10 at once, then 1 per second.
    assert.ok(
      lines.length <= 10 + seconds + 2,
      `${lines.length} lines for 5003 problems in ${seconds.toFixed(1)} s`,
    );
    assert.ok(
      lines.some((l) => l.includes("earlier problems not logged")),
      lines.join("\n"),
    );
    for (const l of lines) {
      assert.ok(l.length < 600, `a ${l.length}-character log line`);
      // deno-lint-ignore no-control-regex
      assert.doesNotMatch(l, /[\u0000-\u001f\u007f]/, "no raw control chars");
    }
    // The forged line is inside an escaped value, not a line of its own.
    for (const l of lines) assert.match(l, /^\[parley\] twilio: /);
    assert.ok(
      lines.some((l) => l.includes("\\n[parley] call MZ1 ended")),
      lines.join("\n"),
    );
  } finally {
    raw.close();
    log.restore();
    await server.close();
  }
});

Deno.test("issue 13 item 4: streamSid and websocket_id lengths are bounded; an over-long id starts no call", async () => {
  const log = captureWarnings();
  const journal = new Journal();
  const stream = new Stream({
    handler: new EchoHandler(journal),
    verbose: false,
  });
  const server = serveStream(stream);
  try {
    const long = await TwilioTestClient.connect(
      `${server.wsUrl}/telephone/handler`,
      { streamSid: `MZ${"a".repeat(10_000)}` },
    );
    const fastrtc = new WebSocket(`${server.wsUrl}/websocket/offer`);
    await new Promise((r) => fastrtc.addEventListener("open", r));
    const replies: string[] = [];
    fastrtc.addEventListener("message", (e) => replies.push(String(e.data)));
    fastrtc.send(
      JSON.stringify({ event: "start", websocket_id: "w".repeat(257) }),
    );
    await until(() => replies.length >= 1, 3000, "an error reply");
    await until(
      () => log.lines.some((l) => l.includes("streamSid")),
      3000,
      "the rejected streamSid logged",
    );
    assert.match(replies[0], /1-256 characters/);
    assert.equal(stream.activeCalls, 0);
    assert.ok(
      log.lines.some((l) => /streamSid/.test(l) && l.length < 600),
      log.lines.join("\n"),
    );
    // The longest accepted id works.
    const ok = await TwilioTestClient.connect(
      `${server.wsUrl}/telephone/handler`,
      { streamSid: `MZ${"b".repeat(126)}` },
    );
    ok.sendMulaw(new Uint8Array(160).fill(0x21));
    await ok.waitFor(() => ok.media.length >= 1, 3000, "echo");
    assert.equal(journal.started, 1);
    await ok.close();
    await long.close();
    fastrtc.close();
  } finally {
    log.restore();
    await server.close();
  }
});

Deno.test("issue 13 item 4: a call id with control characters is refused, so it cannot forge the call started/ended log lines", async () => {
  const logged: string[] = [];
  const log = console.log, warn = console.warn;
  console.log = (...a: unknown[]) => logged.push(a.map(String).join(" "));
  console.warn = (...a: unknown[]) => logged.push(a.map(String).join(" "));
  const stream = new Stream({ handler: new EchoHandler() }); // verbose
  const server = serveStream(stream);
  try {
    const ws = new WebSocket(`${server.wsUrl}/websocket/offer`);
    await new Promise((r) => ws.addEventListener("open", r));
    const replies: string[] = [];
    ws.addEventListener("message", (e) => replies.push(String(e.data)));
    const closed = new Promise((r) => ws.addEventListener("close", r));
    ws.send(JSON.stringify({
      event: "start",
      websocket_id: "x\n[parley] call admin ended: done\u001b[31m",
    }));
    await closed;
    assert.equal(stream.activeCalls, 0);
    assert.ok(replies.some((r) => r.includes("invalid_id")), replies.join());
    for (const l of logged) {
      // deno-lint-ignore no-control-regex
      assert.doesNotMatch(l, /[\u0000-\u001f\u007f]/, l);
    }
    assert.ok(!logged.some((l) => /call x/.test(l)), logged.join("\n"));
  } finally {
    console.log = log;
    console.warn = warn;
    await server.close();
  }
});
