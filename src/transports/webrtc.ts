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
 * Inbound RTP is decoded in arrival order; duplicates and late (reordered)
 * packets are dropped, and lost packets are not concealed (no jitter buffer
 * or Opus PLC/FEC yet).
 *
 * werift is loaded on the first offer, so importing Parley costs nothing for
 * apps that do not use WebRTC.
 *
 * @module
 */

import type {
  MediaStreamTrack as WeriftTrack,
  RTCDataChannel as WeriftDataChannel,
  RTCPeerConnection as WeriftPeerConnection,
  RtpPacket as WeriftRtpPacket,
} from "npm:werift@0.25.2";
import { Buffer } from "node:buffer";
import { lazyImport } from "../_internal/lazy_import.ts";
import type { FrameBus } from "../bus/frame_bus.ts";
import { sleep } from "../bus/sleep.ts";
import { CallRejectedError } from "./call_rejected.ts";
import { pumpOutput } from "./output_pump.ts";
import type { PreparedCall } from "./socket_adapter.ts";
import { guardWeriftDtlsClient } from "./_werift_dtls.ts";
import { watchCallerHangUp } from "./_rtcp_bye.ts";
import {
  chooseOfferCodec,
  createRtpAudioCodec,
  type OfferedCodec,
  type RtpAudioCodec,
  type WebRtcCodecName,
} from "./webrtc_codec.ts";

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

/** What the endpoint tells the call factory about a new call. */
export interface WebRtcCallInfo {
  /** The client's `webrtc_id`. */
  webrtcId: string;
  /** Rate of the audio the transport delivers and sends (48000 Opus, 8000 PCMU). */
  sampleRate: number;
  /** The negotiated codec. */
  codec: WebRtcCodecName;
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
    startCall: (info: WebRtcCallInfo) => PreparedCall,
  ): Promise<Record<string, unknown>>;
  /** Closes every peer connection and waits for their cleanup. */
  close(): Promise<void>;
  /** Peer connections being set up or live. */
  readonly connections: number;
  /** The ICE configuration in use; the built-in page gives it to browsers. */
  readonly rtcConfiguration: WebRtcConfiguration;
}

type Werift = typeof import("npm:werift@0.25.2");
const importWerift = lazyImport<Werift>("npm:werift@0.25.2", "WebRTC");
let weriftPromise: Promise<Werift> | null = null;
function loadWerift(): Promise<Werift> {
  weriftPromise ??= importWerift().then((werift) => {
    guardWeriftDtlsClient(werift);
    return werift;
  }, (e) => {
    weriftPromise = null;
    throw e;
  });
  return weriftPromise;
}

interface Peer {
  id: string;
  pc: WeriftPeerConnection | null;
  bus: FrameBus | null;
  codec: RtpAudioCodec | null;
  offered: OfferedCodec | null;
  channel: WeriftDataChannel | null;
  pending: string[];
  ready: Promise<boolean>;
  setReady: (ok: boolean) => void;
  closing: boolean;
  connected: boolean;
  connectTimer?: ReturnType<typeof setTimeout>;
  pump: Promise<void> | null;
  done: Promise<void>;
  unsubscribers: (() => void)[];
}

const MAX_PENDING_MESSAGES = 200;

function failed(
  error: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return { status: "failed", meta: { error, ...extra } };
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
  const peers = new Map<string, Peer>();
  let closed = false;

  const sendToClient = (peer: Peer, message: unknown) => {
    const text = JSON.stringify(message);
    const ch = peer.channel;
    if (ch && ch.readyState === "open") {
      try {
        ch.send(text);
      } catch {
        // The channel closed under us; the call is ending.
      }
      return;
    }
    if (peer.pending.length < MAX_PENDING_MESSAGES) peer.pending.push(text);
  };

  const closePeer = (peer: Peer, reason: string): Promise<void> => {
    if (peer.closing) return peer.done;
    peer.closing = true;
    peer.done = (async () => {
      clearTimeout(peer.connectTimer);
      peer.setReady(false);
      if (peers.get(peer.id) === peer) peers.delete(peer.id);
      const hadChannel = peer.channel?.readyState === "open";
      peer.bus?.close(reason);
      if (peer.pump) await peer.pump.catch(() => {});
      // Let a last message (end_stream) leave before the transport goes.
      if (hadChannel && peer.pc?.connectionState === "connected") {
        await sleep(100);
      }
      for (const off of peer.unsubscribers) off();
      try {
        await peer.pc?.close();
      } catch {
        // Already closed.
      }
      peer.codec?.close();
      peer.codec = null;
    })();
    return peer.done;
  };

  const startPump = (peer: Peer, track: WeriftTrack, werift: Werift) => {
    const bus = peer.bus!;
    const codec = peer.codec!;
    const frameTicks = bus.outputFrameSamples * codec.clockRate /
      codec.sampleRate;
    const ssrc = (Math.random() * 2 ** 32) >>> 0;
    let seq = Math.floor(Math.random() * 65536);
    let ts = -1;
    let originTs = 0;
    let originWall = 0;
    peer.pump = pumpOutput({
      bus,
      leadMs: options.leadMs ?? 60,
      sendAudio: (samples) => {
        if (peer.closing || track.stopped) return;
        const now = performance.now();
        let marker = false;
        if (ts < 0) {
          ts = Math.floor(Math.random() * 2 ** 31);
          originTs = ts;
          originWall = now;
          marker = true;
        } else {
          const next = ts + frameTicks;
          const wall = originTs + (now - originWall) * codec.clockRate / 1000;
          if (wall - next > 2 * frameTicks) {
            // A pause: start a new talkspurt at the wall clock.
            ts = Math.round(wall);
            originTs = ts;
            originWall = now;
            marker = true;
          } else {
            ts = next;
          }
        }
        let payload: Uint8Array;
        try {
          payload = codec.encode(samples);
        } catch (e) {
          sendToClient(peer, {
            type: "error",
            message: `Audio encoding failed: ${(e as Error).message}`,
          });
          return;
        }
        const header = new werift.RtpHeader({
          payloadType: peer.offered!.payloadType,
          sequenceNumber: seq,
          timestamp: ts % 2 ** 32,
          marker,
          ssrc,
        });
        seq = (seq + 1) & 0xffff;
        track.writeRtp(new werift.RtpPacket(header, Buffer.from(payload)));
      },
    });
  };

  const onRtp = (peer: Peer) => {
    let lastSeq = -1;
    let decodeErrors = 0;
    return (rtp: WeriftRtpPacket) => {
      const bus = peer.bus;
      const codec = peer.codec;
      if (!bus || !codec || bus.closed) return;
      const seq = rtp.header.sequenceNumber;
      if (lastSeq >= 0) {
        const ahead = (seq - lastSeq) & 0xffff;
        if (ahead === 0 || ahead > 0x8000) return; // duplicate or late
      }
      lastSeq = seq;
      if (rtp.payload.length === 0) return;
      let pcm: Int16Array;
      try {
        pcm = codec.decode(rtp.payload);
      } catch (e) {
        if (decodeErrors++ === 0) {
          sendToClient(peer, {
            type: "warning",
            message: `Dropped undecodable audio: ${(e as Error).message}`,
          });
        }
        return;
      }
      if (pcm.length > 0) bus.sendInput([codec.sampleRate, pcm]);
    };
  };

  const offer = async (
    id: string,
    body: Record<string, unknown>,
    startCall: (info: WebRtcCallInfo) => PreparedCall,
  ): Promise<Record<string, unknown>> => {
    if (closed) {
      return failed("connection_closed", {
        message: "The server is shutting down",
      });
    }
    if (peers.has(id)) return failed("connection_already_exists");
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
    let setReady!: (ok: boolean) => void;
    const peer: Peer = {
      id,
      pc: null,
      bus: null,
      codec: null,
      offered,
      channel: null,
      pending: [],
      ready: new Promise<boolean>((r) => setReady = r),
      setReady: (ok) => setReady(ok),
      closing: false,
      connected: false,
      pump: null,
      done: Promise.resolve(),
      unsubscribers: [],
    };
    peers.set(id, peer);
    try {
      const werift = await loadWerift();
      peer.codec = await createRtpAudioCodec(offered.name, {
        bitrate: options.opusBitrate,
        complexity: options.opusComplexity,
      });
      if (peer.closing) return failed("connection_closed");
      const codecParams = offered.name === "opus"
        ? werift.useOPUS({ payloadType: offered.payloadType })
        : werift.usePCMU({ payloadType: offered.payloadType });
      const pc = new werift.RTCPeerConnection({
        ...(options.peerConfig ?? {}),
        iceServers,
        iceTransportPolicy: options.rtcConfiguration?.iceTransportPolicy ??
          "all",
        codecs: { audio: [codecParams], video: [] },
      });
      peer.pc = pc;
      let outTrack: WeriftTrack | null = null;
      const subs = peer.unsubscribers;
      const onConnected = () => {
        if (peer.connected) return;
        peer.connected = true;
        clearTimeout(peer.connectTimer);
        // An audio-only caller (no data channel) hangs up with an RTCP BYE
        // and a DTLS close; werift would only notice at the ICE consent
        // timeout, ~30 s later.
        for (const transport of pc.dtlsTransports) {
          subs.push(
            ...watchCallerHangUp(
              transport as unknown as Parameters<typeof watchCallerHangUp>[0],
              (reason) => void closePeer(peer, reason),
            ),
          );
        }
        if (peer.bus && outTrack && !peer.closing) {
          startPump(peer, outTrack, werift);
        }
      };
      subs.push(
        pc.onTrack.subscribe((track) => {
          if (track.kind !== "audio") return;
          subs.push(track.onReceiveRtp.subscribe(onRtp(peer)).unSubscribe);
        }).unSubscribe,
      );
      subs.push(
        pc.onDataChannel.subscribe((channel) => {
          peer.channel ??= channel;
          const flush = () => {
            if (peer.channel !== channel) return;
            for (const text of peer.pending.splice(0)) {
              try {
                channel.send(text);
              } catch {
                break;
              }
            }
          };
          subs.push(
            channel.stateChanged.subscribe((state) => {
              if (state === "open") flush();
              // The client's channel closes when it hangs up (its pc.close()
              // ends SCTP); the ICE/DTLS state would only notice much later.
              if (state === "closed" && peer.channel === channel) {
                void closePeer(peer, "client closed the data channel");
              }
            }).unSubscribe,
          );
          subs.push(
            channel.onMessage.subscribe((data) => {
              const text = typeof data === "string"
                ? data
                : new TextDecoder().decode(data);
              sendToClient(peer, {
                type: "log",
                data: `Server received: ${text}`,
              });
            }).unSubscribe,
          );
          if (channel.readyState === "open") flush();
        }).unSubscribe,
      );
      subs.push(
        pc.connectionStateChange.subscribe((state) => {
          if (state === "connected") onConnected();
          else if (state === "failed" || state === "closed") {
            void closePeer(peer, `peer connection ${state}`);
          }
        }).unSubscribe,
      );
      subs.push(
        pc.iceConnectionStateChange.subscribe((state) => {
          if (state === "failed") void closePeer(peer, "ICE failed");
        }).unSubscribe,
      );

      try {
        await pc.setRemoteDescription({ type: "offer", sdp });
      } catch (e) {
        await closePeer(peer, "invalid offer");
        return failed("invalid_sdp", {
          message: `The offer could not be applied: ${(e as Error).message}`,
        });
      }
      if (peer.closing) return failed("connection_closed");

      let prepared: PreparedCall;
      try {
        prepared = startCall({
          webrtcId: id,
          sampleRate: peer.codec.sampleRate,
          codec: offered.name,
        });
        peer.bus = prepared.bus;
      } catch (e) {
        await closePeer(peer, "call rejected");
        if (e instanceof CallRejectedError) {
          return { status: "failed", meta: e.meta };
        }
        throw e;
      }
      const bus = peer.bus;
      bus.on("log", (e) => sendToClient(peer, { type: "log", data: e.data }));
      bus.on("message", (e) => sendToClient(peer, e.message));
      bus.on("interrupt", (e) =>
        sendToClient(peer, {
          type: "interrupt",
          data: { reason: e.reason, flushedFrames: e.flushedFrames },
        }));
      bus.on("close", (e) => void closePeer(peer, e.reason));
      prepared.begin?.();

      const transceiver = pc.getTransceivers().find((t) => t.kind === "audio");
      if (transceiver) {
        outTrack = new werift.MediaStreamTrack({ kind: "audio" });
        await transceiver.sender.replaceTrack(outTrack);
        const remote = sdpDirection(sdp);
        transceiver.setDirection(
          remote === "recvonly"
            ? "sendonly"
            : remote === "sendonly"
            ? "recvonly"
            : "sendrecv",
        );
      }
      const answer = await pc.createAnswer();
      await pc.setLocalDescription(answer);
      await waitForGathering(pc, options.gatherTimeoutMs ?? 5000);
      if (peer.closing) return failed("connection_closed");
      peer.connectTimer = setTimeout(() => {
        if (!peer.connected) {
          sendToClient(peer, {
            type: "error",
            message:
              `Not connected after ${connectTimeoutMs} ms; check TURN settings`,
          });
          void closePeer(peer, "connection timeout");
        }
      }, connectTimeoutMs);
      peer.setReady(true);
      if (pc.connectionState === "connected") onConnected();
      return { sdp: pc.localDescription?.sdp ?? answer.sdp, type: "answer" };
    } catch (e) {
      await closePeer(peer, "offer failed");
      throw e;
    }
  };

  const candidate = async (
    id: string,
    body: Record<string, unknown>,
  ): Promise<Record<string, unknown>> => {
    const peer = peers.get(id);
    if (!peer) return failed("unknown_connection");
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
    const ok = await peer.ready;
    if (
      !ok || peer.closing || !peer.pc || peer.pc.connectionState === "closed"
    ) {
      return failed("connection_closed");
    }
    if (line === "") return { status: "success" };
    try {
      await peer.pc.addIceCandidate({
        candidate: line,
        sdpMid: typeof init.sdpMid === "string" ? init.sdpMid : undefined,
        sdpMLineIndex: typeof init.sdpMLineIndex === "number"
          ? init.sdpMLineIndex
          : undefined,
      });
    } catch (e) {
      return failed("invalid_candidate_format", {
        message: (e as Error).message,
      });
    }
    return { status: "success" };
  };

  return {
    get connections(): number {
      return peers.size;
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
        [...peers.values()].map((p) => closePeer(p, "server shutting down")),
      );
    },
  };
}

function sdpDirection(sdp: string): string {
  const lines = sdp.split(/\r?\n/);
  const start = lines.findIndex((l) => l.startsWith("m=audio "));
  for (let i = start + 1; i < lines.length && !lines[i].startsWith("m="); i++) {
    const m = /^a=(sendrecv|sendonly|recvonly|inactive)\s*$/.exec(lines[i]);
    if (m) return m[1];
  }
  return "sendrecv";
}

async function waitForGathering(
  pc: WeriftPeerConnection,
  timeoutMs: number,
): Promise<void> {
  if (pc.iceGatheringState === "complete") return;
  let off: (() => void) | undefined;
  const ac = new AbortController();
  await Promise.race([
    new Promise<void>((resolve) => {
      off = pc.iceGatheringStateChange.subscribe((s) => {
        if (s === "complete") resolve();
      }).unSubscribe;
    }),
    sleep(timeoutMs, ac.signal),
  ]);
  ac.abort();
  off?.();
}
