import assert from "node:assert/strict";
import {
  getSileroModel,
  type PauseDetectedEvent,
  TurnDetector,
  type TurnEvent,
} from "../../src/vad/mod.ts";
import { decimateBy2, readWavMono16 } from "./_helpers.ts";

// tests/fixtures/turns_espeak.wav (see tests/fixtures/README.md): known times
// in seconds. Turn 1 = "I would like to book a table" + 0.3 s gap + "for two
// people, at seven tonight, if possible." Turn 2 = "Thank you very much."
const TURN1 = { start: 0.5, gapStart: 1.9455, gapEnd: 2.2455, end: 5.0515 };
const TURN2 = { start: 6.0515, end: 7.165625 };
const fixture = readWavMono16(
  new URL("../fixtures/turns_espeak.wav", import.meta.url),
);

for (const rate of [16000, 8000] as const) {
  Deno.test(`turns on real speech (${rate} Hz): one turn per sentence, end-of-turn < 600 ms, no cut at phrase pauses`, async () => {
    const audio = rate === 16000
      ? fixture.samples
      : decimateBy2(fixture.samples);
    const model = await getSileroModel();
    const vad = model.createStream(rate);
    const turns = new TurnDetector({ sampleRate: rate });
    const events: TurnEvent[] = [];
    // 20 ms frames, as a phone call delivers them.
    const frame = rate / 50;
    for (let i = 0; i < audio.length; i += frame) {
      for (const w of await vad.feed(audio.subarray(i, i + frame))) {
        events.push(...turns.push(w.probability, w.samples));
      }
    }
    vad.close();
    const pauses = events.filter((e): e is PauseDetectedEvent =>
      e.type === "pause_detected"
    );
    assert.equal(
      pauses.length,
      2,
      JSON.stringify(events.map((e) => [e.type, e.atMs])),
    );
    const truth = [TURN1, TURN2];
    pauses.forEach((p, k) => {
      const u = p.utterance;
      assert.equal(p.reason, "silence");
      assert.ok(
        Math.abs(u.speechStartMs / 1000 - truth[k].start) < 0.15,
        `turn ${k} onset ${u.speechStartMs}`,
      );
      const latency = p.atMs - truth[k].end * 1000;
      console.log(
        `${rate} Hz turn ${k + 1}: pause_detected ${
          latency.toFixed(0)
        } ms after the speech ended`,
      );
      assert.ok(
        latency > 0 && latency < 600,
        `turn ${k} end-of-turn latency ${latency} ms`,
      );
      assert.ok(u.audio && u.audio.length === u.endSample - u.startSample);
    });
    // The 0.3 s gap inside turn 1 lies within the first utterance.
    assert.ok(pauses[0].utterance.speechStartMs / 1000 < TURN1.gapStart);
    assert.ok(pauses[0].utterance.speechEndMs / 1000 > TURN1.gapEnd);
    // Barge-in confirmation comes well before the turn is confirmed to end.
    const firstInterrupt = events.find((e) => e.type === "interrupt_confirmed");
    assert.ok(firstInterrupt && firstInterrupt.atMs < TURN1.start * 1000 + 400);
  });
}
