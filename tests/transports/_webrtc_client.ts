/** A werift test client for FastRTC's `/webrtc/offer` protocol. */
import { Buffer } from "node:buffer";
import {
  MediaStreamTrack,
  RTCPeerConnection,
  RtpHeader,
  RtpPacket,
  useOPUS,
  usePCMU,
} from "werift";
import type { RTCDataChannel } from "werift";
import {
  createRtpAudioCodec,
  type RtpAudioCodec,
  type WebRtcCodecName,
} from "../../src/transports/webrtc_codec.ts";

export type Post = (
  body: Record<string, unknown>,
) => Promise<Record<string, unknown>>;

/** Posts to a Stream's `/webrtc/offer` through `stream.fetch`. */
export function postVia(fetcher: (r: Request) => Promise<Response>): Post {
  return async (body) => {
    const res = await fetcher(
      new Request("http://127.0.0.1/webrtc/offer", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      }),
    );
    return await res.json();
  };
}

export interface ClientOptions {
  id: string;
  codec?: WebRtcCodecName;
  /** Strip candidates from the offer and send them with `ice-candidate`. */
  trickle?: boolean;
  /** Do not apply the answer (the connection never comes up). */
  skipAnswer?: boolean;
  /** The audio transceiver's direction (default sendrecv). */
  direction?: "sendrecv" | "recvonly" | "sendonly";
}

export class TestClient {
  pc: RTCPeerConnection;
  channel: RTCDataChannel;
  track: MediaStreamTrack;
  codec!: RtpAudioCodec;
  messages: Record<string, unknown>[] = [];
  received: Int16Array[] = [];
  receivedAt: number[] = [];
  trickleResults: Record<string, unknown>[] = [];
  answer: Record<string, unknown> = {};
  #seq = 1000;
  #ts = 5000;

  constructor(public options: ClientOptions) {
    const codec = options.codec ?? "opus";
    this.pc = new RTCPeerConnection({
      codecs: { audio: [codec === "opus" ? useOPUS() : usePCMU()], video: [] },
    });
    this.channel = this.pc.createDataChannel("text");
    this.channel.onMessage.subscribe((data) => {
      this.messages.push(JSON.parse(data.toString()));
    });
    this.track = new MediaStreamTrack({ kind: "audio" });
    this.pc.onTrack.subscribe((track) => {
      track.onReceiveRtp.subscribe((rtp) => {
        if (!this.codec || rtp.payload.length === 0) return;
        this.received.push(this.codec.decode(rtp.payload));
        this.receivedAt.push(performance.now());
      });
    });
  }

  /** Sends the offer (and trickled candidates); returns the server's JSON. */
  async connect(post: Post): Promise<Record<string, unknown>> {
    this.codec = await createRtpAudioCodec(this.options.codec ?? "opus");
    const direction = this.options.direction ?? "sendrecv";
    const tr = this.pc.addTransceiver("audio", { direction });
    if (direction !== "recvonly") await tr.sender.replaceTrack(this.track);
    await this.pc.setLocalDescription(await this.pc.createOffer());
    let sdp = this.pc.localDescription!.sdp;
    const candidates: string[] = [];
    if (this.options.trickle) {
      const lines = sdp.split("\r\n");
      for (const l of lines) {
        if (l.startsWith("a=candidate:") && !candidates.includes(l.slice(2))) {
          candidates.push(l.slice(2));
        }
      }
      sdp = lines.filter((l) =>
        !l.startsWith("a=candidate:") && l !== "a=end-of-candidates"
      )
        .join("\r\n");
    }
    const mid = /a=mid:(\S+)/.exec(sdp)?.[1] ?? "0";
    this.answer = await post({
      sdp,
      type: "offer",
      webrtc_id: this.options.id,
    });
    if (this.answer.status === "failed" || this.options.skipAnswer) {
      return this.answer;
    }
    await this.pc.setRemoteDescription(
      this.answer as { type: "answer"; sdp: string },
    );
    for (const candidate of candidates) {
      this.trickleResults.push(
        await post({
          candidate: { candidate, sdpMid: mid, sdpMLineIndex: 0 },
          type: "ice-candidate",
          // The server's id and token for the call (from the answer).
          webrtc_id: this.answer.webrtc_id ?? this.options.id,
          token: this.answer.token,
        }),
      );
    }
    return this.answer;
  }

  async waitOpen(timeoutMs = 10_000): Promise<void> {
    const end = performance.now() + timeoutMs;
    while (this.channel.readyState !== "open") {
      if (performance.now() > end) throw new Error("data channel did not open");
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Sends PCM (at the codec's rate) as 20 ms RTP packets in real time. */
  async sendAudio(samples: Int16Array): Promise<void> {
    const frame = this.codec.sampleRate / 50;
    for (let i = 0; i + frame <= samples.length; i += frame) {
      const payload = this.codec.encode(samples.subarray(i, i + frame));
      const header = new RtpHeader({
        payloadType: 111,
        sequenceNumber: this.#seq = (this.#seq + 1) & 0xffff,
        timestamp: this.#ts += frame * this.codec.clockRate /
          this.codec.sampleRate,
        ssrc: 1234,
      });
      this.track.writeRtp(new RtpPacket(header, Buffer.from(payload)));
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async close(): Promise<void> {
    await this.pc.close();
    this.codec?.close();
  }
}

/** A tone at `freq` Hz. */
export function tone(
  rate: number,
  freq: number,
  seconds: number,
  amp = 8000,
): Int16Array {
  const out = new Int16Array(Math.round(rate * seconds));
  for (let i = 0; i < out.length; i++) {
    out[i] = Math.round(amp * Math.sin(2 * Math.PI * freq * i / rate));
  }
  return out;
}

export function concat(chunks: Int16Array[]): Int16Array {
  const out = new Int16Array(chunks.reduce((n, c) => n + c.length, 0));
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

export function rms(samples: Int16Array): number {
  let e = 0;
  for (const s of samples) e += s * s;
  return Math.sqrt(e / Math.max(1, samples.length));
}

/** Power at `freq` (Goertzel), normalised by length. */
export function powerAt(
  samples: Int16Array,
  rate: number,
  freq: number,
): number {
  const w = 2 * Math.PI * freq / rate;
  const c = 2 * Math.cos(w);
  let s1 = 0, s2 = 0;
  for (const x of samples) {
    const s0 = x + c * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return (s1 * s1 + s2 * s2 - c * s1 * s2) / (samples.length * samples.length);
}
