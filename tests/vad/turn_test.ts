import assert from "node:assert/strict";
import {
  type PauseDetectedEvent,
  TurnDetector,
  type TurnEvent,
  turnOptionsFromFastRtc,
} from "../../src/vad/mod.ts";

const W = 32; // ms per window at the default 16 kHz / 512 samples

function run(det: TurnDetector, probs: number[]): TurnEvent[] {
  const out: TurnEvent[] = [];
  for (const p of probs) out.push(...det.push(p));
  return out;
}
const rep = (p: number, n: number): number[] => Array(n).fill(p);
const windowsFor = (ms: number): number => Math.ceil(ms / W);
const pauses = (ev: TurnEvent[]): PauseDetectedEvent[] =>
  ev.filter((e): e is PauseDetectedEvent => e.type === "pause_detected");

Deno.test("turn: speech then silence gives onset, interrupt, started_talking, pause in order", () => {
  const det = new TurnDetector();
  const o = det.options;
  assert.equal(det.windowMs, W);
  const ev = run(det, [...rep(0.01, 10), ...rep(0.9, 20), ...rep(0.02, 30)]);
  assert.deepEqual(ev.map((e) => e.type), [
    "speech_onset",
    "interrupt_confirmed",
    "started_talking",
    "pause_detected",
  ]);
  assert.equal(ev[0].atMs, 11 * W);
  assert.equal(ev[1].atMs, (10 + windowsFor(o.interruptConfirmMs)) * W);
  assert.equal(ev[2].atMs, (10 + windowsFor(o.minSpeechMs)) * W);
  const p = ev[3] as PauseDetectedEvent;
  assert.equal(p.reason, "silence");
  assert.equal(p.utterance.speechStartMs, 10 * W);
  assert.equal(p.utterance.speechEndMs, 30 * W);
  assert.equal(p.atMs, (30 + windowsFor(o.minSilenceMs)) * W);
  assert.equal(p.utterance.speechMs, 20 * W);
  assert.equal(p.utterance.audio, undefined, "no samples were pushed");
  assert.equal(det.state, "idle");
});

Deno.test("turn: default end-of-turn latency is under 600 ms after the last speech window", () => {
  const det = new TurnDetector();
  const [p] = pauses(run(det, [...rep(0.9, 30), ...rep(0.0, 40)]));
  const latency = p.atMs - p.utterance.speechEndMs;
  assert.ok(latency < 600, `latency ${latency} ms`);
  assert.ok(latency >= det.options.minSilenceMs);
});

Deno.test("turn: hysteresis keeps a turn alive between the thresholds and does not restart it", () => {
  const det = new TurnDetector({
    activationThreshold: 0.5,
    deactivationThreshold: 0.35,
  });
  // 0.4 after speech counts as speech (above deactivation).
  let ev = run(det, [...rep(0.9, 10), ...rep(0.4, 40)]);
  assert.equal(pauses(ev).length, 0);
  assert.equal(det.state, "speaking");
  assert.equal(det.speechMs, 50 * W);
  // Once silent, 0.4 is not enough to resume speech (below activation).
  ev = run(det, [0.1, ...rep(0.4, windowsFor(det.options.minSilenceMs))]);
  assert.equal(pauses(ev).length, 1);
  assert.equal(pauses(ev)[0].utterance.speechEndMs, 50 * W);
  // And 0.4 never starts speech from idle.
  assert.equal(run(det, rep(0.49, 50)).length, 0);
});

Deno.test("turn: bursts shorter than minSpeechMs are discarded, not turns", () => {
  const det = new TurnDetector({ minSpeechMs: 250, interruptConfirmMs: 1000 });
  const short = windowsFor(250) - 1;
  const ev = run(det, [...rep(0.9, short), ...rep(0.0, 30)]);
  assert.deepEqual(ev.map((e) => e.type), ["speech_onset", "speech_discarded"]);
  const d = ev[1];
  assert.ok(d.type === "speech_discarded");
  assert.equal(d.speechMs, short * W);
  // Exactly minSpeechMs of speech is a turn.
  const ev2 = run(det, [...rep(0.9, short + 1), ...rep(0.0, 30)]);
  assert.deepEqual(ev2.map((e) => e.type), [
    "speech_onset",
    "started_talking",
    "pause_detected",
  ]);
});

Deno.test("turn: a short intra-sentence pause does not cut the turn, a long one does", () => {
  const det = new TurnDetector();
  const shortGap = windowsFor(det.options.minSilenceMs) - 1; // just under the threshold
  const ev = run(det, [
    ...rep(0.95, 25),
    ...rep(0.05, shortGap),
    ...rep(0.95, 25),
    ...rep(0.05, 8), // 256 ms: a typical phrase pause
    ...rep(0.95, 20),
    ...rep(0.0, 40),
  ]);
  const ps = pauses(ev);
  assert.equal(ps.length, 1);
  assert.equal(ps[0].utterance.speechStartMs, 0);
  assert.equal(ps[0].utterance.speechEndMs, (25 + shortGap + 25 + 8 + 20) * W);
  assert.equal(ev.filter((e) => e.type === "started_talking").length, 1);
});

Deno.test("turn: utterance audio includes prefix padding and is sliced by sample offsets", () => {
  const det = new TurnDetector({ sampleRate: 8000, prefixPaddingMs: 300 });
  assert.equal(det.windowSize, 256);
  const all: Float32Array[] = [];
  const probs = [...rep(0.0, 20), ...rep(0.9, 15), ...rep(0.0, 20)];
  const ev: TurnEvent[] = [];
  probs.forEach((p, i) => {
    const w = new Float32Array(256).fill(i / 1000);
    all.push(w);
    ev.push(...det.push(p, w));
    w.fill(-1); // the detector must have copied it
  });
  const [p] = pauses(ev);
  const pad = windowsFor(300);
  const u = p.utterance;
  assert.equal(u.speechStartMs, 20 * W);
  assert.equal(u.startMs, (20 - pad) * W);
  assert.equal(u.startSample, (20 - pad) * 256);
  assert.equal(u.endSample, Math.round((u.endMs * 8000) / 1000));
  assert.ok(u.audio);
  assert.equal(u.audio.length, u.endSample - u.startSample);
  assert.equal(
    u.audio[0],
    (20 - pad) / 1000 === 0 ? 0 : Math.fround((20 - pad) / 1000),
  );
  assert.equal(
    u.audio[u.audio.length - 1],
    Math.fround((u.endSample / 256 - 1) / 1000),
  );
});

Deno.test("turn: prefix padding is clipped at the start of the stream", () => {
  const det = new TurnDetector({ prefixPaddingMs: 500 });
  const [p] = pauses(
    run(det, [...rep(0.0, 3), ...rep(0.9, 20), ...rep(0.0, 30)]),
  );
  assert.equal(p.utterance.startMs, 0);
  assert.equal(p.utterance.speechStartMs, 3 * W);
});

Deno.test("turn: maxContinuousSpeechS forces a pause and the next utterance does not overlap", () => {
  const det = new TurnDetector({ maxContinuousSpeechS: 1 });
  const ev = run(det, [...rep(0.0, 5), ...rep(0.9, 50), ...rep(0.0, 30)]);
  const ps = pauses(ev);
  assert.equal(ps.length, 2);
  assert.equal(ps[0].reason, "max_speech");
  assert.equal(ps[0].utterance.speechStartMs, 5 * W);
  assert.equal(ps[0].atMs, (5 + windowsFor(1000)) * W);
  assert.equal(ps[1].reason, "silence");
  assert.equal(ps[1].utterance.startMs, ps[0].utterance.endMs);
  assert.equal(ps[1].utterance.speechEndMs, 55 * W);
});

Deno.test("turn: finish reports an open turn; reset forgets it", () => {
  const det = new TurnDetector();
  run(det, rep(0.9, 20));
  const [end] = det.finish();
  assert.ok(end.type === "pause_detected" && end.reason === "end");
  assert.equal(end.utterance.endMs, 20 * W);
  assert.deepEqual(det.finish(), []);
  run(det, rep(0.9, 20));
  det.reset();
  assert.equal(det.state, "idle");
  assert.equal(pauses(run(det, rep(0.0, 30))).length, 0);
  assert.equal(det.positionMs, 70 * W);
});

Deno.test("turn: invalid input is rejected with a clear error", () => {
  const det = new TurnDetector();
  assert.throws(() => det.push(Number.NaN), /probability/);
  assert.throws(() => det.push(1.5), /probability/);
  assert.throws(() => det.push(0.5, new Float32Array(100)), /512/);
  assert.throws(
    () => new TurnDetector({ deactivationThreshold: 0.9 }),
    /deactivationThreshold/,
  );
  assert.throws(() => new TurnDetector({ minSilenceMs: -1 }), /minSilenceMs/);
});

Deno.test("turnOptionsFromFastRtc: FastRTC defaults map to their per-window meaning", () => {
  const d = turnOptionsFromFastRtc({});
  assert.equal(d.activationThreshold, 0.5);
  assert.ok(Math.abs(d.deactivationThreshold! - 0.35) < 1e-12);
  assert.equal(d.minSpeechMs, 250); // max(0.2 s, 250 ms)
  assert.equal(d.minSilenceMs, 500); // 0.6 s chunk − 0.1 s speech
  assert.equal(d.prefixPaddingMs, 400);
  // Omitted: the detector's own default (60 s) applies, not FastRTC's ∞.
  assert.equal(d.maxContinuousSpeechS, undefined);
  assert.equal(new TurnDetector(d).options.maxContinuousSpeechS, 60);
  assert.equal(
    turnOptionsFromFastRtc({ algoOptions: { maxContinuousSpeechS: Infinity } })
      .maxContinuousSpeechS,
    Infinity,
  );
  const c = turnOptionsFromFastRtc({
    algoOptions: {
      audioChunkDuration: 1,
      speechThreshold: 0.2,
      startedTalkingThreshold: 0.5,
      maxContinuousSpeechS: 15,
    },
    modelOptions: { threshold: 0.7, minSpeechDurationMs: 100, speechPadMs: 0 },
  });
  assert.equal(c.minSilenceMs, 800);
  assert.equal(c.minSpeechMs, 500);
  assert.equal(c.maxContinuousSpeechS, 15);
  assert.equal(c.prefixPaddingMs, 0);
  assert.ok(Math.abs(c.deactivationThreshold! - 0.55) < 1e-12);
  // The mapped options are accepted by the detector.
  const det = new TurnDetector({ ...c, sampleRate: 8000 });
  assert.equal(det.options.minSilenceMs, 800);
  assert.throws(
    () => turnOptionsFromFastRtc({ modelOptions: { threshold: 2 } }),
    /threshold/,
  );
});

Deno.test("turn: pause_tentative fires once per silence run, speech_resumed when speech comes back", () => {
  const det = new TurnDetector({
    minSpeechMs: 64,
    tentativeSilenceMs: 64,
    minSilenceMs: 160,
  });
  const kinds = (ps: number[]) =>
    ps.flatMap((p) => det.push(p)).map((e) => e.type);
  assert.deepEqual(kinds([0.9, 0.9, 0.9]), ["speech_onset", "started_talking"]);
  assert.deepEqual(kinds([0, 0, 0]), ["pause_tentative"]);
  assert.deepEqual(kinds([0.9]), ["speech_resumed"]);
  assert.deepEqual(kinds([0, 0, 0, 0, 0]), [
    "pause_tentative",
    "pause_detected",
  ]);
  assert.equal(new TurnDetector().options.maxContinuousSpeechS, 60);
});
