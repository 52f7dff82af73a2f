// Issue 13, "Prove it": a seeded protocol fuzz of more than 10,000 hostile
// messages across /telephone/handler, /websocket/offer, /webrtc/offer,
// /input_hook and /outputs while two well-behaved calls keep echoing.
// Asserts: no uncaught error and no 500, every hostile message rejected and
// counted by the server, the good calls echo correctly throughout, and the
// server's RSS stays under a ceiling. The server is a subprocess
// (tests/support/fuzz_server.ts), so its memory is measured alone.
import assert from "node:assert/strict";
import type { StreamSocketStats } from "../../src/server/mod.ts";
import { createTwilioCodec } from "../../src/transports/twilio.ts";
import { createFastRtcWebSocketCodec } from "../../src/transports/websocket.ts";
import {
  hostileSocketMessages,
  type Rand,
  seeded,
} from "../support/hostile.ts";
import { until } from "../support/server.ts";
import { TwilioTestClient } from "../support/twilio_client.ts";

const SEED = Number(Deno.env.get("PARLEY_FUZZ_SEED") ?? 20261201);
const MAX_BYTES = 1 << 20;
/** Peak growth of the server's RSS the fuzz may cause (measured: docs). */
const RSS_CEILING_MB = 100;

const SOCKETS_PER_PROTOCOL = 40;
const MESSAGES_PER_SOCKET = 100;
const HTTP_PER_ROUTE = 1000;

/** A good call: sends one 20 ms frame every 20 ms, checks the echo. */
interface GoodCall {
  name: string;
  sent: number;
  received: number;
  wrong: number;
  longestGapMs: number;
  stop(): Promise<void>;
}

function frameValue(i: number): number {
  return 0x10 + (i % 0x60); // μ-law codes that survive a round trip
}

function checkFrame(call: GoodCall, bytes: Uint8Array, last: { at: number }) {
  const now = performance.now();
  call.longestGapMs = Math.max(call.longestGapMs, now - last.at);
  last.at = now;
  call.received++;
  const v = bytes[0];
  if (v < 0x10 || v >= 0x70 || bytes.some((b) => b !== v)) call.wrong++;
}

async function goodTwilioCall(wsUrl: string): Promise<GoodCall> {
  const client = await TwilioTestClient.connect(`${wsUrl}/telephone/handler`, {
    streamSid: "MZgoodcall",
  });
  const last = { at: performance.now() };
  const call: GoodCall = {
    name: "twilio",
    sent: 0,
    received: 0,
    wrong: 0,
    longestGapMs: 0,
    stop: async () => {
      clearInterval(timer);
      await client.close();
    },
  };
  client.socket.addEventListener("message", (e) => {
    const msg = JSON.parse(e.data as string);
    if (msg.event !== "media") return;
    checkFrame(
      call,
      Uint8Array.from(atob(msg.media.payload), (c) => c.charCodeAt(0)),
      last,
    );
  });
  const timer = setInterval(() => {
    client.sendMulaw(new Uint8Array(160).fill(frameValue(call.sent++)));
  }, 20);
  return call;
}

async function goodFastRtcCall(wsUrl: string): Promise<GoodCall> {
  const ws = new WebSocket(`${wsUrl}/websocket/offer`);
  await new Promise((r) => ws.addEventListener("open", r));
  const closed = new Promise((r) => ws.addEventListener("close", r));
  ws.send(JSON.stringify({ event: "start", websocket_id: "good-websocket" }));
  const last = { at: performance.now() };
  const call: GoodCall = {
    name: "websocket",
    sent: 0,
    received: 0,
    wrong: 0,
    longestGapMs: 0,
    stop: async () => {
      clearInterval(timer);
      ws.close();
      await closed;
    },
  };
  ws.addEventListener("message", (e) => {
    const msg = JSON.parse(e.data as string);
    if (msg.event !== "media") return;
    checkFrame(
      call,
      Uint8Array.from(atob(msg.media.payload), (c) => c.charCodeAt(0)),
      last,
    );
  });
  const timer = setInterval(() => {
    const bytes = new Uint8Array(160).fill(frameValue(call.sent++));
    ws.send(JSON.stringify({
      event: "media",
      media: { payload: btoa(String.fromCharCode(...bytes)) },
    }));
  }, 20);
  return call;
}

/** Opens a socket, maybe starts a call, sends hostile messages, closes. */
async function hostileSocket(
  wsUrl: string,
  protocol: "twilio" | "websocket",
  rand: Rand,
  index: number,
  hugeBudget: { left: number },
  kinds: Record<string, number>,
): Promise<number> {
  const started = rand() < 0.5;
  const id = `fuzz-${protocol}-${index}`;
  const start = protocol === "twilio"
    ? JSON.stringify({
      event: "start",
      streamSid: id,
      start: { streamSid: id, callSid: "CAfuzz", accountSid: "ACfuzz" },
    })
    : JSON.stringify({ event: "start", websocket_id: id });
  const mirror = () => {
    const codec = protocol === "twilio"
      ? createTwilioCodec()
      : createFastRtcWebSocketCodec();
    if (started) codec.decode(start);
    return codec;
  };
  const { messages, kinds: k } = hostileSocketMessages({
    rand,
    protocol,
    count: MESSAGES_PER_SOCKET,
    started,
    mirror,
    maxBytes: MAX_BYTES,
    hugeBudget,
  });
  for (const [name, n] of Object.entries(k)) {
    kinds[name] = (kinds[name] ?? 0) + n;
  }
  const route = protocol === "twilio"
    ? "/telephone/handler"
    : "/websocket/offer";
  const ws = new WebSocket(`${wsUrl}${route}`);
  ws.binaryType = "arraybuffer";
  await new Promise((r, j) => {
    ws.addEventListener("open", r);
    ws.addEventListener("error", j);
  });
  const closed = new Promise((r) => ws.addEventListener("close", r));
  if (started) ws.send(start);
  for (const [i, m] of messages.entries()) {
    if (ws.readyState !== WebSocket.OPEN) break;
    ws.send(m);
    // Mostly floods; now and then let the server breathe.
    if (i % 25 === 24) await new Promise((r) => setTimeout(r, 0));
  }
  // A closing handshake after the last message: the server reads them all.
  ws.close();
  await closed;
  return messages.length;
}

/** One hostile HTTP request; returns whether the server refused it. */
async function hostileRequest(
  url: string,
  route: "webrtc" | "input" | "outputs",
  rand: Rand,
): Promise<{ refused: boolean; status: number }> {
  const r = rand();
  let response: Response;
  if (route === "outputs") {
    const id = r < 0.3
      ? "%00%0a%1b[31m"
      : r < 0.6
      ? "x".repeat(1 + Math.floor(rand() * 5000))
      : `nobody-${Math.floor(rand() * 1e9)}`;
    response = await fetch(`${url}/outputs?webrtc_id=${id}`);
    const body = await response.text();
    return {
      refused: response.status >= 400 || /failed/.test(body),
      status: response.status,
    };
  }
  const path = route === "webrtc" ? "/webrtc/offer" : "/input_hook";
  const bodies: (() => BodyInit)[] = [
    () => "{" + "x".repeat(Math.floor(rand() * 100)),
    () => "[".repeat(1000 + Math.floor(rand() * 10000)),
    () => JSON.stringify(null),
    () => JSON.stringify([1, 2, 3]),
    () => JSON.stringify({ webrtc_id: 42, type: "offer", sdp: 1 }),
    () => JSON.stringify({ webrtc_id: "", type: "offer" }),
    () => JSON.stringify({ webrtc_id: "z".repeat(300), type: "offer" }),
    () =>
      JSON.stringify({
        webrtc_id: `nobody-${Math.floor(rand() * 1e9)}`,
        type: "ice-candidate",
        candidate: { candidate: "candidate:1 1 udp 1 1.2.3.4 5 typ host" },
        args: ["inject"],
      }),
    () =>
      JSON.stringify({
        webrtc_id: `f-${Math.floor(rand() * 1e9)}`,
        type: "offer",
        sdp: "v=0\r\nnot really an offer",
      }),
    () => new Uint8Array(Math.floor(rand() * 4000)).map(() => rand() * 256),
  ];
  const body = bodies[Math.floor(r * bodies.length)]();
  response = await fetch(`${url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
  });
  const text = await response.text();
  let failed = false;
  try {
    failed = JSON.parse(text).status === "failed";
  } catch {
    failed = false;
  }
  return { refused: response.status >= 400 || failed, status: response.status };
}

/** The fuzz server subprocess (tests/support/fuzz_server.ts). */
async function startServer() {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../support/fuzz_server.ts", import.meta.url).pathname,
    ],
    stdout: "piped",
    stderr: "inherit",
    stdin: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!/LISTENING (\d+)/.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the fuzz server exited: ${text}`);
    text += value;
  }
  const port = Number(/LISTENING (\d+)/.exec(text)![1]);
  const drain = (async () => {
    while (!(await reader.read()).done) { /* keep the pipe flowing */ }
  })();
  return {
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}`,
    stats: async (baseline = false): Promise<ServerStats> =>
      await (await fetch(
        `http://127.0.0.1:${port}/__stats${baseline ? "?baseline" : ""}`,
      )).json(),
    async close() {
      child.kill("SIGKILL");
      await child.status;
      await drain.catch(() => {});
    },
  };
}

interface ServerStats {
  sockets: StreamSocketStats;
  activeCalls: number;
  rss: number;
  baseline: number;
  peak: number;
  uncaught: string[];
  errors: string[];
  warnings: number;
}

Deno.test("fuzz: 10,000+ seeded hostile messages on five routes, two good calls keep echoing, every rejection counted, server RSS bounded", async () => {
  const server = await startServer();
  const good: GoodCall[] = [];
  try {
    good.push(await goodTwilioCall(server.wsUrl));
    good.push(await goodFastRtcCall(server.wsUrl));
    await until(() => good.every((g) => g.received > 10), 5000, "echo");
    await new Promise((r) => setTimeout(r, 500));
    await server.stats(true); // the RSS baseline: two calls up
    const t0 = performance.now();

    // Socket routes: two lanes per protocol, sockets one after another.
    const kinds: Record<string, number> = {};
    const hugeBudget = { left: 20 };
    let socketMessages = 0;
    const lane = async (protocol: "twilio" | "websocket", lane: number) => {
      const r = seeded(SEED + lane + (protocol === "twilio" ? 100 : 200));
      for (let i = lane; i < SOCKETS_PER_PROTOCOL; i += 2) {
        const sent = await hostileSocket(
          server.wsUrl,
          protocol,
          r,
          i,
          hugeBudget,
          kinds,
        );
        socketMessages += sent;
      }
    };
    // HTTP routes: two lanes, requests one after another.
    const http = {
      sent: 0,
      refused: 0,
      statuses: {} as Record<number, number>,
    };
    const httpLane = async (lane: number) => {
      const r = seeded(SEED + 300 + lane);
      const routes = ["webrtc", "input", "outputs"] as const;
      for (let i = lane; i < HTTP_PER_ROUTE * 3; i += 2) {
        const res = await hostileRequest(server.url, routes[i % 3], r);
        http.sent++;
        if (res.refused) http.refused++;
        http.statuses[res.status] = (http.statuses[res.status] ?? 0) + 1;
      }
    };
    await Promise.all([
      lane("twilio", 0),
      lane("twilio", 1),
      lane("websocket", 0),
      lane("websocket", 1),
      httpLane(0),
      httpLane(1),
    ]);
    const seconds = (performance.now() - t0) / 1000;

    // Every hostile socket is closed: the server has counted all of it.
    let stats = await server.stats();
    const end = performance.now() + 10_000;
    while (
      stats.sockets.closed < 2 * SOCKETS_PER_PROTOCOL &&
      performance.now() < end
    ) {
      await new Promise((r) => setTimeout(r, 50));
      stats = await server.stats();
    }
    const growthMb = (stats.peak - stats.baseline) / 1e6;
    const total = socketMessages + http.sent;
    console.log(
      `seed ${SEED}: ${total} hostile messages (${socketMessages} on ` +
        `sockets, ${http.sent} HTTP) in ${seconds.toFixed(1)} s; kinds ` +
        `${JSON.stringify(kinds)}; HTTP statuses ` +
        `${JSON.stringify(http.statuses)}; server rejected ` +
        `${stats.sockets.rejected}, dropped ${stats.sockets.repliesDropped} ` +
        `replies, suppressed ${stats.sockets.problemsSuppressed} log lines ` +
        `(${stats.warnings} logged); server RSS ${
          (stats.baseline / 1e6).toFixed(0)
        } MB, peak +${growthMb.toFixed(1)} MB, now ${
          (stats.rss / 1e6).toFixed(0)
        } MB; good calls ` +
        good.map((g) =>
          `${g.name} ${g.received}/${g.sent} gap ${
            g.longestGapMs.toFixed(0)
          } ms`
        ).join(", "),
    );

    assert.ok(total >= 10_000, `${total} hostile messages`);
    assert.equal(stats.sockets.closed, 2 * SOCKETS_PER_PROTOCOL);
    assert.deepEqual(stats.uncaught, [], "uncaught errors in the server");
    assert.deepEqual(stats.errors, [], "server errors logged");
    assert.equal(http.statuses[500] ?? 0, 0, "no 500");
    // Every hostile socket message was rejected and counted.
    assert.equal(stats.sockets.rejected, socketMessages);
    assert.equal(http.refused, http.sent, "every hostile request refused");
    assert.ok(
      growthMb < RSS_CEILING_MB,
      `server RSS grew ${growthMb.toFixed(1)} MB (ceiling ${RSS_CEILING_MB})`,
    );
    for (const g of good) {
      assert.equal(g.wrong, 0, `${g.name}: wrong echo frames`);
      assert.ok(
        g.received >= g.sent * 0.8,
        `${g.name}: ${g.received} of ${g.sent} frames echoed`,
      );
      assert.ok(
        g.longestGapMs < 3000,
        `${g.name}: echo stalled ${g.longestGapMs.toFixed(0)} ms`,
      );
    }
  } finally {
    for (const g of good) await g.stop();
    await server.close();
  }
});
