import assert from "node:assert/strict";
import {
  createJitterBuffer,
  type JitterPacket,
  loadJitterBuffer,
} from "../../src/transports/_werift_jitter.ts";

await loadJitterBuffer();

/** A 20 ms PCMU packet: timestamp 160 ticks per sequence number. */
function pkt(seq: number, tsBase = 0): JitterPacket {
  return {
    header: {
      sequenceNumber: seq & 0xffff,
      timestamp: (tsBase + seq * 160) % 2 ** 32,
    },
  };
}

/** Pushes `order` and returns every released sequence number, in order. */
function run(order: number[], latencyMs = 40, tsBase = 0): number[] {
  const jb = createJitterBuffer<JitterPacket>({ clockRate: 8000, latencyMs });
  const out: number[] = [];
  for (const s of order) {
    for (const p of jb.push(pkt(s, tsBase))) out.push(p.header.sequenceNumber);
  }
  for (const p of jb.flush()) out.push(p.header.sequenceNumber);
  return out;
}

Deno.test("jitter buffer: in-order packets pass straight through", () => {
  const jb = createJitterBuffer<JitterPacket>({ clockRate: 8000 });
  for (let s = 1; s <= 10; s++) {
    const out = jb.push(pkt(s));
    assert.deepEqual(out.map((p) => p.header.sequenceNumber), [s]);
  }
  assert.equal(jb.held, 0);
});

Deno.test("jitter buffer: a swapped pair comes out in order", () => {
  assert.deepEqual(run([1, 2, 4, 3, 5, 6]), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(run([1, 3, 4, 2, 5]), [1, 2, 3, 4, 5]);
});

Deno.test("jitter buffer: a lost packet costs only itself", () => {
  // werift 0.25.2 alone releases 1 2 3 5 8 9 … here (6 and 7 stranded).
  assert.deepEqual(
    run([1, 2, 3, 5, 6, 7, 8, 9, 10]),
    [1, 2, 3, 5, 6, 7, 8, 9, 10],
  );
  // Two holes and a reordered pair.
  assert.deepEqual(
    run([1, 3, 5, 4, 6, 7, 8, 9, 10, 11]),
    [1, 3, 4, 5, 6, 7, 8, 9, 10, 11],
  );
});

Deno.test("jitter buffer: a hole is waited for latency ms of media time", () => {
  const jb = createJitterBuffer<JitterPacket>({
    clockRate: 8000,
    latencyMs: 40,
  });
  jb.push(pkt(1));
  // 2 is missing: 3, 4, 5 (20, 40 ms after 3) are held…
  assert.deepEqual(jb.push(pkt(3)), []);
  assert.deepEqual(jb.push(pkt(4)), []);
  assert.deepEqual(jb.push(pkt(5)), []);
  assert.equal(jb.held, 3);
  // …and 6, 60 ms after 3, gives up on 2 and releases 3-6.
  assert.deepEqual(jb.push(pkt(6)).map((p) => p.header.sequenceNumber), [
    3,
    4,
    5,
    6,
  ]);
  assert.equal(jb.held, 0);
  // 2 arriving now is too late and is not released.
  assert.deepEqual(jb.push(pkt(2)), []);
  assert.deepEqual(jb.push(pkt(7)).map((p) => p.header.sequenceNumber), [7]);
});

Deno.test("jitter buffer: sequence and timestamp wraparound", () => {
  // Sequence numbers cross 65535 → 0 with a hole at 0 and a swap after it;
  // timestamps cross 2³² on the way.
  const order = [65533, 65534, 65535, 2, 1, 3, 4, 5, 6, 7].map((s) =>
    s & 0xffff
  );
  const tsBase = 2 ** 32 - 65535 * 160 - 480;
  assert.deepEqual(run(order, 40, tsBase), [
    65533,
    65534,
    65535,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
  ]);
  // The newest timed-out packet is 0 (werift tests it for truthiness).
  assert.deepEqual(
    run([65534, 0, 1, 2, 3, 4], 40, 2 ** 20),
    [65534, 0, 1, 2, 3, 4],
  );
});

Deno.test("jitter buffer: flush releases what is held, in order", () => {
  const jb = createJitterBuffer<JitterPacket>({ clockRate: 8000 });
  jb.push(pkt(10));
  jb.push(pkt(13));
  jb.push(pkt(12));
  assert.equal(jb.held, 2);
  assert.deepEqual(jb.flush().map((p) => p.header.sequenceNumber), [12, 13]);
  assert.equal(jb.held, 0);
  assert.deepEqual(jb.push(pkt(14)).map((p) => p.header.sequenceNumber), [14]);
});

Deno.test("jitter buffer: duplicates are not released twice", () => {
  assert.deepEqual(run([1, 2, 2, 4, 4, 3, 3, 5]), [1, 2, 3, 4, 5]);
});

Deno.test("jitter buffer: holds at most maxPackets", () => {
  const jb = createJitterBuffer<JitterPacket>({
    clockRate: 8000,
    latencyMs: 10_000,
    maxPackets: 5,
  });
  jb.push(pkt(1));
  for (let s = 3; s < 20; s++) jb.push(pkt(s));
  assert.ok(jb.held <= 6, `held ${jb.held}`);
  assert.ok(jb.overflows > 0);
});

Deno.test("jitter buffer: settings are validated", () => {
  assert.throws(
    () => createJitterBuffer({ clockRate: 8000, latencyMs: 0 }),
    /latency must be a positive number of ms, got 0/,
  );
  assert.throws(
    () => createJitterBuffer({ clockRate: 8000, maxPackets: 1.5 }),
    /size must be a positive integer, got 1.5/,
  );
});
