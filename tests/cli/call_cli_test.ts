/**
 * The `call` CLI run as a subprocess (`deno run cli.ts …`) against a real
 * echo bot (`ReplyOnPause` yielding the caller's turn back) on 127.0.0.1:
 * over Twilio and the FastRTC WebSocket now, and over Telnyx, Plivo,
 * Vonage, Exotel and SignalWire once their `/telephone/<carrier>/handler`
 * routes exist (until then those tests are ignored, with the reason
 * printed). Each call says the fixture twice; the test checks the exit
 * code, one latency line per turn, two replies in the JSON report, and that
 * each reply on the saved timeline correlates with what was said.
 */
import assert from "node:assert/strict";
import { readWav } from "../../src/audio/wav.ts";
import { resample } from "../../src/audio/resampler.ts";
import { audioToInt16 } from "../../src/audio/frame.ts";
import { ReplyOnPause, Stream } from "../../mod.ts";
import {
  CallConnectError,
  type CallReport,
  type Carrier,
  CARRIER_PATHS,
  envelopeCorrelation,
  openCarrierSocket,
} from "../../src/testing/mod.ts";
import { serveStream, type TestServer } from "../support/server.ts";

const ROOT = new URL("../../", import.meta.url);
const CLI = new URL("cli.ts", ROOT).pathname;
const FIXTURE =
  new URL("tests/fixtures/hello_there_weather.wav", ROOT).pathname;
/** Lowest accepted envelope correlation of a reply with the clip. */
const MIN_CORRELATION = 0.8;

function echoBot(options: { twilioToken?: string } = {}): TestServer {
  return serveStream(
    new Stream({
      handler: new ReplyOnPause(async function* (audio) {
        yield audio;
      }),
      verbose: false,
      twilio: options.twilioToken ? { authToken: options.twilioToken } : {},
    }),
  );
}

async function runCli(
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net=127.0.0.1",
      "--allow-read",
      "--allow-write",
      CLI,
      ...args,
    ],
    cwd: ROOT.pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}

/** Which carrier routes the server has: an upgrade answered 404 means none. */
async function missingRoutes(): Promise<Map<Carrier, string>> {
  const server = serveStream(
    new Stream({
      handler: new ReplyOnPause(async function* (a) {
        yield a;
      }),
      verbose: false,
    }),
  );
  const missing = new Map<Carrier, string>();
  try {
    for (
      const carrier of [
        "telnyx",
        "plivo",
        "vonage",
        "exotel",
        "signalwire",
      ] as Carrier[]
    ) {
      const path = CARRIER_PATHS[carrier];
      try {
        const socket = await openCarrierSocket(`${server.wsUrl}${path}`, {
          carrier,
        });
        socket.close();
        await new Promise((r) => socket.onclose = r);
      } catch (e) {
        if (e instanceof CallConnectError && e.status === 404) {
          missing.set(carrier, `${path} answers 404 (route not served yet)`);
        } else throw e;
      }
    }
  } finally {
    await server.close();
  }
  return missing;
}

const MISSING = await missingRoutes();

async function twoTurnEcho(carrier: Carrier): Promise<void> {
  const bot = echoBot();
  const dir = await Deno.makeTempDir();
  try {
    const out = `${dir}/reply.wav`;
    const reportPath = `${dir}/report.json`;
    const url = `${bot.wsUrl}${CARRIER_PATHS[carrier]}`;
    const run = await runCli([
      url,
      FIXTURE,
      "--carrier",
      carrier,
      "--turns",
      "2",
      "--gap-ms",
      "3000",
      "--out",
      out,
      "--report",
      reportPath,
    ]);
    console.log(run.stdout.trimEnd());
    if (run.stderr.trim()) console.log(run.stderr.trimEnd());
    assert.equal(run.code, 0, `exit code; stderr: ${run.stderr}`);

    // One latency line per turn.
    const latencies = [
      ...run.stdout.matchAll(/^turn (\d): latency (\d+) ms/gm),
    ];
    assert.deepEqual(latencies.map((m) => m[1]), ["1", "2"], run.stdout);
    for (const m of latencies) {
      const ms = Number(m[2]);
      assert.ok(ms > 0 && ms < 3000, `latency ${ms} ms`);
    }
    assert.match(run.stdout, /^protocol: 0 errors, 0 unknown messages$/m);

    // Two replies, each about as long as what was said, no barge-in.
    const report = JSON.parse(
      await Deno.readTextFile(reportPath),
    ) as CallReport;
    assert.equal(report.turns.length, 2);
    const saidMs = report.speech.endMs - report.speech.startMs;
    for (const t of report.turns) {
      assert.ok(t.latencyMs !== null, `turn ${t.turn} got a reply`);
      assert.ok(
        t.replyMs > saidMs * 0.8,
        `reply ${t.replyMs} ms vs said ${saidMs} ms`,
      );
      assert.equal(t.bargeIns.length, 0);
    }
    assert.equal(report.marksAnswered, report.marksSent);

    // Each reply on the saved timeline correlates with the clip.
    const wav = readWav(await Deno.readFile(out));
    const heard = audioToInt16(wav.samples);
    const clipWav = readWav(await Deno.readFile(FIXTURE));
    // What was said: the clip's speech, without its leading/trailing silence.
    const clip = audioToInt16(
      resample(clipWav.samples, {
        inputRate: clipWav.sampleRate,
        outputRate: wav.sampleRate,
      }),
    ).subarray(
      Math.floor(report.speech.startMs * wav.sampleRate / 1000),
      Math.ceil(report.speech.endMs * wav.sampleRate / 1000),
    );
    assert.equal(wav.sampleRate, report.outputRate);
    for (const t of report.turns) {
      const from = Math.round(t.speechEndMs * wav.sampleRate / 1000);
      const next = report.turns[t.turn]?.speechEndMs;
      const to = next === undefined
        ? heard.length
        : Math.round(next * wav.sampleRate / 1000);
      const match = envelopeCorrelation(
        { rate: wav.sampleRate, samples: clip },
        { rate: wav.sampleRate, samples: heard.subarray(from, to) },
      );
      console.log(
        `${carrier} turn ${t.turn}: envelope correlation ${
          match.correlation.toFixed(3)
        } at +${match.lagMs} ms`,
      );
      assert.ok(
        match.correlation > MIN_CORRELATION,
        `turn ${t.turn}: correlation ${match.correlation}`,
      );
    }
  } finally {
    await bot.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const OPTIONS = { sanitizeOps: false, sanitizeResources: false };

Deno.test({
  name: "call CLI: two turns through the echo bot over twilio",
  ...OPTIONS,
  fn: () => twoTurnEcho("twilio"),
});

Deno.test({
  name: "call CLI: two turns through the echo bot over websocket",
  ...OPTIONS,
  fn: () => twoTurnEcho("websocket"),
});

for (
  const carrier of [
    "telnyx",
    "plivo",
    "vonage",
    "exotel",
    "signalwire",
  ] as Carrier[]
) {
  const reason = MISSING.get(carrier);
  if (reason) console.log(`call CLI over ${carrier}: skipped, ${reason}`);
  Deno.test({
    name: `call CLI: two turns through the echo bot over ${carrier}`,
    ignore: reason !== undefined,
    ...OPTIONS,
    fn: () => twoTurnEcho(carrier),
  });
}

Deno.test({
  name:
    "call CLI: clear errors for a bad URL, a missing route, a non-WAV file, a refused upgrade",
  ...OPTIONS,
  fn: async () => {
    const bot = echoBot({ twilioToken: "test-auth-token" });
    try {
      const http = await runCli([`${bot.url}/telephone/incoming`, FIXTURE]);
      assert.equal(http.code, 2);
      assert.match(
        http.stderr,
        /use ws:\/\/127\.0\.0\.1:\d+\/telephone\/handler/,
      );

      const notWav = await runCli([
        `${bot.wsUrl}/telephone/handler`,
        new URL("README.md", ROOT).pathname,
      ]);
      assert.equal(notWav.code, 2);
      assert.match(notWav.stderr, /is not a WAV file/);

      const noRoute = await runCli([`${bot.wsUrl}/nowhere`, FIXTURE]);
      assert.equal(noRoute.code, 2);
      assert.match(noRoute.stderr, /HTTP 404/);
      assert.match(noRoute.stderr, /\/telephone\/handler/);

      const refused = await runCli([`${bot.wsUrl}/telephone/handler`, FIXTURE]);
      assert.equal(refused.code, 2);
      assert.match(refused.stderr, /HTTP 403/);
      assert.match(refused.stderr, /X-Twilio-Signature/);
      assert.match(refused.stderr, /--auth-token/);

      const closed = await runCli([
        "ws://127.0.0.1:9/telephone/handler",
        FIXTURE,
      ]);
      assert.equal(closed.code, 2);
      assert.match(closed.stderr, /Is the bot running/);

      const usage = await runCli(["--turns", "x"]);
      assert.equal(usage.code, 2);
      assert.match(usage.stderr, /--help/);
    } finally {
      await bot.close();
    }
  },
});

Deno.test({
  name:
    "call CLI: --auth-token signs the Twilio upgrade the way the bot checks it",
  ...OPTIONS,
  fn: async () => {
    const bot = echoBot({ twilioToken: "test-auth-token" });
    try {
      const run = await runCli([
        `${bot.wsUrl}/telephone/handler`,
        FIXTURE,
        "--auth-token",
        "test-auth-token",
        "--no-realtime",
        "--reply-timeout-ms",
        "8000",
      ]);
      console.log(run.stdout.trimEnd());
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /^turn 1: latency \d+ ms/m);
    } finally {
      await bot.close();
    }
  },
});

Deno.test({
  name: "call CLI: a turn that interrupts the reply prints the barge-in timing",
  ...OPTIONS,
  fn: async () => {
    const bot = echoBot();
    const dir = await Deno.makeTempDir();
    try {
      const reportPath = `${dir}/report.json`;
      const run = await runCli([
        `${bot.wsUrl}/telephone/handler`,
        FIXTURE,
        "--turns",
        "2",
        "--gap-ms",
        "600",
        "--report",
        reportPath,
      ]);
      console.log(run.stdout.trimEnd());
      assert.equal(run.code, 0, run.stderr);
      assert.match(
        run.stdout,
        /^turn 1: barge-in at [\d.]+ s: clear \d+ ms after the last frame before it, \d+ ms after the caller started speaking, [\d.]+ s of unplayed audio dropped$/m,
      );
      const report = JSON.parse(
        await Deno.readTextFile(reportPath),
      ) as CallReport;
      const [first] = report.turns;
      assert.ok(first.bargeIns.length >= 1);
      const bargeIn = first.bargeIns[0];
      assert.ok(bargeIn.sinceCallerSpeechMs !== null);
      assert.ok(
        bargeIn.sinceCallerSpeechMs < 1500,
        `${bargeIn.sinceCallerSpeechMs} ms`,
      );
      assert.ok(first.playedMs < first.replyMs, "the clear cut the reply");
      // Twilio returns the marks of cleared audio, so every mark is answered.
      assert.equal(report.marksAnswered, report.marksSent);
    } finally {
      await bot.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
