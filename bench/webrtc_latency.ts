/**
 * End-to-end numbers of the WebRTC transport, measured with werift test
 * clients over loopback UDP against a `Stream` in a separate process (so the
 * server's CPU can be read from /proc):
 *
 * 1. offer → first audio: the client POSTs its offer; the handler yields a
 *    tone as soon as the call starts; time until the first RTP packet with
 *    sound reaches the client (split into offer→answer, answer→connected,
 *    connected→first audio).
 * 2. echo latency of the server path: a StreamHandler echo (no VAD), the
 *    client streams silence with a 20 ms tone burst every 300 ms; time from
 *    sending the burst's packet to receiving the echoed burst (includes two
 *    Opus/PCMU codings, SRTP both ways, the bus and the pacer).
 * 3. CPU per call: N concurrent echo calls streaming audio both ways for
 *    10 s; the server process's CPU time (utime+stime) divided by N × 10 s.
 *
 *     deno run --allow-all bench/webrtc_latency.ts
 *
 * @module
 */

import { Buffer } from "node:buffer";
import {
  type AudioChunk,
  type EmitType,
  StreamHandler,
  waitForItem,
} from "../mod.ts";
import { AsyncQueue } from "../src/transports/mod.ts";
import { Stream } from "../src/server/stream.ts";
import { createWebRtcEndpoint } from "../src/transports/webrtc.ts";
import { RtpHeader, RtpPacket } from "werift";
import {
  postVia,
  rms,
  TestClient,
  tone,
} from "../tests/transports/_webrtc_client.ts";
import type { WebRtcCodecName } from "../src/transports/webrtc_codec.ts";

class Echo extends StreamHandler {
  #q = new AsyncQueue<AudioChunk>();
  receive(frame: AudioChunk): void {
    this.#q.put(frame);
  }
  async emit(): Promise<EmitType> {
    return await waitForItem(this.#q, 100);
  }
  copy(): Echo {
    return new Echo({ inputSampleRate: 48000, outputSampleRate: 48000 });
  }
}

class Greeter extends StreamHandler {
  #sent = false;
  receive(): void {}
  async emit(): Promise<EmitType> {
    if (this.#sent) {
      await new Promise((r) => setTimeout(r, 100));
      return null;
    }
    this.#sent = true;
    return [48000, tone(48000, 440, 1)];
  }
  copy(): Greeter {
    return new Greeter({ inputSampleRate: 48000, outputSampleRate: 48000 });
  }
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p / 100 * s.length))];
}
const ms = (x: number) => `${x.toFixed(1)} ms`;

async function startServer(kind: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      new URL(import.meta.url).pathname,
      "--server",
      kind,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!/PORT (\d+)/.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error("server did not start");
    text += value;
  }
  const port = Number(/PORT (\d+)/.exec(text)![1]);
  const post = postVia((r) =>
    fetch(new Request(`http://127.0.0.1:${port}/webrtc/offer`, r))
  );
  const cpuMs = () => {
    const f = Deno.readTextFileSync(`/proc/${child.pid}/stat`).split(") ")[1]
      .split(" ");
    const ticks = Number(f[11]) + Number(f[12]); // utime + stime
    return ticks * 10; // USER_HZ = 100
  };
  return {
    post,
    cpuMs,
    async stop() {
      child.kill("SIGKILL");
      await child.status;
      reader.releaseLock();
      await child.stdout.cancel().catch(() => {});
    },
  };
}

async function offerToFirstAudio(runs: number) {
  const server = await startServer("greeter");
  const total: number[] = [],
    answer: number[] = [],
    connect: number[] = [],
    audio: number[] = [];
  for (let i = 0; i < runs; i++) {
    const client = new TestClient({ id: `greet-${i}` });
    const t0 = performance.now();
    let tAnswer = 0, tConnected = 0;
    client.pc.connectionStateChange.subscribe((s) => {
      if (s === "connected") tConnected = performance.now();
    });
    await client.connect(async (b) => {
      const r = await server.post(b);
      tAnswer = performance.now();
      return r;
    });
    while (!client.received.some((f) => rms(f) > 100)) {
      await new Promise((r) => setTimeout(r, 1));
    }
    const idx = client.received.findIndex((f) => rms(f) > 100);
    const tFirst = client.receivedAt[idx];
    total.push(tFirst - t0);
    answer.push(tAnswer - t0);
    connect.push(tConnected - tAnswer);
    audio.push(tFirst - tConnected);
    await client.close();
  }
  await server.stop();
  console.log(`\noffer → first audio (${runs} calls, Opus):`);
  console.log(
    `  total            p50 ${ms(pct(total, 50))}  p90 ${ms(pct(total, 90))}`,
  );
  console.log(
    `  offer → answer   p50 ${ms(pct(answer, 50))}  p90 ${ms(pct(answer, 90))}`,
  );
  console.log(
    `  answer → connected p50 ${ms(pct(connect, 50))}  p90 ${
      ms(pct(connect, 90))
    }`,
  );
  console.log(
    `  connected → audio  p50 ${ms(pct(audio, 50))}  p90 ${ms(pct(audio, 90))}`,
  );
}

async function echoLatency(codec: WebRtcCodecName, bursts: number) {
  const server = await startServer("echo");
  const client = new TestClient({ id: `echo-${codec}`, codec });
  await client.connect(server.post);
  await client.waitOpen();
  const rate = client.codec.sampleRate;
  const frame = rate / 50;
  const burst = tone(rate, 1000, 0.02, 12000);
  const silence = new Int16Array(frame);
  const lat: number[] = [];
  let seq = 0, ts = 0;
  const send = (pcm: Int16Array) => {
    const header = new RtpHeader({
      payloadType: 111,
      sequenceNumber: seq = (seq + 1) & 0xffff,
      timestamp: ts += frame * client.codec.clockRate / rate,
      ssrc: 4321,
    });
    client.track.writeRtp(
      new RtpPacket(header, Buffer.from(client.codec.encode(pcm))),
    );
  };
  const start = performance.now();
  let k = 0;
  let pending: number | null = null;
  let seen = client.received.length;
  while (lat.length < bursts && performance.now() - start < 60_000) {
    // Keep real time: packet k is due at start + 20 k.
    const due = start + k * 20;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const isBurst = k % 15 === 10 && pending === null;
    send(isBurst ? burst : silence);
    if (isBurst) pending = performance.now();
    k++;
    for (; seen < client.received.length; seen++) {
      if (pending !== null && rms(client.received[seen]) > 1000) {
        lat.push(client.receivedAt[seen] - pending);
        pending = null;
      }
    }
    if (pending !== null && performance.now() - pending > 2000) pending = null;
  }
  await client.close();
  await server.stop();
  console.log(
    `\necho, frame in → frame out (${lat.length} bursts, ${codec}): p50 ${
      ms(pct(lat, 50))
    }  ` +
      `p90 ${ms(pct(lat, 90))}  min ${ms(Math.min(...lat))}`,
  );
}

async function cpuPerCall(
  calls: number,
  seconds: number,
  codec: WebRtcCodecName = "opus",
) {
  const server = await startServer("echo");
  const clients: TestClient[] = [];
  for (let i = 0; i < calls; i++) {
    const c = new TestClient({ id: `cpu-${codec}-${i}`, codec });
    await c.connect(server.post);
    await c.waitOpen();
    clients.push(c);
  }
  // Pre-encode one second of tone; replay it (the client does not encode).
  const rate = clients[0].codec.sampleRate;
  const frame = rate / 50;
  const pcm = tone(rate, 300, 1, 6000);
  const packets: Buffer[] = [];
  for (let i = 0; i < 50; i++) {
    packets.push(
      Buffer.from(
        clients[0].codec.encode(pcm.subarray(i * frame, (i + 1) * frame)),
      ),
    );
  }
  let k = 0;
  const seqs = clients.map(() => 0);
  const stream = async (secs: number) => {
    const start = performance.now();
    const k0 = k;
    while (performance.now() - start < secs * 1000) {
      const due = start + (k - k0) * 20;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      clients.forEach((c, i) => {
        const header = new RtpHeader({
          payloadType: 111,
          sequenceNumber: seqs[i] = (seqs[i] + 1) & 0xffff,
          timestamp: (k * frame) % 2 ** 32,
          ssrc: 1000 + i,
        });
        c.track.writeRtp(new RtpPacket(header, packets[k % 50]));
      });
      k++;
    }
  };
  await stream(3); // warm-up (JIT), not measured
  const cpu0 = server.cpuMs();
  const start = performance.now();
  await stream(seconds);
  const elapsed = (performance.now() - start) / 1000;
  const cpu = server.cpuMs() - cpu0;
  const received = clients.map((c) => c.received.length);
  const idle0 = server.cpuMs();
  for (const c of clients) await c.close();
  await new Promise((r) => setTimeout(r, 500));
  const idleStart = server.cpuMs();
  await new Promise((r) => setTimeout(r, 3000));
  const idle = (server.cpuMs() - idleStart) / 3;
  void idle0;
  await server.stop();
  console.log(
    `\nserver CPU with ${calls} live ${codec} echo calls for ${
      elapsed.toFixed(1)
    } s: ` +
      `${cpu} ms → ${(cpu / calls / elapsed).toFixed(1)} ms per call-second ` +
      `(${(cpu / calls / elapsed / 10).toFixed(1)} % of a core per call); ` +
      `packets echoed per call: ${received.join(", ")}; the same server idle ` +
      `after the calls: ${idle.toFixed(1)} ms per second`,
  );
}

async function main() {
  const only = Deno.args[0];
  if (!only || only === "first") await offerToFirstAudio(20);
  if (!only || only === "echo") {
    await echoLatency("opus", 30);
    await echoLatency("pcmu", 30);
  }
  if (!only || only === "cpu") {
    await cpuPerCall(1, 10);
    await cpuPerCall(4, 10);
    await cpuPerCall(8, 10);
  }
  if (only === "cpu-pcmu") {
    await cpuPerCall(1, 10, "pcmu");
    await cpuPerCall(8, 10, "pcmu");
  }
}

if (Deno.args[0] === "--server") {
  const handler = Deno.args[1] === "greeter"
    ? new Greeter({ inputSampleRate: 48000, outputSampleRate: 48000 })
    : new Echo({ inputSampleRate: 48000, outputSampleRate: 48000 });
  const stream = new Stream({
    handler,
    webrtc: createWebRtcEndpoint(),
    verbose: false,
  });
  Deno.serve({
    port: 0,
    hostname: "127.0.0.1",
    onListen: (a) => console.log(`PORT ${a.port}`),
  }, stream.fetch);
} else {
  await main();
}
