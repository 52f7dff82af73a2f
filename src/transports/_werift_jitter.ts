/**
 * The inbound jitter buffer of WebRTC calls: werift's `JitterBufferBase`
 * (`werift/nonstandard`, werift 0.25.2) with a fix for how it resumes after
 * a loss.
 *
 * werift's buffer passes packets through at once while they arrive in
 * order. A packet after a gap is held; held packets are released in
 * sequence order as soon as the gap fills, or given up on when a packet
 * arrives whose RTP timestamp is more than `latency` ms newer than a held
 * one (the clock is the media timestamps, not a timer). So with 20 ms frames
 * and `latency` 40, a hole is waited for until a packet 60 ms newer than the
 * first held one arrives: at most three frames of added delay, and none
 * while nothing is missing.
 *
 * The defect: when werift gives up on a hole it releases the timed-out
 * packets and the arriving one, but moves its "last played" sequence number
 * to the arriving packet, stranding every held packet in between (they are
 * later discarded silently) and keeping the arriving packet in its buffer.
 * One lost packet thus cost `latency / frame` more. Here, after werift's
 * own processing, the release resumes at the last timed-out packet and
 * continues through whatever is contiguous after it (the arriving packet
 * included), and stale entries are purged.
 *
 * werift's buffer only reads `header.sequenceNumber` and `header.timestamp`,
 * so it holds any packet-like value; tests use plain objects.
 *
 * @module
 */

import { lazyImport } from "../_internal/lazy_import.ts";

/** What the buffer needs of a packet: werift's `RtpPacket` has it. */
export interface JitterPacket {
  /** The RTP header. */
  header: {
    /** 16-bit sequence number. */
    sequenceNumber: number;
    /** 32-bit timestamp. */
    timestamp: number;
  };
}

/** Settings of {@linkcode createJitterBuffer}. */
export interface JitterBufferSettings {
  /** The codec's RTP clock rate. */
  clockRate: number;
  /** How long a hole is waited for, in ms of media time (default 40). */
  latencyMs?: number;
  /** Most packets held at once; more are dropped (default 50, 1 s of 20 ms frames). */
  maxPackets?: number;
}

/** A jitter buffer for one inbound stream. */
export interface JitterBuffer<P extends JitterPacket> {
  /**
   * Takes one arriving packet.
   *
   * @param packet The packet.
   * @returns The packets to play now, in sequence order (often just this one).
   */
  push(packet: P): P[];
  /** Releases everything held, in sequence order (the sender went quiet). */
  flush(): P[];
  /** Packets held, waiting for a hole to fill. */
  readonly held: number;
  /** Packets dropped because the buffer was full. */
  readonly overflows: number;
}

type NonStandard = typeof import("npm:werift@0.25.2/nonstandard");
const importNonStandard = lazyImport<NonStandard>(
  "npm:werift@0.25.2/nonstandard",
  "WebRTC jitter buffer",
);

let nonStandard: Promise<NonStandard> | null = null;
let loaded: NonStandard | null = null;

/**
 * Loads werift's `nonstandard` module (once per process).
 *
 * @example
 * ```ts ignore
 * await loadJitterBuffer();
 * ```
 */
export function loadJitterBuffer(): Promise<void> {
  nonStandard ??= importNonStandard().then((m) => loaded = m, (e) => {
    nonStandard = null;
    throw e;
  });
  return nonStandard.then(() => {});
}

/** The parts of werift's `JitterBufferBase` the fix reaches into. */
interface JitterBufferInternals<P> {
  presentSeqNum?: number;
  rtpBuffer: Record<number, P>;
  resolveBuffer(from: number): P[];
  sortAndClearBuffer(buffer: Record<number, P>): P[];
  processInput(input: { rtp?: P; eol?: boolean }): {
    rtp?: P;
    isPacketLost?: { from: number; to: number };
  }[];
  toJSON(): Record<string, unknown>;
}

/**
 * Makes a jitter buffer; {@linkcode loadJitterBuffer} must have resolved.
 *
 * @example
 * ```ts ignore
 * await loadJitterBuffer();
 * const jb = createJitterBuffer({ clockRate: 8000, latencyMs: 40 });
 * jb.push({ header: { sequenceNumber: 1, timestamp: 160 } });
 * ```
 *
 * @param settings Clock rate, latency and size.
 * @returns The buffer.
 */
export function createJitterBuffer<P extends JitterPacket>(
  settings: JitterBufferSettings,
): JitterBuffer<P> {
  if (!loaded) {
    throw new Error(
      "werift's jitter buffer is not loaded; await loadJitterBuffer() first",
    );
  }
  const latency = settings.latencyMs ?? 40;
  const bufferSize = settings.maxPackets ?? 50;
  if (!(latency > 0)) {
    throw new RangeError(
      `jitter buffer latency must be a positive number of ms, got ${latency}`,
    );
  }
  if (!Number.isInteger(bufferSize) || bufferSize < 1) {
    throw new RangeError(
      `jitter buffer size must be a positive integer, got ${bufferSize}`,
    );
  }
  const jb = new loaded.JitterBufferBase(settings.clockRate, {
    latency,
    bufferSize,
  }) as unknown as JitterBufferInternals<P>;
  const seqOf = (p: P) => p.header.sequenceNumber;
  /** Distance of `p` after the last released packet, mod 2¹⁶. */
  const after = (p: P) => ((seqOf(p) - (jb.presentSeqNum ?? 0)) & 0xffff);

  /** Drops held entries at or before the last released sequence number. */
  const purgeStale = () => {
    for (const p of Object.values(jb.rtpBuffer)) {
      if (after(p) === 0 || after(p) >= 0x8000) delete jb.rtpBuffer[seqOf(p)];
    }
  };

  /** Releases `timedOut` and what is contiguous after the last of them. */
  const resume = (timedOut: P[]): P[] => {
    if (timedOut.length === 0) return [];
    jb.presentSeqNum = seqOf(timedOut[timedOut.length - 1]);
    purgeStale();
    const next = jb.resolveBuffer((jb.presentSeqNum + 1) & 0xffff);
    if (next.length) jb.presentSeqNum = seqOf(next[next.length - 1]);
    return [...timedOut, ...next];
  };

  return {
    get held() {
      return Object.keys(jb.rtpBuffer).length;
    },
    get overflows() {
      const stats = jb.toJSON() as { buffer_overflow?: { count: number } };
      return stats.buffer_overflow?.count ?? 0;
    },
    push(packet) {
      // Only while packets are held can werift's give-up path run.
      const heldBefore = Object.values(jb.rtpBuffer);
      const out = jb.processInput({ rtp: packet });
      const released: P[] = [];
      for (const o of out) if (o.rtp) released.push(o.rtp);
      if (out[0]?.isPacketLost && released.at(-1) === packet) {
        // werift gave up on a hole: it released the timed-out packets, then
        // `packet`, and moved its position to `packet`. Resume at the last
        // timed-out packet instead.
        released.pop();
        return resume(released);
      }
      if (out.length === 0 && heldBefore.length > 0) {
        // werift also drops timed-out packets unreleased when the newest of
        // them has sequence number 0 (it tests the number for truthiness).
        const vanished = heldBefore.filter((p) => !(seqOf(p) in jb.rtpBuffer))
          .sort((a, b) => after(a) - after(b));
        return resume(vanished);
      }
      return released;
    },
    flush() {
      purgeStale();
      const held = Object.values(jb.rtpBuffer).sort((a, b) =>
        after(a) - after(b)
      );
      jb.rtpBuffer = {};
      if (held.length) jb.presentSeqNum = seqOf(held[held.length - 1]);
      return held;
    },
  };
}
