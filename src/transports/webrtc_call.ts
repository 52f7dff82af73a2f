/**
 * One WebRTC call: the werift peer connection of one client, its data
 * channel, its audio codec, the RTP packetizer and depacketizer, werift's
 * jitter buffer, the wiring to the call's bus and the paced output.
 *
 * The endpoint (`webrtc.ts`) routes FastRTC's `/webrtc/offer` requests to
 * calls; everything that happens to one peer happens here.
 *
 * Inbound audio: every RTP packet is classified on arrival
 * ({@linkcode RtpDepacketizer.receive}: duplicates and packets that come
 * after their turn are dropped), then goes through werift's jitter buffer
 * (`werift/nonstandard`, with Parley's fix, see `_werift_jitter.ts`), which
 * passes in-order packets at once and holds packets after a gap until the
 * gap fills or `jitterBufferMs` of media time has passed (default 40 ms: a
 * hole delays playout by at most 60 ms with 20 ms frames, nothing otherwise).
 * When the sender goes quiet with packets held, they are released after
 * twice that on the wall clock. Packets then play in sequence order; each
 * gap is counted as lost and up to five frames (100 ms) per gap are
 * concealed — Opus with libopus's packet loss concealment, PCMU with
 * silence — so the handler's audio keeps its timing.
 *
 * Outbound audio: frames from the bus are paced in real time
 * ({@linkcode pumpOutput}), encoded, numbered by an
 * {@linkcode RtpPacketizer} (talkspurts after pauses) and written to the
 * audio track.
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
import {
  RtpDepacketizer,
  RtpPacketizer,
  type RtpReceiveStats,
} from "./rtp_packetizer.ts";
import type { PreparedCall } from "./socket_adapter.ts";
import { guardWeriftDtlsClient } from "./_werift_dtls.ts";
import { watchCallerHangUp } from "./_rtcp_bye.ts";
import {
  createJitterBuffer,
  type JitterBuffer,
  loadJitterBuffer,
} from "./_werift_jitter.ts";
import {
  createRtpAudioCodec,
  type OfferedCodec,
  type RtpAudioCodec,
  type WebRtcCodecName,
} from "./webrtc_codec.ts";

type Werift = typeof import("npm:werift@0.25.2");
const importWerift = lazyImport<Werift>("npm:werift@0.25.2", "WebRTC");
let weriftPromise: Promise<Werift> | null = null;

/** Loads werift (once) with Parley's DTLS fix installed. */
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

/** What a call tells the call factory when it starts. */
export interface WebRtcCallInfo {
  /** The client's `webrtc_id`. */
  webrtcId: string;
  /** Rate of the audio the transport delivers and sends (48000 Opus, 8000 PCMU). */
  sampleRate: number;
  /** The negotiated codec. */
  codec: WebRtcCodecName;
}

/** Counters of one WebRTC call, from {@linkcode WebRtcEndpointHandle.stats}. */
export interface WebRtcCallStats extends RtpReceiveStats {
  /** Lost packets replaced by concealment frames. */
  concealed: number;
  /** Packets whose payload the codec could not decode. */
  undecodable: number;
  /** Packets the jitter buffer holds now, waiting for a gap to fill. */
  held: number;
  /** Packets dropped because the jitter buffer was full. */
  jitterOverflows: number;
  /** RTP packets sent. */
  sent: number;
  /** Talkspurts started by the sender (marker bits sent). */
  talkspurts: number;
}

/** Settings a call gets from its endpoint. */
export interface WebRtcCallSettings {
  /** The client's `webrtc_id`. */
  id: string;
  /** The codec chosen from the offer. */
  offered: OfferedCodec;
  /** werift `RTCPeerConnection` settings (ICE servers, policy, ports…). */
  peerConfig: Record<string, unknown>;
  /** Opus encoder bitrate. */
  opusBitrate?: number;
  /** Opus encoder complexity. */
  opusComplexity?: number;
  /** Lead of outbound audio over real time, in ms. */
  leadMs: number;
  /** Longest wait for ICE gathering. */
  gatherTimeoutMs: number;
  /** Close the call when not connected this long after the offer. */
  connectTimeoutMs: number;
  /** How long the jitter buffer waits for a missing packet, in ms. */
  jitterBufferMs: number;
  /** Called once, synchronously, when the call starts closing. */
  onClosing: () => void;
}

/** Messages queued for a data channel that is not open yet. */
const MAX_PENDING_MESSAGES = 200;
/** Lost packets concealed per gap; longer gaps are only counted. */
const MAX_CONCEALED_FRAMES = 5;

/**
 * FastRTC's failure body.
 *
 * @example
 * ```ts ignore
 * failed("unknown_connection"); // { status: "failed", meta: { error: "unknown_connection" } }
 * ```
 *
 * @param error FastRTC's error code.
 * @param extra More fields of `meta`.
 * @returns The JSON body.
 */
export function failed(
  error: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return { status: "failed", meta: { error, ...extra } };
}

/**
 * One client's WebRTC call.
 *
 * @example
 * ```ts ignore
 * const call = new WebRtcCall(settings);
 * const answer = await call.answer(offerSdp, startCall);
 * await call.addCandidate({ candidate: line });
 * await call.close("done");
 * ```
 */
export class WebRtcCall {
  /** The client's `webrtc_id`. */
  readonly id: string;
  #settings: WebRtcCallSettings;
  #pc: WeriftPeerConnection | null = null;
  #bus: FrameBus | null = null;
  #codec: RtpAudioCodec | null = null;
  #channel: WeriftDataChannel | null = null;
  #pending: string[] = [];
  #ready: Promise<boolean>;
  #setReady!: (ok: boolean) => void;
  #closing = false;
  #connected = false;
  #connectTimer?: ReturnType<typeof setTimeout>;
  #pump: Promise<void> | null = null;
  #done: Promise<void> = Promise.resolve();
  #unsubscribers: (() => void)[] = [];
  #outTrack: WeriftTrack | null = null;
  #werift: Werift | null = null;
  #packetizer: RtpPacketizer | null = null;
  #depacketizer: RtpDepacketizer;
  #jitter: JitterBuffer<WeriftRtpPacket> | null = null;
  #flushTimer?: ReturnType<typeof setTimeout>;
  #concealed = 0;
  #undecodable = 0;

  /**
   * Sets up a call; nothing happens until {@linkcode WebRtcCall.answer}.
   *
   * @param settings The endpoint's settings for this call.
   */
  constructor(settings: WebRtcCallSettings) {
    this.id = settings.id;
    this.#settings = settings;
    this.#ready = new Promise<boolean>((r) => this.#setReady = r);
    this.#depacketizer = new RtpDepacketizer({
      payloadType: settings.offered.payloadType,
    });
  }

  /** True once the call is ending. */
  get closing(): boolean {
    return this.#closing;
  }

  /** The call's counters. */
  get stats(): WebRtcCallStats {
    return {
      ...this.#depacketizer.stats,
      concealed: this.#concealed,
      undecodable: this.#undecodable,
      held: this.#jitter?.held ?? 0,
      jitterOverflows: this.#jitter?.overflows ?? 0,
      sent: this.#packetizer?.packets ?? 0,
      talkspurts: this.#packetizer?.talkspurts ?? 0,
    };
  }

  /**
   * Applies the client's offer, starts the call and returns FastRTC's answer
   * body (or a failure body).
   *
   * @param sdp The offer's SDP.
   * @param startCall Prepares the call's bus; throws `CallRejectedError` to refuse.
   * @returns `{sdp, type: "answer"}` or `{status: "failed", meta}`.
   */
  async answer(
    sdp: string,
    startCall: (info: WebRtcCallInfo) => PreparedCall | Promise<PreparedCall>,
  ): Promise<Record<string, unknown>> {
    try {
      return await this.#answer(sdp, startCall);
    } catch (e) {
      await this.close("offer failed");
      throw e;
    }
  }

  async #answer(
    sdp: string,
    startCall: (info: WebRtcCallInfo) => PreparedCall | Promise<PreparedCall>,
  ): Promise<Record<string, unknown>> {
    const s = this.#settings;
    const [werift] = await Promise.all([loadWerift(), loadJitterBuffer()]);
    this.#werift = werift;
    const codec = await createRtpAudioCodec(s.offered.name, {
      bitrate: s.opusBitrate,
      complexity: s.opusComplexity,
    });
    if (this.#closing) {
      codec.close();
      return failed("connection_closed");
    }
    this.#codec = codec;
    this.#packetizer = new RtpPacketizer({
      payloadType: s.offered.payloadType,
      clockRate: codec.clockRate,
    });
    this.#jitter = this.#newJitterBuffer();
    const codecParams = s.offered.name === "opus"
      ? werift.useOPUS({ payloadType: s.offered.payloadType })
      : werift.usePCMU({ payloadType: s.offered.payloadType });
    const pc = new werift.RTCPeerConnection({
      ...s.peerConfig,
      codecs: { audio: [codecParams], video: [] },
    });
    this.#pc = pc;
    const subs = this.#unsubscribers;
    subs.push(
      pc.onTrack.subscribe((track) => {
        if (track.kind !== "audio") return;
        subs.push(
          track.onReceiveRtp.subscribe((rtp) => this.#onRtp(rtp)).unSubscribe,
        );
      }).unSubscribe,
      pc.onDataChannel.subscribe((ch) => this.#onDataChannel(ch)).unSubscribe,
      pc.connectionStateChange.subscribe((state) => {
        if (state === "connected") this.#onConnected();
        else if (state === "failed" || state === "closed") {
          void this.close(`peer connection ${state}`);
        }
      }).unSubscribe,
      pc.iceConnectionStateChange.subscribe((state) => {
        if (state === "failed") void this.close("ICE failed");
      }).unSubscribe,
    );

    try {
      await pc.setRemoteDescription({ type: "offer", sdp });
    } catch (e) {
      await this.close("invalid offer");
      return failed("invalid_sdp", {
        message: `The offer could not be applied: ${(e as Error).message}`,
      });
    }
    if (this.#closing) return failed("connection_closed");

    let prepared: PreparedCall;
    try {
      prepared = await startCall({
        webrtcId: this.id,
        sampleRate: codec.sampleRate,
        codec: s.offered.name,
      });
    } catch (e) {
      await this.close("call rejected");
      if (e instanceof CallRejectedError) {
        return { status: "failed", meta: e.meta };
      }
      throw e;
    }
    if (this.#closing) {
      // The peer went away while the server prepared the call.
      prepared.bus.close("client disconnected");
      return failed("connection_closed");
    }
    const bus = this.#bus = prepared.bus;
    bus.on("log", (e) => this.#send({ type: "log", data: e.data }));
    bus.on("message", (e) => this.#send(e.message));
    bus.on("interrupt", (e) =>
      this.#send({
        type: "interrupt",
        data: { reason: e.reason, flushedFrames: e.flushedFrames },
      }));
    bus.on("close", (e) => void this.close(e.reason));
    prepared.begin?.();

    const transceiver = pc.getTransceivers().find((t) => t.kind === "audio");
    if (transceiver) {
      this.#outTrack = new werift.MediaStreamTrack({ kind: "audio" });
      await transceiver.sender.replaceTrack(this.#outTrack);
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
    await waitForGathering(pc, s.gatherTimeoutMs);
    if (this.#closing) return failed("connection_closed");
    this.#connectTimer = setTimeout(() => {
      if (!this.#connected) {
        this.#send({
          type: "error",
          message:
            `Not connected after ${s.connectTimeoutMs} ms; check TURN settings`,
        });
        void this.close("connection timeout");
      }
    }, s.connectTimeoutMs);
    this.#setReady(true);
    if (pc.connectionState === "connected") this.#onConnected();
    return { sdp: pc.localDescription?.sdp ?? answer.sdp, type: "answer" };
  }

  /**
   * Adds a trickled ICE candidate once the offer has been applied.
   *
   * @param candidate The candidate line (empty: end of candidates) and its m-line.
   * @returns `{status: "success"}` or a failure body.
   */
  async addCandidate(
    candidate: { candidate: string; sdpMid?: string; sdpMLineIndex?: number },
  ): Promise<Record<string, unknown>> {
    const ok = await this.#ready;
    const pc = this.#pc;
    if (!ok || this.#closing || !pc || pc.connectionState === "closed") {
      return failed("connection_closed");
    }
    if (candidate.candidate === "") return { status: "success" };
    try {
      await pc.addIceCandidate(candidate);
    } catch (e) {
      return failed("invalid_candidate_format", {
        message: (e as Error).message,
      });
    }
    return { status: "success" };
  }

  /**
   * Ends the call: closes its bus, lets a last data-channel message leave,
   * closes the peer connection and frees the codec. Idempotent.
   *
   * @param reason Why, for the bus.
   * @returns A promise that resolves once everything is closed.
   */
  close(reason: string): Promise<void> {
    if (this.#closing) return this.#done;
    this.#closing = true;
    this.#settings.onClosing();
    this.#done = (async () => {
      clearTimeout(this.#connectTimer);
      clearTimeout(this.#flushTimer);
      this.#setReady(false);
      const hadChannel = this.#channel?.readyState === "open";
      this.#bus?.close(reason);
      if (this.#pump) await this.#pump.catch(() => {});
      // Let a last message (end_stream) leave before the transport goes.
      if (hadChannel && this.#pc?.connectionState === "connected") {
        await sleep(100);
      }
      for (const off of this.#unsubscribers) off();
      try {
        await this.#pc?.close();
      } catch {
        // Already closed.
      }
      this.#codec?.close();
      this.#codec = null;
    })();
    return this.#done;
  }

  /** Sends a FastRTC message on the data channel, or queues it until it opens. */
  #send(message: unknown): void {
    const text = JSON.stringify(message);
    const ch = this.#channel;
    if (ch && ch.readyState === "open") {
      try {
        ch.send(text);
      } catch {
        // The channel closed under us; the call is ending.
      }
      return;
    }
    if (this.#pending.length < MAX_PENDING_MESSAGES) this.#pending.push(text);
  }

  #onDataChannel(channel: WeriftDataChannel): void {
    this.#channel ??= channel;
    const subs = this.#unsubscribers;
    const flush = () => {
      if (this.#channel !== channel) return;
      for (const text of this.#pending.splice(0)) {
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
        // The client's channel closes when it hangs up (its pc.close() ends
        // SCTP); the ICE/DTLS state would only notice much later.
        if (state === "closed" && this.#channel === channel) {
          void this.close("client closed the data channel");
        }
      }).unSubscribe,
      channel.onMessage.subscribe((data) => {
        const text = typeof data === "string"
          ? data
          : new TextDecoder().decode(data);
        this.#send({ type: "log", data: `Server received: ${text}` });
      }).unSubscribe,
    );
    if (channel.readyState === "open") flush();
  }

  #onConnected(): void {
    if (this.#connected) return;
    this.#connected = true;
    clearTimeout(this.#connectTimer);
    // An audio-only caller (no data channel) hangs up with an RTCP BYE and a
    // DTLS close; werift would only notice at the ICE consent timeout, ~30 s
    // later.
    for (const transport of this.#pc?.dtlsTransports ?? []) {
      this.#unsubscribers.push(
        ...watchCallerHangUp(
          transport as unknown as Parameters<typeof watchCallerHangUp>[0],
          (reason) => void this.close(reason),
        ),
      );
    }
    if (this.#bus && this.#outTrack && !this.#closing) this.#startPump();
  }

  #startPump(): void {
    const bus = this.#bus!;
    const codec = this.#codec!;
    const track = this.#outTrack!;
    const werift = this.#werift!;
    const packetizer = this.#packetizer!;
    const payloadType = this.#settings.offered.payloadType;
    const frameTicks = bus.outputFrameSamples * codec.clockRate /
      codec.sampleRate;
    this.#pump = pumpOutput({
      bus,
      leadMs: this.#settings.leadMs,
      sendAudio: (samples) => {
        if (this.#closing || track.stopped) return;
        let payload: Uint8Array;
        try {
          payload = codec.encode(samples);
        } catch (e) {
          this.#send({
            type: "error",
            message: `Audio encoding failed: ${(e as Error).message}`,
          });
          return;
        }
        const p = packetizer.packetize(
          payload,
          frameTicks,
          performance.now(),
        );
        const header = new werift.RtpHeader({
          payloadType,
          sequenceNumber: p.sequenceNumber,
          timestamp: p.timestamp,
          marker: p.marker,
          ssrc: p.ssrc,
        });
        track.writeRtp(new werift.RtpPacket(header, Buffer.from(payload)));
      },
    });
  }

  #newJitterBuffer(): JitterBuffer<WeriftRtpPacket> {
    return createJitterBuffer<WeriftRtpPacket>({
      clockRate: this.#codec!.clockRate,
      latencyMs: this.#settings.jitterBufferMs,
    });
  }

  #onRtp(rtp: WeriftRtpPacket): void {
    const bus = this.#bus;
    if (!bus || bus.closed || !this.#jitter) return;
    const arrival = this.#depacketizer.receive(rtp.header);
    if (arrival === "duplicate" || arrival === "late") return;
    if (arrival === "new-source") {
      // A new sender: its numbers have nothing to do with the old ones.
      this.#jitter = this.#newJitterBuffer();
    }
    for (const p of this.#jitter.push(rtp)) this.#play(p);
    clearTimeout(this.#flushTimer);
    if (this.#jitter.held > 0) {
      // The sender went quiet with packets held: play them anyway.
      this.#flushTimer = setTimeout(() => {
        if (!this.#jitter || this.#closing) return;
        for (const p of this.#jitter.flush()) this.#play(p);
      }, 2 * this.#settings.jitterBufferMs);
    }
  }

  #play(rtp: WeriftRtpPacket): void {
    const bus = this.#bus;
    const codec = this.#codec;
    if (!bus || !codec || bus.closed) return;
    const playout = this.#depacketizer.play({
      sequenceNumber: rtp.header.sequenceNumber,
      payloadType: rtp.header.payloadType,
      payload: rtp.payload,
    });
    if (playout.kind === "drop") return;
    const conceal = Math.min(playout.lost, MAX_CONCEALED_FRAMES);
    for (let i = 0; i < conceal; i++) {
      let pcm: Int16Array;
      try {
        pcm = codec.conceal();
      } catch {
        break;
      }
      this.#concealed++;
      if (pcm.length > 0) bus.sendInput([codec.sampleRate, pcm]);
    }
    if (playout.kind === "skip") return;
    let pcm: Int16Array;
    try {
      pcm = codec.decode(rtp.payload);
    } catch (e) {
      if (this.#undecodable++ === 0) {
        this.#send({
          type: "warning",
          message: `Dropped undecodable audio: ${(e as Error).message}`,
        });
      }
      return;
    }
    if (pcm.length > 0) bus.sendInput([codec.sampleRate, pcm]);
  }
}

/** The direction attribute of the offer's audio section. */
function sdpDirection(sdp: string): string {
  const lines = sdp.split(/\r?\n/);
  const start = lines.findIndex((l) => l.startsWith("m=audio "));
  for (let i = start + 1; i < lines.length && !lines[i].startsWith("m="); i++) {
    const m = /^a=(sendrecv|sendonly|recvonly|inactive)\s*$/.exec(lines[i]);
    if (m) return m[1];
  }
  return "sendrecv";
}

/** Waits until ICE gathering is complete, or `timeoutMs`. */
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
