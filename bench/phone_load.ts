/**
 * Load test: CPU the server spends per phone call, for the echo bot
 * (`ReplyOnPause`, Silero at 8 kHz, Twilio Media Streams over loopback).
 *
 * ```sh
 * deno run -A bench/phone_load.ts [calls=8] [seconds=10]
 * ```
 *
 * Starts the server in a child process, plays `tests/fixtures/turns_8k.ulaw`
 * in real time on N concurrent calls (looped), and reads the child's CPU time
 * from /proc before and after. Prints CPU ms per call-second and the calls
 * one core could carry at that rate. Linux only.
 */
import { TwilioTestClient } from "../tests/support/twilio_client.ts";

const calls = Number(Deno.args[0] ?? 8);
const seconds = Number(Deno.args[1] ?? 10);

if (Deno.args[0] === "--server") {
  const { ReplyOnPause, Stream } = await import("../mod.ts");
  const stream = new Stream({
    handler: new ReplyOnPause(async function* (audio) {
      yield audio;
    }, { inputSampleRate: 8000, outputSampleRate: 8000 }),
    verbose: false,
  });
  stream.serve({
    port: Number(Deno.args[1]),
    hostname: "127.0.0.1",
    onListen: () => console.log("ready"),
  });
} else {
  const port = 21000 + Math.floor(Math.random() * 20000);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL(import.meta.url).pathname,
      "--server",
      String(port),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  while (!(await reader.read()).value?.includes("ready"));
  const cpu = () => {
    const f = Deno.readTextFileSync(`/proc/${child.pid}/stat`).split(") ")[1]
      .split(" ");
    const ticks = Number(f[11]) + Number(f[12]); // utime + stime
    return ticks * 10; // ms at the usual 100 Hz clock tick
  };
  const speech = await Deno.readFile(
    new URL("../tests/fixtures/turns_8k.ulaw", import.meta.url),
  );
  const clients = await Promise.all(
    Array.from(
      { length: calls },
      () =>
        TwilioTestClient.connect(`ws://127.0.0.1:${port}/telephone/handler`),
    ),
  );
  await new Promise((r) => setTimeout(r, 500)); // VAD sessions loaded
  const before = cpu();
  const t0 = performance.now();
  const audio = new Uint8Array(8000 * seconds);
  for (let i = 0; i < audio.length; i += speech.length) {
    audio.set(speech.subarray(0, Math.min(speech.length, audio.length - i)), i);
  }
  await Promise.all(
    clients.map((c, i) =>
      new Promise((r) => setTimeout(r, i * 13)).then(() =>
        c.play(audio, { realtime: true })
      )
    ),
  );
  const wall = (performance.now() - t0) / 1000;
  const used = cpu() - before;
  const received = clients.reduce((n, c) => n + c.media.length, 0);
  await Promise.all(clients.map((c) => c.close()));
  child.kill("SIGTERM");
  await child.status;
  const perCallSecond = used / (calls * wall);
  console.log(
    `${calls} calls × ${wall.toFixed(1)} s: server CPU ${used} ms → ` +
      `${perCallSecond.toFixed(1)} ms per call-second ` +
      `(${(1000 / perCallSecond).toFixed(0)} calls per core); ` +
      `${received} reply frames sent`,
  );
}
