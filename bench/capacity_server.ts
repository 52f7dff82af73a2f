/**
 * The server side of the capacity benchmark (`bench/capacity.ts`): exactly
 * the default echo bot of `deno task start` (`examples/echo.ts`'s stream,
 * served by `stream.serve()` with its defaults), plus a passive probe.
 *
 * ```sh
 * PORT=8000 HOST=127.0.0.1 PROBE_PORT=8001 deno run --allow-net --allow-env \
 *   --allow-read --allow-ffi --allow-sys bench/capacity_server.ts
 * ```
 *
 * With `CAPACITY_BOT=echo8k` it serves the same echo with 8 kHz handler
 * rates instead (as `examples/phone_echo.ts`), for comparison.
 *
 * The probe wraps each call's handler copy (`receive` and `shutdown` only)
 * and measures, on the server, how late each inbound frame reaches the
 * handler: the load generator passes the wall-clock time of the call's first
 * frame as the Twilio custom parameter `t0`, so frame `k` (20 ms of audio)
 * is due at `t0 + (k + 1) × 20 ms`, and its lag is the time `receive` starts
 * minus that (the bus hands the handler one chunk per inbound frame). At shutdown it records the call's bus counters. Everything is
 * served as JSON on `http://127.0.0.1:PROBE_PORT/stats`; `GET /warm`
 * answers once the VAD model is loaded.
 *
 * @module
 */

import {
  type AudioChunk,
  createWebRtcEndpoint,
  ReplyOnPause,
  Stream,
} from "../mod.ts";
import { createEchoStream, echo as defaultEcho } from "../examples/echo.ts";
import { getSileroModel } from "../src/vad/silero.ts";

// CAPACITY_BOT=echo8k: the same bot with 8 kHz handler rates (what
// examples/phone_echo.ts does), to measure what the default 48 kHz
// inputSampleRate costs a phone call. Anything else: the default bot.
const bot8k = Deno.env.get("CAPACITY_BOT") === "echo8k";
const echo: ReplyOnPause = bot8k
  ? new ReplyOnPause(async function* (audio) {
    yield audio;
  }, { inputSampleRate: 8000, outputSampleRate: 8000 })
  : defaultEcho;

/** Lag histogram resolution: 1 ms bins up to this many ms (last bin: more). */
const LAG_BINS = 10_000;

/** Counters of one finished call, keyed by `streamSid` in the stats. */
export interface ProbeCall {
  /** `receive` calls (one per inbound chunk that reached the handler). */
  received: number;
  /** Samples received, converted to 8 kHz samples. */
  samples8k: number;
  /** The bus's `inputChunks`: chunks the transport handed to the bus. */
  inputChunks: number;
  /** The bus's `droppedInputChunks`. */
  droppedInputChunks: number;
  /** The bus's `outputFrames`: reply frames queued for the transport. */
  outputFrames: number;
  /** The bus's `flushedOutputFrames` (barge-in). */
  flushedOutputFrames: number;
  /** The bus's `interrupts`. */
  interrupts: number;
}

/** What `GET /stats` returns. */
export interface ProbeStats {
  /** Calls whose handler started. */
  started: number;
  /** Calls whose handler shut down. */
  ended: number;
  /** Inbound frames measured. */
  frames: number;
  /** Inbound lag percentiles in ms. */
  lagMs: { p50: number; p90: number; p99: number; max: number };
  /** Frames later than 50, 100 and 200 ms. */
  lateOver: { 50: number; 100: number; 200: number };
  /** Silero inferences and the windows they carried (the bot's shared model). */
  vad: { batches: number; windows: number };
  /** Per call, once ended. */
  calls: Record<string, ProbeCall>;
  /** `Deno.memoryUsage()` when the RSS was highest (sampled every 250 ms). */
  memoryAtPeak: Deno.MemoryUsage;
}

const histogram = new Uint32Array(LAG_BINS + 1);
let frames = 0;
let maxLag = 0;
let started = 0;
let ended = 0;
const calls: Record<string, ProbeCall> = {};
let memoryAtPeak: Deno.MemoryUsage = Deno.memoryUsage();
const memoryTimer = setInterval(() => {
  const m = Deno.memoryUsage();
  if (m.rss > memoryAtPeak.rss) memoryAtPeak = m;
}, 250);
Deno.unrefTimer(memoryTimer);

interface Probed {
  context: {
    callId: string;
    customParameters?: Readonly<Record<string, string>>;
  };
  bus: {
    stats: {
      inputChunks: number;
      droppedInputChunks: number;
      outputFrames: number;
      flushedOutputFrames: number;
      interrupts: number;
    };
  };
  receive(frame: AudioChunk): Promise<void>;
  shutdown(): void | Promise<void>;
}

function percentile(q: number): number {
  if (frames === 0) return 0;
  const want = Math.ceil(q * frames);
  let seen = 0;
  for (let i = 0; i <= LAG_BINS; i++) {
    seen += histogram[i];
    if (seen >= want) return i;
  }
  return LAG_BINS;
}

function lateOver(ms: number): number {
  let n = 0;
  for (let i = ms + 1; i <= LAG_BINS; i++) n += histogram[i];
  return n;
}

const copy = echo.copy.bind(echo);
echo.copy = () => {
  const handler = copy();
  const h = handler as unknown as Probed;
  const receive = h.receive.bind(h);
  const shutdown = h.shutdown.bind(h);
  let t0 = NaN;
  let samples8k = 0;
  let received = 0;
  started++;
  h.receive = (frame: AudioChunk) => {
    const now = performance.timeOrigin + performance.now();
    if (received === 0) t0 = Number(h.context.customParameters?.t0);
    received++;
    samples8k += frame[1].length * 8000 / frame[0];
    if (Number.isFinite(t0)) {
      // One chunk per inbound 20 ms frame: chunk k (from 1) holds audio
      // that exists from t0 + k × 20 ms on.
      const lag = Math.max(0, now - (t0 + received * 20));
      histogram[Math.min(LAG_BINS, Math.floor(lag))]++;
      frames++;
      if (lag > maxLag) maxLag = lag;
    }
    return receive(frame);
  };
  h.shutdown = () => {
    ended++;
    const s = h.bus.stats;
    calls[h.context.callId] = {
      received,
      samples8k: Math.round(samples8k),
      inputChunks: s.inputChunks,
      droppedInputChunks: s.droppedInputChunks,
      outputFrames: s.outputFrames,
      flushedOutputFrames: s.flushedOutputFrames,
      interrupts: s.interrupts,
    };
    return shutdown();
  };
  return handler;
};

(bot8k
  ? new Stream({
    handler: echo,
    modality: "audio",
    mode: "send-receive",
    webrtc: createWebRtcEndpoint(),
  })
  : createEchoStream()).serve();

const probePort = Number(Deno.env.get("PROBE_PORT") ?? 0);
const probe = Deno.serve({
  port: probePort,
  hostname: "127.0.0.1",
  onListen: (addr) => console.log(`probe listening on ${addr.port}`),
}, async (req) => {
  const path = new URL(req.url).pathname;
  if (path === "/warm") {
    await echo.warmUp();
    return new Response("warm");
  }
  if (path === "/stats") {
    const stats: ProbeStats = {
      started,
      ended,
      frames,
      lagMs: {
        p50: percentile(0.5),
        p90: percentile(0.9),
        p99: percentile(0.99),
        max: Math.round(maxLag),
      },
      lateOver: { 50: lateOver(50), 100: lateOver(100), 200: lateOver(200) },
      memoryAtPeak,
      // Same default options as the bot: the same cached model object.
      vad: (await getSileroModel()).stats,
      calls,
    };
    return Response.json(stats);
  }
  return new Response("not found", { status: 404 });
});

// stream.serve() drains and stops on SIGTERM; stop the probe too, so the
// process exits by itself (and --cpu-prof gets to write its profile).
Deno.addSignalListener("SIGTERM", () => probe.shutdown());
