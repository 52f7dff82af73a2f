import assert from "node:assert/strict";
import { findStopWord, stopWordPattern } from "../../src/speech/stop_words.ts";

Deno.test("stop words: case-insensitive, word boundaries, punctuation tolerant", () => {
  const p = stopWordPattern("computer");
  assert.ok(p.test("Computer, what time is it?"));
  assert.ok(p.test("hey computer."));
  assert.ok(!p.test("my computers are slow"));
  assert.ok(!p.test("supercomputer"));
  const ok = stopWordPattern("OK Computer");
  assert.ok(ok.test("ok, computer! lights"));
  assert.ok(ok.test("ok   computer"));
  assert.ok(!ok.test("ok my computer"));
  assert.ok(stopWordPattern("c++").test("I like c++ a lot"));
  assert.throws(() => stopWordPattern("  , "), /Empty stop word/);
});

Deno.test("stop words: earliest match wins and reports where it ends", () => {
  const t = "well hey jarvis, and then computer";
  assert.deepEqual(findStopWord(t, ["computer", "hey jarvis"]), {
    stopWord: "hey jarvis",
    index: 5,
    end: 15,
  });
  assert.equal(findStopWord("nothing here", ["computer"]), undefined);
  assert.equal(findStopWord("anything", []), undefined);
});
