import assert from "node:assert/strict";
import {
  RtpDepacketizer,
  RtpPacketizer,
} from "../../src/transports/rtp_packetizer.ts";

const FRAME = new Uint8Array(160);

Deno.test("packetizer: first packet starts a talkspurt; fields as given", () => {
  const rtp = new RtpPacketizer({
    payloadType: 111,
    clockRate: 48000,
    ssrc: 0xdeadbeef,
    sequenceNumber: 10,
    timestamp: 1000,
  });
  const a = rtp.packetize(FRAME, 960, 5);
  assert.deepEqual(
    { ...a, payload: a.payload.length },
    {
      payloadType: 111,
      sequenceNumber: 10,
      timestamp: 1000,
      marker: true,
      ssrc: 0xdeadbeef,
      payload: 160,
    },
  );
  const b = rtp.packetize(FRAME, 960, 25);
  assert.equal(b.sequenceNumber, 11);
  assert.equal(b.timestamp, 1960);
  assert.equal(b.marker, false);
  assert.equal(rtp.packets, 2);
  assert.equal(rtp.talkspurts, 1);
});

Deno.test("packetizer: a burst ahead of real time keeps back-to-back timestamps", () => {
  const rtp = new RtpPacketizer({
    payloadType: 0,
    clockRate: 8000,
    sequenceNumber: 0,
    timestamp: 0,
  });
  // Three frames leave at once (the pacer's lead), then one per 20 ms.
  const times = [0, 0, 0, 20, 40, 60, 80];
  const ts = times.map((t) => rtp.packetize(FRAME, 160, t));
  assert.deepEqual(ts.map((p) => p.timestamp), [
    0,
    160,
    320,
    480,
    640,
    800,
    960,
  ]);
  assert.deepEqual(ts.map((p) => p.marker), [
    true,
    false,
    false,
    false,
    false,
    false,
    false,
  ]);
});

Deno.test("packetizer: a pause starts a new talkspurt at the wall clock", () => {
  const rtp = new RtpPacketizer({
    payloadType: 0,
    clockRate: 8000,
    sequenceNumber: 100,
    timestamp: 0,
  });
  rtp.packetize(FRAME, 160, 0); // ts 0
  rtp.packetize(FRAME, 160, 20); // ts 160
  // Up to two frames of lag stay in the talkspurt (jitter of the sender)…
  const late = rtp.packetize(FRAME, 160, 80); // wall 640, next 320: 320 ≤ 320
  assert.equal(late.timestamp, 320);
  assert.equal(late.marker, false);
  // …more is a pause: timestamp = wall clock, marker set, seq still +1.
  const resumed = rtp.packetize(FRAME, 160, 1000);
  assert.equal(resumed.timestamp, 8000);
  assert.equal(resumed.marker, true);
  assert.equal(resumed.sequenceNumber, 103);
  const next = rtp.packetize(FRAME, 160, 1020);
  assert.equal(next.timestamp, 8160);
  assert.equal(next.marker, false);
  assert.equal(rtp.talkspurts, 2);
});

Deno.test("packetizer: sequence number and timestamp wrap", () => {
  const rtp = new RtpPacketizer({
    payloadType: 0,
    clockRate: 8000,
    sequenceNumber: 65534,
    timestamp: 2 ** 32 - 320,
  });
  const p = [0, 20, 40, 60].map((t) => rtp.packetize(FRAME, 160, t));
  assert.deepEqual(p.map((x) => x.sequenceNumber), [65534, 65535, 0, 1]);
  assert.deepEqual(p.map((x) => x.timestamp), [
    2 ** 32 - 320,
    2 ** 32 - 160,
    0,
    160,
  ]);
  // A talkspurt jump across the wrap lands modulo 2³².
  const q = rtp.packetize(FRAME, 160, 2060);
  assert.equal(q.marker, true);
  assert.equal(q.timestamp, (2 ** 32 - 320 + 2060 * 8) % 2 ** 32);
});

Deno.test("packetizer: random defaults and validation", () => {
  const values = [0.5, 0.25, 0.75];
  const rtp = new RtpPacketizer({
    payloadType: 0,
    clockRate: 8000,
    random: () => values.shift()!,
  });
  const p = rtp.packetize(FRAME, 160, 0);
  assert.equal(p.ssrc, 2 ** 31);
  assert.equal(p.sequenceNumber, 16384);
  assert.equal(p.timestamp, 0.75 * 2 ** 31);
  assert.throws(
    () => new RtpPacketizer({ payloadType: 128, clockRate: 8000 }),
    /payloadType must be an integer from 0 to 127, got 128/,
  );
  assert.throws(
    () => new RtpPacketizer({ payloadType: 0, clockRate: 0 }),
    /clockRate must be a positive integer/,
  );
  assert.throws(
    () => rtp.packetize(FRAME, 0, 0),
    /ticks must be the frame's positive length/,
  );
});

function packet(sequenceNumber: number, payloadType = 0, ssrc = 1) {
  return {
    sequenceNumber: sequenceNumber & 0xffff,
    payloadType,
    ssrc,
    payload: new Uint8Array(160),
  };
}

Deno.test("depacketizer: in order, no loss", () => {
  const rx = new RtpDepacketizer({ payloadType: 0 });
  for (let s = 65530; s < 65550; s++) {
    assert.equal(rx.receive(packet(s)), "new");
    assert.deepEqual(rx.play(packet(s)), { kind: "decode", lost: 0 });
  }
  assert.deepEqual(rx.stats, {
    received: 20,
    reordered: 0,
    duplicates: 0,
    late: 0,
    lost: 0,
    played: 20,
    skipped: 0,
    sourceChanges: 0,
  });
});

Deno.test("depacketizer: loss across the sequence wrap", () => {
  const rx = new RtpDepacketizer({ payloadType: 0 });
  rx.play(packet(65534));
  assert.deepEqual(rx.play(packet(2)), { kind: "decode", lost: 3 }); // 65535, 0, 1
  assert.deepEqual(rx.play(packet(3)), { kind: "decode", lost: 0 });
  assert.equal(rx.stats.lost, 3);
});

Deno.test("depacketizer: reordered, duplicate and late arrivals", () => {
  const rx = new RtpDepacketizer({ payloadType: 0 });
  assert.equal(rx.receive(packet(65535)), "new");
  assert.equal(rx.receive(packet(1)), "new");
  assert.equal(rx.receive(packet(0)), "reordered");
  assert.equal(rx.receive(packet(0)), "duplicate");
  assert.equal(rx.receive(packet(1)), "duplicate");
  assert.equal(rx.receive(packet(5)), "new");
  rx.play(packet(65535));
  rx.play(packet(0));
  rx.play(packet(1));
  rx.play(packet(5)); // 2, 3, 4 given up
  assert.equal(rx.receive(packet(3)), "late");
  assert.equal(rx.receive(packet(3)), "duplicate");
  // Playout never goes back.
  assert.deepEqual(rx.play(packet(3)), { kind: "drop" });
  assert.deepEqual(rx.play(packet(5)), { kind: "drop" });
  const s = rx.stats;
  assert.equal(s.received, 8);
  assert.equal(s.reordered, 1);
  assert.equal(s.duplicates, 3);
  assert.equal(s.late, 1);
  assert.equal(s.lost, 3);
  assert.equal(s.played, 4);
});

Deno.test("depacketizer: duplicates are found up to 63 behind the newest", () => {
  const rx = new RtpDepacketizer({ payloadType: 0 });
  for (let s = 0; s < 100; s++) rx.receive(packet(s));
  assert.equal(rx.receive(packet(99 - 63)), "duplicate");
  // Beyond the window an old packet is reordered (or late once played).
  assert.equal(rx.receive(packet(99 - 64)), "reordered");
  // A jump of more than the window clears it.
  rx.receive(packet(1000));
  assert.equal(rx.receive(packet(999)), "reordered");
  assert.equal(rx.receive(packet(999)), "duplicate");
});

Deno.test("depacketizer: other payload types and empty payloads are skipped", () => {
  const rx = new RtpDepacketizer({ payloadType: 111 });
  rx.play(packet(1, 111));
  assert.deepEqual(rx.play(packet(3, 126)), {
    kind: "skip",
    lost: 1,
    reason: "payload-type",
  });
  assert.deepEqual(rx.play({ ...packet(4, 111), payload: new Uint8Array() }), {
    kind: "skip",
    lost: 0,
    reason: "empty",
  });
  assert.deepEqual(rx.play(packet(5, 111)), { kind: "decode", lost: 0 });
  assert.equal(rx.stats.skipped, 2);
  assert.equal(rx.stats.lost, 1);
});

Deno.test("depacketizer: a new SSRC restarts tracking", () => {
  const rx = new RtpDepacketizer({ payloadType: 0 });
  rx.receive(packet(500, 0, 1));
  rx.play(packet(500, 0, 1));
  assert.equal(rx.receive(packet(7, 0, 2)), "new-source");
  assert.deepEqual(rx.play(packet(7, 0, 2)), { kind: "decode", lost: 0 });
  assert.equal(rx.receive(packet(8, 0, 2)), "new");
  assert.equal(rx.stats.sourceChanges, 1);
  assert.equal(rx.stats.lost, 0);
});
