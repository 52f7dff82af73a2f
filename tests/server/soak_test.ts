// Issue 13, "Prove it": 1,000 connect / stream / hang-up cycles, 20 at a
// time, on both socket routes. Afterwards nothing is left: no call, no
// socket, every shutdown() ran, file descriptors and RSS back near the
// baseline, and Deno's op and resource sanitizers (on) find no leak.
import assert from "node:assert/strict";
import { Stream } from "../../mod.ts";
import { EchoHandler, Journal } from "../support/handlers.ts";
import { serveStream, until } from "../support/server.ts";
import { TwilioTestClient } from "../support/twilio_client.ts";

const CYCLES = Number(Deno.env.get("PARLEY_SOAK_CYCLES") ?? 1000);
const CONCURRENCY = 20;

/** V8's collector, when the test runs with --v8-flags=--expose-gc. */
const gc = (globalThis as { gc?: () => void }).gc;

async function collectGarbage(): Promise<void> {
  if (!gc) return;
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 20));
  }
}

function openFds(): number | null {
  try {
    return [...Deno.readDirSync("/proc/self/fd")].length;
  } catch {
    return null; // not Linux
  }
}

/** One Twilio call: start, 100 ms of audio, an echo, a hang-up. */
async function twilioCycle(wsUrl: string, i: number): Promise<void> {
  const c = await TwilioTestClient.connect(`${wsUrl}/telephone/handler`, {
    streamSid: `MZsoak${i}`,
  });
  for (let f = 0; f < 5; f++) c.sendMulaw(new Uint8Array(160).fill(0x30 + f));
  await c.waitFor(() => c.media.length >= 1, 10_000, `echo on cycle ${i}`);
  if (i % 2) c.stop(); // a Twilio "stop", or a plain hang-up
  await c.close();
}

/** One FastRTC WebSocket call. */
async function webSocketCycle(wsUrl: string, i: number): Promise<void> {
  const ws = new WebSocket(`${wsUrl}/websocket/offer`);
  const closed = new Promise((r) => ws.addEventListener("close", r));
  let echoed!: () => void;
  const echo = new Promise<void>((r) => echoed = r);
  ws.addEventListener("message", (e) => {
    if (JSON.parse(e.data as string).event === "media") echoed();
  });
  await new Promise((r) => ws.addEventListener("open", r));
  ws.send(JSON.stringify({ event: "start", websocket_id: `soak-${i}` }));
  const payload = btoa(String.fromCharCode(...new Uint8Array(160).fill(0x40)));
  for (let f = 0; f < 5; f++) {
    ws.send(JSON.stringify({ event: "media", media: { payload } }));
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    echo,
    new Promise((_, j) =>
      timer = setTimeout(() => j(new Error(`no echo on cycle ${i}`)), 10_000)
    ),
  ]);
  clearTimeout(timer);
  if (i % 4 === 1) ws.send(JSON.stringify({ event: "stop" }));
  else ws.close();
  await closed;
}

Deno.test(`soak: ${CYCLES} connect/stream/hang-up cycles (${CONCURRENCY} at a time) leave no call, socket, fd or memory behind`, async () => {
  const journal = new Journal();
  const stream = new Stream({
    handler: new EchoHandler(journal),
    verbose: false,
  });
  const server = serveStream(stream);
  try {
    // Warm up (JIT, buffers), then take the baseline.
    for (let i = 0; i < 20; i++) await twilioCycle(server.wsUrl, -1 - i);
    await until(() => stream.activeCalls === 0, 5000, "warm-up calls to end");
    await collectGarbage();
    const fdsBefore = openFds();
    const rssBefore = Deno.memoryUsage().rss;
    const heapBefore = Deno.memoryUsage().heapUsed;
    let rssPeak = rssBefore;
    const t0 = performance.now();
    let next = 0;
    const worker = async () => {
      while (next < CYCLES) {
        const i = next++;
        if (i % 2) await webSocketCycle(server.wsUrl, i);
        else await twilioCycle(server.wsUrl, i);
        if (i % 50 === 0) rssPeak = Math.max(rssPeak, Deno.memoryUsage().rss);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const seconds = (performance.now() - t0) / 1000;
    await until(
      () => stream.activeCalls === 0 && stream.socketStats.live === 0,
      10_000,
      "every call and socket to end",
    );
    await until(
      () => journal.shutdowns === journal.started,
      5000,
      "every shutdown()",
    );
    // Let closed sockets' last ops settle before counting fds.
    await new Promise((r) => setTimeout(r, 300));
    await collectGarbage();
    const fdsAfter = openFds();
    const rssAfter = Deno.memoryUsage().rss;
    const heapAfter = Deno.memoryUsage().heapUsed;
    const stats = stream.socketStats;
    console.log(
      `${CYCLES} cycles in ${seconds.toFixed(1)} s; RSS ${
        (rssBefore / 1e6).toFixed(0)
      } MB → peak ${(rssPeak / 1e6).toFixed(0)} → after ${
        (rssAfter / 1e6).toFixed(0)
      } MB; heap ${(heapBefore / 1e6).toFixed(1)} → ${
        (heapAfter / 1e6).toFixed(1)
      } MB${gc ? " (after gc)" : ""}; fds ${fdsBefore} → ${fdsAfter}; ` +
        `sockets closed ${stats.closed}, ` +
        `rejected ${stats.rejected}, unclean ${stats.unclean}`,
    );
    assert.equal(journal.started, CYCLES + 20);
    assert.equal(journal.shutdowns, CYCLES + 20);
    assert.equal(stats.closed, CYCLES + 20);
    assert.equal(stats.rejected, 0);
    assert.equal(stats.unclean, 0);
    if (fdsBefore !== null && fdsAfter !== null) {
      assert.ok(fdsAfter <= fdsBefore + 2, `fds ${fdsBefore} → ${fdsAfter}`);
    }
    // No per-call growth. With a collector to call (`deno task test` passes
    // --v8-flags=--expose-gc) the live heap must be back within 10 MB:
    // 1,000 leaked calls of even 10 kB would show. Without one, only a
    // loose bound on RSS (other tests' garbage shares this process).
    const heapGrowthMb = (heapAfter - heapBefore) / 1e6;
    const rssGrowthMb = (rssAfter - rssBefore) / 1e6;
    if (gc) {
      assert.ok(heapGrowthMb < 10, `heap grew ${heapGrowthMb.toFixed(1)} MB`);
    }
    assert.ok(rssGrowthMb < 150, `RSS grew ${rssGrowthMb.toFixed(1)} MB`);
  } finally {
    await server.close();
  }
});
