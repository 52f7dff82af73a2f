import assert from "node:assert/strict";
import {
  SentenceStream,
  splitForTts,
  splitSentences,
} from "../../src/speech/text.ts";

Deno.test("text: splits on . ! ? followed by whitespace", () => {
  assert.deepEqual(splitSentences("Hello world. How are you?  Fine!\nBye"), [
    "Hello world.",
    "How are you?",
    "Fine!",
    "Bye",
  ]);
  assert.deepEqual(splitSentences("Wait... what?! Really."), [
    "Wait...",
    "what?!",
    "Really.",
  ]);
  assert.deepEqual(splitSentences('He said "stop." Then left.'), [
    'He said "stop."',
    "Then left.",
  ]);
  assert.deepEqual(splitSentences("Pi is 3.14 today. Ok"), [
    "Pi is 3.14 today.",
    "Ok",
  ]);
  assert.deepEqual(splitSentences("   "), []);
});

Deno.test("text: abbreviations and initials stay with their sentence", () => {
  assert.deepEqual(
    splitSentences(
      "Dr. Smith met Mrs. Jones at 5 p.m. today. Bring fruit, e.g. apples, i.e. food.",
    ),
    [
      "Dr. Smith met Mrs. Jones at 5 p.m. today.",
      "Bring fruit, e.g. apples, i.e. food.",
    ],
  );
  assert.deepEqual(
    splitSentences("J. R. R. Tolkien wrote it. The U.S. Army agreed."),
    [
      "J. R. R. Tolkien wrote it.",
      "The U.S. Army agreed.",
    ],
  );
  assert.deepEqual(splitSentences("Apples vs. pears etc. are fruit. Yes."), [
    "Apples vs. pears etc. are fruit.",
    "Yes.",
  ]);
});

Deno.test("text: a long first sentence is cut at its first comma", () => {
  const text =
    "The weather in Paris today, as far as I can tell, is sunny and warm. Enjoy!";
  assert.deepEqual(splitForTts(text), [
    "The weather in Paris today,",
    "as far as I can tell, is sunny and warm.",
    "Enjoy!",
  ]);
  // Short first sentence: not cut. Only the first sentence is ever cut.
  assert.deepEqual(
    splitForTts(
      "Hi, there. Well, a second, rather long sentence follows here and goes on.",
    ),
    [
      "Hi, there.",
      "Well, a second, rather long sentence follows here and goes on.",
    ],
  );
  // A comma too near the start is skipped for the next one.
  assert.deepEqual(
    splitForTts(
      "Well, the weather in Paris today is lovely, sunny and warm with a breeze.",
    ),
    [
      "Well, the weather in Paris today is lovely,",
      "sunny and warm with a breeze.",
    ],
  );
  assert.deepEqual(
    splitForTts(text, { firstChunkMaxChars: Infinity })[0],
    text.slice(0, 68),
  );
  // Dashes count as clause breaks.
  assert.deepEqual(
    splitForTts(
      "Here is the thing you asked about — it is longer than sixty characters.",
    ),
    [
      "Here is the thing you asked about",
      "it is longer than sixty characters.",
    ],
  );
});

Deno.test("text: SentenceStream gives the same chunks as splitForTts for any token split", () => {
  const text =
    "The weather in Paris today, as far as I can tell, is sunny and warm. " +
    "Dr. Who says hi! Is it 3.5 degrees? No. Bye";
  const expected = splitForTts(text);
  for (const size of [1, 2, 3, 7, 13, 1000]) {
    const s = new SentenceStream();
    const got: string[] = [];
    for (let i = 0; i < text.length; i += size) {
      got.push(...s.push(text.slice(i, i + size)));
    }
    got.push(...s.flush());
    assert.deepEqual(got, expected, `piece size ${size}`);
  }
});

Deno.test("text: SentenceStream emits sentences as soon as they are complete", () => {
  const s = new SentenceStream();
  assert.deepEqual(s.push("Hello there."), []); // could still be "there.com"
  assert.deepEqual(s.push(" How are"), ["Hello there."]);
  assert.deepEqual(s.push(" you today? I am"), ["How are you today?"]);
  assert.deepEqual(s.flush(), ["I am"]);
  assert.deepEqual(s.flush(), []);
  // After flush the next text is a new first sentence again.
  const long =
    "This first sentence is rather long, and it keeps going for quite a while.";
  assert.deepEqual(s.push(long.slice(0, 40)), []);
  assert.deepEqual(s.push(long.slice(40, 62)), [
    "This first sentence is rather long,",
  ]);
  assert.deepEqual(s.push(long.slice(62) + " "), [
    "and it keeps going for quite a while.",
  ]);
});
