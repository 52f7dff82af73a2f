/**
 * A lean Twilio Media Streams load generator, shared by the capacity
 * benchmark (`bench/capacity.ts`) and the CI-sized capacity test
 * (`tests/server/capacity_test.ts`).
 *
 * Every call plays a two-turn script of real speech in real time: a phrase
 * of `jfk_8k.ulaw` and one of `turns_8k.ulaw` (the order alternates between
 * calls), each followed by enough silence for the echo to play back. The
 * payload JSON of every 20 ms frame is prebuilt once; one shared timer
 * drives every call's frames; calls start staggered over a ramp with their
 * 20 ms phases spread. The generator echoes `mark`s when its playback clock
 * reaches them, as Twilio does.
 *
 * Per turn it measures end of speech → first reply frame, reply frames that
 * arrive after their playback time, and whether the reply is the turn's
 * audio (correlation of 20 ms energy envelopes). Written from Twilio's
 * published protocol; it shares no code with Parley's server.
 *
 * @module
 */

/** One phrase a caller says. */
interface Phrase {
  /** The fixture holding it. */
  file: string;
  /** Where the cut starts and ends in the fixture, in seconds. */
  from: number;
  to: number;
  /** Where the speech starts and ends in the fixture, in seconds. */
  speechFrom: number;
  speechTo: number;
}

/**
 * Phrases of real speech (timings from tests/fixtures/README.md): each cut
 * from a fixture with a little of the audio around the speech.
 */
export const PHRASES: Record<string, Phrase> = {
  jfk1: {
    file: "jfk_8k.ulaw",
    from: 0,
    to: 2.41,
    speechFrom: 0.33,
    speechTo: 2.11,
  },
  jfk2: {
    file: "jfk_8k.ulaw",
    from: 3.0,
    to: 4.6,
    speechFrom: 3.29,
    speechTo: 4.29,
  },
  jfk3: {
    file: "jfk_8k.ulaw",
    from: 5.2,
    to: 7.8,
    speechFrom: 5.42,
    speechTo: 7.51,
  },
  turns1: {
    file: "turns_8k.ulaw",
    from: 0.3,
    to: 2.2,
    speechFrom: 0.5,
    speechTo: 1.9455,
  },
  turns2: {
    file: "turns_8k.ulaw",
    from: 2.05,
    to: 5.35,
    speechFrom: 2.2455,
    speechTo: 5.0515,
  },
  turns3: {
    file: "turns_8k.ulaw",
    from: 5.85,
    to: 7.45,
    speechFrom: 6.0515,
    speechTo: 7.165625,
  },
};

/** The default two-turn scripts: call i plays `DEFAULT_SCRIPTS[i % 2]`. */
export const DEFAULT_SCRIPTS: string[][] = [["jfk1", "turns2"], [
  "turns1",
  "jfk3",
]];

/** Samples of a 20 ms frame at 8 kHz. */
const FRAME = 160;
/** μ-law silence. */
const SILENCE = 0xff;

/** Where one turn lies in a call script, in frames of 20 ms. */
export interface ScriptTurn {
  /** First frame of speech. */
  speechStart: number;
  /** Audio time of the end of speech, in ms since the call's first frame. */
  speechEndMs: number;
}

/** A call's audio and turns. */
export interface CallScript {
  /** The whole call, μ-law at 8 kHz (a whole number of frames). */
  audio: Uint8Array;
  /** Energy envelope: RMS of each 20 ms frame. */
  envelope: Float64Array;
  /** Prebuilt base64 payload of each frame. */
  payloads: string[];
  /** The turns. */
  turns: ScriptTurn[];
}

/** μ-law code → linear value (G.711), squared, for energy sums. */
const SQUARE = new Float64Array(256);
for (let c = 0; c < 256; c++) {
  const u = ~c & 0xff;
  const t = (((u & 0x0f) << 3) + 0x84) << ((u & 0x70) >> 4);
  const v = (u & 0x80) ? 0x84 - t : t - 0x84;
  SQUARE[c] = v * v;
}

function frameRms(bytes: Uint8Array, from: number, to: number): number {
  let sum = 0;
  for (let i = from; i < to; i++) sum += SQUARE[bytes[i]];
  return Math.sqrt(sum / Math.max(1, to - from));
}

/**
 * Builds call scripts: each a list of phrase names (keys of
 * {@linkcode PHRASES}), one turn per phrase, after 0.5 s of silence.
 *
 * @param readFixture Reads a file of tests/fixtures.
 * @param orders The scripts (default {@linkcode DEFAULT_SCRIPTS}).
 * @returns One script per order.
 */
export async function buildScripts(
  readFixture: (name: string) => Promise<Uint8Array>,
  orders: string[][] = DEFAULT_SCRIPTS,
): Promise<CallScript[]> {
  const files = new Map<string, Uint8Array>();
  for (const order of orders) {
    for (const name of order) {
      const p = PHRASES[name];
      if (!p) {
        throw new RangeError(
          `Unknown phrase "${name}"; use one of ${
            Object.keys(PHRASES).join(", ")
          }`,
        );
      }
      if (!files.has(p.file)) files.set(p.file, await readFixture(p.file));
    }
  }
  const cutOf = (name: string) => {
    const p = PHRASES[name];
    const all = files.get(p.file)!;
    const a = Math.round(p.from * 8000);
    const b = Math.min(all.length, Math.round(p.to * 8000));
    return {
      bytes: all.subarray(a, b),
      speechFrom: p.speechFrom - p.from,
      speechTo: p.speechTo - p.from,
    };
  };
  const scripts: CallScript[] = [];
  for (const order of orders) {
    const parts: Uint8Array[] = [];
    const turns: ScriptTurn[] = [];
    let length = 0;
    const push = (b: Uint8Array) => {
      parts.push(b);
      length += b.length;
    };
    push(new Uint8Array(8000 * 0.5).fill(SILENCE));
    for (const name of order) {
      const cut = cutOf(name);
      const at = length;
      push(cut.bytes);
      turns.push({
        speechStart: Math.floor((at + cut.speechFrom * 8000) / FRAME),
        speechEndMs: (at / 8) + cut.speechTo * 1000,
      });
      // Room for the echo (as long as the cut) to arrive late and play.
      const rest = cut.bytes.length + 8000 * 2.5;
      push(new Uint8Array(Math.ceil(rest / FRAME) * FRAME).fill(SILENCE));
    }
    const padded = Math.ceil(length / FRAME) * FRAME;
    const audio = new Uint8Array(padded).fill(SILENCE);
    let o = 0;
    for (const p of parts) {
      audio.set(p, o);
      o += p.length;
    }
    const frames = padded / FRAME;
    const envelope = new Float64Array(frames);
    const payloads: string[] = new Array(frames);
    for (let k = 0; k < frames; k++) {
      const f = audio.subarray(k * FRAME, (k + 1) * FRAME);
      envelope[k] = frameRms(audio, k * FRAME, (k + 1) * FRAME);
      // deno-lint-ignore no-explicit-any
      payloads[k] = (f as any).toBase64() as string;
    }
    scripts.push({ audio, envelope, payloads, turns });
  }
  return scripts;
}

/**
 * Best Pearson correlation of the turn's speech envelope against any
 * stretch of the reply's envelope (the reply carries some padding around
 * the speech). A reply shorter than 80 % of the speech scores 0.
 *
 * @param speech Envelope of the spoken turn (speech only).
 * @param reply Envelope of the reply as received.
 * @returns A correlation from −1 to 1.
 */
export function envelopeCorrelation(
  speech: ArrayLike<number>,
  reply: ArrayLike<number>,
): number {
  const n = speech.length;
  const minOverlap = Math.ceil(n * 0.8);
  let best = 0;
  for (let lag = -(n - minOverlap); lag <= reply.length - minOverlap; lag++) {
    const a = Math.max(0, -lag);
    const b = Math.min(n, reply.length - lag);
    const m = b - a;
    if (m < minOverlap) continue;
    let sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
    for (let i = a; i < b; i++) {
      const x = speech[i];
      const y = reply[i + lag];
      sx += x;
      sy += y;
      sxx += x * x;
      syy += y * y;
      sxy += x * y;
    }
    const cov = sxy - sx * sy / m;
    const vx = sxx - sx * sx / m;
    const vy = syy - sy * sy / m;
    if (vx <= 0 || vy <= 0) continue;
    const r = cov / Math.sqrt(vx * vy);
    if (r > best) best = r;
  }
  return best;
}

/** Options of {@linkcode runPhoneLoad}. */
export interface PhoneLoadOptions {
  /** `ws://HOST:PORT/telephone/handler`. */
  url: string;
  /** Number of calls. */
  calls: number;
  /** The scripts from {@linkcode buildScripts} (call i plays i mod length). */
  scripts: CallScript[];
  /** Calls start spread over this many ms (default 5000). */
  rampMs?: number;
  /** Period of the shared timer in ms (default 5). */
  tickMs?: number;
  /** A reply frame counts late when it arrives after its playback time plus this jitter buffer (default 60 ms). */
  jitterMs?: number;
  /** Hard limit of the whole run in ms (default: ramp + longest script + 20 s). */
  deadlineMs?: number;
  /** Called about every 500 ms while calls run (for CPU sampling). */
  onSample?: (live: number) => void;
}

/** The outcome of one turn. */
export interface TurnResult {
  /** Whether a reply arrived for it. */
  answered: boolean;
  /** End of speech → first reply frame, ms (NaN when unanswered). */
  latencyMs: number;
  /** Reply frames received. */
  frames: number;
  /** Reply frames that arrived after their playback time. */
  lateFrames: number;
  /** Envelope correlation of reply vs. speech (0 when unanswered). */
  correlation: number;
}

/** The outcome of one call. */
export interface CallResult {
  /** Its `streamSid`. */
  streamSid: string;
  /** Frames sent. */
  framesSent: number;
  /** Reply frames received in all. */
  framesReceived: number;
  /** Replies received (groups of frames ended by a mark or clear). */
  replies: number;
  /** `clear` messages received (barge-in). */
  clears: number;
  /** The turns. */
  turns: TurnResult[];
  /** Whether the socket failed or closed before the script ended. */
  failed: string | null;
}

/** The outcome of a run. */
export interface PhoneLoadResult {
  /** Per call. */
  calls: CallResult[];
  /** How late the shared timer sent frames: p50, p99, max in ms. */
  sendLagMs: { p50: number; p99: number; max: number };
  /** Wall-clock ms when every call was live (ramp done) and when the first ended. */
  steady: { from: number; to: number };
  /** Wall-clock ms of the run. */
  wallMs: number;
}

interface Reply {
  first: number;
  envelope: number[];
  late: number;
  playAt: number;
}

interface Call {
  index: number;
  script: CallScript;
  sid: string;
  socket: WebSocket | null;
  start: number;
  t0: number;
  next: number;
  seq: number;
  open: boolean;
  done: boolean;
  failed: string | null;
  replies: Reply[];
  current: Reply | null;
  playEnd: number;
  marks: { name: string; due: number }[];
  clears: number;
  received: number;
  stopAt: number;
}

/** Wall clock shared by processes on one machine, in ms. */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

function onMessage(call: Call, data: string, jitterMs: number): void {
  const now = performance.now();
  if (data.startsWith('{"event":"media"')) {
    const at = data.indexOf('"payload":"');
    if (at < 0) return;
    const end = data.indexOf('"', at + 11);
    // deno-lint-ignore no-explicit-any
    const bytes = (Uint8Array as any).fromBase64(
      data.slice(at + 11, end),
    ) as Uint8Array;
    let reply = call.current;
    if (!reply) {
      reply = { first: now, envelope: [], late: 0, playAt: now + jitterMs };
      call.current = reply;
      call.replies.push(reply);
    }
    if (now > reply.playAt) reply.late++;
    reply.playAt = Math.max(reply.playAt, now) + 20;
    reply.envelope.push(frameRms(bytes, 0, bytes.length));
    call.playEnd = Math.max(call.playEnd, now) + 20;
    call.received++;
    return;
  }
  let msg: { event?: string; mark?: { name?: string } };
  try {
    msg = JSON.parse(data);
  } catch {
    return;
  }
  if (msg.event === "mark" && typeof msg.mark?.name === "string") {
    call.current = null;
    call.marks.push({ name: msg.mark.name, due: Math.max(now, call.playEnd) });
  } else if (msg.event === "clear") {
    call.current = null;
    call.clears++;
    call.playEnd = now;
    for (const m of call.marks) m.due = now;
  }
}

function connect(call: Call, url: string, jitterMs: number): void {
  const socket = new WebSocket(url);
  call.socket = socket;
  socket.onopen = () => {
    call.open = true;
    const now = performance.now();
    // The first frame is due no earlier than one frame after the start.
    call.start = Math.max(call.start, now + 20);
    call.t0 = performance.timeOrigin + call.start;
    socket.send(
      `{"event":"connected","protocol":"Call","version":"1.0.0"}`,
    );
    socket.send(JSON.stringify({
      event: "start",
      sequenceNumber: String(++call.seq),
      streamSid: call.sid,
      start: {
        streamSid: call.sid,
        accountSid: "AC00000000000000000000000000000000",
        callSid: `CA${call.sid.slice(2)}`,
        tracks: ["inbound"],
        customParameters: { t0: String(call.t0) },
        mediaFormat: {
          encoding: "audio/x-mulaw",
          sampleRate: 8000,
          channels: 1,
        },
      },
    }));
  };
  socket.onmessage = (e) => {
    if (typeof e.data === "string") onMessage(call, e.data, jitterMs);
  };
  socket.onerror = () => {};
  socket.onclose = () => {
    call.open = false;
    if (!call.done && call.failed === null) {
      call.failed = "socket closed before the script ended";
    }
    call.done = true;
  };
}

function percentileOf(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

/**
 * Plays the scripts on `calls` calls in real time and measures every turn.
 *
 * @param options Where and how much.
 * @returns Per-call and per-turn results.
 */
export async function runPhoneLoad(
  options: PhoneLoadOptions,
): Promise<PhoneLoadResult> {
  const n = options.calls;
  const rampMs = options.rampMs ?? 5000;
  const tickMs = options.tickMs ?? 5;
  const jitterMs = options.jitterMs ?? 60;
  const longest = Math.max(...options.scripts.map((s) => s.payloads.length));
  const deadlineMs = options.deadlineMs ?? rampMs + longest * 20 + 20_000;
  const begin = performance.now() + 500;
  const calls: Call[] = Array.from({ length: n }, (_, i) => ({
    index: i,
    script: options.scripts[i % options.scripts.length],
    sid: `MZ${crypto.randomUUID().replaceAll("-", "")}`,
    socket: null,
    // Spread over the ramp, with 20 ms phases spread by the golden ratio.
    start: begin + Math.floor(i * rampMs / n / 20) * 20 +
      ((i * 0.6180339887) % 1) * 20,
    t0: 0,
    next: 0,
    seq: 0,
    open: false,
    done: false,
    failed: null,
    replies: [],
    current: null,
    playEnd: 0,
    marks: [],
    clears: 0,
    received: 0,
    stopAt: 0,
  }));
  const sendLags: number[] = [];
  let connected = 0;
  let finished = 0;
  let lastSample = 0;
  const t = performance.now();
  let steadyFrom = 0;
  let steadyTo = 0;

  await new Promise<void>((resolve) => {
    let tick = 0;
    const step = () => {
      const now = performance.now();
      // Open sockets 400 ms ahead of their start.
      while (connected < n && calls[connected].start - 400 <= now) {
        connect(calls[connected++], options.url, jitterMs);
      }
      let live = 0;
      for (let c = 0; c < connected; c++) {
        const call = calls[c];
        if (call.done) continue;
        live++;
        if (!call.open) continue;
        const socket = call.socket!;
        const payloads = call.script.payloads;
        while (call.next < payloads.length) {
          const due = call.start + (call.next + 1) * 20;
          if (due > now) break;
          const k = call.next++;
          if ((k & 15) === 0) sendLags.push(now - due);
          socket.send(
            `{"event":"media","sequenceNumber":"${++call
              .seq}","streamSid":"${call.sid}","media":{"track":"inbound","chunk":"${
              k + 1
            }","timestamp":"${k * 20}","payload":"${payloads[k]}"}}`,
          );
        }
        for (let m = 0; m < call.marks.length; m++) {
          const mark = call.marks[m];
          if (mark.due > now) continue;
          socket.send(
            `{"event":"mark","sequenceNumber":"${++call
              .seq}","streamSid":"${call.sid}","mark":{"name":${
              JSON.stringify(mark.name)
            }}}`,
          );
          call.marks.splice(m--, 1);
        }
        if (call.next >= payloads.length) {
          if (call.stopAt === 0) call.stopAt = now + 1000;
          else if (now >= call.stopAt) {
            socket.send(
              `{"event":"stop","sequenceNumber":"${++call
                .seq}","streamSid":"${call.sid}","stop":{"accountSid":"AC00000000000000000000000000000000","callSid":"CA${
                call.sid.slice(2)
              }"}}`,
            );
            call.done = true;
            finished++;
            if (steadyTo === 0) steadyTo = wallNow();
            socket.close(1000, "script ended");
          }
        }
      }
      if (steadyFrom === 0 && connected === n && calls[n - 1].next > 0) {
        steadyFrom = wallNow();
      }
      if (now - lastSample >= 500) {
        lastSample = now;
        options.onSample?.(live);
      }
      const allDone = connected === n && calls.every((c) => c.done);
      if (allDone || now - t > deadlineMs) {
        for (const call of calls) {
          if (!call.done) {
            call.failed ??= "deadline reached";
            call.done = true;
            call.socket?.close(1000, "deadline");
          }
        }
        resolve();
        return;
      }
      tick++;
      const wait = t + tick * tickMs - performance.now();
      setTimeout(step, Math.max(0, wait));
    };
    step();
  });
  const wallMs = performance.now() - t;
  // Let the close frames go out.
  await new Promise((r) => setTimeout(r, 200));

  const results: CallResult[] = calls.map((call) => {
    const turns = call.script.turns.map((turn, j): TurnResult => {
      const speechEnd = call.start + turn.speechEndMs;
      const nextEnd = j + 1 < call.script.turns.length
        ? call.start + call.script.turns[j + 1].speechEndMs
        : Infinity;
      const reply = call.replies.find((r) =>
        r.first >= speechEnd && r.first < nextEnd
      );
      if (!reply) {
        return {
          answered: false,
          latencyMs: NaN,
          frames: 0,
          lateFrames: 0,
          correlation: 0,
        };
      }
      const endFrame = Math.ceil(turn.speechEndMs / 20);
      const speech = call.script.envelope.subarray(turn.speechStart, endFrame);
      return {
        answered: true,
        latencyMs: reply.first - speechEnd,
        frames: reply.envelope.length,
        lateFrames: reply.late,
        correlation: envelopeCorrelation(speech, reply.envelope),
      };
    });
    return {
      streamSid: call.sid,
      framesSent: call.next,
      framesReceived: call.received,
      replies: call.replies.length,
      clears: call.clears,
      turns,
      failed: call.failed,
    };
  });
  sendLags.sort((a, b) => a - b);
  return {
    calls: results,
    sendLagMs: {
      p50: percentileOf(sendLags, 0.5),
      p99: percentileOf(sendLags, 0.99),
      max: sendLags.at(-1) ?? NaN,
    },
    steady: { from: steadyFrom, to: steadyTo },
    wallMs,
  };
}

/**
 * Percentile of a list of numbers (nearest rank; NaN values ignored).
 *
 * @param values The numbers.
 * @param q From 0 to 1.
 * @returns The percentile, or NaN for no values.
 */
export function percentile(values: number[], q: number): number {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  return percentileOf(sorted, q);
}
