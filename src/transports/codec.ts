/**
 * The contract between a wire protocol and the socket adapter.
 *
 * A {@linkcode WireCodec} is a **pure codec** for one connection: it turns
 * one inbound message into values ({@linkcode Decoded}) and outbound audio,
 * marks, clears and client messages into messages. It never touches a
 * socket, a timer or a logger, so it is tested with plain values. It may keep
 * per-connection state (Twilio's `streamSid`, the negotiated encoding), which
 * is why a protocol exports a factory that makes one codec per connection.
 *
 * The socket adapter (`src/transports/socket_adapter.ts`) owns everything
 * else: size limits before parsing, the start timeout, pacing, backpressure,
 * counters and the clean close.
 *
 * @module
 */

import type { ClientMessage } from "../bus/frame_bus.ts";

/** One WebSocket message: a text frame or a binary frame. */
export type WireMessage = string | Uint8Array;

/** What a protocol's start message says about a new call. */
export interface CallStart {
  /**
   * Parley's id for the call (Twilio `streamSid`, FastRTC `websocket_id`,
   * Telnyx `stream_id`, …): the id `setInput`, `/input_hook` and `/outputs`
   * use.
   */
  callId: string;
  /** The carrier's id of the phone call (Twilio `callSid`, …), if any. */
  carrierCallId?: string;
  /** The carrier account, if the protocol says. */
  accountId?: string;
  /** Caller number, if the protocol says. */
  from?: string;
  /** Called number, if the protocol says. */
  to?: string;
  /** Custom parameters from the answer document (`<Parameter>`, …). */
  customParameters: Record<string, string>;
  /**
   * Rate of the inbound audio the codec will decode, in Hz; `undefined`
   * lets the server choose (FastRTC's WebSocket sends audio at the
   * handler's input rate).
   */
  inputRate?: number;
  /**
   * Rate the codec encodes outbound audio at, in Hz; `undefined` lets the
   * server choose (then {@linkcode WireCodec.setOutputRate} is called).
   */
  outputRate?: number;
  /** Anything else the protocol said, for handlers that want it. */
  extra?: Record<string, unknown>;
}

/** One value decoded from an inbound message. */
export type Decoded =
  | {
    /** The call starts (exactly once per connection). */
    kind: "start";
    /** What the start message said. */
    call: CallStart;
  }
  | {
    /** Caller audio at the call's `inputRate`. */
    kind: "audio";
    /** PCM16 mono samples (a fresh array the receiver may keep). */
    samples: Int16Array;
  }
  | {
    /** A DTMF key press: `0-9`, `*`, `#`, `A-D`. */
    kind: "dtmf";
    /** The key. */
    digit: string;
  }
  | {
    /** Playback reached a mark / checkpoint the server sent. */
    kind: "played";
    /** The mark's name. */
    name: string;
  }
  | {
    /** The far end ends the call. */
    kind: "stop";
    /** Why, for logs. */
    reason: string;
  }
  | {
    /** A protocol-level answer to send back at once (e.g. `pong`). */
    kind: "reply";
    /** The message to send. */
    message: WireMessage;
  }
  | {
    /**
     * The message was rejected (malformed, out of order, unknown). The
     * adapter counts it, may log it (rate-limited) and sends `reply` if set.
     */
    kind: "error";
    /** What was wrong and what to send instead. */
    reason: string;
    /** Error message for the client, for protocols that have one. */
    reply?: WireMessage;
  };

/** A pure wire codec for one connection. */
export interface WireCodec {
  /** The protocol's name (`twilio`, `telnyx`, `websocket`, …), for logs. */
  readonly protocol: string;
  /** True once a start message was decoded. */
  readonly started: boolean;
  /**
   * Decodes one inbound message. The adapter has already checked its byte
   * size. Never throws: problems come back as `error` values.
   *
   * @param message The message as received.
   * @returns Zero or more decoded values, in order.
   */
  decode(message: WireMessage): Decoded[];
  /**
   * Sets the outbound rate when the start left it to the server.
   *
   * @param rate The rate, in Hz.
   */
  setOutputRate?(rate: number): void;
  /**
   * Encodes one outbound frame (20 ms at the call's output rate).
   *
   * @param samples PCM16 samples at the output rate.
   * @returns The message to send.
   */
  encodeAudio(samples: Int16Array): WireMessage;
  /**
   * Encodes a mark after a reply, or returns null when the protocol has no
   * marks (the adapter then reports `played` by its own playback clock).
   *
   * @param name The mark's name.
   */
  encodeMark(name: string): WireMessage | null;
  /**
   * Encodes a barge-in flush (Twilio `clear`), or null when the protocol has
   * none.
   */
  encodeClear(): WireMessage | null;
  /**
   * Encodes a FastRTC client message (`log`, `send_input`, `error`, …) for
   * protocols that carry them, or returns null.
   *
   * @param message The message.
   */
  encodeClientMessage?(message: ClientMessage): WireMessage | null;
  /**
   * Encodes what to send once the call has started (a greeting of the
   * protocol, like FastRTC's `started`), or returns null.
   *
   * @param info The rates both ways; the call's id and access token when
   *   the server gives them (protocols with a way to say them should).
   */
  encodeStarted?(
    info: {
      inputRate: number;
      outputRate: number;
      callId?: string;
      token?: string;
    },
  ): WireMessage | null;
  /**
   * Encodes a refusal of the call (`concurrency_limit_reached`, …) for
   * protocols that can say why, or returns null.
   *
   * @param meta FastRTC's failure meta.
   */
  encodeRejected?(meta: Record<string, unknown>): WireMessage | null;
}
