/**
 * The frame bus on a phone call with the default
 * handler rates, per call-second: 50 inbound Twilio frames resampled 8 →
 * 48 kHz for the handler, and a 1 s reply at 48 kHz cut into 8 kHz frames
 * and read back out. Run it here and on an older checkout (copy the file
 * into its `bench/`) to compare versions:
 *
 * ```sh
 * deno bench --allow-all bench/bus_bench.ts
 * ```
 *
 * @module
 */

import { FrameBus } from "../src/bus/frame_bus.ts";
import { decodeMulaw } from "../src/audio/mulaw.ts";

const speech = decodeMulaw(
  await Deno.readFile(
    new URL("../tests/fixtures/jfk_8k.ulaw", import.meta.url),
  ),
);
const frames = Array.from(
  { length: 50 },
  (_, k) => speech.slice(k * 160, (k + 1) * 160),
);
const reply48 = new Int16Array(48000);
for (let i = 0; i < reply48.length; i++) reply48[i] = speech[i >> 3] ?? 0;

const bus = new FrameBus({
  callId: "bench",
  transportInputRate: 8000,
  transportOutputRate: 8000,
  handlerInputRate: 48000,
  maxOutputQueueMs: 5000,
});
let sink = 0;

Deno.bench({
  name: "inbound: 50 frames 8k → 48k through sendInput/readInput",
  group: "bus, 1 call-second",
  async fn() {
    for (const f of frames) {
      bus.sendInput([8000, f]);
      sink += (await bus.readInput())![1].length;
    }
  },
});

Deno.bench({
  name: "outbound: 1 s reply at 48 kHz → 50 frames at 8 kHz, read out",
  group: "bus, 1 call-second",
  async fn() {
    await bus.sendOutput([48000, reply48]);
    bus.mark("m");
    while (true) {
      const item = await bus.readOutput();
      if (!item || item.kind === "mark") break;
      sink += item.samples.length;
    }
  },
});

globalThis.addEventListener("unload", () => {
  if (sink === -1) console.log(sink);
  bus.close();
});
