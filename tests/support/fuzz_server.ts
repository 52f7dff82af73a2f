/**
 * The server of the fuzz test, run as a subprocess so its memory is its
 * own: an echo `Stream` with WebRTC enabled. Besides Parley's routes it
 * answers `GET /__stats` with the stream's socket totals, its RSS (now,
 * baseline, peak sampled every 50 ms), and the errors it saw (uncaught,
 * `console.error`). `GET /__stats?baseline` resets the baseline and peak.
 * Prints `LISTENING <port>`.
 */
import { Stream } from "../../mod.ts";
import { createWebRtcEndpoint } from "../../src/transports/webrtc.ts";
import { EchoHandler } from "./handlers.ts";

const uncaught: string[] = [];
globalThis.addEventListener("unhandledrejection", (e) => {
  e.preventDefault();
  uncaught.push(String(e.reason));
});
globalThis.addEventListener("error", (e) => {
  e.preventDefault();
  uncaught.push(String(e.error));
});
const errors: string[] = [];
console.error = (...a: unknown[]) => errors.push(a.map(String).join(" "));
let warnings = 0;
console.warn = () => warnings++;

let baseline = Deno.memoryUsage().rss;
let peak = baseline;
setInterval(() => {
  peak = Math.max(peak, Deno.memoryUsage().rss);
}, 50);

const stream = new Stream({
  handler: new EchoHandler(),
  webrtc: createWebRtcEndpoint(),
  verbose: false,
});

Deno.serve({
  port: 0,
  hostname: "127.0.0.1",
  onListen: (addr) => console.log(`LISTENING ${addr.port}`),
}, (request) => {
  const url = new URL(request.url);
  if (url.pathname !== "/__stats") return stream.fetch(request);
  const rss = Deno.memoryUsage().rss;
  if (url.searchParams.has("baseline")) baseline = peak = rss;
  return Response.json({
    sockets: stream.socketStats,
    activeCalls: stream.activeCalls,
    rss,
    baseline,
    peak: Math.max(peak, rss),
    uncaught,
    errors,
    warnings,
  });
});
