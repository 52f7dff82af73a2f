/**
 * VAD state hygiene measurements: `deno run -A bench/vad_hygiene.ts`.
 *
 * Plays the same recording (JFK, the espeak turns fixture) 3-5 times in one
 * simulated call, separated by digital silence or line noise, through Silero
 * v5/v6 at 8 and 16 kHz, and compares each copy's turns with the first
 * copy's, for several state policies (re-implemented here on a plain
 * `session.run` loop so they can be compared side by side):
 *
 * - `none`: state carried forever (Parley before issue 11);
 * - `guard`: a window of digital silence (|x| ≤ 8/32768) scores 0 and resets
 *   the state;
 * - `quietNs`: the state is reset after every N s of windows below 0.35;
 * - `guard+quiet1s`: both — Parley's default.
 *
 * Each copy + gap lasts a whole number of 160 ms, so copies meet the same
 * window phase and only the state can make them differ. Also prints the
 * end-of-turn latency on the fixtures (known speech ends) per version.
 * Results: bench/README.md, "VAD state hygiene".
 *
 * @module
 */
import * as ort from "onnxruntime-node";
import { createRequire } from "node:module";
import { TurnDetector, type TurnEvent } from "../src/vad/mod.ts";
import { decodeMulaw, encodeMulaw } from "../src/audio/mulaw.ts";
import { readWavMono16, rng } from "../tests/vad/_helpers.ts";

type Rate = 8000 | 16000;
const req = createRequire(import.meta.url);
const sessions: Record<string, ort.InferenceSession> = {};
async function session(v: string) {
  return sessions[v] ??= await ort.InferenceSession.create(
    req.resolve(`@ricky0123/vad-web/dist/silero_vad_${v}.onnx`),
    { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: "sequential" },
  );
}
const f32 = (pcm: Int16Array) => Float32Array.from(pcm, (x) => x / 32768);
function speech(name: string, rate: Rate): Float32Array {
  if (name === "jfk") {
    return rate === 8000
      ? f32(
        decodeMulaw(
          Deno.readFileSync(
            new URL("../tests/fixtures/jfk_8k.ulaw", import.meta.url),
          ),
        ),
      )
      : readWavMono16(new URL("../tests/fixtures/jfk.wav", import.meta.url))
        .samples;
  }
  return rate === 8000
    ? f32(
      decodeMulaw(
        Deno.readFileSync(
          new URL("../tests/fixtures/turns_8k.ulaw", import.meta.url),
        ),
      ),
    )
    : readWavMono16(
      new URL("../tests/fixtures/turns_espeak.wav", import.meta.url),
    ).samples;
}
const zeros = (rate: Rate, s: number) => new Float32Array(Math.round(rate * s));
function noise(rate: Rate, s: number, dbfs: number, seed: number, hum = false) {
  const r = rng(seed);
  const a = Math.pow(10, dbfs / 20) * Math.sqrt(3);
  const pcm = Int16Array.from(
    { length: Math.round(rate * s) },
    (_, i) =>
      Math.round(
        32767 *
          ((r() * 2 - 1) * a +
            (hum ? 0.003 * Math.sin(2 * Math.PI * 60 * i / rate) : 0)),
      ),
  );
  return f32(decodeMulaw(encodeMulaw(pcm)));
}
const cat = (...p: Float32Array[]) => {
  const o = new Float32Array(p.reduce((n, x) => n + x.length, 0));
  let i = 0;
  for (const x of p) {
    o.set(x, i);
    i += x.length;
  }
  return o;
};

export interface Policy {
  name: string;
  guard?: number;
  quietResetS?: number;
  periodic?: boolean;
  version: string;
}
export async function probs(audio: Float32Array, rate: Rate, policy: Policy) {
  const s = await session(policy.version);
  const win = rate === 16000 ? 512 : 256, ctx = rate === 16000 ? 64 : 32;
  let state = new Float32Array(256);
  let context = new Float32Array(ctx);
  const sr = new ort.Tensor("int64", BigInt64Array.from([BigInt(rate)]), []);
  const out: number[] = [];
  let quiet = 0;
  let runs = 0;
  const quietN = policy.quietResetS
    ? Math.ceil(policy.quietResetS * rate / win)
    : Infinity;
  for (let i = 0; i + win <= audio.length; i += win) {
    const w = audio.subarray(i, i + win);
    if (policy.guard !== undefined) {
      let peak = 0;
      for (const v of w) peak = Math.max(peak, Math.abs(v));
      if (peak <= policy.guard) {
        state = new Float32Array(256);
        context = new Float32Array(ctx);
        out.push(0);
        quiet = 0;
        continue;
      }
    }
    const input = new Float32Array(ctx + win);
    input.set(context);
    input.set(w, ctx);
    const r = await s.run({
      input: new ort.Tensor("float32", input, [1, ctx + win]),
      state: new ort.Tensor("float32", state, [2, 1, 128]),
      sr,
    });
    runs++;
    const p = (r.output.data as Float32Array)[0];
    out.push(p);
    state = new Float32Array(r.stateN.data as Float32Array);
    context = input.slice(win);
    if (p < 0.35) quiet++;
    else quiet = 0;
    if (
      quiet === quietN || (policy.periodic && quiet > 0 && quiet % quietN === 0)
    ) {
      state = new Float32Array(256);
      context = new Float32Array(ctx);
    }
  }
  return { out, runs };
}

export function turns(ps: number[], rate: Rate) {
  const t = new TurnDetector({ sampleRate: rate });
  const ev: TurnEvent[] = [];
  for (const p of ps) ev.push(...t.push(p));
  ev.push(...t.finish());
  return ev.flatMap((e) =>
    e.type === "pause_detected"
      ? [[e.utterance.speechStartMs, e.utterance.speechEndMs, e.atMs]]
      : []
  );
}

if (import.meta.main) {
  const policies = (v: string): Policy[] => [
    { name: "none", version: v },
    { name: "guard", guard: 8 / 32768, version: v },
    { name: "quiet1s", quietResetS: 1, periodic: true, version: v },
    {
      name: "guard+quiet0.5s",
      guard: 8 / 32768,
      quietResetS: 0.5,
      periodic: true,
      version: v,
    },
    {
      name: "guard+quiet1s",
      guard: 8 / 32768,
      quietResetS: 1,
      periodic: true,
      version: v,
    },
    {
      name: "guard+quiet2s",
      guard: 8 / 32768,
      quietResetS: 2,
      periodic: true,
      version: v,
    },
  ];
  const only = Deno.args[0];
  // End-of-turn latency at the start of a call (fresh state), known ends.
  const ends: Record<string, number[]> = {
    jfk: [2110, 4290, 7510, 10350],
    turns: [5051.5, 7165.625],
  };
  for (const v of ["v5", "v6"]) {
    for (const rate of [8000, 16000] as Rate[]) {
      const lat: number[] = [];
      for (const name of ["jfk", "turns"]) {
        const { out } = await probs(
          cat(speech(name, rate), zeros(rate, 1.5)),
          rate,
          {
            name: "chosen",
            guard: 8 / 32768,
            quietResetS: 1,
            periodic: true,
            version: v,
          },
        );
        const ev = turns(out, rate);
        for (const end of ends[name]) {
          const e = ev.find((x) => x[2] > end);
          lat.push(e ? e[2] - end : NaN);
        }
      }
      console.log(
        `latency ${v} ${rate} Hz: pause_detected after the known speech ends: ${
          lat.map((x) => x.toFixed(0)).join(", ")
        } ms (mean ${
          (lat.reduce((a, b) => a + b, 0) / lat.length).toFixed(0)
        })`,
      );
    }
  }
  for (const name of ["jfk", "turns"]) {
    for (const rate of [8000, 16000] as Rate[]) {
      const S = speech(name, rate);
      const gaps: [string, (k: number) => Float32Array][] = [
        ["0 3.5s", () => zeros(rate, 3.5)],
        ["0 5s", () => zeros(rate, 5)],
        ["0 120s", () => zeros(rate, 120)],
        ["noise-50 4s", (k) => noise(rate, 4, -50, k + 1)],
        ["noise-40+hum 4s", (k) => noise(rate, 4, -40, k + 7, true)],
        ["noise-50 60s", (k) => noise(rate, 60, -50, k + 3)],
        ["ALL noise-50 4s", () => zeros(rate, 4)],
        ["ALL noise-40+hum 4s", () => zeros(rate, 4)],
        ["ALL noise-50 60s", () => zeros(rate, 60)],
      ];
      for (const v of ["v5", "v6"]) {
        for (const pol of policies(v)) {
          if (only && !pol.name.startsWith(only)) continue;
          const cells: string[] = [];
          for (const [gname, gap] of gaps) {
            const parts: Float32Array[] = [];
            const starts: number[] = [];
            const copies = gname.includes("120") || gname.includes("60s")
              ? 3
              : 5;
            let len = 0;
            for (let k = 0; k < copies; k++) {
              starts.push(len / rate * 1000);
              parts.push(S);
              len += S.length;
              let g = gap(k);
              const per = rate * 0.16;
              const want = Math.ceil((S.length + g.length) / per) * per -
                S.length;
              g = cat(g, g.subarray(0, want - g.length));
              parts.push(g);
              len += g.length;
            }
            parts.push(zeros(rate, 1.5));
            let audio = cat(...parts);
            if (gname.startsWith("ALL")) {
              const n = noise(
                rate,
                audio.length / rate,
                gname.includes("-40") ? -40 : -50,
                99,
                gname.includes("hum"),
              );
              const pcm = Int16Array.from(audio, (v, i) =>
                Math.max(
                  -32768,
                  Math.min(32767, Math.round((v + n[i]) * 32768)),
                ));
              audio = rate === 8000
                ? f32(decodeMulaw(encodeMulaw(pcm)))
                : f32(pcm);
            }
            const { out } = await probs(audio, rate, pol);
            const ev = turns(out, rate);
            const per = starts.map((s, k) =>
              ev.filter((e) =>
                e[0] >= s - 300 && e[0] < (starts[k + 1] ?? Infinity) - 300
              ).map((e) => e.map((x) => x - s))
            );
            const ref = per[0];
            let worst = 0;
            let bad = 0;
            for (const c of per.slice(1)) {
              if (c.length !== ref.length) {
                bad++;
                continue;
              }
              c.forEach((e, i) =>
                e.forEach((x, j) => {
                  worst = Math.max(worst, Math.abs(x - ref[i][j]));
                })
              );
            }
            cells.push(
              `${gname}: ${
                bad
                  ? `${bad}/${copies - 1} copies differ in count (${
                    per.map((c) => c.length).join(",")
                  })`
                  : `same count ${ref.length}, max Δ ${worst.toFixed(0)} ms`
              }`,
            );
          }
          console.log(
            `${name} ${rate} ${v} ${pol.name}\n    ${cells.join("\n    ")}`,
          );
        }
      }
    }
  }
}
