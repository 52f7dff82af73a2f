/**
 * WebRTC transport on `werift` (a WebRTC stack in TypeScript), speaking
 * FastRTC's `POST /webrtc/offer` protocol so FastRTC clients work unchanged.
 *
 * Request bodies (JSON) and answers:
 * - `{sdp, type: "offer", webrtc_id}` → `{sdp, type: "answer"}`. The server's
 *   ICE candidates are gathered into the answer (no server → client trickle).
 * - `{candidate: RTCIceCandidate.toJSON(), type: "ice-candidate", webrtc_id}`
 *   → `{"status": "success"}`. Candidates that arrive while the offer is
 *   still being processed wait for it.
 * - Failures: `{"status": "failed", "meta": {"error": CODE, …}}` with
 *   FastRTC's codes `unknown_connection`, `invalid_candidate_format`,
 *   `connection_closed`, `connection_already_exists`,
 *   `concurrency_limit_reached` (with `limit`), plus `invalid_request`,
 *   `invalid_sdp` and `no_common_codec` (with a `message` saying what to fix).
 *
 * The client creates a data channel (FastRTC uses the label `text`). Every
 * message it sends is answered with `{"type":"log","data":"Server received:
 * …"}`, as FastRTC does; the call's events go out on it as FastRTC messages
 * (`log`, `send_input`, `fetch_output`, `stopword`, `end_stream`, and
 * `{"type":"error"|"warning","message":…}`). Parley extension: on barge-in
 * the server sends `{"type":"interrupt","data":{"reason","flushedFrames"}}`
 * (FastRTC clients ignore unknown types).
 *
 * Audio: Opus (48 kHz mono, 20 ms frames, WASM libopus) is preferred and PCMU
 * (G.711 μ-law, 8 kHz) is the fallback; the first codec of `codecs` that the
 * offer lists is the only one answered. Outbound frames are paced in real time
 * and dropped on barge-in; after a pause the RTP timestamp jumps to the wall
 * clock and the marker bit is set, as for a new talkspurt.
 *
 * Lifecycle: a call that is not connected `connectTimeoutMs` (30 s) after its
 * offer is closed; a peer connection that fails or closes ends the call
 * (`bus.close`); a call that ends on the server (time limit, `CloseStream`,
 * shutdown) closes the peer connection. A client hang-up is seen at once when
 * its data channel closes (a browser's `pc.close()` ends SCTP), when it sends
 * an RTCP BYE (its audio sender stopped) or when it closes DTLS
 * (`close_notify`): audio-only clients without a data channel hang up that
 * way. A client that just vanishes is noticed within ~30 s by ICE consent
 * freshness (werift marks the connection failed).
 *
 * Inbound RTP goes through werift's jitter buffer (`jitterBufferMs`, 40 ms
 * by default): reordered packets are put back in order, duplicates dropped,
 * and lost packets counted and concealed (Opus PLC; silence for PCMU) — see
 * `webrtc_call.ts`. `endpoint.stats(webrtcId)` gives a live call's counters.
 *
 * Structure: this endpoint routes requests (validation, `webrtc_id` →
 * call); each call is a {@linkcode WebRtcCall} (`webrtc_call.ts`) that owns
 * its peer connection, codec and bus wiring, and numbers its packets with
 * the pure `RtpPacketizer` / `RtpDepacketizer` (`rtp_packetizer.ts`).
 *
 * werift is loaded on the first offer, so importing Parley costs nothing for
 * apps that do not use WebRTC.
 *
 * @module
 */

import {
  failed,
  WebRtcCall,
  type WebRtcCallInfo,
  type WebRtcCallStats,
} from "./webrtc_call.ts";
import type { PreparedCall } from "./socket_adapter.ts";
import {
  chooseOfferCodec,
  type OfferedCodec,
  type WebRtcCodecName,
} from "./webrtc_codec.ts";

export type { WebRtcCallInfo, WebRtcCallStats } from "./webrtc_call.ts";

/** An ICE server, as in the browser's `RTCIceServer`. */
export interface WebRtcIceServer {
  /** `stun:`/`turn:`/`turns:` URL(s). */
  urls: string | string[];
  /** TURN user name. */
  username?: string;
  /** TURN password. */
  credential?: string;
}

/** The server's ICE configuration, as in the browser's `RTCConfiguration`. */
export interface WebRtcConfiguration {
  /** STUN/TURN servers. */
  iceServers?: WebRtcIceServer[];
  /** `"relay"` to use TURN only. */
  iceTransportPolicy?: "all" | "relay";
}

/** Options of {@linkcode createWebRtcEndpoint}. */
export interface WebRtcEndpointOptions {
  /** ICE configuration of the server's peer connections. */
  rtcConfiguration?: WebRtcConfiguration;
  /** Shorthand for `rtcConfiguration.iceServers` (both are used). */
  iceServers?: WebRtcIceServer[];
  /** Close a call that is not connected this long after its offer (default 30000 ms). */
  connectTimeoutMs?: number;
  /** Codecs to accept, most wanted first (default `["opus", "pcmu"]`). */
  codecs?: WebRtcCodecName[];
  /** Opus encoder bitrate in bit/s (default 32000). */
  opusBitrate?: number;
  /** Opus encoder complexity 0-10 (default 5; see `OpusCodecOptions`). */
  opusComplexity?: number;
  /** How far ahead of real time outbound audio is sent, in ms (default 60). */
  leadMs?: number;
  /** Longest wait for ICE gathering before answering (default 5000 ms). */
  gatherTimeoutMs?: number;
  /**
   * How long the inbound jitter buffer waits for a missing packet, in ms of
   * media time (default 40; with 20 ms frames a hole delays playout by at
   * most 60 ms, and in-order audio is not delayed at all).
   */
  jitterBufferMs?: number;
  /** Extra werift `RTCPeerConnection` settings (e.g. `icePortRange`). */
  peerConfig?: Record<string, unknown>;
}

/** The endpoint `Stream` serves at `POST /webrtc/offer`. */
export interface WebRtcEndpointHandle {
  /**
   * Handles one `/webrtc/offer` body; returns FastRTC's JSON answer.
   *
   * @param body The parsed JSON body.
   * @param startCall Prepares the call (its bus, and `begin()` which starts
   *   the handler once the endpoint has subscribed); throws
   *   `CallRejectedError` to refuse.
   */
  handle(
    body: Record<string, unknown>,
    startCall: (info: WebRtcCallInfo) => PreparedCall | Promise<PreparedCall>,
  ): Promise<Record<string, unknown>>;
  /** Closes every peer connection and waits for their cleanup. */
  close(): Promise<void>;
  /**
   * The counters of a live call (packets received, reordered, duplicated,
   * late, lost and concealed; packets sent), or undefined for an unknown id.
   *
   * @param webrtcId The call's `webrtc_id`.
   */
  stats(webrtcId: string): WebRtcCallStats | undefined;
  /** Peer connections being set up or live. */
  readonly connections: number;
  /** The ICE configuration in use; the built-in page gives it to browsers. */
  readonly rtcConfiguration: WebRtcConfiguration;
}

/**
 * Makes the WebRTC endpoint for a `Stream`.
 *
 * @example Serve the echo bot over WebRTC and WebSocket
 * ```ts
 * import { createWebRtcEndpoint, ReplyOnPause, Stream } from "@parley/parley";
 * const stream = new Stream({
 *   handler: new ReplyOnPause(async function* (audio) {
 *     yield audio;
 *   }),
 *   webrtc: createWebRtcEndpoint({
 *     iceServers: [{ urls: "stun:stun.l.google.com:19302" }],
 *   }),
 * });
 * stream.serve();
 * ```
 *
 * @param options ICE servers, codecs, timeouts.
 * @returns The endpoint.
 */
export function createWebRtcEndpoint(
  options: WebRtcEndpointOptions = {},
): WebRtcEndpointHandle {
  const codecs = options.codecs ?? ["opus", "pcmu"];
  if (
    codecs.length === 0 || codecs.some((c) => c !== "opus" && c !== "pcmu")
  ) {
    throw new RangeError(
      `codecs must list "opus" and/or "pcmu", got ${JSON.stringify(codecs)}`,
    );
  }
  const connectTimeoutMs = options.connectTimeoutMs ?? 30_000;
  if (!(connectTimeoutMs > 0)) {
    throw new RangeError(
      `connectTimeoutMs must be a positive number of ms, got ${connectTimeoutMs}`,
    );
  }
  const iceServers = [
    ...(options.rtcConfiguration?.iceServers ?? []),
    ...(options.iceServers ?? []),
  ];
  for (const server of iceServers) {
    const urls = Array.isArray(server.urls) ? server.urls : [server.urls];
    if (urls.length === 0 || urls.some((u) => !/^(stun|turns?):/.test(u))) {
      throw new RangeError(
        `Invalid ICE server urls ${JSON.stringify(server.urls)}; use stun:, ` +
          `turn: or turns: URLs`,
      );
    }
  }
  const calls = new Map<string, WebRtcCall>();
  let closed = false;
  const jitterBufferMs = options.jitterBufferMs ?? 40;
  if (!(jitterBufferMs > 0 && jitterBufferMs <= 1000)) {
    throw new RangeError(
      `jitterBufferMs must be a number of ms from 1 to 1000, got ${jitterBufferMs}`,
    );
  }
  const peerConfig = {
    ...(options.peerConfig ?? {}),
    iceServers,
    iceTransportPolicy: options.rtcConfiguration?.iceTransportPolicy ?? "all",
  };

  const offer = async (
    id: string,
    body: Record<string, unknown>,
    startCall: (info: WebRtcCallInfo) => PreparedCall | Promise<PreparedCall>,
  ): Promise<Record<string, unknown>> => {
    if (closed) {
      return failed("connection_closed", {
        message: "The server is shutting down",
      });
    }
    if (calls.has(id)) return failed("connection_already_exists");
    const sdp = body.sdp;
    if (typeof sdp !== "string" || !sdp.startsWith("v=0")) {
      return failed("invalid_sdp", {
        message: "sdp must be the offer's SDP text (starting with v=0); send " +
          "pc.localDescription.sdp after setLocalDescription",
      });
    }
    for (
      const [attr, what] of [["a=ice-ufrag:", "ICE credentials"], [
        "a=ice-pwd:",
        "ICE credentials",
      ], ["a=fingerprint:", "a DTLS fingerprint"]]
    ) {
      if (!sdp.includes(attr)) {
        return failed("invalid_sdp", {
          message:
            `The offer has no ${what} (${attr.slice(2, -1)}); send the ` +
            `SDP of a real RTCPeerConnection offer`,
        });
      }
    }
    let offered: OfferedCodec | null;
    try {
      offered = chooseOfferCodec(sdp, codecs);
    } catch (e) {
      return failed("invalid_sdp", { message: (e as Error).message });
    }
    if (!offered) {
      return failed("no_common_codec", {
        message:
          `The offer's audio has none of the codecs ${codecs.join(", ")}; ` +
          `enable Opus or PCMU in the client`,
      });
    }
    const call: WebRtcCall = new WebRtcCall({
      id,
      offered,
      peerConfig,
      opusBitrate: options.opusBitrate,
      opusComplexity: options.opusComplexity,
      leadMs: options.leadMs ?? 60,
      gatherTimeoutMs: options.gatherTimeoutMs ?? 5000,
      connectTimeoutMs,
      jitterBufferMs,
      onClosing: () => {
        if (calls.get(id) === call) calls.delete(id);
      },
    });
    calls.set(id, call);
    return await call.answer(sdp, startCall);
  };

  const candidate = async (
    id: string,
    body: Record<string, unknown>,
  ): Promise<Record<string, unknown>> => {
    const call = calls.get(id);
    if (!call) return failed("unknown_connection");
    const c = body.candidate;
    if (typeof c !== "object" || c === null || Array.isArray(c)) {
      return failed("invalid_candidate_format", {
        message: "candidate must be RTCIceCandidate.toJSON()",
      });
    }
    const init = c as Record<string, unknown>;
    if (typeof init.candidate !== "string") {
      return failed("invalid_candidate_format", {
        message: "candidate.candidate must be the candidate line",
      });
    }
    const line = init.candidate.trim();
    if (line !== "") {
      const tokens = line.replace(/^a=/, "").replace(/^candidate:/, "").split(
        /\s+/,
      );
      if (
        tokens.length < 8 || tokens[6] !== "typ" || !/^\d+$/.test(tokens[5])
      ) {
        return failed("invalid_candidate_format", {
          message: "Expected 'candidate:<foundation> <component> <protocol> " +
            "<priority> <ip> <port> typ <type> …'",
        });
      }
    }
    return await call.addCandidate({
      candidate: line,
      sdpMid: typeof init.sdpMid === "string" ? init.sdpMid : undefined,
      sdpMLineIndex: typeof init.sdpMLineIndex === "number"
        ? init.sdpMLineIndex
        : undefined,
    });
  };

  return {
    get connections(): number {
      return calls.size;
    },
    stats(webrtcId) {
      return calls.get(webrtcId)?.stats;
    },
    rtcConfiguration: {
      iceServers,
      ...(options.rtcConfiguration?.iceTransportPolicy
        ? { iceTransportPolicy: options.rtcConfiguration.iceTransportPolicy }
        : {}),
    },
    handle(body, startCall) {
      if (typeof body !== "object" || body === null || Array.isArray(body)) {
        return Promise.resolve(
          failed("invalid_request", { message: "POST a JSON object" }),
        );
      }
      const id = body.webrtc_id;
      if (typeof id !== "string" || id.length === 0 || id.length > 256) {
        return Promise.resolve(
          failed("invalid_request", {
            message: "webrtc_id must be a string of 1-256 characters",
          }),
        );
      }
      if (body.type === "offer") return offer(id, body, startCall);
      if (
        body.type === "ice-candidate" ||
        (body.type === undefined && "candidate" in body)
      ) {
        return candidate(id, body);
      }
      return Promise.resolve(
        failed("invalid_request", {
          message: `Unknown type ${
            JSON.stringify(body.type)
          }; use "offer" or "ice-candidate"`,
        }),
      );
    },
    async close() {
      closed = true;
      await Promise.all(
        [...calls.values()].map((c) => c.close("server shutting down")),
      );
    },
  };
}
