import assert from "node:assert/strict";
import { createTwilioCodec } from "../../src/transports/twilio.ts";
import { decodeBase64, decodeBase64Into } from "../../src/transports/base64.ts";
import type { Decoded } from "../../src/transports/codec.ts";

const SID = "MZ00000000000000000000000000000001";

function started() {
  const codec = createTwilioCodec();
  codec.decode(JSON.stringify({
    event: "start",
    streamSid: SID,
    start: { streamSid: SID, callSid: "CA1", accountSid: "AC1" },
  }));
  return codec;
}

/**
 * What the general (JSON.parse) path makes of a message: the same message
 * re-serialised with whitespace, which the fast path never takes.
 */
function reference(message: string): Decoded[] {
  let value: unknown;
  try {
    value = JSON.parse(message);
  } catch {
    return started().decode(message); // invalid JSON: general path anyway
  }
  const spaced = JSON.stringify(value, null, 1);
  if (spaced === undefined) return started().decode(message);
  return started().decode(spaced);
}

function same(message: string): void {
  const got = started().decode(message);
  const want = reference(message);
  assert.deepEqual(got, want, `message ${JSON.stringify(message)}`);
}

const payload = "//8AAH9/gICAgICAgH8=";

Deno.test("twilio codec: the media fast path decodes exactly what JSON.parse does", () => {
  const cases = [
    `{"event":"media","sequenceNumber":"3","media":{"track":"inbound","chunk":"1","timestamp":"5","payload":"${payload}"},"streamSid":"${SID}"}`,
    `{"event":"media","streamSid":"${SID}","media":{"payload":"${payload}"}}`,
    `{"media":{"payload":"${payload}"},"event":"media"}`,
    `{"event":"media","media":{"payload":"${payload}","track":"outbound"}}`,
    `{"event":"media","media":{"payload":""}}`,
    `{"event":"media","media":{"payload":"AAE"}}`,
    `{"event":"media","media":{"payload":"AA E"}}`,
    `{"event":"media","media":{"payload":"AA\\u0041A"}}`,
    `{"event":"media","media":{"payload":"AA\\"A"}}`,
    `{"event":"media","media":{"payload":"AB=="}}`,
    `{"event":"media","media":{"payload":"A==="}}`,
    `{"event":"media","media":{"payload":"AA=A"}}`,
    `{"event":"media","media":{"payload":"AAAA\\n"}}`,
    `{"event":"media","media":{"payload":"AAAA\n"}}`,
    `{"event":"media","media":{"payload":"${payload}"}} `,
    `{"event":"media","media":{"payload":"${payload}"}}x`,
    `{"event":"media","media":{"payload":"${payload}"},"media":{"track":"inbound"}}`,
    `{"event":"media","media":{"payload":"${payload}"},"media":"x"}`,
    `{"event":"media","media":{"payload":"AAAA"},"media":{"payload":"${payload}"}}`,
    `{"event":"stop","media":{"payload":"${payload}"},"event":"media"}`,
    `{"event":"media","media":{"payload":"${payload}"},"event":"stop"}`,
    `{"event":"media","media":{"payload":"${payload}","track":"in\\u0062ound"}}`,
    `{"event":"media","media":{"payload":"${payload}","track":5}}`,
    `{"event":"media","media":{"payload":5}}`,
    `{"event":"media","media":{"payload":"${payload}","x":{"y":"z"}}}`,
    `{"event":"media","seq":3,"media":{"payload":"${payload}"}}`,
    `{"event":"media","media":{"payload":"${payload}"},"k\\"":"v"}`,
    `{"event":"media","media":{"payload":"AA\\",\\"k\\":\\"v"}}`,
    `{"event":"media","media":{"payload":"AA\\","k":"v"}}`,
    `{"event":"media","media":{}}`,
  ];
  for (const c of cases) same(c);
});

Deno.test("twilio codec: random mutations of a media message decode as with JSON.parse", () => {
  const base =
    `{"event":"media","sequenceNumber":"3","media":{"track":"inbound","chunk":"1","timestamp":"5","payload":"${payload}"},"streamSid":"${SID}"}`;
  const alphabet = `"\\{}:, =A/+\n\tx`;
  let seed = 12345;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  for (let t = 0; t < 3000; t++) {
    let m = base;
    for (let e = 1 + rand(3); e > 0; e--) {
      const at = rand(m.length + 1);
      const ch = alphabet[rand(alphabet.length)];
      const op = rand(3);
      m = op === 0
        ? m.slice(0, at) + ch + m.slice(at)
        : op === 1
        ? m.slice(0, at) + m.slice(at + 1)
        : m.slice(0, at) + ch + m.slice(at + 1);
    }
    same(m);
  }
});

Deno.test("twilio codec: media before start and after stop still get their errors", () => {
  const codec = createTwilioCodec();
  const media = `{"event":"media","media":{"payload":"${payload}"}}`;
  assert.deepEqual(codec.decode(media), [{
    kind: "error",
    reason: "media before start ignored",
  }]);
  const s = started();
  s.decode(`{"event":"stop"}`);
  assert.deepEqual(s.decode(media), [{
    kind: "error",
    reason: "media after stop ignored",
  }]);
});

Deno.test("base64: decodeBase64Into decodes into the buffer and reports a short one", () => {
  const out = new Uint8Array(4);
  assert.equal(decodeBase64Into("AAE=", out), 2);
  assert.deepEqual([...out.subarray(0, 2)], [0, 1]);
  assert.equal(decodeBase64Into("AAAAAAAA", out), -1);
  assert.equal(decodeBase64Into("", out), 0);
  assert.throws(() => decodeBase64Into("AA E", out), SyntaxError);
});

Deno.test("base64: decodeBase64 accepts and rejects what the strict regular expression did", () => {
  const B64 = /^[A-Za-z0-9+/]*={0,2}$/;
  const old = (t: string) => {
    if (t.length % 4 !== 0 || !B64.test(t)) return "error";
    try {
      // deno-lint-ignore no-explicit-any
      return [...(Uint8Array as any).fromBase64(t) as Uint8Array].join(",");
    } catch {
      return "error";
    }
  };
  const now = (t: string) => {
    try {
      return [...decodeBase64(t)].join(",");
    } catch (e) {
      assert.ok(e instanceof SyntaxError);
      assert.match(e.message, /not valid base64/);
      return "error";
    }
  };
  const chars = "AB/+=z \n-_.";
  let seed = 7;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  const cases = ["", "AA==", "AB==", "AAA=", "A===", "====", "AA=A", "AAAA"];
  for (let t = 0; t < 5000; t++) {
    let s = "";
    for (let n = rand(13); n > 0; n--) s += chars[rand(chars.length)];
    cases.push(s);
  }
  for (const c of cases) assert.equal(now(c), old(c), JSON.stringify(c));
});
