/**
 * RTP for audio (RFC 3550) as plain values: a packetizer that numbers
 * outbound frames (sequence number, timestamp with talkspurts, marker bit,
 * SSRC, payload type) and a depacketizer that tracks inbound sequence numbers
 * and counts loss, duplicates and reordering.
 *
 * Nothing here touches a socket, a timer or a WebRTC stack: the caller passes
 * the clock (`nowMs`) in and gets header values out, so every rule is tested
 * with plain numbers. The WebRTC call (`webrtc_call.ts`) turns the values
 * into werift packets.
 *
 * @module
 */

/** The RTP header fields an audio packet needs. */
export interface RtpHeaderValues {
  /** Payload type (7 bits) negotiated in the SDP. */
  payloadType: number;
  /** Sequence number, 16 bits, +1 per packet (wraps at 65536). */
  sequenceNumber: number;
  /** Media timestamp, 32 bits, in clock-rate ticks (wraps at 2³²). */
  timestamp: number;
  /** Marker bit: the first packet of a talkspurt. */
  marker: boolean;
  /** Synchronisation source, 32 bits. */
  ssrc: number;
}

/** One RTP packet: header values and the codec payload. */
export interface RtpPacketValues extends RtpHeaderValues {
  /** The encoded audio. */
  payload: Uint8Array;
}

/** Options of {@linkcode RtpPacketizer}. */
export interface RtpPacketizerOptions {
  /** Payload type to send (0-127). */
  payloadType: number;
  /** RTP clock rate of the codec (48000 for Opus, 8000 for PCMU). */
  clockRate: number;
  /** SSRC (default: random). */
  ssrc?: number;
  /** First sequence number (default: random, as RFC 3550 asks). */
  sequenceNumber?: number;
  /** First timestamp (default: random below 2³¹). */
  timestamp?: number;
  /**
   * A gap of more than this many frames between the media clock and the
   * wall clock starts a new talkspurt (default 2).
   */
  talkspurtGapFrames?: number;
  /** Source of randomness for the defaults, in [0, 1) (default `Math.random`). */
  random?: () => number;
}

const TWO_32 = 2 ** 32;

function assertUint(
  value: number,
  bits: number,
  name: string,
): number {
  if (!Number.isInteger(value) || value < 0 || value >= 2 ** bits) {
    throw new RangeError(
      `${name} must be an integer from 0 to ${2 ** bits - 1}, got ${value}`,
    );
  }
  return value;
}

/**
 * Numbers outbound audio frames as RTP packets.
 *
 * Within a talkspurt each packet's timestamp is the previous one plus the
 * previous frame's length, so the receiver plays frames back to back even
 * when they were sent in a burst. When the sender falls silent (no frames
 * for a while) the media clock lags the wall clock; once the lag exceeds
 * `talkspurtGapFrames` frames, the next packet starts a new talkspurt: its
 * timestamp jumps to the wall clock and its marker bit is set (RFC 3551
 * §4.1). The first packet is a talkspurt start too.
 *
 * @example Number three frames, the third after a pause
 * ```ts
 * import { RtpPacketizer } from "@parley/parley/transports";
 * const rtp = new RtpPacketizer({
 *   payloadType: 0,
 *   clockRate: 8000,
 *   ssrc: 1,
 *   sequenceNumber: 65535,
 *   timestamp: 1000,
 * });
 * const frame = new Uint8Array(160); // 20 ms of PCMU
 * const a = rtp.packetize(frame, 160, 0); // seq 65535, ts 1000, marker
 * const b = rtp.packetize(frame, 160, 20); // seq 0, ts 1160
 * const c = rtp.packetize(frame, 160, 1020); // seq 1, ts 9000, marker
 * console.log(a.marker, b.sequenceNumber, c.timestamp, c.marker); // true 0 9000 true
 * ```
 */
export class RtpPacketizer {
  #payloadType: number;
  #clockRate: number;
  #ssrc: number;
  #seq: number;
  #firstTs: number;
  #gapFrames: number;
  /** The last timestamp sent, not wrapped; -1 before the first packet. */
  #ts = -1;
  #lastTicks = 0;
  #originTs = 0;
  #originMs = 0;
  #packets = 0;
  #talkspurts = 0;

  /**
   * Makes a packetizer for one outbound stream.
   *
   * @param options Payload type, clock rate and (for tests) fixed start values.
   */
  constructor(options: RtpPacketizerOptions) {
    const random = options.random ?? Math.random;
    this.#payloadType = assertUint(options.payloadType, 7, "payloadType");
    if (!Number.isInteger(options.clockRate) || options.clockRate <= 0) {
      throw new RangeError(
        `clockRate must be a positive integer (ticks per second), got ${options.clockRate}`,
      );
    }
    this.#clockRate = options.clockRate;
    this.#ssrc = assertUint(
      options.ssrc ?? Math.floor(random() * TWO_32),
      32,
      "ssrc",
    );
    this.#seq = assertUint(
      options.sequenceNumber ?? Math.floor(random() * 65536),
      16,
      "sequenceNumber",
    );
    this.#firstTs = assertUint(
      options.timestamp ?? Math.floor(random() * 2 ** 31),
      32,
      "timestamp",
    );
    this.#gapFrames = options.talkspurtGapFrames ?? 2;
    if (!(this.#gapFrames > 0)) {
      throw new RangeError(
        `talkspurtGapFrames must be a positive number, got ${this.#gapFrames}`,
      );
    }
  }

  /** The SSRC of this stream. */
  get ssrc(): number {
    return this.#ssrc;
  }

  /** Packets numbered so far. */
  get packets(): number {
    return this.#packets;
  }

  /** Talkspurts started so far (packets with the marker bit). */
  get talkspurts(): number {
    return this.#talkspurts;
  }

  /**
   * Numbers one frame.
   *
   * @param payload The encoded frame.
   * @param ticks The frame's length in clock-rate ticks (960 for 20 ms of
   *   Opus, 160 for 20 ms of PCMU).
   * @param nowMs The wall clock when the frame leaves, in ms (any origin,
   *   e.g. `performance.now()`).
   * @returns The packet's header values and payload.
   */
  packetize(
    payload: Uint8Array,
    ticks: number,
    nowMs: number,
  ): RtpPacketValues {
    if (!Number.isInteger(ticks) || ticks <= 0) {
      throw new RangeError(
        `ticks must be the frame's positive length in clock ticks, got ${ticks}`,
      );
    }
    let marker = false;
    if (this.#ts < 0) {
      this.#ts = this.#firstTs;
      this.#originTs = this.#ts;
      this.#originMs = nowMs;
      marker = true;
    } else {
      const next = this.#ts + this.#lastTicks;
      const wall = this.#originTs +
        (nowMs - this.#originMs) * this.#clockRate / 1000;
      if (wall - next > this.#gapFrames * this.#lastTicks) {
        // A pause: the new talkspurt starts at the wall clock.
        this.#ts = Math.round(wall);
        this.#originTs = this.#ts;
        this.#originMs = nowMs;
        marker = true;
      } else {
        this.#ts = next;
      }
    }
    this.#lastTicks = ticks;
    if (marker) this.#talkspurts++;
    const packet: RtpPacketValues = {
      payloadType: this.#payloadType,
      sequenceNumber: this.#seq,
      timestamp: this.#ts % TWO_32,
      marker,
      ssrc: this.#ssrc,
      payload,
    };
    this.#seq = (this.#seq + 1) & 0xffff;
    this.#packets++;
    return packet;
  }
}

/** How {@linkcode RtpDepacketizer.receive} classifies an arriving packet. */
export type RtpArrival =
  /** The newest packet so far (the usual case). */
  | "new"
  /** Older than the newest one, but not yet played: the jitter buffer can still use it. */
  | "reordered"
  /** Seen before. */
  | "duplicate"
  /** Arrived after playout moved past it (it was counted lost). */
  | "late"
  /** The first packet of a new SSRC: tracking restarted with it. */
  | "new-source";

/** What to do with a packet in playout order ({@linkcode RtpDepacketizer.play}). */
export type RtpPlayout =
  | {
    /** Decode its payload. */
    kind: "decode";
    /** Packets missing right before this one (conceal them first). */
    lost: number;
  }
  | {
    /**
     * Do not decode it: another payload type (comfort noise, DTMF events)
     * or an empty payload. It still advances the sequence.
     */
    kind: "skip";
    /** Packets missing right before this one. */
    lost: number;
    /** Why it is not decoded. */
    reason: "payload-type" | "empty";
  }
  | {
    /** Drop it: playout already passed its sequence number. */
    kind: "drop";
  };

/** Counters of {@linkcode RtpDepacketizer}. */
export interface RtpReceiveStats {
  /** Packets that arrived (every call of `receive`). */
  received: number;
  /** Packets that arrived after a newer one and could still be played. */
  reordered: number;
  /** Packets that arrived twice or more (the copies). */
  duplicates: number;
  /** Packets that arrived after playout passed them (also counted in `lost`). */
  late: number;
  /** Sequence numbers never played: gaps in playout order. */
  lost: number;
  /** Packets handed on for decoding. */
  played: number;
  /** Packets not decoded because of their payload type or an empty payload. */
  skipped: number;
  /** Times the sender's SSRC changed. */
  sourceChanges: number;
}

/** Options of {@linkcode RtpDepacketizer}. */
export interface RtpDepacketizerOptions {
  /** The payload type to decode (others are skipped). */
  payloadType: number;
}

/** Sequence numbers remembered behind the newest, for duplicate detection. */
const WINDOW = 64;

/**
 * Tracks one inbound RTP stream. Call {@linkcode RtpDepacketizer.receive} for
 * every packet as it arrives (before a jitter buffer) and
 * {@linkcode RtpDepacketizer.play} for every packet the jitter buffer
 * releases, in playout order. Sequence numbers are compared modulo 2¹⁶, so
 * the wrap from 65535 to 0 is an ordinary step; a packet more than 32767
 * behind counts as ahead, as RFC 3550 does.
 *
 * @example Count a loss and a reordered packet
 * ```ts
 * import { RtpDepacketizer } from "@parley/parley/transports";
 * const rx = new RtpDepacketizer({ payloadType: 0 });
 * const pkt = (sequenceNumber: number) => ({
 *   sequenceNumber,
 *   ssrc: 7,
 *   payloadType: 0,
 *   payload: new Uint8Array(160),
 * });
 * rx.receive(pkt(65535)); // "new"
 * rx.receive(pkt(1)); // "new" (across the wrap)
 * rx.receive(pkt(0)); // "reordered"
 * rx.play(pkt(65535)); // { kind: "decode", lost: 0 }
 * rx.play(pkt(1)); // { kind: "decode", lost: 1 } (0 never came in time)
 * rx.receive(pkt(0)); // "duplicate"
 * console.log(rx.stats.lost, rx.stats.reordered); // 1 1
 * ```
 */
export class RtpDepacketizer {
  #payloadType: number;
  #ssrc = -1;
  /** Newest sequence number that arrived; -1 before the first. */
  #highest = -1;
  /** Bit i set: `highest - i` arrived (i < WINDOW). */
  #window = 0n;
  /** Last sequence number played; -1 before the first. */
  #played = -1;
  #stats: RtpReceiveStats = {
    received: 0,
    reordered: 0,
    duplicates: 0,
    late: 0,
    lost: 0,
    played: 0,
    skipped: 0,
    sourceChanges: 0,
  };

  /**
   * Makes a depacketizer for one inbound stream.
   *
   * @param options The payload type to decode.
   */
  constructor(options: RtpDepacketizerOptions) {
    this.#payloadType = assertUint(options.payloadType, 7, "payloadType");
  }

  /** A copy of the counters. */
  get stats(): RtpReceiveStats {
    return { ...this.#stats };
  }

  /**
   * Classifies a packet as it arrives and updates the arrival counters.
   *
   * @param header The packet's sequence number and SSRC.
   * @returns Whether it is new, reordered, a duplicate, late, or the first
   *   of a new SSRC (then the caller restarts its jitter buffer too).
   */
  receive(
    header: Pick<RtpHeaderValues, "sequenceNumber" | "ssrc">,
  ): RtpArrival {
    const seq = header.sequenceNumber & 0xffff;
    this.#stats.received++;
    if (this.#ssrc !== header.ssrc) {
      const change = this.#ssrc >= 0;
      this.#ssrc = header.ssrc;
      this.#highest = seq;
      this.#window = 1n;
      this.#played = -1;
      if (change) {
        this.#stats.sourceChanges++;
        return "new-source";
      }
      return "new";
    }
    const ahead = (seq - this.#highest) & 0xffff;
    if (ahead === 0) {
      this.#stats.duplicates++;
      return "duplicate";
    }
    if (ahead < 0x8000) {
      this.#window = ahead >= WINDOW
        ? 1n
        : ((this.#window << BigInt(ahead)) | 1n) &
          ((1n << BigInt(WINDOW)) - 1n);
      this.#highest = seq;
      return "new";
    }
    const behind = 0x10000 - ahead;
    if (behind < WINDOW) {
      const bit = 1n << BigInt(behind);
      if (this.#window & bit) {
        this.#stats.duplicates++;
        return "duplicate";
      }
      this.#window |= bit;
    }
    if (this.#played >= 0 && ((this.#played - seq) & 0xffff) < 0x8000) {
      this.#stats.late++;
      return "late";
    }
    this.#stats.reordered++;
    return "reordered";
  }

  /**
   * Takes the next packet in playout order (what the jitter buffer
   * releases) and says how many packets are missing before it.
   *
   * @param packet The packet's sequence number, payload type and payload.
   * @returns Decode it (after concealing `lost` packets), skip it, or drop it.
   */
  play(
    packet: Pick<RtpPacketValues, "sequenceNumber" | "payloadType" | "payload">,
  ): RtpPlayout {
    const seq = packet.sequenceNumber & 0xffff;
    let lost = 0;
    if (this.#played >= 0) {
      const ahead = (seq - this.#played) & 0xffff;
      if (ahead === 0 || ahead >= 0x8000) return { kind: "drop" };
      lost = ahead - 1;
    }
    this.#played = seq;
    this.#stats.lost += lost;
    if (packet.payloadType !== this.#payloadType) {
      this.#stats.skipped++;
      return { kind: "skip", lost, reason: "payload-type" };
    }
    if (packet.payload.length === 0) {
      this.#stats.skipped++;
      return { kind: "skip", lost, reason: "empty" };
    }
    this.#stats.played++;
    return { kind: "decode", lost };
  }
}
