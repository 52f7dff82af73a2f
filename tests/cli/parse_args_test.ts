/** The `call` CLI's argument parser, on plain values. */
import assert from "node:assert/strict";
import { parseCallArgs, UsageError } from "../../cli.ts";

Deno.test("parseCallArgs: defaults, carrier from the URL, repeated headers", () => {
  const a = parseCallArgs(["ws://h/telephone/handler", "a.wav"]);
  assert.ok(a);
  assert.equal(a.carrier, "twilio");
  assert.equal(a.turns, 1);
  assert.equal(a.gapMs, 3000);
  assert.equal(a.realtime, true);
  assert.equal(
    parseCallArgs(["ws://h/websocket/offer", "a.wav"])?.carrier,
    "websocket",
  );
  assert.equal(
    parseCallArgs(["ws://h/x/telephone/vonage/handler", "a.wav"])?.carrier,
    "vonage",
  );
  const b = parseCallArgs([
    "ws://h/telephone/handler",
    "a.wav",
    "--carrier=exotel",
    "--turns",
    "3",
    "--gap-ms=500",
    "--no-realtime",
    "--header",
    "X-A: 1",
    "--header",
    "X-B:2",
    "--out",
    "r.wav",
  ]);
  assert.ok(b);
  assert.equal(b.carrier, "exotel");
  assert.equal(b.turns, 3);
  assert.equal(b.gapMs, 500);
  assert.equal(b.realtime, false);
  assert.deepEqual(b.headers, [["X-A", "1"], ["X-B", "2"]]);
  assert.equal(b.out, "r.wav");
  assert.equal(parseCallArgs(["--help"]), null);
});

Deno.test("parseCallArgs: errors say what to write instead", () => {
  const bad: [string[], RegExp][] = [
    [["ws://h/x"], /URL and a WAV file/],
    [["ws://h/x", "a.wav", "b.wav"], /Too many arguments: b.wav/],
    [["ws://h/x", "a.wav", "--turns", "0"], /--turns needs a whole number ≥ 1/],
    [
      ["ws://h/x", "a.wav", "--carrier", "sprint"],
      /Unknown carrier "sprint"; use twilio/,
    ],
    [["ws://h/x", "a.wav", "--loud"], /Unknown option --loud/],
    [["ws://h/x", "a.wav", "--out"], /--out needs a value/],
    [["ws://h/x", "a.wav", "--header", "nocolon"], /'Name: value'/],
  ];
  for (const [argv, message] of bad) {
    assert.throws(() => parseCallArgs(argv), (e: unknown) => {
      assert.ok(e instanceof UsageError);
      assert.match(e.message, message);
      return true;
    });
  }
});
