/**
 * `call`: test a voice bot without a phone. Acts as the carrier (Twilio,
 * Telnyx, Plivo, Vonage, Exotel, SignalWire) or a FastRTC WebSocket browser:
 * connects to the bot's socket, sends the carrier's start, plays a WAV file
 * as the caller in real time (20 ms frames, optionally several turns with
 * silence between), answers marks and checkpoints like the carrier, records
 * what the bot says on a playback timeline and prints, per turn, the latency
 * from the end of caller speech to the first reply frame, the reply's
 * length, barge-in timing and every protocol problem.
 *
 * ```sh
 * deno task call ws://127.0.0.1:8000/telephone/handler hello.wav --out reply.wav --turns 2
 * deno run -A jsr:@parley/parley/cli ws://127.0.0.1:8000/websocket/offer hello.wav
 * ```
 *
 * Exit code 0 when every turn got a reply and the bot broke no protocol
 * rule, 1 when a turn got no reply or the bot sent something the carrier
 * would not accept, 2 on a usage error, an unreadable file or a connection
 * that could not be opened.
 *
 * @module
 */

import { audioToInt16 } from "./src/audio/frame.ts";
import { resample } from "./src/audio/resampler.ts";
import { readWav, type WavAudio, writeWav } from "./src/audio/wav.ts";
import {
  type BargeInReport,
  CallConnectError,
  type CallReport,
  type Carrier,
  CARRIERS,
  checkSocketUrl,
  connectCallClient,
  runCallScript,
} from "./src/testing/mod.ts";

export type {
  BargeInReport,
  CallReport,
  Carrier,
  ProtocolProblem,
  SpeechSpan,
  TurnReport,
} from "./src/testing/mod.ts";

const USAGE = `Usage: deno task call URL FILE.wav [options]
       deno run -A jsr:@parley/parley/cli URL FILE.wav [options]

Calls the bot at URL (its WebSocket, e.g. ws://127.0.0.1:8000/telephone/handler)
as a carrier would and says FILE.wav (any rate, any channels).

Options:
  --carrier NAME       twilio, telnyx, plivo, vonage, exotel, signalwire or
                       websocket (default: from the URL path, else twilio)
  --out FILE.wav       save what the caller heard (the bot's audio on a
                       playback timeline, silence where nothing played)
  --turns N            say the file N times (default 1)
  --gap-ms N           digital silence between turns in ms (default 3000)
  --realtime           send one 20 ms frame every 20 ms, like a phone (default)
  --no-realtime        send each turn as fast as possible, then wait silently
                       for the reply
  --rate HZ            call audio rate where the carrier offers a choice
  --auth-token TOKEN   Twilio: sign the upgrade (X-Twilio-Signature);
                       Telnyx: x-telnyx-streaming-auth-token; SignalWire:
                       Authorization: Bearer
  --header 'N: V'      an extra upgrade header (repeatable)
  --reply-timeout-ms N how long to wait for a reply to start (default 10000)
  --report FILE.json   write the measurements as JSON
  -h, --help           show this help

Exit code: 0 all turns answered and no protocol problems; 1 a turn got no
reply or the bot broke the carrier's protocol; 2 usage, file or connection
error.`;

/**
 * Parsed command line of the `call` CLI.
 *
 * @example
 * ```ts
 * import { type CallArgs, parseCallArgs } from "@parley/parley/cli";
 * const args: CallArgs | null = parseCallArgs(["ws://127.0.0.1:8000/websocket/offer", "a.wav"]);
 * console.log(args?.carrier); // websocket
 * ```
 */
export interface CallArgs {
  /** The bot's socket URL. */
  url: string;
  /** The WAV file the caller says. */
  file: string;
  /** The protocol to speak. */
  carrier: Carrier;
  /** Where to save the reply timeline, if anywhere. */
  out?: string;
  /** Times the file is said. */
  turns: number;
  /** Silence between turns, ms. */
  gapMs: number;
  /** Real-time pacing. */
  realtime: boolean;
  /** Call audio rate, if chosen. */
  rate?: number;
  /** Upgrade token. */
  authToken?: string;
  /** Extra upgrade headers. */
  headers: [string, string][];
  /** Reply timeout, ms. */
  replyTimeoutMs: number;
  /** Where to write the JSON report, if anywhere. */
  report?: string;
}

/**
 * A command line that cannot be run, with what to write instead.
 *
 * @example
 * ```ts
 * import { parseCallArgs, UsageError } from "@parley/parley/cli";
 * try {
 *   parseCallArgs(["--turns"]);
 * } catch (e) {
 *   console.log(e instanceof UsageError); // true
 * }
 * ```
 */
export class UsageError extends Error {
  /**
   * Makes the error.
   *
   * @example
   * ```ts
   * import { UsageError } from "@parley/parley/cli";
   * console.log(new UsageError("--turns needs a number").name); // UsageError
   * ```
   *
   * @param message What is wrong.
   */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

const VALUE_FLAGS = new Set([
  "--carrier",
  "--out",
  "--turns",
  "--gap-ms",
  "--rate",
  "--auth-token",
  "--header",
  "--reply-timeout-ms",
  "--report",
]);

/**
 * Parses the `call` command line (`--flag value` or `--flag=value`).
 * Returns null for `--help`.
 *
 * @example
 * ```ts
 * import { parseCallArgs } from "@parley/parley/cli";
 * const args = parseCallArgs(["ws://127.0.0.1:8000/telephone/telnyx/handler", "a.wav", "--turns", "2"]);
 * console.log(args?.carrier, args?.turns); // telnyx 2
 * ```
 *
 * @param argv The arguments after the program name.
 * @returns The parsed arguments, or null when help was asked for.
 * @throws {UsageError} On an unknown flag, a missing value or a bad number.
 */
export function parseCallArgs(argv: string[]): CallArgs | null {
  const positional: string[] = [];
  const values = new Map<string, string[]>();
  let realtime = true;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "-h" || arg === "--help") return null;
    if (arg === "--realtime") {
      realtime = true;
      continue;
    }
    if (arg === "--no-realtime") {
      realtime = false;
      continue;
    }
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = eq < 0 ? arg : arg.slice(0, eq);
      if (!VALUE_FLAGS.has(name)) {
        throw new UsageError(`Unknown option ${name}; see --help`);
      }
      let value: string | undefined;
      if (eq >= 0) value = arg.slice(eq + 1);
      else value = argv[++i];
      if (value === undefined) throw new UsageError(`${name} needs a value`);
      values.set(name, [...(values.get(name) ?? []), value]);
      continue;
    }
    positional.push(arg);
  }
  if (positional.length !== 2) {
    throw new UsageError(
      positional.length < 2
        ? "Give the bot's socket URL and a WAV file"
        : `Too many arguments: ${positional.slice(2).join(" ")}`,
    );
  }
  const [url, file] = positional;
  const one = (name: string) => values.get(name)?.at(-1);
  const int = (name: string, fallback: number, min: number) => {
    const raw = one(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) {
      throw new UsageError(
        `${name} needs a whole number ≥ ${min}, got ${JSON.stringify(raw)}`,
      );
    }
    return n;
  };
  const carrierArg = one("--carrier");
  let carrier: Carrier;
  if (carrierArg !== undefined) {
    if (!(CARRIERS as readonly string[]).includes(carrierArg)) {
      throw new UsageError(
        `Unknown carrier ${JSON.stringify(carrierArg)}; use ${
          CARRIERS.join(", ")
        }`,
      );
    }
    carrier = carrierArg as Carrier;
  } else {
    carrier = carrierFromUrl(url);
  }
  const headers: [string, string][] = (values.get("--header") ?? []).map(
    (h) => {
      const colon = h.indexOf(":");
      if (colon <= 0) {
        throw new UsageError(
          `--header needs 'Name: value', got ${JSON.stringify(h)}`,
        );
      }
      return [h.slice(0, colon).trim(), h.slice(colon + 1).trim()];
    },
  );
  const rate = one("--rate") === undefined ? undefined : int("--rate", 0, 8000);
  return {
    url,
    file,
    carrier,
    out: one("--out"),
    turns: int("--turns", 1, 1),
    gapMs: int("--gap-ms", 3000, 0),
    realtime,
    rate,
    authToken: one("--auth-token"),
    headers,
    replyTimeoutMs: int("--reply-timeout-ms", 10_000, 1),
    report: one("--report"),
  };
}

/** The carrier a Parley URL path names, else Twilio. */
function carrierFromUrl(url: string): Carrier {
  let path = "";
  try {
    path = new URL(url).pathname;
  } catch {
    return "twilio";
  }
  if (path.endsWith("/websocket/offer")) return "websocket";
  const m = /\/telephone\/([a-z]+)\/handler\/?$/.exec(path);
  if (m && (CARRIERS as readonly string[]).includes(m[1])) {
    return m[1] as Carrier;
  }
  return "twilio";
}

const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/**
 * Formats a report as the lines the CLI prints: one latency line per turn
 * (`turn N: latency … ms …`), barge-ins, protocol problems, marks, the call.
 *
 * @example
 * ```ts
 * import { formatReport } from "@parley/parley/cli";
 * const lines = formatReport({
 *   carrier: "twilio", inputRate: 8000, outputRate: 8000,
 *   speech: { startMs: 500, endMs: 2700 },
 *   turns: [{ turn: 1, speechStartMs: 500, speechEndMs: 2700, firstReplyMs: 3400,
 *     latencyMs: 700, replyMs: 2200, playedMs: 2200, bargeIns: [] }],
 *   earlyAudioMs: 0, earlyBargeIns: [], marksSent: 1, marksAnswered: 1, problems: [],
 *   otherMessages: {}, framesSent: 300,
 *   durationMs: 6000, endedBy: "caller", close: { code: 1000, reason: "hang up" },
 * }, 10000);
 * console.log(lines[0]); // turn 1: latency 700 ms (end of caller speech 2.70 s → first reply frame 3.40 s), reply 2.20 s, played 2.20 s
 * ```
 *
 * @param report The measurements.
 * @param replyTimeoutMs The reply timeout used (named when a turn got none).
 * @returns The lines.
 */
export function formatReport(
  report: CallReport,
  replyTimeoutMs: number,
): string[] {
  const lines: string[] = [];
  for (const t of report.turns) {
    if (t.latencyMs === null || t.firstReplyMs === null) {
      lines.push(
        `turn ${t.turn}: no reply within ${replyTimeoutMs} ms of the end of ` +
          `caller speech (${s(t.speechEndMs)})`,
      );
    } else {
      lines.push(
        `turn ${t.turn}: latency ${
          Math.round(t.latencyMs)
        } ms (end of caller ` +
          `speech ${s(t.speechEndMs)} → first reply frame ${
            s(t.firstReplyMs)
          }), ` +
          `reply ${s(t.replyMs)}, played ${s(t.playedMs)}`,
      );
    }
    for (const b of t.bargeIns) {
      lines.push(`turn ${t.turn}: ${describeBargeIn(b)}`);
    }
  }
  if (report.earlyAudioMs > 0) {
    lines.push(
      `before the first turn ended the bot sent ${
        s(report.earlyAudioMs)
      } of audio`,
    );
  }
  for (const b of report.earlyBargeIns) {
    lines.push(`before the first turn ended: ${describeBargeIn(b)}`);
  }
  for (const p of report.problems) {
    lines.push(
      `${p.kind === "error" ? "protocol error" : "unknown message"} at ${
        s(p.at)
      }: ${p.message}`,
    );
  }
  const others = Object.entries(report.otherMessages);
  if (others.length > 0) {
    lines.push(
      `other messages: ${
        others.map(([name, n]) => `${name} ×${n}`).join(", ")
      }`,
    );
  }
  const errors = report.problems.filter((p) => p.kind === "error").length;
  const unknown = report.problems.length - errors;
  lines.push(`protocol: ${errors} errors, ${unknown} unknown messages`);
  lines.push(
    `marks: ${report.marksSent} sent by the bot, ${report.marksAnswered} answered`,
  );
  lines.push(
    `call: ${s(report.durationMs)}, ended by the ${report.endedBy} ` +
      `(close ${report.close.code}${
        report.close.reason ? ` ${report.close.reason}` : ""
      })`,
  );
  return lines;
}

function describeBargeIn(b: BargeInReport): string {
  const parts = [
    b.sinceLastFrameMs === null
      ? "clear with no audio before it"
      : `clear ${
        Math.round(b.sinceLastFrameMs)
      } ms after the last frame before it`,
  ];
  if (b.sinceCallerSpeechMs !== null) {
    parts.push(
      `${
        Math.round(b.sinceCallerSpeechMs)
      } ms after the caller started speaking`,
    );
  }
  parts.push(`${s(b.flushedMs)} of unplayed audio dropped`);
  return `barge-in at ${s(b.atMs)}: ${parts.join(", ")}`;
}

/**
 * Runs the CLI and returns its exit code.
 *
 * @example
 * ```ts
 * import { main } from "@parley/parley/cli";
 * const code = await main(["--help"]);
 * console.log(code); // 0
 * ```
 *
 * @param argv The arguments after the program name.
 * @param io Where lines go (default: stdout and stderr).
 * @returns 0, 1 or 2 (see the module doc).
 */
export async function main(
  argv: string[],
  io: { out: (line: string) => void; err: (line: string) => void } = {
    out: (line) => console.log(line),
    err: (line) => console.error(line),
  },
): Promise<number> {
  let args: CallArgs | null;
  try {
    args = parseCallArgs(argv);
  } catch (e) {
    io.err(`call: ${(e as Error).message}`);
    io.err("Run with --help for usage.");
    return 2;
  }
  if (args === null) {
    io.out(USAGE);
    return 0;
  }
  try {
    checkSocketUrl(args.url, args.carrier);
  } catch (e) {
    io.err(`call: ${(e as Error).message}`);
    return 2;
  }
  let wav: WavAudio;
  try {
    wav = readWav(await Deno.readFile(args.file));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      io.err(`call: ${args.file} does not exist; give the path of a WAV file`);
    } else if (e instanceof Deno.errors.PermissionDenied) {
      io.err(`call: may not read ${args.file}: run with --allow-read`);
    } else {
      io.err(
        `call: ${args.file} is not a WAV file this tool can read ` +
          `(${(e as Error).message}). Convert it, e.g. ` +
          `\`ffmpeg -i ${args.file} -ac 1 -ar 16000 out.wav\` or ` +
          `\`sox ${args.file} -c 1 -r 16000 -b 16 out.wav\``,
      );
    }
    return 2;
  }
  if (wav.samples.length === 0) {
    io.err(`call: ${args.file} holds no audio`);
    return 2;
  }
  const headers = new Headers();
  try {
    for (const [name, value] of args.headers) headers.append(name, value);
  } catch (e) {
    io.err(`call: bad --header: ${(e as Error).message}`);
    return 2;
  }
  let client;
  try {
    client = await connectCallClient(args.url, {
      carrier: args.carrier,
      headers,
      authToken: args.authToken,
      sampleRate: args.rate,
    });
  } catch (e) {
    if (
      e instanceof CallConnectError || e instanceof RangeError ||
      e instanceof TypeError
    ) {
      io.err(`call: ${e.message}`);
      return 2;
    }
    throw e;
  }
  const rate = client.inputRate;
  const mono = wav.sampleRate === rate
    ? wav.samples
    : resample(wav.samples, { inputRate: wav.sampleRate, outputRate: rate });
  const clip = audioToInt16(mono);
  io.out(
    `calling ${args.url} as ${args.carrier}: ${args.file} ` +
      `(${wav.sampleRate} Hz, ${wav.channels} ch, ${
        s(wav.samples.length * 1000 / wav.sampleRate)
      })` +
      ` → mono ${rate} Hz, ${args.turns} turn${args.turns === 1 ? "" : "s"}` +
      (args.turns > 1 ? `, ${args.gapMs} ms apart` : "") +
      (args.realtime ? "" : ", not real time"),
  );
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  try {
    Deno.addSignalListener("SIGINT", onSignal);
  } catch {
    // No signals on this platform.
  }
  let report: CallReport;
  try {
    report = await runCallScript(client, {
      clip,
      turns: args.turns,
      gapMs: args.gapMs,
      realtime: args.realtime,
      replyTimeoutMs: args.replyTimeoutMs,
      signal: abort.signal,
    });
  } finally {
    try {
      Deno.removeSignalListener("SIGINT", onSignal);
    } catch {
      // Not added.
    }
  }
  io.out(
    `caller speech in the file: ${s(report.speech.startMs)}–${
      s(report.speech.endMs)
    }`,
  );
  for (const line of formatReport(report, args.replyTimeoutMs)) io.out(line);
  if (args.out) {
    const heard = client.timeline();
    await Deno.writeFile(
      args.out,
      writeWav({ sampleRate: client.outputRate, samples: heard }),
    );
    io.out(
      `saved ${args.out}: ${
        s(heard.length * 1000 / client.outputRate)
      } at ${client.outputRate} Hz`,
    );
  }
  if (args.report) {
    await Deno.writeTextFile(
      args.report,
      JSON.stringify(report, null, 2) + "\n",
    );
  }
  const unanswered = report.turns.length < args.turns ||
    report.turns.some((t) => t.latencyMs === null);
  if (report.endedBy === "bot" && report.turns.length < args.turns) {
    io.err(
      `call: the bot ended the call after ${report.turns.length} of ${args.turns} turns ` +
        `(close ${report.close.code} ${report.close.reason})`,
    );
  }
  return report.problems.length > 0 || unanswered || abort.signal.aborted
    ? 1
    : 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
