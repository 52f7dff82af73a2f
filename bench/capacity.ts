/**
 * Capacity benchmark: how many simultaneous Twilio calls the default echo
 * bot holds on one core, measured under real-time load.
 *
 * ```sh
 * deno task capacity                      # N = 50,100,200,300,400,500
 * deno task capacity --calls 100,300 --ramp 8000 --json out.json
 * deno task capacity --calls 300 --profile   # + server --cpu-prof
 * ```
 *
 * For each N it starts a fresh server — `bench/capacity_server.ts`, which is
 * `deno task start`'s echo bot with its permissions and defaults plus a
 * passive probe — pinned to core 0 with `taskset`, and a load generator
 * (`--generate`, this file) pinned to core 1 that plays real speech on N
 * staggered two-turn Twilio calls in real time (see
 * `tests/support/phone_load.ts`). Then it prints one row per N and the
 * largest N where every turn was answered with a correct echo, p90 latency
 * ≤ 650 ms and no frame was lost.
 *
 * Options: `--calls LIST`, `--ramp MS` (calls start spread over it, default
 * 10000), `--tick MS` (generator timer, default 5), `--p90 MS` (pass bound,
 * default 650), `--json FILE`, `--profile` (writes `--cpu-prof` output to
 * `bench/.profile/`), `--server-core C`, `--generator-core C`,
 * `--bot echo8k` (the same echo with 8 kHz handler rates, to see what the
 * default 48 kHz `inputSampleRate` costs), `--server-root DIR` (serve another checkout, e.g. the commit before an
 * optimisation, with this `capacity_server.ts` copied into its `bench/`).
 *
 * Linux only (`/proc`); without `taskset` both processes float.
 *
 * @module
 */

import {
  buildScripts,
  percentile,
  type PhoneLoadResult,
  runPhoneLoad,
  wallNow,
} from "../tests/support/phone_load.ts";
import type { ProbeStats } from "./capacity_server.ts";

/** `deno task start`'s permissions, used for the server. */
const START_FLAGS = [
  "--allow-net",
  "--allow-env",
  "--allow-read",
  "--allow-ffi",
  "--allow-sys",
];

const TICK_HZ = 100; // USER_HZ on Linux

function arg(name: string): string | undefined {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1] : undefined;
}

/** CPU ms and RSS bytes of a process, from /proc. */
function procStat(pid: number | "self"): { cpuMs: number; rss: number } {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const cpuMs = (Number(f[11]) + Number(f[12])) * 1000 / TICK_HZ;
  const rss = Number(f[21]) * 4096;
  return { cpuMs, rss };
}

// ------------------------------------------------------------- generator

/** What the generator process prints (one JSON line). */
interface GeneratorReport {
  load: PhoneLoadResult;
  probe: ProbeStats;
  server: {
    idleRss: number;
    peakRss: number;
    steadyCpu: number;
    totalCpuMs: number;
  };
  generatorCpu: number;
}

async function generate(): Promise<void> {
  const calls = Number(arg("calls"));
  const port = Number(arg("port"));
  const probePort = Number(arg("probe"));
  const pid = Number(arg("server-pid"));
  const scripts = await buildScripts((name) =>
    Deno.readFile(new URL(`../tests/fixtures/${name}`, import.meta.url))
  );
  const samples: { at: number; cpuMs: number; rss: number }[] = [];
  const sample = () => {
    try {
      samples.push({ at: wallNow(), ...procStat(pid) });
    } catch {
      // The server is gone; the run reports it.
    }
  };
  sample();
  const idleRss = samples[0]?.rss ?? 0;
  const self0 = procStat("self").cpuMs;
  const w0 = performance.now();
  const load = await runPhoneLoad({
    url: `ws://127.0.0.1:${port}/telephone/handler`,
    calls,
    scripts,
    rampMs: Number(arg("ramp") ?? 10_000),
    tickMs: Number(arg("tick") ?? 5),
    onSample: sample,
  });
  const generatorCpu = (procStat("self").cpuMs - self0) /
    (performance.now() - w0);
  sample();
  // Wait (bounded) for every call's handler to shut down.
  let probe: ProbeStats | undefined;
  for (let i = 0; i < 50; i++) {
    probe = await (await fetch(`http://127.0.0.1:${probePort}/stats`)).json();
    if (probe!.ended >= probe!.started && probe!.started >= calls) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const { from, to } = load.steady;
  const inSteady = samples.filter((s) => s.at >= from && s.at <= to);
  const steadyCpu = inSteady.length >= 2
    ? (inSteady.at(-1)!.cpuMs - inSteady[0].cpuMs) /
      (inSteady.at(-1)!.at - inSteady[0].at)
    : NaN;
  const report: GeneratorReport = {
    load,
    probe: probe!,
    server: {
      idleRss,
      peakRss: Math.max(...samples.map((s) => s.rss)),
      steadyCpu,
      totalCpuMs: (samples.at(-1)?.cpuMs ?? 0) - (samples[0]?.cpuMs ?? 0),
    },
    generatorCpu,
  };
  const raw = Deno.env.get("CAPACITY_RAW");
  if (raw) await Deno.writeTextFile(raw, JSON.stringify(report));
  console.log(JSON.stringify(report));
}

// ------------------------------------------------------------ orchestrator

/** One row of the curve. */
export interface CapacityRow {
  calls: number;
  turns: number;
  answered: number;
  badEchoes: number;
  minCorrelation: number;
  p50: number;
  p90: number;
  p99: number;
  inLag: ProbeStats["lagMs"];
  inLateOver100: number;
  lostIn: number;
  lostOut: number;
  droppedIn: number;
  lateOut: number;
  clears: number;
  failedCalls: number;
  serverCpu: number;
  cpuPerCallSecondMs: number;
  peakRssMb: number;
  rssPerCallMb: number;
  generatorCpu: number;
  sendLagP99: number;
  vadBatch: number;
  /** Server memory when its RSS peaked, MB: V8 heap used/total, external. */
  memoryAtPeakMb: { heapUsed: number; heapTotal: number; external: number };
  pass: boolean;
}

function summarize(
  calls: number,
  r: GeneratorReport,
  p90Bound: number,
): CapacityRow {
  const turns = r.load.calls.flatMap((c) => c.turns);
  const answered = turns.filter((t) => t.answered);
  const latencies = answered.map((t) => t.latencyMs);
  const bad = answered.filter((t) => t.correlation < 0.9);
  let lostIn = 0, lostOut = 0, droppedIn = 0;
  for (const c of r.load.calls) {
    const p = r.probe.calls[c.streamSid];
    if (!p) {
      lostIn += c.framesSent;
      continue;
    }
    // The bus hands the handler one chunk per inbound frame.
    lostIn += Math.max(0, c.framesSent - p.received);
    droppedIn += p.droppedInputChunks;
    lostOut += Math.max(
      0,
      p.outputFrames - p.flushedOutputFrames - c.framesReceived,
    );
  }
  const row: CapacityRow = {
    calls,
    turns: turns.length,
    answered: answered.length,
    badEchoes: bad.length,
    minCorrelation: Math.min(...answered.map((t) => t.correlation)),
    p50: percentile(latencies, 0.5),
    p90: percentile(latencies, 0.9),
    p99: percentile(latencies, 0.99),
    inLag: r.probe.lagMs,
    inLateOver100: r.probe.lateOver[100],
    lostIn,
    lostOut,
    droppedIn,
    lateOut: answered.reduce((n, t) => n + t.lateFrames, 0),
    clears: r.load.calls.reduce((n, c) => n + c.clears, 0),
    failedCalls: r.load.calls.filter((c) => c.failed).length,
    serverCpu: r.server.steadyCpu,
    cpuPerCallSecondMs: r.server.totalCpuMs /
      r.load.calls.reduce((n, c) => n + c.framesSent * 0.02, 0),
    peakRssMb: r.server.peakRss / 2 ** 20,
    rssPerCallMb: (r.server.peakRss - r.server.idleRss) / calls / 2 ** 20,
    generatorCpu: r.generatorCpu,
    sendLagP99: r.load.sendLagMs.p99,
    vadBatch: r.probe.vad.windows / Math.max(1, r.probe.vad.batches),
    memoryAtPeakMb: {
      heapUsed: (r.probe.memoryAtPeak?.heapUsed ?? 0) / 2 ** 20,
      heapTotal: (r.probe.memoryAtPeak?.heapTotal ?? 0) / 2 ** 20,
      external: (r.probe.memoryAtPeak?.external ?? 0) / 2 ** 20,
    },
    pass: false,
  };
  row.pass = row.answered === row.turns && row.badEchoes === 0 &&
    row.p90 <= p90Bound && row.lostIn === 0 && row.lostOut === 0 &&
    row.droppedIn === 0 && row.failedCalls === 0;
  return row;
}

function hasTaskset(): boolean {
  try {
    return new Deno.Command("taskset", { args: ["-V"], stdout: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

function pinned(core: string, cmd: string[], taskset: boolean): string[] {
  return taskset ? ["taskset", "-c", core, ...cmd] : cmd;
}

async function readLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  let rest = "";
  for await (const text of stream.pipeThrough(new TextDecoderStream())) {
    const parts = (rest + text).split("\n");
    rest = parts.pop()!;
    for (const p of parts) onLine(p);
  }
  if (rest) onLine(rest);
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function runPoint(
  calls: number,
  options: {
    taskset: boolean;
    serverCore: string;
    generatorCore: string;
    profileDir?: string;
  },
): Promise<GeneratorReport> {
  const port = freePort();
  const probePort = freePort();
  // --server-root DIR runs another checkout's server (with this probe file
  // copied into its bench/), for before/after comparisons.
  const root = arg("server-root");
  const serverFile = root
    ? `${root.replace(/\/$/, "")}/bench/capacity_server.ts`
    : new URL("./capacity_server.ts", import.meta.url).pathname;
  const prof = options.profileDir
    ? [`--cpu-prof`, `--cpu-prof-dir=${options.profileDir}`]
    : [];
  const serverCmd = pinned(options.serverCore, [
    Deno.execPath(),
    "run",
    ...START_FLAGS,
    ...prof,
    serverFile,
  ], options.taskset);
  const server = new Deno.Command(serverCmd[0], {
    args: serverCmd.slice(1),
    env: {
      CAPACITY_BOT: arg("bot") ?? "default",
      PORT: String(port),
      HOST: "127.0.0.1",
      PROBE_PORT: String(probePort),
    },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const errors: string[] = [];
  let ready = 0;
  const { promise: listening, resolve: onReady } = Promise.withResolvers<
    void
  >();
  const out = readLines(server.stdout, (line) => {
    if (line.startsWith("Parley listening") || line.startsWith("probe ")) {
      if (++ready === 2) onReady();
    }
  });
  const err = readLines(server.stderr, (line) => {
    errors.push(line);
    if (errors.length > 40) errors.shift();
  });
  try {
    const timeout = setTimeout(() => onReady(), 30_000);
    await Promise.race([listening, server.status]);
    clearTimeout(timeout);
    if (ready < 2) {
      throw new Error(
        `the server did not start within 30 s:\n${errors.join("\n")}`,
      );
    }
    await (await fetch(`http://127.0.0.1:${probePort}/warm`)).text();
    await new Promise((r) => setTimeout(r, 500));
    const genCmd = pinned(options.generatorCore, [
      Deno.execPath(),
      "run",
      "--allow-all",
      new URL(import.meta.url).pathname,
      "--generate",
      "--calls",
      String(calls),
      "--port",
      String(port),
      "--probe",
      String(probePort),
      "--server-pid",
      String(server.pid),
      "--ramp",
      arg("ramp") ?? "10000",
      "--tick",
      arg("tick") ?? "5",
    ], options.taskset);
    const gen = await new Deno.Command(genCmd[0], {
      args: genCmd.slice(1),
      stdout: "piped",
      stderr: "inherit",
    }).output();
    const text = new TextDecoder().decode(gen.stdout).trim();
    const last = text.split("\n").at(-1) ?? "";
    if (!gen.success || !last.startsWith("{")) {
      throw new Error(
        `the generator failed (exit ${gen.code}):\n${text.slice(-2000)}\n` +
          `server stderr:\n${errors.join("\n")}`,
      );
    }
    return JSON.parse(last) as GeneratorReport;
  } finally {
    try {
      server.kill("SIGTERM");
    } catch {
      // already gone
    }
    const killer = setTimeout(() => {
      try {
        server.kill("SIGKILL");
      } catch {
        // already gone
      }
    }, options.profileDir ? 20_000 : 8000);
    await server.status;
    clearTimeout(killer);
    await Promise.allSettled([out, err]);
  }
}

function fmt(x: number, digits = 0): string {
  return Number.isFinite(x) ? x.toFixed(digits) : "—";
}

async function main(): Promise<void> {
  const list = (arg("calls") ?? "50,100,200,300,400,500").split(",").map(
    Number,
  );
  if (list.some((n) => !Number.isInteger(n) || n <= 0)) {
    throw new RangeError(
      `--calls must be a comma-separated list of positive whole numbers, ` +
        `got ${arg("calls")}`,
    );
  }
  const p90Bound = Number(arg("p90") ?? 650);
  const taskset = hasTaskset();
  const profileDir = Deno.args.includes("--profile")
    ? new URL("./.profile/", import.meta.url).pathname
    : undefined;
  if (profileDir) await Deno.mkdir(profileDir, { recursive: true });
  console.log(
    `capacity: echo bot (deno task start defaults), ${
      taskset ? "server on core 0, generator on core 1" : "no taskset: unpinned"
    }; ramp ${arg("ramp") ?? 10000} ms; pass = all turns answered, echo ` +
      `correlation ≥ 0.9, p90 ≤ ${p90Bound} ms, no frame lost`,
  );
  const header =
    "| calls | answered | p50 / p90 / p99 ms | in-lag p50/p90/p99/max ms | in >100 ms | lost in/out | late out | min corr | server CPU (ms per call-s) | RSS MB (per call) | gen CPU | VAD batch | pass |";
  console.log(header);
  console.log(header.replace(/[^|]/g, "-"));
  const rows: CapacityRow[] = [];
  for (const calls of list) {
    const report = await runPoint(calls, {
      taskset,
      serverCore: arg("server-core") ?? "0",
      generatorCore: arg("generator-core") ?? "1",
      profileDir,
    });
    const r = summarize(calls, report, p90Bound);
    rows.push(r);
    const cells = [
      calls,
      `${r.answered}/${r.turns}`,
      `${fmt(r.p50)} / ${fmt(r.p90)} / ${fmt(r.p99)}`,
      `${r.inLag.p50}/${r.inLag.p90}/${r.inLag.p99}/${r.inLag.max}`,
      r.inLateOver100,
      `${r.lostIn + r.droppedIn}/${r.lostOut}`,
      r.lateOut,
      fmt(r.minCorrelation, 3),
      `${fmt(r.serverCpu * 100)} % (${fmt(r.cpuPerCallSecondMs, 1)})`,
      `${fmt(r.peakRssMb)} (${fmt(r.rssPerCallMb, 2)})`,
      `${fmt(r.generatorCpu * 100)} %`,
      fmt(r.vadBatch, 1),
      r.pass ? "yes" : "no",
    ];
    console.log(`| ${cells.join(" | ")} |`);
    const m = r.memoryAtPeakMb;
    console.error(
      `  (${calls} calls: at peak RSS the V8 heap used ${fmt(m.heapUsed)} of ` +
        `${fmt(m.heapTotal)} MB, external ${fmt(m.external)} MB)`,
    );
  }
  const held = rows.filter((r) => r.pass).map((r) => r.calls);
  console.log(
    held.length
      ? `largest N held: ${Math.max(...held)} calls`
      : "largest N held: none of the tested N",
  );
  const json = arg("json");
  if (json) await Deno.writeTextFile(json, JSON.stringify(rows, null, 2));
}

if (import.meta.main) {
  if (Deno.args.includes("--generate")) await generate();
  else await main();
}
